//! 中心校管理 and 所辖学校.
//!
//! A department (`CENTRAL_SCHOOLS_MANAGE`) marks a school of its subtree as a central school —
//! its account gets the role `central_school`, effective at its next sign-in — or unmarks it,
//! and assigns schools of its subtree to a central school of its subtree
//! (`organisations.central_school_id`). The forms live on the school's page
//! (`/t/{slug}/schools/{id}`); `/t/{slug}/central-schools` lists the central schools of the
//! region with the schools assigned to each.
//!
//! A central school (`ASSIGNED_SCHOOLS_LIST`; its scope is `SchoolScope::Central`) lists its
//! schools with their status at `/t/{slug}/assigned-schools`; opening one is audited as done
//! on the school's behalf (`school.viewed_on_behalf`).
//!
//! API: `GET /api/v1/t/{slug}/central-schools`, `PUT …/schools/{id}/central`
//! (`{"is_central": bool}`), `PUT …/schools/{id}/central-school`
//! (`{"central_school_id": id | null}`), `GET …/assigned-schools`.

use askama::Template;
use axum::Json;
use axum::extract::rejection::{FormRejection, JsonRejection};
use axum::extract::{Form, Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{Html, Response};
use axum::routing::{get, post, put};
use serde::{Deserialize, Serialize};
use xiaobao_authz::Permission;
use xiaobao_identity::SchoolScope;
use xiaobao_identity::school_admin::{self, AdminProblem, CentralSchoolRow};

use crate::AppState;
use crate::schools::{SchoolApiView, after_form, api_outcome, api_view, masked};
use crate::web::auth::{Current, Routes};
use crate::web::error::ApiError;
use crate::web::error::PageError;
use crate::web::error::internal;
use crate::web::layout::Layout;
use crate::web::nav::Section;
use crate::web::session::WebSession;
use crate::web::tenant::{ApiTenant, PageTenant};

pub fn routes() -> Routes {
    let manage = Permission::CENTRAL_SCHOOLS_MANAGE;
    Routes::new()
        .guarded(
            Method::GET,
            "/t/{slug}/central-schools",
            manage,
            get(show_central),
        )
        .guarded(
            Method::POST,
            "/t/{slug}/schools/{id}/central",
            manage,
            post(submit_central),
        )
        .guarded(
            Method::POST,
            "/t/{slug}/schools/{id}/central-school",
            manage,
            post(submit_assign),
        )
        .guarded(
            Method::GET,
            "/t/{slug}/assigned-schools",
            Permission::ASSIGNED_SCHOOLS_LIST,
            get(show_assigned),
        )
        .guarded(
            Method::GET,
            "/api/v1/t/{slug}/central-schools",
            manage,
            get(api_central_schools),
        )
        .guarded(
            Method::PUT,
            "/api/v1/t/{slug}/schools/{id}/central",
            manage,
            put(api_set_central),
        )
        .guarded(
            Method::PUT,
            "/api/v1/t/{slug}/schools/{id}/central-school",
            manage,
            put(api_assign),
        )
        .guarded(
            Method::GET,
            "/api/v1/t/{slug}/assigned-schools",
            Permission::ASSIGNED_SCHOOLS_LIST,
            get(api_assigned),
        )
}

/// Marks or unmarks; `Ok(true)` when marked.
async fn set_central(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
    id: &str,
    central: bool,
) -> Result<Result<bool, AdminProblem>, PageError> {
    let Ok(org_id) = id.parse::<i64>() else {
        return Ok(Err(AdminProblem::NotFound));
    };
    let scope = current.viewer().school_scope();
    let mut tx = state.db.tenant_tx(tenant).await?;
    let outcome = school_admin::set_central(&mut tx, &current.actor(), &scope, org_id, central)
        .await
        .map_err(internal)?;
    if outcome.is_ok() {
        tx.commit().await?;
    }
    Ok(outcome.map(|_| central))
}

async fn assign(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
    id: &str,
    central_id: Option<i64>,
) -> Result<Result<(), AdminProblem>, PageError> {
    let Ok(org_id) = id.parse::<i64>() else {
        return Ok(Err(AdminProblem::NotFound));
    };
    let scope = current.viewer().school_scope();
    let mut tx = state.db.tenant_tx(tenant).await?;
    let outcome =
        school_admin::assign_central(&mut tx, &current.actor(), &scope, org_id, central_id)
            .await
            .map_err(internal)?;
    if outcome.is_ok() {
        tx.commit().await?;
    }
    Ok(outcome)
}

#[derive(Debug, Default, Deserialize)]
struct CentralForm {
    /// `1` to mark, anything else to unmark.
    #[serde(default)]
    is_central: String,
}

async fn submit_central(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    Path((_, id)): Path<(String, String)>,
    form: Result<Form<CentralForm>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let central = form.is_central == "1";
    let outcome = set_central(&state, &page.tenant, &current, &id, central)
        .await?
        .map(|marked| if marked { "central" } else { "uncentral" });
    after_form(
        &state,
        &page,
        &mut session,
        &current,
        &id,
        outcome,
        "central",
        String::new(),
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
struct AssignForm {
    /// The central school's id; empty to leave the current one.
    #[serde(default)]
    central_school_id: String,
}

async fn submit_assign(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    Path((_, id)): Path<(String, String)>,
    form: Result<Form<AssignForm>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let raw = form.central_school_id.trim();
    let outcome = if raw.is_empty() {
        assign(&state, &page.tenant, &current, &id, None)
            .await?
            .map(|()| "unassigned")
    } else {
        match raw.parse::<i64>() {
            Ok(central_id) => assign(&state, &page.tenant, &current, &id, Some(central_id))
                .await?
                .map(|()| "assigned"),
            Err(_) => Err(AdminProblem::NotCentral),
        }
    };
    after_form(
        &state,
        &page,
        &mut session,
        &current,
        &id,
        outcome,
        "assign",
        raw.to_string(),
    )
    .await
}

struct CentralRow {
    href: String,
    name: String,
    region_name: String,
    assigned: i64,
    schools: Vec<AssignedRow>,
}

struct AssignedRow {
    href: String,
    name: String,
    region_name: String,
    status_label: &'static str,
    contact_name: String,
    contact_mobile: String,
}

#[derive(Template)]
#[template(path = "central_schools.html")]
struct CentralPage {
    layout: Layout,
    schools_href: String,
    rows: Vec<CentralRow>,
}

async fn show_central(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
) -> Result<Html<String>, PageError> {
    let scope = current.viewer().school_scope();
    let mut tx = state.db.tenant_tx(&page.tenant).await?;
    let centrals = school_admin::central_schools(&mut tx, &scope)
        .await
        .map_err(internal)?;
    let mut rows = Vec::with_capacity(centrals.len());
    for c in centrals {
        let schools = school_admin::assigned_schools(&mut tx, &scope, c.org_id)
            .await
            .map_err(internal)?;
        rows.push(CentralRow {
            href: page.href(&format!("schools/{}", c.org_id)),
            name: c.name,
            region_name: c.region_name,
            assigned: c.assigned,
            schools: schools
                .into_iter()
                .map(|s| AssignedRow {
                    href: page.href(&format!("schools/{}", s.org_id)),
                    status_label: school_admin::school_status_label(&s.status),
                    contact_name: s.contact_name.unwrap_or_default(),
                    contact_mobile: masked(s.contact_mobile.as_deref()),
                    name: s.name,
                    region_name: s.region_name,
                })
                .collect(),
        });
    }
    tx.commit().await?;
    let view = CentralPage {
        layout: Layout::tenant(
            &page,
            &mut session,
            Section::CentralSchools,
            Some("中心校管理"),
        )
        .await?,
        schools_href: page.href("schools"),
        rows,
    };
    Ok(Html(view.render()?))
}

#[derive(Template)]
#[template(path = "schools_assigned.html")]
struct AssignedPage {
    layout: Layout,
    rows: Vec<AssignedRow>,
    active: usize,
    pending: usize,
}

/// The schools assigned to the viewer (a central school).
async fn load_assigned(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
) -> Result<Vec<xiaobao_identity::orgs::SchoolRow>, PageError> {
    let viewer = current.viewer();
    let scope = viewer.school_scope();
    // Only a central school's own scope has assigned schools; any other reads as none.
    if !matches!(scope, SchoolScope::Central { .. }) {
        return Ok(Vec::new());
    }
    let mut tx = state.db.tenant_tx(tenant).await?;
    let rows = school_admin::assigned_schools(&mut tx, &scope, viewer.org_id)
        .await
        .map_err(internal)?;
    tx.commit().await?;
    Ok(rows)
}

async fn show_assigned(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
) -> Result<Html<String>, PageError> {
    let rows = load_assigned(&state, &page.tenant, &current).await?;
    let active = rows.iter().filter(|r| r.status == "active").count();
    let pending = rows.iter().filter(|r| r.status == "pending").count();
    let view = AssignedPage {
        layout: Layout::tenant(
            &page,
            &mut session,
            Section::AssignedSchools,
            Some("所辖学校"),
        )
        .await?,
        active,
        pending,
        rows: rows
            .into_iter()
            .map(|s| AssignedRow {
                href: page.href(&format!("schools/{}", s.org_id)),
                status_label: school_admin::school_status_label(&s.status),
                contact_name: s.contact_name.unwrap_or_default(),
                contact_mobile: masked(s.contact_mobile.as_deref()),
                name: s.name,
                region_name: s.region_name,
            })
            .collect(),
    };
    Ok(Html(view.render()?))
}

/// A central school of one's region.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct CentralSchoolView {
    org_id: i64,
    name: String,
    region_code: String,
    region_name: String,
    /// Live schools assigned to it.
    assigned: i64,
}

impl From<CentralSchoolRow> for CentralSchoolView {
    fn from(c: CentralSchoolRow) -> Self {
        Self {
            org_id: c.org_id,
            name: c.name,
            region_code: c.region_code,
            region_name: c.region_name,
            assigned: c.assigned,
        }
    }
}

/// The central schools of one's region.
#[utoipa::path(get, path = "/api/v1/t/{slug}/central-schools", tag = "schools",
    params(("slug" = String, Path, description = "租户标识")),
    responses((status = 200, body = Vec<CentralSchoolView>), (status = 403, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_central_schools(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
) -> Result<Json<Vec<CentralSchoolView>>, ApiError> {
    let scope = current.viewer().school_scope();
    let mut tx = state.db.tenant_tx(&tenant).await?;
    let rows = school_admin::central_schools(&mut tx, &scope)
        .await
        .map_err(|e| ApiError::Internal(Box::new(e)))?;
    tx.commit().await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct CentralInput {
    /// `true` marks the school as a central school, `false` unmarks it.
    is_central: bool,
}

/// Marks or unmarks a school of one's region as a central school. The school's account gets
/// (or loses) the role `central_school` at its next sign-in.
#[utoipa::path(put, path = "/api/v1/t/{slug}/schools/{id}/central", tag = "schools",
    params(("slug" = String, Path, description = "租户标识"), ("id" = i64, Path, description = "学校（机构）编号")),
    request_body = CentralInput,
    responses((status = 204, description = "已设置"), (status = 404, body = crate::web::error::ErrorBody),
        (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_set_central(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
    Path(path): Path<(String, String)>,
    body: Result<Json<CentralInput>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let id = path.1;
    let Json(body) = body.map_err(|e| crate::schools::bad_json(&e))?;
    let outcome = set_central(&state, &tenant, &current, &id, body.is_central)
        .await
        .map_err(crate::web::error::page_to_api)?
        .map(|_| ());
    api_outcome(&state, &tenant, &current, &id, outcome).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct AssignInput {
    /// The central school to join, or `null` to leave the current one.
    central_school_id: Option<i64>,
}

/// Assigns a school of one's region to a central school of one's region, or takes it out.
#[utoipa::path(put, path = "/api/v1/t/{slug}/schools/{id}/central-school", tag = "schools",
    params(("slug" = String, Path, description = "租户标识"), ("id" = i64, Path, description = "学校（机构）编号")),
    request_body = AssignInput,
    responses((status = 204, description = "已划分"), (status = 404, body = crate::web::error::ErrorBody),
        (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_assign(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
    Path(path): Path<(String, String)>,
    body: Result<Json<AssignInput>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let id = path.1;
    let Json(body) = body.map_err(|e| crate::schools::bad_json(&e))?;
    let outcome = assign(&state, &tenant, &current, &id, body.central_school_id)
        .await
        .map_err(crate::web::error::page_to_api)?;
    api_outcome(&state, &tenant, &current, &id, outcome).await
}

/// The schools assigned to one's central school, every status, contact mobiles masked.
#[utoipa::path(get, path = "/api/v1/t/{slug}/assigned-schools", tag = "schools",
    params(("slug" = String, Path, description = "租户标识")),
    responses((status = 200, body = Vec<SchoolApiView>), (status = 403, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_assigned(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
) -> Result<Json<Vec<SchoolApiView>>, ApiError> {
    let rows = load_assigned(&state, &tenant, &current)
        .await
        .map_err(crate::web::error::page_to_api)?;
    Ok(Json(rows.into_iter().map(|r| api_view(r, false)).collect()))
}
