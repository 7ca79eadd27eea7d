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
use axum::extract::{Form, Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use xiaobao_authz::Permission;
use xiaobao_domain::school::{SchoolNature, SchoolType};
use xiaobao_identity::CodePurpose;
use xiaobao_identity::registration::{self, DecideProblem, Registration};
use xiaobao_notify::{Notification, Template as Message};
use xiaobao_storage::DownloadToken;

use crate::AppState;
use crate::web::auth::{Current, Routes, audit_out_of_scope};
use crate::web::csrf::CsrfToken;
use crate::web::error::ApiError;
use crate::web::error::{PageError, internal};
use crate::web::layout::Layout;
use crate::web::nav::Section;
use crate::web::session::WebSession;
use crate::web::tenant::{ApiTenant, PageTenant};

/// How long a download link of a qualification document works.
const DOWNLOAD_TTL_SECS: u64 = 30 * 60;
/// Rows of one list.
const LIST_LIMIT: i64 = 200;

pub fn routes() -> Routes {
    let p = Permission::REGISTRATIONS_DECIDE;
    Routes::new()
        .guarded(Method::GET, "/t/{slug}/registrations", p, get(show_list))
        .guarded(
            Method::GET,
            "/t/{slug}/registrations/{id}",
            p,
            get(show_one),
        )
        .guarded(
            Method::POST,
            "/t/{slug}/registrations/{id}/approve",
            p,
            post(submit_approve),
        )
        .guarded(
            Method::POST,
            "/t/{slug}/registrations/{id}/refuse",
            p,
            post(submit_refuse),
        )
        .guarded(
            Method::GET,
            "/api/v1/t/{slug}/registrations",
            p,
            get(api_list),
        )
        .guarded(
            Method::GET,
            "/api/v1/t/{slug}/registrations/{id}",
            p,
            get(api_get),
        )
        .guarded(
            Method::POST,
            "/api/v1/t/{slug}/registrations/{id}/approve",
            p,
            post(api_approve),
        )
        .guarded(
            Method::POST,
            "/api/v1/t/{slug}/registrations/{id}/refuse",
            p,
            post(api_refuse),
        )
}

fn status_label(status: &str) -> &'static str {
    match status {
        "pending" => "待审核",
        "active" => "已通过",
        "refused" => "已退回",
        _ => "已注销",
    }
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

fn list_status(q: Option<String>) -> &'static str {
    match q.as_deref() {
        Some("active") => "active",
        Some("refused") => "refused",
        _ => "pending",
    }
}

async fn load_list(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
    status: &str,
) -> Result<Vec<Registration>, PageError> {
    let scope = current.viewer().school_scope();
    let mut tx = state.db.tenant_tx(tenant).await?;
    let rows = registration::list(&mut tx, &scope, status, LIST_LIMIT)
        .await
        .map_err(internal)?;
    tx.commit().await?;
    Ok(rows)
}

