//! Server-rendered pages (Chinese): the platform's programme list, each programme's landing
//! page, and the error pages.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;

use xiaobao_db::Tenant;
use xiaobao_domain::AccountType;
use xiaobao_domain::rules::ProgrammeRules;

use crate::AppState;
use crate::error::ApiError;
use crate::layout::Layout;
use crate::nav::Section;
use crate::session::WebSession;
use crate::tenant::PageTenant;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(platform_index))
        .route("/t/{slug}", get(tenant_root_redirect))
        .route("/t/{slug}/", get(tenant_landing))
}

/// A page that could not be shown, rendered as a Chinese error page.
#[derive(Debug)]
pub enum PageError {
    NotFound,
    /// A form post failed the CSRF check; the programme (and its link base) when known.
    CsrfRejected(Option<(Arc<Tenant>, String)>),
    /// A dependency (the session store, the database) did not answer.
    Unavailable,
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

/// An unexpected failure of a lower layer, as a page error (logged once, shown as a 500 page).
pub(crate) fn internal(e: impl std::error::Error + Send + Sync + 'static) -> PageError {
    PageError::Internal(Box::new(e))
}

impl From<xiaobao_db::DbError> for PageError {
    fn from(e: xiaobao_db::DbError) -> Self {
        match e {
            xiaobao_db::DbError::Sqlx(sqlx::Error::PoolTimedOut) => Self::Unavailable,
            other => Self::Internal(Box::new(other)),
        }
    }
}

impl From<askama::Error> for PageError {
    fn from(e: askama::Error) -> Self {
        Self::Internal(Box::new(e))
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    layout: Layout,
    status: u16,
    title: &'a str,
    message: &'a str,
    back_href: String,
    back_label: &'a str,
}

pub(crate) fn error_page(
    status: StatusCode,
    title: &str,
    message: &str,
    tenant: Option<&(Arc<Tenant>, String)>,
) -> Response {
    let (layout, back_href, back_label) = match tenant {
        Some((tenant, base)) => (
            Layout::tenant_public(tenant, base, Some(title)),
            base.clone(),
            "返回系统首页",
        ),
        None => (Layout::platform(Some(title)), "/".to_string(), "返回首页"),
    };
    let page = ErrorPage {
        layout,
        status: status.as_u16(),
        title,
        message,
        back_href,
        back_label,
    };
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(_) => (status, title.to_string()).into_response(),
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            Self::NotFound => error_page(
                StatusCode::NOT_FOUND,
                "页面不存在",
                "您访问的页面或项目不存在，请检查网址是否正确。",
                None,
            ),
            Self::CsrfRejected(tenant) => error_page(
                StatusCode::FORBIDDEN,
                "请求未通过安全校验",
                "页面已过期或请求来源无法确认，本次提交未被处理。请返回上一页，刷新后重新提交。",
                tenant.as_ref(),
            ),
            Self::Unavailable => error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "服务暂时不可用",
                "系统繁忙或正在维护，请稍后重试。",
                None,
            ),
            Self::Internal(error) => {
                tracing::error!(%error, "page failed");
                error_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "系统出错了",
                    "服务器处理请求时出错，请稍后重试。如果问题持续，请联系管理员。",
                    None,
                )
            }
        }
    }
}

/// Anything no route matched: a JSON error under `/api`, a Chinese page elsewhere.
pub async fn not_found(OriginalUri(uri): OriginalUri) -> Response {
    if uri.path().starts_with("/api/") {
        ApiError::NotFound("接口不存在".into()).into_response()
    } else {
        PageError::NotFound.into_response()
    }
}

struct TenantLink {
    slug: String,
    name_zh: String,
}

#[derive(Template)]
#[template(path = "platform_index.html")]
struct PlatformIndex {
    layout: Layout,
    tenants: Vec<TenantLink>,
}

async fn platform_index(State(state): State<AppState>) -> Result<Html<String>, PageError> {
    let tenants = state
        .db
        .catalog
        .all()
        .into_iter()
        .filter(|t| t.status == xiaobao_db::TenantStatus::Active)
        .map(|t| TenantLink {
            slug: t.slug.clone(),
            name_zh: t.name_zh.clone(),
        })
        .collect();
    let page = PlatformIndex {
        layout: Layout::platform(None),
        tenants,
    };
    Ok(Html(page.render()?))
}

