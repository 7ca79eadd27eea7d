//! The console's API.

use axum::Json;
use axum::extract::Path;
use axum::extract::rejection::JsonRejection;
use base64::Engine;
use serde::Deserialize;
use xiaobao_domain::{Outcome, Refusal};
use xiaobao_platform::AuditRow;
use xiaobao_platform::console::{
    CalendarPreview, CalendarYearView, ClusterView, RulesSource, TenantInput, TenantView,
};

use super::OperatorCall;
use crate::web::error::{ApiError, ErrorBody, bad_json};

fn answer<T>(outcome: Outcome<T>) -> Result<Json<T>, ApiError> {
    outcome.map(Json).map_err(ApiError::from)
}

/// Every programme of the catalog (archived ones too).
#[utoipa::path(get, path = "/api/v1/platform/tenants", operation_id = "platform_list_tenants", tag = "platform",
    responses((status = 200, body = Vec<TenantView>)))]
pub(crate) async fn tenants(call: OperatorCall) -> Result<Json<Vec<TenantView>>, ApiError> {
    answer(call.console().tenants().await)
}

/// A programme to open, with its first rules: a whole TOML document or a copy of another
/// programme's version in force of that year (exactly one).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct NewTenantBody {
    /// 2–31 lowercase letters and digits, starting with a letter.
    #[serde(default)]
    slug: String,
    #[serde(default)]
    name_zh: String,
    /// GB/T 2260 code of the top region, e.g. 410000.
    #[serde(default)]
    root_region_code: String,
    /// A configured cluster (`main` by default).
    #[serde(default)]
    cluster: Option<String>,
    /// E.g. 2026-2027.
    #[serde(default)]
    academic_year: String,
    /// The rules document (TOML).
    #[serde(default)]
    rules_document: Option<String>,
    /// The slug of the programme whose rules of that year are copied.
    #[serde(default)]
    copy_from: Option<String>,
}

/// Opens a programme: schema, role, migrations, region tree, the rules; audited.
#[utoipa::path(post, path = "/api/v1/platform/tenants", operation_id = "platform_create_tenant", tag = "platform",
    request_body = NewTenantBody,
    responses((status = 200, body = TenantView),
        (status = 409, description = "租户标识已被使用", body = ErrorBody),
        (status = 413, description = "规则文件过大", body = ErrorBody),
        (status = 422, description = "输入有误（字段见 field）", body = ErrorBody)))]
pub(crate) async fn create_tenant(
    call: OperatorCall,
    body: Result<Json<NewTenantBody>, JsonRejection>,
) -> Result<Json<TenantView>, ApiError> {
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    let rules = match (
        body.rules_document,
        body.copy_from.filter(|c| !c.trim().is_empty()),
    ) {
        (Some(_), Some(_)) => {
            return Err(Refusal::invalid_field(
                "rules_document",
                "请在 rules_document 和 copy_from 中二选一",
            )
            .into());
        }
        (Some(d), None) => Some(RulesSource::Document(d)),
        (None, Some(c)) => Some(RulesSource::CopyFrom(c)),
        (None, None) => None,
    };
    answer(
        call.console()
            .create_tenant(TenantInput {
                slug: body.slug,
                name_zh: body.name_zh,
                root_region_code: body.root_region_code,
                cluster: body
                    .cluster
                    .unwrap_or_else(|| xiaobao_config::MAIN_CLUSTER.to_string()),
                academic_year: body.academic_year,
                rules,
            })
            .await,
    )
}

/// The confirmation of an archive: the programme's slug typed again.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct ArchiveBody {
    #[serde(default)]
    confirm: String,
}

/// Archives a programme (its schema renamed, never dropped); audited.
#[utoipa::path(post, path = "/api/v1/platform/tenants/{slug}/archive", operation_id = "platform_archive_tenant", tag = "platform",
    params(("slug" = String, Path, description = "租户标识")),
    request_body = ArchiveBody,
    responses((status = 200, body = TenantView),
        (status = 404, body = ErrorBody),
        (status = 409, description = "已归档", body = ErrorBody),
        (status = 422, description = "确认标识不符", body = ErrorBody)))]
