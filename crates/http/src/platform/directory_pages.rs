//! The console's pages for companies (保险公司与经纪公司) and platform logins (平台账号).

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use xiaobao_domain::{Failure, Outcome};
use xiaobao_platform::directory::{
    CompanyInput, LoginInput, LoginView, LoginWithPassword, company_kind_label,
};

use super::{OperatorCall, layout};
use crate::web::csrf::CsrfToken;
use crate::web::error::{PageError, refusal_status};
use crate::web::layout::Layout;
use crate::web::session::WebSession;
use crate::web::time::cst;

/// A refusal shown on its page, with its status; anything else is the failure's page.
fn refusal_of(f: Failure) -> Result<(StatusCode, String), PageError> {
    match f {
        Failure::Refused(r) => Ok((refusal_status(r.class), r.message)),
        f => Err(f.into()),
    }
}

// ---------------------------------------------------------------------------------------------
// Companies
// ---------------------------------------------------------------------------------------------

struct CompanyRow {
    company_id: i64,
    kind: &'static str,
    name: String,
    short_name: String,
    created_at: String,
}

#[derive(Default, Deserialize)]
pub(crate) struct CompanyForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    short_name: String,
}

#[derive(Template)]
#[template(path = "platform_companies.html")]
struct CompaniesPage {
    layout: Layout,
    csrf: CsrfToken,
    companies: Vec<CompanyRow>,
    form: CompanyForm,
    notice: Option<String>,
    refusal: Option<String>,
}

async fn companies_page(
    call: &OperatorCall,
    session: &mut WebSession,
    status: StatusCode,
    form: CompanyForm,
    notice: Option<String>,
    refusal: Option<String>,
) -> Result<Response, PageError> {
    let companies = call
        .console()
        .companies()
        .await?
        .into_iter()
        .map(|c| CompanyRow {
            company_id: c.company_id,
            kind: company_kind_label(&c.kind),
            created_at: cst(c.created_at),
            name: c.name,
            short_name: c.short_name,
        })
        .collect();
    let page = CompaniesPage {
        layout: layout(call, session, "companies", "保险公司与经纪公司").await?,
        csrf: session.csrf_token().await?,
        companies,
        form,
        notice,
        refusal,
    };
    Ok((status, Html(page.render()?)).into_response())
}

pub(crate) async fn companies(
    call: OperatorCall,
    mut session: WebSession,
) -> Result<Response, PageError> {
    let form = CompanyForm {
        kind: "insurer".into(),
        ..CompanyForm::default()
    };
    companies_page(&call, &mut session, StatusCode::OK, form, None, None).await
}

pub(crate) async fn create_company(
    call: OperatorCall,
    mut session: WebSession,
    form: Result<Form<CompanyForm>, FormRejection>,
) -> Result<Response, PageError> {
    let f = form.map(|Form(f)| f).unwrap_or_default();
    let outcome = call
        .console()
        .create_company(CompanyInput {
            kind: f.kind.clone(),
            name: f.name.clone(),
            short_name: f.short_name.clone(),
        })
        .await;
    match outcome {
        Ok(c) => {
            let notice = format!(
                "已添加{}：{}（简称 {}）",
                company_kind_label(&c.kind),
                c.name,
                c.short_name
            );
            let form = CompanyForm {
                kind: c.kind,
                ..CompanyForm::default()
            };
            companies_page(
                &call,
                &mut session,
                StatusCode::OK,
                form,
                Some(notice),
                None,
            )
            .await
        }
        Err(e) => {
            let (status, message) = refusal_of(e)?;
            companies_page(&call, &mut session, status, f, None, Some(message)).await
        }
    }
}

#[derive(Default, Deserialize)]
pub(crate) struct ShortNameForm {
    #[serde(default)]
    short_name: String,
}

