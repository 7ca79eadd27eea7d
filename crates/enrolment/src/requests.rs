//! What a school asks after submitting: a modification (申请修改: new headcount, insurer or
//! roster) reviewed by its department or, where the rules say so, by its insurer; or a second
//! insurer for the same product (学校投保多家保险公司), approved by the department. An approved
//! modification changes the enrolment, computes the premium change by the rules and leaves a
//! pending endorsement (批单) for the insurer.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use xiaobao_audit::{Actor, Entry};
use xiaobao_domain::AcademicYear;
use xiaobao_domain::calendar::WorkCalendar;
use xiaobao_domain::{EnrolmentStage, Fen, ModificationReviewer, ProgrammeRules, RequestStatus};
use xiaobao_identity::SchoolScope;

use crate::school::{self, EnrolmentRow};
use crate::years;
use crate::{EnrolmentError, EnrolmentScope, Outcome, Problem, ScopeArgs, reason_ok};

/// A request as lists and pages show it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = EnrolmentRequest)]
pub struct RequestRow {
    pub request_id: i64,
    /// `modify` or `second_insurer`.
    pub kind: String,
    pub enrolment_id: i64,
    pub school_org_id: i64,
    pub school_name: String,
    #[schema(value_type = String)]
    pub academic_year: AcademicYear,
    pub product_code: String,
    pub headcount: i32,
    pub company_name: Option<String>,
    pub new_headcount: Option<i32>,
    pub new_company_id: Option<i64>,
    pub new_company_name: Option<String>,
    pub new_roster_id: Option<i64>,
    pub reason: String,
    /// `department` or `insurer`.
    pub reviewer: String,
    #[schema(value_type = String)]
    pub status: RequestStatus,
    pub requested_at: DateTime<Utc>,
    pub requested_on_behalf: bool,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_reason: Option<String>,
    pub premium_change_fen: Option<i64>,
    pub created_enrolment_id: Option<i64>,
}

impl RequestRow {
    pub fn kind_label(&self) -> &'static str {
        if self.kind == "second_insurer" {
            "增加保险机构"
        } else {
            "申请修改"
        }
    }

    pub fn status_label(&self) -> &'static str {
        match self.status {
            RequestStatus::Pending => "待审核",
            RequestStatus::Approved => "已通过",
            RequestStatus::Refused => "未通过",
            RequestStatus::Withdrawn => "已撤回",
        }
    }

    pub fn premium_change_yuan(&self) -> Option<String> {
        self.premium_change_fen.map(|f| Fen(f).yuan_string())
    }
}

/// `sqlx::query_as!` of [`RequestRow`]s in a scope: their select list over
/// `enrolment_requests q join enrolments e join organisations o`, the scope's condition on
/// `$1`…`$4` (bind [`ScopeArgs`]), then `$tail` (a string literal) and the other arguments.
macro_rules! scoped_requests {
    ($scope:expr, $tail:literal $(, $arg:expr)* $(,)?) => {{
        let a: ScopeArgs = $scope;
        sqlx::query_as!(
            RequestRow,
            "select q.request_id, q.kind, q.enrolment_id, q.school_org_id, \
         o.name as school_name, \
         e.academic_year as \"academic_year: xiaobao_domain::AcademicYear\", e.product_code, e.headcount, e.company_name, \
         q.new_headcount, q.new_company_id, q.new_company_name, q.new_roster_id, q.reason, \
         q.reviewer, q.status as \"status: xiaobao_domain::RequestStatus\", q.requested_at, q.requested_on_behalf, q.decided_at, \
         q.decision_reason, q.premium_change_fen, q.created_enrolment_id \
         from enrolment_requests q join enrolments e on e.enrolment_id = q.enrolment_id \
         join organisations o on o.org_id = q.school_org_id "
                + "where (o.region_path like $1 || '%' or o.org_id = $2 or o.central_school_id = $3) \
         and ($4::bigint is null or e.company_id = $4) "
                + $tail,
            a.region_prefix,
            a.org_id,
            a.central_school_id,
            a.company_id
            $(, $arg)*
        )
    }};
}

