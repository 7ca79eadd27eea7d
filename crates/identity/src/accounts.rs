//! Accounts and their organisations: the queries of sign-in and password changes.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use xiaobao_audit::{Actor, Entry};
use xiaobao_domain::{AccountStatus, AccountType, OrgStatus, Role};

use crate::IdentityError;
use crate::password::{HISTORY, PasswordHasher, PasswordProblem, check_new_password};

/// An account with what sign-in needs of its organisation.
#[derive(Debug, Clone)]
pub struct Account {
    pub account_id: i64,
    pub org_id: i64,
    pub account_type: String,
    pub login_name: String,
    pub display_name: String,
    pub password_hash: Option<String>,
    pub password_changed_at: Option<DateTime<Utc>>,
    pub must_change_password: bool,
    pub failed_logins: i32,
    pub locked_until: Option<DateTime<Utc>>,
    pub status: AccountStatus,
    pub org_kind: String,
    pub org_name: String,
    pub org_status: OrgStatus,
    pub region_code: String,
    pub region_path: String,
    pub company_id: Option<i64>,
    pub contact_mobile: Option<String>,
}

impl std::fmt::Display for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "account:{}", self.account_id)
    }
}

/// An account as listed to others (no secrets).
#[derive(Debug, Clone, serde::Serialize)]
pub struct AccountSummary {
    pub account_id: i64,
    pub org_id: i64,
    pub account_type: String,
    pub login_name: String,
    pub display_name: String,
    pub status: AccountStatus,
    pub has_password: bool,
    pub created_at: DateTime<Utc>,
}

