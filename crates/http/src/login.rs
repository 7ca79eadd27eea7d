//! A programme's login page (`/t/{slug}/login`): the account type first (seed 001: "请注意选择
//! 账号类型"), then login name and password.
//!
//! Accounts arrive with the identity context; until then every complete attempt is answered
//! with the same "账号或密码错误", which never tells whether a login name exists.

use askama::Template;
use axum::Router;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use xiaobao_domain::AccountType;

use crate::AppState;
use crate::csrf::CsrfToken;
use crate::layout::Layout;
use crate::nav::Section;
use crate::pages::{PageError, deadline_rows, programme_facts};
use crate::session::WebSession;
use crate::tenant::PageTenant;

/// Longest login name accepted (a school's full legal name fits easily).
const MAX_LOGIN_NAME_CHARS: usize = 100;
/// Longest password accepted; longer input is refused before any hashing.
const MAX_PASSWORD_BYTES: usize = 128;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/t/{slug}/login", get(show_login).post(submit_login))
        .route("/t/{slug}/logout", post(logout))
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
    errors: LoginErrors,
    academic_year: String,
    deadlines: Vec<(String, String)>,
    idle_timeout_mins: u64,
}

async fn render(
    state: &AppState,
    page: &PageTenant,
    session: &mut WebSession,
    kind: AccountType,
    login_name: String,
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
        errors,
        academic_year: facts.academic_year,
        deadlines: facts.rules.as_ref().map(deadline_rows).unwrap_or_default(),
        idle_timeout_mins: state.config.session.idle_timeout_mins,
    };
    Ok(Html(view.render()?))
}

#[derive(Debug, Deserialize)]
struct LoginQuery {
    #[serde(rename = "type")]
    account_type: Option<String>,
}

/// The login page; `?type=department` preselects an account type.
async fn show_login(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    query: Result<Query<LoginQuery>, QueryRejection>,
) -> Result<Html<String>, PageError> {
    let kind = query
        .ok()
        .and_then(|Query(q)| q.account_type)
        .and_then(|t| AccountType::parse(&t))
        .unwrap_or(AccountType::School);
    render(
        &state,
        &page,
        &mut session,
        kind,
        String::new(),
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
}

async fn submit_login(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let chosen = form.account_type.as_deref().and_then(AccountType::parse);
    let kind = chosen.unwrap_or(AccountType::School);
    let login_name = form.login_name.unwrap_or_default().trim().to_string();
    let password = form.password.unwrap_or_default();
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
    if errors.form.is_none() && errors.login_name.is_none() && errors.password.is_none() {
        // No account exists yet. The answer is the same one a wrong password will get, so it
        // never reveals whether the login name exists. The name itself is not logged (it may
        // be a mobile number).
        tracing::info!(tenant.slug = %page.tenant.slug, login.account_type = kind.as_str(),
            "login refused");
        errors.form = Some("账号或密码错误");
    }
    let html = render(&state, &page, &mut session, kind, login_name, errors).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
}

/// Ends the session and returns to the login page.
async fn logout(page: PageTenant, mut session: WebSession) -> Result<Redirect, PageError> {
    session.sign_out().await?;
    Ok(Redirect::to(&page.href("login")))
}
