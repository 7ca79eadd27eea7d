//! 两步验证 on the account page: turning two-factor sign-in (TOTP) on — a QR code rendered
//! here as inline SVG and the secret in base32, confirmed with a current code, then the
//! recovery codes shown once — and off (password and a current code); new recovery codes for a
//! current code. Turning it on or off ends the account's other sessions; the session that did
//! it stays signed in. The same through the API under `/api/v1/t/{slug}/me/two-factor`.

use askama::Template;
use axum::Json;
use axum::extract::Form;
use axum::extract::rejection::{FormRejection, JsonRejection};
use axum::http::{Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use utoipa_axum::routes;
use xiaobao_authz::Permission;
use xiaobao_domain::{Failure, Outcome, Role};
use xiaobao_identity::service::TwoFactor;
use xiaobao_identity::service::two_factor::Enrolment;

use crate::web::auth::Routes;
use crate::web::call::{ApiCall, Called, PageCall};
use crate::web::csrf::CsrfToken;
use crate::web::error::{ApiError, PageError, refusal_status};
use crate::web::layout::Layout;
use crate::web::nav::Section;
use crate::web::session::WebSession;

pub fn routes() -> Routes {
    let p = Permission::ACCOUNT_TWO_FACTOR;
    Routes::new()
        .page(Method::GET, "/t/{slug}/account/two-factor", p, show)
        .page(Method::POST, "/t/{slug}/account/two-factor/start", p, start)
        .page(
            Method::POST,
            "/t/{slug}/account/two-factor/confirm",
            p,
            confirm,
        )
        .page(
            Method::POST,
            "/t/{slug}/account/two-factor/disable",
            p,
            disable,
        )
        .page(
            Method::POST,
            "/t/{slug}/account/two-factor/recovery-codes",
            p,
            regenerate,
        )
        .api(p, routes!(api_status, api_start))
        .api(p, routes!(api_confirm))
        .api(p, routes!(api_disable))
        .api(p, routes!(api_regenerate))
}

fn service(call: &impl Called, state: &crate::AppState) -> Outcome<TwoFactor> {
    let caller = call.caller();
    let keys = state.totp_keys(&caller.tenant)?;
    Ok(TwoFactor::new(caller, keys))
}

/// The QR code of an otpauth URI as an SVG element for inline use (no XML declaration).
pub(crate) fn qr_svg(uri: &str) -> Outcome<String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).map_err(Failure::internal)?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .build();
    Ok(match svg.find("<svg") {
        Some(at) => svg[at..].to_string(),
        None => svg,
    })
}

