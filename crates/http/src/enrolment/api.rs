//! The school side of enrolment as JSON: each handler parses its input and answers one call
//! of the enrolment service.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use xiaobao_domain::ids::{EnrolmentId, OrgId, RosterId};
use xiaobao_enrolment::ingest::{RosterRecord, RosterResult};
use xiaobao_enrolment::requests::{ModificationInput, RequestRow};
use xiaobao_enrolment::school::{EnrolmentRow, Overview};

use super::forms::{self, DraftJson, SecondJson};
use super::service;
use crate::web::call::ApiCall;
use crate::web::error::{ApiError, ErrorDetail, bad_json};

/// A roster that was not accepted: the error, and every problem by line (never the values).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct RosterRejected {
    /// `invalid_rows`, with the count of problems in the message.
    error: ErrorDetail,
    /// Always `rejected`.
    result: &'static str,
    roster_id: i64,
    problems: Vec<xiaobao_roster::RowProblem>,
}

/// The 422 answer of a roster upload: the rejected roster with its problems, or the error of
/// input that was not a roster at all (no file, no headcount, a body that is not multipart).
#[derive(utoipa::ToSchema)]
#[serde(untagged)]
#[expect(
    dead_code,
    reason = "describes the answer in the OpenAPI document only"
)]
pub(crate) enum RosterRefused {
    Rejected(RosterRejected),
    Invalid(crate::web::error::ErrorBody),
}

