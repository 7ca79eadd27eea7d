//! Tenant resolution: from the host name (`henan.localhost`) or a `/t/{slug}` prefix.
//!
//! A host-named tenant is turned into the path form before routing, so there is one set of
//! routes. An unknown or archived tenant is a 404 — there is no default tenant.

use std::sync::Arc;

use axum::extract::{FromRequestParts, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::http::{Extensions, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use xiaobao_db::Tenant;

use crate::AppState;
use crate::web::error::ApiError;
use crate::web::error::PageError;

/// The tenant slug a host name selects, if it is `<slug>.<base_domain>`.
pub fn slug_from_host(host: &str, base_domain: &str) -> Option<String> {
    let host = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let label = host.strip_suffix(base_domain)?.strip_suffix('.')?;
    (!label.is_empty() && !label.contains('.')).then(|| label.to_string())
}

/// Paths that are the same on every host.
fn is_global(path: &str) -> bool {
    path == "/healthz" || path == "/readyz" || path.starts_with("/static/")
}

/// Marks a request whose tenant came from the host name, so links are written without the
/// `/t/{slug}` prefix the browser never saw.
#[derive(Debug, Clone, Copy)]
struct HostNamed;

/// The prefix of a tenant's page links as the browser sees them: `/` on the tenant's own host
/// name, `/t/{slug}/` otherwise.
pub struct TenantBase;

impl TenantBase {
    pub fn of(extensions: &Extensions, slug: &str) -> String {
        if extensions.get::<HostNamed>().is_some() {
            "/".to_string()
        } else {
            format!("/t/{slug}/")
        }
    }
}

/// Rewrites `henan.localhost/x` to `/t/henan/x` and `henan.localhost/api/v1/x` to
/// `/api/v1/t/henan/x`.
pub async fn rewrite_host_tenant(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let host = request
        .headers()
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| request.uri().host().map(str::to_string));
    let slug = host.and_then(|h| slug_from_host(&h, &state.config.server.base_domain));
    if let Some(slug) = slug {
        let path = request.uri().path();
        if !is_global(path) {
            let new_path = match path.strip_prefix("/api/v1") {
                Some(rest) => format!("/api/v1/t/{slug}{rest}"),
                None => format!("/t/{slug}{path}"),
            };
            let new_uri = match request.uri().query() {
                Some(q) => format!("{new_path}?{q}"),
                None => new_path,
            };
            match new_uri.parse::<Uri>() {
                Ok(uri) => *request.uri_mut() = uri,
                Err(_) => return PageError::NotFound.into_response(),
            }
            request.extensions_mut().insert(HostNamed);
        }
    }
    next.run(request).await
}

fn slug_param(params: &RawPathParams) -> Option<&str> {
    params.iter().find(|(k, _)| *k == "slug").map(|(_, v)| v)
}

/// The active tenant of an API request (`/api/v1/t/{slug}/…`).
pub struct ApiTenant(pub Arc<Tenant>);

impl FromRequestParts<AppState> for ApiTenant {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound("租户不存在".into()))?;
        let slug = slug_param(&params).ok_or_else(|| ApiError::NotFound("租户不存在".into()))?;
        Ok(Self(state.db.active_tenant(slug)?))
    }
}

/// The active tenant of a page request (`/t/{slug}/…`), with the prefix of its links.
pub struct PageTenant {
    pub tenant: Arc<Tenant>,
    /// `/t/{slug}/`, or `/` when the tenant came from the host name.
    pub base: String,
}

impl PageTenant {
    /// A link to a page of this tenant: `href("login")` is `/t/henan/login` (or `/login`).
    pub fn href(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl FromRequestParts<AppState> for PageTenant {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| PageError::NotFound)?;
        let slug = slug_param(&params).ok_or(PageError::NotFound)?;
        let tenant = state
            .db
            .active_tenant(slug)
            .map_err(|_| PageError::NotFound)?;
        let base = TenantBase::of(&parts.extensions, &tenant.slug);
        Ok(Self { tenant, base })
    }
}

#[cfg(test)]
mod tests {
    use super::slug_from_host;

    #[test]
    fn host_names_select_tenants() {
        assert_eq!(
            slug_from_host("henan.localhost", "localhost").as_deref(),
            Some("henan")
        );
        assert_eq!(
            slug_from_host("Shanghai.Localhost:8080", "localhost").as_deref(),
            Some("shanghai")
        );
        assert_eq!(slug_from_host("localhost:8080", "localhost"), None);
        assert_eq!(slug_from_host("a.b.localhost", "localhost"), None);
        assert_eq!(slug_from_host("henanlocalhost", "localhost"), None);
        assert_eq!(slug_from_host("127.0.0.1:8080", "localhost"), None);
        assert_eq!(
            slug_from_host("henan.xiaobao.example.cn", "xiaobao.example.cn").as_deref(),
            Some("henan")
        );
    }
}