/// The secret in groups of four, easier to type.
pub(crate) fn spaced(secret: &str) -> String {
    secret
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The pending enrolment as the page shows it.
pub(crate) struct EnrolmentView {
    pub(crate) qr_svg: String,
    pub(crate) secret_spaced: String,
}

/// The two-factor page, for programme accounts and (without regeneration) platform operators.
#[derive(Template)]
#[template(path = "two_factor.html")]
pub(crate) struct TwoFactorPage {
    pub(crate) layout: Layout,
    pub(crate) csrf: CsrfToken,
    /// The programme requires it of this account and it is not on yet.
    pub(crate) required: bool,
    pub(crate) refusal: Option<String>,
    pub(crate) enrolment: Option<EnrolmentView>,
    pub(crate) enabled_at: Option<String>,
    pub(crate) recovery_codes_left: i64,
    /// Shown once, right after enabling or regenerating.
    pub(crate) recovery_codes: Vec<String>,
    /// `recovery_codes` replace earlier ones (two-factor sign-in was on already).
    pub(crate) regenerated: bool,
    pub(crate) start_action: String,
    pub(crate) confirm_action: String,
    pub(crate) disable_action: String,
    pub(crate) regenerate_action: String,
    pub(crate) account_href: String,
}

/// Whether the programme requires two-factor sign-in of this account (the authority, when
/// `auth.require_totp_for_admins` is set).
pub(crate) fn required_for(state: &crate::AppState, roles: &[Role]) -> bool {
    state.config.auth.require_totp_for_admins && roles.contains(&Role::ProgrammeAuthority)
}

async fn render(
    call: &PageCall,
    session: &mut WebSession,
    refusal: Option<String>,
    recovery_codes: Vec<String>,
    regenerated: bool,
) -> Result<Html<String>, PageError> {
    let two_factor = call.take(service(call, &call.state)).await?;
    let status = call.take(two_factor.status().await).await?;
    let enrolment = if status.pending && recovery_codes.is_empty() {
        match call.take(two_factor.pending().await).await? {
            Some(e) => Some(EnrolmentView {
                qr_svg: call.take(qr_svg(&e.otpauth_uri)).await?,
                secret_spaced: spaced(&e.secret_base32),
            }),
            None => None,
        }
    } else {
        None
    };
    let page = &call.page;
    let view = TwoFactorPage {
        layout: Layout::tenant(page, session, Section::Account, Some("两步验证")).await?,
        csrf: session.csrf_token().await?,
        required: status.enabled_at.is_none()
            && required_for(&call.state, &call.current.viewer().roles),
        refusal,
        enrolment,
        enabled_at: status.enabled_at.map(|t| {
            crate::web::time::to_cst(t)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        }),
        recovery_codes_left: status.recovery_codes_left,
        regenerated,
        recovery_codes,
        start_action: page.href("account/two-factor/start"),
        confirm_action: page.href("account/two-factor/confirm"),
        disable_action: page.href("account/two-factor/disable"),
        regenerate_action: page.href("account/two-factor/recovery-codes"),
        account_href: page.href("account"),
    };
    Ok(Html(view.render()?))
}

async fn show(call: PageCall, mut session: WebSession) -> Result<Html<String>, PageError> {
    render(&call, &mut session, None, Vec::new(), false).await
}

/// A refusal shown on the page (an input the holder can correct), else the failure's page.
async fn refused(
    call: &PageCall,
    session: &mut WebSession,
    f: Failure,
) -> Result<Response, PageError> {
    match f {
        Failure::Refused(r) if !r.is_not_found() => {
            let html = render(call, session, Some(r.message.clone()), Vec::new(), false).await?;
            Ok((refusal_status(r.class), html).into_response())
        }
        f => Err(call.fail(f).await),
    }
}

async fn start(call: PageCall, mut session: WebSession) -> Result<Response, PageError> {
    let outcome = match service(&call, &call.state) {
        Ok(s) => s.begin(call.current.user.identity_id).await,
        Err(f) => Err(f),
    };
    match outcome {
        Ok(_) => Ok(Redirect::to(&call.page.href("account/two-factor")).into_response()),
        Err(f) => refused(&call, &mut session, f).await,
    }
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct TotpConfirm {
    /// The authenticator's current 6-digit code.
    code: Option<String>,
}

/// Confirms the enrolment; the session now counts as signed in with two factors.
async fn confirm_and_mark(
    call: &impl Called,
    state: &crate::AppState,
    session: &mut WebSession,
    code: &str,
) -> Outcome<Vec<String>> {
    let codes = service(call, state)?.confirm(code).await?;
    if let Some(mut user) = session.user().cloned() {
        user.two_factor = true;
        session
            .restamp_user(user)
            .await
            .map_err(|_| Failure::internal("session store"))?;
    }
    Ok(codes)
}

async fn confirm(
    call: PageCall,
    mut session: WebSession,
    form: Result<Form<TotpConfirm>, FormRejection>,
) -> Result<Response, PageError> {
    let code = form.ok().and_then(|Form(f)| f.code).unwrap_or_default();
    match confirm_and_mark(&call, &call.state, &mut session, code.trim()).await {
        Ok(codes) => Ok(render(&call, &mut session, None, codes, false)
            .await?
            .into_response()),
        Err(f) => refused(&call, &mut session, f).await,
    }
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct TotpDisable {
    password: Option<String>,
    /// A current 6-digit code or a recovery code.
    code: Option<String>,
}

async fn disable_and_mark(
    call: &impl Called,
    state: &crate::AppState,
    session: &mut WebSession,
    input: &TotpDisable,
) -> Outcome<()> {
    service(call, state)?
        .disable(
            &state.auth.hasher,
            input.password.as_deref().unwrap_or_default(),
            input.code.as_deref().unwrap_or_default().trim(),
        )
        .await?;
    if let Some(mut user) = session.user().cloned() {
        user.two_factor = false;
        session
            .restamp_user(user)
            .await
            .map_err(|_| Failure::internal("session store"))?;
    }
    Ok(())
}

async fn disable(
    call: PageCall,
    mut session: WebSession,
    form: Result<Form<TotpDisable>, FormRejection>,
) -> Result<Response, PageError> {
    let input = form.map(|Form(f)| f).unwrap_or_default();
    match disable_and_mark(&call, &call.state, &mut session, &input).await {
        Ok(()) => Ok(Redirect::to(&call.page.href("account/two-factor")).into_response()),
        Err(f) => refused(&call, &mut session, f).await,
    }
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct TotpRegenerate {
    /// The authenticator's current 6-digit code (a recovery code is not accepted here).
    code: Option<String>,
}

async fn regenerate(
    call: PageCall,
    mut session: WebSession,
    form: Result<Form<TotpRegenerate>, FormRejection>,
) -> Result<Response, PageError> {
    let code = form.ok().and_then(|Form(f)| f.code).unwrap_or_default();
    let outcome = match service(&call, &call.state) {
        Ok(s) => s.regenerate_recovery_codes(code.trim()).await,
        Err(f) => Err(f),
    };
    match outcome {
        Ok(codes) => Ok(render(&call, &mut session, None, codes, true)
            .await?
            .into_response()),
        Err(f) => refused(&call, &mut session, f).await,
    }
}

/// The state of one's two-factor sign-in.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct TwoFactorView {
    enabled: bool,
    enabled_at: Option<DateTime<FixedOffset>>,
    /// An enrolment was started and waits for its first code.
    pending: bool,
    recovery_codes_left: i64,
    /// The programme requires it of this account (the authority) and it is not on yet.
    required: bool,
}

/// A started enrolment: the secret for manual entry, the URI and its QR code.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct TotpEnrolment {
    /// Base32, no padding.
    secret: String,
    otpauth_uri: String,
    /// The QR code of `otpauth_uri` as an SVG document.
    qr_svg: String,
}

impl std::fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpEnrolment(..)")
    }
}

