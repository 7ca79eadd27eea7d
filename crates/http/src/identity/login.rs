//! A programme's login page (`/t/{slug}/login`): the account type first (seed 001: "请注意选择
//! 账号类型"), then login name and password.
//!
//! An unknown name, a wrong password and an account without a password get the same answer
//! ("账号或密码错误"), so the form never tells whether a login name exists. Lock-out and rate
//! limits answer with when to try again. The JSON API signs in at `POST /api/v1/t/{slug}/session`.

use askama::Template;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use utoipa_axum::routes;
use xiaobao_domain::{AccountType, Failure, Outcome};
use xiaobao_identity::service::SignIn;
use xiaobao_identity::service::sign_in::Gate;

use crate::AppState;
use crate::home::{deadline_rows, programme_facts};
use crate::web::auth::{ClientMeta, Routes};
use crate::web::csrf::CsrfToken;
use crate::web::error::ApiError;
use crate::web::error::PageError;
use crate::web::layout::Layout;
use crate::web::nav::Section;
use crate::web::session::{PendingSignIn, SignedIn, WebSession};
use crate::web::tenant::PageTenant;
use xiaobao_identity::Viewer;

/// Longest login name accepted (a school's full legal name fits easily).
const MAX_LOGIN_NAME_CHARS: usize = 100;
/// Longest password accepted; longer input is refused before any hashing.
const MAX_PASSWORD_BYTES: usize = 128;
/// How long after the password the second factor may be given.
const SECOND_FACTOR_MINS: i64 = 5;
/// Longest code or recovery code accepted.
const MAX_CODE_CHARS: usize = 32;

pub fn routes() -> Routes {
    Routes::new()
        .open("/t/{slug}/login", get(show_login).post(submit_login))
        .open(
            "/t/{slug}/login/second-factor",
            get(show_second_factor).post(submit_second_factor),
        )
        .open("/t/{slug}/logout", post(logout))
        .open_api(routes!(api_login, api_logout))
}

/// What the login form asks for, per account type.
struct Prompt {
    name_label: &'static str,
    placeholder: &'static str,
    hint: &'static str,
    missing: &'static str,
}

fn prompt(kind: AccountType) -> Prompt {
    match kind {
        AccountType::School => Prompt {
            name_label: "学校全称或联系人手机号",
            placeholder: "请输入学校全称或联系人手机号",
            hint: "学校账号以教学点为单位注册，可用学校全称或注册联系人手机号登录。",
            missing: "请输入学校全称或联系人手机号",
        },
        AccountType::Department => Prompt {
            name_label: "区域名称",
            placeholder: "请输入所在区域名称，如：金水区",
            hint: "教育部门账号为所在区域名称，如：郑州市、金水区、中牟县。",
            missing: "请输入所在区域名称",
        },
        AccountType::Insurer => Prompt {
            name_label: "登录账号",
            placeholder: "请输入承保机构登录账号",
            hint: "市、县区机构账号由上级分公司开通。",
            missing: "请输入登录账号",
        },
        AccountType::Broker => Prompt {
            name_label: "登录账号",
            placeholder: "请输入经纪机构登录账号",
            hint: "经纪机构账号由平台开通。",
            missing: "请输入登录账号",
        },
        AccountType::Authority => Prompt {
            name_label: "登录账号",
            placeholder: "请输入主管部门登录账号",
            hint: "主管部门账号由平台开通。",
            missing: "请输入登录账号",
        },
    }
}

struct Tab {
    label: &'static str,
    value: &'static str,
    href: String,
    selected: bool,
    name_label: &'static str,
    placeholder: &'static str,
    hint: &'static str,
}

#[derive(Default)]
struct LoginErrors {
    /// The answer to a complete attempt (wrong password, locked, rate limited).
    refusal: Option<String>,
    form: Option<&'static str>,
    login_name: Option<&'static str>,
    password: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    action: String,
    csrf: CsrfToken,
    tabs: Vec<Tab>,
    account_type: &'static str,
    name_label: &'static str,
    placeholder: &'static str,
    hint: &'static str,
    /// As entered; the password is never sent back.
    login_name: String,
    /// Where to go after signing in (a path of this tenant).
    next: String,
    errors: LoginErrors,
    academic_year: String,
    deadlines: Vec<(String, String)>,
    idle_timeout_mins: u64,
    /// 学校注册, 忘记密码, 忘记账号.
    register_href: String,
    forgot_password_href: String,
    forgot_account_href: String,
}

