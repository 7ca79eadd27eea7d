//! 投保数据, the school's side of enrolment: per product the headcount, the insurer, the roster
//! (花名册) and the submission; after submitting, requests for a modification or a second
//! insurer. A central school or a broker does the same for the schools of its scope, recorded
//! as done on the school's behalf; departments may look.
//!
//! Pages: `/t/{slug}/enrolment` (a school's own page, or the list of the schools in scope),
//! `/t/{slug}/enrolment/schools/{org_id}`, the forms under it, roster uploads and their result
//! pages (`/t/{slug}/enrolment/rosters/{id}`, problems as XLSX) and the blank templates.
//!
//! API: the same under `/api/v1/t/{slug}/enrolment/…`. A refusal answers with the problem's
//! stable `code` and `field`: 404 outside the scope (audited), 409 against the current state,
//! 422 otherwise. Never logs personal data: ID numbers stay in the roster rows, sealed.

pub(crate) mod admin;
pub(crate) mod conflicts;
pub(crate) mod underwriting;

use askama::Template;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{FormRejection, JsonRejection, QueryRejection};
use axum::extract::{Form, Path, Query, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post, put};
use chrono::NaiveDate;
use futures::TryStreamExt;
use serde::Deserialize;
use utoipa::ToSchema;
use xiaobao_audit::Actor;
use xiaobao_authz::Permission;
use xiaobao_domain::{Fen, InsuredGroup, ProgrammeRules, Role};
use xiaobao_enrolment::ingest::{self, RosterRecord, RosterResult};
use xiaobao_enrolment::requests::{self, ModificationInput, RequestRow};
use xiaobao_enrolment::school::{self, DraftInput, EnrolmentRow, Overview};
use xiaobao_enrolment::{EnrolmentError, EnrolmentScope, Problem, years};
use xiaobao_identity::orgs::{self, SchoolFilter};
use xiaobao_identity::school_admin;
use xiaobao_roster::{RosterError, RowProblem};
use xiaobao_storage::{DocumentKind, DocumentMeta, MediaType, StorageError};

use crate::AppState;
use crate::web::auth::{Current, Routes, audit_out_of_scope};
use crate::web::csrf::CsrfToken;
use crate::web::error::{ApiError, ErrorBody, ErrorDetail};
use crate::web::error::{PageError, internal};
use crate::web::layout::Layout;
use crate::web::nav::Section;
use crate::web::session::WebSession;
use crate::web::tenant::{ApiTenant, PageTenant};

/// Largest roster file accepted (as `DocumentKind::Roster`).
const MAX_ROSTER_BYTES: usize = 20 * 1024 * 1024;
/// Schools listed for a central school or a broker.
const LIST_LIMIT: i64 = 500;

pub fn routes() -> Routes {
    use Permission as P;
    let (read, edit) = (P::ENROLMENT_READ, P::ENROLMENT_EDIT);
    Routes::new()
        .guarded(Method::GET, "/t/{slug}/enrolment", read, get(show_home))
        .guarded(
            Method::GET,
            "/t/{slug}/enrolment/schools/{org_id}",
            read,
            get(show_school),
        )
        .guarded(
            Method::POST,
            "/t/{slug}/enrolment/schools/{org_id}/products/{code}",
            edit,
            post(page_save_draft),
        )
        .guarded(
            Method::GET,
            "/t/{slug}/enrolment/templates/{group}",
            read,
            get(template_download),
        )
        .guarded(
            Method::POST,
            "/t/{slug}/enrolment/{enrolment_id}/roster",
            edit,
            post(page_upload_roster),
        )
        .guarded(
            Method::GET,
            "/t/{slug}/enrolment/rosters/{roster_id}",
            read,
            get(show_roster),
        )
        .guarded(
            Method::GET,
            "/t/{slug}/enrolment/rosters/{roster_id}/problems.xlsx",
            read,
            get(roster_problems_xlsx),
        )
        .guarded(
            Method::POST,
            "/t/{slug}/enrolment/{enrolment_id}/submit",
            edit,
            post(page_submit),
        )
        .guarded(
            Method::POST,
            "/t/{slug}/enrolment/{enrolment_id}/modification",
            edit,
            post(page_modification),
        )
        .guarded(
            Method::POST,
            "/t/{slug}/enrolment/{enrolment_id}/second-insurer",
            edit,
            post(page_second_insurer),
        )
        .guarded(
            Method::GET,
            "/api/v1/t/{slug}/enrolment/schools/{org_id}",
            read,
            get(api_overview),
        )
        .guarded(
            Method::PUT,
            "/api/v1/t/{slug}/enrolment/schools/{org_id}/products/{code}",
            edit,
            put(api_save_draft),
        )
        .guarded(
            Method::POST,
            "/api/v1/t/{slug}/enrolment/{enrolment_id}/roster",
            edit,
            post(api_upload_roster),
        )
        .guarded(
            Method::GET,
            "/api/v1/t/{slug}/enrolment/rosters/{roster_id}",
            read,
            get(api_roster),
        )
        .guarded(
            Method::POST,
            "/api/v1/t/{slug}/enrolment/{enrolment_id}/submit",
            edit,
            post(api_submit),
        )
        .guarded(
            Method::POST,
            "/api/v1/t/{slug}/enrolment/{enrolment_id}/modification",
            edit,
            post(api_modification),
        )
        .guarded(
            Method::POST,
            "/api/v1/t/{slug}/enrolment/{enrolment_id}/second-insurer",
            edit,
            post(api_second_insurer),
        )
        .guarded(
            Method::GET,
            "/api/v1/t/{slug}/enrolment/templates/{group}",
            read,
            get(template_download),
        )
}

// ---------------------------------------------------------------------------------------------
// Shared.

fn enr(e: EnrolmentError) -> PageError {
    internal(e)
}

/// Why an action was not done: a problem of the enrolment service, or a bad input.
#[derive(Debug)]
enum Refusal {
    Problem(Problem),
    Invalid {
        field: &'static str,
        message: String,
    },
    /// Refused by a limit: 413 (the file is too large or too complex) or 429 (too many
    /// uploads).
    Limited {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
}

impl Refusal {
    fn message(&self) -> String {
        match self {
            Self::Problem(p) => p.to_string(),
            Self::Invalid { message, .. } | Self::Limited { message, .. } => message.clone(),
        }
    }

    fn is_not_found(&self) -> bool {
        matches!(self, Self::Problem(p) if p.is_not_found())
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::Problem(p) => crate::enrolment::admin::problem_status(p),
            Self::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Limited { status, .. } => *status,
        }
    }

    fn body(&self) -> ErrorBody {
        match self {
            Self::Problem(p) => crate::enrolment::admin::problem_body(p),
            Self::Invalid { field, message } => ErrorBody {
                error: ErrorDetail {
                    code: "invalid_input",
                    message: message.clone(),
                    field: Some((*field).to_string()),
                },
            },
            Self::Limited { code, message, .. } => ErrorBody {
                error: ErrorDetail {
                    code,
                    message: message.clone(),
                    field: Some("file".to_string()),
                },
            },
        }
    }
}

