//! One error type for the JSON API with one body shape, and the mapping from lower layers.

use std::sync::Arc;

use askama::Template;
use axum::Json;
use axum::extract::OriginalUri;
use axum::response::Html;
use xiaobao_db::Tenant;

use crate::web::layout::Layout;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use xiaobao_db::DbError;
use xiaobao_domain::{Failure, Refusal, RefusalClass};

/// The JSON body of every API error.
// `deny_unknown_fields` makes the schema `additionalProperties: false`: an answer that adds
// to it (a roster's or a file's problems) is told apart from it in a `oneOf`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `not_found`, `invalid_input`.
    #[schema(value_type = String)]
    pub code: std::borrow::Cow<'static, str>,
    /// Message for people, in Chinese.
    pub message: String,
    /// Field that was wrong, when one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// Expected failures are variants; anything else is an opaque 500 whose cause is logged once.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    NotFound(String),
    #[error("{message}")]
    InvalidInput {
        field: Option<String>,
        message: String,
    },
    /// Refused before any processing (e.g. `csrf_failed`).
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// A login refused (one answer for unknown names and wrong passwords).
    #[error("{0}")]
    InvalidCredentials(String),
    /// A login refused because the account is locked.
    #[error("{0}")]
    Locked(String),
    /// No signed-in session for this tenant.
    #[error("请先登录")]
    Unauthenticated,
    /// Refused with a reason and a retry time (rate limits, lock-out).
    #[error("{message}")]
    TooMany { code: &'static str, message: String },
    /// The request body is larger than the route accepts.
    #[error("{0}")]
    TooLarge(String),
    /// An expected refusal of an action (see [`Refusal`]): status from its class.
    #[error("{0}")]
    Refused(Box<Refusal>),
    #[error("服务暂时不可用")]
    Unavailable,
    #[error("服务器内部错误")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::InvalidInput {
            field: Some(field.to_string()),
            message: message.into(),
        }
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::InvalidInput { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_input"),
            Self::Forbidden { code, .. } => (StatusCode::FORBIDDEN, *code),
            Self::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            Self::InvalidCredentials(_) => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            Self::Locked(_) => (StatusCode::LOCKED, "account_locked"),
            Self::TooMany { code, .. } => (StatusCode::TOO_MANY_REQUESTS, *code),
            Self::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::Refused(r) => (refusal_status(r.class), "refused"),
            Self::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

/// The API error of a JSON body that could not be read: 413 past the route's body limit,
/// otherwise 422 with what was wrong.
pub(crate) fn bad_json(e: &axum::extract::rejection::JsonRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::TooLarge("请求内容过大，本次提交未被处理".into())
    } else {
        ApiError::InvalidInput {
            field: None,
            message: format!("请求体不是有效的 JSON：{}", e.body_text()),
        }
    }
}

/// The one mapping of a refusal's class to an HTTP status, for pages and the API alike.
pub(crate) fn refusal_status(class: RefusalClass) -> StatusCode {
    match class {
        RefusalClass::NotFound => StatusCode::NOT_FOUND,
        RefusalClass::Conflict => StatusCode::CONFLICT,
        RefusalClass::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
        RefusalClass::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        RefusalClass::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        RefusalClass::Forbidden => StatusCode::FORBIDDEN,
        RefusalClass::Unauthenticated => StatusCode::UNAUTHORIZED,
        RefusalClass::Locked => StatusCode::LOCKED,
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        Self::Refused(Box::new(r))
    }
}

impl From<Failure> for ApiError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Refused(r) => Self::Refused(r),
            Failure::Unavailable(error) => {
                tracing::warn!(%error, "dependency unavailable");
                Self::Unavailable
            }
            Failure::Internal(e) => Self::Internal(e),
        }
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::UnknownTenant(_) | DbError::ArchivedTenant(_) => {
                Self::NotFound("租户不存在".into())
            }
            DbError::Sqlx(sqlx::Error::PoolTimedOut) => Self::Unavailable,
            other => Self::Internal(Box::new(other)),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let Self::Internal(source) = &self {
            tracing::error!(error = %source, "request failed");
        }
        let (code, field) = match &self {
            Self::InvalidInput { field, .. } => (code.into(), field.clone()),
            Self::Refused(r) => (r.code.clone(), r.field.as_ref().map(|f| f.to_string())),
            _ => (code.into(), None),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code,
                message: self.to_string(),
                field,
            },
        };
        (status, Json(body)).into_response()
    }
}

// ---------------------------------------------------------------------------------------------
// Pages.

