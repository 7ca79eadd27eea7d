//! The console's sign-in: password, then the second factor when the operator has one.

use askama::Template;
use axum::Json;
use axum::extract::rejection::{FormRejection, JsonRejection, QueryRejection};
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use xiaobao_domain::{Failure, Refusal};
use xiaobao_platform::{OperatorGuest, OperatorIdentity, SignInStep};

use crate::AppState;
use crate::web::auth::ClientMeta;
use crate::web::csrf::CsrfToken;
use crate::web::error::{ApiError, ErrorBody, PageError, refusal_status};
use crate::web::layout::Layout;
use crate::web::session::{PendingOperator, WebSession};

/// How long the second factor may be given after the password (seconds).
const PENDING_SECS: i64 = 300;

#[derive(Template)]
#[template(path = "platform_login.html")]
struct LoginPage {
    layout: Layout,
    csrf: CsrfToken,
    refusal: Option<String>,
    login_name: String,
    next: String,
}

#[derive(Template)]
#[template(path = "login_second_factor.html")]
struct SecondFactorPage {
    layout: Layout,
    csrf: CsrfToken,
    refusal: Option<String>,
    action: String,
    minutes: i64,
    login_href: String,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct NextQuery {
    next: Option<String>,
}

/// Only a console path is a place to go after sign-in.
fn safe_next(next: Option<&str>) -> String {
    next.filter(|n| n.starts_with("/platform/") && !n.starts_with("//") && !n.contains('\\'))
        .unwrap_or("/platform/tenants")
        .to_string()
}

fn guest(state: &AppState, meta: &ClientMeta) -> OperatorGuest {
    OperatorGuest {
        db: state.db.clone(),
        ip: meta.ip.clone(),
        clock: state.clock.clone(),
    }
}

async fn login_page(
    session: &mut WebSession,
    status: StatusCode,
    refusal: Option<String>,
    login_name: String,
    next: String,
) -> Result<Response, PageError> {
    let page = LoginPage {
        layout: Layout::platform(Some("运营控制台登录")),
        csrf: session.csrf_token().await?,
        refusal,
        login_name,
        next,
    };
    Ok((status, Html(page.render()?)).into_response())
}

pub(crate) async fn show_login(
    mut session: WebSession,
    query: Result<Query<NextQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let next = safe_next(query.as_ref().ok().and_then(|q| q.next.as_deref()));
    if session.operator().is_some() {
        return Ok(Redirect::to(&next).into_response());
    }
    login_page(&mut session, StatusCode::OK, None, String::new(), next).await
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    login_name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: Option<String>,
}

/// Where the password step goes: signed in, or on to the second factor.
async fn after_password(
    state: &AppState,
    session: &mut WebSession,
    step: SignInStep,
    next: String,
) -> Result<(), PageError> {
    match step {
        SignInStep::Done(operator) => session.sign_in_operator(operator).await,
        SignInStep::SecondFactor(operator) => {
            let expires_at = state.clock.now().timestamp() + PENDING_SECS;
            session
                .begin_operator_second_factor(PendingOperator {
                    operator,
                    next,
                    expires_at,
                })
                .await
        }
    }
}

pub(crate) async fn submit_login(
    State(state): State<AppState>,
    meta: ClientMeta,
    mut session: WebSession,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let next = safe_next(form.next.as_deref());
    let outcome = guest(&state, &meta)
        .sign_in(
            &state.auth.hasher,
            &state.auth.limiter,
            &state.auth.login,
            &form.login_name,
            &form.password,
        )
        .await;
    match outcome {
        Ok(step) => {
            let second = matches!(step, SignInStep::SecondFactor(_));
            after_password(&state, &mut session, step, next.clone()).await?;
            let to = if second {
                "/platform/login/second-factor".to_string()
            } else {
                next
            };
            Ok(Redirect::to(&to).into_response())
        }
        Err(Failure::Refused(r)) => {
            let status = refusal_status(r.class);
            let name: String = form.login_name.chars().take(40).collect();
            login_page(&mut session, status, Some(r.message), name, next).await
        }
        Err(f) => Err(f.into()),
    }
}

async fn second_factor_page(
    session: &mut WebSession,
    status: StatusCode,
    refusal: Option<String>,
) -> Result<Response, PageError> {
    let page = SecondFactorPage {
        layout: Layout::platform(Some("两步验证")),
        csrf: session.csrf_token().await?,
        refusal,
        action: "/platform/login/second-factor".into(),
        minutes: PENDING_SECS / 60,
        login_href: "/platform/login".into(),
    };
    Ok((status, Html(page.render()?)).into_response())
}

/// The pending sign-in if it has not expired.
fn pending(state: &AppState, session: &WebSession) -> Option<PendingOperator> {
    session
        .operator_pending()
        .filter(|p| p.expires_at > state.clock.now().timestamp())
        .cloned()
}

pub(crate) async fn show_second_factor(
    State(state): State<AppState>,
    mut session: WebSession,
) -> Result<Response, PageError> {
    if pending(&state, &session).is_none() {
        return Ok(Redirect::to("/platform/login").into_response());
    }
    second_factor_page(&mut session, StatusCode::OK, None).await
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct SecondFactorForm {
    #[serde(default)]
    totp_code: String,
}

/// Checks the second factor of a pending sign-in.
async fn check_second(
    state: &AppState,
    meta: &ClientMeta,
    pending: &OperatorIdentity,
    code: &str,
) -> Result<OperatorIdentity, Failure> {
    let keys = state.operator_totp_keys()?;
    guest(state, meta)
        .second_factor(&keys, &state.auth.login, pending, code)
        .await
}

pub(crate) async fn submit_second_factor(
    State(state): State<AppState>,
    meta: ClientMeta,
    mut session: WebSession,
    form: Result<Form<SecondFactorForm>, FormRejection>,
) -> Result<Response, PageError> {
    let Some(p) = pending(&state, &session) else {
        return Ok(Redirect::to("/platform/login").into_response());
    };
    let code = form.map(|Form(f)| f.totp_code).unwrap_or_default();
    match check_second(&state, &meta, &p.operator, &code).await {
        Ok(operator) => {
            session.sign_in_operator(operator).await?;
            Ok(Redirect::to(&p.next).into_response())
        }
        Err(Failure::Refused(r)) => {
            let status = refusal_status(r.class);
            second_factor_page(&mut session, status, Some(r.message)).await
        }
        Err(f) => Err(f.into()),
    }
}

pub(crate) async fn logout(mut session: WebSession) -> Result<Redirect, PageError> {
    session.sign_out().await?;
    Ok(Redirect::to("/platform/login"))
}

/// An operator's sign-in through the API.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct OperatorSignIn {
    login_name: String,
    password: String,
    /// The authenticator's current code or a recovery code, when the operator has two-factor
    /// sign-in.
    #[serde(default)]
    totp_code: Option<String>,
}

/// The signed-in operator and the session's CSRF token.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct OperatorSession {
    login_name: String,
    display_name: String,
    must_change_password: bool,
    two_factor: bool,
    csrf_token: String,
}

