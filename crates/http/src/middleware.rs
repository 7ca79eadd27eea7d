//! The middleware stack every request passes through.

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
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
            crate::auth::provide_state,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::csrf::verify,
        ))
        .layer(state.sessions.layer(&state.config));
    let rewritten = ServiceBuilder::new()
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::tenant::rewrite_host_tenant,
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
    router.layer(
        ServiceBuilder::new()
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
            .layer(RequestBodyLimitLayer::new(limit))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::SERVICE_UNAVAILABLE,
                timeout,
            ))
            .layer(DefaultBodyLimit::max(limit)),
    )
}
