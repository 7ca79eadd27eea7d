//! Sign-in: rate limits per client and per login name, lock-out after repeated failures,
//! constant work for unknown names, and an audit entry for every outcome.

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use xiaobao_audit::{Actor, Entry};
use xiaobao_domain::{AccountType, Role};

use crate::IdentityError;
use crate::accounts::{self, Account};
use crate::limits::{Limit, RateLimiter, Verdict};
use crate::password::PasswordHasher;

/// The settings sign-in follows (from `auth.*` of the configuration).
#[derive(Debug, Clone)]
pub struct LoginPolicy {
    pub lockout_threshold: u32,
    pub lockout: Duration,
    pub password_max_age: Duration,
    pub per_ip: Limit,
    pub per_account: Limit,
}

/// One attempt, as the login form or the API received it.
#[derive(Debug)]
pub struct LoginAttempt<'a> {
    pub tenant: &'a str,
    pub account_type: AccountType,
    pub login_name: &'a str,
    pub password: &'a str,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A successful sign-in.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub account: Account,
    pub roles: Vec<Role>,
    /// The password was set by someone else or is older than the maximum age: the account may
    /// do nothing but set a new one.
    pub must_change_password: bool,
    /// When the password expires (for the warning on the home page).
    pub password_expires_at: Option<DateTime<Utc>>,
}

/// Why a sign-in was refused; `Display` is what the person sees.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown name, wrong password, no password yet, organisation not active: one answer for
    /// all, so the form never tells whether a login name exists.
    #[error("账号或密码错误")]
    Invalid,
    #[error("连续输错密码次数过多，账号已锁定，请于 {} 后再试", crate::login::cst_hm(*.until))]
    Locked { until: DateTime<Utc> },
    #[error("尝试过于频繁，请 {} 分钟后再试", retry_after_secs.div_ceil(60))]
    RateLimited { retry_after_secs: u64 },
    #[error("账号已停用，请联系上级主管部门")]
    Disabled,
    #[error(transparent)]
    Internal(#[from] IdentityError),
}

/// `HH:MM` in China time.
pub fn cst_hm(at: DateTime<Utc>) -> String {
    (at + Duration::hours(8)).format("%H:%M").to_string()
}

/// A login name as it may appear in logs and audit entries: mobiles masked.
pub fn loggable_login_name(name: &str) -> String {
    if name.len() == 11 && name.chars().all(|c| c.is_ascii_digit()) {
        xiaobao_audit::mask_phone(name)
    } else {
        name.chars().take(100).collect()
    }
}

fn limiter_key(tenant: &str, kind: AccountType, name: &str) -> String {
    let digest = Sha256::digest(format!("{tenant}\u{1f}{}\u{1f}{name}", kind.as_str()));
    format!("login:acct:{}", hex::encode(&digest[..12]))
}

