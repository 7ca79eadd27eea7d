//! The school's side of enrolment: per product, the headcount, the insurer, the roster and the
//! submission; and a department reopening a school after the deadline.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use xiaobao_audit::{Actor, Entry};
use xiaobao_domain::{
    AcademicYear, Deadline, EnrolmentStage, Fen, InsuredGroup, OrgStatus, ProgrammeRules,
    SchoolNature, SchoolType,
};
use xiaobao_identity::SchoolScope;

use crate::years::{self, CompanyRef};
use crate::{
    EnrolmentError, EnrolmentScope, EnrolmentStatus, Outcome, Problem, ScopeArgs, reason_ok,
};

/// A school as enrolment needs it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = EnrolmentSchool)]
pub struct SchoolInfo {
    pub org_id: i64,
    pub name: String,
    /// `public` or `private`.
    #[schema(value_type = String)]
    pub nature: SchoolNature,
    /// `kindergarten`, `primary`, `junior_high`, …
    #[schema(value_type = String)]
    pub school_type: SchoolType,
    pub region_code: String,
    pub region_name: String,
    pub region_path: String,
    #[schema(value_type = String)]
    pub status: OrgStatus,
}

struct SchoolRaw {
    org_id: i64,
    name: String,
    nature: Option<String>,
    school_type: Option<String>,
    region_code: String,
    region_name: String,
    region_path: String,
    status: OrgStatus,
}

/// The school `org_id` if it lies in `scope`.
pub async fn school(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    org_id: i64,
) -> Result<Option<SchoolInfo>, EnrolmentError> {
    let a = ScopeArgs::schools(scope);
    let Some(raw) = sqlx::query_as!(
        SchoolRaw,
        "select o.org_id, o.name, o.nature, o.school_type, o.region_code, r.name as region_name, \
         o.region_path, o.status as \"status: OrgStatus\" from organisations o join regions r on r.region_code = o.region_code \
         where o.kind = 'school' and o.org_id = $4 \
         and (o.region_path like $1 || '%' or o.org_id = $2 or o.central_school_id = $3)",
        a.region_prefix,
        a.org_id,
        a.central_school_id,
        org_id,
    )
    .fetch_optional(conn)
    .await?
    else {
        return Ok(None);
    };
    let nature = raw
        .nature
        .as_deref()
        .and_then(|n| n.parse().ok())
        .unwrap_or(SchoolNature::Public);
    let school_type = raw
        .school_type
        .as_deref()
        .and_then(|t| t.parse().ok())
        .unwrap_or(SchoolType::Primary);
    Ok(Some(SchoolInfo {
        org_id: raw.org_id,
        name: raw.name,
        nature,
        school_type,
        region_code: raw.region_code,
        region_name: raw.region_name,
        region_path: raw.region_path,
        status: raw.status,
    }))
}

/// One enrolment row.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = Enrolment)]
pub struct EnrolmentRow {
    pub enrolment_id: i64,
    #[schema(value_type = String)]
    pub academic_year: AcademicYear,
    pub school_org_id: i64,
    pub school_name: String,
    pub product_code: String,
    pub seq: i16,
    pub company_id: Option<i64>,
    pub company_name: Option<String>,
    pub headcount: i32,
    pub rate_fen: Option<i64>,
    pub premium_fen: i64,
    pub cover_start: Option<NaiveDate>,
    /// Stored status: `draft`, `submitted`, `underwritten`.
    #[schema(value_type = String)]
    pub status: EnrolmentStage,
    pub roster_id: Option<i64>,
    pub roster_rows: Option<i32>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub submitted_on_behalf: bool,
    pub received_at: Option<DateTime<Utc>>,
    pub pending_request_id: Option<i64>,
}

impl EnrolmentRow {
    /// The status the school sees.
    pub fn display_status(&self) -> EnrolmentStatus {
        EnrolmentStatus::derive(self.status, self.pending_request_id.is_some())
    }

    /// The premium in yuan, e.g. `"7,390,500.00"`.
    pub fn premium_yuan(&self) -> String {
        Fen(self.premium_fen).yuan_string()
    }
}

