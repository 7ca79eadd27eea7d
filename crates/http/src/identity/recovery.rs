//! Account recovery for schools, from the login page:
//!
//! - 忘记密码 (`/t/{slug}/forgot-password`): the registered contact mobile receives a six-digit
//!   code by SMS; the code with a new password (twice) sets it. The answer to "send" is the same
//!   whether or not the mobile is registered. Codes expire, work once, and five wrong tries use
//!   them up; requests are limited per mobile and per client.
//! - 忘记账号 (`/t/{slug}/forgot-account`): the school's full name and an image captcha show
//!   the login name and the contact mobile, masked (138****1234). Limited per client.
//!
//! API: `POST /api/v1/t/{slug}/password-reset/code`, `POST /api/v1/t/{slug}/password-reset`,
//! `POST /api/v1/t/{slug}/account-lookup` (with a challenge of `GET …/captcha`).

use askama::Template;
use axum::Json;
use axum::extract::rejection::{FormRejection, JsonRejection};
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use utoipa_axum::routes;
use xiaobao_domain::Failure;
use xiaobao_identity::captcha::CaptchaError;
use xiaobao_identity::service::Recovery;
use xiaobao_identity::service::recovery::CodePolicy;
use xiaobao_identity::{Limit, PasswordProblem};

use crate::AppState;
use crate::identity::anon::{client_over_limit, guest, normalise_mobile, retry_message, too_many};
use crate::identity::login::normalise_login_name;
use crate::web::auth::{ClientMeta, Routes};
use crate::web::csrf::CsrfToken;
use crate::web::error::ApiError;
use crate::web::error::PageError;
use crate::web::layout::Layout;
use crate::web::nav::Section;
use crate::web::session::WebSession;
use crate::web::tenant::{ApiTenant, PageTenant};

/// Code requests per client address and hour (the per-mobile limit is configured).
const CODES_PER_IP_PER_HOUR: u32 = 20;
/// Reset attempts (code + new password) per client address and hour.
const RESETS_PER_IP_PER_HOUR: u32 = 30;
/// Account look-ups per client address and hour.
const LOOKUPS_PER_IP_PER_HOUR: u32 = 20;
/// What "send" answers, whether or not the mobile is registered.
const SENT: &str = "如该手机号已注册，验证码已发送，请查收短信";

pub fn routes() -> Routes {
    Routes::new()
        .open(
            "/t/{slug}/forgot-password",
            get(show_forgot_password).post(submit_reset),
        )
        .open("/t/{slug}/forgot-password/code", post(submit_code_request))
        .open(
            "/t/{slug}/forgot-account",
            get(show_forgot_account).post(submit_lookup),
        )
        .open_api(routes!(api_request_code))
        .open_api(routes!(api_reset))
        .open_api(routes!(api_lookup))
}

fn json_error(e: JsonRejection) -> ApiError {
    crate::web::error::bad_json(&e)
}

