//! The insurer's side: the submitted enrolments of the schools in a branch's subtree that chose
//! its company, their rosters (ID numbers unmasked only for those allowed, every such read
//! audited by the caller's permission and here), marking them received (已承保), and the
//! endorsements owed.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use xiaobao_audit::{Actor, Entry};
use xiaobao_domain::{
    AcademicYear, EndorsementStatus, EnrolmentStage, Gender, InsuredGroup, ProgrammeRules,
};
use xiaobao_roster::{ExportRow, IdSealer};

use crate::school::{self, EnrolmentRow, enrolment_rows};
use crate::{EnrolmentError, EnrolmentScope, Outcome, Problem};

/// Filters of the enrolment list.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ListFilter {
    pub academic_year: Option<AcademicYear>,
    /// A region code: only schools in its subtree.
    pub region: Option<String>,
    /// `submitted` or `underwritten`; drafts are never listed for insurers.
    pub status: Option<String>,
    pub product: Option<String>,
}

/// Submitted (and underwritten) enrolments in scope.
pub async fn list(
    conn: &mut PgConnection,
    scope: &EnrolmentScope,
    filter: &ListFilter,
    limit: i64,
) -> Result<Vec<EnrolmentRow>, EnrolmentError> {
    let a = scope.args();
    Ok(enrolment_rows!(
        "where (o.region_path like $1 || '%' or o.org_id = $2 or o.central_school_id = $3) \
         and ($4::bigint is null or e.company_id = $4) \
         and e.status <> 'draft' \
         and ($5::text is null or e.academic_year = $5) \
         and ($6::text is null or e.region_path like \
              (select path from regions where region_code = $6) || '%') \
         and ($7::text is null or e.status = $7) \
         and ($8::text is null or e.product_code = $8) \
         order by e.region_path, o.name, e.product_code, e.seq limit $9",
        a.region_prefix,
        a.org_id,
        a.central_school_id,
        a.company_id,
        filter.academic_year as _,
        filter.region,
        filter.status,
        filter.product,
        limit,
    )
    .fetch_all(conn)
    .await?)
}

/// A stored roster row, ID still sealed.
struct StoredRow {
    name: String,
    gender: String,
    class_name: Option<String>,
    id_sealed: Vec<u8>,
    id_masked: String,
    student_no: Option<String>,
    post: Option<String>,
    note: Option<String>,
}

/// A roster ready to export.
pub struct RosterExport {
    pub enrolment: EnrolmentRow,
    pub group: InsuredGroup,
    pub title: String,
    pub file_name: String,
    pub rows: Vec<ExportRow>,
}

