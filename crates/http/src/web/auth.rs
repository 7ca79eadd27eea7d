//! Authentication and authorisation at the HTTP edge.
//!
//! Every route that needs a signed-in account is registered with the [`Permission`] it needs:
//! a page through [`Routes::page`], an API route through [`Routes::api`] (method and path from
//! the handler's `#[utoipa::path]`, which is also its OpenAPI entry). The guard (a route layer) runs before the handler:
//!
//! 1. no session for this tenant → the login page (pages) or `401 unauthenticated` (API);
//! 2. a password that must be changed → only the password page and the account page answer;
//!    an authority account that must turn on two-factor sign-in (`auth.require_totp_for_admins`)
//!    and has not → only those and the two-factor pages;
//! 3. no role of the account holds the permission (`policies/`) → `403`, audited;
//! 4. otherwise the handler runs with [`Current`] (the signed-in account) at hand.
//!
//! The registry of guarded routes ([`route_table`]) is what the authorisation matrix test walks:
//! every route × every role, the expectation derived from `policies/`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, Request};
use axum::handler::Handler;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use tower_sessions::Session;
use utoipa::openapi::path::Paths;
use utoipa::openapi::{RefOr, schema::Schema};
use xiaobao_authz::{Authz, Permission};
use xiaobao_identity::{Codes, LoginPolicy, PasswordHasher, RateLimiter, Viewer};

use crate::AppState;
use crate::web::error::ApiError;
use crate::web::error::{PageError, error_page};
use crate::web::session::{SignedIn, scope_of_path};

/// Identity services shared by every request.
pub struct AuthServices {
    pub authz: Authz,
    pub hasher: PasswordHasher,
    pub limiter: RateLimiter,
    pub codes: Codes,
    pub login: LoginPolicy,
    /// Accounts' session epochs, cached (see `crate::validity`).
    pub epochs: crate::web::validity::Epochs,
}

impl std::fmt::Debug for AuthServices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthServices")
            .field("authz", &self.authz)
            .field("hasher", &self.hasher)
            .field("limiter", &self.limiter)
            .finish()
    }
}

/// One guarded route: what the authorisation matrix walks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardedRoute {
    pub method: Method,
    /// The axum path (`/t/{slug}/schools/{id}`).
    pub path: String,
    pub permission: Permission,
}

/// A router under construction that remembers its guarded routes and the OpenAPI operations
/// of its API routes.
///
/// A route is declared once: a page with its method, path, permission and handler
/// ([`Routes::page`]); an API route with its permission and the handler alone
/// ([`Routes::api`], [`Routes::open_api`]), method and path being read from the handler's
/// `#[utoipa::path]`, which also becomes its entry in the OpenAPI document. So the route, its
/// guard and its documentation cannot drift apart.
pub struct Routes {
    router: Router<AppState>,
    table: Vec<GuardedRoute>,
    paths: Paths,
    schemas: Vec<(String, RefOr<Schema>)>,
}

/// An API handler with its `#[utoipa::path]`, as `utoipa_axum::routes!` gives it.
pub type ApiRoute = utoipa_axum::router::UtoipaMethodRouter<AppState>;

/// The assembled routes: the router, the guarded-route table, the API's operations.
pub struct RouteParts {
    pub router: Router<AppState>,
    pub table: Vec<GuardedRoute>,
    /// The API's operations, by path.
    pub paths: Paths,
    /// The schemas their bodies name.
    pub schemas: Vec<(String, RefOr<Schema>)>,
}

impl Default for Routes {
    fn default() -> Self {
        Self::new()
    }
}

impl Routes {
    pub fn new() -> Self {
        Self {
            router: Router::new(),
            table: Vec::new(),
            paths: Paths::new(),
            schemas: Vec::new(),
        }
    }

    /// A route open to anyone (login, registration, public pages).
    pub fn open(mut self, path: &'static str, route: MethodRouter<AppState>) -> Self {
        assert_page(path);
        self.router = self.router.route(path, route);
        self
    }