/// `sqlx::query_as!` of [`EnrolmentRow`]s: their select list over `enrolments e join
/// organisations o`, then `$tail` (a string literal: the `where` clause and what follows) and
/// the arguments.
macro_rules! enrolment_rows {
    ($tail:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            $crate::school::EnrolmentRow,
            "select e.enrolment_id, \
             e.academic_year as \"academic_year: xiaobao_domain::AcademicYear\", e.school_org_id, \
             o.name as school_name, e.product_code, e.seq, e.company_id, e.company_name, \
             e.headcount, e.rate_fen, e.premium_fen, e.cover_start, \
             e.status as \"status: xiaobao_domain::EnrolmentStage\", e.roster_id, \
             (select r.row_count from rosters r where r.roster_id = e.roster_id) \
               as \"roster_rows?\", \
             e.submitted_at, e.submitted_on_behalf, e.received_at, \
             (select q.request_id from enrolment_requests q where q.enrolment_id = e.enrolment_id \
              and q.status = 'pending' order by q.request_id limit 1) \
               as \"pending_request_id?\" \
             from enrolments e join organisations o on o.org_id = e.school_org_id "
                + $tail
            $(, $arg)*
        )
    };
}
pub(crate) use enrolment_rows;

/// One enrolment in scope.
pub async fn enrolment(
    conn: &mut PgConnection,
    scope: &EnrolmentScope,
    enrolment_id: i64,
) -> Result<Option<EnrolmentRow>, EnrolmentError> {
    let a = scope.args();
    Ok(enrolment_rows!(
        "where e.enrolment_id = $5 \
         and (o.region_path like $1 || '%' or o.org_id = $2 or o.central_school_id = $3) \
         and ($4::bigint is null or e.company_id = $4)",
        a.region_prefix,
        a.org_id,
        a.central_school_id,
        a.company_id,
        enrolment_id,
    )
    .fetch_optional(conn)
    .await?)
}

/// A product on the school's page.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = EnrolmentProduct)]
pub struct ProductView {
    pub code: String,
    pub name: String,
    /// `student`, `staff` or `intern`.
    #[schema(value_type = String)]
    pub insured: InsuredGroup,
    pub insured_label: &'static str,
    pub eligible: bool,
    pub rate_fen: Option<i64>,
    /// Seq 1 first; seq 2 when a second insurer was approved.
    pub enrolments: Vec<EnrolmentRow>,
    pub status: EnrolmentStatus,
}

/// The school's enrolment page for a year.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = EnrolmentOverview)]
pub struct Overview {
    pub school: SchoolInfo,
    #[schema(value_type = String)]
    pub academic_year: AcademicYear,
    pub deadline: NaiveDate,
    pub reopened_until: Option<NaiveDate>,
    /// Whether drafts may be changed and submitted today.
    pub open: bool,
    /// Set when the year containing today is not open yet: this is the year it names, and
    /// the overview is of the previous year (上一学年), read-only (`open` is false).
    #[schema(value_type = Option<String>)]
    pub not_open_year: Option<AcademicYear>,
    pub cover_start: NaiveDate,
    pub cover_end: NaiveDate,
    pub insurers: Vec<CompanyRef>,
    pub products: Vec<ProductView>,
    /// Names of the products the school had in force the year before and has not submitted
    /// for this year: that cover ends when this year starts unless it enrols (不得断保).
    pub lapsing: Vec<String>,
}

/// Whether a school may change drafts and submit on `today`, and until when it was reopened.
pub async fn window(
    conn: &mut PgConnection,
    rules: &ProgrammeRules,
    year: AcademicYear,
    school_org_id: i64,
    today: NaiveDate,
) -> Result<(bool, NaiveDate, Option<NaiveDate>), EnrolmentError> {
    let ay = rules.academic_year();
    let deadline = rules.deadline(Deadline::SchoolEnrolment, ay);
    let reopened: Option<NaiveDate> = sqlx::query_scalar!(
        "select reopened_until from enrolment_reopenings \
         where academic_year = $1 and school_org_id = $2",
        year as _,
        school_org_id,
    )
    .fetch_optional(conn)
    .await?;
    let open = today <= deadline || reopened.is_some_and(|r| today <= r);
    Ok((open, deadline, reopened))
}

/// The stage of the first enrolment of each product of `year` for the schools among `org_ids`
/// in `scope`: (school, product code, stage).
pub async fn stages(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    year: AcademicYear,
    org_ids: &[i64],
) -> Result<Vec<(i64, String, EnrolmentStage)>, EnrolmentError> {
    let a = ScopeArgs::schools(scope);
    let rows = sqlx::query!(
        "select e.school_org_id, e.product_code, e.status as \"status: EnrolmentStage\" \
         from enrolments e join organisations o on o.org_id = e.school_org_id \
         where e.academic_year = $4 and e.seq = 1 and e.school_org_id = any($5) \
         and (o.region_path like $1 || '%' or o.org_id = $2 or o.central_school_id = $3)",
        a.region_prefix,
        a.org_id,
        a.central_school_id,
        year as _,
        org_ids,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.school_org_id, r.product_code, r.status))
        .collect())
}

