//! Sign-in: rate limits per client and per login name, lock-out after repeated failures,
//! constant work for unknown names, and an audit entry for every outcome.

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use xiaobao_audit::{Actor, Entry};
use xiaobao_domain::{AccountStatus, AccountType, OrgStatus, Role};

use crate::IdentityError;
use crate::accounts::{self, Account};
use crate::limits::{Limit, RateLimiter, Verdict};
use crate::password::PasswordHasher;

/// The settings sign-in follows (from `auth.*` of the configuration).
#[derive(Debug, Clone)]
pub struct LoginPolicy {
    /// Wrong passwords in a row from one client address that lock the account for it.
    pub lockout_threshold: u32,
    /// Wrong passwords in a row from any address that lock the account for all.
    pub account_lockout_threshold: u32,
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
    /// The moment of the attempt (the application's clock): lock-outs start and end on it.
    pub now: DateTime<Utc>,
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
    /// The password was right and the account signs in with a second factor: nothing is
    /// signed in until [`second_factor`] accepts a code (the failure counts stay as they are).
    pub second_factor_pending: bool,
}

/// Why a sign-in was refused; `Display` is what the person sees.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown name, wrong password, no password yet, organisation not active: one answer for
    /// all, so the form never tells whether a login name exists.
    #[error("账号或密码错误")]
    Invalid,
    #[error("连续输错密码次数过多，账号已锁定，请于 {} 后再试；也可通过“忘记密码”用短信验证码重设密码并立即解锁", crate::login::cst_hm(*.until))]
    Locked { until: DateTime<Utc> },
    #[error("尝试过于频繁，请 {} 分钟后再试", retry_after_secs.div_ceil(60))]
    RateLimited { retry_after_secs: u64 },
    #[error("账号已停用，请联系上级主管部门")]
    Disabled,
    /// The password was right; the account's second factor is asked for (the API).
    #[error("该账号已开启两步验证，请输入身份验证器中的 6 位动态验证码或一个恢复码")]
    SecondFactorRequired,
    /// A wrong (or already used) code or recovery code; counts like a wrong password.
    #[error("动态验证码或恢复码不正确，请重新输入（连续输错将锁定账号）")]
    WrongSecondFactor,
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

/// The client an attempt counts against: its address, or `unknown` when none is known.
fn client_key(attempt: &LoginAttempt<'_>) -> String {
    attempt
        .ip
        .as_deref()
        .unwrap_or("unknown")
        .chars()
        .take(64)
        .collect()
}

/// Counts a sign-in failure that names no account: one row per hour, client and cause; only
/// the first of each hour is written to the audit trail (with the count kept here).
async fn note_anonymous(
    conn: &mut PgConnection,
    actor: &Actor,
    attempt: &LoginAttempt<'_>,
    cause: &str,
    shown_name: &str,
) -> Result<(), IdentityError> {
    let failures: i32 = sqlx::query_scalar!(
        "insert into anonymous_login_failures (hour, client, cause, failures, last_login_name) \
         values (date_trunc('hour', now()), $1, $2, 1, $3) \
         on conflict (hour, client, cause) do update set \
           failures = anonymous_login_failures.failures + 1, \
           last_login_name = excluded.last_login_name, last_at = now() \
         returning failures",
        client_key(attempt),
        cause,
        shown_name,
    )
    .fetch_one(&mut *conn)
    .await?;
    if failures == 1 {
        let action = if cause == "rate_limited" {
            "login.rate_limited"
        } else {
            "login.failed"
        };
        xiaobao_audit::record(
            conn,
            actor,
            Entry::new(action, "account", None::<i64>)
                .detail("account_type", attempt.account_type.as_str())
                .detail("login_name", shown_name)
                .detail("cause", cause)
                .detail(
                    "aggregated",
                    "first of the hour; later ones are counted in anonymous_login_failures",
                ),
        )
        .await?;
    }
    Ok(())
}

