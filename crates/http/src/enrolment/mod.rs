//! 投保数据, the school's side of enrolment: per product the headcount, the insurer, the roster
//! (花名册) and the submission; after submitting, requests for a modification or a second
//! insurer. A central school or a broker does the same for the schools of its scope, recorded
//! as done on the school's behalf; departments may look.
//!
//! Pages: `/t/{slug}/enrolment` (a school's own page, or the list of the schools in scope),
//! `/t/{slug}/enrolment/schools/{org_id}`, the forms under it, roster uploads and their result
//! pages (`/t/{slug}/enrolment/rosters/{id}`, problems as XLSX) and the blank templates.
//!
//! API: the same under `/api/v1/t/{slug}/enrolment/…`. Every action is one call of
//! [`xiaobao_enrolment::Enrolments`]; a refusal answers with its stable `code` and `field`
//! (404 outside the scope, audited; 409 against the current state; 422 otherwise). Never logs
//! personal data: ID numbers stay in the roster rows, sealed.
//!
//! - [`pages`]: the school's page, the list of schools in scope, the forms, roster results.
//! - [`api`]: the same actions as JSON.
//! - [`forms`]: what forms and bodies carry, parsed into the service's inputs.

pub(crate) mod admin;
pub(crate) mod api;
pub(crate) mod conflicts;
mod forms;
mod pages;
pub(crate) mod premiums;
pub(crate) mod progress;
pub(crate) mod review;
pub(crate) mod underwriting;
pub(crate) mod years;

use axum::extract::{OriginalUri, Path};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use utoipa_axum::routes;
use xiaobao_authz::Permission;
use xiaobao_domain::ids::{Id, OrgId};
use xiaobao_domain::{InsuredGroup, Role};
use xiaobao_enrolment::Enrolments;

use crate::web::auth::{Current, Routes};
use crate::web::call::Called;
use crate::web::files::{XLSX, download};
use crate::web::tenant::PageTenant;

pub fn routes() -> Routes {
    use Permission as P;
    let (read, edit) = (P::ENROLMENT_READ, P::ENROLMENT_EDIT);
    Routes::new()
        .page(Method::GET, "/t/{slug}/enrolment", read, pages::show_home)
        .page(
            Method::GET,
            "/t/{slug}/enrolment/schools/{org_id}",
            read,
            pages::show_school,
        )
        .page(
            Method::POST,
            "/t/{slug}/enrolment/schools/{org_id}/products/{code}",
            edit,
            pages::save_draft,
        )
        .page(
            Method::GET,
            "/t/{slug}/enrolment/templates/{group}",
            read,
            template_download,
        )
        .page(
            Method::POST,
            "/t/{slug}/enrolment/{enrolment_id}/roster",
            edit,
            pages::upload_roster,
        )
        .page(
            Method::GET,
            "/t/{slug}/enrolment/rosters/{roster_id}",
            read,
            pages::show_roster,
        )
        .page(
            Method::GET,
            "/t/{slug}/enrolment/rosters/{roster_id}/problems.xlsx",
            read,
            pages::roster_problems_xlsx,
        )
        .page(
            Method::POST,
            "/t/{slug}/enrolment/{enrolment_id}/submit",
            edit,
            pages::submit,
        )
        .page(
            Method::POST,
            "/t/{slug}/enrolment/{enrolment_id}/modification",
            edit,
            pages::modification,
        )
        .page(
            Method::POST,
            "/t/{slug}/enrolment/{enrolment_id}/second-insurer",
            edit,
            pages::second_insurer,
        )
        .api(read, routes!(api::api_overview))
        .api(edit, routes!(api::api_save_draft))
        .api(edit, routes!(api::api_upload_roster))
        .api(read, routes!(api::api_roster))
        .api(edit, routes!(api::api_submit))
        .api(edit, routes!(api::api_modification))
        .api(edit, routes!(api::api_second_insurer))
        .api(read, routes!(template_download))
}

// ---------------------------------------------------------------------------------------------
// Shared by the pages and the API.

/// The enrolment service for a call.
fn service(call: &impl Called) -> Enrolments {
    Enrolments::new(call.caller())
}

pub(crate) use crate::web::call::path_id;

/// Whether the viewer is a school working on its own enrolment only (not a central school).
fn is_plain_school(current: &Current) -> bool {
    let v = current.viewer();
    v.has(Role::School) && !v.has(Role::CentralSchool)
}

/// The page of school `org_id` for the viewer.
fn school_href(page: &PageTenant, current: &Current, org_id: OrgId) -> String {
    if is_plain_school(current) && current.viewer().org_id == org_id.get() {
        page.href("enrolment")
    } else {
        page.href(&format!("enrolment/schools/{org_id}"))
    }
}

fn xlsx(bytes: Vec<u8>, name: &str) -> Response {
    download(bytes, XLSX, name)
}

fn group_of(s: &str) -> Option<InsuredGroup> {
    match s.trim_end_matches(".xlsx") {
        "student" => Some(InsuredGroup::Student),
        "staff" => Some(InsuredGroup::Staff),
        "intern" => Some(InsuredGroup::Intern),
        _ => None,
    }
}

fn group_code(g: InsuredGroup) -> &'static str {
    match g {
        InsuredGroup::Student => "student",
        InsuredGroup::Staff => "staff",
        InsuredGroup::Intern => "intern",
    }
}

/// The blank roster template of an insured group (XLSX).
#[utoipa::path(get, path = "/api/v1/t/{slug}/enrolment/templates/{group}", tag = "enrolment",
    params(("slug" = String, Path, description = "租户标识"),
        ("group" = String, Path, description = "student、staff 或 intern（可带 .xlsx）")),
    responses((status = 200, description = "花名册模板（XLSX）",
            content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        (status = 403, body = crate::web::error::ErrorBody),
        (status = 404, body = crate::web::error::ErrorBody, description = "模板不存在")))]
pub(crate) async fn template_download(
    _current: Current,
    OriginalUri(uri): OriginalUri,
    Path((_slug, group)): Path<(String, String)>,
) -> Response {
    match group_of(&group) {
        Some(g) => xlsx(
            xiaobao_roster::roster_template(g),
            &xiaobao_roster::template_file_name(g),
        ),
        // The API's JSON error under `/api/`, the not-found page elsewhere.
        None if uri.path().starts_with("/api/") => {
            crate::web::error::ApiError::NotFound("模板不存在".into()).into_response()
        }
        None => crate::web::error::PageError::NotFound.into_response(),
    }
}