/// What asking for a code led to, as the visitor sees it.
enum CodeAnswer {
    /// The same for a registered and an unknown mobile.
    Sent,
    InvalidMobile(&'static str),
    Limited(String),
}

/// Counts the request (client, then mobile), issues a code for a registered mobile and queues
/// the SMS in the same transaction.
async fn request_code(
    state: &AppState,
    tenant: &std::sync::Arc<xiaobao_db::Tenant>,
    meta: &ClientMeta,
    raw_mobile: &str,
) -> Result<CodeAnswer, PageError> {
    let Some(mobile) = normalise_mobile(raw_mobile) else {
        return Ok(CodeAnswer::InvalidMobile(if raw_mobile.trim().is_empty() {
            "请输入注册联系人手机号"
        } else {
            "手机号格式不正确，请输入 11 位手机号码"
        }));
    };
    let per_ip = Limit {
        max: CODES_PER_IP_PER_HOUR,
        window_secs: 3600,
    };
    if let Some(secs) = client_over_limit(state, "reset-code", &tenant.slug, meta, per_ip).await? {
        return Ok(CodeAnswer::Limited(retry_message("获取验证码", secs)));
    }
    let auth = &state.config.auth;
    let per_mobile = Limit {
        max: auth.codes_per_mobile_per_hour,
        window_secs: 3600,
    };
    let policy = CodePolicy {
        per_mobile,
        ttl_mins: auth.code_ttl_mins,
    };
    let outcome = Recovery::new(guest(state, tenant, meta))
        .request_code(&state.auth.codes, &state.auth.limiter, &mobile, policy)
        .await;
    match outcome {
        Ok(()) => Ok(CodeAnswer::Sent),
        Err(Failure::Refused(r)) if r.retry_after_secs.is_some() => {
            Ok(CodeAnswer::Limited(r.message))
        }
        Err(f) => Err(f.into()),
    }
}

/// The reset form's fields.
#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub(crate) struct ResetInput {
    /// The registered contact mobile.
    mobile: String,
    /// The six-digit code of the SMS.
    code: String,
    new_password: String,
    /// Forms only: the new password typed again.
    #[schema(ignore)]
    confirm_password: Option<String>,
}

#[derive(Default)]
struct ResetErrors {
    form: Option<String>,
    mobile: Option<String>,
    code: Option<String>,
    new: Option<String>,
    confirm: Option<String>,
}

impl ResetErrors {
    fn first(&self) -> Option<(&'static str, &str)> {
        [
            ("form", &self.form),
            ("mobile", &self.mobile),
            ("code", &self.code),
            ("new_password", &self.new),
            ("confirm_password", &self.confirm),
        ]
        .into_iter()
        .find_map(|(f, m)| m.as_deref().map(|m| (f, m)))
    }
}

enum ResetAnswer {
    Done,
    Refused(ResetErrors),
    Limited(String),
}

/// Checks the code and sets the new password (shared by the form and the API).
async fn reset(
    state: &AppState,
    tenant: &std::sync::Arc<xiaobao_db::Tenant>,
    meta: &ClientMeta,
    input: &ResetInput,
    check_confirm: bool,
) -> Result<ResetAnswer, PageError> {
    let limit = Limit {
        max: RESETS_PER_IP_PER_HOUR,
        window_secs: 3600,
    };
    if let Some(secs) = client_over_limit(state, "reset", &tenant.slug, meta, limit).await? {
        return Ok(ResetAnswer::Limited(retry_message("尝试", secs)));
    }
    let mut errors = ResetErrors::default();
    let mobile = normalise_mobile(&input.mobile);
    if mobile.is_none() {
        errors.mobile = Some("请输入正确的注册联系人手机号".into());
    }
    let code = input.code.trim();
    if code.is_empty() {
        errors.code = Some("请输入短信验证码".into());
    } else if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        errors.code = Some("验证码为 6 位数字".into());
    }
    if input.new_password.is_empty() {
        errors.new = Some("请输入新密码".into());
    } else if check_confirm && input.confirm_password.as_deref() != Some(&input.new_password) {
        errors.confirm = Some(PasswordProblem::Mismatch.to_string());
    }
    let Some(mobile) = mobile else {
        return Ok(ResetAnswer::Refused(errors));
    };
    if errors.first().is_some() {
        return Ok(ResetAnswer::Refused(errors));
    }
    let outcome = Recovery::new(guest(state, tenant, meta))
        .reset(
            &state.auth.codes,
            &state.auth.hasher,
            &mobile,
            code,
            &input.new_password,
        )
        .await;
    match outcome {
        Ok(()) => {
            // The account's other sessions end (its epoch moved with the password).
            state.auth.epochs.forget_tenant(&tenant.slug);
            Ok(ResetAnswer::Done)
        }
        Err(Failure::Refused(r)) => {
            match r.field.as_deref() {
                Some("code") => errors.code = Some(r.message),
                _ => errors.new = Some(r.message),
            }
            Ok(ResetAnswer::Refused(errors))
        }
        Err(f) => Err(f.into()),
    }
}

