//! 花名册冲突: the departments (and the authority) see the ID numbers that a school of their
//! region uploaded while another school already insured them under another name, and mark
//! them resolved. The uploader is never told about them (see `xiaobao_enrolment::conflicts`).

use askama::Template;
use axum::Json;
use axum::extract::rejection::{FormRejection, JsonRejection, QueryRejection};
use axum::extract::{Form, Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::routes;
use xiaobao_authz::Permission;
use xiaobao_domain::ids::RosterConflictId;
use xiaobao_enrolment::Problem;
use xiaobao_enrolment::conflicts::ConflictRow;

use crate::AppState;
use crate::enrolment::admin::{NO_YEAR_NOTICE, enrolments, path_id};
use crate::web::auth::{Current, Routes};
use crate::web::call::{Reply, audited};
use crate::web::csrf::CsrfToken;
use crate::web::error::PageError;
use crate::web::layout::Layout;
use crate::web::nav::Section;
use crate::web::session::WebSession;
use crate::web::tenant::{ApiTenant, PageTenant};
use std::sync::Arc;
use xiaobao_domain::{AcademicYear, Failure};

pub fn routes() -> Routes {
    let resolve = Permission::ROSTER_CONFLICTS_RESOLVE;
    Routes::new()
        .page(
            Method::GET,
            "/t/{slug}/enrolment/conflicts",
            resolve,
            show_conflicts,
        )
        .page(
            Method::POST,
            "/t/{slug}/enrolment/conflicts/{id}/resolve",
            resolve,
            submit_resolve,
        )
        .api(resolve, routes!(api_conflicts))
        .api(resolve, routes!(api_resolve))
}

/// `?year=2025-2026`; the current academic year when absent.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ConflictsQuery {
    /// The academic year, e.g. `2025-2026`; the current one when absent.
    year: Option<String>,
}

/// The year asked for, or the current one; `None` when none is open.
async fn year_of(
    state: &AppState,
    tenant: &Arc<xiaobao_db::Tenant>,
    current: &Current,
    asked: Option<String>,
) -> Result<Option<AcademicYear>, Failure> {
    enrolments(state, tenant, current)
        .year_or_current(asked.as_deref())
        .await
}

async fn load(
    state: &AppState,
    tenant: &Arc<xiaobao_db::Tenant>,
    current: &Current,
    year: AcademicYear,
) -> Result<Vec<ConflictRow>, Failure> {
    enrolments(state, tenant, current).conflicts(year).await
}

async fn resolve(
    state: &AppState,
    tenant: &Arc<xiaobao_db::Tenant>,
    current: &Current,
    id: &str,
    resolution: &str,
) -> Result<(), Failure> {
    let conflict_id = path_id::<RosterConflictId>(id)?;
    enrolments(state, tenant, current)
        .resolve_conflict(conflict_id, resolution)
        .await
}

/// A conflict as listed (pages and API).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ConflictView {
    conflict_id: i64,
    #[schema(value_type = String)]
    academic_year: AcademicYear,
    product_code: String,
    /// Masked, e.g. `410105********1234`.
    id_masked: String,
    school_name: String,
    /// The line of the upload that found it.
    line: i32,
    /// The student's name there, when that school is in the viewer's region.
    name: Option<String>,
    other_school_name: String,
    /// The student's name at the other school, when that school is in the viewer's region.
    other_name: Option<String>,
    /// `open` or `resolved`.
    status: String,
    resolution: Option<String>,
    /// China time, `2026-09-03 10:15`.
    found_at: String,
}

impl From<ConflictRow> for ConflictView {
    fn from(r: ConflictRow) -> Self {
        Self {
            conflict_id: r.conflict_id,
            academic_year: r.academic_year,
            product_code: r.product_code,
            id_masked: r.id_masked,
            school_name: r.school_name,
            line: r.line,
            name: r.name,
            other_school_name: r.other_school_name,
            other_name: r.other_name,
            status: r.status,
            resolution: r.resolution,
            found_at: crate::web::time::cst(r.created_at),
        }
    }
}

#[derive(Template)]
#[template(path = "roster_conflicts.html")]
struct ConflictsPage {
    layout: Layout,
    csrf: CsrfToken,
    base: String,
    notice: Option<&'static str>,
    year: String,
    rows: Vec<ConflictView>,
    error: Option<String>,
}

