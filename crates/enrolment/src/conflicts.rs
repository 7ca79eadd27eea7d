//! 花名册冲突: an uploaded ID number that another school already insures for the same year and
//! product under another name. The upload is accepted and the uploader is told nothing (the
//! answer would reveal a child's ID number); the departments of both schools see the conflict
//! here and resolve it. A department sees the student's name only on its own side.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use xiaobao_audit::{Actor, Entry};
use xiaobao_domain::AcademicYear;

use crate::{EnrolmentError, Outcome, Problem};

/// One conflict as a department sees it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ConflictRow {
    pub conflict_id: i64,
    pub academic_year: AcademicYear,
    pub product_code: String,
    /// The ID number masked (`410105********1234`).
    pub id_masked: String,
    /// The school whose upload found the conflict, and the line of its roster.
    pub school_org_id: i64,
    pub school_name: String,
    pub line: i32,
    /// The student's name in that roster, when that school is in the viewer's region.
    pub name: Option<String>,
    /// The school that already insured the ID.
    pub other_school_org_id: i64,
    pub other_school_name: String,
    /// The student's name in its roster, when that school is in the viewer's region.
    pub other_name: Option<String>,
    /// `open` or `resolved`.
    pub status: String,
    pub resolution: Option<String>,
    pub created_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// The conflicts of `academic_year` with either school under `path_prefix` (a department's or
/// the authority's region), open ones first, newest first; at most `limit`.
pub async fn list(
    conn: &mut PgConnection,
    path_prefix: &str,
    academic_year: AcademicYear,
    limit: i64,
) -> Result<Vec<ConflictRow>, EnrolmentError> {
    let rows = sqlx::query_as!(
        ConflictRow,
        "select c.conflict_id, c.academic_year as \"academic_year: AcademicYear\", c.product_code, c.id_masked, \
           c.school_org_id, s.name as school_name, c.line, \
           case when c.school_region_path like $1 || '%' then \
             (select r.name from roster_rows r where r.roster_id = c.roster_id \
              and r.id_hash = c.id_hash limit 1) end as \"name?\", \
           c.other_school_org_id, o.name as other_school_name, \
           case when c.other_region_path like $1 || '%' then \
             (select r.name from roster_rows r where r.roster_id = c.other_roster_id \
              and r.id_hash = c.id_hash limit 1) end as \"other_name?\", \
           c.status, c.resolution, c.created_at, c.resolved_at \
         from roster_conflicts c \
         join organisations s on s.org_id = c.school_org_id \
         join organisations o on o.org_id = c.other_school_org_id \
         where c.academic_year = $2 \
           and (c.school_region_path like $1 || '%' or c.other_region_path like $1 || '%') \
         order by c.status = 'resolved', c.created_at desc, c.conflict_id desc \
         limit $3",
        path_prefix,
        academic_year as _,
        limit,
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows)
}

/// Marks a conflict of the viewer's region resolved, with what was found (2–500 characters).
pub async fn resolve(
    conn: &mut PgConnection,
    path_prefix: &str,
    conflict_id: i64,
    resolution: &str,
    actor: &Actor,
) -> Outcome<()> {
    let resolution = resolution.trim();
    let chars = resolution.chars().count();
    if !(2..=500).contains(&chars) {
        return Ok(Err(Problem::BadReason));
    }
    let status: Option<String> = sqlx::query_scalar!(
        "select status from roster_conflicts where conflict_id = $1 \
         and (school_region_path like $2 || '%' or other_region_path like $2 || '%') \
         for update",
        conflict_id,
        path_prefix,
    )
    .fetch_optional(&mut *conn)
    .await?;
    match status.as_deref() {
        None => return Ok(Err(Problem::NotFound)),
        Some("resolved") => return Ok(Err(Problem::AlreadyDecided)),
        Some(_) => {}
    }
    sqlx::query!(
        "update roster_conflicts set status = 'resolved', resolution = $2, resolved_by = $3, \
         resolved_at = now() where conflict_id = $1",
        conflict_id,
        resolution,
        actor.account_id,
    )
    .execute(&mut *conn)
    .await?;
    xiaobao_audit::record(
        conn,
        actor,
        Entry::new(
            "roster.conflict_resolved",
            "roster_conflict",
            Some(conflict_id),
        )
        .detail("resolution", resolution),
    )
    .await?;
    Ok(Ok(()))
}
