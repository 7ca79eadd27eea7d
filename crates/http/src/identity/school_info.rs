//! 账户信息 of a school (seed 001, 一、学校操作 5): 修改基本信息 — the contact person (明白人),
//! principal and address, which a school changes itself; its name and region change only
//! through a change request on 学校信息 (`/t/{slug}/school`), which the page says — and
//! 修改手机号: the new contact mobile gets an SMS code (through the outbox, limited like the
//! other codes), and only that code for that number changes it. A wrong or expired code is
//! refused and counts towards the code's tries. Every change and every code is audited.
//!
//! Pages: `/t/{slug}/account/school-info` (both forms), `POST …/account/school-info`,
//! `POST …/account/mobile/code`, `POST …/account/mobile`.
//! API: `PUT /api/v1/t/{slug}/me/school-info`, `POST …/me/mobile/code`, `PUT …/me/mobile`.

use askama::Template;
use axum::Json;
use axum::extract::rejection::{FormRejection, JsonRejection, QueryRejection};
use axum::extract::{Form, Query};
use axum::http::{Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use utoipa_axum::routes;
use xiaobao_authz::Permission;
use xiaobao_domain::{Failure, Outcome, Refusal};
use xiaobao_identity::Limit;
use xiaobao_identity::orgs::SchoolRow;
use xiaobao_identity::school_admin::BasicInfo;
use xiaobao_identity::service::Schools;
use xiaobao_identity::service::recovery::CodePolicy;

use crate::AppState;
use crate::web::auth::Routes;
use crate::web::call::{ApiCall, Called, PageCall};
use crate::web::csrf::CsrfToken;
use crate::web::error::{ApiError, PageError, bad_json, refusal_status};
use crate::web::layout::Layout;
use crate::web::nav::Section;
use crate::web::session::WebSession;

pub fn routes() -> Routes {
    let edit = Permission::SCHOOL_PROFILE_EDIT;
    Routes::new()
        .page(Method::GET, "/t/{slug}/account/school-info", edit, show)
        .page(
            Method::POST,
            "/t/{slug}/account/school-info",
            edit,
            submit_info,
        )
        .page(
            Method::POST,
            "/t/{slug}/account/mobile/code",
            edit,
            submit_code,
        )
        .page(
            Method::POST,
            "/t/{slug}/account/mobile",
            edit,
            submit_mobile,
        )
        .api(edit, routes!(api_update_info))
        .api(edit, routes!(api_mobile_code))
        .api(edit, routes!(api_change_mobile))
}

fn service(call: &impl Called) -> Schools {
    Schools::new(call.caller())
}

/// How mobile codes are issued: the programme's limit per number and hour, and their life.
fn code_policy(state: &AppState) -> CodePolicy {
    let auth = &state.config.auth;
    CodePolicy {
        per_mobile: Limit {
            max: auth.codes_per_mobile_per_hour,
            window_secs: 3600,
        },
        ttl_mins: auth.code_ttl_mins,
    }
}

/// The basic information as a form or the API sends it.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct InfoInput {
    /// The contact person (明白人), at most 50 characters.
    #[serde(default)]
    contact_name: String,
    /// The principal (校长/园长), at most 50 characters.
    #[serde(default)]
    principal: String,
    /// The school's address, at most 200 characters.
    #[serde(default)]
    address: String,
}

impl InfoInput {
    fn to_info(&self) -> BasicInfo {
        BasicInfo {
            contact_name: self.contact_name.clone(),
            principal: self.principal.clone(),
            address: self.address.clone(),
        }
    }
}

/// A new mobile, and (to confirm it) the code sent to it.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct MobileChangeInput {
    /// The new contact mobile (11 digits).
    #[serde(default)]
    contact_mobile: String,
    /// The six-digit code sent to the new mobile (confirming only).
    #[serde(default)]
    code: String,
}

/// Which form a message belongs to, the field and the message.
#[derive(Debug, Default)]
struct Problem {
    form: &'static str,
    field: String,
    message: String,
}