/// The account a login form names, locked for update (so concurrent attempts on one account
/// count one after another). A school may also sign in with its contact's mobile.
pub async fn find_for_login(
    conn: &mut PgConnection,
    account_type: AccountType,
    login_name: &str,
) -> Result<Option<Account>, IdentityError> {
    // The union's column names are the first select's (with their overrides): it is ordered
    // by position, the account id.
    let found: Option<Account> = sqlx::query_as!(
        Account,
        r#"select a.account_id as "account_id!", a.org_id as "org_id!",
             a.account_type as "account_type!", a.login_name as "login_name!",
             a.display_name as "display_name!", a.password_hash as "password_hash?",
             a.password_changed_at as "password_changed_at?",
             a.must_change_password as "must_change_password!",
             a.failed_logins as "failed_logins!", a.locked_until as "locked_until?",
             a.status as "status!: AccountStatus", o.kind as "org_kind!",
             o.name as "org_name!", o.status as "org_status!: OrgStatus",
             o.region_code as "region_code!", o.region_path as "region_path!",
             o.company_id as "company_id?", o.contact_mobile as "contact_mobile?"
           from accounts a join organisations o on o.org_id = a.org_id
           where a.account_type = $1 and a.login_name = $2
           union all
           select a.account_id, a.org_id, a.account_type, a.login_name,
             a.display_name, a.password_hash, a.password_changed_at, a.must_change_password,
             a.failed_logins, a.locked_until, a.status, o.kind, o.name,
             o.status, o.region_code, o.region_path, o.company_id, o.contact_mobile
           from accounts a join organisations o on o.org_id = a.org_id
           where $1 = 'school' and a.account_type = 'school' and o.kind = 'school'
             and o.contact_mobile = $2 and o.status in ('pending', 'active')
             and a.login_name <> $2
           order by 1 limit 1"#,
        account_type.as_str(),
        login_name,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(account) = found else {
        return Ok(None);
    };
    // Lock the row now that it is known (a union cannot be locked directly).
    sqlx::query!(
        "select account_id from accounts where account_id = $1 for update",
        account.account_id,
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(Some(account))
}

/// One account by id, with its organisation.
pub async fn get(
    conn: &mut PgConnection,
    account_id: i64,
) -> Result<Option<Account>, IdentityError> {
    Ok(sqlx::query_as!(
        Account,
        r#"select a.account_id, a.org_id, a.account_type, a.login_name, a.display_name,
             a.password_hash, a.password_changed_at, a.must_change_password, a.failed_logins,
             a.locked_until, a.status as "status: AccountStatus", o.kind as org_kind,
             o.name as org_name, o.status as "org_status: OrgStatus", o.region_code,
             o.region_path, o.company_id, o.contact_mobile
           from accounts a join organisations o on o.org_id = a.org_id
           where a.account_id = $1"#,
        account_id,
    )
    .fetch_optional(conn)
    .await?)
}

/// The roles assigned to an account, in [`Role::ALL`] order.
pub async fn roles(conn: &mut PgConnection, account_id: i64) -> Result<Vec<Role>, IdentityError> {
    let names: Vec<String> = sqlx::query_scalar!(
        "select role from account_roles where account_id = $1",
        account_id,
    )
    .fetch_all(conn)
    .await?;
    Ok(Role::ALL
        .into_iter()
        .filter(|r| names.iter().any(|n| n == r.as_str()))
        .collect())
}

/// Sets a new password chosen by the account's holder, after the rules and the history check.
/// `must_change_password` is cleared; the previous hashes are kept for the history rule.
pub async fn set_own_password(
    conn: &mut PgConnection,
    hasher: &PasswordHasher,
    actor: &Actor,
    account: &Account,
    new_password: &str,
    action: &str,
) -> Result<Result<(), PasswordProblem>, IdentityError> {
    if let Err(problem) = check_new_password(new_password, &account.login_name) {
        return Ok(Err(problem));
    }
    let mut previous: Vec<String> = sqlx::query_scalar!(
        "select password_hash from password_history where account_id = $1 \
         order by set_at desc limit $2",
        account.account_id,
        HISTORY as i64,
    )
    .fetch_all(&mut *conn)
    .await?;
    if let Some(current) = &account.password_hash {
        previous.insert(0, current.clone());
    }
    previous.truncate(HISTORY);
    if hasher.matches_any(new_password, previous).await {
        return Ok(Err(PasswordProblem::RecentlyUsed));
    }
    let hash = hasher.hash(new_password).await?;
    store_password(conn, account.account_id, &hash, false).await?;
    xiaobao_audit::record(
        conn,
        actor,
        Entry::new(action, "account", Some(account.account_id)),
    )
    .await?;
    Ok(Ok(()))
}

/// Stores a password hash: into the account and its history; `must_change` when someone other
/// than the holder chose it.
async fn store_password(
    conn: &mut PgConnection,
    account_id: i64,
    hash: &str,
    must_change: bool,
) -> Result<(), IdentityError> {
    sqlx::query!(
        "update accounts set password_hash = $2, password_changed_at = now(), \
         must_change_password = $3, password_warned_at = null, failed_logins = 0, \
         locked_until = null, updated_at = now() where account_id = $1",
        account_id,
        hash,
        must_change,
    )
    .execute(&mut *conn)
    .await?;
    // A new password unlocks the account for every address (self-service unlock: 忘记密码).
    sqlx::query!(
        "delete from login_lockouts where account_id = $1",
        account_id,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "insert into password_history (account_id, password_hash, set_at) \
         values ($1, $2, clock_timestamp())",
        account_id,
        hash,
    )
    .execute(&mut *conn)
    .await?;
    // Only the last few are ever compared.
    sqlx::query!(
        "delete from password_history where account_id = $1 and set_at < ( \
           select min(set_at) from (select set_at from password_history where account_id = $1 \
             order by set_at desc limit $2) recent)",
        account_id,
        HISTORY as i64,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Clears an account's password (a department resetting a school's password): the holder must
/// set a new one through a one-time code; nobody ever knows an initial password.
pub async fn clear_password(
    conn: &mut PgConnection,
    actor: &Actor,
    account_id: i64,
    reason: &str,
) -> Result<(), IdentityError> {
    sqlx::query!(
        "update accounts set password_hash = null, must_change_password = true, \
         failed_logins = 0, locked_until = null, updated_at = now() where account_id = $1",
        account_id,
    )
    .execute(&mut *conn)
    .await?;
    xiaobao_audit::record(
        conn,
        actor,
        Entry::new("account.password_reset", "account", Some(account_id)).detail("reason", reason),
    )
    .await?;
    Ok(())
}

/// Creates an account (no password: the holder sets one through a one-time code) with roles.
#[allow(clippy::too_many_arguments)]
pub async fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    org_id: i64,
    account_type: AccountType,
    login_name: &str,
    display_name: &str,
    roles: &[Role],
) -> Result<i64, IdentityError> {
    let account_id: i64 = sqlx::query_scalar!(
        "insert into accounts (org_id, account_type, login_name, display_name, created_by) \
         values ($1, $2, $3, $4, $5) returning account_id",
        org_id,
        account_type.as_str(),
        login_name,
        display_name,
        actor.account_id,
    )
    .fetch_one(&mut *conn)
    .await?;
    for role in roles {
        sqlx::query!(
            "insert into account_roles (account_id, role, granted_by) values ($1, $2, $3)",
            account_id,
            role.as_str(),
            actor.account_id,
        )
        .execute(&mut *conn)
        .await?;
    }
    xiaobao_audit::record(
        conn,
        actor,
        Entry::new("account.created", "account", Some(account_id))
            .detail("org_id", org_id)
            .detail("account_type", account_type.as_str())
            .detail("login_name", login_name)
            .detail(
                "roles",
                roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            ),
    )
    .await?;
    Ok(account_id)
}

/// Sets a password directly (demo accounts and tests only; real holders use one-time codes).
pub async fn set_password_hash(
    conn: &mut PgConnection,
    account_id: i64,
    hash: &str,
) -> Result<(), IdentityError> {
    store_password(conn, account_id, hash, false).await
}
