//! The middleware stack every request passes through.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps the routes: host-named tenants are rewritten before routing, sessions are loaded and
/// unsafe requests pass the CSRF check before any handler runs; request ids, tracing, panics,
/// security headers, caching, compression, time-outs and body limits apply to all.
pub fn wrap(routes: Router, state: &AppState) -> Router {
    let limit = state.config.server.body_limit_bytes;
    let timeout = Duration::from_secs(state.config.server.request_timeout_secs);
    let routes = routes
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::web::auth::provide_state,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::web::csrf::verify,
        ))
        .layer(state.sessions.layer(&state.config));
    let rewritten = ServiceBuilder::new()
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::web::tenant::rewrite_host_tenant,
        ))
        .service(routes);
    let security = [
        // Pages carry forms, tokens and personal data: nothing is stored by browsers or
        // proxies unless a response says otherwise (static files do).
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             frame-ancestors 'none'; form-action 'self'; base-uri 'self'",
        ),
        (
            HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=()",
        ),
    ];
    let mut router = Router::new().fallback_service(rewritten);
    for (name, value) in security {
        router = router.layer(SetResponseHeaderLayer::if_not_present(
            name,
            HeaderValue::from_static(value),
        ));
    }
    let limits = BodyLimits {
        upload: limit,
        form: state.config.server.form_limit_bytes,
    };
    let proxies =
        crate::web::client::TrustedProxies::from_config(&state.config.server.trusted_proxies);
    router.layer(
        ServiceBuilder::new()
            .layer(axum::middleware::from_fn_with_state(
                proxies,
                crate::web::client::resolve,
            ))
            .layer(SetSensitiveRequestHeadersLayer::new([
                header::AUTHORIZATION,
                header::COOKIE,
            ]))
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http().make_span_with(|request: &Request| {
                    let id = request
                        .headers()
                        .get(REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    // The path only: query strings may carry personal data.
                    tracing::info_span!(
                        "request",
                        request.id = %id,
                        http.method = %request.method(),
                        http.path = %request.uri().path(),
                    )
                }),
            )
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            .layer(CatchPanicLayer::new())
            .layer(CompressionLayer::new())
            .layer(axum::middleware::from_fn_with_state(limits, limit_body))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::SERVICE_UNAVAILABLE,
                timeout,
            ))
            .layer(DefaultBodyLimit::max(limit)),
    )
}

/// The body limits: large bodies only where files are uploaded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimits {
    pub upload: usize,
    pub form: usize,
}

/// The limit in force for a request, put into its extensions by [`limit_body`] (the CSRF
/// check reads no more than this).
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimit(pub usize);

/// Whether a request goes to a route that takes a file: rosters, bulk imports (and the
/// problem list posted back from their result page), registration with its document (by the
/// school itself, or by its central school: `assigned-schools`), and a
/// rules document (its own limit, 256 KiB, is checked by the rules context).
/// Matched after the `/api/v1` and `/t/{slug}` prefixes, so host-named tenants match too.
pub(crate) fn is_upload_route(method: &Method, path: &str) -> bool {
    if method != Method::POST {
        return false;
    }
    let rest = path.strip_prefix("/api/v1").unwrap_or(path);
    let rest = match rest.strip_prefix("/t/") {
        Some(r) => r.find('/').map_or("", |i| &r[i..]),
        None => rest,
    };
    let segments: Vec<&str> = rest.trim_matches('/').split('/').collect();
    matches!(
        segments.as_slice(),
        ["enrolment", _, "roster"]
            | ["onboarding", "schools" | "departments" | "problems.xlsx"]
            | ["register"]
            | ["registrations"]
            | ["assigned-schools"]
            | ["rules", _, "edit" | "proposals"]
            | ["platform", "tenants"]
            | ["platform", "calendars", "preview" | "import"]
            | ["platform", "calendars"]
    )
}

/// Refuses a body over the route's limit with 413 — up front when `Content-Length` says so,
/// otherwise as soon as the handler reads past it.
async fn limit_body(State(limits): State<BodyLimits>, request: Request, next: Next) -> Response {
    let limit = if is_upload_route(request.method(), request.uri().path()) {
        limits.upload
    } else {
        limits.form
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large(request.uri().path(), limit);
    }
    let (mut parts, body) = request.into_parts();
    parts.extensions.insert(BodyLimit(limit));
    let body = Body::new(http_body_util::Limited::new(body, limit));
    next.run(Request::from_parts(parts, body)).await
}

/// The 413 answer: the JSON error under `/api/`, a Chinese page elsewhere.
pub(crate) fn too_large(path: &str, limit: usize) -> Response {
    let size = if limit >= 1024 * 1024 {
        format!("{} MB", limit / (1024 * 1024))
    } else {
        format!("{} KB", limit / 1024)
    };
    let message = format!("提交的内容过大（此处最多 {size}），本次提交未被处理");
    if path.starts_with("/api/") {
        crate::web::error::ApiError::TooLarge(message).into_response()
    } else {
        crate::web::error::error_page(
            StatusCode::PAYLOAD_TOO_LARGE,
            "提交的内容过大",
            &message,
            None,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_file_routes_take_large_bodies() {
        let post = Method::POST;
        for path in [
            "/t/henan/enrolment/12/roster",
            "/api/v1/t/henan/enrolment/12/roster",
            "/enrolment/12/roster",
            "/t/henan/onboarding/schools",
            "/api/v1/t/henan/onboarding/departments",
            "/t/henan/onboarding/problems.xlsx",
            "/t/henan/register",
            "/api/v1/t/henan/registrations",
        ] {
            assert!(is_upload_route(&post, path), "{path}");
        }
        for path in [
            "/t/henan/login",
            "/api/v1/t/henan/session",
            "/t/henan/enrolment/12/submit",
            "/t/henan/enrolment/12/roster/x",
            "/t/henan/registrations/3/approve",
            "/t/roster",
            "/",
        ] {
            assert!(!is_upload_route(&post, path), "{path}");
        }
        assert!(!is_upload_route(&Method::PUT, "/t/henan/register"));
    }
}
