//! Platform logins (`control.identities`) of brokers and insurer head offices that work in
//! several programmes: one login name and password; in each programme it is granted
//! (`control.identity_grants`) the login acts as one account of that programme, with that
//! account's organisation, roles and region scope. Switching programme needs no new password.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor, PgPool};
use xiaobao_audit::{Actor, Entry};

use xiaobao_domain::{AccountStatus, OrgStatus};

use crate::accounts::{self, Account};
use crate::login::{Authenticated, LoginAttempt, LoginError, LoginPolicy, loggable_login_name};
use crate::password::{PasswordHasher, PasswordProblem, check_new_password};
use crate::{IdentityError, RateLimiter, Verdict};

/// A platform login.
#[derive(Debug, Clone)]
pub struct Identity {
    pub identity_id: i64,
    pub login_name: String,
    pub display_name: String,
    pub password_hash: Option<String>,
    pub password_changed_at: Option<DateTime<Utc>>,
    pub must_change_password: bool,
    pub locked_until: Option<DateTime<Utc>>,
    pub status: AccountStatus,
}

/// The identity of this login name granted in `tenant_id`, with the account it acts as.
pub async fn find_granted(
    main: &PgPool,
    login_name: &str,
    tenant_id: i64,
) -> Result<Option<(Identity, i64)>, IdentityError> {
    let row: Option<(i64, i64)> = sqlx::query!(
        "select i.identity_id, g.account_id from control.identities i \
         join control.identity_grants g on g.identity_id = i.identity_id \
         where i.login_name = $1 and g.tenant_id = $2",
        login_name,
        tenant_id,
    )
    .fetch_optional(main)
    .await?
    .map(|r| (r.identity_id, r.account_id));
    let Some((identity_id, account_id)) = row else {
        return Ok(None);
    };
    Ok(get(main, identity_id).await?.map(|i| (i, account_id)))
}

pub async fn get(main: &PgPool, identity_id: i64) -> Result<Option<Identity>, IdentityError> {
    Ok(sqlx::query_as!(
        Identity,
        r#"select identity_id, login_name, display_name, password_hash, password_changed_at,
             must_change_password, locked_until, status as "status: AccountStatus"
           from control.identities where identity_id = $1"#,
        identity_id,
    )
    .fetch_optional(main)
    .await?)
}

/// The programmes an identity is granted: `(tenant_id, account_id)`.
pub async fn grants(main: &PgPool, identity_id: i64) -> Result<Vec<(i64, i64)>, IdentityError> {
    Ok(sqlx::query!(
        "select tenant_id, account_id from control.identity_grants where identity_id = $1 \
         order by tenant_id",
        identity_id,
    )
    .fetch_all(main)
    .await?
    .into_iter()
    .map(|r| (r.tenant_id, r.account_id))
    .collect())
}

/// Creates a platform login (no password yet: `set_password` with `must_change`).
pub async fn create(
    main: impl PgExecutor<'_>,
    login_name: &str,
    display_name: &str,
    company_id: Option<i64>,
) -> Result<i64, IdentityError> {
    Ok(sqlx::query_scalar!(
        "insert into control.identities (login_name, display_name, company_id) \
         values ($1, $2, $3) returning identity_id",
        login_name,
        display_name,
        company_id,
    )
    .fetch_one(main)
    .await?)
}

/// Grants an identity a programme, acting as `account_id` of it (replacing an earlier grant).
pub async fn grant(
    main: impl PgExecutor<'_>,
    identity_id: i64,
    tenant_id: i64,
    account_id: i64,
) -> Result<(), IdentityError> {
    sqlx::query!(
        "insert into control.identity_grants (identity_id, tenant_id, account_id) \
         values ($1, $2, $3) on conflict (identity_id, tenant_id) \
         do update set account_id = excluded.account_id, granted_at = now()",
        identity_id,
        tenant_id,
        account_id,
    )
    .execute(main)
    .await?;
    Ok(())
}

/// Sets an identity's password hash; `must_change` when someone other than the holder chose it.
pub async fn store_password(
    main: impl PgExecutor<'_>,
    identity_id: i64,
    hash: &str,
    must_change: bool,
) -> Result<(), IdentityError> {
    sqlx::query!(
        "update control.identities set password_hash = $2, password_changed_at = now(), \
         must_change_password = $3, failed_logins = 0, locked_until = null, updated_at = now() \
         where identity_id = $1",
        identity_id,
        hash,
        must_change,
    )
    .execute(main)
    .await?;
    Ok(())
}