/// A file refused for its size or structure (413).
fn too_large(message: impl Into<String>) -> Refusal {
    Refusal::Limited {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        code: "payload_too_large",
        message: message.into(),
    }
}

impl From<Problem> for Refusal {
    fn from(p: Problem) -> Self {
        Self::Problem(p)
    }
}

fn invalid(field: &'static str, message: impl Into<String>) -> Refusal {
    Refusal::Invalid {
        field,
        message: message.into(),
    }
}

type Done<T> = Result<Result<T, Refusal>, PageError>;

/// The API answer of a refusal; a miss outside the scope is audited.
async fn refusal_response(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
    entity: &str,
    id: &str,
    r: Refusal,
) -> Response {
    if r.is_not_found() {
        audit_out_of_scope(state, tenant, current, entity, id).await;
    }
    (r.status(), Json(r.body())).into_response()
}

fn page_api(e: PageError) -> Response {
    crate::web::error::page_to_api(e).into_response()
}

/// The actor for an action on school `org_id`: on its behalf unless the viewer is the school.
fn actor_for(current: &Current, org_id: i64) -> Actor {
    if current.viewer().org_id == org_id {
        current.actor()
    } else {
        school_admin::acting_for(&current.actor(), org_id)
    }
}

/// Whether the viewer is a school working on its own enrolment only (not a central school).
fn is_plain_school(current: &Current) -> bool {
    let v = current.viewer();
    v.has(Role::School) && !v.has(Role::CentralSchool)
}

/// The page of school `org_id` for the viewer.
fn school_href(page: &PageTenant, current: &Current, org_id: i64) -> String {
    if is_plain_school(current) && current.viewer().org_id == org_id {
        page.href("enrolment")
    } else {
        page.href(&format!("enrolment/schools/{org_id}"))
    }
}

fn parse_id(id: &str) -> Result<i64, Refusal> {
    id.parse::<i64>()
        .map_err(|_| Refusal::Problem(Problem::NotFound))
}

/// The current year and its rules; `None` when no year is open.
async fn current_year(
    conn: &mut sqlx::PgConnection,
    today: NaiveDate,
) -> Result<Option<(String, ProgrammeRules)>, PageError> {
    let Some(year) = years::current(conn, today).await.map_err(enr)? else {
        return Ok(None);
    };
    Ok(xiaobao_enrolment::rules_for(conn, &year)
        .await
        .map_err(enr)?
        .map(|(_, rules)| (year, rules)))
}

/// The rules of `year`, or the problem that the year has none.
async fn rules_of(
    conn: &mut sqlx::PgConnection,
    year: &str,
) -> Result<Result<ProgrammeRules, Refusal>, PageError> {
    Ok(xiaobao_enrolment::rules_for(conn, year)
        .await
        .map_err(enr)?
        .map(|(_, r)| r)
        .ok_or_else(|| Refusal::Problem(Problem::NoRules(year.to_string()))))
}

fn xlsx(bytes: Vec<u8>, name: &str) -> Response {
    crate::enrolment::admin::download(bytes, crate::enrolment::admin::XLSX, name)
}

fn group_of(s: &str) -> Option<InsuredGroup> {
    match s.trim_end_matches(".xlsx") {
        "student" => Some(InsuredGroup::Student),
        "staff" => Some(InsuredGroup::Staff),
        "intern" => Some(InsuredGroup::Intern),
        _ => None,
    }
}

fn group_code(g: InsuredGroup) -> &'static str {
    match g {
        InsuredGroup::Student => "student",
        InsuredGroup::Staff => "staff",
        InsuredGroup::Intern => "intern",
    }
}

/// The blank roster template of an insured group (XLSX).
#[utoipa::path(get, path = "/api/v1/t/{slug}/enrolment/templates/{group}", tag = "enrolment",
    params(("slug" = String, Path, description = "租户标识"),
        ("group" = String, Path, description = "student、staff 或 intern（可带 .xlsx）")),
    responses((status = 200, description = "花名册模板（XLSX）",
            content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        (status = 403, body = crate::web::error::ErrorBody), (status = 404, description = "模板不存在")))]
pub(crate) async fn template_download(
    _current: Current,
    Path((_slug, group)): Path<(String, String)>,
) -> Response {
    match group_of(&group) {
        Some(g) => xlsx(
            xiaobao_roster::roster_template(g),
            &xiaobao_roster::template_file_name(g),
        ),
        None => (StatusCode::NOT_FOUND, "模板不存在").into_response(),
    }
}

/// An optional number from a form field ("" is none).
fn opt_num<T: std::str::FromStr>(
    v: &Option<String>,
    field: &'static str,
    message: &str,
) -> Result<Option<T>, Refusal> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => s.parse().map(Some).map_err(|_| invalid(field, message)),
    }
}

// ---------------------------------------------------------------------------------------------
// Core actions (shared by the pages and the API).

async fn load_overview(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
    org_id: i64,
) -> Done<Overview> {
    let mut tx = state.db.tenant_tx(tenant).await?;
    let Some((year, rules)) = current_year(&mut tx, state.clock.today()).await? else {
        tx.commit().await?;
        return Ok(Err(Refusal::Problem(Problem::YearNotOpen(
            xiaobao_domain::AcademicYear::containing_date(state.clock.today()).to_string(),
        ))));
    };
    let scope = current.viewer().school_scope();
    let outcome = school::overview(&mut tx, &scope, org_id, &year, &rules, state.clock.today())
        .await
        .map_err(enr)?;
    tx.commit().await?;
    Ok(outcome.map_err(Refusal::from))
}

/// The school's own requests (newest first).
async fn load_requests(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
    org_id: i64,
) -> Result<Vec<RequestRow>, PageError> {
    let scope = current.viewer().school_scope();
    let mut tx = state.db.tenant_tx(tenant).await?;
    let Some(_) = school::school(&mut tx, &scope, org_id).await.map_err(enr)? else {
        return Ok(Vec::new());
    };
    let own = EnrolmentScope {
        schools: xiaobao_identity::SchoolScope::Own { org_id },
        company_id: None,
    };
    let rows = requests::list(&mut tx, &own, None, None, 50)
        .await
        .map_err(enr)?;
    tx.commit().await?;
    Ok(rows)
}

/// What a school enters for a product (form or JSON).
#[derive(Debug, Default, Deserialize)]
struct DraftForm {
    #[serde(default)]
    headcount: Option<String>,
    #[serde(default)]
    company_id: Option<String>,
    #[serde(default)]
    cover_start: Option<String>,
    #[serde(default)]
    seq: Option<String>,
}