/// What a school asks to change.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[schema(as = EnrolmentModificationInput)]
pub struct ModificationInput {
    pub new_headcount: Option<u32>,
    pub new_company_id: Option<i64>,
    /// A roster uploaded for this enrolment after submission (status `pending`).
    pub new_roster_id: Option<i64>,
    pub reason: String,
}

fn school_scope(scope: &SchoolScope) -> EnrolmentScope {
    EnrolmentScope {
        schools: scope.clone(),
        company_id: None,
    }
}

/// The premium change of going from the enrolment's headcount to `new_headcount`.
fn premium_change(
    conn_school: &school::SchoolInfo,
    row: &EnrolmentRow,
    new_headcount: u32,
    rules: &ProgrammeRules,
) -> Result<Fen, Problem> {
    rules
        .headcount_change_premium(
            &row.product_code,
            conn_school.nature,
            conn_school.school_type,
            u32::try_from(row.headcount).unwrap_or(0),
            new_headcount,
        )
        .map_err(|_| Problem::NoRate)
}

/// A school (or someone on its behalf) asks to change a submitted enrolment.
pub async fn request_modification(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    enrolment_id: i64,
    input: &ModificationInput,
    rules: &ProgrammeRules,
    actor: &Actor,
) -> Outcome<RequestRow> {
    let escope = school_scope(scope);
    let Some(row) = school::lock(conn, &escope, enrolment_id).await? else {
        return Ok(Err(Problem::NotFound));
    };
    let Some(info) = school::school(conn, scope, row.school_org_id).await? else {
        return Ok(Err(Problem::NotFound));
    };
    if row.status == EnrolmentStage::Draft {
        return Ok(Err(Problem::NotSubmitted));
    }
    if row.pending_request_id.is_some() {
        return Ok(Err(Problem::RequestOpen));
    }
    let Some(reason) = reason_ok(&input.reason) else {
        return Ok(Err(Problem::BadReason));
    };
    let mut new_company_name = None;
    if let Some(company_id) = input.new_company_id {
        if Some(company_id) == row.company_id {
            return Ok(Err(Problem::SameInsurer));
        }
        let admitted = years::admitted_for(conn, row.academic_year, &info.region_path).await?;
        match admitted.into_iter().find(|c| c.company_id == company_id) {
            Some(c) => new_company_name = Some(c.name),
            None => return Ok(Err(Problem::InsurerNotAdmitted)),
        }
    }
    let mut roster_rows = None;
    if let Some(roster_id) = input.new_roster_id {
        let rows: Option<i32> = sqlx::query_scalar!(
            "select row_count from rosters where roster_id = $1 and enrolment_id = $2 \
             and status = 'pending'",
            roster_id,
            enrolment_id,
        )
        .fetch_optional(&mut *conn)
        .await?;
        match rows {
            Some(r) => roster_rows = Some(r),
            None => return Ok(Err(Problem::NoRoster)),
        }
    }
    if let Some(h) = input.new_headcount
        && !(1..=1_000_000).contains(&h)
    {
        return Ok(Err(Problem::BadHeadcount));
    }
    let new_headcount = input
        .new_headcount
        .map(|h| h as i32)
        .or(roster_rows)
        .filter(|h| *h != row.headcount || roster_rows.is_some());
    if let Some(h) = new_headcount {
        match roster_rows {
            None => return Ok(Err(Problem::RosterRequired)),
            Some(r) if r != h => {
                return Ok(Err(Problem::HeadcountMismatch {
                    headcount: u32::try_from(h).unwrap_or(0),
                    rows: u32::try_from(r).unwrap_or(0),
                }));
            }
            Some(_) => {}
        }
    }
    if new_headcount.is_none() && input.new_company_id.is_none() && input.new_roster_id.is_none() {
        return Ok(Err(Problem::NothingToChange));
    }
    let change = match new_headcount {
        Some(h) => match premium_change(&info, &row, u32::try_from(h).unwrap_or(0), rules) {
            Ok(f) => f,
            Err(p) => return Ok(Err(p)),
        },
        None => Fen::ZERO,
    };
    let reviewer = rules.enrolment().modification_reviewer;
    let id: i64 = sqlx::query_scalar!(
        "insert into enrolment_requests (kind, enrolment_id, school_org_id, region_path, \
         new_headcount, new_company_id, new_company_name, new_roster_id, reason, reviewer, \
         requested_by, requested_on_behalf, premium_change_fen) \
         values ('modify', $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         returning request_id",
        enrolment_id,
        row.school_org_id,
        info.region_path,
        new_headcount,
        input.new_company_id,
        new_company_name,
        input.new_roster_id,
        reason,
        reviewer.code(),
        actor.account_id,
        actor.on_behalf_of_org_id.is_some(),
        change.0,
    )
    .fetch_one(&mut *conn)
    .await?;
    xiaobao_audit::record(
        conn,
        actor,
        Entry::new(
            "enrolment.modification_requested",
            "enrolment_request",
            Some(id),
        )
        .detail("enrolment_id", enrolment_id)
        .detail("new_headcount", new_headcount)
        .detail("new_company", &new_company_name)
        .detail("new_roster_id", input.new_roster_id)
        .detail("reason", &reason),
    )
    .await?;
    Ok(get(conn, &escope, id).await?.ok_or(Problem::NotFound))
}

