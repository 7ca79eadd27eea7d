//! Versioned programme rules. A change is a new version row plus an audit entry; nothing is
//! updated in place.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::DbResult;

/// One stored version of a tenant's rules for an academic year.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct RulesVersion {
    pub academic_year: String,
    pub version: i32,
    pub document: String,
    pub changed_by: String,
    pub change_reason: String,
    pub created_at: DateTime<Utc>,
}

/// The version in force for an academic year.
pub async fn current(
    conn: &mut PgConnection,
    academic_year: &str,
) -> DbResult<Option<RulesVersion>> {
    Ok(sqlx::query_as!(
        RulesVersion,
        "select academic_year, version, document, changed_by, change_reason, created_at \
         from programme_rules where academic_year = $1 order by version desc limit 1",
        academic_year,
    )
    .fetch_optional(conn)
    .await?)
}

/// Every version for an academic year, newest first.
pub async fn history(conn: &mut PgConnection, academic_year: &str) -> DbResult<Vec<RulesVersion>> {
    Ok(sqlx::query_as!(
        RulesVersion,
        "select academic_year, version, document, changed_by, change_reason, created_at \
         from programme_rules where academic_year = $1 order by version desc",
        academic_year,
    )
    .fetch_all(conn)
    .await?)
}

/// Academic years that have rules, newest first.
pub async fn years(conn: &mut PgConnection) -> DbResult<Vec<xiaobao_domain::AcademicYear>> {
    Ok(sqlx::query_scalar!(
        "select distinct academic_year as \"academic_year!: xiaobao_domain::AcademicYear\" \
         from programme_rules order by academic_year desc",
    )
    .fetch_all(conn)
    .await?)
}

/// Stores a new version (the document must already be validated) and audits the change.
/// Returns the new version number.
pub async fn save_version(
    conn: &mut PgConnection,
    academic_year: &str,
    document: &str,
    changed_by: &str,
    reason: &str,
) -> DbResult<i32> {
    // Serialise concurrent writers of the same year; the unique key backs this up.
    sqlx::query!(
        "select pg_advisory_xact_lock(hashtext('xiaobao-rules:' || $1))",
        academic_year
    )
    .fetch_one(&mut *conn)
    .await?;
    let previous = sqlx::query_scalar!(
        "select max(version) from programme_rules where academic_year = $1",
        academic_year
    )
    .fetch_one(&mut *conn)
    .await?;
    let version = previous.unwrap_or(0) + 1;
    sqlx::query!(
        "insert into programme_rules (academic_year, version, document, changed_by, change_reason) \
         values ($1, $2, $3, $4, $5)",
        academic_year,
        version,
        document,
        changed_by,
        reason,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "insert into audit_log (actor, action, entity, entity_id, detail) \
         values ($1, 'rules.change', 'programme_rules', $2, $3)",
        changed_by,
        format!("{academic_year}#{version}"),
        serde_json::json!({
            "academic_year": academic_year,
            "version": version,
            "previous_version": previous,
            "reason": reason,
        }),
    )
    .execute(&mut *conn)
    .await?;
    Ok(version)
}
