use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Executor};
use xiaobao_config::MAIN_CLUSTER;

use crate::{DbError, DbResult};

/// Cluster name → connection URL; must contain [`MAIN_CLUSTER`].
pub type ClusterUrls = BTreeMap<String, String>;

/// One connection pool per PostgreSQL cluster named in the configuration.
#[derive(Clone)]
pub struct Clusters {
    pools: Arc<BTreeMap<String, PgPool>>,
}

impl Clusters {
    pub async fn connect(urls: &ClusterUrls, max_connections: u32) -> DbResult<Self> {
        if !urls.contains_key(MAIN_CLUSTER) {
            return Err(DbError::UnknownCluster(MAIN_CLUSTER.into()));
        }
        let mut pools = BTreeMap::new();
        for (name, url) in urls {
            let options = PgConnectOptions::from_str(url)?
                .application_name("xiaobao")
                .log_statements(tracing::log::LevelFilter::Trace)
                .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(2));
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                .min_connections(0)
                .acquire_timeout(Duration::from_secs(10))
                // A broken connection fails its query and is discarded; pinging on every
                // checkout would add a round trip to every request.
                .test_before_acquire(false)
                // A connection never has a usable search_path of its own: tenant work sets
                // one locally inside its transaction, control queries name `control.`.
                .after_connect(|conn, _meta| {
                    Box::pin(async move {
                        conn.execute("select set_config('search_path', '', false)")
                            .await?;
                        Ok(())
                    })
                })
                .connect_with(options)
                .await?;
            pools.insert(name.clone(), pool);
        }
        Ok(Self {
            pools: Arc::new(pools),
        })
    }

    /// The pool of the main cluster (holds the control schema).
    pub fn main(&self) -> &PgPool {
        // `connect` refuses a map without the main cluster.
        &self.pools[MAIN_CLUSTER]
    }

    pub fn get(&self, name: &str) -> DbResult<&PgPool> {
        self.pools
            .get(name)
            .ok_or_else(|| DbError::UnknownCluster(name.to_string()))
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.pools.keys().map(String::as_str)
    }

    pub fn pools(&self) -> impl Iterator<Item = &PgPool> {
        self.pools.values()
    }

    /// Closes every pool (graceful shutdown).
    pub async fn close(&self) {
        for pool in self.pools.values() {
            pool.close().await;
        }
    }
}
