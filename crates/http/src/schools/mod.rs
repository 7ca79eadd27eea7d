//! 学校数据: the schools of one's region for departments, the authority, brokers and central
//! schools — the list (`/t/{slug}/schools`: sub-region, status and name filters, counts per
//! region and status, paging) and one school (`/t/{slug}/schools/{id}`). A department manages
//! the schools of its subtree there: the contact mobile (a login name of the school, unique
//! among live schools) and the password reset (the password is cleared and a set-password
//! link goes to the contact mobile by SMS, in the same transaction). The page also carries the
//! central-school settings (`crate::central`) and, for a central school looking at one of its
//! schools, the change-request form it submits on the school's behalf
//! (`crate::change_requests`).
//!
//! Region scope is applied in SQL to every list and read (`Viewer::school_scope`); a school
//! outside it answers 404 and the attempt is audited (`access.out_of_scope`). Contact mobiles
//! are masked (`138****1234`) except on the detail page for a department managing the school.
//!
//! API: `GET /api/v1/t/{slug}/schools`, `GET …/schools/{id}`,
//! `PUT …/schools/{id}/contact-mobile`, `POST …/schools/{id}/password-reset`.

pub(crate) mod api;
pub(crate) mod assigned;
pub(crate) mod central;
pub(crate) mod change_requests;
mod detail;
mod list;
mod manage;

pub(crate) use api::*;
pub(crate) use detail::*;
pub(crate) use list::*;
pub(crate) use manage::*;

use axum::http::Method;
use utoipa_axum::routes;
use xiaobao_authz::Permission;
use xiaobao_domain::school::{SchoolNature, SchoolType};
use xiaobao_identity::service::Schools;
use xiaobao_identity::{SchoolScope, Viewer};

use crate::AppState;
use crate::web::auth::Routes;
use crate::web::call::Called;
use crate::web::nav::Section;

pub(super) use xiaobao_identity::service::schools::PER_PAGE;

pub fn routes() -> Routes {
    Routes::new()
        .page(
            Method::GET,
            "/t/{slug}/schools",
            Permission::SCHOOLS_LIST,
            show_list,
        )
        .page(
            Method::GET,
            "/t/{slug}/schools/{id}",
            Permission::SCHOOLS_READ,
            show_one,
        )
        .page(
            Method::POST,
            "/t/{slug}/schools/{id}/contact-mobile",
            Permission::SCHOOLS_MANAGE,
            submit_mobile,
        )
        .page(
            Method::POST,
            "/t/{slug}/schools/{id}/password-reset",
            Permission::SCHOOLS_MANAGE,
            submit_reset,
        )
        .api(Permission::SCHOOLS_LIST, routes!(api_list))
        .api(Permission::SCHOOLS_READ, routes!(api_get))
        .api(Permission::SCHOOLS_MANAGE, routes!(api_change_mobile))
        .api(Permission::SCHOOLS_MANAGE, routes!(api_reset_password))
}

/// The schools context for the caller.
pub(crate) fn service(call: &impl Called) -> Schools {
    Schools::new(call.caller())
}

/// 公办 / 民办 from the stored code.
pub(crate) fn nature_label(code: Option<&str>) -> String {
    code.and_then(|c| c.parse::<SchoolNature>().ok())
        .map(|n| n.label().to_string())
        .unwrap_or_default()
}

/// 小学, 初中（含完中）… from the stored code.
pub(crate) fn type_label(code: Option<&str>) -> String {
    code.and_then(|c| c.parse::<SchoolType>().ok())
        .map(|t| t.label().to_string())
        .unwrap_or_default()
}

/// A contact mobile as lists show it (`138****1234`).
pub(crate) fn masked(mobile: Option<&str>) -> String {
    mobile.map(xiaobao_audit::mask_phone).unwrap_or_default()
}

/// Whether the viewer manages the schools of its scope (departments): the full contact mobile
/// and the management forms.
pub(super) fn manages(state: &AppState, viewer: &Viewer) -> bool {
    state
        .auth
        .authz
        .allows(&viewer.roles, Permission::SCHOOLS_MANAGE)
}

/// The section a school page belongs to in the viewer's navigation.
pub(crate) fn section_of(viewer: &Viewer) -> Section {
    match viewer.school_scope() {
        SchoolScope::Central { .. } => Section::AssignedSchools,
        _ => Section::Schools,
    }
}
