//! The school list and one school as JSON, and the management actions.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use chrono::{DateTime, FixedOffset};
use serde::Serialize;
use xiaobao_identity::orgs::SchoolRow;
use xiaobao_identity::service::schools::ListExtras;

use crate::web::call::ApiCall;
use crate::web::error::{ApiError, bad_json};

use super::*;

/// A school as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct SchoolApiView {
    pub(super) org_id: i64,
    pub(super) name: String,
    pub(super) region_code: String,
    pub(super) region_name: String,
    /// `pending`, `active`, `refused` or `deregistered`.
    pub(super) status: String,
    /// `public` or `private`.
    pub(super) nature: Option<String>,
    pub(super) school_type: Option<String>,
    pub(super) address: Option<String>,
    pub(super) principal: Option<String>,
    pub(super) contact_name: Option<String>,
    /// Masked (`138****1234`) unless a department managing the school reads one school.
    pub(super) contact_mobile: Option<String>,
    pub(super) is_central: bool,
    pub(super) central_school_id: Option<i64>,
    pub(super) central_school_name: Option<String>,
    pub(super) created_at: DateTime<FixedOffset>,
}

pub(crate) fn api_view(r: SchoolRow, full_mobile: bool) -> SchoolApiView {
    SchoolApiView {
        contact_mobile: if full_mobile {
            r.contact_mobile
        } else {
            r.contact_mobile.as_deref().map(xiaobao_audit::mask_phone)
        },
        org_id: r.org_id,
        name: r.name,
        region_code: r.region_code,
        region_name: r.region_name,
        status: r.status.to_string(),
        nature: r.nature,
        school_type: r.school_type,
        address: r.address,
        principal: r.principal,
        contact_name: r.contact_name,
        is_central: r.is_central,
        central_school_id: r.central_school_id,
        central_school_name: r.central_school_name,
        created_at: crate::web::time::to_cst(r.created_at),
    }
}

/// One page of schools.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct SchoolPage {
    /// Schools matching the filters (every page).
    pub(super) total: i64,
    pub(super) page: i64,
    pub(super) per_page: i64,
    pub(super) items: Vec<SchoolApiView>,
}

/// The schools of one's scope, filtered and paged.
#[utoipa::path(get, path = "/api/v1/t/{slug}/schools", operation_id = "list_schools", tag = "schools",
    params(("slug" = String, Path, description = "租户标识"), ListQuery),
    responses((status = 200, body = SchoolPage), (status = 401, body = crate::web::error::ErrorBody),
        (status = 403, body = crate::web::error::ErrorBody), (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_list(
    call: ApiCall,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<SchoolPage>, ApiError> {
    let Query(query) = query
        .map_err(|_| ApiError::invalid("page", "查询参数格式错误：page 和 per_page 应为正整数"))?;
    let listing = service(&call)
        .listing(query.into(), ListExtras::default())
        .await;
    let listing = call.answer(listing).await?.0;
    Ok(Json(SchoolPage {
        total: listing.total,
        page: listing.filters.page,
        per_page: listing.filters.per_page,
        items: listing
            .rows
            .into_iter()
            .map(|r| api_view(r, false))
            .collect(),
    }))
}

/// One school of one's scope.
#[utoipa::path(get, path = "/api/v1/t/{slug}/schools/{id}", operation_id = "get_school", tag = "schools",
    params(("slug" = String, Path, description = "租户标识"), ("id" = i64, Path, description = "学校（机构）编号")),
    responses((status = 200, body = SchoolApiView), (status = 404, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_get(
    call: ApiCall,
    Path(path): Path<(String, String)>,
) -> Result<Json<SchoolApiView>, ApiError> {
    let id = path.1;
    let school = call.answer(load_school(&call, &id).await).await?.0;
    Ok(Json(api_view(
        school,
        manages(&call.state, call.current.viewer()),
    )))
}

/// Changes a school's contact mobile (departments, own region).
#[utoipa::path(put, path = "/api/v1/t/{slug}/schools/{id}/contact-mobile", tag = "schools",
    params(("slug" = String, Path, description = "租户标识"), ("id" = i64, Path, description = "学校（机构）编号")),
    request_body = MobileInput,
    responses((status = 204, description = "已修改"), (status = 404, body = crate::web::error::ErrorBody),
        (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_change_mobile(
    call: ApiCall,
    Path(path): Path<(String, String)>,
    body: Result<Json<MobileInput>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let id = path.1;
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    let outcome = change_mobile(&call, &id, &body.contact_mobile).await;
    call.done(outcome).await
}

/// Resets a school's password: it is cleared and a set-password link goes to the contact
/// mobile by SMS (departments, own region).
#[utoipa::path(post, path = "/api/v1/t/{slug}/schools/{id}/password-reset", tag = "schools",
    params(("slug" = String, Path, description = "租户标识"), ("id" = i64, Path, description = "学校（机构）编号")),
    responses((status = 204, description = "已重置，链接已发送"), (status = 404, body = crate::web::error::ErrorBody),
        (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_reset_password(
    call: ApiCall,
    Path(path): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id = path.1;
    let outcome = reset_password(&call, &call.state, &call.tenant.slug, &id).await;
    call.done(outcome).await
}
