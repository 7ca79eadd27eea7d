//! The console's API for companies and platform logins.

use axum::Json;
use axum::extract::Path;
use axum::extract::rejection::JsonRejection;
use serde::Deserialize;
use xiaobao_domain::Outcome;
use xiaobao_platform::directory::{
    CompanyInput, CompanyView, LoginInput, LoginView, LoginWithPassword,
};

use super::OperatorCall;
use crate::web::error::{ApiError, ErrorBody, bad_json};

fn answer<T>(outcome: Outcome<T>) -> Result<Json<T>, ApiError> {
    outcome.map(Json).map_err(ApiError::from)
}

/// Every insurance and broker company.
#[utoipa::path(get, path = "/api/v1/platform/companies", operation_id = "platform_list_companies", tag = "platform",
    responses((status = 200, body = Vec<CompanyView>)))]
pub(crate) async fn companies(call: OperatorCall) -> Result<Json<Vec<CompanyView>>, ApiError> {
    answer(call.console().companies().await)
}

/// A company to create.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct NewCompanyBody {
    /// `insurer` or `broker`.
    #[serde(default)]
    kind: String,
    /// The full name, 2–100 characters, unique; it cannot be changed later.
    #[serde(default)]
    name: String,
    /// 1–30 characters.
    #[serde(default)]
    short_name: String,
}

/// Creates a company; audited.
#[utoipa::path(post, path = "/api/v1/platform/companies", operation_id = "platform_create_company", tag = "platform",
    request_body = NewCompanyBody,
    responses((status = 200, body = CompanyView),
        (status = 409, description = "公司全称已存在", body = ErrorBody),
        (status = 422, description = "输入有误（字段见 field）", body = ErrorBody)))]
pub(crate) async fn create_company(
    call: OperatorCall,
    body: Result<Json<NewCompanyBody>, JsonRejection>,
) -> Result<Json<CompanyView>, ApiError> {
    let Json(b) = body.map_err(|e| bad_json(&e))?;
    answer(
        call.console()
            .create_company(CompanyInput {
                kind: b.kind,
                name: b.name,
                short_name: b.short_name,
            })
            .await,
    )
}

/// A new short name.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct ShortNameBody {
    #[serde(default)]
    short_name: String,
}

/// Changes a company's short name (the full name is fixed); audited.
#[utoipa::path(post, path = "/api/v1/platform/companies/{company_id}/short-name", operation_id = "platform_set_company_short_name", tag = "platform",
    params(("company_id" = i64, Path, description = "公司编号")),
    request_body = ShortNameBody,
    responses((status = 200, body = CompanyView),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn set_company_short_name(
    call: OperatorCall,
    Path(company_id): Path<i64>,
    body: Result<Json<ShortNameBody>, JsonRejection>,
) -> Result<Json<CompanyView>, ApiError> {
    let Json(b) = body.map_err(|e| bad_json(&e))?;
    answer(
        call.console()
            .set_company_short_name(company_id, &b.short_name)
            .await,
    )
}

/// Every platform login with its grants.
#[utoipa::path(get, path = "/api/v1/platform/logins", operation_id = "platform_list_logins", tag = "platform",
    responses((status = 200, body = Vec<LoginView>)))]
pub(crate) async fn logins(call: OperatorCall) -> Result<Json<Vec<LoginView>>, ApiError> {
    answer(call.console().platform_logins().await)
}

/// A platform login to create.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct NewLoginBody {
    /// 3–40 lowercase letters, digits, `.`, `_`, `-`, starting with a letter.
    #[serde(default)]
    login_name: String,
    #[serde(default)]
    display_name: String,
    /// One of the platform's companies.
    #[serde(default)]
    company_id: Option<i64>,
}

/// Creates a platform login; answers its one-time password (shown once, changed at first
/// sign-in); audited.
#[utoipa::path(post, path = "/api/v1/platform/logins", operation_id = "platform_create_login", tag = "platform",
    request_body = NewLoginBody,
    responses((status = 200, body = LoginWithPassword),
        (status = 409, description = "登录名已被使用", body = ErrorBody),
        (status = 422, description = "输入有误（字段见 field）", body = ErrorBody)))]