    /// A page for signed-in accounts holding `permission`.
    pub fn page<H, T>(
        self,
        method: Method,
        path: &'static str,
        permission: Permission,
        handler: H,
    ) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        assert_page(path);
        let filter = MethodFilter::try_from(method.clone())
            .unwrap_or_else(|_| panic!("{method} {path}: no method filter for this method"));
        self.guarded(method, path, permission, on(filter, handler))
    }

    /// An API route for signed-in accounts holding `permission`; method and path come from
    /// the handler's `#[utoipa::path]`: `.api(permission, routes!(handler))`.
    pub fn api(self, permission: Permission, route: ApiRoute) -> Self {
        self.documented(Some(permission), route)
    }

    /// An API route open to anyone (login, registration, public reads).
    pub fn open_api(self, route: ApiRoute) -> Self {
        self.documented(None, route)
    }

    /// A console page (`/platform/…`) for a signed-in platform operator holding `permission`.
    pub fn platform_page<H, T>(
        mut self,
        method: Method,
        path: &'static str,
        permission: Permission,
        handler: H,
    ) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        assert!(
            path.starts_with("/platform/"),
            "{path}: a console page is under /platform/"
        );
        let filter = MethodFilter::try_from(method.clone())
            .unwrap_or_else(|_| panic!("{method} {path}: no method filter for this method"));
        self.table.push(GuardedRoute {
            method,
            path: path.to_string(),
            permission,
        });
        let route = on(filter, handler).route_layer(middleware::from_fn(move |request, next| {
            crate::web::platform::guard(permission, request, next)
        }));
        self.router = self.router.route(path, route);
        self
    }

    /// A console API route (`/api/v1/platform/…`) for a signed-in platform operator holding
    /// `permission`; method and path from the handler's `#[utoipa::path]`.
    pub fn platform_api(mut self, permission: Permission, route: ApiRoute) -> Self {
        let (schemas, paths, route) = route;
        let mut declared = paths.paths.iter();
        let (Some((path, item)), None) = (declared.next(), declared.next()) else {
            panic!("an API route is one path: handlers with the same #[utoipa::path] path");
        };
        let path = path.clone();
        assert!(
            path.starts_with("/api/v1/platform/"),
            "{path}: a console API route is under /api/v1/platform/"
        );
        for method in operation_methods(item) {
            self.table.push(GuardedRoute {
                method,
                path: path.clone(),
                permission,
            });
        }
        let route = route.route_layer(middleware::from_fn(move |request, next| {
            crate::web::platform::guard(permission, request, next)
        }));
        self.router = self.router.route(&path, route);
        self.paths.merge(paths);
        self.schemas.extend(schemas);
        self
    }

    fn documented(mut self, permission: Option<Permission>, route: ApiRoute) -> Self {
        let (schemas, paths, route) = route;
        let mut declared = paths.paths.iter();
        let (Some((path, item)), None) = (declared.next(), declared.next()) else {
            panic!("an API route is one path: handlers with the same #[utoipa::path] path");
        };
        let path = path.clone();
        let methods = operation_methods(item);
        let route = match permission {
            Some(permission) => {
                for method in methods {
                    self.table.push(GuardedRoute {
                        method,
                        path: path.clone(),
                        permission,
                    });
                }
                route.route_layer(middleware::from_fn(move |request, next| {
                    guard(permission, request, next)
                }))
            }
            None => route,
        };
        self.router = self.router.route(&path, route);
        self.paths.merge(paths);
        self.schemas.extend(schemas);
        self
    }

    /// A route for signed-in accounts holding `permission`; `route` must carry only `method`.
    fn guarded(
        mut self,
        method: Method,
        path: &'static str,
        permission: Permission,
        route: MethodRouter<AppState>,
    ) -> Self {
        self.table.push(GuardedRoute {
            method,
            path: path.to_string(),
            permission,
        });
        let route = route.route_layer(middleware::from_fn(move |request, next| {
            guard(permission, request, next)
        }));
        self.router = self.router.route(path, route);
        self
    }

    pub fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.table.extend(other.table);
        self.paths.merge(other.paths);
        self.schemas.extend(other.schemas);
        self
    }

    pub fn into_parts(self) -> RouteParts {
        RouteParts {
            router: self.router,
            table: self.table,
            paths: self.paths,
            schemas: self.schemas,
        }
    }
}

/// Pages only: an API route is declared with its documentation ([`Routes::api`]), so that the
/// OpenAPI document lists every API route there is.
fn assert_page(path: &str) {
    assert!(
        !is_api(path),
        "{path}: an API route is declared with Routes::api or Routes::open_api"
    );
}