/// One registration in the viewer's scope; a miss is audited (`access.out_of_scope`).
async fn load_one(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
    id: &str,
) -> Result<Option<Registration>, PageError> {
    let Ok(org_id) = id.parse::<i64>() else {
        return Ok(None);
    };
    let scope = current.viewer().school_scope();
    let mut tx = state.db.tenant_tx(tenant).await?;
    let row = registration::get(&mut tx, &scope, org_id)
        .await
        .map_err(internal)?;
    tx.commit().await?;
    if row.is_none() {
        audit_out_of_scope(state, tenant, current, "organisation", id).await;
    }
    Ok(row)
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
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Html<String>, PageError> {
    let status = list_status(query.ok().and_then(|Query(q)| q.status));
    let rows = load_list(&state, &page.tenant, &current, status).await?;
    let tabs = ["pending", "active", "refused"]
        .into_iter()
        .map(|s| StatusTab {
            label: status_label(s),
            href: page.href(&format!("registrations?status={s}")),
            current: s == status,
        })
        .collect();
    let view = ListPage {
        layout: Layout::tenant(
            &page,
            &mut session,
            Section::Registrations,
            Some("注册审核"),
        )
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
        status_label: status_label(&r.status),
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
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    Path((_, id)): Path<(String, String)>,
    query: Result<Query<DecidedQuery>, QueryRejection>,
) -> Result<Html<String>, PageError> {
    let r = load_one(&state, &page.tenant, &current, &id)
        .await?
        .ok_or(PageError::NotFound)?;
    let decided = query
        .ok()
        .and_then(|Query(q)| q.decided)
        .filter(|d| d == "approved" || d == "refused")
        .unwrap_or_default();
    render_one(&state, &page, &mut session, r, decided, String::new(), None).await
}

/// The outcome of a decision.
enum Decided {
    Done,
    NotFound,
    Already(String),
}

/// Approves in one transaction: the school active, audited, its set-password link issued and
/// the SMS to its contact queued.
async fn approve(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
    id: &str,
) -> Result<Decided, PageError> {
    let Ok(org_id) = id.parse::<i64>() else {
        return Ok(Decided::NotFound);
    };
    let scope = current.viewer().school_scope();
    let mut tx = state.db.tenant_tx(tenant).await?;
    let approved = match registration::approve(&mut tx, &current.actor(), &scope, org_id)
        .await
        .map_err(internal)?
    {
        Ok(a) => a,
        Err(DecideProblem::NotFound) => {
            drop(tx);
            audit_out_of_scope(state, tenant, current, "organisation", id).await;
            return Ok(Decided::NotFound);
        }
        Err(DecideProblem::AlreadyDecided(status)) => return Ok(Decided::Already(status)),
    };
    let ttl = chrono::Duration::hours(i64::from(state.config.auth.link_ttl_hours));
    let token = state
        .auth
        .codes
        .issue_link_token(&mut tx, approved.account_id, CodePurpose::SetPassword, ttl)
        .await
        .map_err(internal)?;
    let url = format!(
        "{}/t/{}/activate?token={token}",
        state.config.public_url(),
        tenant.slug
    );
    xiaobao_notify::queue(
        &mut tx,
        &Notification::sms(
            approved.contact_mobile.clone(),
            Message::RegistrationApproved {
                school_name: approved.school_name.clone(),
                set_password_url: url,
            },
        ),
    )
    .await
    .map_err(internal)?;
    tx.commit().await?;
    tracing::info!(tenant.slug = %tenant.slug, org.id = approved.org_id, "registration approved");
    Ok(Decided::Done)
}

/// A refusal reason, trimmed, or the message for the field.
fn check_reason(reason: &str) -> Result<String, &'static str> {
    let reason = reason.trim();
    if reason.is_empty() {
        Err("请填写退回原因")
    } else if reason.chars().count() < 2 {
        Err("退回原因至少 2 个字")
    } else if reason.chars().count() > 500 {
        Err("退回原因最多 500 个字")
    } else {
        Ok(reason.to_string())
    }
}

async fn refuse(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
    id: &str,
    reason: &str,
) -> Result<Decided, PageError> {
    let Ok(org_id) = id.parse::<i64>() else {
        return Ok(Decided::NotFound);
    };
    let scope = current.viewer().school_scope();
    let mut tx = state.db.tenant_tx(tenant).await?;
    match registration::refuse(&mut tx, &current.actor(), &scope, org_id, reason)
        .await
        .map_err(internal)?
    {
        Ok(()) => {
            // The school learns why, by SMS to the contact it registered, with the refusal.
            let contact: Option<(String, Option<String>)> =
                sqlx::query_as("select name, contact_mobile from organisations where org_id = $1")
                    .bind(org_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(internal)?;
            if let Some((school_name, Some(mobile))) = contact {
                xiaobao_notify::queue(
                    &mut tx,
                    &Notification::sms(
                        mobile,
                        Message::RegistrationRefused {
                            school_name,
                            reason: reason.to_string(),
                        },
                    ),
                )
                .await
                .map_err(internal)?;
            }
            tx.commit().await?;
            Ok(Decided::Done)
        }
        Err(DecideProblem::NotFound) => {
            drop(tx);
            audit_out_of_scope(state, tenant, current, "organisation", id).await;
            Ok(Decided::NotFound)
        }
        Err(DecideProblem::AlreadyDecided(status)) => Ok(Decided::Already(status)),
    }
}

fn already_message(status: &str) -> String {
    format!("该注册申请已处理（{}），无需重复操作", status_label(status))
}

async fn submit_approve(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    match approve(&state, &page.tenant, &current, &id).await? {
        Decided::Done => Ok(Redirect::to(
            &page.href(&format!("registrations/{id}?decided=approved")),
        )
        .into_response()),
        Decided::NotFound => Err(PageError::NotFound),
        Decided::Already(status) => {
            decided_conflict(&state, &page, &mut session, &current, &id, &status).await
        }
    }
}

/// The registration page again, with a note that it was already decided (409).
async fn decided_conflict(
    state: &AppState,
    page: &PageTenant,
    session: &mut WebSession,
    current: &Current,
    id: &str,
    status: &str,
) -> Result<Response, PageError> {
    let r = load_one(state, &page.tenant, current, id)
        .await?
        .ok_or(PageError::NotFound)?;
    let html = render_one(
        state,
        page,
        session,
        r,
        String::new(),
        String::new(),
        Some(already_message(status)),
    )
    .await?;
    Ok((StatusCode::CONFLICT, html).into_response())
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct RefuseForm {
    /// Why the registration is refused (shown to the school; 2–500 characters).
    #[serde(default)]
    reason: String,
}

async fn submit_refuse(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    Path((_, id)): Path<(String, String)>,
    form: Result<Form<RefuseForm>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let reason = match check_reason(&form.reason) {
        Ok(r) => r,
        Err(message) => {
            let r = load_one(&state, &page.tenant, &current, &id)
                .await?
                .ok_or(PageError::NotFound)?;
            let html = render_one(
                &state,
                &page,
                &mut session,
                r,
                String::new(),
                form.reason,
                Some(message.to_string()),
            )
            .await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response());
        }
    };
    match refuse(&state, &page.tenant, &current, &id, &reason).await? {
        Decided::Done => Ok(Redirect::to(
            &page.href(&format!("registrations/{id}?decided=refused")),
        )
        .into_response()),
        Decided::NotFound => Err(PageError::NotFound),
        Decided::Already(status) => {
            decided_conflict(&state, &page, &mut session, &current, &id, &status).await
        }
    }
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
        status: r.status,
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
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
    query: Result<Query<ApiListQuery>, QueryRejection>,
) -> Result<Json<Vec<RegistrationView>>, ApiError> {
    let status = list_status(query.ok().and_then(|Query(q)| q.status));
    let rows = load_list(&state, &tenant, &current, status)
        .await
        .map_err(crate::web::error::page_to_api)?;
    Ok(Json(
        rows.into_iter()
            .map(|r| view(&state, &tenant.slug, r))
            .collect(),
    ))
}

fn not_found() -> ApiError {
    ApiError::NotFound("注册申请不存在".into())
}

/// One registration in one's region.
#[utoipa::path(get, path = "/api/v1/t/{slug}/registrations/{id}", operation_id = "get_registration", tag = "identity",
    params(("slug" = String, Path, description = "租户标识"), ("id" = i64, Path, description = "学校（机构）编号")),
    responses((status = 200, body = RegistrationView), (status = 404, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_get(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
    Path(path): Path<(String, String)>,
) -> Result<Json<RegistrationView>, ApiError> {
    let id = path.1;
    let r = load_one(&state, &tenant, &current, &id)
        .await
        .map_err(crate::web::error::page_to_api)?
        .ok_or_else(not_found)?;
    Ok(Json(view(&state, &tenant.slug, r)))
}

fn decided_to_api(d: Decided) -> Result<StatusCode, ApiError> {
    match d {
        Decided::Done => Ok(StatusCode::NO_CONTENT),
        Decided::NotFound => Err(not_found()),
        Decided::Already(status) => Err(ApiError::InvalidInput {
            field: None,
            message: already_message(&status),
        }),
    }
}

/// Approves a pending registration: the school becomes active and its contact receives the
/// set-password link by SMS.
#[utoipa::path(post, path = "/api/v1/t/{slug}/registrations/{id}/approve", tag = "identity",
    params(("slug" = String, Path, description = "租户标识"), ("id" = i64, Path, description = "学校（机构）编号")),
    responses((status = 204, description = "已通过"), (status = 404, body = crate::web::error::ErrorBody),
        (status = 422, description = "已处理过", body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_approve(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
    Path(path): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id = path.1;
    decided_to_api(
        approve(&state, &tenant, &current, &id)
            .await
            .map_err(crate::web::error::page_to_api)?,
    )
}

/// Refuses a pending registration with a reason.
#[utoipa::path(post, path = "/api/v1/t/{slug}/registrations/{id}/refuse", tag = "identity",
    params(("slug" = String, Path, description = "租户标识"), ("id" = i64, Path, description = "学校（机构）编号")),
    request_body = RefuseForm,
    responses((status = 204, description = "已退回"), (status = 404, body = crate::web::error::ErrorBody),
        (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_refuse(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
    Path(path): Path<(String, String)>,
    body: Result<Json<RefuseForm>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let id = path.1;
    let Json(body) = body.map_err(|e| crate::web::error::bad_json(&e))?;
    let reason = check_reason(&body.reason).map_err(|m| ApiError::invalid("reason", m))?;
    decided_to_api(
        refuse(&state, &tenant, &current, &id, &reason)
            .await
            .map_err(crate::web::error::page_to_api)?,
    )
}