pub(crate) async fn create_login(
    call: OperatorCall,
    body: Result<Json<NewLoginBody>, JsonRejection>,
) -> Result<Json<LoginWithPassword>, ApiError> {
    let Json(b) = body.map_err(|e| bad_json(&e))?;
    answer(
        call.console()
            .create_platform_login(
                &call.state.auth.hasher,
                LoginInput {
                    login_name: b.login_name,
                    display_name: b.display_name,
                    company_id: b.company_id,
                },
            )
            .await,
    )
}

/// A new one-time password for a login (changed at its next sign-in); audited.
#[utoipa::path(post, path = "/api/v1/platform/logins/{identity_id}/password", operation_id = "platform_reset_login_password", tag = "platform",
    params(("identity_id" = i64, Path, description = "平台账号编号")),
    responses((status = 200, body = LoginWithPassword),
        (status = 404, body = ErrorBody)))]
pub(crate) async fn reset_password(
    call: OperatorCall,
    Path(identity_id): Path<i64>,
) -> Result<Json<LoginWithPassword>, ApiError> {
    answer(
        call.console()
            .reset_platform_password(&call.state.auth.hasher, identity_id)
            .await,
    )
}

/// The status a login is to have.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct StatusBody {
    /// `active` or `disabled`.
    #[serde(default)]
    status: String,
}

/// Disables or enables a login; audited.
#[utoipa::path(post, path = "/api/v1/platform/logins/{identity_id}/status", operation_id = "platform_set_login_status", tag = "platform",
    params(("identity_id" = i64, Path, description = "平台账号编号")),
    request_body = StatusBody,
    responses((status = 200, body = LoginView),
        (status = 404, body = ErrorBody),
        (status = 409, description = "状态未变", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn set_status(
    call: OperatorCall,
    Path(identity_id): Path<i64>,
    body: Result<Json<StatusBody>, JsonRejection>,
) -> Result<Json<LoginView>, ApiError> {
    let Json(b) = body.map_err(|e| bad_json(&e))?;
    let active = match b.status.trim() {
        "active" => true,
        "disabled" => false,
        _ => {
            return Err(ApiError::invalid(
                "status",
                "status 应为 active（启用）或 disabled（停用）",
            ));
        }
    };
    answer(
        call.console()
            .set_platform_login_active(identity_id, active)
            .await,
    )
}

/// A programme and the account of it the login acts as.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct GrantBody {
    /// The programme's slug.
    #[serde(default)]
    tenant: String,
    /// The login name of a broker or insurer account of that programme.
    #[serde(default)]
    account_login: String,
}

/// Grants a login in a programme as one of its broker or insurer accounts; audited.
#[utoipa::path(post, path = "/api/v1/platform/logins/{identity_id}/grants", operation_id = "platform_grant_login", tag = "platform",
    params(("identity_id" = i64, Path, description = "平台账号编号")),
    request_body = GrantBody,
    responses((status = 200, body = LoginView),
        (status = 404, body = ErrorBody),
        (status = 422, description = "项目或账号有误（字段见 field）", body = ErrorBody)))]
pub(crate) async fn grant(
    call: OperatorCall,
    Path(identity_id): Path<i64>,
    body: Result<Json<GrantBody>, JsonRejection>,
) -> Result<Json<LoginView>, ApiError> {
    let Json(b) = body.map_err(|e| bad_json(&e))?;
    answer(
        call.console()
            .grant_platform_login(identity_id, &b.tenant, &b.account_login)
            .await,
    )
}

/// Ends a login's grant in a programme; audited.
#[utoipa::path(delete, path = "/api/v1/platform/logins/{identity_id}/grants/{tenant}", operation_id = "platform_revoke_login_grant", tag = "platform",
    params(("identity_id" = i64, Path, description = "平台账号编号"),
        ("tenant" = String, Path, description = "租户标识")),
    responses((status = 200, body = LoginView),
        (status = 404, body = ErrorBody)))]
pub(crate) async fn revoke(
    call: OperatorCall,
    Path(path): Path<(i64, String)>,
) -> Result<Json<LoginView>, ApiError> {
    answer(call.console().revoke_platform_grant(path.0, &path.1).await)
}