/// The recovery codes, shown this once.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct RecoveryCodes {
    recovery_codes: Vec<String>,
}

/// One's two-factor sign-in.
#[utoipa::path(get, path = "/api/v1/t/{slug}/me/two-factor", operation_id = "get_two_factor", tag = "identity",
    params(("slug" = String, Path, description = "租户标识")),
    responses((status = 200, body = TwoFactorView)))]
pub(crate) async fn api_status(call: ApiCall) -> Result<Json<TwoFactorView>, ApiError> {
    let outcome = async {
        let status = service(&call, &call.state)?.status().await?;
        Ok(TwoFactorView {
            enabled: status.enabled_at.is_some(),
            enabled_at: status.enabled_at.map(crate::web::time::to_cst),
            pending: status.pending,
            recovery_codes_left: status.recovery_codes_left,
            required: status.enabled_at.is_none()
                && required_for(&call.state, &call.current.viewer().roles),
        })
    }
    .await;
    call.answer(outcome).await
}

fn enrolment_view(e: &Enrolment) -> Outcome<TotpEnrolment> {
    Ok(TotpEnrolment {
        secret: e.secret_base32.clone(),
        otpauth_uri: e.otpauth_uri.clone(),
        qr_svg: qr_svg(&e.otpauth_uri)?,
    })
}