/// The page of school `org_id` (in `scope`) for `year`.
pub async fn overview(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    org_id: i64,
    year: AcademicYear,
    rules: &ProgrammeRules,
    today: NaiveDate,
) -> Outcome<Overview> {
    let Some(school) = school(conn, scope, org_id).await? else {
        return Ok(Err(Problem::NotFound));
    };
    if years::get(conn, year).await?.is_none() {
        return Ok(Err(Problem::YearNotOpen(year.to_string())));
    }
    let (open, deadline, reopened_until) = window(conn, rules, year, org_id, today).await?;
    let insurers = years::admitted_for(conn, year, &school.region_path).await?;
    let rows: Vec<EnrolmentRow> = enrolment_rows!(
        "where e.school_org_id = $1 and e.academic_year = $2 \
         order by e.product_code, e.seq",
        org_id,
        year.to_string(),
    )
    .fetch_all(&mut *conn)
    .await?;
    let products: Vec<ProductView> = rules
        .products()
        .iter()
        .map(|p| {
            let enrolments: Vec<EnrolmentRow> = rows
                .iter()
                .filter(|r| r.product_code == p.code)
                .cloned()
                .collect();
            let status = enrolments
                .first()
                .map_or(EnrolmentStatus::NotSubmitted, EnrolmentRow::display_status);
            ProductView {
                code: p.code.clone(),
                name: p.name.clone(),
                insured: p.insured,
                insured_label: p.insured.label(),
                eligible: p.is_eligible(school.school_type),
                rate_fen: p.rate_for(school.nature, school.school_type).map(|f| f.0),
                enrolments,
                status,
            }
        })
        .collect();
    let insured_before: Vec<String> = sqlx::query_scalar!(
        "select distinct product_code from enrolments where school_org_id = $1 \
         and academic_year = $2 and status in ('submitted', 'underwritten')",
        org_id,
        year.previous() as _,
    )
    .fetch_all(&mut *conn)
    .await?;
    let lapsing = products
        .iter()
        .filter(|p: &&ProductView| {
            insured_before.contains(&p.code) && p.status == EnrolmentStatus::NotSubmitted
        })
        .map(|p| p.name.clone())
        .collect();
    let ay = rules.academic_year();
    Ok(Ok(Overview {
        lapsing,
        academic_year: year,
        deadline,
        reopened_until,
        open,
        not_open_year: None,
        cover_start: rules.cover_start_date(ay),
        cover_end: ay.last_day(),
        insurers,
        products,
        school,
    }))
}

/// What a school enters for a product before submitting.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct DraftInput {
    pub headcount: Option<u32>,
    pub company_id: Option<i64>,
    /// A term start before the programme's cover start.
    pub cover_start: Option<NaiveDate>,
}

