use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::Executor;
use sqlx::postgres::{PgListener, PgPool};

use crate::DbResult;

static CONTROL_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/control");

/// Lifecycle of a tenant in the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TenantStatus {
    Provisioning,
    Active,
    Archived,
}

impl TenantStatus {
    fn parse(s: &str) -> Self {
        match s {
            "active" => Self::Active,
            "archived" => Self::Archived,
            _ => Self::Provisioning,
        }
    }
}

/// One catalog row: where a programme's data lives.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Tenant {
    pub tenant_id: i64,
    pub slug: String,
    pub name_zh: String,
    pub root_region_code: String,
    pub schema_name: String,
    pub db_role: String,
    pub cluster: String,
    pub status: TenantStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub archived_at: Option<DateTime<Utc>>,
}

/// In-memory copy of the catalog, so resolving a tenant per request costs no query. Reloaded
/// on every `xiaobao_catalog` notification (see [`Catalog::listen`]) and after local changes.
#[derive(Clone)]
pub struct Catalog {
    tenants: Arc<RwLock<HashMap<String, Arc<Tenant>>>>,
}

pub(crate) async fn migrate_control(pool: &PgPool) -> DbResult<()> {
    let mut conn = pool.acquire().await?;
    // Serialise concurrent starts; the migrator's own lock comes after the schema exists.
    conn.execute("select pg_advisory_lock(7261001)").await?;
    let result = async {
        // Runtime SQL: DDL, and the session setting the migrator runs under.
        conn.execute(
            "create schema if not exists control; revoke all on schema control from public; \
             set search_path to control",
        )
        .await?;
        CONTROL_MIGRATOR.run(&mut *conn).await?;
        Ok::<_, crate::DbError>(())
    }
    .await;
    conn.execute("set search_path to ''; select pg_advisory_unlock(7261001)")
        .await?;
    result
}

pub(crate) async fn fetch_tenants(executor: impl sqlx::PgExecutor<'_>) -> DbResult<Vec<Tenant>> {
    let rows = sqlx::query_as!(
        TenantRow,
        "select tenant_id, slug, name_zh, root_region_code, schema_name, db_role, cluster, \
         status, created_at, updated_at, archived_at from control.tenants order by tenant_id",
    )
    .fetch_all(executor)
    .await?;
    Ok(rows.into_iter().map(Tenant::from).collect())
}

/// A `control.tenants` row as selected; [`Tenant`] once its status is parsed.
pub(crate) struct TenantRow {
    pub(crate) tenant_id: i64,
    pub(crate) slug: String,
    pub(crate) name_zh: String,
    pub(crate) root_region_code: String,
    pub(crate) schema_name: String,
    pub(crate) db_role: String,
    pub(crate) cluster: String,
    pub(crate) status: String,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
    pub(crate) archived_at: Option<DateTime<Utc>>,
}

impl From<TenantRow> for Tenant {
    fn from(row: TenantRow) -> Self {
        Self {
            tenant_id: row.tenant_id,
            slug: row.slug,
            name_zh: row.name_zh,
            root_region_code: row.root_region_code,
            schema_name: row.schema_name,
            db_role: row.db_role,
            cluster: row.cluster,
            status: TenantStatus::parse(&row.status),
            created_at: row.created_at,
            updated_at: row.updated_at,
            archived_at: row.archived_at,
        }
    }
}

impl Catalog {
    pub async fn load(pool: &PgPool) -> DbResult<Self> {
        let catalog = Self {
            tenants: Arc::new(RwLock::new(HashMap::new())),
        };
        catalog.reload(pool).await?;
        Ok(catalog)
    }

    /// Replaces the cached catalog with the database's.
    pub async fn reload(&self, pool: &PgPool) -> DbResult<()> {
        let fresh: HashMap<_, _> = fetch_tenants(pool)
            .await?
            .into_iter()
            .map(|t| (t.slug.clone(), Arc::new(t)))
            .collect();
        *self.tenants.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }

    pub fn get(&self, slug: &str) -> Option<Arc<Tenant>> {
        self.tenants
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(slug)
            .cloned()
    }

    /// All tenants, ordered by slug.
    pub fn all(&self) -> Vec<Arc<Tenant>> {
        let mut all: Vec<_> = self
            .tenants
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        all.sort_by(|a, b| a.slug.cmp(&b.slug));
        all
    }

    /// Keeps the cache current: reloads on every catalog notification, and every minute in
    /// case a notification was missed while reconnecting. Runs until the task is dropped.
    pub async fn listen(self, pool: PgPool) {
        loop {
            if let Err(error) = self.listen_once(&pool).await {
                tracing::warn!(%error, "catalog listener failed; retrying");
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }

    async fn listen_once(&self, pool: &PgPool) -> DbResult<()> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen("xiaobao_catalog").await?;
        self.reload(pool).await?;
        loop {
            match tokio::time::timeout(Duration::from_secs(60), listener.recv()).await {
                Ok(notification) => {
                    notification?;
                }
                Err(_elapsed) => {}
            }
            self.reload(pool).await?;
        }
    }
}
