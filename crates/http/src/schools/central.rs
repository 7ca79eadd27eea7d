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
use axum::extract::rejection::{FormRejection, JsonRejection, QueryRejection};
use axum::extract::{Form, Path, Query};
use axum::http::{Method, StatusCode};
use axum::response::{Html, Response};
use serde::{Deserialize, Serialize};
use utoipa_axum::routes;
use xiaobao_authz::Permission;
use xiaobao_domain::OrgStatus;
use xiaobao_domain::Outcome;
use xiaobao_domain::ids::OrgId;
use xiaobao_identity::orgs::SchoolRow;
use xiaobao_identity::school_admin::{self, AdminProblem, CentralSchoolRow};

use crate::schools::{SchoolApiView, after_form, api_view, masked, service};
use crate::web::auth::Routes;
use crate::web::call::{ApiCall, Called, PageCall, path_id};
use crate::web::error::{ApiError, PageError, bad_json};
use crate::web::layout::Layout;
use crate::web::nav::Section;
use crate::web::session::WebSession;
use crate::web::tenant::PageTenant;

pub fn routes() -> Routes {
    let manage = Permission::CENTRAL_SCHOOLS_MANAGE;
    Routes::new()
        .page(
            Method::GET,
            "/t/{slug}/central-schools",
            manage,
            show_central,
        )
        .page(
            Method::POST,
            "/t/{slug}/schools/{id}/central",
            manage,
            submit_central,
        )
        .page(
            Method::POST,
            "/t/{slug}/schools/{id}/central-school",
            manage,
            submit_assign,
        )
        .page(
            Method::GET,
            "/t/{slug}/assigned-schools",
            Permission::ASSIGNED_SCHOOLS_LIST,
            show_assigned,
        )
        .api(manage, routes!(api_central_schools))
        .api(manage, routes!(api_set_central))
        .api(manage, routes!(api_assign))
        .api(Permission::ASSIGNED_SCHOOLS_LIST, routes!(api_assigned))
}

/// Marks or unmarks the school `id` (a path segment); `true` when marked.
async fn set_central(call: &impl Called, id: &str, central: bool) -> Outcome<bool> {
    service(call)
        .set_central(path_id::<OrgId>(id)?, central)
        .await
}

async fn assign(call: &impl Called, id: &str, central_id: Option<i64>) -> Outcome<()> {
    service(call)
        .assign(path_id::<OrgId>(id)?, central_id)
        .await
}

#[derive(Debug, Default, Deserialize)]
struct CentralForm {
    /// `1` to mark, anything else to unmark.
    #[serde(default)]
    is_central: String,
}

async fn submit_central(
    call: PageCall,
    mut session: WebSession,
    Path((_, id)): Path<(String, String)>,
    form: Result<Form<CentralForm>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let outcome = set_central(&call, &id, form.is_central == "1")
        .await
        .map(|marked| if marked { "central" } else { "uncentral" });
    after_form(&call, &mut session, &id, outcome, "central", String::new()).await
}

#[derive(Debug, Default, Deserialize)]
struct AssignForm {
    /// The central school's id; empty to leave the current one.
    #[serde(default)]
    central_school_id: String,
}

async fn submit_assign(
    call: PageCall,
    mut session: WebSession,
    Path((_, id)): Path<(String, String)>,
    form: Result<Form<AssignForm>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let raw = form.central_school_id.trim();
    let outcome = if raw.is_empty() {
        assign(&call, &id, None).await.map(|()| "unassigned")
    } else {
        match raw.parse::<i64>() {
            Ok(central_id) => assign(&call, &id, Some(central_id))
                .await
                .map(|()| "assigned"),
            Err(_) => Err(AdminProblem::NotCentral.into()),
        }
    };
    after_form(&call, &mut session, &id, outcome, "assign", raw.to_string()).await
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
    /// The year's enrolment in words (on 所辖学校).
    enrolment: String,
}

#[derive(Template)]
#[template(path = "central_schools.html")]
struct CentralPage {
    layout: Layout,
    schools_href: String,
    rows: Vec<CentralRow>,
}

