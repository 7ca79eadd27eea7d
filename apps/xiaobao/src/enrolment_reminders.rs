//! 投保截止提醒: a daily job per tenant that reminds the schools that have not submitted a
//! product when the enrolment deadline of the current year is one of the rules'
//! `reminder_days_before` away. `xiaobao_enrolment::progress::send_reminders` records each
//! reminder (school, product, day count) so a repeated run sends nothing twice.

use async_trait::async_trait;
use chrono::NaiveDate;
use xiaobao_db::{Db, Tenant};
use xiaobao_jobs::{JobContext, JobError, JobHandler};

/// Kind of [`EnrolmentReminders`].
pub const ENROLMENT_REMINDERS_KIND: &str = "enrolment.reminders";

/// Sends the reminders due on `today` in one tenant, in one transaction; how many were queued.
pub async fn send_due(db: &Db, tenant: &Tenant, today: NaiveDate) -> anyhow::Result<u32> {
    let mut tx = db.tenant_tx(tenant).await?;
    let Some(year) = xiaobao_enrolment::years::current(&mut tx, today).await? else {
        tx.commit().await?;
        return Ok(0);
    };
    let Some((_, rules)) = xiaobao_enrolment::rules_for(&mut tx, year).await? else {
        tx.commit().await?;
        return Ok(0);
    };
    let sent = xiaobao_enrolment::progress::send_reminders(&mut tx, year, &rules, today).await?;
    tx.commit().await?;
    Ok(sent)
}

/// The daily job: [`send_due`] for the job's tenant, today in China.
#[derive(Debug, Default)]
pub struct EnrolmentReminders;

#[async_trait]
impl JobHandler for EnrolmentReminders {
    fn kind(&self) -> &'static str {
        ENROLMENT_REMINDERS_KIND
    }

    async fn run(&self, ctx: JobContext) -> Result<(), JobError> {
        let today = ctx.clock.today();
        let sent = send_due(&ctx.db, &ctx.tenant, today).await?;
        tracing::info!(tenant.slug = %ctx.tenant.slug, sent, "enrolment reminders queued");
        Ok(())
    }
}
