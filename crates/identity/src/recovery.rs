//! Account recovery for schools: 忘记密码 (a new password through an SMS code sent to the
//! registered contact mobile) and 忘记账号 (the login name and the masked contact mobile of a
//! school found by its full name).

use chrono::Duration;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use xiaobao_audit::{Actor, Entry};

use xiaobao_domain::OrgStatus;

use crate::IdentityError;
use crate::accounts::{self, Account};
use crate::codes::{CodeError, CodePurpose, Codes};
use crate::limits::{Limit, RateLimiter, Verdict};
use crate::password::{PasswordHasher, PasswordProblem, check_new_password};

/// What asking for a reset code led to. The visitor is told the same for `Issued` and
/// `Unknown` ("如该手机号已注册，验证码已发送"), so the answer never reveals a mobile.
#[derive(Debug)]
pub enum CodeRequestOutcome {
    /// A code for the account: send it to the mobile (in the same transaction).
    Issued { account_id: i64, code: String },
    /// No active school has this contact mobile: nothing is sent.
    Unknown,
    /// Too many codes for this mobile: try again later.
    RateLimited { retry_after_secs: u64 },
}

/// The rate-limit key of a mobile: hashed, so no number is kept in clear.
fn mobile_key(tenant: &str, mobile: &str) -> String {
    let digest = Sha256::digest(format!("{tenant}\u{1f}{mobile}"));
    format!("reset:mobile:{}", hex::encode(&digest[..12]))
}

/// Issues a reset code for the school whose contact mobile is `mobile` (already normalised),
/// after counting the request against `per_mobile` (whether or not the mobile is known, so
/// the limit reveals nothing either). Audited: `account.reset_code_issued`, or
/// `password_reset.unknown_mobile` with the mobile masked.
#[allow(clippy::too_many_arguments)]
pub async fn request_reset_code(
    conn: &mut PgConnection,
    codes: &Codes,
    limiter: &RateLimiter,
    actor: &Actor,
    tenant: &str,
    mobile: &str,
    per_mobile: Limit,
    ttl: Duration,
) -> Result<CodeRequestOutcome, IdentityError> {
    if let Verdict::Refused { retry_after_secs } =
        limiter.hit(&mobile_key(tenant, mobile), per_mobile).await?
    {
        xiaobao_audit::record(
            conn,
            actor,
            Entry::new("password_reset.rate_limited", "account", None::<i64>)
                .detail("mobile", mobile),
        )
        .await?;
        return Ok(CodeRequestOutcome::RateLimited { retry_after_secs });
    }
    let Some(account) = school_account_by_mobile(conn, mobile).await? else {
        xiaobao_audit::record(
            conn,
            actor,
            Entry::new("password_reset.unknown_mobile", "account", None::<i64>)
                .detail("mobile", mobile),
        )
        .await?;
        return Ok(CodeRequestOutcome::Unknown);
    };
    let code = codes
        .issue_sms_code(conn, account.account_id, CodePurpose::ResetPassword, ttl)
        .await?;
    xiaobao_audit::record(
        conn,
        actor,
        Entry::new(
            "account.reset_code_issued",
            "account",
            Some(account.account_id),
        )
        .detail("mobile", mobile),
    )
    .await?;
    Ok(CodeRequestOutcome::Issued {
        account_id: account.account_id,
        code,
    })
}

/// The active school account whose organisation's contact mobile is `mobile` (only an active
/// school of an active account may reset its password).
pub async fn school_account_by_mobile(
    conn: &mut PgConnection,
    mobile: &str,
) -> Result<Option<Account>, IdentityError> {
    let id: Option<i64> = sqlx::query_scalar!(
        "select a.account_id from accounts a join organisations o on o.org_id = a.org_id \
         where o.kind = 'school' and o.status = 'active' and o.contact_mobile = $1 \
           and a.account_type = 'school' and a.status = 'active' \
         order by a.account_id limit 1",
        mobile,
    )
    .fetch_optional(&mut *conn)
    .await?;
    match id {
        Some(id) => accounts::get(conn, id).await,
        None => Ok(None),
    }
}

