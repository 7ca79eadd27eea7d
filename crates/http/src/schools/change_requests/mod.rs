//! 申请修改: a school's own record (`/t/{slug}/school`, 学校信息) with its requests for a new
//! name, a new region (a county or 市直 of the programme) or deregistration (merger or closure
//! only, with a reason) — one open request per kind. A central school submits the same
//! requests for one of its schools from the school's page (`/t/{slug}/schools/{id}`), recorded
//! as done on the school's behalf.
//!
//! The department (`CHANGE_REQUESTS_DECIDE`) lists the requests of its subtree
//! (`/t/{slug}/change-requests`) and approves — the change is applied, see
//! `school_admin::decide_request` — or refuses with a reason. A request outside the scope
//! answers 404 and the attempt is audited.
//!
//! API: `GET /api/v1/t/{slug}/school`, `POST …/school/change-requests`,
//! `GET …/change-requests`, `GET …/change-requests/{id}`, `POST …/change-requests/{id}/decision`.

mod api;
mod department;
mod own;

pub(crate) use api::*;
pub(crate) use department::*;
pub(crate) use own::*;

use axum::http::Method;
use utoipa_axum::routes;
use xiaobao_authz::Permission;

use crate::web::auth::Routes;

pub fn routes() -> Routes {
    let decide = Permission::CHANGE_REQUESTS_DECIDE;
    Routes::new()
        .page(
            Method::GET,
            "/t/{slug}/school",
            Permission::SCHOOL_PROFILE_READ,
            show_profile,
        )
        .page(
            Method::POST,
            "/t/{slug}/school/change-requests",
            Permission::SCHOOL_PROFILE_REQUEST_CHANGE,
            submit_own,
        )
        .page(
            Method::POST,
            "/t/{slug}/schools/{id}/change-requests",
            Permission::SCHOOL_PROFILE_REQUEST_CHANGE,
            submit_on_behalf,
        )
        .page(Method::GET, "/t/{slug}/change-requests", decide, show_list)
        .page(
            Method::GET,
            "/t/{slug}/change-requests/{id}",
            decide,
            show_one,
        )
        .page(
            Method::POST,
            "/t/{slug}/change-requests/{id}/decision",
            decide,
            submit_decision,
        )
        .api(Permission::SCHOOL_PROFILE_READ, routes!(api_profile))
        .api(
            Permission::SCHOOL_PROFILE_REQUEST_CHANGE,
            routes!(api_request),
        )
        .api(decide, routes!(api_list))
        .api(decide, routes!(api_get))
        .api(decide, routes!(api_decide))
}