/// The methods a documented path item has operations for.
fn operation_methods(item: &utoipa::openapi::PathItem) -> Vec<Method> {
    [
        (Method::GET, item.get.is_some()),
        (Method::PUT, item.put.is_some()),
        (Method::POST, item.post.is_some()),
        (Method::DELETE, item.delete.is_some()),
        (Method::PATCH, item.patch.is_some()),
        (Method::HEAD, item.head.is_some()),
        (Method::OPTIONS, item.options.is_some()),
    ]
    .into_iter()
    .filter_map(|(method, present)| present.then_some(method))
    .collect()
}

/// The signed-in account of a guarded request.
#[derive(Debug, Clone)]
pub struct Current {
    pub user: SignedIn,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Current {
    pub fn viewer(&self) -> &Viewer {
        &self.user.viewer
    }

    /// The audit actor of this request.
    pub fn actor(&self) -> xiaobao_audit::Actor {
        self.user
            .viewer
            .actor(self.ip.clone(), self.user_agent.clone())
    }
}

impl FromRequestParts<AppState> for Current {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Current>()
            .cloned()
            .ok_or_else(|| PageError::Internal("route is not guarded".into()))
    }
}

/// The client's address and user agent, for audit entries.
pub fn client_meta(parts: &axum::http::request::Parts) -> (Option<String>, Option<String>) {
    let ip = parts
        .extensions
        .get::<crate::web::client::ClientIp>()
        .map(|c| c.0.to_string());
    let ua = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(300).collect());
    (ip, ua)
}

/// The same, for an extractor.
#[derive(Debug, Clone, Default)]
pub struct ClientMeta {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for ClientMeta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let (ip, user_agent) = client_meta(parts);
        Ok(Self { ip, user_agent })
    }
}

/// Paths an authority that must enrol in two-factor sign-in still reaches.
fn allowed_before_two_factor(permission: Permission) -> bool {
    allowed_before_password_change(permission) || permission == Permission::ACCOUNT_TWO_FACTOR
}

/// Paths a password that must be changed still reaches.
fn allowed_before_password_change(permission: Permission) -> bool {
    permission == Permission::ACCOUNT_CHANGE_PASSWORD || permission == Permission::ACCOUNT_READ
}

fn is_api(path: &str) -> bool {
    path.starts_with("/api/")
}

/// The base of the tenant's pages as the visitor sees them (`/t/henan/` or `/` on a host).
fn page_base(parts: &axum::http::request::Parts, slug: &str) -> String {
    crate::web::tenant::TenantBase::of(&parts.extensions, slug)
}

async fn guard(permission: Permission, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let path = parts.uri.path().to_string();
    let api = is_api(&path);
    let slug = scope_of_path(&path).to_string();
    let Some(state) = parts.extensions.get::<AppState>().cloned() else {
        return PageError::Internal("state missing".into()).into_response();
    };
    let Some(session) = parts.extensions.get::<Session>().cloned() else {
        return PageError::Internal("session layer missing".into()).into_response();
    };
    let user = match crate::web::session::load_valid(&state, &session, &slug).await {
        Ok(data) => data.and_then(|d| d.user),
        Err(error) => {
            return if api {
                crate::web::error::page_to_api(error).into_response()
            } else {
                error.into_response()
            };
        }
    };
    let Some(user) = user else {
        return if api {
            ApiError::Unauthenticated.into_response()
        } else {
            let base = page_base(&parts, &slug);
            let target = if parts.method == Method::GET {
                let here = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_default();
                format!(
                    "{base}login?next={}",
                    percent_encoding::utf8_percent_encode(
                        &here,
                        percent_encoding::NON_ALPHANUMERIC
                    )
                )
            } else {
                format!("{base}login")
            };
            Redirect::to(&target).into_response()
        };
    };
    if user.must_change_password && !allowed_before_password_change(permission) {
        return if api {
            ApiError::Forbidden {
                code: "password_change_required",
                message: "请先修改密码".into(),
            }
            .into_response()
        } else {
            Redirect::to(&format!("{}account/password", page_base(&parts, &slug))).into_response()
        };
    }
    if !user.two_factor
        && !allowed_before_two_factor(permission)
        && crate::identity::two_factor::required_for(&state, &user.viewer.roles)
    {
        return if api {
            ApiError::Forbidden {
                code: "two_factor_enrolment_required",
                message: "请先在账户信息中开启两步验证".into(),
            }
            .into_response()
        } else {
            Redirect::to(&format!("{}account/two-factor", page_base(&parts, &slug))).into_response()
        };
    }
    let (ip, user_agent) = client_meta(&parts);
    let current = Current {
        user,
        ip,
        user_agent,
    };
    if !state
        .auth
        .authz
        .allows(&current.user.viewer.roles, permission)
    {
        audit_denied(&state, &slug, &current, permission, &path).await;
        return if api {
            ApiError::Forbidden {
                code: "forbidden",
                message: "当前账号无权进行此操作".into(),
            }
            .into_response()
        } else {
            let tenant = state.db.active_tenant(&slug).ok();
            let base = page_base(&parts, &slug);
            let pair = tenant.map(|t| (t, base));
            error_page(
                StatusCode::FORBIDDEN,
                "无权访问",
                "当前账号无权访问此页面或进行此操作。如需办理，请联系上级主管部门。",
                pair.as_ref(),
            )
        };
    }
    parts.extensions.insert(current);
    let changes = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    let response = next.run(Request::from_parts(parts, body)).await;
    if changes {
        // The action may have moved session epochs (a password reset, a role change): this
        // process re-reads them on the next request.
        state.auth.epochs.forget_tenant(&slug);
    }
    response
}