/// A school's enrolment in the current year: per product its enrolments, the insurers to
/// choose from and the deadlines.
#[utoipa::path(get, path = "/api/v1/t/{slug}/enrolment/schools/{org_id}", tag = "enrolment",
    params(("slug" = String, Path, description = "租户标识"),
        ("org_id" = i64, Path, description = "学校机构编号")),
    responses((status = 200, body = Overview, description = "学校本学年的投保概况"),
        (status = 403, body = crate::web::error::ErrorBody), (status = 404, body = crate::web::error::ErrorBody),
        (status = 409, body = crate::web::error::ErrorBody), (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_overview(
    call: ApiCall,
    Path((_slug, org_id)): Path<(String, String)>,
) -> Result<Json<Overview>, ApiError> {
    let outcome = match super::path_id::<OrgId>(&org_id) {
        Ok(org) => service(&call).overview(org).await,
        Err(f) => Err(f),
    };
    call.answer(outcome).await
}

/// Saves the draft of a product's enrolment (headcount, insurer, cover start).
#[utoipa::path(put, path = "/api/v1/t/{slug}/enrolment/schools/{org_id}/products/{code}",
    tag = "enrolment",
    params(("slug" = String, Path, description = "租户标识"),
        ("org_id" = i64, Path, description = "学校机构编号"),
        ("code" = String, Path, description = "险种代码")),
    request_body = DraftJson,
    responses((status = 200, body = EnrolmentRow, description = "保存后的投保记录"),
        (status = 403, body = crate::web::error::ErrorBody), (status = 404, body = crate::web::error::ErrorBody),
        (status = 409, body = crate::web::error::ErrorBody), (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_save_draft(
    call: ApiCall,
    Path((_slug, org_id, code)): Path<(String, String, String)>,
    body: Result<Json<DraftJson>, JsonRejection>,
) -> Result<Json<EnrolmentRow>, ApiError> {
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    let (input, seq) = body.input();
    let outcome = match super::path_id::<OrgId>(&org_id) {
        Ok(org) => service(&call).save_draft(org, &code, seq, &input).await,
        Err(f) => Err(f),
    };
    call.answer(outcome).await
}

/// Uploads the roster (花名册) of an enrolment: all rows are checked, and the roster is
/// accepted or rejected as a whole.
#[utoipa::path(post, path = "/api/v1/t/{slug}/enrolment/{enrolment_id}/roster", tag = "enrolment",
    params(("slug" = String, Path, description = "租户标识"),
        ("enrolment_id" = i64, Path, description = "投保记录编号")),
    request_body(content_type = "multipart/form-data",
        description = "字段 file：花名册 XLSX（最大 20 MB）；字段 headcount：投保人数（可选）"),
    responses((status = 201, body = RosterResult, description = "已接受：result（accepted）、roster_id 与行数"),
        (status = 403, body = crate::web::error::ErrorBody), (status = 404, body = crate::web::error::ErrorBody), (status = 409, body = crate::web::error::ErrorBody),
        (status = 413, body = crate::web::error::ErrorBody, description = "文件过大或结构超出限制"),
        (status = 429, body = crate::web::error::ErrorBody, description = "上传过于频繁"),
        (status = 422, body = RosterRefused,
            description = "未接受：error（code invalid_rows）、roster_id 与 problems；其他错误为 ErrorBody")))]
pub(crate) async fn api_upload_roster(
    call: ApiCall,
    Path((_slug, id)): Path<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    let outcome = async {
        let eid = super::path_id::<EnrolmentId>(&id)?;
        forms::upload_allowed(&call.state, &call.tenant.slug, &call.current, eid).await?;
        let upload = forms::read_upload(request).await?;
        let sealer = call.state.sealer(&call.tenant);
        service(&call)
            .upload_roster(&call.state.documents, sealer, eid, upload)
            .await
    }
    .await;
    Ok(match call.answer(outcome).await? {
        Json(result @ RosterResult::Accepted { .. }) => {
            (StatusCode::CREATED, Json(result)).into_response()
        }
        Json(RosterResult::Rejected {
            roster_id,
            problems,
        }) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(RosterRejected {
                error: ErrorDetail {
                    code: "invalid_rows".into(),
                    message: format!("花名册有 {} 处问题，未被接受", problems.len()),
                    field: Some("file".into()),
                },
                result: "rejected",
                roster_id,
                problems,
            }),
        )
            .into_response(),
    })
}

/// An uploaded roster: its status and the problems found (no ID numbers).
#[utoipa::path(get, path = "/api/v1/t/{slug}/enrolment/rosters/{roster_id}", operation_id = "get_roster_result", tag = "enrolment",
    params(("slug" = String, Path, description = "租户标识"),
        ("roster_id" = i64, Path, description = "花名册编号")),
    responses((status = 200, body = RosterRecord, description = "花名册及其问题清单"),
        (status = 403, body = crate::web::error::ErrorBody), (status = 404, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_roster(
    call: ApiCall,
    Path((_slug, id)): Path<(String, String)>,
) -> Result<Json<RosterRecord>, ApiError> {
    let outcome = match super::path_id::<RosterId>(&id) {
        Ok(rid) => service(&call).roster(rid).await.map(|(record, _)| record),
        Err(f) => Err(f),
    };
    call.answer(outcome).await
}

/// Submits an enrolment.
#[utoipa::path(post, path = "/api/v1/t/{slug}/enrolment/{enrolment_id}/submit", tag = "enrolment",
    params(("slug" = String, Path, description = "租户标识"),
        ("enrolment_id" = i64, Path, description = "投保记录编号")),
    responses((status = 200, body = EnrolmentRow, description = "提交后的投保记录"),
        (status = 403, body = crate::web::error::ErrorBody), (status = 404, body = crate::web::error::ErrorBody),
        (status = 409, body = crate::web::error::ErrorBody), (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_submit(
    call: ApiCall,
    Path((_slug, id)): Path<(String, String)>,
) -> Result<Json<EnrolmentRow>, ApiError> {
    let outcome = match super::path_id::<EnrolmentId>(&id) {
        Ok(eid) => service(&call).submit(eid).await,
        Err(f) => Err(f),
    };
    call.answer(outcome).await
}

/// Requests a modification of a submitted enrolment (headcount, insurer or roster).
#[utoipa::path(post, path = "/api/v1/t/{slug}/enrolment/{enrolment_id}/modification",
    tag = "enrolment",
    params(("slug" = String, Path, description = "租户标识"),
        ("enrolment_id" = i64, Path, description = "投保记录编号")),
    request_body(content = ModificationInput,
        description = "new_headcount（整数，可选）、new_company_id（可选）、new_roster_id（可选）、reason（说明）"),
    responses((status = 201, body = RequestRow, description = "已提出的修改申请"),
        (status = 403, body = crate::web::error::ErrorBody), (status = 404, body = crate::web::error::ErrorBody),
        (status = 409, body = crate::web::error::ErrorBody), (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_modification(
    call: ApiCall,
    Path((_slug, id)): Path<(String, String)>,
    body: Result<Json<ModificationInput>, JsonRejection>,
) -> Result<(StatusCode, Json<RequestRow>), ApiError> {
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    let outcome = match super::path_id::<EnrolmentId>(&id) {
        Ok(eid) => service(&call).request_modification(eid, &body).await,
        Err(f) => Err(f),
    };
    Ok((StatusCode::CREATED, call.answer(outcome).await?))
}

/// Requests a second insurer for a submitted enrolment.
#[utoipa::path(post, path = "/api/v1/t/{slug}/enrolment/{enrolment_id}/second-insurer",
    tag = "enrolment",
    params(("slug" = String, Path, description = "租户标识"),
        ("enrolment_id" = i64, Path, description = "投保记录编号")),
    request_body = SecondJson,
    responses((status = 201, body = RequestRow, description = "已提出的申请"),
        (status = 403, body = crate::web::error::ErrorBody), (status = 404, body = crate::web::error::ErrorBody),
        (status = 409, body = crate::web::error::ErrorBody), (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_second_insurer(
    call: ApiCall,
    Path((_slug, id)): Path<(String, String)>,
    body: Result<Json<SecondJson>, JsonRejection>,
) -> Result<(StatusCode, Json<RequestRow>), ApiError> {
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    let outcome = match super::path_id::<EnrolmentId>(&id) {
        Ok(eid) => {
            service(&call)
                .request_second_insurer(eid, body.company_id, &body.reason)
                .await
        }
        Err(f) => Err(f),
    };
    Ok((StatusCode::CREATED, call.answer(outcome).await?))
}
