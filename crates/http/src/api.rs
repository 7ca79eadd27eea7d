//! The JSON API under `/api/v1`, described by an OpenAPI document generated from this code.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_axum::routes;
use xiaobao_domain::academic_year::AcademicYear;
use xiaobao_domain::region::RegionCode;
use xiaobao_domain::rules::ProgrammeRules;

use crate::AppState;
use crate::web::auth::Routes;
use crate::web::error::{ApiError, ErrorBody};
use crate::web::tenant::ApiTenant;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "校保 API",
        version = "1",
        description = "校方责任保险管理平台 JSON API。时间均为带 +08:00 时区的 RFC 3339。"
    ),
    components(schemas(ErrorBody, TenantView, RegionView, RulesView, DueView))
)]
struct ApiDoc;

/// The OpenAPI document: this header, the operations of every API route as its handler
/// declares them (`web::auth::Routes::api`), the schemas they name, and the edge's answers.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    let routes = crate::all_routes().into_parts();
    doc.paths.merge(routes.paths);
    let components = doc.components.get_or_insert_with(Default::default);
    for (name, schema) in routes.schemas {
        components.schemas.entry(name).or_insert(schema);
    }
    EdgeAnswers {
        guarded: routes.table,
    }
    .apply(&mut doc);
    doc
}

/// The answers the edge gives before any handler runs, added (as `ErrorBody`) to every
/// operation that does not declare the status itself:
///
/// - a guarded route (`crate::route_table`): 401 `unauthenticated` without a session of the
///   programme, 403 `forbidden` when no role of the account may, `password_change_required`,
///   or `two_factor_enrolment_required` (an authority that must turn on two-factor sign-in);
/// - an unsafe method: 403 `csrf_failed` from the CSRF check (`web::csrf`);
/// - a request body: 413 `payload_too_large` past the route's limit (`web::middleware`), 422
///   `invalid_input` when it cannot be read (`web::error::bad_json`).
struct EdgeAnswers {
    guarded: Vec<crate::web::auth::GuardedRoute>,
}

impl EdgeAnswers {
    fn apply(&self, doc: &mut utoipa::openapi::OpenApi) {
        use axum::http::Method;
        let guarded = &self.guarded;
        for (path, item) in &mut doc.paths.paths {
            let operations = [
                (Method::GET, item.get.as_mut()),
                (Method::PUT, item.put.as_mut()),
                (Method::POST, item.post.as_mut()),
                (Method::DELETE, item.delete.as_mut()),
                (Method::PATCH, item.patch.as_mut()),
            ];
            for (method, operation) in operations {
                let Some(operation) = operation else {
                    continue;
                };
                let is_guarded = guarded
                    .iter()
                    .any(|r| r.method == method && r.path == *path);
                let checked = method != Method::GET;
                if is_guarded {
                    edge_answer(operation, "401", "未登录或会话已失效（unauthenticated）");
                }
                let refused = match (is_guarded, checked) {
                    (true, true) => Some(
                        "当前账号无权进行此操作（forbidden）、须先修改密码\
                         （password_change_required）、须先开启两步验证\
                         （two_factor_enrolment_required），或未通过 CSRF 校验（csrf_failed）",
                    ),
                    (true, false) => Some(
                        "当前账号无权进行此操作（forbidden）、须先修改密码\
                         （password_change_required）或须先开启两步验证\
                         （two_factor_enrolment_required）",
                    ),
                    (false, true) => Some(
                        "未通过 CSRF 校验（csrf_failed）：带会话 Cookie 的请求须带 X-CSRF-Token",
                    ),
                    (false, false) => None,
                };
                if let Some(description) = refused {
                    edge_answer(operation, "403", description);
                }
                if operation.request_body.is_some() {
                    edge_answer(operation, "413", "请求内容过大（payload_too_large）");
                    edge_answer(operation, "422", "请求内容无法读取或有误（invalid_input）");
                }
            }
        }
    }
}

/// Declares `status` with `ErrorBody`, unless the operation declares it already.
fn edge_answer(operation: &mut utoipa::openapi::path::Operation, status: &str, description: &str) {
    use utoipa::openapi::{Content, Ref, ResponseBuilder};
    operation
        .responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    Content::new(Some(Ref::from_schema_name("ErrorBody"))),
                )
                .build()
                .into()
        });
}