/// The enrolment of (school, year, product, seq 1), created as a draft when missing. Checks
/// the year is open, the product exists and the school may enrol in it.
pub(crate) async fn ensure_enrolment(
    conn: &mut PgConnection,
    school: &SchoolInfo,
    year: AcademicYear,
    product_code: &str,
    rules: &ProgrammeRules,
) -> Outcome<i64> {
    if years::get(conn, year).await?.is_none() {
        return Ok(Err(Problem::YearNotOpen(year.to_string())));
    }
    let Some(product) = rules.product(product_code) else {
        return Ok(Err(Problem::UnknownProduct));
    };
    if !product.is_eligible(school.school_type) {
        return Ok(Err(Problem::NotEligible));
    }
    if school.status != OrgStatus::Active {
        return Ok(Err(Problem::SchoolNotActive));
    }
    sqlx::query!(
        "insert into enrolments (academic_year, school_org_id, product_code, seq, region_path) \
         values ($1, $2, $3, 1, $4) on conflict do nothing",
        year as _,
        school.org_id,
        product_code,
        school.region_path,
    )
    .execute(&mut *conn)
    .await?;
    let id: i64 = sqlx::query_scalar!(
        "select enrolment_id from enrolments where academic_year = $1 and school_org_id = $2 \
         and product_code = $3 and seq = 1",
        year as _,
        school.org_id,
        product_code,
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(Ok(id))
}

/// Locks enrolment `id` in scope.
pub(crate) async fn lock(
    conn: &mut PgConnection,
    scope: &EnrolmentScope,
    enrolment_id: i64,
) -> Result<Option<EnrolmentRow>, EnrolmentError> {
    let a = scope.args();
    Ok(enrolment_rows!(
        "where e.enrolment_id = $5 \
         and (o.region_path like $1 || '%' or o.org_id = $2 or o.central_school_id = $3) \
         and ($4::bigint is null or e.company_id = $4) \
         for update of e",
        a.region_prefix,
        a.org_id,
        a.central_school_id,
        a.company_id,
        enrolment_id,
    )
    .fetch_optional(conn)
    .await?)
}

/// Creates (if needed) and updates the draft of a product: headcount, insurer, early cover
/// start. Only before the deadline (or while reopened) and only while not submitted.
#[allow(clippy::too_many_arguments)]
pub async fn save_draft(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    org_id: i64,
    year: AcademicYear,
    product_code: &str,
    seq: i16,
    input: &DraftInput,
    rules: &ProgrammeRules,
    actor: &Actor,
    today: NaiveDate,
) -> Outcome<EnrolmentRow> {
    let Some(school) = school(conn, scope, org_id).await? else {
        return Ok(Err(Problem::NotFound));
    };
    let id = if seq == 1 {
        match ensure_enrolment(conn, &school, year, product_code, rules).await? {
            Ok(id) => id,
            Err(p) => return Ok(Err(p)),
        }
    } else {
        let id: Option<i64> = sqlx::query_scalar!(
            "select enrolment_id from enrolments where academic_year = $1 and school_org_id = $2 \
             and product_code = $3 and seq = $4",
            year as _,
            org_id,
            product_code,
            seq,
        )
        .fetch_optional(&mut *conn)
        .await?;
        match id {
            Some(id) => id,
            None => return Ok(Err(Problem::NotFound)),
        }
    };
    let escope = EnrolmentScope {
        schools: scope.clone(),
        company_id: None,
    };
    let Some(current) = lock(conn, &escope, id).await? else {
        return Ok(Err(Problem::NotFound));
    };
    if current.status != EnrolmentStage::Draft {
        return Ok(Err(Problem::AlreadySubmitted));
    }
    let (open, deadline, _) = window(conn, rules, year, org_id, today).await?;
    // A second insurer's enrolment exists only by a department's approval: no deadline.
    if !open && current.seq == 1 {
        return Ok(Err(Problem::DeadlinePassed(deadline.to_string())));
    }
    if let Some(h) = input.headcount
        && !(1..=1_000_000).contains(&h)
    {
        return Ok(Err(Problem::BadHeadcount));
    }
    let mut company_name = current.company_name.clone();
    if let Some(company_id) = input.company_id {
        let admitted = years::admitted_for(conn, year, &school.region_path).await?;
        match admitted.iter().find(|c| c.company_id == company_id) {
            Some(c) => company_name = Some(c.name.clone()),
            None => return Ok(Err(Problem::InsurerNotAdmitted)),
        }
    }
    if let Some(start) = input.cover_start {
        let ay = year;
        let earliest = NaiveDate::from_ymd_opt(ay.start_year(), 8, 1).unwrap_or(start);
        if start < earliest || start > rules.cover_start_date(ay) {
            return Ok(Err(Problem::BadCoverStart));
        }
    }
    sqlx::query!(
        "update enrolments set headcount = coalesce($2, headcount), \
         company_id = coalesce($3, company_id), company_name = $4, \
         cover_start = coalesce($5, cover_start), updated_at = now() where enrolment_id = $1",
        id,
        input.headcount.map(|h| h as i32),
        input.company_id,
        company_name,
        input.cover_start,
    )
    .execute(&mut *conn)
    .await?;
    let mut entry = Entry::new("enrolment.draft_saved", "enrolment", Some(id))
        .detail("product", product_code)
        .detail("school_org_id", org_id);
    if let Some(h) = input.headcount {
        entry = entry.change("headcount", current.headcount, h);
    }
    if input.company_id.is_some() {
        entry = entry.change("company", &current.company_name, &company_name);
    }
    xiaobao_audit::record(conn, actor, entry).await?;
    let row = enrolment(conn, &escope, id).await?;
    Ok(row.ok_or(Problem::NotFound))
}

/// Submits a draft: an admitted insurer, an accepted roster whose rows equal the headcount,
/// before the deadline (or while reopened). Computes the premium from the rules.
pub async fn submit(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    enrolment_id: i64,
    rules: &ProgrammeRules,
    actor: &Actor,
    today: NaiveDate,
) -> Outcome<EnrolmentRow> {
    let escope = EnrolmentScope {
        schools: scope.clone(),
        company_id: None,
    };
    let Some(row) = lock(conn, &escope, enrolment_id).await? else {
        return Ok(Err(Problem::NotFound));
    };
    let Some(school) = school(conn, scope, row.school_org_id).await? else {
        return Ok(Err(Problem::NotFound));
    };
    if row.status != EnrolmentStage::Draft {
        return Ok(Err(Problem::AlreadySubmitted));
    }
    let (open, deadline, _) =
        window(conn, rules, row.academic_year, row.school_org_id, today).await?;
    if !open && row.seq == 1 {
        return Ok(Err(Problem::DeadlinePassed(deadline.to_string())));
    }
    let Some(company_id) = row.company_id else {
        return Ok(Err(Problem::NoInsurer));
    };
    let admitted = years::admitted_for(conn, row.academic_year, &school.region_path).await?;
    if !admitted.iter().any(|c| c.company_id == company_id) {
        return Ok(Err(Problem::InsurerNotAdmitted));
    }
    let Some(rows) = row.roster_rows else {
        return Ok(Err(Problem::NoRoster));
    };
    let headcount = u32::try_from(row.headcount).unwrap_or(0);
    if headcount == 0 {
        return Ok(Err(Problem::BadHeadcount));
    }
    if rows != row.headcount {
        return Ok(Err(Problem::HeadcountMismatch {
            headcount,
            rows: u32::try_from(rows).unwrap_or(0),
        }));
    }
    let rate = match rules.rate(&row.product_code, school.nature, school.school_type) {
        Ok(r) => r,
        Err(xiaobao_domain::RulesError::NotEligible { .. }) => {
            return Ok(Err(Problem::NotEligible));
        }
        Err(_) => return Ok(Err(Problem::NoRate)),
    };
    let Some(premium) = rate.checked_mul(i64::from(headcount)) else {
        return Ok(Err(Problem::BadHeadcount));
    };
    sqlx::query!(
        "update enrolments set status = 'submitted', rate_fen = $2, premium_fen = $3, \
         submitted_at = now(), submitted_by = $4, submitted_on_behalf = $5, updated_at = now() \
         where enrolment_id = $1",
        enrolment_id,
        rate.0,
        premium.0,
        actor.account_id,
        actor.on_behalf_of_org_id.is_some(),
    )
    .execute(&mut *conn)
    .await?;
    xiaobao_audit::record(
        conn,
        actor,
        Entry::new("enrolment.submitted", "enrolment", Some(enrolment_id))
            .detail("school_org_id", row.school_org_id)
            .detail("product", &row.product_code)
            .detail("headcount", headcount)
            .detail("company", &row.company_name)
            .detail("premium_fen", premium.0),
    )
    .await?;
    let row = enrolment(conn, &escope, enrolment_id).await?;
    Ok(row.ok_or(Problem::NotFound))
}

/// A department lets a school (in its scope) change drafts and submit until `until`.
#[allow(clippy::too_many_arguments)]
pub async fn reopen(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    org_id: i64,
    year: AcademicYear,
    until: NaiveDate,
    reason: &str,
    actor: &Actor,
    today: NaiveDate,
) -> Outcome<()> {
    let Some(school) = school(conn, scope, org_id).await? else {
        return Ok(Err(Problem::NotFound));
    };
    if years::get(conn, year).await?.is_none() {
        return Ok(Err(Problem::YearNotOpen(year.to_string())));
    }
    let Some(reason) = reason_ok(reason) else {
        return Ok(Err(Problem::BadReason));
    };
    let ay = year;
    if until < today || until > ay.last_day() {
        return Ok(Err(Problem::BadReopenDate));
    }
    sqlx::query!(
        "insert into enrolment_reopenings \
         (academic_year, school_org_id, reopened_until, reason, reopened_by) \
         values ($1, $2, $3, $4, $5) on conflict (academic_year, school_org_id) do update \
         set reopened_until = excluded.reopened_until, reason = excluded.reason, \
         reopened_by = excluded.reopened_by, reopened_at = now()",
        year as _,
        org_id,
        until,
        reason,
        actor.account_id,
    )
    .execute(&mut *conn)
    .await?;
    xiaobao_audit::record(
        conn,
        actor,
        Entry::new("enrolment.reopened", "organisation", Some(org_id))
            .detail("school", &school.name)
            .detail("academic_year", year)
            .detail("until", until.to_string())
            .detail("reason", &reason),
    )
    .await?;
    Ok(Ok(()))
}
