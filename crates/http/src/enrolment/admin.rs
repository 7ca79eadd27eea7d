//! Enrolment as the authority and the departments see it: 学年管理 (opening a year), 投保进度
//! (progress per region, the schools that have not submitted, reopening a school), 修改审核
//! (deciding the requests schools make after submitting), 保费统计 (premium totals) and the
//! masked roster download of an enrolment in one's scope.
//!
//! API twins under `/api/v1/t/{slug}/enrolment/…` answer JSON; a [`Problem`] is 404
//! (`is_not_found`, audited as out of scope), 409 (`is_conflict`) or 422 with its `code` and
//! `field`.

use std::sync::Arc;
use utoipa_axum::routes;
use xiaobao_domain::ids::EnrolmentId;

use axum::extract::{Path, State};
use axum::http::Method;
use axum::response::Response;
use xiaobao_authz::Permission;
use xiaobao_db::Tenant;
use xiaobao_domain::Failure;
use xiaobao_domain::Fen;
use xiaobao_enrolment::Enrolments;

use crate::AppState;
use crate::web::auth::{Current, Routes};
use crate::web::call::{Reply, audited};
use crate::web::tenant::PageTenant;

pub fn routes() -> Routes {
    let years = Permission::ENROLMENT_YEARS_MANAGE;
    let progress = Permission::ENROLMENT_PROGRESS;
    let reopen = Permission::ENROLMENT_REOPEN;
    let decide = Permission::ENROLMENT_REQUESTS_DECIDE;
    let download = Permission::ROSTERS_DOWNLOAD;
    Routes::new()
        .page(
            Method::GET,
            "/t/{slug}/enrolment/years",
            years,
            super::years::show_years,
        )
        .page(
            Method::POST,
            "/t/{slug}/enrolment/years/{year}/open",
            years,
            super::years::submit_open,
        )
        .page(
            Method::GET,
            "/t/{slug}/enrolment/progress",
            progress,
            super::progress::show_progress,
        )
        .page(
            Method::POST,
            "/t/{slug}/enrolment/schools/{org_id}/reopen",
            reopen,
            super::progress::submit_reopen,
        )
        .page(
            Method::GET,
            "/t/{slug}/enrolment/requests",
            decide,
            super::review::show_requests,
        )
        .page(
            Method::GET,
            "/t/{slug}/enrolment/requests/{id}",
            decide,
            super::review::show_request,
        )
        .page(
            Method::POST,
            "/t/{slug}/enrolment/requests/{id}/decision",
            decide,
            super::review::submit_decision,
        )
        .page(
            Method::GET,
            "/t/{slug}/enrolment/premiums",
            progress,
            super::premiums::show_premiums,
        )
        .page(
            Method::GET,
            "/t/{slug}/enrolment/{enrolment_id}/roster.xlsx",
            download,
            page_roster,
        )
        .api(years, routes!(super::years::api_years))
        .api(years, routes!(super::years::api_open))
        .api(progress, routes!(super::progress::api_progress))
        .api(progress, routes!(super::progress::api_not_submitted))
        .api(reopen, routes!(super::progress::api_reopen))
        .api(decide, routes!(super::review::api_requests))
        .api(decide, routes!(super::review::api_decide))
        .api(progress, routes!(super::premiums::api_premiums))
}

// ---------------------------------------------------------------------------------------------
// Shared: failures, the current year, downloads.

/// The enrolment service for a call's state, tenant and account.
pub(crate) fn enrolments(state: &AppState, tenant: &Arc<Tenant>, current: &Current) -> Enrolments {
    Enrolments::new(crate::web::call::caller(state, tenant, current))
}

/// Shown by the department pages instead of their data while no academic year is open.
pub(crate) const NO_YEAR_NOTICE: &str =
    "尚未开放投保学年，请由项目管理方在「学年管理」中开放学年。";

/// Whether a failure is that no academic year is open.
pub(crate) fn no_year_open(f: &Failure) -> bool {
    f.refusal().is_some_and(|r| r.code == "year_not_open")
}

pub(crate) use super::path_id;

pub(crate) use crate::web::files::{XLSX, download};

/// One enrolment's roster as XLSX, in the viewer's scope; IDs unmasked when `unmasked`.
/// The read is audited by the service; a miss is audited as out of scope.
pub(crate) async fn roster_file(
    state: &AppState,
    tenant: &Arc<Tenant>,
    current: &Current,
    id: &str,
    unmasked: bool,
) -> Result<Response, Failure> {
    let result = async {
        let enrolment_id = path_id::<EnrolmentId>(id)?;
        let sealer = state.sealer(tenant);
        let export = enrolments(state, tenant, current)
            .roster_export(&sealer, enrolment_id, unmasked)
            .await?;
        let name = export.file_name.clone();
        let bytes = tokio::task::spawn_blocking(move || {
            xiaobao_roster::roster_xlsx(export.group, &export.title, &export.rows)
        })
        .await
        .map_err(Failure::internal)?;
        Ok::<_, Failure>(download(bytes, XLSX, &name))
    }
    .await;
    match result {
        Ok(r) => Ok(r),
        Err(f) => Err(audited(state, tenant, current, f).await),
    }
}

/// Whether the viewer's roles may see ID numbers in full.
pub(crate) fn may_unmask(state: &AppState, current: &Current) -> bool {
    state
        .auth
        .authz
        .allows(&current.viewer().roles, Permission::ROSTERS_UNMASKED)
}

async fn page_roster(
    State(state): State<AppState>,
    page: PageTenant,
    current: Current,
    Path((_, id)): Path<(String, String)>,
) -> Response {
    match roster_file(&state, &page.tenant, &current, &id, false).await {
        Ok(r) => r,
        Err(f) => f.page(&page),
    }
}

pub(super) fn yuan(fen: i64) -> String {
    Fen(fen).yuan_string()
}

pub(super) struct Tab {
    pub label: String,
    pub href: String,
    pub current: bool,
}
