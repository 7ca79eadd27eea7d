//! 系统管理 of a programme: its audit trail, its background jobs (a dead one put back in the
//! queue, audited) and its notification outbox — reads and one action, each in its own
//! tenant transaction.

use xiaobao_audit::{AuditFilter, AuditRow};
use xiaobao_domain::{Failure, Outcome, Refusal};
use xiaobao_jobs::{JobId, JobRow, JobStatus};
use xiaobao_notify::{NotificationFilter, NotificationView};

use crate::Caller;

/// Jobs listed at most.
pub const JOB_LIMIT: i64 = 200;
/// Notifications listed at most.
pub const NOTIFICATION_LIMIT: i64 = 100;

/// The administration of one programme, for one administrator.
#[derive(Clone, Debug)]
pub struct Admin {
    caller: Caller,
}

fn no_job(id: i64) -> Failure {
    Refusal::not_found(format!("任务 {id} 不存在"))
        .about("job", id)
        .into()
}

impl Admin {
    #[must_use]
    pub fn new(caller: Caller) -> Self {
        Self { caller }
    }

    /// The audit trail, filtered, newest first.
    pub async fn audit(&self, filter: &AuditFilter) -> Outcome<Vec<AuditRow>> {
        let mut tx = self.caller.tx().await?;
        let rows = xiaobao_audit::search(&mut tx, filter)
            .await
            .map_err(Failure::internal)?;
        tx.commit().await?;
        Ok(rows)
    }

    /// The jobs, most recently changed first.
    pub async fn jobs(&self, status: Option<JobStatus>) -> Outcome<Vec<JobRow>> {
        let mut tx = self.caller.tx().await?;
        let rows = xiaobao_jobs::list_jobs(&mut tx, status, JOB_LIMIT).await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// Puts a dead job back in the queue with a fresh set of attempts, audited
    /// (`job.retried`). A job that is not dead is refused (`job_not_dead`).
    pub async fn retry_job(&self, id: JobId) -> Outcome<()> {
        let id = id.0;
        let mut tx = self.caller.tx().await?;
        let job = xiaobao_jobs::get_job(&mut tx, JobId(id))
            .await?
            .ok_or_else(|| no_job(id))?;
        if !xiaobao_jobs::retry_dead(&mut tx, JobId(id)).await? {
            return Err(Refusal::invalid(
                "job_not_dead",
                "只有已失败的任务可以重试，该任务不是失败状态",
            )
            .on("id")
            .into());
        }
        xiaobao_audit::record(
            &mut tx,
            &self.caller.actor,
            xiaobao_audit::Entry::new("job.retried", "job", Some(id))
                .detail("kind", &job.kind)
                .detail("attempts", job.attempts),
        )
        .await
        .map_err(Failure::internal)?;
        tx.commit().await?;
        Ok(())
    }

    /// The notifications of the outbox, filtered, newest first.
    pub async fn notifications(
        &self,
        filter: &NotificationFilter,
    ) -> Outcome<Vec<NotificationView>> {
        let mut tx = self.caller.tx().await?;
        let rows = xiaobao_notify::list_notifications(&mut tx, filter, NOTIFICATION_LIMIT).await?;
        tx.commit().await?;
        Ok(rows)
    }
}
