//! 运营控制台: the platform operator's console, outside every programme.
//!
//! Pages: `/platform/login` (password, then `/platform/login/second-factor`), `/platform/logout`,
//! `/platform/tenants` (list, 开通租户 with an uploaded rules file or a copy, 归档),
//! `/platform/clusters`, `/platform/calendars` (upload, preview, 确认导入), `/platform/companies`
//! (保险公司与经纪公司), `/platform/logins` (平台账号: one-time passwords, grants), `/platform/audit`,
//! `/platform/account/password` and `/platform/account/two-factor` (QR enrolment).
//!
//! API: the same under `/api/v1/platform/…` (session cookie and `X-CSRF-Token`), the sign-in
//! as `POST /api/v1/platform/session`. Every action is one call of [`xiaobao_platform::Console`].

mod account;
mod api;
mod directory_api;
mod directory_pages;
mod login;
mod pages;

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Method, header};
use axum::response::Redirect;
use axum::routing::get;
use utoipa_axum::routes;
use xiaobao_authz::Permission;
use xiaobao_platform::{Console, OperatorCaller};

use crate::AppState;
use crate::web::auth::Routes;
use crate::web::error::PageError;
use crate::web::nav::NavItem;
use crate::web::platform::OperatorCurrent;

pub fn routes() -> Routes {
    use Permission as P;
    let (tenants, clusters, calendars, audit, own) = (
        P::PLATFORM_TENANTS,
        P::PLATFORM_CLUSTERS,
        P::PLATFORM_CALENDARS,
        P::PLATFORM_AUDIT,
        P::PLATFORM_ACCOUNT,
    );
    let (companies, logins) = (P::PLATFORM_COMPANIES, P::PLATFORM_LOGINS);
    Routes::new()
        .open(
            "/platform/",
            get(|| async { Redirect::to("/platform/tenants") }),
        )
        .open(
            "/platform/login",
            get(login::show_login).post(login::submit_login),
        )
        .open(
            "/platform/login/second-factor",
            get(login::show_second_factor).post(login::submit_second_factor),
        )
        .open("/platform/logout", axum::routing::post(login::logout))
        .open_api(routes!(login::api_sign_in))
        .platform_page(Method::GET, "/platform/tenants", tenants, pages::tenants)
        .platform_page(
            Method::POST,
            "/platform/tenants",
            tenants,
            pages::create_tenant,
        )
        .platform_page(
            Method::POST,
            "/platform/tenants/{slug}/archive",
            tenants,
            pages::archive_tenant,
        )
        .platform_page(Method::GET, "/platform/clusters", clusters, pages::clusters)
        .platform_page(
            Method::GET,
            "/platform/calendars",
            calendars,
            pages::calendars,
        )
        .platform_page(
            Method::POST,
            "/platform/calendars/preview",
            calendars,
            pages::preview_calendar,
        )
        .platform_page(
            Method::POST,
            "/platform/calendars/import",
            calendars,
            pages::import_calendar,
        )
        .platform_page(Method::GET, "/platform/audit", audit, pages::audit)
        .platform_page(
            Method::GET,
            "/platform/companies",
            companies,
            directory_pages::companies,
        )
        .platform_page(
            Method::POST,
            "/platform/companies",
            companies,
            directory_pages::create_company,
        )
        .platform_page(
            Method::POST,
            "/platform/companies/{company_id}/short-name",
            companies,
            directory_pages::set_short_name,
        )
        .platform_page(
            Method::GET,
            "/platform/logins",
            logins,
            directory_pages::logins,
        )
        .platform_page(
            Method::POST,
            "/platform/logins",
            logins,
            directory_pages::create_login,
        )
        .platform_page(
            Method::POST,
            "/platform/logins/{identity_id}/password",
            logins,
            directory_pages::reset_password,
        )
        .platform_page(
            Method::POST,
            "/platform/logins/{identity_id}/status",
            logins,
            directory_pages::set_status,
        )
        .platform_page(
            Method::POST,
            "/platform/logins/{identity_id}/grants",
            logins,
            directory_pages::grant,
        )
        .platform_page(
            Method::POST,
            "/platform/logins/{identity_id}/grants/{tenant}/revoke",
            logins,
            directory_pages::revoke,
        )
        .platform_page(
            Method::GET,
            "/platform/account/password",
            own,
            account::show_password,
        )
        .platform_page(
            Method::POST,
            "/platform/account/password",
            own,
            account::change_password,
        )
        .platform_page(
            Method::GET,
            "/platform/account/two-factor",
            own,
            account::show_two_factor,
        )
        .platform_page(
            Method::POST,
            "/platform/account/two-factor/start",
            own,
            account::start,
        )
        .platform_page(
            Method::POST,
            "/platform/account/two-factor/confirm",
            own,
            account::confirm,
        )
        .platform_page(
            Method::POST,
            "/platform/account/two-factor/disable",
            own,
            account::disable,
        )
        .platform_api(tenants, routes!(api::tenants, api::create_tenant))
        .platform_api(tenants, routes!(api::archive_tenant))
        .platform_api(clusters, routes!(api::clusters))
        .platform_api(calendars, routes!(api::calendars, api::import_calendar))
        .platform_api(calendars, routes!(api::preview_calendar))
        .platform_api(audit, routes!(api::audit))
        .platform_api(
            companies,
            routes!(directory_api::companies, directory_api::create_company),
        )
        .platform_api(companies, routes!(directory_api::set_company_short_name))
        .platform_api(
            logins,
            routes!(directory_api::logins, directory_api::create_login),
        )
        .platform_api(logins, routes!(directory_api::reset_password))
        .platform_api(logins, routes!(directory_api::set_status))
        .platform_api(logins, routes!(directory_api::grant))
        .platform_api(logins, routes!(directory_api::revoke))
}

