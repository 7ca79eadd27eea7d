//! 密码到期提醒: a daily job per tenant that warns the holders of passwords about to expire.
//!
//! An account is warned once per password: when its password expires within
//! `auth.password_warn_days` (it expires `auth.password_max_age_days` after
//! `password_changed_at`) and `password_warned_at` is not later than the last change. The
//! warning is an SMS to the organisation's contact mobile (schools always have one; other
//! organisations when one is recorded); accounts without a usable mobile are skipped and looked
//! at again on the next run. Queueing the SMS and setting `password_warned_at` happen in one
//! transaction, so a second run — or a repeated job — warns nobody twice.

use async_trait::async_trait;
use xiaobao_config::AuthConfig;
use xiaobao_db::{Db, Tenant};
use xiaobao_jobs::{JobContext, JobError, JobHandler};
use xiaobao_notify::{Notification, NotifyError, Template};

/// Kind of [`PasswordExpiryWarnings`].
pub const PASSWORD_EXPIRY_KIND: &str = "accounts.password_expiry";

/// When passwords expire and how early their holders are warned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryPolicy {
    /// A password expires this many days after it was set.
    pub max_age_days: u32,
    /// Holders are warned this many days before.
    pub warn_days: u32,
}

impl ExpiryPolicy {
    pub fn from_config(auth: &AuthConfig) -> Self {
        Self {
            max_age_days: auth.password_max_age_days,
            warn_days: auth.password_warn_days,
        }
    }
}

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WarningReport {
    /// Warnings queued (one per account).
    pub warned: usize,
    /// Accounts due for a warning whose organisation has no usable mobile.
    pub skipped_without_mobile: usize,
}

struct Due {
    account_id: i64,
    contact_mobile: Option<String>,
    days_left: i32,
}

/// Queues the warnings due in one tenant and marks the accounts warned, in one transaction.
pub async fn warn_expiring(
    db: &Db,
    tenant: &Tenant,
    policy: ExpiryPolicy,
) -> anyhow::Result<WarningReport> {
    let max_age = i32::try_from(policy.max_age_days).unwrap_or(i32::MAX);
    let warn = i32::try_from(policy.warn_days).unwrap_or(i32::MAX);
    let mut tx = db.tenant_tx(tenant).await?;
    // Locked rows belong to a run (or a password change) in progress: skip them.
    let due: Vec<Due> = sqlx::query_as!(
        Due,
        "select a.account_id, o.contact_mobile, \
           greatest(1, ceil(extract(epoch from \
             (a.password_changed_at + make_interval(days => $1)) - now()) / 86400))::int \
             as \"days_left!\" \
         from accounts a join organisations o on o.org_id = a.org_id \
         where a.status = 'active' and o.status = 'active' and a.password_hash is not null \
           and a.password_changed_at + make_interval(days => $1) > now() \
           and a.password_changed_at + make_interval(days => $1) \
               <= now() + make_interval(days => $2) \
           and (a.password_warned_at is null or a.password_warned_at < a.password_changed_at) \
         order by a.account_id \
         for update of a skip locked",
        max_age,
        warn,
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut report = WarningReport::default();
    for account in due {
        let Some(mobile) = account.contact_mobile.filter(|m| !m.trim().is_empty()) else {
            report.skipped_without_mobile += 1;
            continue;
        };
        let days_left = u32::try_from(account.days_left).unwrap_or(1);
        let notification = Notification::sms(mobile, Template::PasswordExpiring { days_left });
        match xiaobao_notify::queue(&mut tx, &notification).await {
            Ok(_) => {}
            Err(NotifyError::InvalidRecipient(_)) => {
                report.skipped_without_mobile += 1;
                continue;
            }
            Err(e) => return Err(e.into()),
        }
        sqlx::query!(
            "update accounts set password_warned_at = now(), updated_at = now() \
             where account_id = $1",
            account.account_id,
        )
        .execute(&mut *tx)
        .await?;
        report.warned += 1;
    }
    tx.commit().await?;
    Ok(report)
}

/// The daily job: [`warn_expiring`] for the job's tenant.
pub struct PasswordExpiryWarnings {
    policy: ExpiryPolicy,
}

impl PasswordExpiryWarnings {
    pub fn new(policy: ExpiryPolicy) -> Self {
        Self { policy }
    }
}

#[async_trait]
impl JobHandler for PasswordExpiryWarnings {
    fn kind(&self) -> &'static str {
        PASSWORD_EXPIRY_KIND
    }

    async fn run(&self, ctx: JobContext) -> Result<(), JobError> {
        let report = warn_expiring(&ctx.db, &ctx.tenant, self.policy).await?;
        tracing::info!(tenant.slug = %ctx.tenant.slug, warned = report.warned,
            skipped = report.skipped_without_mobile, "password expiry warnings queued");
        Ok(())
    }
}