pub(crate) async fn archive_tenant(
    call: OperatorCall,
    Path(slug): Path<String>,
    body: Result<Json<ArchiveBody>, JsonRejection>,
) -> Result<Json<TenantView>, ApiError> {
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    answer(call.console().archive_tenant(&slug, &body.confirm).await)
}

/// Every configured database cluster: reachable, latency, version, programmes, pool.
#[utoipa::path(get, path = "/api/v1/platform/clusters", operation_id = "platform_list_clusters", tag = "platform",
    responses((status = 200, body = Vec<ClusterView>)))]
pub(crate) async fn clusters(call: OperatorCall) -> Result<Json<Vec<ClusterView>>, ApiError> {
    answer(call.console().clusters().await)
}

/// The stored years of the national holiday calendar.
#[utoipa::path(get, path = "/api/v1/platform/calendars", operation_id = "platform_list_calendars", tag = "platform",
    responses((status = 200, body = Vec<CalendarYearView>)))]
pub(crate) async fn calendars(call: OperatorCall) -> Result<Json<Vec<CalendarYearView>>, ApiError> {
    answer(call.console().calendar_years().await)
}

/// A calendar file: TOML text, or an XLSX workbook in base64 (exactly one).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct CalendarFileBody {
    #[serde(default)]
    toml: Option<String>,
    #[serde(default)]
    xlsx_base64: Option<String>,
}

/// What a calendar file changes against the stored years; nothing is stored.
#[utoipa::path(post, path = "/api/v1/platform/calendars/preview", operation_id = "platform_preview_calendar", tag = "platform",
    request_body = CalendarFileBody,
    responses((status = 200, body = CalendarPreview),
        (status = 413, body = ErrorBody),
        (status = 422, description = "文件有误（逐行说明）", body = ErrorBody)))]
pub(crate) async fn preview_calendar(
    call: OperatorCall,
    body: Result<Json<CalendarFileBody>, JsonRejection>,
) -> Result<Json<CalendarPreview>, ApiError> {
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    let bytes = match (body.toml, body.xlsx_base64) {
        (Some(t), None) => t.into_bytes(),
        (None, Some(b)) => base64::engine::general_purpose::STANDARD
            .decode(b.trim())
            .map_err(|_| ApiError::invalid("xlsx_base64", "xlsx_base64 不是有效的 Base64"))?,
        _ => {
            return Err(ApiError::invalid(
                "toml",
                "请提交 toml（文本）或 xlsx_base64（Excel 文件的 Base64）中的一项",
            ));
        }
    };
    answer(call.console().preview_calendar(bytes).await)
}

/// A previewed calendar to import.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct CalendarImportBody {
    /// The `document` of the preview (TOML).
    #[serde(default)]
    document: String,
    /// Where the schedule was published.
    #[serde(default)]
    source: String,
}

/// Imports a calendar: its years replace the stored ones and take effect at once; audited.
#[utoipa::path(post, path = "/api/v1/platform/calendars", operation_id = "platform_import_calendar", tag = "platform",
    request_body = CalendarImportBody,
    responses((status = 200, body = CalendarPreview, description = "导入的变化"),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn import_calendar(
    call: OperatorCall,
    body: Result<Json<CalendarImportBody>, JsonRejection>,
) -> Result<Json<CalendarPreview>, ApiError> {
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    answer(
        call.console()
            .import_calendar(&body.document, &body.source)
            .await,
    )
}

/// The operators' audit trail, newest first (at most 200 entries).
#[utoipa::path(get, path = "/api/v1/platform/audit", operation_id = "platform_audit", tag = "platform",
    responses((status = 200, body = Vec<AuditRow>)))]
pub(crate) async fn audit(call: OperatorCall) -> Result<Json<Vec<AuditRow>>, ApiError> {
    answer(call.console().audit_trail(None).await)
}
