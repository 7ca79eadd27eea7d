//! Enrolment as the authority and the departments see it: 学年管理 (opening a year), 投保进度
//! (progress per region, the schools that have not submitted, reopening a school), 修改审核
//! (deciding the requests schools make after submitting), 保费统计 (premium totals) and the
//! masked roster download of an enrolment in one's scope.
//!
//! API twins under `/api/v1/t/{slug}/enrolment/…` answer JSON; a [`Problem`] is 404
//! (`is_not_found`, audited as out of scope), 409 (`is_conflict`) or 422 with its `code` and
//! `field`.

use std::sync::Arc;

use askama::Template;
use axum::Json;
use axum::extract::rejection::{FormRejection, JsonRejection, QueryRejection};
use axum::extract::{Form, Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use xiaobao_authz::Permission;
use xiaobao_db::Tenant;
use xiaobao_domain::{Fen, ModificationReviewer, ProgrammeRules};
use xiaobao_enrolment::progress::{self, PendingSchool, RegionProgress, TotalLine, TotalsBy};
use xiaobao_enrolment::requests::{self, Decision, RequestRow};
use xiaobao_enrolment::underwriting;
use xiaobao_enrolment::years::{self, CompanyRef, YearView};
use xiaobao_enrolment::{EnrolmentError, EnrolmentScope, Problem};

use crate::AppState;
use crate::web::auth::{Current, Routes, audit_out_of_scope};
use crate::web::csrf::CsrfToken;
use crate::web::error::{ApiError, ErrorBody, ErrorDetail};
use crate::web::error::{PageError, error_page, internal};
use crate::web::layout::Layout;
use crate::web::nav::Section;
use crate::web::session::WebSession;
use crate::web::tenant::{ApiTenant, PageTenant};

/// Rows of lists.
pub(crate) const LIST_LIMIT: i64 = 500;

pub fn routes() -> Routes {
    let years = Permission::ENROLMENT_YEARS_MANAGE;
    let progress = Permission::ENROLMENT_PROGRESS;
    let reopen = Permission::ENROLMENT_REOPEN;
    let decide = Permission::ENROLMENT_REQUESTS_DECIDE;
    let download = Permission::ROSTERS_DOWNLOAD;
    Routes::new()
        .guarded(
            Method::GET,
            "/t/{slug}/enrolment/years",
            years,
            get(show_years),
        )
        .guarded(
            Method::POST,
            "/t/{slug}/enrolment/years/{year}/open",
            years,
            post(submit_open),
        )
        .guarded(
            Method::GET,
            "/t/{slug}/enrolment/progress",
            progress,
            get(show_progress),
        )
        .guarded(
            Method::POST,
            "/t/{slug}/enrolment/schools/{org_id}/reopen",
            reopen,
            post(submit_reopen),
        )
        .guarded(
            Method::GET,
            "/t/{slug}/enrolment/requests",
            decide,
            get(show_requests),
        )
        .guarded(
            Method::GET,
            "/t/{slug}/enrolment/requests/{id}",
            decide,
            get(show_request),
        )
        .guarded(
            Method::POST,
            "/t/{slug}/enrolment/requests/{id}/decision",
            decide,
            post(submit_decision),
        )
        .guarded(
            Method::GET,
            "/t/{slug}/enrolment/premiums",
            progress,
            get(show_premiums),
        )
        .guarded(
            Method::GET,
            "/t/{slug}/enrolment/{enrolment_id}/roster.xlsx",
            download,
            get(page_roster),
        )
        .guarded(
            Method::GET,
            "/api/v1/t/{slug}/enrolment/years",
            years,
            get(api_years),
        )
        .guarded(
            Method::POST,
            "/api/v1/t/{slug}/enrolment/years/{year}/open",
            years,
            post(api_open),
        )
        .guarded(
            Method::GET,
            "/api/v1/t/{slug}/enrolment/progress",
            progress,
            get(api_progress),
        )
        .guarded(
            Method::GET,
            "/api/v1/t/{slug}/enrolment/progress/not-submitted",
            progress,
            get(api_not_submitted),
        )
        .guarded(
            Method::POST,
            "/api/v1/t/{slug}/enrolment/schools/{org_id}/reopen",
            reopen,
            post(api_reopen),
        )
        .guarded(
            Method::GET,
            "/api/v1/t/{slug}/enrolment/requests",
            decide,
            get(api_requests),
        )
        .guarded(
            Method::POST,
            "/api/v1/t/{slug}/enrolment/requests/{id}/decision",
            decide,
            post(api_decide),
        )
        .guarded(
            Method::GET,
            "/api/v1/t/{slug}/enrolment/premiums",
            progress,
            get(api_premiums),
        )
}

// ---------------------------------------------------------------------------------------------
// Shared: failures, the current year, downloads.

/// Why a handler could not finish: a lower layer failed, or the service refused.
#[derive(Debug)]
pub(crate) enum Fail {
    Page(PageError),
    Problem(Problem),
}

impl From<PageError> for Fail {
    fn from(e: PageError) -> Self {
        Self::Page(e)
    }
}

impl From<xiaobao_db::DbError> for Fail {
    fn from(e: xiaobao_db::DbError) -> Self {
        Self::Page(e.into())
    }
}

impl From<EnrolmentError> for Fail {
    fn from(e: EnrolmentError) -> Self {
        Self::Page(internal(e))
    }
}

impl From<askama::Error> for Fail {
    fn from(e: askama::Error) -> Self {
        Self::Page(e.into())
    }
}

impl From<Problem> for Fail {
    fn from(p: Problem) -> Self {
        Self::Problem(p)
    }
}

/// 404 for an id outside the scope, 409 for a state that forbids the action, else 422.
pub(crate) fn problem_status(p: &Problem) -> StatusCode {
    if p.is_not_found() {
        StatusCode::NOT_FOUND
    } else if p.is_conflict() {
        StatusCode::CONFLICT
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    }
}

/// The JSON body of a problem: its `code`, Chinese message and `field`.
pub(crate) fn problem_body(p: &Problem) -> ErrorBody {
    ErrorBody {
        error: ErrorDetail {
            code: p.code().into(),
            message: p.to_string(),
            field: p.field().map(str::to_string),
        },
    }
}

/// The JSON answer of a problem: its status and body.
pub(crate) fn problem_response(p: &Problem) -> Response {
    (problem_status(p), Json(problem_body(p))).into_response()
}

impl Fail {
    /// The API answer.
    pub(crate) fn api(self) -> Response {
        match self {
            Self::Page(e) => crate::web::error::page_to_api(e).into_response(),
            Self::Problem(p) => problem_response(&p),
        }
    }

    /// The page answer: a Chinese error page with the problem's message.
    pub(crate) fn page(self, page: &PageTenant) -> Response {
        match self {
            Self::Page(e) => e.into_response(),
            Self::Problem(p) if p.is_not_found() => PageError::NotFound.into_response(),
            Self::Problem(p) => {
                let pair = (page.tenant.clone(), page.base.clone());
                error_page(problem_status(&p), "无法办理", &p.to_string(), Some(&pair))
            }
        }
    }
}

/// Audits an out-of-scope attempt when the problem is `NotFound`, and passes it on.
pub(crate) async fn audit_miss(
    state: &AppState,
    tenant: &Tenant,
    current: &Current,
    entity: &str,
    id: &str,
    fail: Fail,
) -> Fail {
    if let Fail::Problem(p) = &fail
        && p.is_not_found()
    {
        audit_out_of_scope(state, tenant, current, entity, id).await;
    }
    fail
}

/// The current year and its rules.
pub(crate) struct YearCtx {
    pub year: String,
    pub rules: ProgrammeRules,
}

/// The current year and its rules, or the problem that there is none.
pub(crate) async fn current_year(
    conn: &mut sqlx::PgConnection,
    today: NaiveDate,
) -> Result<YearCtx, Fail> {
    let Some(year) = years::current(conn, today).await? else {
        return Err(Problem::YearNotOpen("当前".into()).into());
    };
    let Some((_, rules)) = xiaobao_enrolment::rules_for(conn, &year).await? else {
        return Err(Problem::NoRules(year).into());
    };
    Ok(YearCtx { year, rules })
}

/// Shown by the department pages instead of their data while no academic year is open.
pub(crate) const NO_YEAR_NOTICE: &str =
    "尚未开放投保学年，请由项目管理方在「学年管理」中开放学年。";

/// Whether a failure is that no academic year is open (from [`current_year`]).
pub(crate) fn no_year_open(f: &Fail) -> bool {
    matches!(f, Fail::Problem(Problem::YearNotOpen(_)))
}

pub(crate) use crate::web::files::{XLSX, download};

/// One enrolment's roster as XLSX, in the viewer's scope; IDs unmasked when `unmasked`.
/// The read is audited by the service; a miss is audited as out of scope.
pub(crate) async fn roster_file(
    state: &AppState,
    tenant: &Arc<Tenant>,
    current: &Current,
    id: &str,
    unmasked: bool,
) -> Result<Response, Fail> {
    let result = async {
        let enrolment_id: i64 = id.parse().map_err(|_| Problem::NotFound)?;
        let scope = EnrolmentScope::of(current.viewer());
        let sealer = state.sealer(tenant);
        let mut tx = state.db.tenant_tx(tenant).await?;
        // The rules of the enrolment's own year.
        let year: Option<String> =
            sqlx::query_scalar("select academic_year from enrolments where enrolment_id = $1")
                .bind(enrolment_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(internal)?;
        let year = year.ok_or(Problem::NotFound)?;
        let (_, rules) = xiaobao_enrolment::rules_for(&mut tx, &year)
            .await?
            .ok_or_else(|| Problem::NoRules(year.clone()))?;
        let export = underwriting::roster_export(
            &mut tx,
            &scope,
            enrolment_id,
            &rules,
            &sealer,
            unmasked,
            &current.actor(),
        )
        .await??;
        tx.commit().await?;
        let name = export.file_name.clone();
        let bytes = tokio::task::spawn_blocking(move || {
            xiaobao_roster::roster_xlsx(export.group, &export.title, &export.rows)
        })
        .await
        .map_err(internal)?;
        Ok::<_, Fail>(download(bytes, XLSX, &name))
    }
    .await;
    match result {
        Ok(r) => Ok(r),
        Err(f) => Err(audit_miss(state, tenant, current, "enrolment", id, f).await),
    }
}

/// Whether the viewer's roles may see ID numbers in full.
pub(crate) fn may_unmask(state: &AppState, current: &Current) -> bool {
    state
        .auth
        .authz
        .allows(&current.viewer().roles, Permission::ROSTERS_UNMASKED)
}

async fn page_roster(
    State(state): State<AppState>,
    page: PageTenant,
    current: Current,
    Path((_, id)): Path<(String, String)>,
) -> Response {
    match roster_file(&state, &page.tenant, &current, &id, false).await {
        Ok(r) => r,
        Err(f) => f.page(&page),
    }
}

fn yuan(fen: i64) -> String {
    Fen(fen).yuan_string()
}

struct Tab {
    label: String,
    href: String,
    current: bool,
}

// ---------------------------------------------------------------------------------------------
// 学年管理.

async fn load_years(state: &AppState, tenant: &Tenant) -> Result<Vec<YearView>, Fail> {
    let mut tx = state.db.tenant_tx(tenant).await?;
    let list = years::list(&mut tx).await?;
    tx.commit().await?;
    Ok(list)
}

struct YearLine {
    v: YearView,
    products: String,
    deadlines: String,
    cover: String,
    admissions: String,
    opened: String,
    action: String,
}

#[derive(Template)]
#[template(path = "enrolment_admin_years.html")]
struct YearsPage {
    layout: Layout,
    csrf: CsrfToken,
    years: Vec<YearLine>,
    done: bool,
}

#[derive(Debug, Default, Deserialize)]
struct DoneQuery {
    done: Option<String>,
}

async fn show_years(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    _current: Current,
    query: Result<Query<DoneQuery>, QueryRejection>,
) -> Response {
    let result = async {
        let list = load_years(&state, &page.tenant).await?;
        let view = YearsPage {
            layout: Layout::tenant(
                &page,
                &mut session,
                Section::EnrolmentYears,
                Some("学年管理"),
            )
            .await?,
            csrf: session.csrf_token().await?,
            done: query.ok().and_then(|Query(q)| q.done).is_some(),
            years: list
                .into_iter()
                .map(|v| YearLine {
                    products: v
                        .products
                        .iter()
                        .map(|p| format!("{}（{}）", p.name, p.insured))
                        .collect::<Vec<_>>()
                        .join("、"),
                    deadlines: v
                        .deadlines
                        .iter()
                        .map(|(l, d)| format!("{l}：{d}"))
                        .collect::<Vec<_>>()
                        .join("；"),
                    cover: format!("{} 至 {}", v.cover_start, v.cover_end),
                    admissions: v
                        .admissions
                        .iter()
                        .map(|a| format!("{}（{}）", a.company_name, a.region_name))
                        .collect::<Vec<_>>()
                        .join("、"),
                    opened: v
                        .opened
                        .as_ref()
                        .map(|o| {
                            format!(
                                "已开放（{}，{}）",
                                o.opened_by,
                                crate::web::time::cst(o.opened_at)
                            )
                        })
                        .unwrap_or_default(),
                    action: page.href(&format!("enrolment/years/{}/open", v.academic_year)),
                    v,
                })
                .collect(),
        };
        Ok::<_, Fail>(Html(view.render()?).into_response())
    }
    .await;
    result.unwrap_or_else(|f| f.page(&page))
}

async fn open_year(
    state: &AppState,
    tenant: &Tenant,
    current: &Current,
    year: &str,
) -> Result<years::YearRow, Fail> {
    let companies: Vec<CompanyRef> =
        xiaobao_identity::companies::list(state.db.clusters.main(), "insurer")
            .await
            .map_err(internal)?
            .into_iter()
            .map(|c| CompanyRef {
                company_id: c.company_id,
                name: c.name,
            })
            .collect();
    let mut tx = state.db.tenant_tx(tenant).await?;
    let row = years::open(&mut tx, year, &companies, &current.actor()).await??;
    tx.commit().await?;
    Ok(row)
}

async fn submit_open(
    State(state): State<AppState>,
    page: PageTenant,
    current: Current,
    Path((_, year)): Path<(String, String)>,
) -> Response {
    match open_year(&state, &page.tenant, &current, &year).await {
        Ok(_) => Redirect::to(&page.href("enrolment/years?done=opened")).into_response(),
        Err(f) => f.page(&page),
    }
}

/// The academic years with their rules: products, deadlines, cover and whether opened.
#[utoipa::path(get, path = "/api/v1/t/{slug}/enrolment/years", tag = "enrolment",
    params(("slug" = String, Path, description = "租户标识")),
    responses((status = 200, body = Vec<Object>, description = "学年列表"),
        (status = 403, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_years(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    _current: Current,
) -> Response {
    match load_years(&state, &tenant).await {
        Ok(v) => Json(v).into_response(),
        Err(f) => f.api(),
    }
}

/// Opens an academic year for enrolment.
#[utoipa::path(post, path = "/api/v1/t/{slug}/enrolment/years/{year}/open", tag = "enrolment",
    params(("slug" = String, Path, description = "租户标识"), ("year" = String, Path, description = "学年，如 2025-2026")),
    responses((status = 201, body = Object, description = "已开放的学年"),
        (status = 403, body = crate::web::error::ErrorBody), (status = 404, body = crate::web::error::ErrorBody),
        (status = 409, body = crate::web::error::ErrorBody), (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_open(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
    Path((_slug, year)): Path<(String, String)>,
) -> Response {
    match open_year(&state, &tenant, &current, &year).await {
        Ok(row) => (StatusCode::CREATED, Json(row)).into_response(),
        Err(f) => f.api(),
    }
}

// ---------------------------------------------------------------------------------------------
// 投保进度.

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ProgressQuery {
    /// Product code (default: the first product).
    product: Option<String>,
    /// Region code (default: the viewer's region).
    region: Option<String>,
    #[param(ignore)]
    done: Option<String>,
    /// A refused reopening's problem code (see [`reopen_error`]).
    #[param(ignore)]
    error: Option<String>,
}

/// The message of a refused reopening, by its problem code: only the codes the reopen form can
/// cause, so the query string cannot put other text on the page.
fn reopen_error(code: &str) -> Option<String> {
    [Problem::BadReason, Problem::BadReopenDate]
        .into_iter()
        .find(|p| p.code() == code)
        .map(|p| p.to_string())
}

/// Progress of one product below a region of the viewer's subtree.
#[derive(Debug, Serialize)]
struct ProgressView {
    academic_year: String,
    product_code: String,
    region_code: String,
    region_path: String,
    regions: Vec<RegionProgress>,
    not_submitted: Vec<PendingView>,
}

/// A school that has not submitted (contact mobile masked).
#[derive(Debug, Serialize, ToSchema)]
struct PendingView {
    org_id: i64,
    name: String,
    region_name: String,
    contact_name: Option<String>,
    contact_mobile: String,
    status: Option<String>,
    reopened_until: Option<NaiveDate>,
}

impl From<PendingSchool> for PendingView {
    fn from(p: PendingSchool) -> Self {
        Self {
            org_id: p.org_id,
            contact_mobile: crate::schools::masked(p.contact_mobile.as_deref()),
            name: p.name,
            region_name: p.region_name,
            contact_name: p.contact_name,
            status: p.status,
            reopened_until: p.reopened_until,
        }
    }
}

async fn load_progress(
    state: &AppState,
    tenant: &Tenant,
    current: &Current,
    q: &ProgressQuery,
) -> Result<(ProgressView, Vec<(String, String)>), Fail> {
    let viewer = current.viewer();
    let mut tx = state.db.tenant_tx(tenant).await?;
    let ctx = current_year(&mut tx, state.clock.today()).await?;
    let products: Vec<(String, String)> = ctx
        .rules
        .products()
        .iter()
        .map(|p| (p.code.clone(), p.name.clone()))
        .collect();
    let product = match &q.product {
        Some(p) if !p.is_empty() => {
            if ctx.rules.product(p).is_none() {
                return Err(Problem::UnknownProduct.into());
            }
            p.clone()
        }
        _ => products
            .first()
            .map(|p| p.0.clone())
            .ok_or(Problem::UnknownProduct)?,
    };
    let (region_code, region_path) = match q.region.as_deref().filter(|r| !r.is_empty()) {
        None => (viewer.region_code.clone(), viewer.region_path.clone()),
        Some(code) => {
            let path: Option<String> =
                sqlx::query_scalar("select path from regions where region_code = $1")
                    .bind(code)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(internal)?;
            match path {
                Some(p) if p.starts_with(&viewer.region_path) => (code.to_string(), p),
                _ => return Err(Problem::NotFound.into()),
            }
        }
    };
    let regions =
        progress::by_region(&mut tx, &region_code, &ctx.year, &product, &ctx.rules).await?;
    let pending = progress::not_submitted(
        &mut tx,
        &region_path,
        &ctx.year,
        &product,
        &ctx.rules,
        LIST_LIMIT,
    )
    .await?;
    tx.commit().await?;
    Ok((
        ProgressView {
            academic_year: ctx.year,
            product_code: product,
            region_code,
            region_path,
            regions,
            not_submitted: pending.into_iter().map(Into::into).collect(),
        },
        products,
    ))
}

struct ProgressLine {
    r: RegionProgress,
    not_submitted: i64,
    premium: String,
    href: Option<String>,
}

#[derive(Template)]
#[template(path = "enrolment_admin_progress.html")]
struct ProgressPage {
    layout: Layout,
    csrf: CsrfToken,
    year: String,
    tabs: Vec<Tab>,
    lines: Vec<ProgressLine>,
    pending: Vec<PendingLine>,
    can_reopen: bool,
    up_href: Option<String>,
    done: bool,
    /// Why the reopening just sent was refused.
    error: Option<String>,
    /// Instead of the data, when no year is open.
    notice: Option<&'static str>,
}

struct PendingLine {
    p: PendingView,
    status: &'static str,
    reopened: String,
    action: String,
}

async fn show_progress(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    query: Result<Query<ProgressQuery>, QueryRejection>,
) -> Response {
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let done = q.done.is_some();
    let error = q.error.as_deref().and_then(reopen_error);
    let result = async {
        let (view, products) = match load_progress(&state, &page.tenant, &current, &q).await {
            Ok(loaded) => loaded,
            Err(f) if no_year_open(&f) => {
                let view = ProgressPage {
                    layout: Layout::tenant(
                        &page,
                        &mut session,
                        Section::EnrolmentProgress,
                        Some("投保进度"),
                    )
                    .await?,
                    csrf: session.csrf_token().await?,
                    year: String::new(),
                    tabs: Vec::new(),
                    lines: Vec::new(),
                    pending: Vec::new(),
                    can_reopen: false,
                    up_href: None,
                    done,
                    error: None,
                    notice: Some(NO_YEAR_NOTICE),
                };
                return Ok::<_, Fail>(Html(view.render()?).into_response());
            }
            Err(f) => return Err(f),
        };
        let region_param = q
            .region
            .as_deref()
            .filter(|r| !r.is_empty())
            .map(|r| format!("&region={r}"))
            .unwrap_or_default();
        let tabs = products
            .iter()
            .map(|(code, name)| Tab {
                label: name.clone(),
                href: page.href(&format!("enrolment/progress?product={code}{region_param}")),
                current: *code == view.product_code,
            })
            .collect();
        let can_reopen = state
            .auth
            .authz
            .allows(&current.viewer().roles, Permission::ENROLMENT_REOPEN);
        let product = view.product_code.clone();
        let lines = view
            .regions
            .into_iter()
            .map(|r| ProgressLine {
                not_submitted: r.not_submitted(),
                premium: r.premium_yuan(),
                href: (r.region_code != view.region_code).then(|| {
                    page.href(&format!(
                        "enrolment/progress?product={product}&region={}",
                        r.region_code
                    ))
                }),
                r,
            })
            .collect();
        let up_href = (view.region_code != current.viewer().region_code)
            .then(|| page.href(&format!("enrolment/progress?product={product}")));
        let pending = view
            .not_submitted
            .into_iter()
            .map(|p| PendingLine {
                status: if p.status.is_some() {
                    "草稿"
                } else {
                    "未开始"
                },
                reopened: p.reopened_until.map(|d| d.to_string()).unwrap_or_default(),
                action: page.href(&format!("enrolment/schools/{}/reopen", p.org_id)),
                p,
            })
            .collect();
        let view = ProgressPage {
            layout: Layout::tenant(
                &page,
                &mut session,
                Section::EnrolmentProgress,
                Some("投保进度"),
            )
            .await?,
            csrf: session.csrf_token().await?,
            year: view.academic_year,
            tabs,
            lines,
            pending,
            can_reopen,
            up_href,
            done,
            error,
            notice: None,
        };
        Ok(Html(view.render()?).into_response())
    }
    .await;
    match result {
        Ok(r) => r,
        Err(f) => {
            let id = q.region.clone().unwrap_or_default();
            audit_miss(&state, &page.tenant, &current, "region", &id, f)
                .await
                .page(&page)
        }
    }
}

/// Progress of a product in the current year, per region below a region of the viewer's
/// subtree.
#[utoipa::path(get, path = "/api/v1/t/{slug}/enrolment/progress", tag = "enrolment",
    params(("slug" = String, Path, description = "租户标识"), ProgressQuery),
    responses((status = 200, body = Object,
            description = "academic_year、product_code、region_code 与各地区的 regions"),
        (status = 403, body = crate::web::error::ErrorBody), (status = 404, body = crate::web::error::ErrorBody), (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_progress(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
    query: Result<Query<ProgressQuery>, QueryRejection>,
) -> Response {
    let q = query.map(|Query(q)| q).unwrap_or_default();
    match load_progress(&state, &tenant, &current, &q).await {
        Ok((v, _)) => Json(serde_json::json!({
            "academic_year": v.academic_year,
            "product_code": v.product_code,
            "region_code": v.region_code,
            "regions": v.regions.iter().map(|r| serde_json::json!({
                "region_code": r.region_code,
                "region_name": r.region_name,
                "schools": r.schools,
                "submitted": r.submitted,
                "not_submitted": r.not_submitted(),
                "headcount": r.headcount,
                "premium_fen": r.premium_fen,
                "premium_yuan": r.premium_yuan(),
            })).collect::<Vec<_>>(),
        }))
        .into_response(),
        Err(f) => {
            let id = q.region.clone().unwrap_or_default();
            audit_miss(&state, &tenant, &current, "region", &id, f)
                .await
                .api()
        }
    }
}

/// The schools below a region that have not submitted a product in the current year.
#[utoipa::path(get, path = "/api/v1/t/{slug}/enrolment/progress/not-submitted", tag = "enrolment",
    params(("slug" = String, Path, description = "租户标识"), ProgressQuery),
    responses((status = 200, body = Vec<PendingView>),
        (status = 403, body = crate::web::error::ErrorBody), (status = 404, body = crate::web::error::ErrorBody), (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_not_submitted(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
    query: Result<Query<ProgressQuery>, QueryRejection>,
) -> Response {
    let q = query.map(|Query(q)| q).unwrap_or_default();
    match load_progress(&state, &tenant, &current, &q).await {
        Ok((v, _)) => Json(v.not_submitted).into_response(),
        Err(f) => {
            let id = q.region.clone().unwrap_or_default();
            audit_miss(&state, &tenant, &current, "region", &id, f)
                .await
                .api()
        }
    }
}

/// A reopening as a form or the API sends it.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub(crate) struct ReopenInput {
    /// The last day the school may submit (`YYYY-MM-DD`).
    #[serde(default)]
    until: String,
    /// Why.
    #[serde(default)]
    reason: String,
}

async fn reopen_school(
    state: &AppState,
    tenant: &Tenant,
    current: &Current,
    id: &str,
    input: &ReopenInput,
) -> Result<(), Fail> {
    let result = async {
        let org_id: i64 = id.parse().map_err(|_| Problem::NotFound)?;
        let until = NaiveDate::parse_from_str(input.until.trim(), "%Y-%m-%d")
            .map_err(|_| Problem::BadReopenDate)?;
        let mut tx = state.db.tenant_tx(tenant).await?;
        let ctx = current_year(&mut tx, state.clock.today()).await?;
        xiaobao_enrolment::school::reopen(
            &mut tx,
            &current.viewer().school_scope(),
            org_id,
            &ctx.year,
            until,
            &input.reason,
            &current.actor(),
            state.clock.today(),
        )
        .await??;
        tx.commit().await?;
        Ok::<_, Fail>(())
    }
    .await;
    match result {
        Ok(()) => Ok(()),
        Err(f) => Err(audit_miss(state, tenant, current, "organisation", id, f).await),
    }
}

async fn submit_reopen(
    State(state): State<AppState>,
    page: PageTenant,
    current: Current,
    Path((_, id)): Path<(String, String)>,
    form: Result<Form<ReopenInput>, FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    match reopen_school(&state, &page.tenant, &current, &id, &form).await {
        Ok(()) => Redirect::to(&page.href("enrolment/progress?done=reopened")).into_response(),
        // A wrong date or reason is shown on the progress page, above the list.
        Err(Fail::Problem(p)) if reopen_error(p.code()).is_some() => {
            Redirect::to(&page.href(&format!("enrolment/progress?error={}", p.code())))
                .into_response()
        }
        Err(f) => f.page(&page),
    }
}

/// Reopens a school's enrolment in the current year until a date.
#[utoipa::path(post, path = "/api/v1/t/{slug}/enrolment/schools/{org_id}/reopen", tag = "enrolment",
    params(("slug" = String, Path, description = "租户标识"), ("org_id" = i64, Path, description = "学校机构编号")),
    request_body = ReopenInput,
    responses((status = 200, body = Object, description = "reopened 与 until"),
        (status = 403, body = crate::web::error::ErrorBody), (status = 404, body = crate::web::error::ErrorBody),
        (status = 409, body = crate::web::error::ErrorBody), (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_reopen(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
    Path((_slug, id)): Path<(String, String)>,
    body: Result<Json<ReopenInput>, JsonRejection>,
) -> Response {
    let Ok(Json(body)) = body else {
        return ApiError::invalid("until", "请求体不是有效的 JSON").into_response();
    };
    match reopen_school(&state, &tenant, &current, &id, &body).await {
        Ok(()) => {
            Json(serde_json::json!({ "reopened": true, "until": body.until })).into_response()
        }
        Err(f) => f.api(),
    }
}

// ---------------------------------------------------------------------------------------------
// 修改审核.

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RequestsQuery {
    /// `pending` (default) or `all`.
    status: Option<String>,
}

fn reviewer_of(scope: &EnrolmentScope) -> ModificationReviewer {
    if scope.is_insurer() {
        ModificationReviewer::Insurer
    } else {
        ModificationReviewer::Department
    }
}

async fn load_requests(
    state: &AppState,
    tenant: &Tenant,
    current: &Current,
    pending_only: bool,
) -> Result<Vec<RequestRow>, Fail> {
    let scope = EnrolmentScope::of(current.viewer());
    let mut tx = state.db.tenant_tx(tenant).await?;
    let rows = requests::list(
        &mut tx,
        &scope,
        Some(reviewer_of(&scope)),
        pending_only.then_some("pending"),
        LIST_LIMIT,
    )
    .await?;
    tx.commit().await?;
    Ok(rows)
}

/// A request as the API and the pages show it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = EnrolmentRequestView)]
struct RequestView {
    /// The request's fields.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    row: RequestRow,
    /// Kind, in Chinese.
    kind_label: &'static str,
    /// Status, in Chinese.
    status_label: &'static str,
    /// Premium change in yuan, when the headcount changes.
    premium_change_yuan: Option<String>,
}

impl From<RequestRow> for RequestView {
    fn from(row: RequestRow) -> Self {
        Self {
            kind_label: row.kind_label(),
            status_label: row.status_label(),
            premium_change_yuan: row.premium_change_yuan(),
            row,
        }
    }
}

struct RequestLine {
    r: RequestView,
    detail: String,
    requested_at: String,
    href: String,
}

fn request_detail(r: &RequestRow) -> String {
    let mut parts = Vec::new();
    if let Some(n) = r.new_headcount {
        parts.push(format!("人数 {} → {}", r.headcount, n));
    }
    if let Some(c) = &r.new_company_name {
        parts.push(format!(
            "保险机构 {} → {}",
            r.company_name.clone().unwrap_or_default(),
            c
        ));
    }
    if r.new_roster_id.is_some() {
        parts.push("新花名册".to_string());
    }
    parts.join("；")
}

fn request_line(page: &PageTenant, r: RequestRow) -> RequestLine {
    RequestLine {
        detail: request_detail(&r),
        requested_at: crate::web::time::cst(r.requested_at),
        href: page.href(&format!("enrolment/requests/{}", r.request_id)),
        r: r.into(),
    }
}

#[derive(Template)]
#[template(path = "enrolment_admin_requests.html")]
struct RequestsPage {
    layout: Layout,
    tabs: Vec<Tab>,
    rows: Vec<RequestLine>,
    /// Instead of the list, when no year is open.
    notice: Option<&'static str>,
}

/// Whether an academic year is open.
async fn year_open(state: &AppState, tenant: &Tenant) -> Result<bool, Fail> {
    let mut tx = state.db.tenant_tx(tenant).await?;
    let open = years::current(&mut tx, state.clock.today())
        .await?
        .is_some();
    tx.commit().await?;
    Ok(open)
}

async fn show_requests(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    query: Result<Query<RequestsQuery>, QueryRejection>,
) -> Response {
    let pending_only = query.ok().and_then(|Query(q)| q.status).as_deref() != Some("all");
    let result = async {
        let rows = load_requests(&state, &page.tenant, &current, pending_only).await?;
        let notice =
            (rows.is_empty() && !year_open(&state, &page.tenant).await?).then_some(NO_YEAR_NOTICE);
        let view = RequestsPage {
            layout: Layout::tenant(
                &page,
                &mut session,
                Section::EnrolmentRequests,
                Some("修改审核"),
            )
            .await?,
            tabs: vec![
                Tab {
                    label: "待审核".into(),
                    href: page.href("enrolment/requests"),
                    current: pending_only,
                },
                Tab {
                    label: "全部".into(),
                    href: page.href("enrolment/requests?status=all"),
                    current: !pending_only,
                },
            ],
            rows: rows.into_iter().map(|r| request_line(&page, r)).collect(),
            notice,
        };
        Ok::<_, Fail>(Html(view.render()?).into_response())
    }
    .await;
    result.unwrap_or_else(|f| f.page(&page))
}

#[derive(Template)]
#[template(path = "enrolment_admin_request.html")]
struct RequestPage {
    layout: Layout,
    /// Why the decision just sent was not taken.
    error: Option<String>,
    csrf: CsrfToken,
    line: RequestLine,
    action: String,
    list_href: String,
    done: bool,
}

async fn show_request(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    Path((_, id)): Path<(String, String)>,
    query: Result<Query<DoneQuery>, QueryRejection>,
) -> Response {
    let done = query.ok().and_then(|Query(q)| q.done).is_some();
    render_request(&state, &page, &mut session, &current, &id, done, None).await
}

/// The request page; `error` (a refused decision) is shown above the decision form.
async fn render_request(
    state: &AppState,
    page: &PageTenant,
    session: &mut WebSession,
    current: &Current,
    id: &str,
    done: bool,
    error: Option<(StatusCode, String)>,
) -> Response {
    let (status, error) = match error {
        Some((status, message)) => (status, Some(message)),
        None => (StatusCode::OK, None),
    };
    let result = async {
        let request_id: i64 = id.parse().map_err(|_| Problem::NotFound)?;
        let scope = EnrolmentScope::of(current.viewer());
        let mut tx = state.db.tenant_tx(&page.tenant).await?;
        let row = requests::get(&mut tx, &scope, request_id)
            .await?
            .ok_or(Problem::NotFound)?;
        tx.commit().await?;
        let view = RequestPage {
            layout: Layout::tenant(page, session, Section::EnrolmentRequests, Some("修改审核"))
                .await?,
            csrf: session.csrf_token().await?,
            action: page.href(&format!("enrolment/requests/{request_id}/decision")),
            list_href: page.href("enrolment/requests"),
            done,
            error,
            line: request_line(page, row),
        };
        Ok::<_, Fail>((status, Html(view.render()?)).into_response())
    }
    .await;
    match result {
        Ok(r) => r,
        Err(f) => audit_miss(state, &page.tenant, current, "enrolment_request", id, f)
            .await
            .page(page),
    }
}

/// A decision as a form or the API sends it.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(as = EnrolmentDecisionInput)]
pub(crate) struct DecisionInput {
    /// `approve` or `refuse`.
    #[serde(default)]
    decision: String,
    /// Why (when refusing).
    #[serde(default)]
    reason: Option<String>,
}

async fn decide_request(
    state: &AppState,
    tenant: &Tenant,
    current: &Current,
    id: &str,
    input: &DecisionInput,
) -> Result<RequestRow, Fail> {
    let approve = match input.decision.as_str() {
        "approve" => true,
        "refuse" => false,
        _ => {
            return Err(Fail::Page(PageError::Internal(
                "decision must be approve or refuse".into(),
            )));
        }
    };
    let result = async {
        let request_id: i64 = id.parse().map_err(|_| Problem::NotFound)?;
        let scope = EnrolmentScope::of(current.viewer());
        let mut tx = state.db.tenant_tx(tenant).await?;
        let year: Option<String> = sqlx::query_scalar(
            "select e.academic_year from enrolment_requests q \
             join enrolments e on e.enrolment_id = q.enrolment_id where q.request_id = $1",
        )
        .bind(request_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(internal)?;
        let year = year.ok_or(Problem::NotFound)?;
        let (_, rules) = xiaobao_enrolment::rules_for(&mut tx, &year)
            .await?
            .ok_or_else(|| Problem::NoRules(year.clone()))?;
        let decision = Decision {
            approve,
            reason: input.reason.clone().unwrap_or_default(),
        };
        let row = requests::decide(
            &mut tx,
            &scope,
            request_id,
            &decision,
            &rules,
            &state.calendar,
            state.clock.now(),
            &current.actor(),
        )
        .await??;
        tx.commit().await?;
        Ok::<_, Fail>(row)
    }
    .await;
    match result {
        Ok(r) => Ok(r),
        Err(f) => Err(audit_miss(state, tenant, current, "enrolment_request", id, f).await),
    }
}

async fn submit_decision(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    Path((_, id)): Path<(String, String)>,
    form: Result<Form<DecisionInput>, FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    // A refused decision is shown on the request page, above its form.
    let error = if form.decision != "approve" && form.decision != "refuse" {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "请选择通过或不予通过".to_string(),
        )
    } else {
        match decide_request(&state, &page.tenant, &current, &id, &form).await {
            Ok(_) => {
                return Redirect::to(&page.href(&format!("enrolment/requests/{id}?done=1")))
                    .into_response();
            }
            Err(Fail::Problem(p)) if !p.is_not_found() => (problem_status(&p), p.to_string()),
            Err(f) => return f.page(&page),
        }
    };
    render_request(
        &state,
        &page,
        &mut session,
        &current,
        &id,
        false,
        Some(error),
    )
    .await
}

/// The requests schools made after submitting, for the viewer to decide.
#[utoipa::path(get, path = "/api/v1/t/{slug}/enrolment/requests", tag = "enrolment",
    params(("slug" = String, Path, description = "租户标识"), RequestsQuery),
    responses((status = 200, body = Vec<RequestView>), (status = 403, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_requests(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
    query: Result<Query<RequestsQuery>, QueryRejection>,
) -> Response {
    let pending_only = query.ok().and_then(|Query(q)| q.status).as_deref() != Some("all");
    match load_requests(&state, &tenant, &current, pending_only).await {
        Ok(rows) => {
            Json(rows.into_iter().map(RequestView::from).collect::<Vec<_>>()).into_response()
        }
        Err(f) => f.api(),
    }
}

/// Approves or refuses a request.
#[utoipa::path(post, path = "/api/v1/t/{slug}/enrolment/requests/{id}/decision", operation_id = "decide_enrolment_request", tag = "enrolment",
    params(("slug" = String, Path, description = "租户标识"), ("id" = i64, Path, description = "申请编号")),
    request_body = DecisionInput,
    responses((status = 200, body = RequestView),
        (status = 403, body = crate::web::error::ErrorBody), (status = 404, body = crate::web::error::ErrorBody),
        (status = 409, body = crate::web::error::ErrorBody), (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_decide(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
    Path((_slug, id)): Path<(String, String)>,
    body: Result<Json<DecisionInput>, JsonRejection>,
) -> Response {
    let Ok(Json(body)) = body else {
        return ApiError::invalid("decision", "请求体不是有效的 JSON").into_response();
    };
    if body.decision != "approve" && body.decision != "refuse" {
        return ApiError::invalid("decision", "decision 应为 approve 或 refuse").into_response();
    }
    match decide_request(&state, &tenant, &current, &id, &body).await {
        Ok(row) => Json(RequestView::from(row)).into_response(),
        Err(f) => f.api(),
    }
}

// ---------------------------------------------------------------------------------------------
// 保费统计.

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PremiumsQuery {
    /// `county` (default), `city`, `insurer`, `school` or `programme`.
    #[param(value_type = Option<String>)]
    by: Option<TotalsBy>,
}

/// Premium totals and the grand total per product.
#[derive(Debug, Serialize, ToSchema)]
struct PremiumsView {
    academic_year: String,
    /// `county`, `city`, `insurer`, `school` or `programme`.
    #[schema(value_type = String)]
    by: TotalsBy,
    /// Lines with `key`, `label`, `product_code`, `enrolments`, `headcount`, `premium_fen`.
    #[schema(value_type = Vec<Object>)]
    lines: Vec<TotalLine>,
    /// The total per product.
    #[schema(value_type = Vec<Object>)]
    totals: Vec<TotalLine>,
}

async fn load_premiums(
    state: &AppState,
    tenant: &Tenant,
    current: &Current,
    by: TotalsBy,
) -> Result<(PremiumsView, Vec<(String, String)>), Fail> {
    let mut tx = state.db.tenant_tx(tenant).await?;
    let ctx = current_year(&mut tx, state.clock.today()).await?;
    let lines =
        progress::premium_totals(&mut tx, &current.viewer().region_path, &ctx.year, by).await?;
    tx.commit().await?;
    let names: Vec<(String, String)> = ctx
        .rules
        .products()
        .iter()
        .map(|p| (p.code.clone(), p.name.clone()))
        .collect();
    let mut totals: Vec<TotalLine> = Vec::new();
    for l in &lines {
        match totals.iter_mut().find(|t| t.product_code == l.product_code) {
            Some(t) => {
                t.enrolments += l.enrolments;
                t.headcount += l.headcount;
                t.premium_fen += l.premium_fen;
            }
            None => totals.push(TotalLine {
                key: "total".into(),
                label: "合计".into(),
                product_code: l.product_code.clone(),
                enrolments: l.enrolments,
                headcount: l.headcount,
                premium_fen: l.premium_fen,
            }),
        }
    }
    Ok((
        PremiumsView {
            academic_year: ctx.year,
            by,
            lines,
            totals,
        },
        names,
    ))
}

struct TotalRow {
    label: String,
    product: String,
    enrolments: i64,
    headcount: i64,
    premium: String,
}

#[derive(Template)]
#[template(path = "enrolment_admin_premiums.html")]
struct PremiumsPage {
    layout: Layout,
    year: String,
    by_label: &'static str,
    tabs: Vec<Tab>,
    lines: Vec<TotalRow>,
    totals: Vec<TotalRow>,
    /// Instead of the totals, when no year is open.
    notice: Option<&'static str>,
}

async fn show_premiums(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    query: Result<Query<PremiumsQuery>, QueryRejection>,
) -> Response {
    let by = query
        .ok()
        .and_then(|Query(q)| q.by)
        .unwrap_or(TotalsBy::County);
    let result = async {
        let (v, names) = match load_premiums(&state, &page.tenant, &current, by).await {
            Ok(loaded) => loaded,
            Err(f) if no_year_open(&f) => {
                let view = PremiumsPage {
                    layout: Layout::tenant(
                        &page,
                        &mut session,
                        Section::Premiums,
                        Some("保费统计"),
                    )
                    .await?,
                    year: String::new(),
                    by_label: by.label(),
                    tabs: Vec::new(),
                    lines: Vec::new(),
                    totals: Vec::new(),
                    notice: Some(NO_YEAR_NOTICE),
                };
                return Ok::<_, Fail>(Html(view.render()?).into_response());
            }
            Err(f) => return Err(f),
        };
        let product_name = |code: &str| {
            names
                .iter()
                .find(|(c, _)| c == code)
                .map_or(code.to_string(), |(_, n)| n.clone())
        };
        let row = |l: &TotalLine| TotalRow {
            label: l.label.clone(),
            product: product_name(&l.product_code),
            enrolments: l.enrolments,
            headcount: l.headcount,
            premium: yuan(l.premium_fen),
        };
        let tabs = [
            ("county", TotalsBy::County),
            ("city", TotalsBy::City),
            ("insurer", TotalsBy::Insurer),
            ("school", TotalsBy::School),
            ("programme", TotalsBy::Programme),
        ]
        .iter()
        .map(|(code, b)| Tab {
            label: format!("按{}", b.label()),
            href: page.href(&format!("enrolment/premiums?by={code}")),
            current: *b == by,
        })
        .collect();
        let view = PremiumsPage {
            layout: Layout::tenant(&page, &mut session, Section::Premiums, Some("保费统计"))
                .await?,
            year: v.academic_year.clone(),
            by_label: by.label(),
            tabs,
            lines: v.lines.iter().map(row).collect(),
            totals: v.totals.iter().map(row).collect(),
            notice: None,
        };
        Ok(Html(view.render()?).into_response())
    }
    .await;
    result.unwrap_or_else(|f| f.page(&page))
}

/// Premium totals of the current year in the viewer's subtree.
#[utoipa::path(get, path = "/api/v1/t/{slug}/enrolment/premiums", tag = "enrolment",
    params(("slug" = String, Path, description = "租户标识"), PremiumsQuery),
    responses((status = 200, body = PremiumsView),
        (status = 403, body = crate::web::error::ErrorBody), (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_premiums(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
    query: Result<Query<PremiumsQuery>, QueryRejection>,
) -> Response {
    let by = match query {
        Ok(Query(q)) => q.by.unwrap_or(TotalsBy::County),
        Err(_) => {
            return ApiError::invalid("by", "by 应为 county、city、insurer、school 或 programme")
                .into_response();
        }
    };
    match load_premiums(&state, &tenant, &current, by).await {
        Ok((v, _)) => Json(v).into_response(),
        Err(f) => f.api(),
    }
}