/// The JSON body of a draft: [`DraftInput`] and the enrolment's `seq` (1 unless a second
/// insurer's).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(as = EnrolmentDraft)]
pub(crate) struct DraftJson {
    /// Headcount insured.
    #[serde(default)]
    headcount: Option<u32>,
    /// The insurer (company id).
    #[serde(default)]
    company_id: Option<i64>,
    /// Cover start (`YYYY-MM-DD`).
    #[serde(default)]
    cover_start: Option<NaiveDate>,
    /// 1, or 2 for the enrolment with a second insurer (default 1).
    #[serde(default)]
    seq: Option<i16>,
}

impl DraftForm {
    fn input(&self) -> Result<(DraftInput, i16), Refusal> {
        let headcount = opt_num(&self.headcount, "headcount", "投保人数应为整数")?;
        let company_id = opt_num(&self.company_id, "company_id", "请选择保险机构")?;
        let cover_start = match self.cover_start.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(s) => Some(
                NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .map_err(|_| invalid("cover_start", "日期格式应为 YYYY-MM-DD"))?,
            ),
        };
        let seq = opt_num(&self.seq, "seq", "险种序号无效")?.unwrap_or(1);
        Ok((
            DraftInput {
                headcount,
                company_id,
                cover_start,
            },
            seq,
        ))
    }
}

async fn save_draft(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
    org_id: i64,
    code: &str,
    seq: i16,
    input: &DraftInput,
) -> Done<EnrolmentRow> {
    let mut tx = state.db.tenant_tx(tenant).await?;
    let Some((year, rules)) = current_year(&mut tx, state.clock.today()).await? else {
        return Ok(Err(Refusal::Problem(Problem::YearNotOpen(
            xiaobao_domain::AcademicYear::containing_date(state.clock.today()).to_string(),
        ))));
    };
    let scope = current.viewer().school_scope();
    let actor = actor_for(current, org_id);
    let outcome = school::save_draft(
        &mut tx,
        &scope,
        org_id,
        &year,
        code,
        seq,
        input,
        &rules,
        &actor,
        state.clock.today(),
    )
    .await
    .map_err(enr)?;
    if outcome.is_ok() {
        tx.commit().await?;
    }
    Ok(outcome.map_err(Refusal::from))
}

/// The enrolment `id` in the viewer's scope and the actor acting on it.
async fn enrolment_and_actor(
    conn: &mut sqlx::PgConnection,
    current: &Current,
    enrolment_id: i64,
) -> Result<Option<(EnrolmentRow, Actor)>, PageError> {
    let scope = EnrolmentScope::of(current.viewer());
    let row = school::enrolment(conn, &scope, enrolment_id)
        .await
        .map_err(enr)?;
    Ok(row.map(|r| {
        let actor = actor_for(current, r.school_org_id);
        (r, actor)
    }))
}

async fn submit(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
    enrolment_id: i64,
) -> Done<EnrolmentRow> {
    let mut tx = state.db.tenant_tx(tenant).await?;
    let Some((row, actor)) = enrolment_and_actor(&mut tx, current, enrolment_id).await? else {
        return Ok(Err(Problem::NotFound.into()));
    };
    let rules = match rules_of(&mut tx, &row.academic_year).await? {
        Ok(r) => r,
        Err(r) => return Ok(Err(r)),
    };
    let scope = current.viewer().school_scope();
    let outcome = school::submit(
        &mut tx,
        &scope,
        enrolment_id,
        &rules,
        &actor,
        state.clock.today(),
    )
    .await
    .map_err(enr)?;
    if outcome.is_ok() {
        tx.commit().await?;
    }
    Ok(outcome.map_err(Refusal::from))
}

async fn modification(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
    enrolment_id: i64,
    input: &ModificationInput,
) -> Done<RequestRow> {
    let mut tx = state.db.tenant_tx(tenant).await?;
    let Some((row, actor)) = enrolment_and_actor(&mut tx, current, enrolment_id).await? else {
        return Ok(Err(Problem::NotFound.into()));
    };
    let rules = match rules_of(&mut tx, &row.academic_year).await? {
        Ok(r) => r,
        Err(r) => return Ok(Err(r)),
    };
    let scope = current.viewer().school_scope();
    let outcome =
        requests::request_modification(&mut tx, &scope, enrolment_id, input, &rules, &actor)
            .await
            .map_err(enr)?;
    if outcome.is_ok() {
        tx.commit().await?;
    }
    Ok(outcome.map_err(Refusal::from))
}

async fn second_insurer(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
    enrolment_id: i64,
    company_id: i64,
    reason: &str,
) -> Done<RequestRow> {
    let mut tx = state.db.tenant_tx(tenant).await?;
    let Some((_, actor)) = enrolment_and_actor(&mut tx, current, enrolment_id).await? else {
        return Ok(Err(Problem::NotFound.into()));
    };
    let scope = current.viewer().school_scope();
    let outcome =
        requests::request_second_insurer(&mut tx, &scope, enrolment_id, company_id, reason, &actor)
            .await
            .map_err(enr)?;
    if outcome.is_ok() {
        tx.commit().await?;
    }
    Ok(outcome.map_err(Refusal::from))
}

/// A roster upload's fields.
#[derive(Debug, Default)]
struct Upload {
    headcount: Option<String>,
    file: Option<(String, Vec<u8>)>,
}

/// Roster uploads one enrolment takes per hour.
const UPLOADS_PER_ENROLMENT_PER_HOUR: u32 = 20;
/// Roster uploads one account makes per hour (a central school or broker works for many).
const UPLOADS_PER_ACCOUNT_PER_HOUR: u32 = 120;

/// Counts one upload of the account to the enrolment; a refusal (429) when either is over
/// its hourly limit. Checked before the body is read.
async fn upload_limited(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
    enrolment_id: i64,
) -> Result<Option<Refusal>, PageError> {
    let hour = |max| xiaobao_identity::Limit {
        max,
        window_secs: 3600,
    };
    let keys = [
        (
            format!("roster:enrolment:{}:{enrolment_id}", tenant.slug),
            hour(UPLOADS_PER_ENROLMENT_PER_HOUR),
        ),
        (
            format!(
                "roster:account:{}:{}",
                tenant.slug,
                current.viewer().account_id
            ),
            hour(UPLOADS_PER_ACCOUNT_PER_HOUR),
        ),
    ];
    for (key, limit) in keys {
        match state.auth.limiter.hit(&key, limit).await {
            Ok(xiaobao_identity::Verdict::Allowed) => {}
            Ok(xiaobao_identity::Verdict::Refused { retry_after_secs }) => {
                return Ok(Some(Refusal::Limited {
                    status: StatusCode::TOO_MANY_REQUESTS,
                    code: "rate_limited",
                    message: crate::identity::anon::retry_message("上传花名册", retry_after_secs),
                }));
            }
            Err(error) => {
                tracing::error!(%error, "rate limiter");
                return Err(PageError::Unavailable);
            }
        }
    }
    Ok(None)
}

