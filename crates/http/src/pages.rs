//! Server-rendered pages (Chinese).

use askama::Template;
use axum::Router;
use axum::extract::{OriginalUri, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use chrono::Utc;
use xiaobao_domain::rules::ProgrammeRules;

use crate::AppState;
use crate::error::ApiError;
use crate::tenant::PageTenant;

const APP_CSS: &str = include_str!("../static/app.css");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(platform_index))
        .route("/static/app.css", get(app_css))
        .route("/t/{slug}", get(tenant_root_redirect))
        .route("/t/{slug}/", get(tenant_landing))
}

/// A page that could not be shown, rendered as a Chinese error page.
#[derive(Debug)]
pub enum PageError {
    NotFound,
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl From<xiaobao_db::DbError> for PageError {
    fn from(e: xiaobao_db::DbError) -> Self {
        Self::Internal(Box::new(e))
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
    brand: &'a str,
    home: &'a str,
    status: u16,
    title: &'a str,
    message: &'a str,
}

fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    let page = ErrorPage {
        brand: "校保",
        home: "/",
        status: status.as_u16(),
        title,
        message,
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
            ),
            Self::Internal(error) => {
                tracing::error!(%error, "page failed");
                error_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "系统出错了",
                    "服务器处理请求时出错，请稍后重试。如果问题持续，请联系管理员。",
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

async fn app_css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        APP_CSS,
    )
}

struct TenantLink {
    slug: String,
    name_zh: String,
}

#[derive(Template)]
#[template(path = "platform_index.html")]
struct PlatformIndex {
    brand: &'static str,
    home: &'static str,
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
        brand: "校保 · 校方责任保险管理平台",
        home: "/",
        tenants,
    };
    Ok(Html(page.render()?))
}

async fn tenant_root_redirect(PageTenant(tenant): PageTenant) -> Redirect {
    Redirect::permanent(&format!("/t/{}/", tenant.slug))
}

struct ProductRow {
    name: String,
    rates: String,
}

#[derive(Template)]
#[template(path = "tenant_landing.html")]
struct TenantLanding {
    brand: String,
    home: String,
    academic_year: String,
    rules_version: Option<i32>,
    products: Vec<ProductRow>,
    deadlines: Vec<(String, String)>,
    root_name: String,
    regions: Vec<xiaobao_db::regions::Region>,
    now: String,
}

async fn tenant_landing(
    State(state): State<AppState>,
    PageTenant(tenant): PageTenant,
) -> Result<Html<String>, PageError> {
    let mut tx = state.db.tenant_tx(&tenant).await?;
    let years = xiaobao_db::rules::years(&mut tx).await?;
    let academic_year = years.first().cloned().unwrap_or_default();
    let rules = xiaobao_db::rules::current(&mut tx, &academic_year).await?;
    let root = xiaobao_db::regions::root(&mut tx).await?;
    let regions = match &root {
        Some(r) => xiaobao_db::regions::children(&mut tx, &r.region_code).await?,
        None => Vec::new(),
    };
    tx.commit().await?;
    let parsed = rules
        .as_ref()
        .and_then(|r| ProgrammeRules::from_toml_str(&r.document).ok());
    let (products, deadlines) = match &parsed {
        Some(p) => (product_rows(p), deadline_rows(p)),
        None => (Vec::new(), Vec::new()),
    };
    let page = TenantLanding {
        brand: tenant.name_zh.clone(),
        home: format!("/t/{}/", tenant.slug),
        academic_year: if academic_year.is_empty() {
            "未配置".into()
        } else {
            academic_year
        },
        rules_version: rules.map(|r| r.version),
        products,
        deadlines,
        root_name: root.map(|r| r.name).unwrap_or_default(),
        regions,
        now: crate::time::cst(Utc::now()),
    };
    Ok(Html(page.render()?))
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

fn deadline_rows(rules: &ProgrammeRules) -> Vec<(String, String)> {
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
