//! The platform's programme list and each programme's landing page.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::{Html, Redirect};
use axum::routing::get;

use std::sync::Arc;

use xiaobao_db::Tenant;
use xiaobao_domain::AccountType;
use xiaobao_domain::rules::ProgrammeRules;

use crate::AppState;
use crate::web::error::PageError;
use crate::web::layout::Layout;
use crate::web::nav::Section;
use crate::web::session::WebSession;
use crate::web::tenant::PageTenant;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(platform_index))
        .route("/t/{slug}", get(tenant_root_redirect))
        .route("/t/{slug}/", get(tenant_landing))
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
    /// What the signed-in account has to do now.
    todos: Vec<crate::todo::Todo>,
    /// A school's 投保数据 and 承保数据 panels.
    school: Option<crate::school_home::SchoolPanels>,
}

/// The programme facts shown on the landing and login pages.
pub(crate) struct ProgrammeFacts {
    pub academic_year: String,
    pub rules_version: Option<i32>,
    pub rules: Option<ProgrammeRules>,
}

/// The public reads of the programme.
pub(crate) fn programme(state: &AppState, tenant: &Arc<Tenant>) -> xiaobao_db::Programme {
    xiaobao_db::Programme::new(state.db.clone(), tenant.clone())
}

pub(crate) async fn programme_facts(
    state: &AppState,
    tenant: &Arc<Tenant>,
) -> Result<ProgrammeFacts, PageError> {
    let (year, stored) = programme(state, tenant).newest_rules().await?;
    let academic_year = year.unwrap_or_default();
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
    let (root, regions) = programme(&state, &page.tenant).top_regions().await?;
    let (products, deadlines) = match &facts.rules {
        Some(p) => (product_rows(p), deadline_rows(p)),
        None => (Vec::new(), Vec::new()),
    };
    let (todos, school) = match session.user().filter(|u| !u.must_change_password) {
        Some(user) => {
            let current = crate::web::auth::Current {
                user: user.clone(),
                ip: None,
                user_agent: None,
            };
            let caller = crate::web::call::caller(&state, &page.tenant, &current);
            let school = match user.role {
                xiaobao_domain::Role::School | xiaobao_domain::Role::CentralSchool => {
                    Some(crate::school_home::panels(&page, &caller).await)
                }
                _ => None,
            };
            (
                crate::todo::for_caller(&state, &page, caller, user.role).await,
                school,
            )
        }
        None => (Vec::new(), None),
    };
    let view = TenantLanding {
        todos,
        school,
        layout: Layout::tenant(&page, &mut session, Section::Home, None).await?,
        academic_year: facts.academic_year,
        rules_version: facts.rules_version,
        products,
        deadlines,
        root_name: root.map(|r| r.name).unwrap_or_default(),
        regions,
        entries: login_entries(&page),
        now: crate::web::time::cst(state.clock.now()),
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