/// Reads the multipart fields `headcount` and `file` (at most [`MAX_ROSTER_BYTES`]).
async fn read_upload(request: Request) -> Result<Upload, Refusal> {
    let boundary = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| multer::parse_boundary(ct).ok())
        .ok_or_else(|| invalid("file", "请以表单上传文件（multipart/form-data）"))?;
    let broken = || invalid("file", "上传内容不完整，请重新上传");
    let stream = request.into_body().into_data_stream();
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut upload = Upload::default();
    while let Some(mut field) = multipart.next_field().await.map_err(|_| broken())? {
        match field.name() {
            Some("headcount") => {
                upload.headcount = Some(field.text().await.map_err(|_| broken())?);
            }
            Some("file") => {
                let name = field.file_name().unwrap_or("").to_string();
                let mut bytes = Vec::new();
                while let Some(chunk) = field.try_next().await.map_err(|_| broken())? {
                    if bytes.len() + chunk.len() > MAX_ROSTER_BYTES {
                        return Err(too_large("文件过大，花名册最大 20 MB"));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                if !bytes.is_empty() || !name.is_empty() {
                    upload.file = Some((name, bytes));
                }
            }
            _ => {}
        }
    }
    Ok(upload)
}

/// Upload failures the uploader can fix.
fn user_caused(e: &StorageError) -> bool {
    matches!(
        e,
        StorageError::TooLarge { .. }
            | StorageError::Empty
            | StorageError::TypeNotAllowed { .. }
            | StorageError::LegacyFormat { .. }
            | StorageError::ContentMismatch { .. }
            | StorageError::BodyRead(_)
    )
}

/// Stores, parses, seals and records an uploaded roster for `enrolment_id`.
async fn upload_roster(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
    enrolment_id: i64,
    upload: Upload,
) -> Done<RosterResult> {
    let today = state.clock.today();
    let scope = EnrolmentScope::of(current.viewer());
    // 1. The target, checked; no transaction is held while the file is worked on.
    let mut tx = state.db.tenant_tx(tenant).await?;
    let Some((row, actor)) = enrolment_and_actor(&mut tx, current, enrolment_id).await? else {
        return Ok(Err(Problem::NotFound.into()));
    };
    let rules = match rules_of(&mut tx, &row.academic_year).await? {
        Ok(r) => r,
        Err(r) => return Ok(Err(r)),
    };
    drop(row);
    let target = match ingest::target(&mut tx, &scope, enrolment_id, &rules, today)
        .await
        .map_err(enr)?
    {
        Ok(t) => t,
        Err(p) => return Ok(Err(p.into())),
    };
    tx.commit().await?;
    let headcount: u32 = match upload.headcount.as_deref().map(str::trim) {
        None | Some("") => return Ok(Err(invalid("headcount", "请填写投保人数"))),
        Some(s) => match s.parse() {
            Ok(n) => n,
            Err(_) => return Ok(Err(invalid("headcount", "投保人数应为整数"))),
        },
    };
    let Some((name, bytes)) = upload.file else {
        return Ok(Err(invalid(
            "file",
            "请选择花名册文件（Excel .xlsx 或 .csv）",
        )));
    };
    if !MediaType::from_file_name(&name)
        .is_some_and(|m| matches!(m, MediaType::Xlsx | MediaType::Csv))
    {
        return Ok(Err(invalid(
            "file",
            "花名册只接受 Excel（.xlsx）或 CSV 文件，请使用下载的模板",
        )));
    }
    // 2. The original file, kept whatever the outcome.
    let bytes = Bytes::from(bytes);
    let body = futures::stream::once({
        let b = bytes.clone();
        async move { Ok::<_, std::convert::Infallible>(b) }
    });
    let stored = match state
        .documents
        .put_stream(tenant.tenant_id, DocumentKind::Roster, &name, body)
        .await
    {
        Ok(s) => s,
        Err(e @ StorageError::TooLarge { .. }) => return Ok(Err(too_large(e.to_string()))),
        Err(e) if user_caused(&e) => return Ok(Err(invalid("file", e.to_string()))),
        Err(e) => return Err(internal(e)),
    };
    // 3. Parse and seal: CPU work, off the async threads.
    let spec = target.spec(today);
    let sealer = state.sealer(tenant);
    let parsed = tokio::task::spawn_blocking(move || {
        xiaobao_roster::parse_roster_for_headcount(&bytes, &spec, headcount)
            .map(|p| ingest::seal(&p, &sealer))
    })
    .await
    .map_err(internal)?;
    // 4. Record the document and the outcome together.
    let mut tx = state.db.tenant_tx(tenant).await?;
    let document = state
        .documents
        .record(
            &mut tx,
            tenant,
            &stored,
            &DocumentMeta {
                kind: DocumentKind::Roster,
                owner_kind: "enrolment".into(),
                owner_id: enrolment_id.to_string(),
                uploaded_by: actor.label.clone(),
            },
        )
        .await
        .map_err(internal)?;
    let result = match parsed {
        Ok(sealed) => {
            ingest::accept(
                &mut tx,
                &target,
                document.document_id,
                &sealed,
                headcount,
                &actor,
            )
            .await
        }
        Err(RosterError::Problems(problems)) => {
            ingest::reject(&mut tx, &target, document.document_id, problems, &actor).await
        }
        Err(RosterError::Unreadable(message)) => {
            let problems = vec![RowProblem {
                line: 0,
                column: None,
                reason: message,
            }];
            ingest::reject(&mut tx, &target, document.document_id, problems, &actor).await
        }
        Err(RosterError::TooLarge(message)) => {
            // Recorded (and audited) like any rejected upload, answered with 413.
            let problems = vec![RowProblem {
                line: 0,
                column: None,
                reason: message.clone(),
            }];
            ingest::reject(&mut tx, &target, document.document_id, problems, &actor)
                .await
                .map_err(enr)?;
            tx.commit().await?;
            return Ok(Err(too_large(message)));
        }
    }
    .map_err(enr)?;
    tx.commit().await?;
    Ok(Ok(result))
}

async fn load_roster(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
    id: &str,
) -> Result<Option<(RosterRecord, EnrolmentRow)>, PageError> {
    let Ok(roster_id) = id.parse::<i64>() else {
        audit_out_of_scope(state, tenant, current, "roster", id).await;
        return Ok(None);
    };
    let scope = EnrolmentScope::of(current.viewer());
    let mut tx = state.db.tenant_tx(tenant).await?;
    let record = ingest::roster(&mut tx, &scope, roster_id)
        .await
        .map_err(enr)?;
    let found = match record {
        Some(r) => school::enrolment(&mut tx, &scope, r.enrolment_id)
            .await
            .map_err(enr)?
            .map(|e| (r, e)),
        None => None,
    };
    tx.commit().await?;
    if found.is_none() {
        audit_out_of_scope(state, tenant, current, "roster", id).await;
    }
    Ok(found)
}

// ---------------------------------------------------------------------------------------------
// Pages.

struct Choice {
    value: String,
    label: String,
    selected: bool,
}

struct EnrolmentCard {
    enrolment_id: i64,
    seq: i16,
    status_label: &'static str,
    is_draft: bool,
    is_submitted: bool,
    has_pending: bool,
    headcount: i32,
    company_name: String,
    roster_rows: String,
    premium: String,
    cover_start: String,
    roster_action: String,
    submit_action: String,
    modification_action: String,
    second_action: String,
    save_action: String,
    insurers: Vec<Choice>,
}

struct ProductCard {
    code: String,
    name: String,
    insured_label: &'static str,
    eligible: bool,
    rate: String,
    status_label: &'static str,
    template_href: String,
    save_action: String,
    insurers: Vec<Choice>,
    enrolments: Vec<EnrolmentCard>,
    error: Option<String>,
}

struct RequestLine {
    kind: &'static str,
    product_code: String,
    detail: String,
    reason: String,
    status: &'static str,
    requested_at: String,
    decision_reason: String,
}

#[derive(Template)]
#[template(path = "enrolment.html")]
struct SchoolPage {
    layout: Layout,
    csrf: CsrfToken,
    school_name: String,
    region_name: String,
    year: String,
    deadline: String,
    reopened_until: String,
    open: bool,
    cover: String,
    products: Vec<ProductCard>,
    requests: Vec<RequestLine>,
    done: Option<&'static str>,
    error: Option<String>,
    back_href: Option<String>,
}

#[derive(Template)]
#[template(path = "enrolment_schools.html")]
struct ListPage {
    layout: Layout,
    message: Option<String>,
    rows: Vec<(String, String, String)>,
}

fn yuan(fen: Option<i64>) -> String {
    fen.map(|f| Fen(f).yuan_string()).unwrap_or_default()
}

fn choices(o: &Overview, chosen: Option<i64>) -> Vec<Choice> {
    o.insurers
        .iter()
        .map(|c| Choice {
            value: c.company_id.to_string(),
            label: c.name.clone(),
            selected: chosen == Some(c.company_id),
        })
        .collect()
}

fn request_line(r: &RequestRow) -> RequestLine {
    let mut detail = Vec::new();
    if let Some(h) = r.new_headcount {
        detail.push(format!("人数 {} → {h}", r.headcount));
    }
    if let Some(c) = &r.new_company_name {
        detail.push(format!("保险机构 → {c}"));
    }
    if r.new_roster_id.is_some() {
        detail.push("新花名册".to_string());
    }
    RequestLine {
        kind: r.kind_label(),
        product_code: r.product_code.clone(),
        detail: detail.join("；"),
        reason: r.reason.clone(),
        status: r.status_label(),
        requested_at: crate::web::time::cst(r.requested_at),
        decision_reason: r.decision_reason.clone().unwrap_or_default(),
    }
}

/// Where a refusal is shown: the product code or the enrolment id it concerns.
#[derive(Debug, Default)]
struct Flash {
    product: Option<String>,
    enrolment_id: Option<i64>,
    message: Option<String>,
    done: Option<&'static str>,
}

#[allow(clippy::too_many_arguments)]
async fn render_school(
    state: &AppState,
    page: &PageTenant,
    session: &mut WebSession,
    current: &Current,
    org_id: i64,
    flash: Flash,
    status: StatusCode,
) -> Result<Response, PageError> {
    let overview = match load_overview(state, &page.tenant, current, org_id).await? {
        Ok(o) => o,
        Err(r) if r.is_not_found() => {
            audit_out_of_scope(
                state,
                &page.tenant,
                current,
                "organisation",
                &org_id.to_string(),
            )
            .await;
            return Err(PageError::NotFound);
        }
        Err(r) => {
            let view = ListPage {
                layout: Layout::tenant(page, session, Section::Enrolment, Some("投保数据")).await?,
                message: Some(r.message()),
                rows: Vec::new(),
            };
            return Ok((status, Html(view.render()?)).into_response());
        }
    };
    let requests = load_requests(state, &page.tenant, current, org_id).await?;
    let mut placed = false;
    let products = overview
        .products
        .iter()
        .map(|p| {
            let first = p.enrolments.first();
            let enrolments: Vec<EnrolmentCard> = p
                .enrolments
                .iter()
                .map(|e| {
                    let id = e.enrolment_id;
                    EnrolmentCard {
                        enrolment_id: id,
                        seq: e.seq,
                        status_label: e.display_status().label(),
                        is_draft: e.status == "draft",
                        is_submitted: e.status != "draft",
                        has_pending: e.pending_request_id.is_some(),
                        headcount: e.headcount,
                        company_name: e.company_name.clone().unwrap_or_else(|| "未选择".into()),
                        roster_rows: e
                            .roster_rows
                            .map_or_else(|| "未上传".to_string(), |n| format!("{n} 行")),
                        premium: e.premium_yuan(),
                        cover_start: e.cover_start.map(|d| d.to_string()).unwrap_or_default(),
                        roster_action: page.href(&format!("enrolment/{id}/roster")),
                        submit_action: page.href(&format!("enrolment/{id}/submit")),
                        modification_action: page.href(&format!("enrolment/{id}/modification")),
                        second_action: page.href(&format!("enrolment/{id}/second-insurer")),
                        save_action: page
                            .href(&format!("enrolment/schools/{org_id}/products/{}", p.code)),
                        insurers: choices(&overview, e.company_id),
                    }
                })
                .collect();
            let here = flash.product.as_deref() == Some(p.code.as_str())
                || flash
                    .enrolment_id
                    .is_some_and(|id| p.enrolments.iter().any(|e| e.enrolment_id == id));
            let error = if here && !placed {
                placed = true;
                flash.message.clone()
            } else {
                None
            };
            ProductCard {
                code: p.code.clone(),
                name: p.name.clone(),
                insured_label: p.insured_label,
                eligible: p.eligible,
                rate: yuan(p.rate_fen),
                status_label: p.status.label(),
                template_href: page.href(&format!("enrolment/templates/{}", group_code(p.insured))),
                save_action: page.href(&format!("enrolment/schools/{org_id}/products/{}", p.code)),
                insurers: choices(&overview, first.and_then(|e| e.company_id)),
                enrolments,
                error,
            }
        })
        .collect();
    let back_href = (!is_plain_school(current)).then(|| page.href("enrolment"));
    let view = SchoolPage {
        layout: Layout::tenant(page, session, Section::Enrolment, Some("投保数据")).await?,
        csrf: session.csrf_token().await?,
        school_name: overview.school.name.clone(),
        region_name: overview.school.region_name.clone(),
        year: overview.academic_year.clone(),
        deadline: overview.deadline.to_string(),
        reopened_until: overview
            .reopened_until
            .map(|d| d.to_string())
            .unwrap_or_default(),
        open: overview.open,
        cover: format!("{} 至 {}", overview.cover_start, overview.cover_end),
        products,
        requests: requests.iter().map(request_line).collect(),
        done: flash.done,
        error: if placed { None } else { flash.message },
        back_href,
    };
    Ok((status, Html(view.render()?)).into_response())
}

#[derive(Debug, Default, Deserialize)]
struct DoneQuery {
    done: Option<String>,
}

fn done_label(q: Result<Query<DoneQuery>, QueryRejection>) -> Option<&'static str> {
    match q.ok().and_then(|Query(q)| q.done).as_deref() {
        Some("saved") => Some("已保存。"),
        Some("submitted") => Some("已提交投保。"),
        Some("requested") => Some("申请已提交，等待审核。"),
        _ => None,
    }
}