/// A platform login as the console lists it.
#[derive(Debug, Clone)]
pub struct IdentityEntry {
    pub identity_id: i64,
    pub login_name: String,
    pub display_name: String,
    pub company_id: Option<i64>,
    pub company_name: Option<String>,
    pub must_change_password: bool,
    pub status: String,
    pub created_at: DateTime<Utc>,
}

/// Every platform login (`identity_id` given: that one), by login name.
pub async fn list(
    executor: impl PgExecutor<'_>,
    identity_id: Option<i64>,
) -> Result<Vec<IdentityEntry>, IdentityError> {
    Ok(sqlx::query_as!(
        IdentityEntry,
        r#"select i.identity_id, i.login_name, i.display_name, i.company_id,
             c.name as "company_name?", i.must_change_password, i.status, i.created_at
           from control.identities i left join control.companies c using (company_id)
           where ($1::bigint is null or i.identity_id = $1)
           order by i.login_name"#,
        identity_id,
    )
    .fetch_all(executor)
    .await?)
}

/// A grant as the console lists it.
#[derive(Debug, Clone)]
pub struct GrantEntry {
    pub identity_id: i64,
    pub tenant_id: i64,
    pub account_id: i64,
    pub granted_at: DateTime<Utc>,
}

/// Every grant (`identity_id` given: that login's).
pub async fn all_grants(
    executor: impl PgExecutor<'_>,
    identity_id: Option<i64>,
) -> Result<Vec<GrantEntry>, IdentityError> {
    Ok(sqlx::query_as!(
        GrantEntry,
        "select identity_id, tenant_id, account_id, granted_at from control.identity_grants \
         where ($1::bigint is null or identity_id = $1) order by identity_id, tenant_id",
        identity_id,
    )
    .fetch_all(executor)
    .await?)
}

/// Ends a grant; whether there was one.
pub async fn revoke(
    executor: impl PgExecutor<'_>,
    identity_id: i64,
    tenant_id: i64,
) -> Result<bool, IdentityError> {
    Ok(sqlx::query!(
        "delete from control.identity_grants where identity_id = $1 and tenant_id = $2",
        identity_id,
        tenant_id,
    )
    .execute(executor)
    .await?
    .rows_affected()
        > 0)
}

/// Sets a login's status (`active`, `disabled`); the status it had, `None` when there is no
/// such login.
pub async fn set_status(
    executor: impl PgExecutor<'_>,
    identity_id: i64,
    status: &str,
) -> Result<Option<String>, IdentityError> {
    Ok(sqlx::query_scalar!(
        "update control.identities i set status = $2, updated_at = now() \
         from (select identity_id, status from control.identities where identity_id = $1 \
               for update) old \
         where i.identity_id = old.identity_id returning old.status",
        identity_id,
        status,
    )
    .fetch_optional(executor)
    .await?)
}

/// The holder changes the identity's password (rules as for accounts; the current one may not
/// be reused).
pub async fn change_password(
    main: &PgPool,
    hasher: &PasswordHasher,
    identity: &Identity,
    new_password: &str,
) -> Result<Result<(), PasswordProblem>, IdentityError> {
    if let Err(p) = check_new_password(new_password, &identity.login_name) {
        return Ok(Err(p));
    }
    if let Some(current) = &identity.password_hash
        && hasher.verify(new_password, current).await
    {
        return Ok(Err(PasswordProblem::RecentlyUsed));
    }
    let hash = hasher.hash(new_password).await?;
    store_password(main, identity.identity_id, &hash, false).await?;
    Ok(Ok(()))
}