/// A school asks for a second insurer for the product of a submitted enrolment.
pub async fn request_second_insurer(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    enrolment_id: i64,
    company_id: i64,
    reason: &str,
    actor: &Actor,
) -> Outcome<RequestRow> {
    let escope = school_scope(scope);
    let Some(row) = school::lock(conn, &escope, enrolment_id).await? else {
        return Ok(Err(Problem::NotFound));
    };
    let Some(info) = school::school(conn, scope, row.school_org_id).await? else {
        return Ok(Err(Problem::NotFound));
    };
    if row.status == EnrolmentStage::Draft {
        return Ok(Err(Problem::NotSubmitted));
    }
    let Some(reason) = reason_ok(reason) else {
        return Ok(Err(Problem::BadReason));
    };
    if row.company_id == Some(company_id) {
        return Ok(Err(Problem::SameInsurer));
    }
    let second = sqlx::query_scalar!(
        "select exists (select 1 from enrolments where academic_year = $1 \
         and school_org_id = $2 and product_code = $3 and seq = 2) as \"exists!\"",
        row.academic_year as _,
        row.school_org_id,
        row.product_code,
    )
    .fetch_one(&mut *conn)
    .await?;
    if second {
        return Ok(Err(Problem::SecondExists));
    }
    let admitted = years::admitted_for(conn, row.academic_year, &info.region_path).await?;
    let Some(company) = admitted.into_iter().find(|c| c.company_id == company_id) else {
        return Ok(Err(Problem::InsurerNotAdmitted));
    };
    let inserted: Option<i64> = sqlx::query_scalar!(
        "insert into enrolment_requests (kind, enrolment_id, school_org_id, region_path, \
         new_company_id, new_company_name, reason, reviewer, requested_by, requested_on_behalf) \
         values ('second_insurer', $1, $2, $3, $4, $5, $6, 'department', $7, $8) \
         on conflict do nothing returning request_id",
        enrolment_id,
        row.school_org_id,
        info.region_path,
        company.company_id,
        company.name,
        reason,
        actor.account_id,
        actor.on_behalf_of_org_id.is_some(),
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(id) = inserted else {
        return Ok(Err(Problem::RequestOpen));
    };
    xiaobao_audit::record(
        conn,
        actor,
        Entry::new(
            "enrolment.second_insurer_requested",
            "enrolment_request",
            Some(id),
        )
        .detail("enrolment_id", enrolment_id)
        .detail("company", &company.name)
        .detail("reason", &reason),
    )
    .await?;
    Ok(get(conn, &escope, id).await?.ok_or(Problem::NotFound))
}

/// One request in scope.
pub async fn get(
    conn: &mut PgConnection,
    scope: &EnrolmentScope,
    request_id: i64,
) -> Result<Option<RequestRow>, EnrolmentError> {
    Ok(
        scoped_requests!(scope.args(), "and q.request_id = $5", request_id)
            .fetch_optional(conn)
            .await?,
    )
}

/// Requests in scope, newest first. `reviewer` narrows to what a department (or insurer)
/// reviews; `status` to one status.
pub async fn list(
    conn: &mut PgConnection,
    scope: &EnrolmentScope,
    reviewer: Option<ModificationReviewer>,
    status: Option<RequestStatus>,
    limit: i64,
) -> Result<Vec<RequestRow>, EnrolmentError> {
    Ok(scoped_requests!(
        scope.args(),
        "and ($5::text is null or q.reviewer = $5) \
         and ($6::text is null or q.status = $6) order by q.requested_at desc limit $7",
        reviewer.map(ModificationReviewer::code),
        status.map(RequestStatus::as_str),
        limit,
    )
    .fetch_all(conn)
    .await?)
}

/// The decision on a request.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Decision {
    pub approve: bool,
    /// Required when refusing.
    #[serde(default)]
    pub reason: String,
}