#[derive(Template)]
#[template(path = "school_info.html")]
struct InfoPage {
    layout: Layout,
    csrf: CsrfToken,
    s: SchoolRow,
    contact_name: String,
    principal: String,
    address: String,
    mobile_masked: String,
    profile_href: String,
    info_action: String,
    code_action: String,
    mobile_action: String,
    /// The number a code was sent to: the form asks for the code.
    pending_mobile: Option<String>,
    pending_masked: String,
    typed_mobile: String,
    done: Option<&'static str>,
    problem: Problem,
}

#[derive(Default)]
struct Shown {
    info: Option<InfoInput>,
    /// The new mobile as typed, shown again when it was refused.
    typed_mobile: String,
    pending_mobile: Option<String>,
    done: Option<&'static str>,
    problem: Problem,
}

async fn render(
    call: &PageCall,
    session: &mut WebSession,
    shown: Shown,
) -> Result<Html<String>, PageError> {
    let page = &call.page;
    let profile = call.take(service(call).profile().await).await?;
    let s = profile.school;
    let (contact_name, principal, address) = match shown.info {
        Some(i) => (i.contact_name, i.principal, i.address),
        None => (
            s.contact_name.clone().unwrap_or_default(),
            s.principal.clone().unwrap_or_default(),
            s.address.clone().unwrap_or_default(),
        ),
    };
    let view = InfoPage {
        layout: Layout::tenant(page, session, Section::Account, Some("修改学校信息")).await?,
        csrf: session.csrf_token().await?,
        contact_name,
        principal,
        address,
        mobile_masked: s
            .contact_mobile
            .as_deref()
            .map(xiaobao_audit::mask_phone)
            .unwrap_or_default(),
        profile_href: page.href("school"),
        info_action: page.href("account/school-info"),
        code_action: page.href("account/mobile/code"),
        mobile_action: page.href("account/mobile"),
        pending_masked: shown
            .pending_mobile
            .as_deref()
            .map(xiaobao_audit::mask_phone)
            .unwrap_or_default(),
        pending_mobile: shown.pending_mobile,
        typed_mobile: shown.typed_mobile,
        done: shown.done,
        problem: shown.problem,
        s,
    };
    Ok(Html(view.render()?))
}

#[derive(Debug, Default, Deserialize)]
struct DoneQuery {
    done: Option<String>,
}

fn done_message(done: &str) -> Option<&'static str> {
    Some(match done {
        "info" => "基本信息已保存。",
        "unchanged" => "基本信息没有变化，无需保存。",
        "mobile" => "联系人手机号已修改，今后可使用新手机号登录；已通过短信告知原手机号。",
        _ => return None,
    })
}

async fn show(
    call: PageCall,
    mut session: WebSession,
    query: Result<Query<DoneQuery>, QueryRejection>,
) -> Result<Html<String>, PageError> {
    let done = query
        .ok()
        .and_then(|Query(q)| q.done)
        .and_then(|d| done_message(&d));
    let shown = Shown {
        done,
        ..Shown::default()
    };
    render(&call, &mut session, shown).await
}

/// A refusal shown beside its form, with the refusal's status; anything else as the error
/// page.
async fn refused(
    call: &PageCall,
    session: &mut WebSession,
    failure: Failure,
    form: &'static str,
    mut shown: Shown,
) -> Result<Response, PageError> {
    let refusal = match failure {
        Failure::Refused(r) if !r.is_not_found() => r,
        f => return Err(call.fail(f).await),
    };
    shown.problem = Problem {
        form,
        field: refusal.field.as_deref().unwrap_or("").to_string(),
        message: refusal.message.clone(),
    };
    let html = render(call, session, shown).await?;
    Ok((refusal_status(refusal.class), html).into_response())
}

async fn submit_info(
    call: PageCall,
    mut session: WebSession,
    form: Result<Form<InfoInput>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    match service(&call).update_basic_info(&form.to_info()).await {
        Ok(changed) => {
            let done = if changed { "info" } else { "unchanged" };
            Ok(
                Redirect::to(&call.page.href(&format!("account/school-info?done={done}")))
                    .into_response(),
            )
        }
        Err(f) => {
            let shown = Shown {
                info: Some(form),
                ..Shown::default()
            };
            refused(&call, &mut session, f, "info", shown).await
        }
    }
}

