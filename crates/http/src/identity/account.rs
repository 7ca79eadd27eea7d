//! 账户信息: one's own account, and the password change every account can make — and must make
//! when its password was set by someone else or has expired.

use askama::Template;
use axum::Json;
use axum::extract::Form;
use axum::extract::rejection::{FormRejection, JsonRejection};
use axum::http::{Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa_axum::routes;
use xiaobao_authz::Permission;
use xiaobao_domain::{Failure, Outcome};
use xiaobao_identity::service::Accounts;
use xiaobao_identity::service::accounts::PasswordChange as Change;

use crate::AppState;
use crate::web::auth::{Current, Routes};
use crate::web::call::{ApiCall, Called, PageCall};
use crate::web::csrf::CsrfToken;
use crate::web::error::{ApiError, PageError, page_to_api, refusal_status};
use crate::web::layout::Layout;
use crate::web::nav::Section;
use crate::web::session::{SignedIn, WebSession};
use crate::web::tenant::PageTenant;

pub fn routes() -> Routes {
    Routes::new()
        .page(
            Method::GET,
            "/t/{slug}/account",
            Permission::ACCOUNT_READ,
            show_account,
        )
        .page(
            Method::GET,
            "/t/{slug}/account/password",
            Permission::ACCOUNT_CHANGE_PASSWORD,
            show_password,
        )
        .page(
            Method::POST,
            "/t/{slug}/account/password",
            Permission::ACCOUNT_CHANGE_PASSWORD,
            submit_password,
        )
        .api(Permission::ACCOUNT_READ, routes!(api_me))
        .api(
            Permission::ACCOUNT_CHANGE_PASSWORD,
            routes!(api_change_password),
        )
}

/// One's own account as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct MeView {
    account_id: i64,
    login_name: String,
    display_name: String,
    account_type: String,
    roles: Vec<String>,
    organisation: String,
    region_code: String,
    must_change_password: bool,
    password_changed_at: Option<DateTime<chrono::FixedOffset>>,
    password_expires_at: Option<DateTime<chrono::FixedOffset>>,
}

async fn load_me(call: &impl Called, state: &AppState, current: &Current) -> Outcome<MeView> {
    let account = Accounts::new(call.caller()).me().await?;
    let max_age = state.auth.login.password_max_age;
    Ok(MeView {
        account_id: account.account_id,
        login_name: account.login_name,
        display_name: account.display_name,
        account_type: account.account_type,
        roles: current
            .viewer()
            .roles
            .iter()
            .map(|r| r.as_str().to_string())
            .collect(),
        organisation: account.org_name,
        region_code: account.region_code,
        must_change_password: current.user.must_change_password,
        password_changed_at: account.password_changed_at.map(crate::web::time::to_cst),
        password_expires_at: account
            .password_changed_at
            .map(|t| crate::web::time::to_cst(t + max_age)),
    })
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    layout: Layout,
    me: MeView,
    role_labels: String,
    changed_at: String,
    expires_at: String,
    expires_soon: bool,
    password_href: String,
    two_factor_href: String,
    /// 切换项目, for platform logins.
    switch_href: Option<String>,
    /// 修改基本信息 and 修改手机号, for schools.
    school_info_href: Option<String>,
}

async fn show_account(call: PageCall, mut session: WebSession) -> Result<Html<String>, PageError> {
    let (state, page, current) = (&call.state, &call.page, &call.current);
    let me = call.take(load_me(&call, state, current).await).await?;
    let warn = chrono::Duration::days(i64::from(state.config.auth.password_warn_days));
    let expires_soon = me
        .password_expires_at
        .is_some_and(|t| t.with_timezone(&Utc) - state.clock.now() <= warn);
    let view = AccountPage {
        layout: Layout::tenant(page, &mut session, Section::Account, Some("账户信息")).await?,
        role_labels: current
            .viewer()
            .roles
            .iter()
            .map(|r| r.label())
            .collect::<Vec<_>>()
            .join("、"),
        changed_at: me
            .password_changed_at
            .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_else(|| "尚未设置".into()),
        expires_at: me
            .password_expires_at
            .map(|t| t.format("%Y-%m-%d").to_string())
            .unwrap_or_default(),
        expires_soon,
        password_href: page.href("account/password"),
        two_factor_href: page.href("account/two-factor"),
        switch_href: current.user.identity_id.map(|_| page.href("switch")),
        school_info_href: state
            .auth
            .authz
            .allows(&current.viewer().roles, Permission::SCHOOL_PROFILE_EDIT)
            .then(|| page.href("account/school-info")),
        me,
    };
    Ok(Html(view.render()?))
}