/// The roster in force of an enrolment in scope, as export rows. `unmasked` opens every ID
/// with `sealer` and records an audit entry `roster.unmasked_read`; otherwise IDs are masked.
pub async fn roster_export(
    conn: &mut PgConnection,
    scope: &EnrolmentScope,
    enrolment_id: i64,
    rules: &ProgrammeRules,
    sealer: &IdSealer,
    unmasked: bool,
    actor: &Actor,
) -> Outcome<RosterExport> {
    let Some(row) = school::enrolment(conn, scope, enrolment_id).await? else {
        return Ok(Err(Problem::NotFound));
    };
    if scope.is_insurer() && row.status == EnrolmentStage::Draft {
        return Ok(Err(Problem::NotFound));
    }
    let Some(roster_id) = row.roster_id else {
        return Ok(Err(Problem::NoRoster));
    };
    let group = rules
        .product(&row.product_code)
        .map_or(InsuredGroup::Student, |p| p.insured);
    let product_name = rules
        .product(&row.product_code)
        .map_or(row.product_code.clone(), |p| p.name.clone());
    let stored: Vec<StoredRow> = sqlx::query_as!(
        StoredRow,
        "select name, gender, class_name, id_sealed, id_masked, student_no, post, note \
         from roster_rows where roster_id = $1 order by row_no",
        roster_id,
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut rows = Vec::with_capacity(stored.len());
    for s in stored {
        let id_text = if unmasked {
            sealer
                .open(&s.id_sealed)
                .map_err(|_| EnrolmentError::Seal)?
                .as_str()
                .to_string()
        } else {
            s.id_masked
        };
        rows.push(ExportRow {
            name: s.name,
            gender: if s.gender == "F" {
                Gender::Female
            } else {
                Gender::Male
            },
            class_name: s.class_name,
            id_text,
            student_no: s.student_no,
            post: s.post,
            note: s.note,
        });
    }
    xiaobao_audit::record(
        conn,
        actor,
        Entry::new(
            if unmasked {
                "roster.unmasked_read"
            } else {
                "roster.downloaded"
            },
            "roster",
            Some(roster_id),
        )
        .detail("enrolment_id", enrolment_id)
        .detail("school_org_id", row.school_org_id)
        .detail("rows", rows.len()),
    )
    .await?;
    let title = format!(
        "{} {}学年 {} 花名册",
        row.school_name, row.academic_year, product_name
    );
    let file_name = format!(
        "{}-{}-{}{}.xlsx",
        row.school_name,
        row.academic_year,
        product_name,
        if row.seq > 1 { "-2" } else { "" }
    );
    Ok(Ok(RosterExport {
        enrolment: row,
        group,
        title,
        file_name,
        rows,
    }))
}

/// Marks a submitted enrolment in scope as received by the insurer (已承保).
pub async fn mark_received(
    conn: &mut PgConnection,
    scope: &EnrolmentScope,
    enrolment_id: i64,
    actor: &Actor,
) -> Outcome<EnrolmentRow> {
    let Some(row) = school::lock(conn, scope, enrolment_id).await? else {
        return Ok(Err(Problem::NotFound));
    };
    match row.status {
        EnrolmentStage::Draft => return Ok(Err(Problem::NotFound)),
        EnrolmentStage::Underwritten => return Ok(Err(Problem::AlreadyReceived)),
        EnrolmentStage::Submitted => {}
    }
    sqlx::query!(
        "update enrolments set status = 'underwritten', received_at = now(), received_by = $2, \
         updated_at = now() where enrolment_id = $1",
        enrolment_id,
        actor.account_id,
    )
    .execute(&mut *conn)
    .await?;
    xiaobao_audit::record(
        conn,
        actor,
        Entry::new("enrolment.received", "enrolment", Some(enrolment_id))
            .detail("school_org_id", row.school_org_id)
            .detail("product", &row.product_code),
    )
    .await?;
    Ok(school::enrolment(conn, scope, enrolment_id)
        .await?
        .ok_or(Problem::NotFound))
}

/// An endorsement owed.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = Endorsement)]
pub struct EndorsementRow {
    pub endorsement_id: i64,
    pub enrolment_id: i64,
    pub request_id: i64,
    pub school_name: String,
    pub product_code: String,
    pub company_name: String,
    pub old_headcount: i32,
    pub new_headcount: i32,
    pub premium_change_fen: i64,
    #[schema(value_type = String)]
    pub status: EndorsementStatus,
    pub due_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub issued_at: Option<DateTime<Utc>>,
}

/// Endorsements in scope (an insurer: those its company owes), pending first.
pub async fn endorsements(
    conn: &mut PgConnection,
    scope: &EnrolmentScope,
    limit: i64,
) -> Result<Vec<EndorsementRow>, EnrolmentError> {
    let a = scope.args();
    Ok(sqlx::query_as!(
        EndorsementRow,
        "select d.endorsement_id, d.enrolment_id, d.request_id, \
         o.name as school_name, e.product_code, d.company_name, d.old_headcount, d.new_headcount, \
         d.premium_change_fen, d.status as \"status: EndorsementStatus\", d.due_at, d.created_at, d.issued_at \
         from endorsements d join enrolments e on e.enrolment_id = d.enrolment_id \
         join organisations o on o.org_id = e.school_org_id \
         where (o.region_path like $1 || '%' or o.org_id = $2 or o.central_school_id = $3) \
         and ($4::bigint is null or e.company_id = $4) \
         and ($4::bigint is null or d.company_id = $4) \
         order by d.status = 'issued', d.due_at limit $5",
        a.region_prefix,
        a.org_id,
        a.central_school_id,
        a.company_id,
        limit,
    )
    .fetch_all(conn)
    .await?)
}

/// The insurer marks an endorsement issued.
pub async fn issue_endorsement(
    conn: &mut PgConnection,
    scope: &EnrolmentScope,
    endorsement_id: i64,
    actor: &Actor,
) -> Outcome<()> {
    let a = scope.args();
    let status: Option<EndorsementStatus> = sqlx::query_scalar!(
        "select d.status as \"status: EndorsementStatus\" from endorsements d join enrolments e on e.enrolment_id = d.enrolment_id \
         join organisations o on o.org_id = e.school_org_id \
         where d.endorsement_id = $5 \
         and (o.region_path like $1 || '%' or o.org_id = $2 or o.central_school_id = $3) \
         and ($4::bigint is null or e.company_id = $4) \
         and ($4::bigint is null or d.company_id = $4) \
         for update of d",
        a.region_prefix,
        a.org_id,
        a.central_school_id,
        a.company_id,
        endorsement_id,
    )
    .fetch_optional(&mut *conn)
    .await?;
    match status {
        None => return Ok(Err(Problem::NotFound)),
        Some(EndorsementStatus::Issued) => return Ok(Err(Problem::AlreadyIssued)),
        Some(EndorsementStatus::Pending) => {}
    }
    sqlx::query!(
        "update endorsements set status = 'issued', issued_at = now(), issued_by = $2 \
         where endorsement_id = $1",
        endorsement_id,
        actor.account_id,
    )
    .execute(&mut *conn)
    .await?;
    xiaobao_audit::record(
        conn,
        actor,
        Entry::new("endorsement.issued", "endorsement", Some(endorsement_id)),
    )
    .await?;
    Ok(Ok(()))
}
