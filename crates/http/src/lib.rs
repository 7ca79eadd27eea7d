//! The HTTP edge: axum router with pages (askama, Chinese) and the JSON API under `/api/v1`.
//!
//! [`build_router`] builds the whole application from an [`AppState`]; the binary and the tests
//! use the same function.

mod api;
mod error;
mod health;
mod middleware;
mod pages;
mod tenant;
mod time;

use std::sync::Arc;

use axum::Router;
use object_store::ObjectStore;
use xiaobao_config::Config;
use xiaobao_db::Db;
use xiaobao_domain::calendar::WorkCalendar;

pub use api::openapi_json;
pub use error::{ApiError, ErrorBody};

/// Everything a request handler may need; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub redis: Option<redis::aio::ConnectionManager>,
    pub objects: Arc<dyn ObjectStore>,
    pub calendar: Arc<WorkCalendar>,
}

/// The whole application router with its middleware stack.
pub fn build_router(state: AppState) -> Router {
    let app = Router::new()
        .merge(health::router())
        .merge(pages::router())
        .nest("/api/v1", api::router())
        .fallback(pages::not_found)
        .with_state(state.clone());
    middleware::wrap(app, &state)
}
