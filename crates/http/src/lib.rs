//! The HTTP edge: axum router with pages (askama, Chinese) and the JSON API under `/api/v1`.
//!
//! [`build_router`] builds the whole application from an [`AppState`]; the binary and the tests
//! use the same function.

mod admin;
mod api;
mod documents;
mod enrolment;
mod home;
mod identity;
mod onboarding;
mod platform;
mod programme;
mod school_home;
mod schools;
mod todo;
mod web;

pub use web::{auth, client, csrf, nav, session};

use std::sync::Arc;

use axum::Router;
use object_store::ObjectStore;
use xiaobao_config::Config;
use xiaobao_db::Db;

pub use api::openapi_json;
pub use auth::{AuthServices, GuardedRoute};
pub use identity::login::open_session;
pub use session::{SessionData, Sessions, SignedIn};
pub use web::error::{ApiError, ErrorBody};

/// Everything a request handler may need; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub redis: Option<redis::aio::ConnectionManager>,
    /// Browser sessions: in Redis when `redis` is set, else in-process.
    pub sessions: Sessions,
    pub objects: Arc<dyn ObjectStore>,
    /// Documents over `objects`.
    pub documents: Arc<xiaobao_storage::Documents>,
    /// Signs download links (`xiaobao_storage::DownloadToken`).
    pub download_key: Arc<[u8]>,
    /// The working-day calendar in force (replaced when a calendar is imported).
    pub calendar: xiaobao_db::SharedCalendar,
    /// Passwords, sign-in, one-time codes and the authorisation policy.
    pub auth: Arc<AuthServices>,
    /// Master key of resident ID encryption; [`AppState::sealer`] derives a tenant's keys.
    pub id_key: Arc<[u8]>,
    /// The application's clock: today, the current academic year, deadlines, expiries.
    pub clock: xiaobao_domain::Clock,
}

impl AppState {
    /// The ID sealer of a tenant (AES-256-GCM and match-hash keys derived from `id_key`).
    pub fn sealer(&self, tenant: &xiaobao_db::Tenant) -> xiaobao_roster::IdSealer {
        xiaobao_roster::IdSealer::for_tenant(&self.id_key, &tenant.slug)
    }

    /// The keys sealing a tenant's two-factor secrets (AES-256-GCM, derived from `id_key`
    /// with their own HKDF label, so never equal to the ID sealing keys).
    pub fn totp_keys(
        &self,
        tenant: &xiaobao_db::Tenant,
    ) -> Result<xiaobao_identity::totp::TotpKeys, xiaobao_domain::Failure> {
        let keys = xiaobao_roster::derived_keys(
            &self.id_key,
            xiaobao_identity::totp::SEAL_INFO,
            &tenant.slug,
        );
        xiaobao_identity::totp::TotpKeys::new(&keys)
            .ok_or_else(|| xiaobao_domain::Failure::internal("no TOTP sealing key"))
    }

    /// The keys sealing platform operators' two-factor secrets: the same derivation under a
    /// label no tenant slug can take.
    pub fn operator_totp_keys(
        &self,
    ) -> Result<xiaobao_identity::totp::TotpKeys, xiaobao_domain::Failure> {
        let keys = xiaobao_roster::derived_keys(
            &self.id_key,
            xiaobao_identity::totp::SEAL_INFO,
            "@platform",
        );
        xiaobao_identity::totp::TotpKeys::new(&keys)
            .ok_or_else(|| xiaobao_domain::Failure::internal("no TOTP sealing key"))
    }
}

/// Every route registered through [`auth::Routes`]: the guarded ones (each with the
/// permission it needs), the open ones, and the API's operations.
pub(crate) fn all_routes() -> auth::Routes {
    auth::Routes::new()
        .merge(api::routes())
        .merge(identity::login::routes())
        .merge(identity::account::routes())
        .merge(identity::school_info::routes())
        .merge(identity::two_factor::routes())
        .merge(onboarding::routes())
        .merge(enrolment::routes())
        .merge(identity::switch::routes())
        .merge(identity::branches::routes())
        .merge(admin::routes())
        .merge(identity::register::routes())
        .merge(identity::review::routes())
        .merge(identity::recovery::routes())
        .merge(identity::captcha::routes())
        .merge(schools::routes())
        .merge(schools::central::routes())
        .merge(schools::assigned::routes())
        .merge(schools::change_requests::routes())
        .merge(enrolment::admin::routes())
        .merge(enrolment::conflicts::routes())
        .merge(enrolment::underwriting::routes())
        .merge(programme::routes())
        .merge(platform::routes())
}

/// Every guarded route of the application.
pub fn route_table() -> Vec<GuardedRoute> {
    all_routes().into_parts().table
}

/// The whole application router with its middleware stack.
pub fn build_router(state: AppState) -> Router {
    let routes = all_routes().into_parts().router;
    let app = Router::new()
        .merge(web::health::router())
        .merge(web::assets::router())
        .merge(home::router())
        .merge(routes)
        .merge(documents::router())
        .fallback(web::error::not_found)
        .with_state(state.clone());
    web::middleware::wrap(app, &state)
}
