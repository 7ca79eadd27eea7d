//! Operator logins (`control.operators`).

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use xiaobao_domain::{Failure, Outcome, Refusal};

use crate::db;

/// An operator's row.
#[derive(Debug, Clone)]
pub struct OperatorRow {
    pub operator_id: i64,
    pub login_name: String,
    pub display_name: String,
    pub password_hash: Option<String>,
    pub password_changed_at: Option<DateTime<Utc>>,
    pub must_change_password: bool,
    pub locked_until: Option<DateTime<Utc>>,
    pub status: String,
    pub session_epoch: i64,
}

/// The operator a session is signed in as.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OperatorIdentity {
    pub operator_id: i64,
    pub login_name: String,
    pub display_name: String,
    pub must_change_password: bool,
    /// Signed in with a second factor (or turned it on during the session).
    pub two_factor: bool,
    /// `session_epoch` at sign-in: the session ends when it moves.
    pub epoch: i64,
}

/// What a session check needs of an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub epoch: i64,
    pub active: bool,
}

/// Checks a login name: 3–40 lowercase letters, digits, `.`, `_`, `-`, starting with a letter.
pub fn check_login_name(login: &str) -> Outcome<()> {
    let ok = (3..=40).contains(&login.len())
        && login.starts_with(|c: char| c.is_ascii_lowercase())
        && login
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Failure::from(Refusal::invalid_field(
            "login_name",
            "登录名只能使用 3–40 个小写字母、数字和 . _ -，以字母开头",
        )))
    }
}

pub async fn by_login(
    executor: impl PgExecutor<'_>,
    login_name: &str,
) -> Outcome<Option<OperatorRow>> {
    sqlx::query_as!(
        OperatorRow,
        "select operator_id, login_name, display_name, password_hash, password_changed_at, \
         must_change_password, locked_until, status, session_epoch \
         from control.operators where login_name = $1",
        login_name,
    )
    .fetch_optional(executor)
    .await
    .map_err(db)
}

pub async fn get(executor: impl PgExecutor<'_>, operator_id: i64) -> Outcome<Option<OperatorRow>> {
    sqlx::query_as!(
        OperatorRow,
        "select operator_id, login_name, display_name, password_hash, password_changed_at, \
         must_change_password, locked_until, status, session_epoch \
         from control.operators where operator_id = $1",
        operator_id,
    )
    .fetch_optional(executor)
    .await
    .map_err(db)
}

/// The operator's standing (`None`: no such operator).
pub async fn standing(
    executor: impl PgExecutor<'_>,
    operator_id: i64,
) -> Outcome<Option<Standing>> {
    Ok(sqlx::query!(
        "select session_epoch, status from control.operators where operator_id = $1",
        operator_id,
    )
    .fetch_optional(executor)
    .await
    .map_err(db)?
    .map(|r| Standing {
        epoch: r.session_epoch,
        active: r.status == "active",
    }))
}

/// Creates an operator with a password hash someone else chose (to be changed at first
/// sign-in), or returns `None` when the login name is taken.
pub async fn create(
    executor: impl PgExecutor<'_>,
    login_name: &str,
    display_name: &str,
    password_hash: &str,
    demo: bool,
) -> Outcome<Option<i64>> {
    sqlx::query_scalar!(
        "insert into control.operators (login_name, display_name, password_hash, \
         password_changed_at, must_change_password, demo) values ($1, $2, $3, now(), true, $4) \
         on conflict (login_name) do nothing returning operator_id",
        login_name,
        display_name,
        password_hash,
        demo,
    )
    .fetch_optional(executor)
    .await
    .map_err(db)
}

/// Stores a new password hash; `must_change` when someone other than the holder chose it.
pub async fn store_password(
    executor: impl PgExecutor<'_>,
    operator_id: i64,
    hash: &str,
    must_change: bool,
) -> Outcome<()> {
    sqlx::query!(
        "update control.operators set password_hash = $2, password_changed_at = now(), \
         must_change_password = $3, failed_logins = 0, locked_until = null, updated_at = now() \
         where operator_id = $1",
        operator_id,
        hash,
        must_change,
    )
    .execute(executor)
    .await
    .map_err(db)?;
    Ok(())
}

/// A random one-time password: 12 letters and digits (both present), no look-alikes.
pub fn one_time_password() -> String {
    const LETTERS: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";
    const DIGITS: &[u8] = b"23456789";
    let mut out = String::with_capacity(12);
    for i in 0..12 {
        let set = if i % 4 == 3 { DIGITS } else { LETTERS };
        let at = rand::random_range(0..set.len());
        out.push(char::from(set[at]));
    }
    out
}