async fn show_home(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    query: Result<Query<DoneQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    if is_plain_school(&current) {
        let org_id = current.viewer().org_id;
        let flash = Flash {
            done: done_label(query),
            ..Flash::default()
        };
        return render_school(
            &state,
            &page,
            &mut session,
            &current,
            org_id,
            flash,
            StatusCode::OK,
        )
        .await;
    }
    let scope = current.viewer().school_scope();
    let mut tx = state.db.tenant_tx(&page.tenant).await?;
    let year = current_year(&mut tx, state.clock.today()).await?;
    let (schools, _) = orgs::list_schools(
        &mut tx,
        &scope,
        &SchoolFilter {
            status: Some("active".into()),
            limit: LIST_LIMIT,
            ..SchoolFilter::default()
        },
    )
    .await
    .map_err(internal)?;
    tx.commit().await?;
    let message = match &year {
        None => Some(
            Problem::YearNotOpen(
                xiaobao_domain::AcademicYear::containing_date(state.clock.today()).to_string(),
            )
            .to_string(),
        ),
        Some(_) if schools.is_empty() => Some("管辖范围内没有学校。".to_string()),
        Some(_) => None,
    };
    let view = ListPage {
        layout: Layout::tenant(&page, &mut session, Section::Enrolment, Some("投保数据")).await?,
        message,
        rows: schools
            .into_iter()
            .map(|s| {
                (
                    s.name,
                    s.region_name,
                    page.href(&format!("enrolment/schools/{}", s.org_id)),
                )
            })
            .collect(),
    };
    Ok(Html(view.render()?).into_response())
}