/// A department (or, for modifications where the rules say so, the insurer) decides a request
/// in its scope. Approving a modification applies it, computes the premium change and leaves a
/// pending endorsement due within the rules' working days; approving a second insurer creates
/// the second enrolment as a draft with that insurer.
#[allow(clippy::too_many_arguments)]
pub async fn decide(
    conn: &mut PgConnection,
    scope: &EnrolmentScope,
    request_id: i64,
    decision: &Decision,
    rules: &ProgrammeRules,
    calendar: &WorkCalendar,
    now: DateTime<Utc>,
    actor: &Actor,
) -> Outcome<RequestRow> {
    let Some(req) = scoped_requests!(
        scope.args(),
        "and q.request_id = $5 for update of q, e",
        request_id,
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(Err(Problem::NotFound));
    };
    let by_insurer = scope.is_insurer();
    match (req.reviewer.as_str(), by_insurer) {
        ("department", true) => {
            return Ok(Err(Problem::NotReviewer(
                ModificationReviewer::Department.label(),
            )));
        }
        ("insurer", false) => {
            return Ok(Err(Problem::NotReviewer(
                ModificationReviewer::Insurer.label(),
            )));
        }
        _ => {}
    }
    if req.status.is_decided() {
        return Ok(Err(Problem::AlreadyDecided));
    }
    let decision_reason = reason_ok(&decision.reason);
    if !decision.approve {
        let Some(reason) = decision_reason else {
            return Ok(Err(Problem::RefusalReasonMissing));
        };
        sqlx::query!(
            "update enrolment_requests set status = 'refused', decided_by = $2, \
             decided_at = now(), decision_reason = $3 where request_id = $1",
            request_id,
            actor.account_id,
            reason,
        )
        .execute(&mut *conn)
        .await?;
        if let Some(roster_id) = req.new_roster_id {
            sqlx::query!(
                "update rosters set status = 'discarded' where roster_id = $1",
                roster_id
            )
            .execute(&mut *conn)
            .await?;
        }
        xiaobao_audit::record(
            conn,
            actor,
            Entry::new(
                "enrolment.request_refused",
                "enrolment_request",
                Some(request_id),
            )
            .detail("reason", &reason),
        )
        .await?;
        return Ok(get(conn, scope, request_id).await?.ok_or(Problem::NotFound));
    }
    if req.kind == "second_insurer" {
        let created: i64 = sqlx::query_scalar!(
            "insert into enrolments (academic_year, school_org_id, product_code, seq, \
             region_path, company_id, company_name) \
             select academic_year, school_org_id, product_code, 2, region_path, $2, $3 \
             from enrolments where enrolment_id = $1 returning enrolment_id",
            req.enrolment_id,
            req.new_company_id,
            req.new_company_name,
        )
        .fetch_one(&mut *conn)
        .await?;
        sqlx::query!(
            "update enrolment_requests set status = 'approved', decided_by = $2, \
             decided_at = now(), decision_reason = $3, created_enrolment_id = $4 \
             where request_id = $1",
            request_id,
            actor.account_id,
            decision_reason,
            created,
        )
        .execute(&mut *conn)
        .await?;
        xiaobao_audit::record(
            conn,
            actor,
            Entry::new(
                "enrolment.second_insurer_approved",
                "enrolment_request",
                Some(request_id),
            )
            .detail("created_enrolment_id", created)
            .detail("company", &req.new_company_name),
        )
        .await?;
        return Ok(get(conn, scope, request_id).await?.ok_or(Problem::NotFound));
    }
    // A modification.
    let school_scope = SchoolScope::Own {
        org_id: req.school_org_id,
    };
    let Some(info) = school::school(conn, &school_scope, req.school_org_id).await? else {
        return Ok(Err(Problem::NotFound));
    };
    let Some(row) = school::enrolment(
        conn,
        &EnrolmentScope {
            schools: school_scope,
            company_id: None,
        },
        req.enrolment_id,
    )
    .await?
    else {
        return Ok(Err(Problem::NotFound));
    };
    let new_headcount = req.new_headcount.unwrap_or(row.headcount);
    let change = if req.new_headcount.is_some() {
        match premium_change(
            &info,
            &row,
            u32::try_from(new_headcount).unwrap_or(0),
            rules,
        ) {
            Ok(f) => f,
            Err(p) => return Ok(Err(p)),
        }
    } else {
        Fen::ZERO
    };
    let new_company_id = req.new_company_id.or(row.company_id);
    let new_company_name = req.new_company_name.clone().or(row.company_name.clone());
    let new_roster_id = req.new_roster_id.or(row.roster_id);
    if let Some(roster_id) = req.new_roster_id {
        sqlx::query!(
            "update rosters set status = 'accepted' where roster_id = $1",
            roster_id
        )
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query!(
        "update enrolments set headcount = $2, company_id = $3, company_name = $4, \
         roster_id = $5, premium_fen = greatest(0, premium_fen + $6), updated_at = now() \
         where enrolment_id = $1",
        req.enrolment_id,
        new_headcount,
        new_company_id,
        new_company_name,
        new_roster_id,
        change.0,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "update enrolment_requests set status = 'approved', decided_by = $2, decided_at = now(), \
         decision_reason = $3, premium_change_fen = $4 where request_id = $1",
        request_id,
        actor.account_id,
        decision_reason,
        change.0,
    )
    .execute(&mut *conn)
    .await?;
    let due = rules.endorsement_due(now, calendar);
    let endorsement_id: i64 = sqlx::query_scalar!(
        "insert into endorsements (enrolment_id, request_id, company_id, company_name, \
         region_path, old_headcount, new_headcount, old_company_id, new_company_id, \
         old_roster_id, new_roster_id, premium_change_fen, due_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) returning endorsement_id",
        req.enrolment_id,
        request_id,
        new_company_id,
        new_company_name,
        info.region_path,
        row.headcount,
        new_headcount,
        row.company_id,
        new_company_id,
        row.roster_id,
        new_roster_id,
        change.0,
        due.at,
    )
    .fetch_one(&mut *conn)
    .await?;
    xiaobao_audit::record(
        conn,
        actor,
        Entry::new(
            "enrolment.modification_approved",
            "enrolment_request",
            Some(request_id),
        )
        .detail("enrolment_id", req.enrolment_id)
        .detail("endorsement_id", endorsement_id)
        .change("headcount", row.headcount, new_headcount)
        .change("company", &row.company_name, &new_company_name)
        .change("roster_id", row.roster_id, new_roster_id)
        .detail("premium_change_fen", change.0),
    )
    .await?;
    Ok(get(conn, scope, request_id).await?.ok_or(Problem::NotFound))
}
