//! 账户信息: one's own account, and the password change every account can make — and must make
//! when its password was set by someone else or has expired.

use askama::Template;
use axum::Json;
use axum::extract::rejection::{FormRejection, JsonRejection};
use axum::extract::{Form, State};
use axum::http::{Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use xiaobao_authz::Permission;
use xiaobao_identity::PasswordProblem;
use xiaobao_identity::accounts;

use crate::AppState;
use crate::web::auth::{Current, Routes};
use crate::web::csrf::CsrfToken;
use crate::web::error::ApiError;
use crate::web::error::{PageError, internal, page_to_api};
use crate::web::layout::Layout;
use crate::web::nav::Section;
use crate::web::session::{SignedIn, WebSession};
use crate::web::tenant::{ApiTenant, PageTenant};

pub fn routes() -> Routes {
    Routes::new()
        .guarded(
            Method::GET,
            "/t/{slug}/account",
            Permission::ACCOUNT_READ,
            get(show_account),
        )
        .guarded(
            Method::GET,
            "/t/{slug}/account/password",
            Permission::ACCOUNT_CHANGE_PASSWORD,
            get(show_password),
        )
        .guarded(
            Method::POST,
            "/t/{slug}/account/password",
            Permission::ACCOUNT_CHANGE_PASSWORD,
            post(submit_password),
        )
        .guarded(
            Method::GET,
            "/api/v1/t/{slug}/me",
            Permission::ACCOUNT_READ,
            get(api_me),
        )
        .guarded(
            Method::POST,
            "/api/v1/t/{slug}/me/password",
            Permission::ACCOUNT_CHANGE_PASSWORD,
            post(api_change_password),
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

async fn load_me(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
) -> Result<MeView, PageError> {
    let mut tx = state.db.tenant_tx(tenant).await?;
    let account = accounts::get(&mut tx, current.viewer().account_id)
        .await
        .map_err(internal)?
        .ok_or(PageError::NotFound)?;
    tx.commit().await?;
    let max_age = state.auth.login.password_max_age;
    Ok(MeView {
        account_id: account.account_id,
        login_name: account.login_name.clone(),
        display_name: account.display_name.clone(),
        account_type: account.account_type.clone(),
        roles: current
            .viewer()
            .roles
            .iter()
            .map(|r| r.as_str().to_string())
            .collect(),
        organisation: account.org_name.clone(),
        region_code: account.region_code.clone(),
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
    /// 切换项目, for platform logins.
    switch_href: Option<String>,
}

async fn show_account(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
) -> Result<Html<String>, PageError> {
    let me = load_me(&state, &page.tenant, &current).await?;
    let warn = chrono::Duration::days(i64::from(state.config.auth.password_warn_days));
    let expires_soon = me
        .password_expires_at
        .is_some_and(|t| t.with_timezone(&Utc) - state.clock.now() <= warn);
    let view = AccountPage {
        layout: Layout::tenant(&page, &mut session, Section::Account, Some("账户信息")).await?,
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
        switch_href: current.user.identity_id.map(|_| page.href("switch")),
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
async fn has_password(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
) -> Result<bool, PageError> {
    if current.user.identity_id.is_some() {
        // A platform login always has a password of its own (set by the operator at least).
        return Ok(true);
    }
    let mut tx = state.db.tenant_tx(tenant).await?;
    let account = accounts::get(&mut tx, current.viewer().account_id)
        .await
        .map_err(internal)?
        .ok_or(PageError::NotFound)?;
    tx.commit().await?;
    Ok(account.password_hash.is_some())
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
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    query: Result<axum::extract::Query<PasswordQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Html<String>, PageError> {
    let done = query.ok().and_then(|q| q.0.done).is_some();
    let ask_current = has_password(&state, &page.tenant, &current).await?;
    render_password(
        &page,
        &mut session,
        current.user.must_change_password,
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

/// The outcome of a password change request: `Ok` or the field and the reason.
enum ChangeOutcome {
    Changed(SignedIn),
    Refused(&'static str, String),
}

async fn change_password(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
    input: &PasswordChange,
    check_confirm: bool,
) -> Result<ChangeOutcome, PageError> {
    let current_pw = input.current_password.clone().unwrap_or_default();
    let new_pw = input.new_password.clone().unwrap_or_default();
    let auth = &state.auth;
    if let Some(identity_id) = current.user.identity_id {
        return change_identity_password(state, tenant, current, identity_id, input, check_confirm)
            .await;
    }
    let mut tx = state.db.tenant_tx(tenant).await?;
    let account = accounts::get(&mut tx, current.viewer().account_id)
        .await
        .map_err(internal)?
        .ok_or(PageError::NotFound)?;
    // An account without a password (activated by its set-password link) sets its first one
    // without a current one.
    if account.password_hash.is_some() && current_pw.is_empty() {
        return Ok(ChangeOutcome::Refused(
            "current_password",
            "请输入当前密码".into(),
        ));
    }
    if new_pw.is_empty() {
        return Ok(ChangeOutcome::Refused(
            "new_password",
            "请输入新密码".into(),
        ));
    }
    if check_confirm && input.confirm_password.as_deref() != Some(new_pw.as_str()) {
        return Ok(ChangeOutcome::Refused(
            "confirm_password",
            PasswordProblem::Mismatch.to_string(),
        ));
    }
    let ok = match &account.password_hash {
        Some(hash) => auth.hasher.verify(&current_pw, hash).await,
        None => true,
    };
    if !ok {
        xiaobao_audit::record(
            &mut tx,
            &current.actor(),
            xiaobao_audit::Entry::new(
                "account.password_change_refused",
                "account",
                Some(account.account_id),
            )
            .detail("cause", "wrong_current_password"),
        )
        .await
        .map_err(internal)?;
        tx.commit().await?;
        return Ok(ChangeOutcome::Refused(
            "current_password",
            "当前密码不正确".into(),
        ));
    }
    let result = accounts::set_own_password(
        &mut tx,
        &auth.hasher,
        &current.actor(),
        &account,
        &new_pw,
        "account.password_changed",
    )
    .await
    .map_err(internal)?;
    if let Err(problem) = result {
        return Ok(ChangeOutcome::Refused("new_password", problem.to_string()));
    }
    tx.commit().await?;
    let mut user = current.user.clone();
    user.must_change_password = false;
    Ok(ChangeOutcome::Changed(user))
}

/// The password change of a platform login (a broker or insurer head office working in several
/// programmes): its one password, audited in the programme where it was changed.
async fn change_identity_password(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
    identity_id: i64,
    input: &PasswordChange,
    check_confirm: bool,
) -> Result<ChangeOutcome, PageError> {
    let current_pw = input.current_password.clone().unwrap_or_default();
    let new_pw = input.new_password.clone().unwrap_or_default();
    if current_pw.is_empty() {
        return Ok(ChangeOutcome::Refused(
            "current_password",
            "请输入当前密码".into(),
        ));
    }
    if new_pw.is_empty() {
        return Ok(ChangeOutcome::Refused(
            "new_password",
            "请输入新密码".into(),
        ));
    }
    if check_confirm && input.confirm_password.as_deref() != Some(new_pw.as_str()) {
        return Ok(ChangeOutcome::Refused(
            "confirm_password",
            PasswordProblem::Mismatch.to_string(),
        ));
    }
    let main = state.db.clusters.main();
    let identity = xiaobao_identity::platform::get(main, identity_id)
        .await
        .map_err(internal)?
        .ok_or(PageError::NotFound)?;
    let ok = match &identity.password_hash {
        Some(hash) => state.auth.hasher.verify(&current_pw, hash).await,
        None => false,
    };
    let (action, refusal) = if !ok {
        (
            "account.password_change_refused",
            Some(("current_password", "当前密码不正确".to_string())),
        )
    } else {
        match xiaobao_identity::platform::change_password(
            main,
            &state.auth.hasher,
            &identity,
            &new_pw,
        )
        .await
        .map_err(internal)?
        {
            Ok(()) => ("account.password_changed", None),
            Err(problem) => return Ok(ChangeOutcome::Refused("new_password", problem.to_string())),
        }
    };
    let mut tx = state.db.tenant_tx(tenant).await?;
    xiaobao_audit::record(
        &mut tx,
        &current.actor(),
        xiaobao_audit::Entry::new(action, "account", Some(current.viewer().account_id))
            .detail("identity_id", identity_id),
    )
    .await
    .map_err(internal)?;
    tx.commit().await?;
    if let Some((field, message)) = refusal {
        return Ok(ChangeOutcome::Refused(field, message));
    }
    let mut user = current.user.clone();
    user.must_change_password = false;
    Ok(ChangeOutcome::Changed(user))
}

async fn submit_password(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    form: Result<Form<PasswordChange>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    match change_password(&state, &page.tenant, &current, &form, true).await? {
        ChangeOutcome::Changed(user) => {
            // A new session id after the change: any copy of the old cookie stops working.
            session.update_user(user).await?;
            Ok(Redirect::to(&page.href("account/password?done=1")).into_response())
        }
        ChangeOutcome::Refused(field, message) => {
            let mut errors = PasswordErrors::default();
            match field {
                "current_password" => errors.current = Some(message),
                "confirm_password" => errors.confirm = Some(message),
                _ => errors.new = Some(message),
            }
            let ask_current = has_password(&state, &page.tenant, &current).await?;
            let html = render_password(
                &page,
                &mut session,
                current.user.must_change_password,
                false,
                errors,
                ask_current,
            )
            .await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
    }
}

/// One's own account.
#[utoipa::path(get, path = "/api/v1/t/{slug}/me", tag = "identity",
    params(("slug" = String, Path, description = "租户标识")),
    responses((status = 200, body = MeView), (status = 401, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_me(
    State(state): State<AppState>,
    tenant: ApiTenant,
    current: Current,
) -> Result<Json<MeView>, ApiError> {
    load_me(&state, &tenant.0, &current)
        .await
        .map(Json)
        .map_err(page_to_api)
}

/// Changes one's own password (`current_password`, `new_password`).
#[utoipa::path(post, path = "/api/v1/t/{slug}/me/password", tag = "identity",
    params(("slug" = String, Path, description = "租户标识")),
    request_body = PasswordChange,
    responses((status = 204, description = "已修改"), (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_change_password(
    State(state): State<AppState>,
    tenant: ApiTenant,
    mut session: WebSession,
    current: Current,
    body: Result<Json<PasswordChange>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(body) = body.map_err(|e| crate::web::error::bad_json(&e))?;
    match change_password(&state, &tenant.0, &current, &body, false)
        .await
        .map_err(page_to_api)?
    {
        ChangeOutcome::Changed(user) => {
            session.update_user(user).await.map_err(page_to_api)?;
            Ok(StatusCode::NO_CONTENT)
        }
        ChangeOutcome::Refused(field, message) => Err(ApiError::invalid(field, message)),
    }
}
