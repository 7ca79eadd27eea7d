//! The operator's own account: password, and two-factor sign-in with QR enrolment.

use askama::Template;
use axum::extract::Form;
use axum::extract::rejection::FormRejection;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use xiaobao_domain::{Failure, Outcome};

use super::{OperatorCall, layout};
use crate::identity::two_factor::{EnrolmentView, TwoFactorPage, qr_svg, spaced};
use crate::web::csrf::CsrfToken;
use crate::web::error::{PageError, refusal_status};
use crate::web::layout::Layout;
use crate::web::session::WebSession;

#[derive(Template)]
#[template(path = "platform_password.html")]
struct PasswordPage {
    layout: Layout,
    csrf: CsrfToken,
    done: bool,
    forced: bool,
    refusal: Option<String>,
}

async fn password_page(
    call: &OperatorCall,
    session: &mut WebSession,
    status: StatusCode,
    done: bool,
    refusal: Option<String>,
) -> Result<Response, PageError> {
    let operator = session
        .operator()
        .cloned()
        .unwrap_or_else(|| call.current.operator.clone());
    let page = PasswordPage {
        layout: layout(call, session, "account/password", "修改密码").await?,
        csrf: session.csrf_token().await?,
        done,
        forced: operator.must_change_password,
        refusal,
    };
    Ok((status, Html(page.render()?)).into_response())
}

pub(crate) async fn show_password(
    call: OperatorCall,
    mut session: WebSession,
) -> Result<Response, PageError> {
    password_page(&call, &mut session, StatusCode::OK, false, None).await
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    new_password_repeat: String,
}

pub(crate) async fn change_password(
    call: OperatorCall,
    mut session: WebSession,
    form: Result<Form<PasswordForm>, FormRejection>,
) -> Result<Response, PageError> {
    let f = form.map(|Form(f)| f).unwrap_or_default();
    let outcome = call
        .console()
        .change_password(
            &call.state.auth.hasher,
            &f.current_password,
            &f.new_password,
            &f.new_password_repeat,
        )
        .await;
    match outcome {
        Ok(operator) => {
            // A new session id and CSRF token, bound to the new epoch.
            session.sign_in_operator(operator).await?;
            password_page(&call, &mut session, StatusCode::OK, true, None).await
        }
        Err(Failure::Refused(r)) => {
            password_page(
                &call,
                &mut session,
                refusal_status(r.class),
                false,
                Some(r.message),
            )
            .await
        }
        Err(f) => Err(f.into()),
    }
}

async fn two_factor_page(
    call: &OperatorCall,
    session: &mut WebSession,
    status: StatusCode,
    refusal: Option<String>,
    recovery_codes: Vec<String>,
) -> Result<Response, PageError> {
    let console = call.console();
    let keys = call.state.operator_totp_keys()?;
    let state = console.two_factor_status().await?;
    let enrolment = if state.pending && recovery_codes.is_empty() {
        match console.pending_two_factor(&keys).await? {
            Some(e) => Some(EnrolmentView {
                qr_svg: qr_svg(&e.otpauth_uri)?,
                secret_spaced: spaced(&e.secret_base32),
            }),
            None => None,
        }
    } else {
        None
    };
    let page = TwoFactorPage {
        layout: layout(call, session, "account/two-factor", "两步验证").await?,
        csrf: session.csrf_token().await?,
        required: state.enabled_at.is_none() && crate::web::platform::totp_required(&call.state),
        refusal,
        enrolment,
        enabled_at: state.enabled_at.map(|t| {
            crate::web::time::to_cst(t)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        }),
        recovery_codes_left: state.recovery_codes_left,
        recovery_codes,
        regenerated: false,
        start_action: "/platform/account/two-factor/start".into(),
        confirm_action: "/platform/account/two-factor/confirm".into(),
        disable_action: "/platform/account/two-factor/disable".into(),
        regenerate_action: String::new(),
        account_href: "/platform/account/password".into(),
    };
    Ok((status, Html(page.render()?)).into_response())
}

pub(crate) async fn show_two_factor(
    call: OperatorCall,
    mut session: WebSession,
) -> Result<Response, PageError> {
    two_factor_page(&call, &mut session, StatusCode::OK, None, Vec::new()).await
}

async fn refused(
    call: &OperatorCall,
    session: &mut WebSession,
    f: Failure,
) -> Result<Response, PageError> {
    match f {
        Failure::Refused(r) => {
            two_factor_page(
                call,
                session,
                refusal_status(r.class),
                Some(r.message),
                Vec::new(),
            )
            .await
        }
        f => Err(f.into()),
    }
}

pub(crate) async fn start(
    call: OperatorCall,
    mut session: WebSession,
) -> Result<Response, PageError> {
    let outcome: Outcome<_> = async {
        let keys = call.state.operator_totp_keys()?;
        call.console().begin_two_factor(&keys).await
    }
    .await;
    match outcome {
        Ok(_) => Ok(Redirect::to("/platform/account/two-factor").into_response()),
        Err(f) => refused(&call, &mut session, f).await,
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct CodeForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    password: String,
}

pub(crate) async fn confirm(
    call: OperatorCall,
    mut session: WebSession,
    form: Result<Form<CodeForm>, FormRejection>,
) -> Result<Response, PageError> {
    let f = form.map(|Form(f)| f).unwrap_or_default();
    let outcome: Outcome<_> = async {
        let keys = call.state.operator_totp_keys()?;
        call.console().confirm_two_factor(&keys, &f.code).await
    }
    .await;
    match outcome {
        Ok(codes) => {
            if let Some(mut operator) = session.operator().cloned() {
                operator.two_factor = true;
                operator.epoch = current_epoch(&call, &operator).await?;
                session.refresh_operator(operator).await?;
            }
            two_factor_page(&call, &mut session, StatusCode::OK, None, codes).await
        }
        Err(f) => refused(&call, &mut session, f).await,
    }
}

pub(crate) async fn disable(
    call: OperatorCall,
    mut session: WebSession,
    form: Result<Form<CodeForm>, FormRejection>,
) -> Result<Response, PageError> {
    let f = form.map(|Form(f)| f).unwrap_or_default();
    let outcome: Outcome<()> = async {
        let keys = call.state.operator_totp_keys()?;
        call.console()
            .disable_two_factor(&keys, &call.state.auth.hasher, &f.password, &f.code)
            .await
    }
    .await;
    match outcome {
        Ok(()) => {
            if let Some(mut operator) = session.operator().cloned() {
                operator.two_factor = false;
                operator.epoch = current_epoch(&call, &operator).await?;
                session.refresh_operator(operator).await?;
            }
            Ok(Redirect::to("/platform/account/two-factor").into_response())
        }
        Err(f) => refused(&call, &mut session, f).await,
    }
}

/// The operator's session epoch now: turning the second factor on or off moved it (ending the
/// operator's other sessions), and the acting session is restamped with it.
async fn current_epoch(
    call: &OperatorCall,
    operator: &xiaobao_platform::OperatorIdentity,
) -> Result<i64, PageError> {
    Ok(
        xiaobao_platform::operators::standing(call.state.db.clusters.main(), operator.operator_id)
            .await?
            .map_or(operator.epoch, |s| s.epoch),
    )
}
