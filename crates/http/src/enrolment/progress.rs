//! 投保进度: progress per region below the viewer's, the schools that have not submitted,
//! and reopening a school.

use std::sync::Arc;
use xiaobao_domain::ids::OrgId;

use askama::Template;
use axum::Json;
use axum::extract::rejection::{FormRejection, JsonRejection, QueryRejection};
use axum::extract::{Form, Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use xiaobao_authz::Permission;
use xiaobao_db::Tenant;
use xiaobao_domain::{AcademicYear, Failure};
use xiaobao_enrolment::Problem;
use xiaobao_enrolment::progress::{PendingSchool, RegionProgress};

use crate::AppState;
use crate::web::auth::Current;
use crate::web::call::{Reply, audited};
use crate::web::csrf::CsrfToken;
use crate::web::error::ApiError;
use crate::web::error::PageError;
use crate::web::layout::Layout;
use crate::web::nav::Section;
use crate::web::session::WebSession;
use crate::web::tenant::{ApiTenant, PageTenant};

use super::admin::*;

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
pub(super) fn reopen_error(code: &str) -> Option<String> {
    [Problem::BadReason, Problem::BadReopenDate]
        .into_iter()
        .find(|p| p.code() == code)
        .map(|p| p.to_string())
}

/// Progress of one product below a region of the viewer's subtree.
#[derive(Debug, Serialize)]
pub(super) struct ProgressView {
    academic_year: AcademicYear,
    product_code: String,
    region_code: String,
    region_path: String,
    regions: Vec<RegionProgress>,
    not_submitted: Vec<PendingView>,
    /// Schools insured the year before that have not submitted this year (不得断保).
    lapsing: i64,
    /// The year containing today when it is not open yet (this is the previous year's
    /// progress, read-only).
    not_open_year: Option<AcademicYear>,
}

/// A school that has not submitted (contact mobile masked).
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct PendingView {
    org_id: i64,
    name: String,
    region_name: String,
    contact_name: Option<String>,
    contact_mobile: String,
    status: Option<String>,
    reopened_until: Option<NaiveDate>,
    /// Insured the year before: its cover lapses unless it submits (不得断保).
    insured_last_year: bool,
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
            insured_last_year: p.insured_last_year,
        }
    }
}

pub(super) async fn load_progress(
    state: &AppState,
    tenant: &Arc<Tenant>,
    current: &Current,
    q: &ProgressQuery,
) -> Result<(ProgressView, Vec<(String, String)>), Failure> {
    let p = enrolments(state, tenant, current)
        .progress(q.product.as_deref(), q.region.as_deref())
        .await?;
    Ok((
        ProgressView {
            academic_year: p.academic_year,
            product_code: p.product_code,
            region_code: p.region_code,
            region_path: p.region_path,
            regions: p.regions,
            not_submitted: p.not_submitted.into_iter().map(Into::into).collect(),
            lapsing: p.lapsing,
            not_open_year: p.not_open_year,
        },
        p.products,
    ))
}

pub(super) struct ProgressLine {
    r: RegionProgress,
    not_submitted: i64,
    premium: String,
    href: Option<String>,
}

#[derive(Template)]
#[template(path = "enrolment_admin_progress.html")]
pub(super) struct ProgressPage {
    layout: Layout,
    csrf: CsrfToken,
    year: String,
    tabs: Vec<Tab>,
    lines: Vec<ProgressLine>,
    pending: Vec<PendingLine>,
    /// Schools insured the year before that have not submitted (不得断保).
    lapsing: i64,
    can_reopen: bool,
    up_href: Option<String>,
    done: bool,
    /// Why the reopening just sent was refused.
    error: Option<String>,
    /// Instead of the data, when no year is open.
    notice: Option<&'static str>,
    /// The year containing today when it is not open: the data is of the previous year.
    not_open_year: Option<String>,
}

pub(super) struct PendingLine {
    p: PendingView,
    status: &'static str,
    reopened: String,
    action: String,
}