async fn render(
    state: &AppState,
    page: &PageTenant,
    session: &mut WebSession,
    kind: AccountType,
    login_name: String,
    next: String,
    errors: LoginErrors,
) -> Result<Html<String>, PageError> {
    let facts = programme_facts(state, &page.tenant).await?;
    let tabs = AccountType::ALL
        .iter()
        .map(|t| {
            let p = prompt(*t);
            Tab {
                label: t.label(),
                value: t.as_str(),
                href: page.href(&format!("login?type={}", t.as_str())),
                selected: *t == kind,
                name_label: p.name_label,
                placeholder: p.placeholder,
                hint: p.hint,
            }
        })
        .collect();
    let p = prompt(kind);
    let view = LoginPage {
        layout: Layout::tenant(page, session, Section::Login, Some("用户登录")).await?,
        action: page.href("login"),
        csrf: session.csrf_token().await?,
        tabs,
        account_type: kind.as_str(),
        name_label: p.name_label,
        placeholder: p.placeholder,
        hint: p.hint,
        login_name,
        next,
        errors,
        academic_year: facts.academic_year,
        deadlines: facts.rules.as_ref().map(deadline_rows).unwrap_or_default(),
        idle_timeout_mins: state.config.session.idle_timeout_mins,
        register_href: page.href("register"),
        forgot_password_href: page.href("forgot-password"),
        forgot_account_href: page.href("forgot-account"),
    };
    Ok(Html(view.render()?))
}

#[derive(Debug, Deserialize)]
struct LoginQuery {
    #[serde(rename = "type")]
    account_type: Option<String>,
    next: Option<String>,
}

/// The login page; `?type=department` preselects an account type.
async fn show_login(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    query: Result<Query<LoginQuery>, QueryRejection>,
) -> Result<Html<String>, PageError> {
    let query = query.ok().map(|Query(q)| q);
    let kind = query
        .as_ref()
        .and_then(|q| q.account_type.as_deref())
        .and_then(AccountType::parse)
        .unwrap_or(AccountType::School);
    let next = query
        .and_then(|q| q.next)
        .filter(|n| safe_next(&page, n))
        .unwrap_or_default();
    render(
        &state,
        &page,
        &mut session,
        kind,
        String::new(),
        next,
        LoginErrors::default(),
    )
    .await
}

/// The login form's fields (`csrf_token` is checked by the CSRF middleware before this runs).
#[derive(Debug, Default, Deserialize)]
struct LoginForm {
    account_type: Option<String>,
    login_name: Option<String>,
    password: Option<String>,
    next: Option<String>,
}

/// A redirect target after sign-in: a path of this tenant, never another site.
fn safe_next(page: &PageTenant, next: &str) -> bool {
    same_tenant_path(&page.base, next)
}

/// Whether `next` is a path below `base` (`/t/henan/` or `/` on a tenant host) that no
/// browser reads as another site: printable ASCII only (browsers drop TABs and line breaks,
/// so `/\t/evil.cn` would become `//evil.cn`), no backslash (read as `/`), no `//` at the
/// start, no scheme.
fn same_tenant_path(base: &str, next: &str) -> bool {
    next.len() < 500
        && next.starts_with(base)
        && next.starts_with('/')
        && next.bytes().all(|b| b.is_ascii_graphic())
        && !next.contains('\\')
        && !next.starts_with("//")
        && !next.contains("://")
        && !next[base.len()..].starts_with('/')
}

