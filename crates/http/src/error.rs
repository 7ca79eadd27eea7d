//! One error type for the JSON API with one body shape, and the mapping from lower layers.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use xiaobao_db::DbError;

/// The JSON body of every API error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `not_found`, `invalid_input`.
    pub code: &'static str,
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
        let field = match &self {
            Self::InvalidInput { field, .. } => field.clone(),
            _ => None,
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
