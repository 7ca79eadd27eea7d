//! Change requests as JSON.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use chrono::{DateTime, FixedOffset};
use serde::Serialize;
use xiaobao_identity::school_admin::ChangeRequestRow;

use crate::schools::{SchoolApiView, api_view, service};
use crate::web::call::ApiCall;
use crate::web::error::{ApiError, bad_json};

use super::*;

/// A change request.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ChangeRequestView {
    pub(super) change_request_id: i64,
    pub(super) org_id: i64,
    pub(super) school_name: String,
    pub(super) region_code: String,
    pub(super) region_name: String,
    /// `rename`, `move_region` or `deregister`.
    pub(super) kind: String,
    pub(super) new_name: Option<String>,
    pub(super) new_region_code: Option<String>,
    pub(super) new_region_name: Option<String>,
    /// `merger` or `closure`.
    pub(super) deregister_cause: Option<String>,
    pub(super) reason: String,
    /// `pending`, `approved` or `refused`.
    pub(super) status: String,
    /// The school, when a central school submitted the request for it.
    pub(super) on_behalf_of: Option<i64>,
    pub(super) created_at: DateTime<FixedOffset>,
    pub(super) decided_at: Option<DateTime<FixedOffset>>,
    pub(super) decision_reason: Option<String>,
}

impl From<ChangeRequestRow> for ChangeRequestView {
    fn from(r: ChangeRequestRow) -> Self {
        Self {
            change_request_id: r.change_request_id,
            org_id: r.org_id,
            school_name: r.school_name,
            region_code: r.region_code,
            region_name: r.region_name,
            kind: r.kind,
            new_name: r.new_name,
            new_region_code: r.new_region_code,
            new_region_name: r.new_region_name,
            deregister_cause: r.deregister_cause,
            reason: r.reason,
            status: r.status.to_string(),
            on_behalf_of: r.on_behalf_of,
            created_at: crate::web::time::to_cst(r.created_at),
            decided_at: r.decided_at.map(crate::web::time::to_cst),
            decision_reason: r.decision_reason,
        }
    }
}

/// A school's own record and its requests.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ProfileView {
    pub(super) school: SchoolApiView,
    pub(super) requests: Vec<ChangeRequestView>,
}

/// One's own school (schools and central schools) and its change requests.
#[utoipa::path(get, path = "/api/v1/t/{slug}/school", tag = "schools",
    params(("slug" = String, Path, description = "租户标识")),
    responses((status = 200, body = ProfileView), (status = 403, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_profile(call: ApiCall) -> Result<Json<ProfileView>, ApiError> {
    let profile = call.answer(service(&call).profile().await).await?.0;
    Ok(Json(ProfileView {
        school: api_view(profile.school, true),
        requests: profile.requests.into_iter().map(Into::into).collect(),
    }))
}

/// Asks the department for a new name, a new region or deregistration (one open request per
/// kind).
#[utoipa::path(post, path = "/api/v1/t/{slug}/school/change-requests", tag = "schools",
    params(("slug" = String, Path, description = "租户标识")),
    request_body = RequestInput,
    responses((status = 201, body = ChangeRequestView), (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_request(
    call: ApiCall,
    body: Result<Json<RequestInput>, JsonRejection>,
) -> Result<(StatusCode, Json<ChangeRequestView>), ApiError> {
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    let row = call
        .answer(service(&call).request_own(&body.to_new()).await)
        .await?
        .0;
    Ok((StatusCode::CREATED, Json(row.into())))
}

/// The requests of the schools of one's region, newest first (pending unless asked).
#[utoipa::path(get, path = "/api/v1/t/{slug}/change-requests", operation_id = "list_change_requests", tag = "schools",
    params(("slug" = String, Path, description = "租户标识"), ListQuery),
    responses((status = 200, body = Vec<ChangeRequestView>), (status = 403, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_list(
    call: ApiCall,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Vec<ChangeRequestView>>, ApiError> {
    let rows = service(&call).requests(pending_only(query)).await;
    let rows = call.answer(rows).await?.0;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

/// One request of a school of one's region.
#[utoipa::path(get, path = "/api/v1/t/{slug}/change-requests/{id}", operation_id = "get_change_request", tag = "schools",
    params(("slug" = String, Path, description = "租户标识"), ("id" = i64, Path, description = "申请编号")),
    responses((status = 200, body = ChangeRequestView), (status = 404, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_get(
    call: ApiCall,
    Path(path): Path<(String, String)>,
) -> Result<Json<ChangeRequestView>, ApiError> {
    let id = path.1;
    let row = call.answer(load_one(&call, &id).await).await?.0;
    Ok(Json(row.into()))
}

/// Approves (the change is applied) or refuses (with a reason) a pending request.
#[utoipa::path(post, path = "/api/v1/t/{slug}/change-requests/{id}/decision", operation_id = "decide_change_request", tag = "schools",
    params(("slug" = String, Path, description = "租户标识"), ("id" = i64, Path, description = "申请编号")),
    request_body = DecisionInput,
    responses((status = 200, body = ChangeRequestView), (status = 404, body = crate::web::error::ErrorBody),
        (status = 409, body = crate::web::error::ErrorBody), (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_decide(
    call: ApiCall,
    Path(path): Path<(String, String)>,
    body: Result<Json<DecisionInput>, JsonRejection>,
) -> Result<Json<ChangeRequestView>, ApiError> {
    let id = path.1;
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    let Some(decision) = body.decision() else {
        return Err(ApiError::invalid(
            "decision",
            "decision 应为 approve 或 refuse",
        ));
    };
    let row = call.answer(decide(&call, &id, &decision).await).await?.0;
    Ok(Json(row.into()))
}
