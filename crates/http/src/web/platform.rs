//! The platform's side of the route guard: console pages (`/platform/…`) and API
//! (`/api/v1/platform/…`) answer only a session signed in as a platform operator.
//!
//! A platform session has the scope `""` (see `session.rs`), so it is no session under any
//! `/t/{slug}`, and a programme's session is none here. The guard:
//!
//! 1. no operator signed in → `/platform/login` (pages) or `401 unauthenticated` (API);
//! 2. the session is past its absolute lifetime, or the operator's password or status changed
//!    since (its `session_epoch` moved) → signed out, as 1;
//! 3. a password that must change → only the account routes (`platform_account:manage`);
//!    with `auth.require_totp_for_operators`, an operator without a second factor → the same;
//! 4. the permission is checked against `policies/` for the platform operator role (403).

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use tower_sessions::Session;
use xiaobao_authz::Permission;
use xiaobao_domain::Role;
use xiaobao_platform::OperatorIdentity;

use crate::AppState;
use crate::web::auth::client_meta;
use crate::web::error::{ApiError, PageError, error_page};

/// Where the console starts.
pub(crate) const LOGIN: &str = "/platform/login";

/// The signed-in operator of a guarded platform request.
#[derive(Debug, Clone)]
pub(crate) struct OperatorCurrent {
    pub operator: OperatorIdentity,
    pub ip: Option<String>,
}

impl FromRequestParts<AppState> for OperatorCurrent {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<OperatorCurrent>()
            .cloned()
            .ok_or_else(|| PageError::Internal("route is not guarded for operators".into()))
    }
}

/// Whether two-factor sign-in is required of operators.
pub(crate) fn totp_required(state: &AppState) -> bool {
    state.config.auth.require_totp_for_operators
}

/// The operator of a platform session that still stands (`None` when there is none; a session
/// that no longer stands is deleted).
pub(crate) async fn signed_in_operator(
    state: &AppState,
    session: &Session,
) -> Result<Option<OperatorIdentity>, PageError> {
    let data = crate::web::session::load_data(session, "")
        .await
        .map_err(|_| PageError::Unavailable)?;
    let Some((operator, signed_in_at)) = data.and_then(|d| d.operator.map(|o| (o, d.signed_in_at)))
    else {
        return Ok(None);
    };
    let now = tower_sessions::cookie::time::OffsetDateTime::now_utc().unix_timestamp();
    let lifetime = i64::try_from(state.config.session.absolute_timeout_hours)
        .unwrap_or(12)
        .saturating_mul(3600);
    let standing =
        xiaobao_platform::operators::standing(state.db.clusters.main(), operator.operator_id)
            .await
            .map_err(PageError::from)?;
    let stands = now.saturating_sub(signed_in_at) <= lifetime
        && standing.is_some_and(|s| s.active && s.epoch == operator.epoch);
    if !stands {
        session.flush().await.map_err(|_| PageError::Unavailable)?;
        return Ok(None);
    }
    Ok(Some(operator))
}

pub(crate) async fn guard(permission: Permission, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let path = parts.uri.path().to_string();
    let api = path.starts_with("/api/");
    let Some(state) = parts.extensions.get::<AppState>().cloned() else {
        return PageError::Internal("state missing".into()).into_response();
    };
    let Some(session) = parts.extensions.get::<Session>().cloned() else {
        return PageError::Internal("session layer missing".into()).into_response();
    };
    let operator = match signed_in_operator(&state, &session).await {
        Ok(o) => o,
        Err(e) if api => return crate::web::error::page_to_api(e).into_response(),
        Err(e) => return e.into_response(),
    };
    let Some(operator) = operator else {
        if api {
            return ApiError::Unauthenticated.into_response();
        }
        let target = if parts.method == Method::GET {
            let here = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default();
            format!(
                "{LOGIN}?next={}",
                percent_encoding::utf8_percent_encode(&here, percent_encoding::NON_ALPHANUMERIC)
            )
        } else {
            LOGIN.to_string()
        };
        return Redirect::to(&target).into_response();
    };
    let own_account = permission == Permission::PLATFORM_ACCOUNT;
    if operator.must_change_password && !own_account {
        return if api {
            ApiError::Forbidden {
                code: "password_change_required",
                message: "请先修改密码".into(),
            }
            .into_response()
        } else {
            Redirect::to("/platform/account/password").into_response()
        };
    }
    if !operator.two_factor && totp_required(&state) && !own_account {
        return if api {
            ApiError::Forbidden {
                code: "two_factor_enrolment_required",
                message: "请先开启两步验证".into(),
            }
            .into_response()
        } else {
            Redirect::to("/platform/account/two-factor").into_response()
        };
    }
    if !state
        .auth
        .authz
        .allows(&[Role::PlatformOperator], permission)
    {
        return if api {
            ApiError::Forbidden {
                code: "forbidden",
                message: "当前账号无权进行此操作".into(),
            }
            .into_response()
        } else {
            error_page(
                StatusCode::FORBIDDEN,
                "无权访问",
                "当前账号无权访问此页面或进行此操作。",
                None,
            )
        };
    }
    let (ip, _) = client_meta(&parts);
    parts.extensions.insert(OperatorCurrent { operator, ip });
    next.run(Request::from_parts(parts, body)).await
}