/// Counts a wrong password for the account from `client` and for the account as a whole,
/// locking either past its threshold; the refusal to answer.
async fn count_failure(
    conn: &mut PgConnection,
    policy: &LoginPolicy,
    actor: &Actor,
    account: &Account,
    client: &str,
    now: DateTime<Utc>,
    second_factor: bool,
) -> Result<LoginError, IdentityError> {
    let in_a_row: i32 = sqlx::query_scalar!(
        "update accounts set failed_logins = failed_logins + 1, updated_at = now() \
         where account_id = $1 returning failed_logins",
        account.account_id,
    )
    .fetch_one(&mut *conn)
    .await?;
    let from_client: i32 = sqlx::query_scalar!(
        "insert into login_lockouts (account_id, client, failed) values ($1, $2, 1) \
         on conflict (account_id, client) do update set \
           failed = login_lockouts.failed + 1, updated_at = now() \
         returning failed",
        account.account_id,
        client,
    )
    .fetch_one(&mut *conn)
    .await?;
    let (action, cause) = if second_factor {
        ("login.second_factor.failed", "wrong_second_factor")
    } else if account.password_hash.is_none() {
        ("login.failed", "no_password")
    } else {
        ("login.failed", "wrong_password")
    };
    xiaobao_audit::record(
        conn,
        actor,
        Entry::new(action, "account", Some(account.account_id))
            .detail("cause", cause)
            .detail("failed_in_a_row", from_client)
            .detail("failed_in_a_row_any_address", in_a_row),
    )
    .await?;
    let until = now + policy.lockout;
    // Past the account-wide threshold the account locks for every address; past the one per
    // address, for this address only. Either lock resets its count.
    let lock = if in_a_row >= policy.account_lockout_threshold as i32 {
        Some(("account", in_a_row))
    } else if from_client >= policy.lockout_threshold as i32 {
        Some(("client", from_client))
    } else {
        None
    };
    if let Some((scope, failed)) = lock {
        if scope == "account" {
            sqlx::query!(
                "update accounts set locked_until = $2, failed_logins = 0 where account_id = $1",
                account.account_id,
                until,
            )
            .execute(&mut *conn)
            .await?;
        } else {
            sqlx::query!(
                "update login_lockouts set locked_until = $3, failed = 0 \
                  where account_id = $1 and client = $2",
                account.account_id,
                client,
                until,
            )
            .execute(&mut *conn)
            .await?;
        }
        xiaobao_audit::record(
            conn,
            actor,
            Entry::new("account.locked", "account", Some(account.account_id))
                .detail("scope", scope)
                .detail("locked_until", until)
                .detail("failed_in_a_row", failed),
        )
        .await?;
        return Ok(LoginError::Locked { until });
    }
    Ok(if second_factor {
        LoginError::WrongSecondFactor
    } else {
        LoginError::Invalid
    })
}

/// The lock in force on the account for `client` at `now` (the account's own, or the one for
/// that address), audited as `login.refused_locked`.
async fn refuse_if_locked(
    conn: &mut PgConnection,
    actor: &Actor,
    account: &Account,
    client: &str,
    now: DateTime<Utc>,
) -> Result<(), LoginError> {
    let client_locked: Option<DateTime<Utc>> = sqlx::query_scalar!(
        "select locked_until from login_lockouts where account_id = $1 and client = $2",
        account.account_id,
        client,
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(IdentityError::from)?
    .flatten();
    let locked = [(account.locked_until, "account"), (client_locked, "client")]
        .into_iter()
        .find_map(|(until, scope)| until.filter(|u| *u > now).map(|u| (u, scope)));
    if let Some((until, scope)) = locked {
        xiaobao_audit::record(
            conn,
            actor,
            Entry::new("login.refused_locked", "account", Some(account.account_id))
                .detail("scope", scope),
        )
        .await
        .map_err(IdentityError::from)?;
        return Err(LoginError::Locked { until });
    }
    Ok(())
}

/// A sign-in that passed: the failure counts of the account and the client are reset.
async fn clear_failures(
    conn: &mut PgConnection,
    account_id: i64,
    client: &str,
) -> Result<(), IdentityError> {
    sqlx::query!(
        "update accounts set failed_logins = 0, locked_until = null where account_id = $1 \
         and (failed_logins <> 0 or locked_until is not null)",
        account_id,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "delete from login_lockouts where account_id = $1 and client = $2",
        account_id,
        client,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
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
            note_anonymous(conn, &actor, attempt, "rate_limited", &shown_name).await?;
            return Err(LoginError::RateLimited { retry_after_secs });
        }
    }

    let Some(found) =
        accounts::find_for_login(conn, attempt.account_type, attempt.login_name).await?
    else {
        hasher.verify_dummy(attempt.password).await;
        note_anonymous(conn, &actor, attempt, "unknown_account", &shown_name).await?;
        return Err(LoginError::Invalid);
    };
    // The row is locked now: read it again, so concurrent attempts see each other's counts
    // and a lock set by one of them (no extra guesses while another attempt is in flight).
    let account = accounts::get(conn, found.account_id)
        .await?
        .unwrap_or(found);
    let actor = Actor {
        account_id: Some(account.account_id),
        org_id: Some(account.org_id),
        label: format!("account:{} {}", account.account_id, account.display_name),
        ..actor
    };
    let client = client_key(attempt);
    let now = attempt.now;
    // Refused before the password is even looked at: the right password does not help.
    refuse_if_locked(conn, &actor, &account, &client, now).await?;
    let password_ok = match &account.password_hash {
        Some(hash) => hasher.verify(attempt.password, hash).await,
        None => {
            hasher.verify_dummy(attempt.password).await;
            false
        }
    };
    if !password_ok {
        return Err(count_failure(conn, policy, &actor, &account, &client, now, false).await?);
    }
    if account.status != AccountStatus::Active {
        return Err(LoginError::Disabled);
    }
    if account.org_status != OrgStatus::Active {
        // A pending, refused or deregistered organisation cannot sign in.
        return Err(LoginError::Invalid);
    }
    let second_factor_pending = crate::totp::is_enabled(conn, account.account_id).await?;
    if !second_factor_pending {
        // With a second factor the counts stay until it is given: the password alone does
        // not earn fresh guesses at the code.
        clear_failures(conn, account.account_id, &client).await?;
    }
    let roles = accounts::roles(conn, account.account_id).await?;
    let password_expires_at = account
        .password_changed_at
        .map(|at| at + policy.password_max_age);
    let expired = password_expires_at.is_some_and(|at| at <= now);
    let must_change_password = account.must_change_password || expired;
    let action = if second_factor_pending {
        "login.password_verified"
    } else {
        "login.succeeded"
    };
    xiaobao_audit::record(
        conn,
        &actor,
        Entry::new(action, "account", Some(account.account_id))
            .detail("must_change_password", must_change_password)
            .detail("password_expired", expired)
            .detail("second_factor_pending", second_factor_pending),
    )
    .await
    .map_err(IdentityError::from)?;
    Ok(Authenticated {
        account,
        roles,
        must_change_password,
        password_expires_at,
        second_factor_pending,
    })
}