async fn show_school(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    Path((_, org_id)): Path<(String, String)>,
    query: Result<Query<DoneQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let Ok(org_id) = org_id.parse::<i64>() else {
        audit_out_of_scope(&state, &page.tenant, &current, "organisation", &org_id).await;
        return Err(PageError::NotFound);
    };
    let flash = Flash {
        done: done_label(query),
        ..Flash::default()
    };
    render_school(
        &state,
        &page,
        &mut session,
        &current,
        org_id,
        flash,
        StatusCode::OK,
    )
    .await
}

/// After a form: back to the school's page, or the page again with the refusal.
#[allow(clippy::too_many_arguments)]
async fn after_form<T>(
    state: &AppState,
    page: &PageTenant,
    session: &mut WebSession,
    current: &Current,
    org_id: Option<i64>,
    entity: &str,
    id: &str,
    outcome: Result<T, Refusal>,
    done: &str,
    mut flash: Flash,
) -> Result<Response, PageError> {
    let refusal = match outcome {
        Ok(_) => {
            let Some(org_id) = org_id else {
                return Err(PageError::NotFound);
            };
            let href = school_href(page, current, org_id);
            return Ok(Redirect::to(&format!("{href}?done={done}")).into_response());
        }
        Err(r) => r,
    };
    let Some(org_id) = org_id.filter(|_| !refusal.is_not_found()) else {
        audit_out_of_scope(state, &page.tenant, current, entity, id).await;
        return Err(PageError::NotFound);
    };
    flash.message = Some(refusal.message());
    render_school(
        state,
        page,
        session,
        current,
        org_id,
        flash,
        refusal.status(),
    )
    .await
}

/// The school of enrolment `id` in the viewer's scope.
async fn school_of(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
    id: &str,
) -> Result<Option<i64>, PageError> {
    let Ok(id) = id.parse::<i64>() else {
        return Ok(None);
    };
    let mut tx = state.db.tenant_tx(tenant).await?;
    let row = school::enrolment(&mut tx, &EnrolmentScope::of(current.viewer()), id)
        .await
        .map_err(enr)?;
    tx.commit().await?;
    Ok(row.map(|r| r.school_org_id))
}

async fn page_save_draft(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    Path((_, org_id, code)): Path<(String, String, String)>,
    form: Result<Form<DraftForm>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let org = org_id.parse::<i64>().ok();
    let outcome = match (org, form.input()) {
        (None, _) => Err(Problem::NotFound.into()),
        (_, Err(r)) => Err(r),
        (Some(org), Ok((input, seq))) => {
            save_draft(&state, &page.tenant, &current, org, &code, seq, &input).await?
        }
    };
    let flash = Flash {
        product: Some(code.clone()),
        ..Flash::default()
    };
    after_form(
        &state,
        &page,
        &mut session,
        &current,
        org,
        "organisation",
        &org_id,
        outcome,
        "saved",
        flash,
    )
    .await
}

async fn page_upload_roster(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    Path((_, id)): Path<(String, String)>,
    request: Request,
) -> Result<Response, PageError> {
    let outcome = match parse_id(&id) {
        Err(r) => Err(r),
        Ok(eid) => match upload_limited(&state, &page.tenant, &current, eid).await? {
            Some(r) => Err(r),
            None => match read_upload(request).await {
                Err(r) => Err(r),
                Ok(upload) => upload_roster(&state, &page.tenant, &current, eid, upload).await?,
            },
        },
    };
    let roster_id = match &outcome {
        Ok(RosterResult::Accepted { roster_id, .. } | RosterResult::Rejected { roster_id, .. }) => {
            Some(*roster_id)
        }
        Err(_) => None,
    };
    if let Some(roster_id) = roster_id {
        let href = page.href(&format!("enrolment/rosters/{roster_id}"));
        return Ok(Redirect::to(&href).into_response());
    }
    let org = school_of(&state, &page.tenant, &current, &id).await?;
    let flash = Flash {
        enrolment_id: id.parse().ok(),
        ..Flash::default()
    };
    after_form(
        &state,
        &page,
        &mut session,
        &current,
        org,
        "enrolment",
        &id,
        outcome,
        "saved",
        flash,
    )
    .await
}