async fn render(
    state: &AppState,
    page: &PageTenant,
    session: &mut WebSession,
    current: &Current,
    asked: Option<String>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let (status, error) = match error {
        Some((s, m)) => (s, Some(m)),
        None => (StatusCode::OK, None),
    };
    let result = async {
        let year = year_of(state, &page.tenant, current, asked).await?;
        let rows = match &year {
            Some(y) => load(state, &page.tenant, current, *y).await?,
            None => Vec::new(),
        };
        let view = ConflictsPage {
            layout: Layout::tenant(page, session, Section::RosterConflicts, Some("花名册冲突"))
                .await?,
            csrf: session.csrf_token().await?,
            base: page.href("enrolment/conflicts"),
            notice: year.is_none().then_some(NO_YEAR_NOTICE),
            year: year.map(|y| y.to_string()).unwrap_or_default(),
            rows: rows.into_iter().map(ConflictView::from).collect(),
            error,
        };
        Ok::<_, Failure>((status, Html(view.render().map_err(PageError::from)?)).into_response())
    }
    .await;
    result.unwrap_or_else(|f| f.page(page))
}

async fn show_conflicts(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    query: Result<Query<ConflictsQuery>, QueryRejection>,
) -> Response {
    let asked = query.ok().and_then(|Query(q)| q.year);
    render(&state, &page, &mut session, &current, asked, None).await
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub(crate) struct ResolveForm {
    /// What was found and done (2–500 characters).
    resolution: String,
}

async fn submit_resolve(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    Path((_, id)): Path<(String, String)>,
    form: Result<Form<ResolveForm>, FormRejection>,
) -> Response {
    let resolution = form.map(|Form(f)| f.resolution).unwrap_or_default();
    match resolve(&state, &page.tenant, &current, &id, &resolution).await {
        Ok(()) => Redirect::to(&page.href("enrolment/conflicts")).into_response(),
        Err(fail) => match audited(&state, &page.tenant, &current, fail).await {
            Failure::Refused(r) if !r.is_not_found() => {
                let status = crate::web::error::refusal_status(r.class);
                render(
                    &state,
                    &page,
                    &mut session,
                    &current,
                    None,
                    Some((status, r.message)),
                )
                .await
            }
            other => other.page(&page),
        },
    }
}

/// The conflicts of the viewer's region for a year (current when `year` is absent), open ones
/// first; names only for the schools of the viewer's region.
#[utoipa::path(get, path = "/api/v1/t/{slug}/enrolment/conflicts", tag = "enrolment",
    params(("slug" = String, Path, description = "租户标识"), ConflictsQuery),
    responses(
        (status = 200, description = "冲突列表", body = Vec<ConflictView>),
        (status = 403, description = "无权限", body = crate::web::error::ErrorBody),
        (status = 422, description = "学年格式不正确，或当前没有开放的学年",
            body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_conflicts(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
    query: Result<Query<ConflictsQuery>, QueryRejection>,
) -> Response {
    let asked = query.ok().and_then(|Query(q)| q.year);
    let result = async {
        let Some(year) = year_of(&state, &tenant, &current, asked).await? else {
            return Err(Failure::from(Problem::YearNotOpen("当前".into())));
        };
        let rows = load(&state, &tenant, &current, year).await?;
        Ok(Json(rows.into_iter().map(ConflictView::from).collect::<Vec<_>>()).into_response())
    }
    .await;
    result.unwrap_or_else(Reply::api)
}

/// Marks a conflict of the viewer's region resolved.
#[utoipa::path(post, path = "/api/v1/t/{slug}/enrolment/conflicts/{id}/resolve", tag = "enrolment",
    params(("slug" = String, Path, description = "租户标识"), ("id" = i64, Path, description = "冲突编号")),
    request_body = ResolveForm,
    responses(
        (status = 204, description = "已处理"),
        (status = 404, description = "不存在或不在管辖范围内", body = crate::web::error::ErrorBody),
        (status = 409, description = "已处理过", body = crate::web::error::ErrorBody),
        (status = 422, description = "说明不符合要求", body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_resolve(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
    Path((_slug, id)): Path<(String, String)>,
    body: Result<Json<ResolveForm>, JsonRejection>,
) -> Response {
    let resolution = body.map(|Json(b)| b.resolution).unwrap_or_default();
    match resolve(&state, &tenant, &current, &id, &resolution).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(fail) => audited(&state, &tenant, &current, fail).await.api(),
    }
}