/// The second step of a sign-in, as the form or the API received it.
#[derive(Debug)]
pub struct SecondFactorAttempt<'a> {
    /// The account whose password was right.
    pub account_id: i64,
    /// Its 6-digit code or a recovery code, as typed.
    pub code: &'a str,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The moment of the attempt (the application's clock).
    pub now: DateTime<Utc>,
}

/// The second step of a sign-in whose password was right: the account's 6-digit code or one
/// of its recovery codes, on the caller's tenant transaction (committed whatever the outcome).
/// The lock-out is checked first; a wrong code counts exactly like a wrong password
/// (`login.second_factor.failed`); a right one resets the counts and is audited as
/// `login.second_factor.succeeded` (a recovery code also as `totp.recovery_code_used`).
pub async fn second_factor(
    conn: &mut PgConnection,
    keys: &crate::totp::TotpKeys,
    policy: &LoginPolicy,
    attempt: &SecondFactorAttempt<'_>,
) -> Result<crate::totp::Factor, LoginError> {
    sqlx::query!(
        "select account_id from accounts where account_id = $1 for update",
        attempt.account_id,
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(IdentityError::from)?;
    let (account_id, code, now) = (attempt.account_id, attempt.code, attempt.now);
    let Some(account) = accounts::get(conn, account_id).await? else {
        return Err(LoginError::Invalid);
    };
    if account.status != AccountStatus::Active {
        return Err(LoginError::Disabled);
    }
    if account.org_status != OrgStatus::Active {
        return Err(LoginError::Invalid);
    }
    let actor = Actor {
        account_id: Some(account.account_id),
        org_id: Some(account.org_id),
        label: format!("account:{} {}", account.account_id, account.display_name),
        ip: attempt.ip.clone(),
        user_agent: attempt.user_agent.clone(),
        ..Actor::default()
    };
    let client = actor
        .ip
        .as_deref()
        .unwrap_or("unknown")
        .chars()
        .take(64)
        .collect::<String>();
    refuse_if_locked(conn, &actor, &account, &client, now).await?;
    let Some(row) = crate::totp::row_for_update(conn, account_id)
        .await?
        .filter(|r| r.enabled_at.is_some())
    else {
        // Turned off meanwhile: the sign-in starts again with the password.
        return Err(LoginError::Invalid);
    };
    let used = crate::totp::check_and_use(conn, keys, account_id, &row, code, now).await?;
    let Some(factor) = used else {
        return Err(count_failure(conn, policy, &actor, &account, &client, now, true).await?);
    };
    clear_failures(conn, account_id, &client).await?;
    let method = match factor {
        crate::totp::Factor::Code => "totp",
        crate::totp::Factor::RecoveryCode => "recovery_code",
    };
    if factor == crate::totp::Factor::RecoveryCode {
        let left = crate::totp::recovery_codes_left(conn, account_id).await?;
        xiaobao_audit::record(
            conn,
            &actor,
            Entry::new("totp.recovery_code_used", "account", Some(account_id))
                .detail("remaining", left),
        )
        .await
        .map_err(IdentityError::from)?;
    }
    xiaobao_audit::record(
        conn,
        &actor,
        Entry::new("login.second_factor.succeeded", "account", Some(account_id))
            .detail("method", method),
    )
    .await
    .map_err(IdentityError::from)?;
    Ok(factor)
}