async fn send_code(call: &impl Called, state: &AppState, mobile: &str) -> Outcome<()> {
    service(call)
        .send_mobile_code(
            &state.auth.codes,
            &state.auth.limiter,
            code_policy(state),
            mobile,
        )
        .await
}

async fn submit_code(
    call: PageCall,
    mut session: WebSession,
    form: Result<Form<MobileChangeInput>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let mobile = form.contact_mobile.trim().to_string();
    match send_code(&call, &call.state, &mobile).await {
        Ok(()) => {
            let shown = Shown {
                pending_mobile: Some(mobile),
                ..Shown::default()
            };
            Ok(render(&call, &mut session, shown).await?.into_response())
        }
        Err(f) => {
            let shown = Shown {
                typed_mobile: mobile,
                ..Shown::default()
            };
            refused(&call, &mut session, f, "mobile", shown).await
        }
    }
}

async fn submit_mobile(
    call: PageCall,
    mut session: WebSession,
    form: Result<Form<MobileChangeInput>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let mobile = form.contact_mobile.trim().to_string();
    let outcome = service(&call)
        .confirm_mobile(&call.state.auth.codes, &mobile, &form.code)
        .await;
    match outcome {
        Ok(()) => {
            Ok(Redirect::to(&call.page.href("account/school-info?done=mobile")).into_response())
        }
        Err(f) => {
            // A wrong code keeps the code form; a number refused goes back to the first step.
            let on_code = f
                .refusal()
                .is_some_and(|r| r.field.as_deref() == Some("code"));
            let shown = Shown {
                typed_mobile: mobile.clone(),
                pending_mobile: on_code.then_some(mobile),
                ..Shown::default()
            };
            refused(&call, &mut session, f, "mobile", shown).await
        }
    }
}

/// Changes one's own school's basic information (contact person, principal, address). The
/// name and region change only through a change request, the contact mobile with an SMS code.
#[utoipa::path(put, path = "/api/v1/t/{slug}/me/school-info", operation_id = "update_own_school_info", tag = "schools",
    params(("slug" = String, Path, description = "租户标识")),
    request_body = InfoInput,
    responses((status = 204, description = "已保存"), (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_update_info(
    call: ApiCall,
    body: Result<Json<InfoInput>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    let outcome = service(&call).update_basic_info(&body.to_info()).await;
    call.done(outcome).await
}

/// Sends a code to a new contact mobile of one's own school (`contact_mobile`); only that code
/// confirms that number. Limited per account and number.
#[utoipa::path(post, path = "/api/v1/t/{slug}/me/mobile/code", operation_id = "send_own_mobile_code", tag = "schools",
    params(("slug" = String, Path, description = "租户标识")),
    request_body = MobileChangeInput,
    responses((status = 204, description = "验证码已发送到新手机号"), (status = 422, body = crate::web::error::ErrorBody),
        (status = 429, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_mobile_code(
    call: ApiCall,
    body: Result<Json<MobileChangeInput>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    let outcome = send_code(&call, &call.state, &body.contact_mobile).await;
    call.done(outcome).await
}

/// Changes one's own school's contact mobile with the code sent to it (`contact_mobile`,
/// `code`). A wrong or expired code is refused on `code` and counts towards the code's tries.
#[utoipa::path(put, path = "/api/v1/t/{slug}/me/mobile", operation_id = "change_own_mobile", tag = "schools",
    params(("slug" = String, Path, description = "租户标识")),
    request_body = MobileChangeInput,
    responses((status = 204, description = "已修改"), (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_change_mobile(
    call: ApiCall,
    body: Result<Json<MobileChangeInput>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    if body.code.trim().is_empty() {
        return call
            .done::<()>(Err(
                Refusal::invalid_field("code", "请输入短信验证码").into()
            ))
            .await;
    }
    let outcome = service(&call)
        .confirm_mobile(&call.state.auth.codes, &body.contact_mobile, &body.code)
        .await;
    call.done(outcome).await
}