#[derive(Template)]
#[template(path = "forgot_password.html")]
struct ForgotPasswordPage {
    layout: Layout,
    code_action: String,
    reset_action: String,
    login_href: String,
    csrf: CsrfToken,
    /// The second step (code and new password) is shown.
    step_two: bool,
    done: bool,
    notice: Option<String>,
    mobile: String,
    errors: ResetErrors,
}

#[allow(clippy::too_many_arguments)]
async fn render_forgot_password(
    page: &PageTenant,
    session: &mut WebSession,
    step_two: bool,
    done: bool,
    notice: Option<String>,
    mobile: String,
    errors: ResetErrors,
) -> Result<Html<String>, PageError> {
    let view = ForgotPasswordPage {
        layout: Layout::tenant(page, session, Section::Login, Some("找回密码")).await?,
        code_action: page.href("forgot-password/code"),
        reset_action: page.href("forgot-password"),
        login_href: page.href("login"),
        csrf: session.csrf_token().await?,
        step_two,
        done,
        notice,
        mobile,
        errors,
    };
    Ok(Html(view.render()?))
}

async fn show_forgot_password(
    page: PageTenant,
    mut session: WebSession,
) -> Result<Html<String>, PageError> {
    render_forgot_password(
        &page,
        &mut session,
        false,
        false,
        None,
        String::new(),
        ResetErrors::default(),
    )
    .await
}

#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub(crate) struct CodeRequest {
    /// The registered contact mobile.
    mobile: String,
}

async fn submit_code_request(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    meta: ClientMeta,
    form: Result<Form<CodeRequest>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let mobile = form.mobile.trim().to_string();
    let (status, step_two, notice, errors) =
        match request_code(&state, &page.tenant, &meta, &mobile).await? {
            CodeAnswer::Sent => (
                StatusCode::OK,
                true,
                Some(SENT.to_string()),
                ResetErrors::default(),
            ),
            CodeAnswer::InvalidMobile(m) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                false,
                None,
                ResetErrors {
                    mobile: Some(m.into()),
                    ..ResetErrors::default()
                },
            ),
            CodeAnswer::Limited(m) => (
                StatusCode::TOO_MANY_REQUESTS,
                true,
                None,
                ResetErrors {
                    form: Some(m),
                    ..ResetErrors::default()
                },
            ),
        };
    let html = render_forgot_password(&page, &mut session, step_two, false, notice, mobile, errors)
        .await?;
    Ok((status, html).into_response())
}

async fn submit_reset(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    meta: ClientMeta,
    form: Result<Form<ResetInput>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let mobile = form.mobile.trim().to_string();
    let (status, done, errors) = match reset(&state, &page.tenant, &meta, &form, true).await? {
        ResetAnswer::Done => (StatusCode::OK, true, ResetErrors::default()),
        ResetAnswer::Refused(errors) => (StatusCode::UNPROCESSABLE_ENTITY, false, errors),
        ResetAnswer::Limited(m) => (
            StatusCode::TOO_MANY_REQUESTS,
            false,
            ResetErrors {
                form: Some(m),
                ..ResetErrors::default()
            },
        ),
    };
    let html =
        render_forgot_password(&page, &mut session, true, done, None, mobile, errors).await?;
    Ok((status, html).into_response())
}

/// The answer to a code request.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct CodeRequested {
    /// Always "如该手机号已注册，验证码已发送…": it never tells whether the mobile exists.
    message: &'static str,
}