pub(crate) async fn set_short_name(
    call: OperatorCall,
    mut session: WebSession,
    Path(company_id): Path<i64>,
    form: Result<Form<ShortNameForm>, FormRejection>,
) -> Result<Response, PageError> {
    let f = form.map(|Form(f)| f).unwrap_or_default();
    let outcome = call
        .console()
        .set_company_short_name(company_id, &f.short_name)
        .await;
    let (status, notice, refusal) = match outcome {
        Ok(c) => (
            StatusCode::OK,
            Some(format!("{} 的简称已改为 {}", c.name, c.short_name)),
            None,
        ),
        Err(e) => {
            let (status, message) = refusal_of(e)?;
            (status, None, Some(message))
        }
    };
    let form = CompanyForm {
        kind: "insurer".into(),
        ..CompanyForm::default()
    };
    companies_page(&call, &mut session, status, form, notice, refusal).await
}

// ---------------------------------------------------------------------------------------------
// Platform logins
// ---------------------------------------------------------------------------------------------

struct GrantRow {
    tenant_slug: String,
    tenant_name: String,
}

struct LoginRow {
    identity_id: i64,
    login_name: String,
    display_name: String,
    company: String,
    active: bool,
    must_change_password: bool,
    grants: Vec<GrantRow>,
    created_at: String,
}

fn login_row(l: LoginView) -> LoginRow {
    LoginRow {
        identity_id: l.identity_id,
        active: l.status == "active",
        must_change_password: l.must_change_password,
        company: l.company_name.unwrap_or_else(|| "（未指定）".into()),
        grants: l
            .grants
            .into_iter()
            .map(|g| GrantRow {
                tenant_slug: g.tenant_slug,
                tenant_name: g.tenant_name,
            })
            .collect(),
        created_at: cst(l.created_at),
        login_name: l.login_name,
        display_name: l.display_name,
    }
}

struct Choice {
    value: String,
    label: String,
}

/// A one-time password to show once.
struct Issued {
    login_name: String,
    password: String,
}

#[derive(Default, Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    login_name: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    company_id: String,
}

#[derive(Template)]
#[template(path = "platform_logins.html")]
struct LoginsPage {
    layout: Layout,
    csrf: CsrfToken,
    logins: Vec<LoginRow>,
    companies: Vec<Choice>,
    tenants: Vec<Choice>,
    form: LoginForm,
    issued: Option<Issued>,
    notice: Option<String>,
    refusal: Option<String>,
}

struct Shown {
    status: StatusCode,
    form: LoginForm,
    issued: Option<Issued>,
    notice: Option<String>,
    refusal: Option<String>,
}

impl Shown {
    fn plain() -> Self {
        Self {
            status: StatusCode::OK,
            form: LoginForm::default(),
            issued: None,
            notice: None,
            refusal: None,
        }
    }
}

async fn logins_page(
    call: &OperatorCall,
    session: &mut WebSession,
    shown: Shown,
) -> Result<Response, PageError> {
    let console = call.console();
    let logins = console
        .platform_logins()
        .await?
        .into_iter()
        .map(login_row)
        .collect();
    let companies = console
        .companies()
        .await?
        .into_iter()
        .map(|c| Choice {
            value: c.company_id.to_string(),
            label: format!("{}（{}）", c.name, company_kind_label(&c.kind)),
        })
        .collect();
    let tenants = console
        .tenants()
        .await?
        .into_iter()
        .filter(|t| t.status == "active")
        .map(|t| Choice {
            label: format!("{}（{}）", t.name_zh, t.slug),
            value: t.slug,
        })
        .collect();
    let page = LoginsPage {
        layout: layout(call, session, "logins", "平台账号").await?,
        csrf: session.csrf_token().await?,
        logins,
        companies,
        tenants,
        form: shown.form,
        issued: shown.issued,
        notice: shown.notice,
        refusal: shown.refusal,
    };
    Ok((shown.status, Html(page.render()?)).into_response())
}

/// The page after an action: its notice, or its refusal.
async fn after<T>(
    call: &OperatorCall,
    session: &mut WebSession,
    outcome: Outcome<T>,
    notice: impl FnOnce(T) -> (String, Option<Issued>),
) -> Result<Response, PageError> {
    let shown = match outcome {
        Ok(v) => {
            let (n, issued) = notice(v);
            Shown {
                notice: Some(n),
                issued,
                ..Shown::plain()
            }
        }
        Err(e) => {
            let (status, message) = refusal_of(e)?;
            Shown {
                status,
                refusal: Some(message),
                ..Shown::plain()
            }
        }
    };
    logins_page(call, session, shown).await
}