/// Full-width letters, digits and spaces typed into the login name become half-width.
pub(crate) fn normalise_login_name(name: &str) -> String {
    let half: String = name
        .chars()
        .map(|c| match c {
            '\u{3000}' => ' ',
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .collect();
    half.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A complete login attempt: the sign-in and, for a platform login, its id.
async fn attempt(
    state: &AppState,
    tenant: &std::sync::Arc<xiaobao_db::Tenant>,
    kind: AccountType,
    login_name: &str,
    password: &str,
    meta: &ClientMeta,
) -> Outcome<(xiaobao_identity::Authenticated, Option<i64>)> {
    let auth = &state.auth;
    let gate = Gate {
        hasher: &auth.hasher,
        limiter: &auth.limiter,
        policy: &auth.login,
    };
    SignIn::new(crate::identity::anon::guest(state, tenant, meta))
        .login(gate, kind, login_name, password)
        .await
}

/// The session data of a successful sign-in.
pub(crate) fn signed_in(ok: &xiaobao_identity::Authenticated) -> SignedIn {
    let a = &ok.account;
    SignedIn::new(
        Viewer {
            account_id: a.account_id,
            org_id: a.org_id,
            org_kind: a.org_kind.clone(),
            roles: ok.roles.clone(),
            region_code: a.region_code.clone(),
            region_path: a.region_path.clone(),
            company_id: a.company_id,
            display_name: a.display_name.clone(),
        },
        ok.must_change_password,
    )
}

async fn submit_login(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    meta: ClientMeta,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let chosen = form.account_type.as_deref().and_then(AccountType::parse);
    let kind = chosen.unwrap_or(AccountType::School);
    let login_name = normalise_login_name(&form.login_name.unwrap_or_default());
    let password = form.password.unwrap_or_default();
    let next = form
        .next
        .filter(|n| safe_next(&page, n))
        .unwrap_or_default();
    let mut errors = LoginErrors::default();
    if chosen.is_none() {
        errors.form = Some("请选择账号类型");
    }
    if login_name.is_empty() {
        errors.login_name = Some(prompt(kind).missing);
    } else if login_name.chars().count() > MAX_LOGIN_NAME_CHARS {
        errors.login_name = Some("登录账号过长，最多 100 个字");
    }
    if password.is_empty() {
        errors.password = Some("请输入密码");
    } else if password.len() > MAX_PASSWORD_BYTES {
        errors.password = Some("密码过长");
    }
    let mut refusal = None;
    if errors.form.is_none() && errors.login_name.is_none() && errors.password.is_none() {
        match attempt(&state, &page.tenant, kind, &login_name, &password, &meta).await {
            Ok((ok, identity_id)) => {
                let mut user = signed_in(&ok);
                user.identity_id = identity_id;
                if ok.second_factor_pending {
                    user.two_factor = true;
                    let expires_at = (state.clock.now()
                        + chrono::Duration::minutes(SECOND_FACTOR_MINS))
                    .timestamp();
                    session
                        .begin_second_factor(PendingSignIn {
                            user,
                            next,
                            expires_at,
                        })
                        .await?;
                    return Ok(Redirect::to(&page.href("login/second-factor")).into_response());
                }
                session.sign_in(user).await?;
                return Ok(Redirect::to(&landing(&page, &session, next)).into_response());
            }
            Err(Failure::Refused(r)) => refusal = Some(r.message),
            Err(f) => return Err(f.into()),
        }
    }
    let status = if refusal.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let html = render_with_refusal(
        &state,
        &page,
        &mut session,
        kind,
        login_name,
        next,
        errors,
        refusal,
    )
    .await?;
    Ok((status, html).into_response())
}

/// Where a completed sign-in goes: the password page when it must change, else `next`, else
/// the programme's home.
fn landing(page: &PageTenant, session: &WebSession, next: String) -> String {
    if session.user().is_some_and(|u| u.must_change_password) {
        page.href("account/password")
    } else if !next.is_empty() {
        next
    } else {
        page.base.clone()
    }
}

#[derive(Template)]
#[template(path = "login_second_factor.html")]
struct SecondFactorPage {
    layout: Layout,
    action: String,
    csrf: CsrfToken,
    refusal: Option<String>,
    minutes: i64,
    login_href: String,
}

async fn render_second_factor(
    page: &PageTenant,
    session: &mut WebSession,
    refusal: Option<String>,
) -> Result<Html<String>, PageError> {
    let view = SecondFactorPage {
        layout: Layout::tenant(page, session, Section::Login, Some("两步验证")).await?,
        action: page.href("login/second-factor"),
        csrf: session.csrf_token().await?,
        refusal,
        minutes: SECOND_FACTOR_MINS,
        login_href: page.href("login"),
    };
    Ok(Html(view.render()?))
}

/// The pending sign-in of the session while it has not expired (on the application's clock).
fn live_pending(state: &AppState, session: &WebSession) -> Option<PendingSignIn> {
    session
        .pending()
        .filter(|p| p.expires_at > state.clock.now().timestamp())
        .cloned()
}

/// The second step of the login form: asks for the code while a password is verified and
/// the step has not expired; otherwise back to the login page.
async fn show_second_factor(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
) -> Result<Response, PageError> {
    if live_pending(&state, &session).is_none() {
        session.clear_pending().await?;
        return Ok(Redirect::to(&page.href("login")).into_response());
    }
    Ok(render_second_factor(&page, &mut session, None)
        .await?
        .into_response())
}

#[derive(Debug, Default, Deserialize)]
struct SecondFactorForm {
    totp_code: Option<String>,
}

async fn submit_second_factor(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    meta: ClientMeta,
    form: Result<Form<SecondFactorForm>, FormRejection>,
) -> Result<Response, PageError> {
    let Some(pending) = live_pending(&state, &session) else {
        session.clear_pending().await?;
        return Ok(Redirect::to(&page.href("login")).into_response());
    };
    let code = form
        .ok()
        .and_then(|Form(f)| f.totp_code)
        .unwrap_or_default();
    let code = code.trim();
    if code.is_empty() || code.chars().count() > MAX_CODE_CHARS {
        let html = render_second_factor(
            &page,
            &mut session,
            Some("请输入 6 位动态验证码或恢复码".into()),
        )
        .await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response());
    }
    match second_step(
        &state,
        &page.tenant,
        &meta,
        pending.user.viewer.account_id,
        code,
    )
    .await
    {
        Ok(_) => {
            session.sign_in(pending.user).await?;
            let to = landing(&page, &session, pending.next);
            Ok(Redirect::to(&to).into_response())
        }
        Err(Failure::Refused(r)) => {
            let html = render_second_factor(&page, &mut session, Some(r.message)).await?;
            Ok((StatusCode::UNAUTHORIZED, html).into_response())
        }
        Err(f) => Err(f.into()),
    }
}

/// The second factor of a sign-in for `account_id`.
async fn second_step(
    state: &AppState,
    tenant: &std::sync::Arc<xiaobao_db::Tenant>,
    meta: &ClientMeta,
    account_id: i64,
    code: &str,
) -> Outcome<xiaobao_identity::totp::Factor> {
    let auth = &state.auth;
    let gate = Gate {
        hasher: &auth.hasher,
        limiter: &auth.limiter,
        policy: &auth.login,
    };
    let keys = state.totp_keys(tenant)?;
    SignIn::new(crate::identity::anon::guest(state, tenant, meta))
        .second_factor(gate, &keys, account_id, code)
        .await
}

#[allow(clippy::too_many_arguments)]
async fn render_with_refusal(
    state: &AppState,
    page: &PageTenant,
    session: &mut WebSession,
    kind: AccountType,
    login_name: String,
    next: String,
    mut errors: LoginErrors,
    refusal: Option<String>,
) -> Result<Html<String>, PageError> {
    errors.refusal = refusal;
    render(state, page, session, kind, login_name, next, errors).await
}

/// Ends the session and returns to the login page.
async fn logout(page: PageTenant, mut session: WebSession) -> Result<Redirect, PageError> {
    session.sign_out().await?;
    Ok(Redirect::to(&page.href("login")))
}

/// `POST /api/v1/t/{slug}/session`: signs in and answers with the session's CSRF token (send it
/// as `X-CSRF-Token` with the session cookie on every unsafe call).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct ApiLogin {
    /// `school`, `department`, `insurer`, `broker` or `authority`.
    account_type: String,
    login_name: String,
    password: String,
    /// For an account with two-factor sign-in: the authenticator's current 6-digit code, or
    /// one of its recovery codes. Without it such an account is answered 401
    /// `second_factor_required`.
    #[serde(default)]
    totp_code: Option<String>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ApiSession {
    account_id: i64,
    display_name: String,
    roles: Vec<String>,
    must_change_password: bool,
    csrf_token: String,
}

#[utoipa::path(post, path = "/api/v1/t/{slug}/session", tag = "identity",
    params(("slug" = String, Path, description = "租户标识")),
    request_body = ApiLogin,
    responses(
        (status = 200, description = "已登录；Set-Cookie 带会话", body = ApiSession),
        (status = 401, description = "账号或密码错误（`invalid_credentials`）；已开启两步验证而未给出 `totp_code`（`second_factor_required`）；动态验证码或恢复码错误（`invalid_second_factor`）", body = crate::web::error::ErrorBody),
        (status = 423, description = "账号已锁定", body = crate::web::error::ErrorBody),
        (status = 429, description = "尝试过于频繁", body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_login(
    State(state): State<AppState>,
    tenant: crate::web::tenant::ApiTenant,
    mut session: WebSession,
    meta: ClientMeta,
    body: Result<axum::Json<ApiLogin>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let axum::Json(body) = body.map_err(|e| crate::web::error::bad_json(&e))?;
    let kind = AccountType::parse(&body.account_type)
        .ok_or_else(|| ApiError::invalid("account_type", "账号类型无效"))?;
    let login_name = normalise_login_name(&body.login_name);
    if login_name.is_empty() || login_name.chars().count() > MAX_LOGIN_NAME_CHARS {
        return Err(ApiError::invalid("login_name", "请输入登录账号"));
    }
    if body.password.is_empty() || body.password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::invalid("password", "请输入密码"));
    }
    let code = body.totp_code.as_deref().map(str::trim).unwrap_or_default();
    if code.chars().count() > MAX_CODE_CHARS {
        return Err(ApiError::invalid("totp_code", "动态验证码或恢复码过长"));
    }
    let mut outcome = attempt(&state, &tenant.0, kind, &login_name, &body.password, &meta).await;
    if let Ok((ok, _)) = &outcome
        && ok.second_factor_pending
    {
        outcome = if code.is_empty() {
            Err(xiaobao_identity::LoginError::SecondFactorRequired.into())
        } else {
            let account_id = ok.account.account_id;
            match second_step(&state, &tenant.0, &meta, account_id, code).await {
                Ok(_) => outcome,
                Err(f) => Err(f),
            }
        };
    }
    match outcome {
        Ok((ok, identity_id)) => {
            let mut user = signed_in(&ok);
            user.identity_id = identity_id;
            user.two_factor = ok.second_factor_pending;
            let view = ApiSession {
                account_id: user.viewer.account_id,
                display_name: user.display_name.clone(),
                roles: user
                    .viewer
                    .roles
                    .iter()
                    .map(|r| r.as_str().to_string())
                    .collect(),
                must_change_password: user.must_change_password,
                csrf_token: String::new(),
            };
            session
                .sign_in(user)
                .await
                .map_err(|_| ApiError::Unavailable)?;
            let view = ApiSession {
                csrf_token: session.current_csrf().unwrap_or_default(),
                ..view
            };
            Ok(axum::Json(view).into_response())
        }
        Err(Failure::Refused(r)) => Err(ApiError::Refused(r)),
        Err(_) => Err(ApiError::Unavailable),
    }
}

/// `DELETE /api/v1/t/{slug}/session`: signs out.
#[utoipa::path(delete, path = "/api/v1/t/{slug}/session", tag = "identity",
    params(("slug" = String, Path, description = "租户标识")),
    responses((status = 204, description = "已退出")))]
