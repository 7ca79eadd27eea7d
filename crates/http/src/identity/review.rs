//! 注册审核: an education department reviews the schools that registered in its region —
//! the list (`/t/{slug}/registrations`), one registration with its qualification document, and
//! the decision: approve (the contact gets a set-password link by SMS, queued in the same
//! transaction) or refuse with a reason. Everything is filtered by the department's region in
//! SQL; a registration outside it answers 404 and the attempt is audited.
//!
//! API: `GET /api/v1/t/{slug}/registrations`, `GET …/registrations/{id}`,
//! `POST …/registrations/{id}/approve`, `POST …/registrations/{id}/refuse` (`{"reason": …}`).

use askama::Template;
use axum::Json;
use axum::extract::rejection::{FormRejection, JsonRejection, QueryRejection};
use axum::extract::{Form, Path, Query};
use axum::http::{Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use utoipa_axum::routes;
use xiaobao_authz::Permission;
use xiaobao_domain::OrgStatus;
use xiaobao_domain::ids::OrgId;
use xiaobao_domain::school::{SchoolNature, SchoolType};
use xiaobao_domain::{Failure, Outcome};
use xiaobao_identity::registration::Registration;
use xiaobao_identity::service::review::status_label;
use xiaobao_identity::service::{Reviews, SetPasswordLink};
use xiaobao_storage::DownloadToken;

use crate::AppState;
use crate::web::auth::Routes;
use crate::web::call::{ApiCall, Called, PageCall, path_id};
use crate::web::csrf::CsrfToken;
use crate::web::error::{ApiError, PageError, refusal_status};
use crate::web::layout::Layout;
use crate::web::nav::Section;
use crate::web::session::WebSession;
use crate::web::tenant::PageTenant;

/// How long a download link of a qualification document works.
const DOWNLOAD_TTL_SECS: u64 = 30 * 60;

pub fn routes() -> Routes {
    let p = Permission::REGISTRATIONS_DECIDE;
    Routes::new()
        .page(Method::GET, "/t/{slug}/registrations", p, show_list)
        .page(Method::GET, "/t/{slug}/registrations/{id}", p, show_one)
        .page(
            Method::POST,
            "/t/{slug}/registrations/{id}/approve",
            p,
            submit_approve,
        )
        .page(
            Method::POST,
            "/t/{slug}/registrations/{id}/refuse",
            p,
            submit_refuse,
        )
        .api(p, routes!(api_list))
        .api(p, routes!(api_get))
        .api(p, routes!(api_approve))
        .api(p, routes!(api_refuse))
}

fn nature_label(code: Option<&str>) -> String {
    code.and_then(|c| c.parse::<SchoolNature>().ok())
        .map(|n| n.label().to_string())
        .unwrap_or_default()
}

fn type_label(code: Option<&str>) -> String {
    code.and_then(|c| c.parse::<SchoolType>().ok())
        .map(|t| t.label().to_string())
        .unwrap_or_default()
}

/// The page path of a document's signed download link.
fn download_path(state: &AppState, base: &str, slug: &str, document_id: i64) -> Option<String> {
    let ttl = std::time::Duration::from_secs(DOWNLOAD_TTL_SECS);
    match DownloadToken::issue(
        &state.download_key,
        slug,
        document_id,
        state.clock.now(),
        ttl,
    ) {
        Ok(token) => Some(format!("{base}documents/{document_id}?token={token}")),
        Err(error) => {
            tracing::error!(%error, "download token");
            None
        }
    }
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    status: Option<String>,
}

/// The tab a list shows: approved, refused, or pending (anything else).
fn list_status(q: Option<String>) -> OrgStatus {
    match q.as_deref() {
        Some("active") => OrgStatus::Active,
        Some("refused") => OrgStatus::Refused,
        _ => OrgStatus::Pending,
    }
}

fn reviews(call: &impl Called) -> Reviews {
    Reviews::new(call.caller())
}

/// One registration (`id`, a path segment) of the caller's scope.
async fn load_one(call: &impl Called, id: &str) -> Outcome<Registration> {
    reviews(call).get(path_id::<OrgId>(id)?).await
}

struct Row {
    href: String,
    name: String,
    region_name: String,
    nature: String,
    school_type: String,
    contact_name: String,
    contact_mobile: String,
    submitted_at: String,
    /// 自行注册, or the central school that registered it.
    registered_by: String,
}

struct StatusTab {
    label: &'static str,
    href: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "registrations.html")]