/// The OpenAPI document, pretty-printed (snapshot-tested).
pub fn openapi_json() -> String {
    document()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// The public reads: programmes, regions, rules, the working-day calculator, this document.
pub(crate) fn routes() -> Routes {
    Routes::new()
        .open_api(routes!(openapi_document))
        .open_api(routes!(list_tenants))
        .open_api(routes!(get_tenant))
        .open_api(routes!(get_region))
        .open_api(routes!(list_region_children))
        .open_api(routes!(get_rules))
        .open_api(routes!(compute_working_day_due))
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
async fn openapi_document() -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}

/// A programme (tenant).
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantView {
    pub slug: String,
    /// The programme's Chinese name.
    pub name: String,
    pub root_region_code: String,
}

impl From<&xiaobao_db::Tenant> for TenantView {
    fn from(t: &xiaobao_db::Tenant) -> Self {
        Self {
            slug: t.slug.clone(),
            name: t.name_zh.clone(),
            root_region_code: t.root_region_code.clone(),
        }
    }
}

/// Active programmes.
#[utoipa::path(get, path = "/api/v1/tenants", tag = "tenancy",
    responses((status = 200, body = Vec<TenantView>)))]
async fn list_tenants(State(state): State<AppState>) -> Json<Vec<TenantView>> {
    Json(
        state
            .db
            .catalog
            .all()
            .iter()
            .filter(|t| t.status == xiaobao_db::TenantStatus::Active)
            .map(|t| TenantView::from(t.as_ref()))
            .collect(),
    )
}

/// One programme.
#[utoipa::path(get, path = "/api/v1/t/{slug}", tag = "tenancy",
    params(("slug" = String, Path, description = "租户标识，如 henan")),
    responses((status = 200, body = TenantView), (status = 404, body = ErrorBody)))]
async fn get_tenant(ApiTenant(tenant): ApiTenant) -> Json<TenantView> {
    Json(TenantView::from(tenant.as_ref()))
}

/// A region of the programme's tree.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegionView {
    /// GB/T 2260 code (a 市直 bucket ends in 99).
    pub code: String,
    pub name: String,
    pub parent_code: Option<String>,
    /// province | city | county | direct
    pub level: String,
}

impl From<xiaobao_db::regions::Region> for RegionView {
    fn from(r: xiaobao_db::regions::Region) -> Self {
        Self {
            code: r.region_code,
            name: r.name,
            parent_code: r.parent_code,
            level: r.level,
        }
    }
}

fn parse_region(code: &str) -> Result<RegionCode, ApiError> {
    RegionCode::parse(code).map_err(|e| ApiError::invalid("code", e.to_string()))
}