/// The console's menu, `current` (a path below `/platform/`) highlighted.
pub(crate) fn menu(current: &str) -> Vec<NavItem> {
    [
        ("租户", "tenants"),
        ("数据库集群", "clusters"),
        ("节假日日历", "calendars"),
        ("保险公司与经纪公司", "companies"),
        ("平台账号", "logins"),
        ("运营操作日志", "audit"),
        ("修改密码", "account/password"),
        ("两步验证", "account/two-factor"),
    ]
    .into_iter()
    .map(|(label, path)| NavItem {
        label,
        href: Some(format!("/platform/{path}")),
        current: path == current,
    })
    .collect()
}

/// The console's page layout for the operator of `call`, the menu item `path` highlighted.
pub(crate) async fn layout(
    call: &OperatorCall,
    session: &mut crate::web::session::WebSession,
    path: &str,
    title: &str,
) -> Result<crate::web::layout::Layout, PageError> {
    Ok(crate::web::layout::Layout::operator(
        &call.current.operator,
        session.csrf_token().await?,
        menu(path),
        title,
    ))
}

/// A guarded console request: the state and the operator.
pub(crate) struct OperatorCall {
    pub state: AppState,
    pub current: OperatorCurrent,
}

impl FromRequestParts<AppState> for OperatorCall {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self {
            state: state.clone(),
            current: OperatorCurrent::from_request_parts(parts, state).await?,
        })
    }
}

impl OperatorCall {
    pub(crate) fn console(&self) -> Console {
        Console::new(OperatorCaller {
            db: self.state.db.clone(),
            operator: self.current.operator.clone(),
            ip: self.current.ip.clone(),
            clock: self.state.clock.clone(),
            calendar: self.state.calendar.clone(),
        })
    }
}

/// The fields of a multipart form: text fields, and the file fields' bytes (each at most
/// `max_file` bytes; `Err` with a Chinese message otherwise).
pub(crate) struct Multipart {
    pub fields: std::collections::HashMap<String, String>,
    pub files: std::collections::HashMap<String, Vec<u8>>,
}

/// Why a multipart form was not read.
pub(crate) enum MultipartProblem {
    TooLarge,
    Unreadable(&'static str),
}

pub(crate) async fn read_multipart(
    request: Request,
    max_file: usize,
) -> Result<Multipart, MultipartProblem> {
    let boundary = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| multer::parse_boundary(ct).ok())
        .ok_or(MultipartProblem::Unreadable(
            "请通过页面上的表单上传文件（multipart/form-data）",
        ))?;
    let stream = request.into_body().into_data_stream();
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut out = Multipart {
        fields: Default::default(),
        files: Default::default(),
    };
    while let Some(mut field) = multipart.next_field().await.map_err(|_| broken_again())? {
        let name = field.name().unwrap_or_default().to_string();
        let is_file = field.file_name().is_some();
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(|_| broken_again())? {
            if bytes.len() + chunk.len() > max_file {
                return Err(MultipartProblem::TooLarge);
            }
            bytes.extend_from_slice(&chunk);
        }
        if is_file {
            if !bytes.is_empty() {
                out.files.insert(name, bytes);
            }
        } else {
            out.fields
                .insert(name, String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    Ok(out)
}

fn broken_again() -> MultipartProblem {
    MultipartProblem::Unreadable("上传内容不完整，请重新上传")
}