async fn show_central(call: PageCall, mut session: WebSession) -> Result<Html<String>, PageError> {
    let page = &call.page;
    let centrals = call
        .take(service(&call).centrals_with_schools().await)
        .await?;
    let rows = centrals
        .into_iter()
        .map(|(c, schools)| CentralRow {
            href: page.href(&format!("schools/{}", c.org_id)),
            name: c.name,
            region_name: c.region_name,
            assigned: c.assigned,
            schools: schools
                .into_iter()
                .map(|s| assigned_row(page, s, String::new()))
                .collect(),
        })
        .collect();
    let view = CentralPage {
        layout: Layout::tenant(
            page,
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

fn assigned_row(page: &PageTenant, s: SchoolRow, enrolment: String) -> AssignedRow {
    AssignedRow {
        enrolment,
        href: page.href(&format!("schools/{}", s.org_id)),
        status_label: school_admin::school_status_label(s.status),
        contact_name: s.contact_name.unwrap_or_default(),
        contact_mobile: masked(s.contact_mobile.as_deref()),
        name: s.name,
        region_name: s.region_name,
    }
}

#[derive(Template)]
#[template(path = "schools_assigned.html")]
struct AssignedPage {
    layout: Layout,
    rows: Vec<AssignedRow>,
    active: usize,
    pending: usize,
    /// 增加所辖学校, when the role may.
    new_href: Option<String>,
    /// A registration was just filed on a school's behalf.
    registered: bool,
}

#[derive(Debug, Default, Deserialize)]
struct AssignedQuery {
    done: Option<String>,
}

async fn show_assigned(
    call: PageCall,
    mut session: WebSession,
    query: Result<Query<AssignedQuery>, QueryRejection>,
) -> Result<Html<String>, PageError> {
    let registered = query
        .ok()
        .and_then(|Query(q)| q.done)
        .is_some_and(|d| d == "registered");
    let new_href = call
        .state
        .auth
        .authz
        .allows(
            &call.current.viewer().roles,
            Permission::ASSIGNED_SCHOOLS_REGISTER,
        )
        .then(|| call.page.href("assigned-schools/new"));
    let rows = call.take(service(&call).assigned().await).await?;
    // The year's enrolment of each (the central school's scope is these schools).
    let mut progress = xiaobao_enrolment::Enrolments::new(call.caller())
        .schools()
        .await
        .map(|l| l.progress)
        .unwrap_or_default();
    let page = &call.page;
    let active = rows
        .iter()
        .filter(|r| r.status == OrgStatus::Active)
        .count();
    let pending = rows
        .iter()
        .filter(|r| r.status == OrgStatus::Pending)
        .count();
    let view = AssignedPage {
        layout: Layout::tenant(
            page,
            &mut session,
            Section::AssignedSchools,
            Some("所辖学校"),
        )
        .await?,
        active,
        pending,
        new_href,
        registered,
        rows: rows
            .into_iter()
            .map(|s| {
                let enrolment = progress
                    .remove(&s.org_id)
                    .unwrap_or_else(|| "—".to_string());
                assigned_row(page, s, enrolment)
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
    call: ApiCall,
) -> Result<Json<Vec<CentralSchoolView>>, ApiError> {
    let rows = call.answer(service(&call).central_schools().await).await?.0;
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
    call: ApiCall,
    Path(path): Path<(String, String)>,
    body: Result<Json<CentralInput>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let id = path.1;
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    let outcome = set_central(&call, &id, body.is_central).await;
    call.done(outcome).await
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
    call: ApiCall,
    Path(path): Path<(String, String)>,
    body: Result<Json<AssignInput>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let id = path.1;
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    let outcome = assign(&call, &id, body.central_school_id).await;
    call.done(outcome).await
}

/// The schools assigned to one's central school, every status, contact mobiles masked.
#[utoipa::path(get, path = "/api/v1/t/{slug}/assigned-schools", tag = "schools",
    params(("slug" = String, Path, description = "租户标识")),
    responses((status = 200, body = Vec<SchoolApiView>), (status = 403, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_assigned(call: ApiCall) -> Result<Json<Vec<SchoolApiView>>, ApiError> {
    let rows = call.answer(service(&call).assigned().await).await?.0;
    Ok(Json(rows.into_iter().map(|r| api_view(r, false)).collect()))
}