async fn tenant_root_redirect(page: PageTenant) -> Redirect {
    Redirect::permanent(&page.base)
}

struct ProductRow {
    name: String,
    rates: String,
}

/// A shortcut to the login page with an account type chosen.
pub(crate) struct LoginEntry {
    pub label: &'static str,
    pub href: String,
}

pub(crate) fn login_entries(page: &PageTenant) -> Vec<LoginEntry> {
    AccountType::ALL
        .iter()
        .map(|t| LoginEntry {
            label: t.label(),
            href: page.href(&format!("login?type={}", t.as_str())),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "tenant_landing.html")]
struct TenantLanding {
    layout: Layout,
    academic_year: String,
    rules_version: Option<i32>,
    products: Vec<ProductRow>,
    deadlines: Vec<(String, String)>,
    root_name: String,
    regions: Vec<xiaobao_db::regions::Region>,
    entries: Vec<LoginEntry>,
    now: String,
}

/// The programme facts shown on the landing and login pages.
pub(crate) struct ProgrammeFacts {
    pub academic_year: String,
    pub rules_version: Option<i32>,
    pub rules: Option<ProgrammeRules>,
}

pub(crate) async fn programme_facts(
    state: &AppState,
    tenant: &Tenant,
) -> Result<ProgrammeFacts, PageError> {
    let mut tx = state.db.tenant_tx(tenant).await?;
    let years = xiaobao_db::rules::years(&mut tx).await?;
    let academic_year = years.first().cloned().unwrap_or_default();
    let stored = xiaobao_db::rules::current(&mut tx, &academic_year).await?;
    tx.commit().await?;
    Ok(ProgrammeFacts {
        academic_year: if academic_year.is_empty() {
            "未配置".into()
        } else {
            academic_year
        },
        rules_version: stored.as_ref().map(|r| r.version),
        rules: stored.and_then(|r| ProgrammeRules::from_toml_str(&r.document).ok()),
    })
}

async fn tenant_landing(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
) -> Result<Html<String>, PageError> {
    let facts = programme_facts(&state, &page.tenant).await?;
    let mut tx = state.db.tenant_tx(&page.tenant).await?;
    let root = xiaobao_db::regions::root(&mut tx).await?;
    let regions = match &root {
        Some(r) => xiaobao_db::regions::children(&mut tx, &r.region_code).await?,
        None => Vec::new(),
    };
    tx.commit().await?;
    let (products, deadlines) = match &facts.rules {
        Some(p) => (product_rows(p), deadline_rows(p)),
        None => (Vec::new(), Vec::new()),
    };
    let view = TenantLanding {
        layout: Layout::tenant(&page, &mut session, Section::Home, None).await?,
        academic_year: facts.academic_year,
        rules_version: facts.rules_version,
        products,
        deadlines,
        root_name: root.map(|r| r.name).unwrap_or_default(),
        regions,
        entries: login_entries(&page),
        now: crate::time::cst(state.clock.now()),
    };
    Ok(Html(view.render()?))
}

/// Products with their rates in words: "10 元/人/年" or "公办 幼儿园 5 元/人/年；其他 8 元/人/年".
fn product_rows(rules: &ProgrammeRules) -> Vec<ProductRow> {
    rules
        .products()
        .iter()
        .map(|p| {
            let rates = p
                .rates
                .iter()
                .map(|r| {
                    let mut who: Vec<String> = Vec::new();
                    if let Some(n) = r.nature {
                        who.push(n.label().to_string());
                    }
                    who.extend(r.school_types.iter().map(|t| t.label().to_string()));
                    let amount = format!("{} 元/人/年", r.rate_fen.yuan_string());
                    if who.is_empty() {
                        amount
                    } else {
                        format!("{} {amount}", who.join("、"))
                    }
                })
                .collect::<Vec<_>>()
                .join("；");
            ProductRow {
                name: p.name.clone(),
                rates,
            }
        })
        .collect()
}

pub(crate) fn deadline_rows(rules: &ProgrammeRules) -> Vec<(String, String)> {
    let year = rules.academic_year();
    xiaobao_domain::rules::Deadline::ALL
        .iter()
        .map(|d| {
            let date = rules.deadline(*d, year);
            (
                d.label().to_string(),
                date.format("%Y年%-m月%-d日").to_string(),
            )
        })
        .collect()
}
