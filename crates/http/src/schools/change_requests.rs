//! 申请修改: a school's own record (`/t/{slug}/school`, 学校信息) with its requests for a new
//! name, a new region (a county or 市直 of the programme) or deregistration (merger or closure
//! only, with a reason) — one open request per kind. A central school submits the same
//! requests for one of its schools from the school's page (`/t/{slug}/schools/{id}`), recorded
//! as done on the school's behalf.
//!
//! The department (`CHANGE_REQUESTS_DECIDE`) lists the requests of its subtree
//! (`/t/{slug}/change-requests`) and approves — the change is applied, see
//! `school_admin::decide_request` — or refuses with a reason. A request outside the scope
//! answers 404 and the attempt is audited.
//!
//! API: `GET /api/v1/t/{slug}/school`, `POST …/school/change-requests`,
//! `GET …/change-requests`, `GET …/change-requests/{id}`, `POST …/change-requests/{id}/decision`.

use askama::Template;
use axum::Json;
use axum::extract::rejection::{FormRejection, JsonRejection, QueryRejection};
use axum::extract::{Form, Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use xiaobao_authz::Permission;
use xiaobao_identity::SchoolScope;
use xiaobao_identity::orgs::{self, SchoolRow};
use xiaobao_identity::school_admin::{
    self, AdminProblem, ChangeRequestRow, Decision, NewChangeRequest,
};

use crate::AppState;
use crate::schools::{
    FormProblem, SchoolApiView, after_form, api_view, bad_json, nature_label, problem_to_api,
    request_detail, type_label,
};
use crate::web::auth::{Current, Routes, audit_out_of_scope};
use crate::web::csrf::CsrfToken;
use crate::web::error::ApiError;
use crate::web::error::{PageError, internal};
use crate::web::layout::Layout;
use crate::web::nav::Section;
use crate::web::session::WebSession;
use crate::web::tenant::{ApiTenant, PageTenant};

/// Rows of the department's list.
const LIST_LIMIT: i64 = 200;

pub fn routes() -> Routes {
    let decide = Permission::CHANGE_REQUESTS_DECIDE;
    Routes::new()
        .guarded(
            Method::GET,
            "/t/{slug}/school",
            Permission::SCHOOL_PROFILE_READ,
            get(show_profile),
        )
        .guarded(
            Method::POST,
            "/t/{slug}/school/change-requests",
            Permission::SCHOOL_PROFILE_REQUEST_CHANGE,
            post(submit_own),
        )
        .guarded(
            Method::POST,
            "/t/{slug}/schools/{id}/change-requests",
            Permission::SCHOOL_PROFILE_REQUEST_CHANGE,
            post(submit_on_behalf),
        )
        .guarded(
            Method::GET,
            "/t/{slug}/change-requests",
            decide,
            get(show_list),
        )
        .guarded(
            Method::GET,
            "/t/{slug}/change-requests/{id}",
            decide,
            get(show_one),
        )
        .guarded(
            Method::POST,
            "/t/{slug}/change-requests/{id}/decision",
            decide,
            post(submit_decision),
        )
        .guarded(
            Method::GET,
            "/api/v1/t/{slug}/school",
            Permission::SCHOOL_PROFILE_READ,
            get(api_profile),
        )
        .guarded(
            Method::POST,
            "/api/v1/t/{slug}/school/change-requests",
            Permission::SCHOOL_PROFILE_REQUEST_CHANGE,
            post(api_request),
        )
        .guarded(
            Method::GET,
            "/api/v1/t/{slug}/change-requests",
            decide,
            get(api_list),
        )
        .guarded(
            Method::GET,
            "/api/v1/t/{slug}/change-requests/{id}",
            decide,
            get(api_get),
        )
        .guarded(
            Method::POST,
            "/api/v1/t/{slug}/change-requests/{id}/decision",
            decide,
            post(api_decide),
        )
}

fn request_not_found() -> ApiError {
    ApiError::NotFound("申请不存在".into())
}

// ---------------------------------------------------------------------------------------------
// The school's own record and its requests.

/// The viewer's own school and its requests; `None` when the viewer is not a school.
async fn load_profile(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
) -> Result<Option<(SchoolRow, Vec<ChangeRequestRow>)>, PageError> {
    let viewer = current.viewer();
    if viewer.org_kind != "school" {
        return Ok(None);
    }
    let own = SchoolScope::Own {
        org_id: viewer.org_id,
    };
    let mut tx = state.db.tenant_tx(tenant).await?;
    let school = orgs::get_school(&mut tx, &own, viewer.org_id)
        .await
        .map_err(internal)?;
    let requests = match &school {
        Some(_) => school_admin::list_requests(&mut tx, &own, false, 50)
            .await
            .map_err(internal)?,
        None => Vec::new(),
    };
    tx.commit().await?;
    Ok(school.map(|s| (s, requests)))
}

struct Choice {
    value: String,
    label: String,
    selected: bool,
}

struct RequestRow {
    kind: &'static str,
    detail: String,
    reason: String,
    status: &'static str,
    created_at: String,
    decided_at: String,
    decision_reason: String,
}

fn request_row(r: &ChangeRequestRow) -> RequestRow {
    RequestRow {
        kind: school_admin::kind_label(&r.kind),
        detail: request_detail(r),
        reason: r.reason.clone(),
        status: school_admin::request_status_label(&r.status),
        created_at: crate::web::time::cst(r.created_at),
        decided_at: r.decided_at.map(crate::web::time::cst).unwrap_or_default(),
        decision_reason: r.decision_reason.clone().unwrap_or_default(),
    }
}

#[derive(Template)]
#[template(path = "school_profile.html")]
struct ProfilePage {
    layout: Layout,
    csrf: CsrfToken,
    s: SchoolRow,
    status_label: &'static str,
    nature: String,
    school_type: String,
    created_at: String,
    action: String,
    regions: Vec<Choice>,
    requests: Vec<RequestRow>,
    /// Kinds with an open request: their forms are replaced by a note.
    open_kinds: Vec<String>,
    done: bool,
    problem: FormProblem,
}

impl ProfilePage {
    fn is_open(&self, kind: &str) -> bool {
        self.open_kinds.iter().any(|k| k == kind)
    }
}

#[derive(Debug, Default, Deserialize)]
struct DoneQuery {
    done: Option<String>,
}

async fn render_profile(
    state: &AppState,
    page: &PageTenant,
    session: &mut WebSession,
    current: &Current,
    done: bool,
    problem: FormProblem,
) -> Result<Html<String>, PageError> {
    let (school, requests) = load_profile(state, &page.tenant, current)
        .await?
        .ok_or(PageError::NotFound)?;
    let mut tx = state.db.tenant_tx(&page.tenant).await?;
    let regions = school_admin::school_regions(&mut tx)
        .await
        .map_err(internal)?;
    tx.commit().await?;
    let chosen = (problem.form == "move_region").then(|| problem.value.clone());
    let view = ProfilePage {
        layout: Layout::tenant(page, session, Section::Account, Some("学校信息")).await?,
        csrf: session.csrf_token().await?,
        status_label: school_admin::school_status_label(&school.status),
        nature: nature_label(school.nature.as_deref()),
        school_type: type_label(school.school_type.as_deref()),
        created_at: crate::web::time::cst(school.created_at),
        action: page.href("school/change-requests"),
        regions: regions
            .into_iter()
            .filter(|r| r.region_code != school.region_code)
            .map(|r| Choice {
                selected: chosen.as_deref() == Some(r.region_code.as_str()),
                value: r.region_code,
                label: r.name,
            })
            .collect(),
        open_kinds: requests
            .iter()
            .filter(|r| r.status == "pending")
            .map(|r| r.kind.clone())
            .collect(),
        requests: requests.iter().map(request_row).collect(),
        done,
        problem,
        s: school,
    };
    Ok(Html(view.render()?))
}

async fn show_profile(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    query: Result<Query<DoneQuery>, QueryRejection>,
) -> Result<Html<String>, PageError> {
    let done = query.ok().and_then(|Query(q)| q.done).is_some();
    render_profile(
        &state,
        &page,
        &mut session,
        &current,
        done,
        FormProblem::default(),
    )
    .await
}

/// A change request as a form or the API sends it.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct RequestInput {
    /// `rename`, `move_region` or `deregister`.
    #[serde(default)]
    kind: String,
    /// The new full name (`rename`).
    #[serde(default)]
    new_name: Option<String>,
    /// The new region: a county or 市直 code of the programme (`move_region`).
    #[serde(default)]
    new_region_code: Option<String>,
    /// `merger` or `closure` (`deregister`).
    #[serde(default)]
    deregister_cause: Option<String>,
    /// Why (2–500 characters).
    #[serde(default)]
    reason: String,
}

