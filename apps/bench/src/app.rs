//! The application state, built exactly as the service builds it, on a scratch database.

use std::path::PathBuf;

use anyhow::Context;
use xiaobao_config::{Config, DatabaseMode, MAIN_CLUSTER, Secret};
use xiaobao_db::ClusterUrls;
use xiaobao_http::AppState;

use crate::scratch::ScratchDb;

/// A directory under the system temp dir, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        Self(std::env::temp_dir().join(name))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Best effort: a leftover temp dir is harmless.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The service configuration for a scratch database: external mode, tenant roles prefixed
/// with the database name, no demo seeding, objects in `work_dir`. The pool size is the
/// service default unless `max_connections` is given.
pub fn config(db: &ScratchDb, work_dir: &TempDir, max_connections: Option<u32>) -> Config {
    let mut config = Config::default();
    config.database.mode = DatabaseMode::External;
    config.database.url = Some(Secret::new(db.url.clone()));
    config.database.role_prefix = db.name.clone();
    if let Some(max) = max_connections {
        config.database.max_connections = max;
    }
    config.demo.seed = Some(false);
    // External mode requires every key; a scratch database gets random ones.
    let key = || {
        Secret::new(format!(
            "{:032x}{:032x}",
            fastrand::u128(..),
            fastrand::u128(..)
        ))
    };
    config.personal_data.id_key = Some(key());
    config.storage.download_key = Some(key());
    config.auth.secret_key = Some(key());
    config.storage.local_dir = work_dir.0.join("objects");
    config
}

/// Connects the state as the service does (`xiaobao::build_state`).
pub async fn build_state(config: Config) -> anyhow::Result<AppState> {
    let url = config
        .database
        .url
        .as_ref()
        .context("the benchmark configuration has no database URL")?
        .expose()
        .to_string();
    let urls = ClusterUrls::from([(MAIN_CLUSTER.to_string(), url)]);
    xiaobao::build_state(config, &urls)
        .await
        .context("cannot build the application state")
}