/// Sends a password reset code to a school's registered contact mobile (if it is one).
#[utoipa::path(post, path = "/api/v1/t/{slug}/password-reset/code", tag = "identity",
    params(("slug" = String, Path, description = "租户标识")),
    request_body = CodeRequest,
    responses(
        (status = 202, description = "如该手机号已注册，验证码已发送", body = CodeRequested),
        (status = 422, body = crate::web::error::ErrorBody),
        (status = 429, description = "获取过于频繁", body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_request_code(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    meta: ClientMeta,
    body: Result<Json<CodeRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(json_error)?;
    match request_code(&state, &tenant, &meta, &body.mobile)
        .await
        .map_err(crate::web::error::page_to_api)?
    {
        CodeAnswer::Sent => {
            Ok((StatusCode::ACCEPTED, Json(CodeRequested { message: SENT })).into_response())
        }
        CodeAnswer::InvalidMobile(m) => Err(ApiError::invalid("mobile", m)),
        CodeAnswer::Limited(m) => Err(too_many(m)),
    }
}

/// Sets a new password with the SMS code (`mobile`, `code`, `new_password`).
#[utoipa::path(post, path = "/api/v1/t/{slug}/password-reset", tag = "identity",
    params(("slug" = String, Path, description = "租户标识")),
    request_body = ResetInput,
    responses(
        (status = 204, description = "密码已重置"),
        (status = 422, description = "验证码或新密码有误（field 指出哪一项）", body = crate::web::error::ErrorBody),
        (status = 429, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_reset(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    meta: ClientMeta,
    body: Result<Json<ResetInput>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(body) = body.map_err(json_error)?;
    match reset(&state, &tenant, &meta, &body, false)
        .await
        .map_err(crate::web::error::page_to_api)?
    {
        ResetAnswer::Done => Ok(StatusCode::NO_CONTENT),
        ResetAnswer::Refused(errors) => {
            let (field, message) = errors.first().unwrap_or(("form", "填写有误"));
            Err(ApiError::invalid(field, message))
        }
        ResetAnswer::Limited(m) => Err(too_many(m)),
    }
}

/// A school found by 忘记账号.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct FoundAccount {
    school_name: String,
    /// The login name (the school's full name).
    login_name: String,
    /// Masked: `138****1234`. The full number also signs in.
    contact_mobile: String,
    /// `pending` (awaiting review) or `active`.
    status: String,
}

#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub(crate) struct LookupInput {
    /// The full name on the licence.
    school_name: String,
    /// The `token` of the captcha challenge.
    captcha_token: String,
    /// The four characters of the image.
    captcha_answer: String,
}

#[derive(Default)]
struct LookupErrors {
    form: Option<String>,
    school_name: Option<String>,
    captcha: Option<String>,
}

enum LookupAnswer {
    Found(FoundAccount),
    Refused(LookupErrors),
    Limited(String),
}

/// Checks the captcha (used up either way) and finds the school (shared by form and API).
async fn lookup(
    state: &AppState,
    tenant: &std::sync::Arc<xiaobao_db::Tenant>,
    meta: &ClientMeta,
    input: &LookupInput,
) -> Result<LookupAnswer, PageError> {
    let limit = Limit {
        max: LOOKUPS_PER_IP_PER_HOUR,
        window_secs: 3600,
    };
    if let Some(secs) = client_over_limit(state, "lookup", &tenant.slug, meta, limit).await? {
        return Ok(LookupAnswer::Limited(retry_message("查找", secs)));
    }
    let mut errors = LookupErrors::default();
    let name = normalise_login_name(&input.school_name);
    if name.is_empty() {
        errors.school_name = Some("请输入学校全称".into());
    } else if name.chars().count() > 100 {
        errors.school_name = Some("学校全称最多 100 个字".into());
    }
    match crate::identity::captcha::verify(
        state,
        &tenant.slug,
        &input.captcha_token,
        &input.captcha_answer,
    )
    .await?
    {
        Ok(()) => {}
        Err(e) => errors.captcha = Some(e.to_string()),
    }
    if errors.school_name.is_some() || errors.captcha.is_some() {
        return Ok(LookupAnswer::Refused(errors));
    }
    let found = Recovery::new(guest(state, tenant, meta))
        .find_school(&name)
        .await?;
    Ok(match found {
        Some(f) => LookupAnswer::Found(FoundAccount {
            school_name: name,
            login_name: f.login_name,
            contact_mobile: xiaobao_audit::mask_phone(&f.contact_mobile),
            status: f.status.to_string(),
        }),
        None => LookupAnswer::Refused(LookupErrors {
            school_name: Some(
                "未找到该学校，请核对学校全称是否与办学许可证或事业单位法人证书一致；\
                 如尚未注册，请先进行学校注册"
                    .into(),
            ),
            ..LookupErrors::default()
        }),
    })
}

#[derive(Template)]
#[template(path = "forgot_account.html")]
struct ForgotAccountPage {
    layout: Layout,
    action: String,
    login_href: String,
    register_href: String,
    forgot_password_href: String,
    csrf: CsrfToken,
    school_name: String,
    captcha_token: String,
    captcha_svg: String,
    errors: LookupErrors,
    found: Option<FoundAccount>,
}

async fn render_forgot_account(
    state: &AppState,
    page: &PageTenant,
    session: &mut WebSession,
    school_name: String,
    errors: LookupErrors,
    found: Option<FoundAccount>,
) -> Result<Html<String>, PageError> {
    let challenge = crate::identity::captcha::issue(state, &page.tenant.slug);
    let view = ForgotAccountPage {
        layout: Layout::tenant(page, session, Section::Login, Some("查找登录账号")).await?,
        action: page.href("forgot-account"),
        login_href: page.href("login"),
        register_href: page.href("register"),
        forgot_password_href: page.href("forgot-password"),
        csrf: session.csrf_token().await?,
        school_name,
        captcha_token: challenge.token,
        captcha_svg: challenge.svg,
        errors,
        found,
    };
    Ok(Html(view.render()?))
}

async fn show_forgot_account(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
) -> Result<Html<String>, PageError> {
    render_forgot_account(
        &state,
        &page,
        &mut session,
        String::new(),
        LookupErrors::default(),
        None,
    )
    .await
}

async fn submit_lookup(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    meta: ClientMeta,
    form: Result<Form<LookupInput>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let name = normalise_login_name(&form.school_name);
    let (status, errors, found) = match lookup(&state, &page.tenant, &meta, &form).await? {
        LookupAnswer::Found(f) => (StatusCode::OK, LookupErrors::default(), Some(f)),
        LookupAnswer::Refused(e) => (StatusCode::UNPROCESSABLE_ENTITY, e, None),
        LookupAnswer::Limited(m) => (
            StatusCode::TOO_MANY_REQUESTS,
            LookupErrors {
                form: Some(m),
                ..LookupErrors::default()
            },
            None,
        ),
    };
    let html = render_forgot_account(&state, &page, &mut session, name, errors, found).await?;
    Ok((status, html).into_response())
}

/// Finds a school's login name and masked contact mobile by its full name (needs a captcha
/// answer; each challenge works once).
#[utoipa::path(post, path = "/api/v1/t/{slug}/account-lookup", tag = "identity",
    params(("slug" = String, Path, description = "租户标识")),
    request_body = LookupInput,
    responses(
        (status = 200, body = FoundAccount),
        (status = 422, description = "验证码错误或未找到该学校（field 指出哪一项）", body = crate::web::error::ErrorBody),
        (status = 429, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_lookup(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    meta: ClientMeta,
    body: Result<Json<LookupInput>, JsonRejection>,
) -> Result<Json<FoundAccount>, ApiError> {
    let Json(body) = body.map_err(json_error)?;
    match lookup(&state, &tenant, &meta, &body)
        .await
        .map_err(crate::web::error::page_to_api)?
    {
        LookupAnswer::Found(f) => Ok(Json(f)),
        LookupAnswer::Refused(e) => Err(match (e.captcha, e.school_name) {
            (Some(m), _) => ApiError::invalid("captcha_answer", m),
            (None, Some(m)) => ApiError::invalid("school_name", m),
            (None, None) => ApiError::invalid("school_name", CaptchaError::Missing.to_string()),
        }),
        LookupAnswer::Limited(m) => Err(too_many(m)),
    }
}