impl RequestInput {
    fn to_new(&self) -> NewChangeRequest {
        NewChangeRequest {
            kind: self.kind.clone(),
            new_name: self.new_name.clone(),
            new_region_code: self.new_region_code.clone(),
            deregister_cause: self.deregister_cause.clone(),
            reason: self.reason.clone(),
        }
    }

    /// The value to show again in the refused form.
    fn shown_value(&self) -> String {
        match self.kind.as_str() {
            "rename" => self.new_name.clone().unwrap_or_default(),
            "move_region" => self.new_region_code.clone().unwrap_or_default(),
            _ => self.deregister_cause.clone().unwrap_or_default(),
        }
    }
}

/// Submits a request for the school `org_id` of the viewer's scope: its own (a school), or one
/// of a central school's schools (on its behalf). Returns the new request's id.
async fn submit_request(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
    org_id: i64,
    input: &RequestInput,
) -> Result<Result<i64, AdminProblem>, PageError> {
    let viewer = current.viewer();
    let (scope, actor, on_behalf) = if org_id == viewer.org_id {
        (SchoolScope::Own { org_id }, current.actor(), None)
    } else {
        (
            viewer.school_scope(),
            school_admin::acting_for(&current.actor(), org_id),
            Some(org_id),
        )
    };
    // Only a central school acts for other schools; any other scope finds nothing here.
    if on_behalf.is_some() && !matches!(scope, SchoolScope::Central { .. }) {
        return Ok(Err(AdminProblem::NotFound));
    }
    let mut tx = state.db.tenant_tx(tenant).await?;
    let outcome =
        school_admin::request_change(&mut tx, &actor, &scope, org_id, on_behalf, &input.to_new())
            .await
            .map_err(internal)?;
    if outcome.is_ok() {
        tx.commit().await?;
    }
    Ok(outcome)
}