#[derive(Default)]
struct PasswordErrors {
    current: Option<String>,
    new: Option<String>,
    confirm: Option<String>,
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    layout: Layout,
    action: String,
    csrf: CsrfToken,
    forced: bool,
    done: bool,
    errors: PasswordErrors,
    /// The account has a password: the current one is asked for (an activated account that
    /// never had one sets its first without it).
    ask_current: bool,
}

/// Whether the signed-in account has a password yet.
async fn has_password(call: &PageCall) -> Result<bool, PageError> {
    let identity = call.current.user.identity_id;
    match Accounts::new(call.caller()).has_password(identity).await {
        Ok(has) => Ok(has),
        Err(f) => Err(call.fail(f).await),
    }
}

async fn render_password(
    page: &PageTenant,
    session: &mut WebSession,
    forced: bool,
    done: bool,
    errors: PasswordErrors,
    ask_current: bool,
) -> Result<Html<String>, PageError> {
    let view = PasswordPage {
        layout: Layout::tenant(page, session, Section::Account, Some("修改密码")).await?,
        action: page.href("account/password"),
        csrf: session.csrf_token().await?,
        forced,
        done,
        errors,
        ask_current,
    };
    Ok(Html(view.render()?))
}

#[derive(Debug, Deserialize)]
struct PasswordQuery {
    done: Option<String>,
}

async fn show_password(
    call: PageCall,
    mut session: WebSession,
    query: Result<axum::extract::Query<PasswordQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Html<String>, PageError> {
    let done = query.ok().and_then(|q| q.0.done).is_some();
    let ask_current = has_password(&call).await?;
    render_password(
        &call.page,
        &mut session,
        call.current.user.must_change_password,
        done,
        PasswordErrors::default(),
        ask_current,
    )
    .await
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct PasswordChange {
    current_password: Option<String>,
    new_password: Option<String>,
    /// Forms only: the new password typed again.
    #[serde(default)]
    confirm_password: Option<String>,
}

impl PasswordChange {
    /// The change as the service takes it; `confirm` when the form asks for the new password
    /// twice.
    fn to_change(&self, confirm: bool) -> Change {
        Change {
            current: self.current_password.clone().unwrap_or_default(),
            new: self.new_password.clone().unwrap_or_default(),
            confirm: confirm.then(|| self.confirm_password.clone().unwrap_or_default()),
        }
    }
}

/// Changes the password; the session the caller is signed in with no longer asks for it.
async fn change_password(
    call: &impl Called,
    state: &AppState,
    current: &Current,
    input: Change,
) -> Outcome<SignedIn> {
    Accounts::new(call.caller())
        .change_password(&state.auth.hasher, current.user.identity_id, &input)
        .await?;
    let mut user = current.user.clone();
    user.must_change_password = false;
    Ok(user)
}

async fn submit_password(
    call: PageCall,
    mut session: WebSession,
    form: Result<Form<PasswordChange>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let refusal =
        match change_password(&call, &call.state, &call.current, form.to_change(true)).await {
            Ok(user) => {
                // A new session id after the change: any copy of the old cookie stops working.
                session.update_user(user).await?;
                return Ok(Redirect::to(&call.page.href("account/password?done=1")).into_response());
            }
            Err(Failure::Refused(r)) if !r.is_not_found() => r,
            Err(f) => return Err(call.fail(f).await),
        };
    let mut errors = PasswordErrors::default();
    let message = Some(refusal.message.clone());
    match refusal.field.as_deref() {
        Some("current_password") => errors.current = message,
        Some("confirm_password") => errors.confirm = message,
        _ => errors.new = message,
    }
    let ask_current = has_password(&call).await?;
    let html = render_password(
        &call.page,
        &mut session,
        call.current.user.must_change_password,
        false,
        errors,
        ask_current,
    )
    .await?;
    Ok((refusal_status(refusal.class), html).into_response())
}

/// One's own account.
#[utoipa::path(get, path = "/api/v1/t/{slug}/me", tag = "identity",
    params(("slug" = String, Path, description = "租户标识")),
    responses((status = 200, body = MeView), (status = 401, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_me(call: ApiCall) -> Result<Json<MeView>, ApiError> {
    call.answer(load_me(&call, &call.state, &call.current).await)
        .await
}

/// Changes one's own password (`current_password`, `new_password`).
#[utoipa::path(post, path = "/api/v1/t/{slug}/me/password", tag = "identity",
    params(("slug" = String, Path, description = "租户标识")),
    request_body = PasswordChange,
    responses((status = 204, description = "已修改"), (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_change_password(
    call: ApiCall,
    mut session: WebSession,
    body: Result<Json<PasswordChange>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(body) = body.map_err(|e| crate::web::error::bad_json(&e))?;
    let outcome = change_password(&call, &call.state, &call.current, body.to_change(false)).await;
    let user = call.answer(outcome).await?.0;
    session.update_user(user).await.map_err(page_to_api)?;
    Ok(StatusCode::NO_CONTENT)
}
