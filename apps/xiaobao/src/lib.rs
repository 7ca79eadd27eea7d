//! Wiring: from a [`Config`] to a running service. The binary and the end-to-end tests build
//! the application through these same functions.

use std::sync::Arc;

use anyhow::Context;
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use xiaobao_config::{Config, DatabaseMode, MAIN_CLUSTER, StorageBackend};
use xiaobao_db::seed::{REGIONS_CSV, demo_tenants, regions_under};
use xiaobao_db::{ClusterUrls, Db, NewTenant, ProvisionOutcome};
use xiaobao_http::AppState;

/// The private cluster of the embedded default, when this process started it.
pub struct EmbeddedCluster {
    spec: xiaobao_pgembed::ClusterSpec,
}

impl EmbeddedCluster {
    /// Stops the cluster this process started.
    pub fn stop(self) {
        match xiaobao_pgembed::stop(&self.spec) {
            Ok(_) => tracing::info!("embedded PostgreSQL stopped"),
            Err(error) => tracing::warn!(%error, "embedded PostgreSQL did not stop cleanly"),
        }
    }
}

/// The cluster URLs to connect to; in embedded mode the private cluster is started first
/// (and returned, when this process started it, so the caller can stop it on exit).
pub fn cluster_urls(config: &Config) -> anyhow::Result<(ClusterUrls, Option<EmbeddedCluster>)> {
    let mut urls = ClusterUrls::new();
    let mut embedded = None;
    match config.database.mode {
        DatabaseMode::Embedded => {
            let spec = xiaobao_pgembed::ClusterSpec {
                data_dir: absolute(&config.database.embedded_dir)?,
                port: config.database.embedded_port,
            };
            let running = xiaobao_pgembed::ensure_running(&spec)
                .context("无法启动内置 PostgreSQL（database.mode = embedded）")?;
            tracing::info!(data_dir = %running.data_dir.display(), port = running.port,
                started_now = running.started_now, "embedded PostgreSQL ready");
            urls.insert(MAIN_CLUSTER.to_string(), running.url);
            if running.started_now {
                embedded = Some(EmbeddedCluster { spec });
            }
        }
        DatabaseMode::External => {
            let url = config
                .database
                .url
                .as_ref()
                .context("database.url 未配置（XIAOBAO_DATABASE__URL）")?;
            urls.insert(MAIN_CLUSTER.to_string(), url.expose().to_string());
        }
    }
    for (name, url) in &config.database.clusters {
        urls.insert(name.clone(), url.expose().to_string());
    }
    Ok((urls, embedded))
}

fn absolute(path: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    if path.is_absolute() {
        Ok(path.to_path_buf())
    } else {
        Ok(std::env::current_dir()?.join(path))
    }
}

/// Connects the databases, Redis and the object store, and loads the calendar.
pub async fn build_state(config: Config, urls: &ClusterUrls) -> anyhow::Result<AppState> {
    let db = Db::connect(
        urls,
        config.database.max_connections,
        &config.database.role_prefix,
        config.database.statement_timeout_ms,
    )
    .await
    .context("无法连接数据库")?;
    let redis = match &config.redis.url {
        None => None,
        Some(url) => {
            let client = redis::Client::open(url.expose()).context("redis.url 无效")?;
            Some(
                redis::aio::ConnectionManager::new(client)
                    .await
                    .context("无法连接 Redis（redis.url）")?,
            )
        }
    };
    let objects: Arc<dyn ObjectStore> = match config.storage.backend {
        StorageBackend::Local => {
            let dir = absolute(&config.storage.local_dir)?;
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("无法创建文件存储目录 {}", dir.display()))?;
            Arc::new(LocalFileSystem::new_with_prefix(&dir)?)
        }
    };
    let calendar = xiaobao_db::load_calendar(db.clusters.main())
        .await
        .context("无法读取节假日日历")?;
    Ok(AppState {
        db,
        config: Arc::new(config),
        redis,
        objects,
        calendar: Arc::new(calendar),
    })
}

/// Provisions the demo programmes (`henan`, `liupanshui`, `shanghai`) on the main cluster;
/// existing ones are only brought up to date.
pub async fn seed_demo_tenants(db: &Db) -> anyhow::Result<Vec<(String, ProvisionOutcome)>> {
    let mut out = Vec::new();
    for demo in demo_tenants() {
        let regions = regions_under(REGIONS_CSV, demo.root_region_code)?;
        let rules = xiaobao_db::RulesSeed {
            academic_year: demo.academic_year.to_string(),
            document: demo.rules_toml.to_string(),
        };
        let outcome = db
            .provisioner()
            .create(
                &NewTenant {
                    slug: demo.slug.to_string(),
                    name_zh: demo.name_zh.to_string(),
                    root_region_code: demo.root_region_code.to_string(),
                    cluster: MAIN_CLUSTER.to_string(),
                },
                &regions,
                Some(&rules),
            )
            .await
            .with_context(|| format!("无法开通演示租户 {}", demo.slug))?;
        out.push((demo.slug.to_string(), outcome));
    }
    Ok(out)
}

/// Serves until Ctrl-C or SIGTERM, then lets in-flight requests finish.
pub async fn serve(state: AppState) -> anyhow::Result<()> {
    let config = state.config.clone();
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| {
            format!(
                "无法监听 {}：端口可能已被占用，可用 XIAOBAO_SERVER__LISTEN 换一个地址",
                config.server.listen
            )
        })?;
    let catalog_task = tokio::spawn(
        state
            .db
            .catalog
            .clone()
            .listen(state.db.clusters.main().clone()),
    );
    let db = state.db.clone();
    let app = xiaobao_http::build_router(state);
    // After the signal, in-flight requests get `shutdown_grace_secs` to finish.
    let stopping = Arc::new(tokio::sync::Notify::new());
    let signalled = stopping.clone();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown_signal().await;
        signalled.notify_one();
    });
    let grace = std::time::Duration::from_secs(config.server.shutdown_grace_secs);
    tokio::select! {
        result = server => result?,
        () = async { stopping.notified().await; tokio::time::sleep(grace).await } => {
            tracing::warn!(grace_secs = grace.as_secs(), "requests still running after the grace period; closing");
        }
    }
    catalog_task.abort();
    db.clusters.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
