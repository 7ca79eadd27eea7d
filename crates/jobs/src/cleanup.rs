//! The built-in cleanup job: removes finished jobs after a retention period.

use std::time::Duration;

use async_trait::async_trait;

use crate::{JobContext, JobError, JobHandler};

/// Kind of the [`CleanupJobs`] job; schedule it, e.g. `Schedule::daily(CLEANUP_KIND, 3, 30)`.
pub const CLEANUP_KIND: &str = "jobs.cleanup";

/// Deletes `done` jobs finished longer ago than `retain`. Dead jobs stay until someone looks
/// at them. The dedupe keys of deleted jobs become free again; schedules only ever create
/// their latest occurrence, so an old occurrence is not recreated.
pub struct CleanupJobs {
    pub retain: Duration,
}

impl Default for CleanupJobs {
    fn default() -> Self {
        Self {
            retain: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

#[async_trait]
impl JobHandler for CleanupJobs {
    fn kind(&self) -> &'static str {
        CLEANUP_KIND
    }

    async fn run(&self, ctx: JobContext) -> Result<(), JobError> {
        let retain_ms = i64::try_from(self.retain.as_millis()).unwrap_or(i64::MAX);
        let mut tx = ctx.db.tenant_tx(&ctx.tenant).await?;
        let deleted = sqlx::query!(
            "delete from jobs where status = 'done' \
             and finished_at < now() - $1::bigint * interval '1 millisecond'",
            retain_ms,
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        tracing::info!(tenant.slug = %ctx.tenant.slug, deleted, "finished jobs cleaned up");
        Ok(())
    }
}