/// Signs a platform operator in (a platform session: no session under any programme).
#[utoipa::path(post, path = "/api/v1/platform/session", operation_id = "platform_sign_in", tag = "platform",
    request_body = OperatorSignIn,
    responses((status = 200, body = OperatorSession),
        (status = 401, description = "登录名或密码错误，或需要动态验证码", body = ErrorBody),
        (status = 422, description = "动态验证码不正确", body = ErrorBody),
        (status = 423, description = "账号已锁定", body = ErrorBody),
        (status = 429, description = "尝试过于频繁", body = ErrorBody)))]
pub(crate) async fn api_sign_in(
    State(state): State<AppState>,
    meta: ClientMeta,
    mut session: WebSession,
    body: Result<Json<OperatorSignIn>, JsonRejection>,
) -> Result<Json<OperatorSession>, ApiError> {
    let Json(body) = body.map_err(|e| crate::web::error::bad_json(&e))?;
    let step = guest(&state, &meta)
        .sign_in(
            &state.auth.hasher,
            &state.auth.limiter,
            &state.auth.login,
            &body.login_name,
            &body.password,
        )
        .await?;
    let operator = match step {
        SignInStep::Done(o) => o,
        SignInStep::SecondFactor(o) => {
            let Some(code) = body.totp_code.filter(|c| !c.trim().is_empty()) else {
                return Err(Refusal::new(
                    xiaobao_domain::RefusalClass::Unauthenticated,
                    "second_factor_required",
                    "请输入身份验证器中的动态验证码",
                )
                .on("totp_code")
                .into());
            };
            check_second(&state, &meta, &o, &code).await?
        }
    };
    session
        .sign_in_operator(operator.clone())
        .await
        .map_err(crate::web::error::page_to_api)?;
    Ok(Json(OperatorSession {
        login_name: operator.login_name,
        display_name: operator.display_name,
        must_change_password: operator.must_change_password,
        two_factor: operator.two_factor,
        csrf_token: session.current_csrf().unwrap_or_default(),
    }))
}