/// Why a reset was refused; `Display` is the Chinese message.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    /// The code: wrong, expired or used, or used up by wrong tries (an unknown mobile reads
    /// as a code that does not exist).
    #[error(transparent)]
    Code(CodeError),
    /// The new password breaks a rule; the code is still usable.
    #[error(transparent)]
    Password(PasswordProblem),
}

/// Sets a school's new password with the SMS code sent to its contact mobile. The password
/// rules are checked before the code is looked at; a wrong code counts towards its attempts
/// (commit the transaction even on error); a password refused by the history rule leaves the
/// code unused only if the caller rolls back. On success failed logins and any lock are
/// cleared and `account.password_reset_by_code` is audited.
#[allow(clippy::too_many_arguments)]
pub async fn reset_with_code(
    conn: &mut PgConnection,
    codes: &Codes,
    hasher: &PasswordHasher,
    actor: &Actor,
    mobile: &str,
    code: &str,
    new_password: &str,
) -> Result<Result<i64, ResetError>, IdentityError> {
    let Some(account) = school_account_by_mobile(conn, mobile).await? else {
        return Ok(Err(ResetError::Code(CodeError::ExpiredOrUsed)));
    };
    if let Err(problem) = check_new_password(new_password, &account.login_name) {
        return Ok(Err(ResetError::Password(problem)));
    }
    match codes
        .consume_sms_code(conn, account.account_id, CodePurpose::ResetPassword, code)
        .await
    {
        Ok(()) => {}
        Err(CodeError::Internal(e)) => return Err(e),
        Err(e) => {
            xiaobao_audit::record(
                conn,
                actor,
                Entry::new(
                    "account.password_reset_refused",
                    "account",
                    Some(account.account_id),
                )
                .detail("cause", code_cause(&e)),
            )
            .await?;
            return Ok(Err(ResetError::Code(e)));
        }
    }
    let actor = Actor {
        account_id: Some(account.account_id),
        org_id: Some(account.org_id),
        label: format!("account:{} {}", account.account_id, account.display_name),
        ..actor.clone()
    };
    match accounts::set_own_password(
        conn,
        hasher,
        &actor,
        &account,
        new_password,
        "account.password_reset_by_code",
    )
    .await?
    {
        Ok(()) => Ok(Ok(account.account_id)),
        Err(problem) => Ok(Err(ResetError::Password(problem))),
    }
}

fn code_cause(e: &CodeError) -> &'static str {
    match e {
        CodeError::Wrong => "wrong_code",
        CodeError::ExpiredOrUsed => "expired_or_used",
        CodeError::TooManyAttempts => "too_many_attempts",
        CodeError::Internal(_) => "internal",
    }
}

/// A school found by its full name (忘记账号).
#[derive(Debug, Clone)]
pub struct FoundSchool {
    pub org_id: i64,
    pub login_name: String,
    /// In full: the caller masks it.
    pub contact_mobile: String,
    /// `pending` or `active`.
    pub status: OrgStatus,
}

/// The live school (pending or active) with exactly this full name, and its account.
pub async fn find_school_by_name(
    conn: &mut PgConnection,
    name: &str,
) -> Result<Option<FoundSchool>, IdentityError> {
    Ok(sqlx::query_as!(
        FoundSchool,
        r#"select o.org_id, a.login_name, o.contact_mobile as "contact_mobile!",
             o.status as "status: OrgStatus"
           from organisations o join accounts a on a.org_id = o.org_id
           where o.kind = 'school' and o.status in ('pending', 'active') and o.name = $1
             and a.account_type = 'school' and o.contact_mobile is not null
           order by a.account_id limit 1"#,
        name,
    )
    .fetch_optional(conn)
    .await?)
}