/// Starts an enrolment (a new secret, replacing one not yet confirmed); confirm it with a
/// current code at `…/me/two-factor/confirm`.
#[utoipa::path(post, path = "/api/v1/t/{slug}/me/two-factor", operation_id = "start_two_factor", tag = "identity",
    params(("slug" = String, Path, description = "租户标识")),
    responses((status = 200, body = TotpEnrolment),
        (status = 409, description = "两步验证已开启", body = crate::web::error::ErrorBody),
        (status = 422, description = "平台账号不支持", body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_start(call: ApiCall) -> Result<Json<TotpEnrolment>, ApiError> {
    let outcome = async {
        let e = service(&call, &call.state)?
            .begin(call.current.user.identity_id)
            .await?;
        enrolment_view(&e)
    }
    .await;
    call.answer(outcome).await
}

/// Confirms the enrolment with a current code (`code`): two-factor sign-in is on; answers the
/// recovery codes, shown this once.
#[utoipa::path(post, path = "/api/v1/t/{slug}/me/two-factor/confirm", operation_id = "confirm_two_factor", tag = "identity",
    params(("slug" = String, Path, description = "租户标识")),
    request_body = TotpConfirm,
    responses((status = 200, body = RecoveryCodes),
        (status = 409, description = "没有待确认的设置", body = crate::web::error::ErrorBody),
        (status = 422, description = "动态验证码不正确", body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_confirm(
    call: ApiCall,
    mut session: WebSession,
    body: Result<Json<TotpConfirm>, JsonRejection>,
) -> Result<Json<RecoveryCodes>, ApiError> {
    let Json(body) = body.map_err(|e| crate::web::error::bad_json(&e))?;
    let code = body.code.unwrap_or_default();
    let outcome = confirm_and_mark(&call, &call.state, &mut session, code.trim())
        .await
        .map(|recovery_codes| RecoveryCodes { recovery_codes });
    call.answer(outcome).await
}

/// Turns two-factor sign-in off (`password` and a current `code` or a recovery code).
#[utoipa::path(post, path = "/api/v1/t/{slug}/me/two-factor/disable", operation_id = "disable_two_factor", tag = "identity",
    params(("slug" = String, Path, description = "租户标识")),
    request_body = TotpDisable,
    responses((status = 204, description = "已关闭"),
        (status = 409, description = "两步验证未开启", body = crate::web::error::ErrorBody),
        (status = 422, description = "密码或动态验证码不正确", body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_disable(
    call: ApiCall,
    mut session: WebSession,
    body: Result<Json<TotpDisable>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(body) = body.map_err(|e| crate::web::error::bad_json(&e))?;
    let outcome = disable_and_mark(&call, &call.state, &mut session, &body).await;
    call.done(outcome).await
}

/// Replaces the recovery codes by ten new ones, given a current `code` from the authenticator
/// (not a recovery code); the old ones stop working. Answers the new codes, shown this once.
#[utoipa::path(post, path = "/api/v1/t/{slug}/me/two-factor/recovery-codes", operation_id = "regenerate_recovery_codes", tag = "identity",
    params(("slug" = String, Path, description = "租户标识")),
    request_body = TotpRegenerate,
    responses((status = 200, body = RecoveryCodes),
        (status = 409, description = "两步验证未开启", body = crate::web::error::ErrorBody),
        (status = 422, description = "动态验证码不正确", body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_regenerate(
    call: ApiCall,
    body: Result<Json<TotpRegenerate>, JsonRejection>,
) -> Result<Json<RecoveryCodes>, ApiError> {
    let Json(body) = body.map_err(|e| crate::web::error::bad_json(&e))?;
    let code = body.code.unwrap_or_default();
    let outcome = async {
        service(&call, &call.state)?
            .regenerate_recovery_codes(code.trim())
            .await
            .map(|recovery_codes| RecoveryCodes { recovery_codes })
    }
    .await;
    call.answer(outcome).await
}