/// Signs a granted identity in to a programme: rate limits, lock-out on the identity, the
/// password, then the granted account of the programme (audited in the programme's trail on
/// the caller's transaction `conn`).
#[allow(clippy::too_many_arguments)]
pub async fn authenticate(
    main: &PgPool,
    conn: &mut PgConnection,
    hasher: &PasswordHasher,
    limiter: &RateLimiter,
    policy: &LoginPolicy,
    attempt: &LoginAttempt<'_>,
    identity: &Identity,
    account_id: i64,
) -> Result<Authenticated, LoginError> {
    let actor = Actor {
        label: format!(
            "identity:{} {}",
            identity.identity_id, identity.display_name
        ),
        account_id: Some(account_id),
        ip: attempt.ip.clone(),
        user_agent: attempt.user_agent.clone(),
        ..Actor::default()
    };
    let key = format!("login:identity:{}", identity.identity_id);
    if let Verdict::Refused { retry_after_secs } = limiter.hit(&key, policy.per_account).await? {
        return Err(LoginError::RateLimited { retry_after_secs });
    }
    let now = attempt.now;
    // The identity's row is locked for the attempt and read again under the lock: concurrent
    // attempts wait for each other and see the count and lock the previous one left.
    let mut locked_row = main.begin().await.map_err(IdentityError::from)?;
    let fresh: Option<(Option<DateTime<Utc>>, Option<String>)> = sqlx::query!(
        "select locked_until, password_hash from control.identities \
         where identity_id = $1 for update",
        identity.identity_id,
    )
    .fetch_optional(&mut *locked_row)
    .await
    .map_err(IdentityError::from)?
    .map(|r| (r.locked_until, r.password_hash));
    let (locked_until, password_hash) =
        fresh.unwrap_or((identity.locked_until, identity.password_hash.clone()));
    if let Some(until) = locked_until.filter(|u| *u > now) {
        drop(locked_row);
        record(conn, &actor, "login.refused_locked", account_id, identity).await?;
        return Err(LoginError::Locked { until });
    }
    let ok = match &password_hash {
        Some(h) => hasher.verify(attempt.password, h).await,
        None => {
            hasher.verify_dummy(attempt.password).await;
            false
        }
    };
    if !ok {
        let failed: i32 = sqlx::query_scalar!(
            "update control.identities set failed_logins = failed_logins + 1 \
             where identity_id = $1 returning failed_logins",
            identity.identity_id,
        )
        .fetch_one(&mut *locked_row)
        .await
        .map_err(IdentityError::from)?;
        record(conn, &actor, "login.failed", account_id, identity).await?;
        if failed >= policy.lockout_threshold as i32 {
            let until = now + policy.lockout;
            sqlx::query!(
                "update control.identities set locked_until = $2, failed_logins = 0 \
                 where identity_id = $1",
                identity.identity_id,
                until,
            )
            .execute(&mut *locked_row)
            .await
            .map_err(IdentityError::from)?;
            locked_row.commit().await.map_err(IdentityError::from)?;
            record(conn, &actor, "account.locked", account_id, identity).await?;
            return Err(LoginError::Locked { until });
        }
        locked_row.commit().await.map_err(IdentityError::from)?;
        return Err(LoginError::Invalid);
    }
    locked_row.commit().await.map_err(IdentityError::from)?;
    if identity.status != AccountStatus::Active {
        return Err(LoginError::Disabled);
    }
    sqlx::query!(
        "update control.identities set failed_logins = 0 where identity_id = $1",
        identity.identity_id,
    )
    .execute(main)
    .await
    .map_err(IdentityError::from)?;
    let authenticated = enter(conn, policy, identity, account_id, attempt.now).await?;
    record(conn, &actor, "login.succeeded", account_id, identity).await?;
    Ok(authenticated)
}

/// The programme's account a granted identity acts as, as a sign-in (also used when switching
/// programme). `Invalid` when the account or its organisation is not active.
pub async fn enter(
    conn: &mut PgConnection,
    policy: &LoginPolicy,
    identity: &Identity,
    account_id: i64,
    now: DateTime<Utc>,
) -> Result<Authenticated, LoginError> {
    let Some(account): Option<Account> = accounts::get(conn, account_id).await? else {
        return Err(LoginError::Invalid);
    };
    if account.status != AccountStatus::Active || account.org_status != OrgStatus::Active {
        return Err(LoginError::Invalid);
    }
    let roles = accounts::roles(conn, account_id).await?;
    let password_expires_at = identity
        .password_changed_at
        .map(|at| at + policy.password_max_age);
    let expired = password_expires_at.is_some_and(|at| at <= now);
    Ok(Authenticated {
        account,
        roles,
        must_change_password: identity.must_change_password || expired,
        password_expires_at,
        // Platform logins sign in with their password alone (two-factor sign-in is for
        // programme accounts).
        second_factor_pending: false,
    })
}

async fn record(
    conn: &mut PgConnection,
    actor: &Actor,
    action: &str,
    account_id: i64,
    identity: &Identity,
) -> Result<(), IdentityError> {
    xiaobao_audit::record(
        conn,
        actor,
        Entry::new(action, "account", Some(account_id))
            .detail("identity_id", identity.identity_id)
            .detail("login_name", loggable_login_name(&identity.login_name)),
    )
    .await?;
    Ok(())
}