pub(super) async fn show_progress(
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
                    lapsing: 0,
                    can_reopen: false,
                    up_href: None,
                    done,
                    error: None,
                    notice: Some(NO_YEAR_NOTICE),
                    not_open_year: None,
                };
                return Ok::<_, Failure>(
                    Html(view.render().map_err(PageError::from)?).into_response(),
                );
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
        let can_reopen = view.not_open_year.is_none()
            && state
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
        let lapsing = view.lapsing;
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
            year: view.academic_year.to_string(),
            tabs,
            lines,
            pending,
            lapsing,
            can_reopen,
            up_href,
            done,
            error,
            notice: None,
            not_open_year: view.not_open_year.map(|y| y.to_string()),
        };
        Ok(Html(view.render().map_err(PageError::from)?).into_response())
    }
    .await;
    match result {
        Ok(r) => r,
        Err(f) => audited(&state, &page.tenant, &current, f).await.page(&page),
    }
}

/// The progress of a product below a region, as the API answers it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProgressAnswer {
    #[schema(value_type = String)]
    academic_year: AcademicYear,
    product_code: String,
    region_code: String,
    regions: Vec<RegionLine>,
    /// Schools below the region insured the year before that have not submitted this year:
    /// their cover lapses at the year's start unless they do (不得断保). Listed with
    /// `insured_last_year` in `…/progress/not-submitted`.
    lapsing: i64,
    /// Set when the year containing today is not open yet: this is the year it names, and
    /// the progress is of the previous year (上一学年).
    #[schema(value_type = Option<String>)]
    not_open_year: Option<AcademicYear>,
}

/// One child region's progress.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RegionLine {
    region_code: String,
    region_name: String,
    schools: i64,
    submitted: i64,
    not_submitted: i64,
    headcount: i64,
    premium_fen: i64,
    premium_yuan: String,
}

/// Progress of a product in the current year, per region below a region of the viewer's
/// subtree.
#[utoipa::path(get, path = "/api/v1/t/{slug}/enrolment/progress", tag = "enrolment",
    params(("slug" = String, Path, description = "租户标识"), ProgressQuery),
    responses((status = 200, body = ProgressAnswer,
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
        Ok((v, _)) => Json(ProgressAnswer {
            regions: v
                .regions
                .iter()
                .map(|r| RegionLine {
                    region_code: r.region_code.clone(),
                    region_name: r.region_name.clone(),
                    schools: r.schools,
                    submitted: r.submitted,
                    not_submitted: r.not_submitted(),
                    headcount: r.headcount,
                    premium_fen: r.premium_fen,
                    premium_yuan: r.premium_yuan(),
                })
                .collect(),
            academic_year: v.academic_year,
            product_code: v.product_code,
            region_code: v.region_code,
            lapsing: v.lapsing,
            not_open_year: v.not_open_year,
        })
        .into_response(),
        Err(f) => audited(&state, &tenant, &current, f).await.api(),
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
        Err(f) => audited(&state, &tenant, &current, f).await.api(),
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

pub(super) async fn reopen_school(
    state: &AppState,
    tenant: &Arc<Tenant>,
    current: &Current,
    id: &str,
    input: &ReopenInput,
) -> Result<(), Failure> {
    let result = async {
        let org_id = path_id::<OrgId>(id)?;
        enrolments(state, tenant, current)
            .reopen(org_id, &input.until, &input.reason)
            .await
    }
    .await;
    match result {
        Ok(()) => Ok(()),
        Err(f) => Err(audited(state, tenant, current, f).await),
    }
}

pub(super) async fn submit_reopen(
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
        Err(Failure::Refused(r)) if reopen_error(&r.code).is_some() => {
            Redirect::to(&page.href(&format!("enrolment/progress?error={}", r.code)))
                .into_response()
        }
        Err(f) => f.page(&page),
    }
}

/// A school reopened.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Reopened {
    /// Always `true`.
    reopened: bool,
    /// The last day the school may submit, as given.
    until: String,
}

/// Reopens a school's enrolment in the current year until a date.
#[utoipa::path(post, path = "/api/v1/t/{slug}/enrolment/schools/{org_id}/reopen", tag = "enrolment",
    params(("slug" = String, Path, description = "租户标识"), ("org_id" = i64, Path, description = "学校机构编号")),
    request_body = ReopenInput,
    responses((status = 200, body = Reopened, description = "reopened 与 until"),
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
        Ok(()) => Json(Reopened {
            reopened: true,
            until: body.until,
        })
        .into_response(),
        Err(f) => f.api(),
    }
}