/// Records a refused request in the tenant's audit trail (best effort: a failure to record is
/// logged, the refusal stands).
async fn audit_denied(
    state: &AppState,
    slug: &str,
    current: &Current,
    permission: Permission,
    path: &str,
) {
    let Ok(tenant) = state.db.active_tenant(slug) else {
        return;
    };
    let entry = xiaobao_audit::Entry::new("access.denied", "route", Some(path))
        .detail("permission", permission.to_string());
    record_refusal(state, &tenant, current, entry).await;
}

/// Audits an attempt to reach a row outside one's scope (answered 404), best effort.
pub async fn audit_out_of_scope(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
    entity: &str,
    id: &str,
) {
    let entry = xiaobao_audit::Entry::new("access.out_of_scope", entity, Some(id));
    record_refusal(state, tenant, current, entry).await;
}

/// Writes a refusal's audit entry in its own transaction; a failure is logged, never shown.
async fn record_refusal(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
    entry: xiaobao_audit::Entry,
) {
    let result = xiaobao_audit::record_alone(&state.db, tenant, &current.actor(), entry).await;
    if let Err(error) = result {
        tracing::error!(%error, action = "audit of a refused request", "audit write failed");
    }
}

/// Puts the state into request extensions, where the guard finds it.
pub async fn provide_state(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    request.extensions_mut().insert(state);
    next.run(request).await
}

/// Shared construction of the services from configuration.
pub fn services(
    config: &xiaobao_config::Config,
    authz: Authz,
    redis: Option<redis::aio::ConnectionManager>,
    secret: &[u8],
    clock: &xiaobao_domain::Clock,
) -> Result<Arc<AuthServices>, xiaobao_identity::IdentityError> {
    let a = &config.auth;
    Ok(Arc::new(AuthServices {
        authz,
        hasher: PasswordHasher::new(a.argon2_memory_kib, a.argon2_iterations)?,
        limiter: match redis {
            Some(conn) => RateLimiter::redis(conn),
            None => RateLimiter::memory(),
        }
        .with_clock(clock.clone()),
        codes: Codes::new(secret).with_clock(clock.clone()),
        epochs: crate::web::validity::Epochs::default(),
        login: LoginPolicy {
            lockout_threshold: a.lockout_threshold,
            account_lockout_threshold: a.account_lockout_threshold,
            lockout: chrono::Duration::minutes(i64::from(a.lockout_mins)),
            password_max_age: chrono::Duration::days(i64::from(a.password_max_age_days)),
            per_ip: xiaobao_identity::Limit {
                max: a.login_per_ip_per_minute,
                window_secs: 60,
            },
            per_account: xiaobao_identity::Limit {
                max: a.login_per_account_per_15min,
                window_secs: 15 * 60,
            },
        },
    }))
}
