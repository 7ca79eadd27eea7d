//! Registration as JSON.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use xiaobao_storage::DocumentKind;

use crate::AppState;
use crate::identity::anon::too_many;
use crate::web::auth::ClientMeta;
use crate::web::error::ApiError;
use crate::web::tenant::ApiTenant;

use super::*;

/// A registration through the API. `nature` is `public`/`private` (or 公办/民办), `school_type`
/// a code of the school types (or its Chinese label), `region_code` a county-level region or
/// a 市直 bucket of the programme.
#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub(crate) struct ApiRegistration {
    /// The full name on the licence; it becomes the login name.
    pub(super) name: String,
    pub(super) region_code: String,
    pub(super) nature: String,
    pub(super) school_type: String,
    pub(super) address: String,
    pub(super) principal: String,
    /// The contact person (明白人).
    pub(super) contact_name: String,
    /// The contact's mobile: receives the set-password link once approved.
    pub(super) contact_mobile: String,
    pub(super) qualification: Option<ApiFile>,
}

/// A document sent inline.
#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub(crate) struct ApiFile {
    /// With its extension: `.pdf`, `.jpg`/`.jpeg` or `.png`.
    pub(super) file_name: String,
    /// The file's bytes, standard base64 (at most 10 MB before encoding).
    pub(super) content_base64: String,
}

/// A recorded registration.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct RegistrationReceipt {
    pub(crate) org_id: i64,
    /// Always `pending`.
    pub(crate) status: &'static str,
    /// The department that decides.
    pub(crate) reviewer: String,
    pub(crate) message: String,
}

/// Reads a registration sent as JSON: its fields and its document.
pub(crate) async fn read_api_registration(
    state: &AppState,
    request: Request,
) -> Result<(RegisterFields, Option<Upload>), ApiError> {
    let body: Result<Json<ApiRegistration>, JsonRejection> =
        Json::from_request(request, state).await;
    let Json(body) = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge("请求内容过大：资质文件最大 10 MB".into())
        } else {
            ApiError::InvalidInput {
                field: None,
                message: format!("请求体不是有效的 JSON：{}", e.body_text()),
            }
        }
    })?;
    let upload = match body.qualification {
        Some(file) => {
            let bytes = STANDARD
                .decode(file.content_base64.trim())
                .map_err(|_| ApiError::invalid("qualification", "文件内容不是有效的 base64"))?;
            let too_large = bytes.len() as u64 > DocumentKind::Qualification.limits().max_bytes;
            Some(Upload {
                file_name: file.file_name,
                bytes: if too_large {
                    Bytes::new()
                } else {
                    Bytes::from(bytes)
                },
                too_large,
            })
        }
        None => None,
    };
    let fields = RegisterFields {
        name: body.name,
        region_code: body.region_code,
        nature: body.nature,
        school_type: body.school_type,
        address: body.address,
        principal: body.principal,
        contact_name: body.contact_name,
        contact_mobile: body.contact_mobile,
    };
    Ok((fields, upload))
}

/// Registers a school (anonymous). Every field is required; the first problem is answered with
/// its field. Rate-limited per client.
#[utoipa::path(post, path = "/api/v1/t/{slug}/registrations", tag = "identity",
    params(("slug" = String, Path, description = "租户标识")),
    request_body = ApiRegistration,
    responses(
        (status = 201, description = "已提交，等待教育部门审核", body = RegistrationReceipt),
        (status = 422, description = "某项填写有误（field 指出哪一项）", body = crate::web::error::ErrorBody),
        (status = 429, description = "提交过于频繁", body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_register(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    meta: ClientMeta,
    request: Request,
) -> Result<Response, ApiError> {
    if let Some(message) = over_limit(&state, &tenant, &meta)
        .await
        .map_err(crate::web::error::page_to_api)?
    {
        return Err(too_many(message));
    }
    let (mut fields, upload) = read_api_registration(&state, request).await?;
    match submit(&state, &tenant, &meta, &mut fields, upload, None)
        .await
        .map_err(crate::web::error::page_to_api)?
    {
        Submitted::Done(done) => Ok((
            StatusCode::CREATED,
            Json(RegistrationReceipt {
                org_id: done.org_id,
                status: "pending",
                message: format!("已提交，等待 {} 审核", done.reviewer),
                reviewer: done.reviewer,
            }),
        )
            .into_response()),
        Submitted::Refused(errors) => {
            let (field, message) = errors.first().unwrap_or(("form", "填写有误"));
            Err(ApiError::invalid(field, message))
        }
    }
}
