//! Queries on `rules_proposals`. Rules are the tenant's own (no region scope below the
//! programme); who may call these is the route's permission.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use xiaobao_domain::{AcademicYear, RequestStatus};

/// One stored proposal.
#[derive(Debug, Clone)]
pub struct ProposalRow {
    pub proposal_id: i64,
    pub academic_year: AcademicYear,
    pub base_version: Option<i32>,
    pub document: String,
    pub reason: String,
    pub proposed_by: i64,
    pub proposed_by_name: String,
    pub proposed_at: DateTime<Utc>,
    pub status: RequestStatus,
    pub decided_by: Option<i64>,
    pub decided_by_name: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_reason: Option<String>,
    pub version: Option<i32>,
}

/// `query_as!` of [`ProposalRow`]s: the columns, then `$tail` (the `where` and `order` parts)
/// with its arguments.
macro_rules! proposal_rows {
    ($tail:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            ProposalRow,
            r#"select proposal_id, academic_year as "academic_year: AcademicYear", base_version,
                document, reason, proposed_by, proposed_by_name, proposed_at,
                status as "status: RequestStatus", decided_by, decided_by_name, decided_at,
                decision_reason, version
             from rules_proposals "#
                + $tail
            $(, $arg)*
        )
    };
}

/// A new proposal.
pub struct NewProposal<'a> {
    pub academic_year: AcademicYear,
    pub base_version: Option<i32>,
    pub document: &'a str,
    pub reason: &'a str,
    pub proposed_by: i64,
}

/// Stores a proposal, the proposer's name read from the account; `None` when the year already
/// has a pending one (the partial unique index decides, so two at once cannot both succeed).
pub async fn insert(conn: &mut PgConnection, p: &NewProposal<'_>) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!(
        "insert into rules_proposals (academic_year, base_version, document, reason, \
         proposed_by, proposed_by_name) \
         select $1, $2, $3, $4, a.account_id, a.display_name from accounts a \
         where a.account_id = $5 \
         on conflict (academic_year) where status = 'pending' do nothing \
         returning proposal_id",
        p.academic_year.to_string(),
        p.base_version,
        p.document,
        p.reason,
        p.proposed_by,
    )
    .fetch_optional(conn)
    .await
}

/// The pending proposal of a year.
pub async fn pending_of(conn: &mut PgConnection, year: AcademicYear) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!(
        "select proposal_id from rules_proposals where academic_year = $1 and status = 'pending'",
        year.to_string(),
    )
    .fetch_optional(conn)
    .await
}

/// One proposal; with `lock`, locked for a decision.
pub async fn get(
    conn: &mut PgConnection,
    proposal_id: i64,
    lock: bool,
) -> sqlx::Result<Option<ProposalRow>> {
    if lock {
        proposal_rows!("where proposal_id = $1 for update", proposal_id)
            .fetch_optional(conn)
            .await
    } else {
        proposal_rows!("where proposal_id = $1", proposal_id)
            .fetch_optional(conn)
            .await
    }
}

/// The proposals of a year, newest first (at most `limit`).
pub async fn of_year(
    conn: &mut PgConnection,
    year: AcademicYear,
    limit: i64,
) -> sqlx::Result<Vec<ProposalRow>> {
    proposal_rows!(
        "where academic_year = $1 order by proposal_id desc limit $2",
        year.to_string(),
        limit,
    )
    .fetch_all(conn)
    .await
}

/// Pending proposals of every year, oldest first.
pub async fn pending(conn: &mut PgConnection) -> sqlx::Result<Vec<ProposalRow>> {
    proposal_rows!("where status = 'pending' order by proposal_id")
        .fetch_all(conn)
        .await
}

/// Records the decision on a pending proposal (approval with the version it became, refusal
/// with its reason, or withdrawal by its proposer).
pub async fn decide(
    conn: &mut PgConnection,
    proposal_id: i64,
    status: RequestStatus,
    decided_by: i64,
    reason: Option<&str>,
    version: Option<i32>,
) -> sqlx::Result<ProposalRow> {
    sqlx::query_as!(
        ProposalRow,
        r#"update rules_proposals p set status = $2, decided_by = a.account_id,
            decided_by_name = a.display_name, decided_at = now(), decision_reason = $4,
            version = $5
         from accounts a where p.proposal_id = $1 and a.account_id = $3 and p.status = 'pending'
         returning p.proposal_id, p.academic_year as "academic_year: AcademicYear",
            p.base_version, p.document, p.reason, p.proposed_by, p.proposed_by_name,
            p.proposed_at, p.status as "status: RequestStatus", p.decided_by,
            p.decided_by_name, p.decided_at, p.decision_reason, p.version"#,
        proposal_id,
        status.to_string(),
        decided_by,
        reason,
        version,
    )
    .fetch_one(conn)
    .await
}

/// Academic years with rules or proposals, newest first.
pub async fn years(conn: &mut PgConnection) -> sqlx::Result<Vec<AcademicYear>> {
    sqlx::query_scalar!(
        r#"select academic_year as "academic_year!: AcademicYear" from (
            select academic_year from programme_rules
            union select academic_year from rules_proposals) y
         order by academic_year desc"#,
    )
    .fetch_all(conn)
    .await
}

/// Records the platform operator's approval of a pending proposal (a programme with a single
/// authority account): no approving account, the operator named.
pub async fn approve_by_operator(
    conn: &mut PgConnection,
    proposal_id: i64,
    name: &str,
    version: i32,
) -> sqlx::Result<ProposalRow> {
    sqlx::query_as!(
        ProposalRow,
        r#"update rules_proposals set status = 'approved', decided_by = null,
            decided_by_name = $2, decided_at = now(), version = $3
         where proposal_id = $1 and status = 'pending'
         returning proposal_id, academic_year as "academic_year: AcademicYear",
            base_version, document, reason, proposed_by, proposed_by_name,
            proposed_at, status as "status: RequestStatus", decided_by,
            decided_by_name, decided_at, decision_reason, version"#,
        proposal_id,
        name,
        version,
    )
    .fetch_one(conn)
    .await
}

/// Active accounts holding the programme authority role.
pub async fn active_authorities(conn: &mut PgConnection) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select count(distinct a.account_id) as "n!" from accounts a
         join account_roles r on r.account_id = a.account_id
         where r.role = 'programme_authority' and a.status = 'active'"#,
    )
    .fetch_one(conn)
    .await
}

/// A region of the programme, for choosing admissions.
#[derive(Debug, Clone)]
pub struct RegionRow {
    pub region_code: String,
    pub name: String,
    pub parent_code: Option<String>,
    pub level: String,
}

/// Every region of the programme, in tree order.
pub async fn regions(conn: &mut PgConnection) -> sqlx::Result<Vec<RegionRow>> {
    sqlx::query_as!(
        RegionRow,
        "select region_code, name, parent_code, level from regions order by path"
    )
    .fetch_all(conn)
    .await
}
