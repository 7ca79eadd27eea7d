//! Liveness and readiness.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// Alive: the process answers.
async fn healthz() -> &'static str {
    "ok"
}

/// State of one dependency.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    Ok,
    /// Not configured (embedded default: the in-process replacement is used).
    NotConfigured,
    Failed,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    pub ready: bool,
    pub database: Check,
    pub redis: Check,
    pub object_store: Check,
}

/// Ready: every database cluster, Redis (when configured) and the object store answer.
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let database = match state.db.ping().await {
        Ok(()) => Check::Ok,
        Err(error) => {
            tracing::warn!(%error, "readiness: database");
            Check::Failed
        }
    };
    let redis = match state.redis.clone() {
        None => Check::NotConfigured,
        Some(mut conn) => match redis::cmd("PING").query_async::<String>(&mut conn).await {
            Ok(_) => Check::Ok,
            Err(error) => {
                tracing::warn!(%error, "readiness: redis");
                Check::Failed
            }
        },
    };
    let object_store = {
        use futures::StreamExt;
        let mut listing = state
            .objects
            .list(Some(&object_store::path::Path::from("readyz")));
        match listing.next().await {
            None | Some(Ok(_)) => Check::Ok,
            Some(Err(error)) => {
                tracing::warn!(%error, "readiness: object store");
                Check::Failed
            }
        }
    };
    let ready = !matches!(database, Check::Failed)
        && !matches!(redis, Check::Failed)
        && !matches!(object_store, Check::Failed);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Readiness {
            ready,
            database,
            redis,
            object_store,
        }),
    )
}
