//! The frame around every page (`templates/base.html`): the header with the programme's name,
//! the navigation of the viewer's role, the account area.

use xiaobao_db::Tenant;

use crate::web::assets;
use crate::web::csrf::CsrfToken;
use crate::web::error::PageError;
use crate::web::nav::{NavItem, Section, menu};
use crate::web::session::{SignedIn, WebSession};
use crate::web::tenant::PageTenant;

/// The platform's own name (the page list, errors outside a programme).
pub const PLATFORM_BRAND: &str = "校保 · 校方责任保险管理平台";

/// The sign-out form in the header.
pub struct LogoutForm {
    pub action: String,
    pub token: CsrfToken,
}

/// What `base.html` needs; every page template has a `layout` field.
pub struct Layout {
    /// The whole `<title>`.
    pub title: String,
    /// The name in the header: the programme's name in a tenant.
    pub brand: String,
    pub tagline: &'static str,
    /// Where the name in the header links to.
    pub home: String,
    pub nav: Vec<NavItem>,
    pub user: Option<SignedIn>,
    /// The header's 登录 button (anonymous visitors, tenant pages other than the login page).
    pub login_href: Option<String>,
    pub logout: Option<LogoutForm>,
    pub asset_version: &'static str,
}

/// The console's name in the header.
pub const CONSOLE_BRAND: &str = "校保 · 运营控制台";

const TENANT_TAGLINE: &str = "校方责任保险 · 投保 承保 理赔全程在线服务";

fn title_of(page: Option<&str>, brand: &str) -> String {
    match page {
        Some(page) => format!("{page} - {brand}"),
        None => brand.to_string(),
    }
}

impl Layout {
    /// A platform page (outside any programme).
    pub fn platform(page: Option<&str>) -> Self {
        Self {
            title: title_of(page, PLATFORM_BRAND),
            brand: PLATFORM_BRAND.to_string(),
            tagline: "多项目校方责任保险服务平台",
            home: "/".into(),
            nav: Vec::new(),
            user: None,
            login_href: None,
            logout: None,
            asset_version: assets::version(),
        }
    }

    /// A console page of a signed-in platform operator: the console's menu with `current`
    /// highlighted, the operator in the header.
    pub fn operator(
        operator: &xiaobao_platform::OperatorIdentity,
        token: CsrfToken,
        nav: Vec<NavItem>,
        page: &str,
    ) -> Self {
        let viewer = xiaobao_identity::Viewer {
            account_id: operator.operator_id,
            org_id: 0,
            org_kind: "platform".into(),
            roles: vec![xiaobao_domain::Role::PlatformOperator],
            region_code: String::new(),
            region_path: "-".into(),
            company_id: None,
            display_name: operator.display_name.clone(),
        };
        Self {
            title: title_of(Some(page), CONSOLE_BRAND),
            brand: CONSOLE_BRAND.to_string(),
            tagline: "平台运营控制台",
            home: "/platform/tenants".into(),
            nav,
            user: Some(SignedIn::new(viewer, operator.must_change_password)),
            login_href: None,
            logout: Some(LogoutForm {
                action: "/platform/logout".into(),
                token,
            }),
            asset_version: assets::version(),
        }
    }

    /// A programme's page for an anonymous visitor, without touching the session (error pages).
    pub fn tenant_public(tenant: &Tenant, base: &str, page: Option<&str>) -> Self {
        Self {
            title: title_of(page, &tenant.name_zh),
            brand: tenant.name_zh.clone(),
            tagline: TENANT_TAGLINE,
            home: base.to_string(),
            nav: menu(None, base, None),
            user: None,
            login_href: Some(format!("{base}login")),
            logout: None,
            asset_version: assets::version(),
        }
    }

    /// A programme's page: the viewer's navigation with `current` highlighted, the title
    /// `"{page} - {programme}"` (or the programme's name alone).
    pub async fn tenant(
        page_tenant: &PageTenant,
        session: &mut WebSession,
        current: Section,
        page: Option<&str>,
    ) -> Result<Self, PageError> {
        let tenant = &page_tenant.tenant;
        let user = session.user().cloned();
        let logout = match &user {
            Some(_) => Some(LogoutForm {
                action: page_tenant.href("logout"),
                token: session.csrf_token().await?,
            }),
            None => None,
        };
        let login_href =
            (user.is_none() && current != Section::Login).then(|| page_tenant.href("login"));
        Ok(Self {
            title: title_of(page, &tenant.name_zh),
            brand: tenant.name_zh.clone(),
            tagline: TENANT_TAGLINE,
            home: page_tenant.base.clone(),
            nav: menu(
                user.as_ref().map(|u| u.role),
                &page_tenant.base,
                Some(current),
            ),
            user,
            login_href,
            logout,
            asset_version: assets::version(),
        })
    }
}