/// One region.
#[utoipa::path(get, path = "/api/v1/t/{slug}/regions/{code}", tag = "regions",
    params(("slug" = String, Path), ("code" = String, Path, description = "6 位地区代码")),
    responses((status = 200, body = RegionView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn get_region(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    Path((_slug, code)): Path<(String, String)>,
) -> Result<Json<RegionView>, ApiError> {
    let code = parse_region(&code)?;
    let region = crate::home::programme(&state, &tenant)
        .region(code.as_str())
        .await?;
    region
        .map(|r| Json(r.into()))
        .ok_or_else(|| ApiError::NotFound(format!("地区 {code} 不存在")))
}

/// The direct children of a region.
#[utoipa::path(get, path = "/api/v1/t/{slug}/regions/{code}/children", tag = "regions",
    params(("slug" = String, Path), ("code" = String, Path, description = "6 位地区代码")),
    responses((status = 200, body = Vec<RegionView>), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_region_children(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    Path((_slug, code)): Path<(String, String)>,
) -> Result<Json<Vec<RegionView>>, ApiError> {
    let code = parse_region(&code)?;
    let children = crate::home::programme(&state, &tenant)
        .children(code.as_str())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("地区 {code} 不存在")))?;
    Ok(Json(children.into_iter().map(Into::into).collect()))
}

/// The programme rules in force for an academic year.
#[derive(Debug, Serialize, ToSchema)]
pub struct RulesView {
    pub academic_year: String,
    pub version: i32,
    /// Who made this version, as a party (`平台运营方` or `项目管理方`); the person is in the
    /// audit trail, not in this public answer.
    pub changed_by: String,
    pub change_reason: String,
    /// When this version was stored (+08:00).
    pub changed_at: String,
    /// The parsed rules document.
    #[schema(value_type = Object)]
    pub rules: serde_json::Value,
}

/// The rules in force for an academic year.
#[utoipa::path(get, path = "/api/v1/t/{slug}/rules/{academic_year}", tag = "rules",
    params(("slug" = String, Path), ("academic_year" = String, Path, description = "学年，如 2025-2026")),
    responses((status = 200, body = RulesView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn get_rules(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    Path((_slug, year)): Path<(String, String)>,
) -> Result<Json<RulesView>, ApiError> {
    let year = AcademicYear::parse(&year)
        .map_err(|e| ApiError::invalid("academic_year", e.to_string()))?;
    let stored = crate::home::programme(&state, &tenant)
        .rules(&year.to_string())
        .await?;
    let stored =
        stored.ok_or_else(|| ApiError::NotFound(format!("{year} 学年的项目规则尚未配置")))?;
    let rules = ProgrammeRules::from_toml_str(&stored.document)
        .map_err(|e| ApiError::Internal(Box::new(e)))?;
    let rules =
        serde_json::to_value(rules.document()).map_err(|e| ApiError::Internal(Box::new(e)))?;
    Ok(Json(RulesView {
        academic_year: stored.academic_year,
        version: stored.version,
        changed_by: public_author(&stored.changed_by).to_string(),
        change_reason: stored.change_reason,
        changed_at: crate::web::time::cst_rfc3339(stored.created_at),
        rules,
    }))
}

/// The party behind a rules version, for the public rules answer: never an operator's system
/// user name or an account's name.
fn public_author(changed_by: &str) -> &'static str {
    if changed_by.starts_with("cli:") || changed_by.starts_with("system:") {
        "平台运营方"
    } else {
        "项目管理方"
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct DueQuery {
    /// Start, RFC 3339 with offset (e.g. 2025-09-30T10:00:00+08:00).
    pub from: String,
    /// Working days to add (0–365).
    pub days: u32,
}

/// A working-day deadline.
#[derive(Debug, Serialize, ToSchema)]
pub struct DueView {
    /// The deadline: end of the last counted working day (+08:00).
    pub due_at: String,
    /// The last working day counted (China Standard Time).
    pub last_day: String,
    /// True when a counted day lies beyond the years of the national holiday calendar.
    pub beyond_known_calendar: bool,
}

/// Adds working days to a moment, on the national holiday calendar (调休 included).
#[utoipa::path(get, path = "/api/v1/t/{slug}/working-days/due", tag = "rules",
    params(("slug" = String, Path), DueQuery),
    responses((status = 200, body = DueView), (status = 422, body = ErrorBody)))]
async fn compute_working_day_due(
    State(state): State<AppState>,
    ApiTenant(_tenant): ApiTenant,
    query: Result<Query<DueQuery>, QueryRejection>,
) -> Result<Json<DueView>, ApiError> {
    let Query(q) = query.map_err(|_| {
        ApiError::invalid(
            "days",
            "请给出 from（开始时间）和 days（工作日数，0–365 的整数）",
        )
    })?;
    let from: DateTime<FixedOffset> =
        DateTime::parse_from_rfc3339(q.from.trim()).map_err(|_| {
            ApiError::invalid(
                "from",
                "开始时间格式错误，应为 2025-09-30T10:00:00+08:00 这样的格式",
            )
        })?;
    if q.days > 365 {
        return Err(ApiError::invalid("days", "工作日数不能超过 365"));
    }
    let due = state
        .calendar
        .current()
        .add_working_days(from.with_timezone(&Utc), q.days);
    Ok(Json(DueView {
        due_at: crate::web::time::cst_rfc3339(due.at),
        last_day: due.last_day.to_string(),
        beyond_known_calendar: due.beyond_known_calendar,
    }))
}