async fn submit_own(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    form: Result<Form<RequestInput>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    if current.viewer().org_kind != "school" {
        return Err(PageError::NotFound);
    }
    let org_id = current.viewer().org_id;
    match submit_request(&state, &page.tenant, &current, org_id, &form).await? {
        Ok(_) => Ok(Redirect::to(&page.href("school?done=1")).into_response()),
        Err(problem) => {
            let form_name = match form.kind.as_str() {
                "rename" => "rename",
                "move_region" => "move_region",
                "deregister" => "deregister",
                _ => "",
            };
            let html = render_profile(
                &state,
                &page,
                &mut session,
                &current,
                false,
                FormProblem {
                    form: form_name,
                    message: problem.to_string(),
                    value: form.shown_value(),
                },
            )
            .await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
    }
}

async fn submit_on_behalf(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    Path((_, id)): Path<(String, String)>,
    form: Result<Form<RequestInput>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let outcome = match id.parse::<i64>() {
        Ok(org_id) => submit_request(&state, &page.tenant, &current, org_id, &form)
            .await?
            .map(|_| "requested"),
        Err(_) => Err(AdminProblem::NotFound),
    };
    after_form(
        &state,
        &page,
        &mut session,
        &current,
        &id,
        outcome,
        "request",
        form.shown_value(),
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// The department's side.

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub(crate) struct ListQuery {
    /// `pending` (default) or `all` (the latest, decided ones included).
    status: Option<String>,
}

async fn load_list(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
    pending_only: bool,
) -> Result<Vec<ChangeRequestRow>, PageError> {
    let scope = current.viewer().school_scope();
    let mut tx = state.db.tenant_tx(tenant).await?;
    let rows = school_admin::list_requests(&mut tx, &scope, pending_only, LIST_LIMIT)
        .await
        .map_err(internal)?;
    tx.commit().await?;
    Ok(rows)
}

/// One request of the viewer's scope; a miss is audited.
async fn load_one(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
    id: &str,
) -> Result<Option<ChangeRequestRow>, PageError> {
    let row = match id.parse::<i64>() {
        Ok(request_id) => {
            let scope = current.viewer().school_scope();
            let mut tx = state.db.tenant_tx(tenant).await?;
            let row = school_admin::get_request(&mut tx, &scope, request_id)
                .await
                .map_err(internal)?;
            tx.commit().await?;
            row
        }
        Err(_) => None,
    };
    if row.is_none() {
        audit_out_of_scope(state, tenant, current, "change_request", id).await;
    }
    Ok(row)
}

struct ListRow {
    href: String,
    school_name: String,
    region_name: String,
    kind: &'static str,
    detail: String,
    reason: String,
    status: &'static str,
    created_at: String,
}

struct Tab {
    label: &'static str,
    href: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "change_requests.html")]
struct ListPage {
    layout: Layout,
    tabs: Vec<Tab>,
    pending_only: bool,
    rows: Vec<ListRow>,
    schools_href: String,
}

async fn show_list(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Html<String>, PageError> {
    let pending_only = query.ok().and_then(|Query(q)| q.status).as_deref() != Some("all");
    let rows = load_list(&state, &page.tenant, &current, pending_only).await?;
    let view = ListPage {
        layout: Layout::tenant(&page, &mut session, Section::Schools, Some("变更申请")).await?,
        tabs: vec![
            Tab {
                label: "待审核",
                href: page.href("change-requests"),
                current: pending_only,
            },
            Tab {
                label: "全部",
                href: page.href("change-requests?status=all"),
                current: !pending_only,
            },
        ],
        pending_only,
        rows: rows
            .iter()
            .map(|r| ListRow {
                href: page.href(&format!("change-requests/{}", r.change_request_id)),
                school_name: r.school_name.clone(),
                region_name: r.region_name.clone(),
                kind: school_admin::kind_label(&r.kind),
                detail: request_detail(r),
                reason: r.reason.clone(),
                status: school_admin::request_status_label(&r.status),
                created_at: crate::web::time::cst(r.created_at),
            })
            .collect(),
        schools_href: page.href("schools"),
    };
    Ok(Html(view.render()?))
}

#[derive(Template)]
#[template(path = "change_request_detail.html")]
struct DetailPage {
    layout: Layout,
    csrf: CsrfToken,
    r: ChangeRequestRow,
    kind: &'static str,
    detail: String,
    status: &'static str,
    created_at: String,
    decided_at: String,
    school_href: String,
    list_href: String,
    action: String,
    done: Option<&'static str>,
    error: Option<String>,
    reason: String,
}

async fn render_one(
    page: &PageTenant,
    session: &mut WebSession,
    r: ChangeRequestRow,
    done: Option<&'static str>,
    error: Option<String>,
    reason: String,
) -> Result<Html<String>, PageError> {
    let id = r.change_request_id;
    let view = DetailPage {
        layout: Layout::tenant(page, session, Section::Schools, Some("变更申请")).await?,
        csrf: session.csrf_token().await?,
        kind: school_admin::kind_label(&r.kind),
        detail: request_detail(&r),
        status: school_admin::request_status_label(&r.status),
        created_at: crate::web::time::cst(r.created_at),
        decided_at: r.decided_at.map(crate::web::time::cst).unwrap_or_default(),
        school_href: page.href(&format!("schools/{}", r.org_id)),
        list_href: page.href("change-requests"),
        action: page.href(&format!("change-requests/{id}/decision")),
        done,
        error,
        reason,
        r,
    };
    Ok(Html(view.render()?))
}

async fn show_one(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    Path((_, id)): Path<(String, String)>,
    query: Result<Query<DoneQuery>, QueryRejection>,
) -> Result<Html<String>, PageError> {
    let r = load_one(&state, &page.tenant, &current, &id)
        .await?
        .ok_or(PageError::NotFound)?;
    let done = match query.ok().and_then(|Query(q)| q.done).as_deref() {
        Some("approved") => Some("已批准，变更已生效。"),
        Some("refused") => Some("已驳回该申请，学校可在学校信息中查看驳回理由。"),
        _ => None,
    };
    render_one(&page, &mut session, r, done, None, String::new()).await
}

/// A decision as a form or the API sends it.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct DecisionInput {
    /// `approve` or `refuse`.
    #[serde(default)]
    decision: String,
    /// Required when refusing (2–500 characters); shown to the school.
    #[serde(default)]
    reason: Option<String>,
}

impl DecisionInput {
    fn decision(&self) -> Option<Decision> {
        match self.decision.as_str() {
            "approve" => Some(Decision::Approve),
            "refuse" => Some(Decision::Refuse(self.reason.clone().unwrap_or_default())),
            _ => None,
        }
    }
}

/// Decides in one transaction; `Ok(None)` outside the scope (audited by the caller).
async fn decide(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
    id: &str,
    decision: &Decision,
) -> Result<Result<ChangeRequestRow, AdminProblem>, PageError> {
    let Ok(request_id) = id.parse::<i64>() else {
        return Ok(Err(AdminProblem::NotFound));
    };
    let scope = current.viewer().school_scope();
    let mut tx = state.db.tenant_tx(tenant).await?;
    let outcome =
        school_admin::decide_request(&mut tx, &current.actor(), &scope, request_id, decision)
            .await
            .map_err(internal)?;
    if outcome.is_ok() {
        tx.commit().await?;
    }
    Ok(outcome)
}

async fn submit_decision(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    Path((_, id)): Path<(String, String)>,
    form: Result<Form<DecisionInput>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let outcome = match form.decision() {
        Some(decision) => decide(&state, &page.tenant, &current, &id, &decision).await?,
        None => Err(AdminProblem::BadKind),
    };
    match outcome {
        Ok(decided) => {
            let done = if decided.status == "approved" {
                "approved"
            } else {
                "refused"
            };
            Ok(
                Redirect::to(&page.href(&format!("change-requests/{id}?done={done}")))
                    .into_response(),
            )
        }
        Err(AdminProblem::NotFound) => {
            audit_out_of_scope(&state, &page.tenant, &current, "change_request", &id).await;
            Err(PageError::NotFound)
        }
        Err(problem) => {
            let r = load_one(&state, &page.tenant, &current, &id)
                .await?
                .ok_or(PageError::NotFound)?;
            let status = if problem == AdminProblem::AlreadyDecided {
                StatusCode::CONFLICT
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            let message = if problem == AdminProblem::BadKind {
                "请选择批准或驳回".to_string()
            } else {
                problem.to_string()
            };
            let html = render_one(
                &page,
                &mut session,
                r,
                None,
                Some(message),
                form.reason.unwrap_or_default(),
            )
            .await?;
            Ok((status, html).into_response())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// API.

/// A change request.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ChangeRequestView {
    change_request_id: i64,
    org_id: i64,
    school_name: String,
    region_code: String,
    region_name: String,
    /// `rename`, `move_region` or `deregister`.
    kind: String,
    new_name: Option<String>,
    new_region_code: Option<String>,
    new_region_name: Option<String>,
    /// `merger` or `closure`.
    deregister_cause: Option<String>,
    reason: String,
    /// `pending`, `approved` or `refused`.
    status: String,
    /// The school, when a central school submitted the request for it.
    on_behalf_of: Option<i64>,
    created_at: DateTime<FixedOffset>,
    decided_at: Option<DateTime<FixedOffset>>,
    decision_reason: Option<String>,
}

impl From<ChangeRequestRow> for ChangeRequestView {
    fn from(r: ChangeRequestRow) -> Self {
        Self {
            change_request_id: r.change_request_id,
            org_id: r.org_id,
            school_name: r.school_name,
            region_code: r.region_code,
            region_name: r.region_name,
            kind: r.kind,
            new_name: r.new_name,
            new_region_code: r.new_region_code,
            new_region_name: r.new_region_name,
            deregister_cause: r.deregister_cause,
            reason: r.reason,
            status: r.status,
            on_behalf_of: r.on_behalf_of,
            created_at: crate::web::time::to_cst(r.created_at),
            decided_at: r.decided_at.map(crate::web::time::to_cst),
            decision_reason: r.decision_reason,
        }
    }
}

/// A school's own record and its requests.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ProfileView {
    school: SchoolApiView,
    requests: Vec<ChangeRequestView>,
}

/// One's own school (schools and central schools) and its change requests.
#[utoipa::path(get, path = "/api/v1/t/{slug}/school", tag = "schools",
    params(("slug" = String, Path, description = "租户标识")),
    responses((status = 200, body = ProfileView), (status = 403, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_profile(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
) -> Result<Json<ProfileView>, ApiError> {
    let (school, requests) = load_profile(&state, &tenant, &current)
        .await
        .map_err(crate::web::error::page_to_api)?
        .ok_or_else(|| problem_to_api(AdminProblem::NotFound))?;
    Ok(Json(ProfileView {
        school: api_view(school, true),
        requests: requests.into_iter().map(Into::into).collect(),
    }))
}

/// Asks the department for a new name, a new region or deregistration (one open request per
/// kind).
#[utoipa::path(post, path = "/api/v1/t/{slug}/school/change-requests", tag = "schools",
    params(("slug" = String, Path, description = "租户标识")),
    request_body = RequestInput,
    responses((status = 201, body = ChangeRequestView), (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_request(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
    body: Result<Json<RequestInput>, JsonRejection>,
) -> Result<(StatusCode, Json<ChangeRequestView>), ApiError> {
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    let viewer = current.viewer();
    if viewer.org_kind != "school" {
        return Err(problem_to_api(AdminProblem::NotFound));
    }
    let id = submit_request(&state, &tenant, &current, viewer.org_id, &body)
        .await
        .map_err(crate::web::error::page_to_api)?
        .map_err(problem_to_api)?;
    let mut tx = state.db.tenant_tx(&tenant).await?;
    let row = school_admin::get_request(
        &mut tx,
        &SchoolScope::Own {
            org_id: viewer.org_id,
        },
        id,
    )
    .await
    .map_err(|e| ApiError::Internal(Box::new(e)))?;
    tx.commit().await?;
    let row = row.ok_or_else(request_not_found)?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

/// The requests of the schools of one's region, newest first (pending unless asked).
#[utoipa::path(get, path = "/api/v1/t/{slug}/change-requests", operation_id = "list_change_requests", tag = "schools",
    params(("slug" = String, Path, description = "租户标识"), ListQuery),
    responses((status = 200, body = Vec<ChangeRequestView>), (status = 403, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_list(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Vec<ChangeRequestView>>, ApiError> {
    let pending_only = query.ok().and_then(|Query(q)| q.status).as_deref() != Some("all");
    let rows = load_list(&state, &tenant, &current, pending_only)
        .await
        .map_err(crate::web::error::page_to_api)?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

/// One request of a school of one's region.
#[utoipa::path(get, path = "/api/v1/t/{slug}/change-requests/{id}", operation_id = "get_change_request", tag = "schools",
    params(("slug" = String, Path, description = "租户标识"), ("id" = i64, Path, description = "申请编号")),
    responses((status = 200, body = ChangeRequestView), (status = 404, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_get(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
    Path(path): Path<(String, String)>,
) -> Result<Json<ChangeRequestView>, ApiError> {
    let id = path.1;
    load_one(&state, &tenant, &current, &id)
        .await
        .map_err(crate::web::error::page_to_api)?
        .map(|r| Json(r.into()))
        .ok_or_else(request_not_found)
}

/// Approves (the change is applied) or refuses (with a reason) a pending request.
#[utoipa::path(post, path = "/api/v1/t/{slug}/change-requests/{id}/decision", operation_id = "decide_change_request", tag = "schools",
    params(("slug" = String, Path, description = "租户标识"), ("id" = i64, Path, description = "申请编号")),
    request_body = DecisionInput,
    responses((status = 200, body = ChangeRequestView), (status = 404, body = crate::web::error::ErrorBody),
        (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_decide(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
    Path(path): Path<(String, String)>,
    body: Result<Json<DecisionInput>, JsonRejection>,
) -> Result<Json<ChangeRequestView>, ApiError> {
    let id = path.1;
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    let Some(decision) = body.decision() else {
        return Err(ApiError::invalid(
            "decision",
            "decision 应为 approve 或 refuse",
        ));
    };
    match decide(&state, &tenant, &current, &id, &decision)
        .await
        .map_err(crate::web::error::page_to_api)?
    {
        Ok(row) => Ok(Json(row.into())),
        Err(AdminProblem::NotFound) => {
            audit_out_of_scope(&state, &tenant, &current, "change_request", &id).await;
            Err(request_not_found())
        }
        Err(problem) => Err(problem_to_api(problem)),
    }
}
