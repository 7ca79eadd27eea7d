//! Recovery for visitors: a password-reset code by SMS to a school's registered contact
//! mobile, the reset with that code, and finding a school's login name by its full name.
//! The shape of the input (a mobile, six digits, a captcha) is checked by the edge before;
//! these own the transaction: the code and its SMS commit together, a wrong try is kept.

use chrono::Duration;
use xiaobao_domain::{Failure, Outcome, Refusal};
use xiaobao_notify::{Notification, Template as Message};

use crate::codes::Codes;
use crate::limits::{Limit, RateLimiter, retry_message};
use crate::recovery::{self, CodeRequestOutcome, FoundSchool, ResetError};
use crate::{Guest, PasswordHasher};

/// How codes are issued: the limit per mobile and how long a code lives.
#[derive(Debug, Clone, Copy)]
pub struct CodePolicy {
    pub per_mobile: Limit,
    pub ttl_mins: u32,
}

/// Recovery for one visitor.
#[derive(Clone, Debug)]
pub struct Recovery {
    guest: Guest,
}

impl Recovery {
    #[must_use]
    pub fn new(guest: Guest) -> Self {
        Self { guest }
    }

    /// Issues a code for the school with this contact mobile and queues its SMS, together.
    /// An unknown mobile answers the same as a registered one (nothing is sent); too many
    /// codes for the mobile is refused with the time to wait.
    pub async fn request_code(
        &self,
        codes: &Codes,
        limiter: &RateLimiter,
        mobile: &str,
        policy: CodePolicy,
    ) -> Outcome<()> {
        let ttl = Duration::minutes(i64::from(policy.ttl_mins));
        let mut tx = self.guest.tx().await?;
        let outcome = recovery::request_reset_code(
            &mut tx,
            codes,
            limiter,
            &self.guest.actor,
            &self.guest.tenant.slug,
            mobile,
            policy.per_mobile,
            ttl,
        )
        .await?;
        let answer = match outcome {
            CodeRequestOutcome::Issued { code, .. } => {
                xiaobao_notify::queue(
                    &mut tx,
                    &Notification::sms(
                        mobile.to_string(),
                        Message::PasswordResetCode {
                            code,
                            minutes_valid: policy.ttl_mins,
                        },
                    ),
                )
                .await
                .map_err(Failure::internal)?;
                Ok(())
            }
            CodeRequestOutcome::Unknown => Ok(()),
            CodeRequestOutcome::RateLimited { retry_after_secs } => Err(Refusal::rate_limited(
                "rate_limited",
                retry_message("获取验证码", retry_after_secs),
                retry_after_secs,
            )
            .into()),
        };
        tx.commit().await?;
        answer
    }

    /// Sets the school's new password with the code of its SMS. A wrong code is refused on
    /// `code` and the try is kept; a password that breaks a rule is refused on
    /// `new_password` with nothing changed, the code still usable.
    pub async fn reset(
        &self,
        codes: &Codes,
        hasher: &PasswordHasher,
        mobile: &str,
        code: &str,
        new_password: &str,
    ) -> Outcome<()> {
        let mut tx = self.guest.tx().await?;
        let result = recovery::reset_with_code(
            &mut tx,
            codes,
            hasher,
            &self.guest.actor,
            mobile,
            code,
            new_password,
        )
        .await?;
        match result {
            Ok(_) => {
                tx.commit().await?;
                Ok(())
            }
            Err(ResetError::Code(e)) => {
                // The wrong try counts: keep it.
                tx.commit().await?;
                Err(Refusal::invalid_field("code", e.to_string()).into())
            }
            // Rolled back: the code stays usable for a better password.
            Err(ResetError::Password(p)) => {
                Err(Refusal::invalid_field("new_password", p.to_string()).into())
            }
        }
    }

    /// The live school with exactly this full name and its login name; a find is audited
    /// (`school.account_looked_up`).
    pub async fn find_school(&self, name: &str) -> Outcome<Option<FoundSchool>> {
        let mut tx = self.guest.tx().await?;
        let found = recovery::find_school_by_name(&mut tx, name).await?;
        if let Some(f) = &found {
            xiaobao_audit::record(
                &mut tx,
                &self.guest.actor,
                xiaobao_audit::Entry::new(
                    "school.account_looked_up",
                    "organisation",
                    Some(f.org_id),
                ),
            )
            .await
            .map_err(Failure::internal)?;
        }
        tx.commit().await?;
        Ok(found)
    }
}
