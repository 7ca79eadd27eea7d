//! Operators' two-factor sign-in: the TOTP rules of [`xiaobao_identity::totp`] (RFC 6238,
//! sealed secrets, one use per step, hashed recovery codes) over `control.operator_totp` and
//! `control.operator_recovery_codes`.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use xiaobao_domain::Outcome;
use xiaobao_identity::totp::{
    self, Factor, RECOVERY_CODES, TotpKeys, looks_like_code, matching_step,
    normalise_recovery_code, recovery_hash,
};

use crate::db;

/// An operator's row.
#[derive(Debug, Clone)]
pub struct Row {
    pub secret_sealed: Vec<u8>,
    pub enabled_at: Option<DateTime<Utc>>,
    pub last_used_step: Option<i64>,
}

/// The row, locked for update.
pub async fn row_for_update(conn: &mut PgConnection, operator_id: i64) -> Outcome<Option<Row>> {
    sqlx::query_as!(
        Row,
        "select secret_sealed, enabled_at, last_used_step from control.operator_totp \
         where operator_id = $1 for update",
        operator_id,
    )
    .fetch_optional(conn)
    .await
    .map_err(db)
}

/// Whether the operator signs in with a second factor.
pub async fn is_enabled(conn: &mut PgConnection, operator_id: i64) -> Outcome<bool> {
    sqlx::query_scalar!(
        r#"select exists (select 1 from control.operator_totp
             where operator_id = $1 and enabled_at is not null) as "enabled!""#,
        operator_id,
    )
    .fetch_one(conn)
    .await
    .map_err(db)
}

pub async fn recovery_codes_left(conn: &mut PgConnection, operator_id: i64) -> Outcome<i64> {
    sqlx::query_scalar!(
        r#"select count(*) as "n!" from control.operator_recovery_codes
           where operator_id = $1 and used_at is null"#,
        operator_id,
    )
    .fetch_one(conn)
    .await
    .map_err(db)
}

/// Stores a pending enrolment (replacing an earlier pending one, never an enabled one).
pub async fn store_pending(
    conn: &mut PgConnection,
    operator_id: i64,
    sealed: &[u8],
) -> Outcome<()> {
    sqlx::query!(
        "insert into control.operator_totp (operator_id, secret_sealed) values ($1, $2) \
         on conflict (operator_id) do update set secret_sealed = excluded.secret_sealed, \
           enabled_at = null, last_used_step = null, updated_at = now() \
         where operator_totp.enabled_at is null",
        operator_id,
        sealed,
    )
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}

/// Turns it on with the step of the confirming code; new recovery codes replace the old.
pub async fn enable(
    conn: &mut PgConnection,
    operator_id: i64,
    step: u64,
    now: DateTime<Utc>,
) -> Outcome<Vec<String>> {
    sqlx::query!(
        "update control.operator_totp set enabled_at = $2, last_used_step = $3, updated_at = now() \
         where operator_id = $1",
        operator_id,
        now,
        i64::try_from(step).unwrap_or(i64::MAX),
    )
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    sqlx::query!(
        "delete from control.operator_recovery_codes where operator_id = $1",
        operator_id
    )
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    let codes = totp::new_recovery_codes();
    debug_assert_eq!(codes.len(), RECOVERY_CODES);
    for code in &codes {
        let salt: [u8; 16] = rand::random();
        let hash = recovery_hash(&salt, code);
        sqlx::query!(
            "insert into control.operator_recovery_codes (operator_id, salt, code_hash) \
             values ($1, $2, $3)",
            operator_id,
            &salt[..],
            &hash[..],
        )
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    }
    Ok(codes)
}

/// Turns it off: the secret and the recovery codes are deleted.
pub async fn remove(conn: &mut PgConnection, operator_id: i64) -> Outcome<()> {
    sqlx::query!(
        "delete from control.operator_recovery_codes where operator_id = $1",
        operator_id
    )
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    sqlx::query!(
        "delete from control.operator_totp where operator_id = $1",
        operator_id
    )
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}

/// Checks a code or a recovery code against the (locked) row at `now`, using it up when it
/// matches.
pub async fn check_and_use(
    conn: &mut PgConnection,
    keys: &TotpKeys,
    operator_id: i64,
    row: &Row,
    input: &str,
    now: DateTime<Utc>,
) -> Outcome<Option<Factor>> {
    if looks_like_code(input).is_some() {
        let Ok(secret) = keys.open(operator_id, &row.secret_sealed) else {
            tracing::error!(operator_id, "an operator's TOTP secret does not open");
            return Ok(None);
        };
        let last = row.last_used_step.and_then(|s| u64::try_from(s).ok());
        let Some(step) = matching_step(&secret, input, now, last) else {
            return Ok(None);
        };
        sqlx::query!(
            "update control.operator_totp set last_used_step = $2, updated_at = now() \
             where operator_id = $1",
            operator_id,
            i64::try_from(step).unwrap_or(i64::MAX),
        )
        .execute(conn)
        .await
        .map_err(db)?;
        return Ok(Some(Factor::Code));
    }
    let code = normalise_recovery_code(input);
    if code.len() != 10 {
        return Ok(None);
    }
    let rows = sqlx::query!(
        "select code_id, salt, code_hash from control.operator_recovery_codes \
         where operator_id = $1 and used_at is null for update",
        operator_id,
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    let found = rows
        .into_iter()
        .find(|r| recovery_hash(&r.salt, &code)[..] == r.code_hash[..]);
    let Some(found) = found else {
        return Ok(None);
    };
    sqlx::query!(
        "update control.operator_recovery_codes set used_at = now() where code_id = $1",
        found.code_id
    )
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(Some(Factor::RecoveryCode))
}