async fn page_submit(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let outcome = match parse_id(&id) {
        Err(r) => Err(r),
        Ok(eid) => submit(&state, &page.tenant, &current, eid).await?,
    };
    let org = school_of(&state, &page.tenant, &current, &id).await?;
    let flash = Flash {
        enrolment_id: id.parse().ok(),
        ..Flash::default()
    };
    after_form(
        &state,
        &page,
        &mut session,
        &current,
        org,
        "enrolment",
        &id,
        outcome,
        "submitted",
        flash,
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
struct ModificationForm {
    #[serde(default)]
    new_headcount: Option<String>,
    #[serde(default)]
    new_company_id: Option<String>,
    #[serde(default)]
    new_roster_id: Option<String>,
    #[serde(default)]
    reason: String,
}

impl ModificationForm {
    fn input(&self) -> Result<ModificationInput, Refusal> {
        Ok(ModificationInput {
            new_headcount: opt_num(&self.new_headcount, "new_headcount", "人数应为整数")?,
            new_company_id: opt_num(&self.new_company_id, "new_company_id", "请选择保险机构")?,
            new_roster_id: opt_num(&self.new_roster_id, "new_roster_id", "花名册编号无效")?,
            reason: self.reason.clone(),
        })
    }
}

async fn page_modification(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    Path((_, id)): Path<(String, String)>,
    form: Result<Form<ModificationForm>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let outcome = match (parse_id(&id), form.input()) {
        (Err(r), _) | (_, Err(r)) => Err(r),
        (Ok(eid), Ok(input)) => modification(&state, &page.tenant, &current, eid, &input).await?,
    };
    let org = school_of(&state, &page.tenant, &current, &id).await?;
    let flash = Flash {
        enrolment_id: id.parse().ok(),
        ..Flash::default()
    };
    after_form(
        &state,
        &page,
        &mut session,
        &current,
        org,
        "enrolment",
        &id,
        outcome,
        "requested",
        flash,
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
struct SecondForm {
    #[serde(default)]
    company_id: Option<String>,
    #[serde(default)]
    reason: String,
}

async fn page_second_insurer(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    Path((_, id)): Path<(String, String)>,
    form: Result<Form<SecondForm>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let company: Result<Option<i64>, Refusal> =
        opt_num(&form.company_id, "company_id", "请选择保险机构");
    let outcome = match (parse_id(&id), company) {
        (Err(r), _) | (_, Err(r)) => Err(r),
        (_, Ok(None)) => Err(Problem::NoInsurer.into()),
        (Ok(eid), Ok(Some(c))) => {
            second_insurer(&state, &page.tenant, &current, eid, c, &form.reason).await?
        }
    };
    let org = school_of(&state, &page.tenant, &current, &id).await?;
    let flash = Flash {
        enrolment_id: id.parse().ok(),
        ..Flash::default()
    };
    after_form(
        &state,
        &page,
        &mut session,
        &current,
        org,
        "enrolment",
        &id,
        outcome,
        "requested",
        flash,
    )
    .await
}

#[derive(Template)]
#[template(path = "enrolment_roster.html")]
struct RosterPage {
    layout: Layout,
    csrf: CsrfToken,
    roster_id: i64,
    status: String,
    rows: i32,
    problems: Vec<RowProblem>,
    problems_href: String,
    school_href: String,
    product_code: String,
    school_name: String,
    modification_action: String,
    created_at: String,
}

async fn show_roster(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let (record, e) = load_roster(&state, &page.tenant, &current, &id)
        .await?
        .ok_or(PageError::NotFound)?;
    let view = RosterPage {
        layout: Layout::tenant(
            &page,
            &mut session,
            Section::Enrolment,
            Some("花名册上传结果"),
        )
        .await?,
        csrf: session.csrf_token().await?,
        roster_id: record.roster_id,
        status: record.status.clone(),
        rows: record.row_count,
        problems_href: page.href(&format!(
            "enrolment/rosters/{}/problems.xlsx",
            record.roster_id
        )),
        school_href: school_href(&page, &current, e.school_org_id),
        product_code: e.product_code.clone(),
        school_name: e.school_name.clone(),
        modification_action: page.href(&format!("enrolment/{}/modification", e.enrolment_id)),
        created_at: crate::web::time::cst(record.created_at),
        problems: record.problems,
    };
    Ok(Html(view.render()?).into_response())
}

async fn roster_problems_xlsx(
    State(state): State<AppState>,
    page: PageTenant,
    current: Current,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let (record, _) = load_roster(&state, &page.tenant, &current, &id)
        .await?
        .ok_or(PageError::NotFound)?;
    Ok(xlsx(
        xiaobao_roster::problems_xlsx(&record.problems),
        "花名册问题清单.xlsx",
    ))
}

// ---------------------------------------------------------------------------------------------
// API.

/// A school's enrolment in the current year: per product its enrolments, the insurers to
/// choose from and the deadlines.
#[utoipa::path(get, path = "/api/v1/t/{slug}/enrolment/schools/{org_id}", tag = "enrolment",
    params(("slug" = String, Path, description = "租户标识"),
        ("org_id" = i64, Path, description = "学校机构编号")),
    responses((status = 200, body = Object, description = "学校本学年的投保概况"),
        (status = 403, body = crate::web::error::ErrorBody), (status = 404, body = crate::web::error::ErrorBody),
        (status = 409, body = crate::web::error::ErrorBody), (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_overview(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
    Path((_slug, org_id)): Path<(String, String)>,
) -> Response {
    let outcome = match org_id.parse::<i64>() {
        Err(_) => Err(Problem::NotFound.into()),
        Ok(org) => match load_overview(&state, &tenant, &current, org).await {
            Ok(o) => o,
            Err(e) => return page_api(e),
        },
    };
    match outcome {
        Ok(o) => Json(o).into_response(),
        Err(r) => refusal_response(&state, &tenant, &current, "organisation", &org_id, r).await,
    }
}

/// Saves the draft of a product's enrolment (headcount, insurer, cover start).
#[utoipa::path(put, path = "/api/v1/t/{slug}/enrolment/schools/{org_id}/products/{code}",
    tag = "enrolment",
    params(("slug" = String, Path, description = "租户标识"),
        ("org_id" = i64, Path, description = "学校机构编号"),
        ("code" = String, Path, description = "险种代码")),
    request_body = DraftJson,
    responses((status = 200, body = Object, description = "保存后的投保记录"),
        (status = 403, body = crate::web::error::ErrorBody), (status = 404, body = crate::web::error::ErrorBody),
        (status = 409, body = crate::web::error::ErrorBody), (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_save_draft(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
    Path((_slug, org_id, code)): Path<(String, String, String)>,
    body: Result<Json<DraftJson>, JsonRejection>,
) -> Response {
    let body = match body {
        Ok(Json(b)) => b,
        Err(e) => return crate::schools::bad_json(&e).into_response(),
    };
    let input = DraftInput {
        headcount: body.headcount,
        company_id: body.company_id,
        cover_start: body.cover_start,
    };
    let outcome = match org_id.parse::<i64>() {
        Err(_) => Err(Problem::NotFound.into()),
        Ok(org) => {
            match save_draft(
                &state,
                &tenant,
                &current,
                org,
                &code,
                body.seq.unwrap_or(1),
                &input,
            )
            .await
            {
                Ok(o) => o,
                Err(e) => return page_api(e),
            }
        }
    };
    match outcome {
        Ok(row) => Json(row).into_response(),
        Err(r) => refusal_response(&state, &tenant, &current, "organisation", &org_id, r).await,
    }
}

/// Uploads the roster (花名册) of an enrolment: all rows are checked, and the roster is
/// accepted or rejected as a whole.
#[utoipa::path(post, path = "/api/v1/t/{slug}/enrolment/{enrolment_id}/roster", tag = "enrolment",
    params(("slug" = String, Path, description = "租户标识"),
        ("enrolment_id" = i64, Path, description = "投保记录编号")),
    request_body(content_type = "multipart/form-data",
        description = "字段 file：花名册 XLSX（最大 20 MB）；字段 headcount：投保人数（可选）"),
    responses((status = 201, body = Object, description = "已接受：result、roster_id 与行数"),
        (status = 403, body = crate::web::error::ErrorBody), (status = 404, body = crate::web::error::ErrorBody), (status = 409, body = crate::web::error::ErrorBody),
        (status = 422, body = Object,
            description = "未接受：error（code invalid_rows）、roster_id 与 problems；或其他错误")))]
pub(crate) async fn api_upload_roster(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
    Path((_slug, id)): Path<(String, String)>,
    request: Request,
) -> Response {
    let outcome = match parse_id(&id) {
        Err(r) => Err(r),
        Ok(eid) => match upload_limited(&state, &tenant, &current, eid).await {
            Err(e) => return page_api(e),
            Ok(Some(r)) => Err(r),
            Ok(None) => match read_upload(request).await {
                Err(r) => Err(r),
                Ok(upload) => match upload_roster(&state, &tenant, &current, eid, upload).await {
                    Ok(o) => o,
                    Err(e) => return page_api(e),
                },
            },
        },
    };
    match outcome {
        Ok(result @ RosterResult::Accepted { .. }) => {
            (StatusCode::CREATED, Json(result)).into_response()
        }
        Ok(RosterResult::Rejected {
            roster_id,
            problems,
        }) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(serde_json::json!({
                "error": {
                    "code": "invalid_rows",
                    "message": format!("花名册有 {} 处问题，未被接受", problems.len()),
                    "field": "file",
                },
                "result": "rejected",
                "roster_id": roster_id,
                "problems": problems,
            })),
        )
            .into_response(),
        Err(r) => refusal_response(&state, &tenant, &current, "enrolment", &id, r).await,
    }
}

/// An uploaded roster: its status and the problems found (no ID numbers).
#[utoipa::path(get, path = "/api/v1/t/{slug}/enrolment/rosters/{roster_id}", operation_id = "get_roster_result", tag = "enrolment",
    params(("slug" = String, Path, description = "租户标识"),
        ("roster_id" = i64, Path, description = "花名册编号")),
    responses((status = 200, body = Object, description = "花名册及其问题清单"),
        (status = 403, body = crate::web::error::ErrorBody), (status = 404, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_roster(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
    Path((_slug, id)): Path<(String, String)>,
) -> Response {
    match load_roster(&state, &tenant, &current, &id).await {
        Ok(Some((record, _))) => Json(record).into_response(),
        Ok(None) => ApiError::NotFound(Problem::NotFound.to_string()).into_response(),
        Err(e) => page_api(e),
    }
}

/// Submits an enrolment.
#[utoipa::path(post, path = "/api/v1/t/{slug}/enrolment/{enrolment_id}/submit", tag = "enrolment",
    params(("slug" = String, Path, description = "租户标识"),
        ("enrolment_id" = i64, Path, description = "投保记录编号")),
    responses((status = 200, body = Object, description = "提交后的投保记录"),
        (status = 403, body = crate::web::error::ErrorBody), (status = 404, body = crate::web::error::ErrorBody),
        (status = 409, body = crate::web::error::ErrorBody), (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_submit(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
    Path((_slug, id)): Path<(String, String)>,
) -> Response {
    let outcome = match parse_id(&id) {
        Err(r) => Err(r),
        Ok(eid) => match submit(&state, &tenant, &current, eid).await {
            Ok(o) => o,
            Err(e) => return page_api(e),
        },
    };
    match outcome {
        Ok(row) => Json(row).into_response(),
        Err(r) => refusal_response(&state, &tenant, &current, "enrolment", &id, r).await,
    }
}

/// Requests a modification of a submitted enrolment (headcount, insurer or roster).
#[utoipa::path(post, path = "/api/v1/t/{slug}/enrolment/{enrolment_id}/modification",
    tag = "enrolment",
    params(("slug" = String, Path, description = "租户标识"),
        ("enrolment_id" = i64, Path, description = "投保记录编号")),
    request_body(content = Object,
        description = "new_headcount（整数，可选）、new_company_id（可选）、new_roster_id（可选）、reason（说明）"),
    responses((status = 201, body = Object, description = "已提出的修改申请"),
        (status = 403, body = crate::web::error::ErrorBody), (status = 404, body = crate::web::error::ErrorBody),
        (status = 409, body = crate::web::error::ErrorBody), (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_modification(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
    Path((_slug, id)): Path<(String, String)>,
    body: Result<Json<ModificationInput>, JsonRejection>,
) -> Response {
    let body = match body {
        Ok(Json(b)) => b,
        Err(e) => return crate::schools::bad_json(&e).into_response(),
    };
    let outcome = match parse_id(&id) {
        Err(r) => Err(r),
        Ok(eid) => match modification(&state, &tenant, &current, eid, &body).await {
            Ok(o) => o,
            Err(e) => return page_api(e),
        },
    };
    match outcome {
        Ok(row) => (StatusCode::CREATED, Json(row)).into_response(),
        Err(r) => refusal_response(&state, &tenant, &current, "enrolment", &id, r).await,
    }
}

/// A request for a second insurer.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = SecondInsurerInput)]
pub(crate) struct SecondJson {
    /// The second insurer (company id).
    company_id: i64,
    /// Why.
    #[serde(default)]
    reason: String,
}

/// Requests a second insurer for a submitted enrolment.
#[utoipa::path(post, path = "/api/v1/t/{slug}/enrolment/{enrolment_id}/second-insurer",
    tag = "enrolment",
    params(("slug" = String, Path, description = "租户标识"),
        ("enrolment_id" = i64, Path, description = "投保记录编号")),
    request_body = SecondJson,
    responses((status = 201, body = Object, description = "已提出的申请"),
        (status = 403, body = crate::web::error::ErrorBody), (status = 404, body = crate::web::error::ErrorBody),
        (status = 409, body = crate::web::error::ErrorBody), (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_second_insurer(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
    Path((_slug, id)): Path<(String, String)>,
    body: Result<Json<SecondJson>, JsonRejection>,
) -> Response {
    let body = match body {
        Ok(Json(b)) => b,
        Err(e) => return crate::schools::bad_json(&e).into_response(),
    };
    let outcome = match parse_id(&id) {
        Err(r) => Err(r),
        Ok(eid) => {
            match second_insurer(
                &state,
                &tenant,
                &current,
                eid,
                body.company_id,
                &body.reason,
            )
            .await
            {
                Ok(o) => o,
                Err(e) => return page_api(e),
            }
        }
    };
    match outcome {
        Ok(row) => (StatusCode::CREATED, Json(row)).into_response(),
        Err(r) => refusal_response(&state, &tenant, &current, "enrolment", &id, r).await,
    }
}