fn issued(done: LoginWithPassword) -> Issued {
    Issued {
        login_name: done.login.login_name,
        password: done.one_time_password,
    }
}

pub(crate) async fn logins(
    call: OperatorCall,
    mut session: WebSession,
) -> Result<Response, PageError> {
    logins_page(&call, &mut session, Shown::plain()).await
}

pub(crate) async fn create_login(
    call: OperatorCall,
    mut session: WebSession,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Result<Response, PageError> {
    let f = form.map(|Form(f)| f).unwrap_or_default();
    let outcome = call
        .console()
        .create_platform_login(
            &call.state.auth.hasher,
            LoginInput {
                login_name: f.login_name.clone(),
                display_name: f.display_name.clone(),
                company_id: f.company_id.trim().parse().ok(),
            },
        )
        .await;
    match outcome {
        Ok(done) => {
            let notice = format!("已创建平台账号 {}", done.login.login_name);
            let shown = Shown {
                notice: Some(notice),
                issued: Some(issued(done)),
                ..Shown::plain()
            };
            logins_page(&call, &mut session, shown).await
        }
        Err(e) => {
            let (status, message) = refusal_of(e)?;
            let shown = Shown {
                status,
                form: f,
                refusal: Some(message),
                ..Shown::plain()
            };
            logins_page(&call, &mut session, shown).await
        }
    }
}

pub(crate) async fn reset_password(
    call: OperatorCall,
    mut session: WebSession,
    Path(identity_id): Path<i64>,
) -> Result<Response, PageError> {
    let outcome = call
        .console()
        .reset_platform_password(&call.state.auth.hasher, identity_id)
        .await;
    after(&call, &mut session, outcome, |done| {
        (
            format!("已重置 {} 的密码", done.login.login_name),
            Some(issued(done)),
        )
    })
    .await
}

#[derive(Default, Deserialize)]
pub(crate) struct StatusForm {
    #[serde(default)]
    status: String,
}

pub(crate) async fn set_status(
    call: OperatorCall,
    mut session: WebSession,
    Path(identity_id): Path<i64>,
    form: Result<Form<StatusForm>, FormRejection>,
) -> Result<Response, PageError> {
    let f = form.map(|Form(f)| f).unwrap_or_default();
    let active = f.status.trim() == "active";
    let outcome = call
        .console()
        .set_platform_login_active(identity_id, active)
        .await;
    after(&call, &mut session, outcome, |l| {
        let what = if active { "已启用" } else { "已停用" };
        (format!("平台账号 {} {what}", l.login_name), None)
    })
    .await
}

#[derive(Default, Deserialize)]
pub(crate) struct GrantForm {
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    account_login: String,
}

pub(crate) async fn grant(
    call: OperatorCall,
    mut session: WebSession,
    Path(identity_id): Path<i64>,
    form: Result<Form<GrantForm>, FormRejection>,
) -> Result<Response, PageError> {
    let f = form.map(|Form(f)| f).unwrap_or_default();
    let outcome = call
        .console()
        .grant_platform_login(identity_id, &f.tenant, &f.account_login)
        .await;
    after(&call, &mut session, outcome, |l| {
        (
            format!(
                "平台账号 {} 可在项目 {} 以 {} 的身份办理业务",
                l.login_name,
                f.tenant.trim(),
                f.account_login.trim()
            ),
            None,
        )
    })
    .await
}

pub(crate) async fn revoke(
    call: OperatorCall,
    mut session: WebSession,
    Path(path): Path<(i64, String)>,
) -> Result<Response, PageError> {
    let outcome = call.console().revoke_platform_grant(path.0, &path.1).await;
    after(&call, &mut session, outcome, |l| {
        (
            format!("已撤销平台账号 {} 在项目 {} 的授权", l.login_name, path.1),
            None,
        )
    })
    .await
}