struct ListPage {
    layout: Layout,
    tabs: Vec<StatusTab>,
    status_label: &'static str,
    rows: Vec<Row>,
}

async fn show_list(
    call: PageCall,
    mut session: WebSession,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Html<String>, PageError> {
    let status = list_status(query.ok().and_then(|Query(q)| q.status));
    let rows = call.take(reviews(&call).list(status).await).await?;
    let page = &call.page;
    let tabs = [OrgStatus::Pending, OrgStatus::Active, OrgStatus::Refused]
        .into_iter()
        .map(|s| StatusTab {
            label: status_label(s),
            href: page.href(&format!("registrations?status={s}")),
            current: s == status,
        })
        .collect();
    let view = ListPage {
        layout: Layout::tenant(page, &mut session, Section::Registrations, Some("注册审核"))
            .await?,
        tabs,
        status_label: status_label(status),
        rows: rows
            .into_iter()
            .map(|r| Row {
                href: page.href(&format!("registrations/{}", r.org_id)),
                nature: nature_label(r.nature.as_deref()),
                school_type: type_label(r.school_type.as_deref()),
                contact_name: r.contact_name.unwrap_or_default(),
                contact_mobile: r.contact_mobile.unwrap_or_default(),
                submitted_at: crate::web::time::cst(r.created_at),
                registered_by: r
                    .registered_by_name
                    .map_or_else(|| "自行注册".to_string(), |c| format!("{c}代注册")),
                name: r.name,
                region_name: r.region_name,
            })
            .collect(),
    };
    Ok(Html(view.render()?))
}

#[derive(Template)]
#[template(path = "registration.html")]
struct DetailPage {
    layout: Layout,
    csrf: CsrfToken,
    r: Registration,
    status_label: &'static str,
    nature: String,
    school_type: String,
    submitted_at: String,
    decided_at: String,
    download_href: Option<String>,
    approve_action: String,
    refuse_action: String,
    list_href: String,
    /// `approved` / `refused` right after a decision.
    decided: String,
    reason: String,
    reason_error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct DecidedQuery {
    decided: Option<String>,
}

async fn render_one(
    state: &AppState,
    page: &PageTenant,
    session: &mut WebSession,
    r: Registration,
    decided: String,
    reason: String,
    reason_error: Option<String>,
) -> Result<Html<String>, PageError> {
    let download_href = r
        .qualification_document_id
        .and_then(|id| download_path(state, &page.base, &page.tenant.slug, id));
    let view = DetailPage {
        layout: Layout::tenant(page, session, Section::Registrations, Some("注册审核")).await?,
        csrf: session.csrf_token().await?,
        status_label: status_label(r.status),
        nature: nature_label(r.nature.as_deref()),
        school_type: type_label(r.school_type.as_deref()),
        submitted_at: crate::web::time::cst(r.created_at),
        decided_at: r.decided_at.map(crate::web::time::cst).unwrap_or_default(),
        download_href,
        approve_action: page.href(&format!("registrations/{}/approve", r.org_id)),
        refuse_action: page.href(&format!("registrations/{}/refuse", r.org_id)),
        list_href: page.href("registrations"),
        decided,
        reason,
        reason_error,
        r,
    };
    Ok(Html(view.render()?))
}

async fn show_one(
    call: PageCall,
    mut session: WebSession,
    Path((_, id)): Path<(String, String)>,
    query: Result<Query<DecidedQuery>, QueryRejection>,
) -> Result<Html<String>, PageError> {
    let r = call.take(load_one(&call, &id).await).await?;
    let decided = query
        .ok()
        .and_then(|Query(q)| q.decided)
        .filter(|d| d == "approved" || d == "refused")
        .unwrap_or_default();
    render_one(
        &call.state,
        &call.page,
        &mut session,
        r,
        decided,
        String::new(),
        None,
    )
    .await
}

/// Where the set-password link of an approval points and how long it lives.
fn set_password_link(state: &AppState, slug: &str) -> SetPasswordLink {
    SetPasswordLink {
        activate_url: format!("{}/t/{slug}/activate", state.config.public_url()),
        ttl: chrono::Duration::hours(i64::from(state.config.auth.link_ttl_hours)),
    }
}

async fn approve(call: &impl Called, state: &AppState, slug: &str, id: &str) -> Outcome<()> {
    reviews(call)
        .approve(
            path_id::<OrgId>(id)?,
            &state.auth.codes,
            &set_password_link(state, slug),
        )
        .await
}

async fn refuse(call: &impl Called, id: &str, reason: &str) -> Outcome<()> {
    reviews(call).refuse(path_id::<OrgId>(id)?, reason).await
}

/// After a decision: to the registration with a note, or its page again with the refusal
/// beside the form (409 when it was already decided).
async fn after_decision(
    call: &PageCall,
    session: &mut WebSession,
    id: &str,
    outcome: Outcome<()>,
    decided: &str,
    reason: String,
) -> Result<Response, PageError> {
    let refusal = match outcome {
        Ok(()) => {
            let to = call
                .page
                .href(&format!("registrations/{id}?decided={decided}"));
            return Ok(Redirect::to(&to).into_response());
        }
        Err(Failure::Refused(r)) if !r.is_not_found() => r,
        Err(f) => return Err(call.fail(f).await),
    };
    let r = call.take(load_one(call, id).await).await?;
    let status = refusal_status(refusal.class);
    let html = render_one(
        &call.state,
        &call.page,
        session,
        r,
        String::new(),
        reason,
        Some(refusal.message),
    )
    .await?;
    Ok((status, html).into_response())
}

async fn submit_approve(
    call: PageCall,
    mut session: WebSession,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let outcome = approve(&call, &call.state, &call.page.tenant.slug, &id).await;
    after_decision(&call, &mut session, &id, outcome, "approved", String::new()).await
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct RefuseForm {
    /// Why the registration is refused (shown to the school; 2–500 characters).
    #[serde(default)]
    reason: String,
}

async fn submit_refuse(
    call: PageCall,
    mut session: WebSession,
    Path((_, id)): Path<(String, String)>,
    form: Result<Form<RefuseForm>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let outcome = refuse(&call, &id, &form.reason).await;
    after_decision(&call, &mut session, &id, outcome, "refused", form.reason).await
}

/// A registration as the API shows it to its reviewer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct RegistrationView {
    org_id: i64,
    name: String,
    region_code: String,
    region_name: String,
    /// `pending`, `active` (approved) or `refused`.
    status: String,
    nature: Option<String>,
    school_type: Option<String>,
    address: Option<String>,
    principal: Option<String>,
    contact_name: Option<String>,
    contact_mobile: Option<String>,
    qualification_document_id: Option<i64>,
    qualification_name: Option<String>,
    /// A signed download link of the qualification document (valid 30 minutes).
    qualification_download_url: Option<String>,
    submitted_at: DateTime<FixedOffset>,
    decided_at: Option<DateTime<FixedOffset>>,
    refusal_reason: Option<String>,
    /// The central school that registered it on the school's behalf (增加所辖学校); the
    /// school is assigned to it on approval.
    registered_by_org_id: Option<i64>,
    registered_by_name: Option<String>,
}

fn view(state: &AppState, slug: &str, r: Registration) -> RegistrationView {
    RegistrationView {
        qualification_download_url: r
            .qualification_document_id
            .and_then(|id| download_path(state, &format!("/t/{slug}/"), slug, id)),
        org_id: r.org_id,
        name: r.name,
        region_code: r.region_code,
        region_name: r.region_name,
        status: r.status.to_string(),
        nature: r.nature,
        school_type: r.school_type,
        address: r.address,
        principal: r.principal,
        contact_name: r.contact_name,
        contact_mobile: r.contact_mobile,
        qualification_document_id: r.qualification_document_id,
        qualification_name: r.qualification_name,
        submitted_at: crate::web::time::to_cst(r.created_at),
        decided_at: r.decided_at.map(crate::web::time::to_cst),
        refusal_reason: r.refusal_reason,
        registered_by_org_id: r.registered_by_org_id,
        registered_by_name: r.registered_by_name,
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ApiListQuery {
    /// `pending` (default), `active` or `refused`.
    status: Option<String>,
}

/// Registrations in one's region, oldest first (pending unless asked).
#[utoipa::path(get, path = "/api/v1/t/{slug}/registrations", operation_id = "list_registrations", tag = "identity",
    params(("slug" = String, Path, description = "租户标识"), ApiListQuery),
    responses((status = 200, body = Vec<RegistrationView>),
        (status = 401, body = crate::web::error::ErrorBody), (status = 403, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_list(
    call: ApiCall,
    query: Result<Query<ApiListQuery>, QueryRejection>,
) -> Result<Json<Vec<RegistrationView>>, ApiError> {
    let status = list_status(query.ok().and_then(|Query(q)| q.status));
    let rows = call.answer(reviews(&call).list(status).await).await?.0;
    let slug = &call.tenant.slug;
    Ok(Json(
        rows.into_iter()
            .map(|r| view(&call.state, slug, r))
            .collect(),
    ))
}

/// One registration in one's region.
#[utoipa::path(get, path = "/api/v1/t/{slug}/registrations/{id}", operation_id = "get_registration", tag = "identity",
    params(("slug" = String, Path, description = "租户标识"), ("id" = i64, Path, description = "学校（机构）编号")),
    responses((status = 200, body = RegistrationView), (status = 404, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_get(
    call: ApiCall,
    Path(path): Path<(String, String)>,
) -> Result<Json<RegistrationView>, ApiError> {
    let id = path.1;
    let r = call.answer(load_one(&call, &id).await).await?.0;
    Ok(Json(view(&call.state, &call.tenant.slug, r)))
}

/// Approves a pending registration: the school becomes active and its contact receives the
/// set-password link by SMS.
#[utoipa::path(post, path = "/api/v1/t/{slug}/registrations/{id}/approve", tag = "identity",
    params(("slug" = String, Path, description = "租户标识"), ("id" = i64, Path, description = "学校（机构）编号")),
    responses((status = 204, description = "已通过"), (status = 404, body = crate::web::error::ErrorBody),
        (status = 409, description = "已处理过", body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_approve(
    call: ApiCall,
    Path(path): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id = path.1;
    let outcome = approve(&call, &call.state, &call.tenant.slug, &id).await;
    call.done(outcome).await
}

/// Refuses a pending registration with a reason.
#[utoipa::path(post, path = "/api/v1/t/{slug}/registrations/{id}/refuse", tag = "identity",
    params(("slug" = String, Path, description = "租户标识"), ("id" = i64, Path, description = "学校（机构）编号")),
    request_body = RefuseForm,
    responses((status = 204, description = "已退回"), (status = 404, body = crate::web::error::ErrorBody),
        (status = 409, description = "已处理过", body = crate::web::error::ErrorBody),
        (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_refuse(
    call: ApiCall,
    Path(path): Path<(String, String)>,
    body: Result<Json<RefuseForm>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let id = path.1;
    let Json(body) = body.map_err(|e| crate::web::error::bad_json(&e))?;
    let outcome = refuse(&call, &id, &body.reason).await;
    call.done(outcome).await
}
