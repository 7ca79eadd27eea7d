//! Test support: a [`TestApp`] on its own fresh databases (one per test) on the real
//! PostgreSQL clusters the test command starts, with the real router.
//!
//! Environment (set by `infra/test/run.sh`):
//! - `XIAOBAO_TEST_DATABASE_URL` — a superuser URL of cluster A (main);
//! - `XIAOBAO_TEST_DATABASE_URL_B` — a superuser URL of a second cluster B;
//! - `XIAOBAO_TEST_REDIS_URL` — Redis.

#![expect(
    clippy::unwrap_used,
    reason = "test support panics with context on setup failure"
)]

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use sqlx::{Connection, Executor, PgConnection};
use tokio::sync::OnceCell;
use tower::ServiceExt;
use xiaobao_config::{Config, DatabaseMode, Secret};
use xiaobao_db::seed::{REGIONS_CSV, regions_under};
use xiaobao_db::{ClusterUrls, Db, NewTenant, ProvisionOutcome};
use xiaobao_http::AppState;

/// Superuser URL of test cluster A.
pub fn cluster_a_url() -> String {
    std::env::var("XIAOBAO_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Superuser URL of test cluster B; the placement tests need it.
pub fn cluster_b_url() -> String {
    std::env::var("XIAOBAO_TEST_DATABASE_URL_B").expect(
        "XIAOBAO_TEST_DATABASE_URL_B is not set: run the suite with infra/test/run.sh, which starts a second PostgreSQL cluster",
    )
}

pub fn redis_url() -> Option<String> {
    std::env::var("XIAOBAO_TEST_REDIS_URL").ok()
}

fn with_database(url: &str, db: &str) -> String {
    let mut u = url::Url::parse(url).unwrap();
    u.set_path(&format!("/{db}"));
    u.to_string()
}

static SWEPT: OnceCell<()> = OnceCell::const_new();

/// Drops test databases and roles left by earlier runs that were killed (older than 2 h).
async fn sweep(url: &str) {
    let Ok(mut conn) = PgConnection::connect(url).await else {
        return;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let stale: Vec<String> =
        sqlx::query_scalar("select datname from pg_database where datname like 'xbt\\_%'")
            .fetch_all(&mut conn)
            .await
            .unwrap_or_default();
    for name in stale {
        let born: u64 = name
            .split('_')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if now.saturating_sub(born) > 7200 {
            let _ = conn
                .execute(format!("drop database if exists \"{name}\" with (force)").as_str())
                .await;
            drop_roles(&mut conn, &name).await;
        }
    }
}

async fn drop_roles(conn: &mut PgConnection, prefix: &str) {
    let roles: Vec<String> =
        sqlx::query_scalar("select rolname from pg_roles where rolname like $1 || '\\_%'")
            .bind(prefix)
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
    for role in roles {
        let _ = conn
            .execute(format!("drop role if exists \"{role}\"").as_str())
            .await;
    }
}

/// A running application on fresh databases.
pub struct TestApp {
    pub state: AppState,
    pub router: Router,
    /// Name of the test databases (same on both clusters) and prefix of the tenant roles.
    pub name: String,
    /// Superuser URLs of the test databases: cluster name → URL.
    pub urls: ClusterUrls,
}

/// Options for [`TestApp::start`].
#[derive(Default)]
pub struct TestAppOptions {
    /// Also create a database on cluster B, configured as cluster `b`.
    pub second_cluster: bool,
    /// Connect Redis (from `XIAOBAO_TEST_REDIS_URL`).
    pub redis: bool,
}

impl TestApp {
    /// An app on one fresh database of cluster A.
    pub async fn init() -> Self {
        Self::start(TestAppOptions::default()).await
    }

    pub async fn start(options: TestAppOptions) -> Self {
        let a = cluster_a_url();
        SWEPT.get_or_init(|| sweep(&a)).await;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let rand = uuid::Uuid::new_v4().simple().to_string();
        let name = format!("xbt_{now}_{}", &rand[..8]);
        let mut urls = ClusterUrls::new();
        let mut clusters = vec![("main", a)];
        if options.second_cluster {
            clusters.push(("b", cluster_b_url()));
        }
        for (cluster, url) in clusters {
            let mut conn = PgConnection::connect(&url).await.unwrap_or_else(|e| {
                panic!("cannot reach test cluster {cluster} ({e}): run infra/test/run.sh")
            });
            conn.execute(format!("create database \"{name}\"").as_str())
                .await
                .unwrap();
            urls.insert(cluster.to_string(), with_database(&url, &name));
        }
        let mut config = Config::default();
        config.database.mode = DatabaseMode::External;
        config.database.url = Some(Secret::new(urls["main"].clone()));
        config.database.role_prefix = name.clone();
        config.database.max_connections = 5;
        config.demo.seed = false;
        config.storage.local_dir = std::env::temp_dir().join(&name).join("objects");
        if options.redis {
            config.redis.url = redis_url().map(Secret::new);
            assert!(
                config.redis.url.is_some(),
                "XIAOBAO_TEST_REDIS_URL is not set: run infra/test/run.sh"
            );
        }
        for (cluster, url) in &urls {
            if cluster != "main" {
                config
                    .database
                    .clusters
                    .insert(cluster.clone(), Secret::new(url.clone()));
            }
        }
        let state = xiaobao::build_state(config, &urls).await.unwrap();
        let router = xiaobao_http::build_router(state.clone());
        Self {
            state,
            router,
            name,
            urls,
        }
    }

    pub fn db(&self) -> &Db {
        &self.state.db
    }

    /// Provisions a tenant with the region tree under `root` and no rules.
    pub async fn tenant(&self, slug: &str, root: &str, cluster: &str) -> ProvisionOutcome {
        let regions = regions_under(REGIONS_CSV, root).unwrap();
        self.db()
            .provisioner()
            .create(
                &NewTenant {
                    slug: slug.into(),
                    name_zh: format!("{slug} 测试项目"),
                    root_region_code: root.into(),
                    cluster: cluster.into(),
                },
                &regions,
                None,
            )
            .await
            .unwrap()
    }

    /// Provisions the three demo programmes.
    pub async fn with_demo_tenants(self) -> Self {
        xiaobao::seed_demo_tenants(self.db()).await.unwrap();
        self
    }

    /// A superuser connection to the test database of a cluster.
    pub async fn superuser(&self, cluster: &str) -> PgConnection {
        PgConnection::connect(&self.urls[cluster]).await.unwrap()
    }

    /// Sends a request through the real router.
    pub async fn request(&self, request: Request<Body>) -> TestResponse {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        TestResponse {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, uri: &str) -> TestResponse {
        self.request(Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    /// GET with a `Host` header, for host-named tenants.
    pub async fn get_on_host(&self, host: &str, uri: &str) -> TestResponse {
        self.request(
            Request::get(uri)
                .header("host", host)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    /// Drops the test databases and tenant roles.
    pub async fn cleanup(self) {
        self.state.db.clusters.close().await;
        let mut admin = vec![cluster_a_url()];
        if self.urls.contains_key("b") {
            admin.push(cluster_b_url());
        }
        for url in admin {
            let mut conn = PgConnection::connect(&url).await.unwrap();
            conn.execute(
                format!("drop database if exists \"{}\" with (force)", self.name).as_str(),
            )
            .await
            .unwrap();
            drop_roles(&mut conn, &self.name).await;
        }
        let _ = std::fs::remove_dir_all(std::env::temp_dir().join(&self.name));
    }
}

/// A collected response.
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl TestResponse {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}