/// A page that could not be shown, rendered as a Chinese error page.
#[derive(Debug)]
pub enum PageError {
    NotFound,
    /// A form post failed the CSRF check; the programme (and its link base) when known.
    CsrfRejected(Option<(Arc<Tenant>, String)>),
    /// An action refused: an error page with the refusal's status and message (forms
    /// re-render themselves with the message instead), with the programme's link base.
    Refused(Box<Refusal>, Option<(Arc<Tenant>, String)>),
    /// A dependency (the session store, the database) did not answer.
    Unavailable,
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl From<PageError> for Failure {
    fn from(e: PageError) -> Self {
        match e {
            PageError::NotFound => Refusal::not_found("记录不存在或不在管辖范围内").into(),
            PageError::CsrfRejected(_) => {
                Refusal::forbidden("csrf_failed", "请求未通过安全校验").into()
            }
            PageError::Refused(r, _) => Failure::Refused(r),
            PageError::Unavailable => Failure::Unavailable("session store or database".into()),
            PageError::Internal(e) => Failure::Internal(e),
        }
    }
}

impl From<Failure> for PageError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Refused(r) if r.is_not_found() => Self::NotFound,
            Failure::Refused(r) => Self::Refused(r, None),
            Failure::Unavailable(error) => {
                tracing::warn!(%error, "dependency unavailable");
                Self::Unavailable
            }
            Failure::Internal(e) => Self::Internal(e),
        }
    }
}

/// An unexpected failure of a lower layer, as a page error (logged once, shown as a 500 page).
pub(crate) fn internal(e: impl std::error::Error + Send + Sync + 'static) -> PageError {
    PageError::Internal(Box::new(e))
}

impl From<xiaobao_db::DbError> for PageError {
    fn from(e: xiaobao_db::DbError) -> Self {
        match e {
            xiaobao_db::DbError::Sqlx(sqlx::Error::PoolTimedOut) => Self::Unavailable,
            other => Self::Internal(Box::new(other)),
        }
    }
}

impl From<askama::Error> for PageError {
    fn from(e: askama::Error) -> Self {
        Self::Internal(Box::new(e))
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    layout: Layout,
    status: u16,
    title: &'a str,
    message: &'a str,
    back_href: String,
    back_label: &'a str,
}

pub(crate) fn error_page(
    status: StatusCode,
    title: &str,
    message: &str,
    tenant: Option<&(Arc<Tenant>, String)>,
) -> Response {
    let (layout, back_href, back_label) = match tenant {
        Some((tenant, base)) => (
            Layout::tenant_public(tenant, base, Some(title)),
            base.clone(),
            "返回系统首页",
        ),
        None => (Layout::platform(Some(title)), "/".to_string(), "返回首页"),
    };
    let page = ErrorPage {
        layout,
        status: status.as_u16(),
        title,
        message,
        back_href,
        back_label,
    };
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(_) => (status, title.to_string()).into_response(),
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            Self::NotFound => error_page(
                StatusCode::NOT_FOUND,
                "页面不存在",
                "您访问的页面或项目不存在，请检查网址是否正确。",
                None,
            ),
            Self::CsrfRejected(tenant) => error_page(
                StatusCode::FORBIDDEN,
                "请求未通过安全校验",
                "页面已过期或请求来源无法确认，本次提交未被处理。请返回上一页，刷新后重新提交。",
                tenant.as_ref(),
            ),
            Self::Refused(r, tenant) if r.is_not_found() => error_page(
                StatusCode::NOT_FOUND,
                "页面不存在",
                "您访问的页面或项目不存在，请检查网址是否正确。",
                tenant.as_ref(),
            ),
            Self::Refused(r, tenant) => error_page(
                refusal_status(r.class),
                "无法办理",
                &r.message,
                tenant.as_ref(),
            ),
            Self::Unavailable => error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "服务暂时不可用",
                "系统繁忙或正在维护，请稍后重试。",
                None,
            ),
            Self::Internal(error) => {
                tracing::error!(%error, "page failed");
                error_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "系统出错了",
                    "服务器处理请求时出错，请稍后重试。如果问题持续，请联系管理员。",
                    None,
                )
            }
        }
    }
}

/// Anything no route matched: a JSON error under `/api`, a Chinese page elsewhere.
pub async fn not_found(OriginalUri(uri): OriginalUri) -> Response {
    if uri.path().starts_with("/api/") {
        ApiError::NotFound("接口不存在".into()).into_response()
    } else {
        PageError::NotFound.into_response()
    }
}

/// The API error of a page error (the same failure, answered as JSON).
pub(crate) fn page_to_api(e: PageError) -> ApiError {
    match e {
        PageError::NotFound => ApiError::NotFound("不存在".into()),
        PageError::Unavailable => ApiError::Unavailable,
        PageError::Refused(r, _) => ApiError::Refused(r),
        PageError::CsrfRejected(_) => ApiError::Forbidden {
            code: "csrf_failed",
            message: "请求未通过安全校验".into(),
        },
        PageError::Internal(e) => ApiError::Internal(e),
    }
}