pub(crate) async fn api_logout(
    _tenant: crate::web::tenant::ApiTenant,
    mut session: WebSession,
) -> Result<StatusCode, ApiError> {
    session
        .sign_out()
        .await
        .map_err(|_| ApiError::Unavailable)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Signs an account in without a browser (tools and benchmarks): the same checks as the login
/// form; returns the session cookie's value.
pub async fn open_session(
    state: &AppState,
    slug: &str,
    kind: AccountType,
    login_name: &str,
    password: &str,
) -> Result<String, String> {
    let tenant = state.db.active_tenant(slug).map_err(|e| e.to_string())?;
    let meta = ClientMeta {
        ip: None,
        user_agent: Some("xiaobao-tool".into()),
    };
    let outcome = attempt(state, &tenant, kind, login_name, password, &meta)
        .await
        .map_err(|f| match f {
            Failure::Refused(r) => r.message,
            _ => "登录服务不可用".to_string(),
        })?;
    if outcome.0.second_factor_pending {
        return Err("该账号已开启两步验证，请在浏览器中登录".to_string());
    }
    let mut user = signed_in(&outcome.0);
    user.identity_id = outcome.1;
    user.epoch = crate::web::validity::fetch(state, slug, user.viewer.account_id)
        .await
        .map_err(|_| "登录服务不可用".to_string())?
        .epoch;
    let data = crate::web::session::SessionData::new(slug, Some(user));
    let idle = std::time::Duration::from_secs(state.config.session.idle_timeout_mins * 60);
    state
        .sessions
        .open(&data, idle)
        .await
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::same_tenant_path;

    #[test]
    fn next_stays_on_the_tenant() {
        for ok in ["/t/henan/", "/t/henan/enrolment?x=1", "/t/henan/schools/12"] {
            assert!(same_tenant_path("/t/henan/", ok), "{ok}");
        }
        assert!(same_tenant_path("/", "/enrolment"));
        assert!(!same_tenant_path("/t/henan/", "/t/shanghai/"));
        assert!(!same_tenant_path("/t/henan/", "/t/henan//evil.cn"));
        for bad in [
            "//evil.cn",
            "/\t/evil.cn",
            "/\n/evil.cn",
            "/\\evil.cn",
            "/t/henan/\\\\evil.cn",
            "https://evil.cn/t/henan/",
            "/t/henan/x?u=https://evil.cn",
            "/ /evil.cn",
            "",
        ] {
            assert!(!same_tenant_path("/t/henan/", bad), "{bad:?}");
            assert!(!same_tenant_path("/", bad), "{bad:?} on a host");
        }
        assert!(!same_tenant_path("/", "//evil.cn"));
        assert!(!same_tenant_path("/", "/\t/evil.cn"));
        assert!(!same_tenant_path(
            "/t/henan/",
            &format!("/t/henan/{}", "a".repeat(600))
        ));
    }
}