/// Checks an attempt on the caller's tenant transaction. The caller commits whatever the
/// outcome: failures count towards the lock-out and are audited.
pub async fn authenticate(
    conn: &mut PgConnection,
    hasher: &PasswordHasher,
    limiter: &RateLimiter,
    policy: &LoginPolicy,
    attempt: &LoginAttempt<'_>,
) -> Result<Authenticated, LoginError> {
    let actor = Actor {
        label: "anonymous".into(),
        ip: attempt.ip.clone(),
        user_agent: attempt.user_agent.clone(),
        ..Actor::default()
    };
    let shown_name = loggable_login_name(attempt.login_name);
    let ip_key = format!(
        "login:ip:{}:{}",
        attempt.tenant,
        attempt.ip.as_deref().unwrap_or("unknown")
    );
    for (key, limit) in [
        (ip_key, policy.per_ip),
        (
            limiter_key(attempt.tenant, attempt.account_type, attempt.login_name),
            policy.per_account,
        ),
    ] {
        if let Verdict::Refused { retry_after_secs } = limiter.hit(&key, limit).await? {
            xiaobao_audit::record(
                conn,
                &actor,
                Entry::new("login.rate_limited", "account", None::<i64>)
                    .detail("account_type", attempt.account_type.as_str())
                    .detail("login_name", &shown_name),
            )
            .await
            .map_err(IdentityError::from)?;
            return Err(LoginError::RateLimited { retry_after_secs });
        }
    }

    let Some(account) =
        accounts::find_for_login(conn, attempt.account_type, attempt.login_name).await?
    else {
        hasher.verify_dummy(attempt.password).await;
        xiaobao_audit::record(
            conn,
            &actor,
            Entry::new("login.failed", "account", None::<i64>)
                .detail("account_type", attempt.account_type.as_str())
                .detail("login_name", &shown_name)
                .detail("cause", "unknown_account"),
        )
        .await
        .map_err(IdentityError::from)?;
        return Err(LoginError::Invalid);
    };
    let actor = Actor {
        account_id: Some(account.account_id),
        org_id: Some(account.org_id),
        label: format!("account:{} {}", account.account_id, account.display_name),
        ..actor
    };
    let now = Utc::now();
    if let Some(until) = account.locked_until.filter(|u| *u > now) {
        // Refused before the password is even looked at: the right password does not help.
        xiaobao_audit::record(
            conn,
            &actor,
            Entry::new("login.refused_locked", "account", Some(account.account_id)),
        )
        .await
        .map_err(IdentityError::from)?;
        return Err(LoginError::Locked { until });
    }
    let password_ok = match &account.password_hash {
        Some(hash) => hasher.verify(attempt.password, hash).await,
        None => {
            hasher.verify_dummy(attempt.password).await;
            false
        }
    };
    if !password_ok {
        let failed: i32 = sqlx::query_scalar(
            "update accounts set failed_logins = failed_logins + 1, updated_at = now() \
             where account_id = $1 returning failed_logins",
        )
        .bind(account.account_id)
        .fetch_one(&mut *conn)
        .await
        .map_err(IdentityError::from)?;
        let cause = if account.password_hash.is_none() {
            "no_password"
        } else {
            "wrong_password"
        };
        xiaobao_audit::record(
            conn,
            &actor,
            Entry::new("login.failed", "account", Some(account.account_id))
                .detail("cause", cause)
                .detail("failed_in_a_row", failed),
        )
        .await
        .map_err(IdentityError::from)?;
        if failed >= policy.lockout_threshold as i32 {
            let until = now + policy.lockout;
            sqlx::query(
                "update accounts set locked_until = $2, failed_logins = 0 where account_id = $1",
            )
            .bind(account.account_id)
            .bind(until)
            .execute(&mut *conn)
            .await
            .map_err(IdentityError::from)?;
            xiaobao_audit::record(
                conn,
                &actor,
                Entry::new("account.locked", "account", Some(account.account_id))
                    .detail("locked_until", until)
                    .detail("failed_in_a_row", failed),
            )
            .await
            .map_err(IdentityError::from)?;
            return Err(LoginError::Locked { until });
        }
        return Err(LoginError::Invalid);
    }
    if account.status != "active" {
        return Err(LoginError::Disabled);
    }
    if account.org_status != "active" {
        // A pending, refused or deregistered organisation cannot sign in.
        return Err(LoginError::Invalid);
    }
    sqlx::query(
        "update accounts set failed_logins = 0, locked_until = null where account_id = $1 \
         and (failed_logins <> 0 or locked_until is not null)",
    )
    .bind(account.account_id)
    .execute(&mut *conn)
    .await
    .map_err(IdentityError::from)?;
    let roles = accounts::roles(conn, account.account_id).await?;
    let password_expires_at = account
        .password_changed_at
        .map(|at| at + policy.password_max_age);
    let expired = password_expires_at.is_some_and(|at| at <= now);
    let must_change_password = account.must_change_password || expired;
    xiaobao_audit::record(
        conn,
        &actor,
        Entry::new("login.succeeded", "account", Some(account.account_id))
            .detail("must_change_password", must_change_password)
            .detail("password_expired", expired),
    )
    .await
    .map_err(IdentityError::from)?;
    Ok(Authenticated {
        account,
        roles,
        must_change_password,
        password_expires_at,
    })
}
