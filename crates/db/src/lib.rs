//! Database layer: one pool per PostgreSQL cluster, the tenant catalog in the `control` schema,
//! tenant provisioning and migrations, and [`TenantTx`] — the one way to run a tenant query.
//!
//! Every pooled connection starts with an empty `search_path`, so a query that is not run
//! through [`Db::tenant_tx`] (or names `control.` explicitly) fails instead of reading some
//! schema.

pub mod anchor;
mod calendar;
mod catalog;
mod clusters;
pub mod programme;
mod provision;
pub mod regions;
pub mod rules;
pub mod seed;
mod tenant_tx;

pub use calendar::{
    SharedCalendar, StoredYear, import_calendar_toml, load_calendar, store_calendar, stored_years,
};
pub use catalog::{Catalog, Tenant, TenantStatus};
pub use clusters::{ClusterUrls, Clusters};
pub use programme::Programme;
pub use provision::{NewTenant, ProvisionOutcome, Provisioner, RulesSeed, validate_slug};
pub use tenant_tx::TenantTx;

use std::sync::Arc;

/// Errors of the database layer.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("租户 {0} 不存在")]
    UnknownTenant(String),
    #[error("租户 {0} 已归档")]
    ArchivedTenant(String),
    #[error("数据库集群 {0} 未在配置中定义（database.clusters）")]
    UnknownCluster(String),
    #[error("租户标识 {0:?} 无效：只能使用 2–31 个小写字母和数字，以字母开头")]
    InvalidSlug(String),
    #[error("{0}")]
    Invalid(String),
}

pub type DbResult<T> = Result<T, DbError>;

impl From<DbError> for xiaobao_domain::Failure {
    fn from(e: DbError) -> Self {
        use xiaobao_domain::{Failure, Refusal};
        match e {
            DbError::UnknownTenant(_) | DbError::ArchivedTenant(_) => {
                Refusal::not_found("租户不存在").into()
            }
            DbError::Sqlx(sqlx::Error::PoolTimedOut) => Failure::Unavailable(Box::new(e)),
            other => Failure::Internal(Box::new(other)),
        }
    }
}

/// The database handle the service passes around: cluster pools, the catalog cache and the
/// role prefix used for tenant roles.
#[derive(Clone)]
pub struct Db {
    pub clusters: Clusters,
    pub catalog: Catalog,
    inner: Arc<DbInner>,
}

struct DbInner {
    role_prefix: String,
    statement_timeout_ms: u64,
}

impl Db {
    /// Connects every configured cluster, migrates the control schema on the main cluster and
    /// loads the catalog.
    pub async fn connect(
        urls: &ClusterUrls,
        max_connections: u32,
        role_prefix: &str,
        statement_timeout_ms: u64,
    ) -> DbResult<Self> {
        let clusters = Clusters::connect(urls, max_connections).await?;
        catalog::migrate_control(clusters.main()).await?;
        calendar::seed_builtin(clusters.main()).await?;
        let catalog = Catalog::load(clusters.main()).await?;
        Ok(Self {
            clusters,
            catalog,
            inner: Arc::new(DbInner {
                role_prefix: role_prefix.to_string(),
                statement_timeout_ms,
            }),
        })
    }

    /// Starts a transaction as the tenant: `SET LOCAL ROLE` to the tenant's role and a local
    /// `search_path` of its schema, sent together with `BEGIN` in one round trip.
    pub async fn tenant_tx(&self, tenant: &Tenant) -> DbResult<TenantTx> {
        TenantTx::begin(&self.clusters, tenant, self.inner.statement_timeout_ms).await
    }

    /// Looks up an active tenant by slug in the catalog cache.
    pub fn active_tenant(&self, slug: &str) -> DbResult<Arc<Tenant>> {
        match self.catalog.get(slug) {
            Some(t) if t.status == TenantStatus::Active => Ok(t),
            Some(_) => Err(DbError::ArchivedTenant(slug.to_string())),
            None => Err(DbError::UnknownTenant(slug.to_string())),
        }
    }

    /// The provisioning operations (create, migrate, archive).
    pub fn provisioner(&self) -> Provisioner<'_> {
        Provisioner::new(self, &self.inner.role_prefix)
    }

    /// Keeps the catalog cache current in the background (see [`Catalog::listen`]).
    pub fn spawn_catalog_listener(&self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.catalog.clone().listen(self.clusters.main().clone()))
    }

    /// Pings every cluster (for `/readyz`).
    pub async fn ping(&self) -> DbResult<()> {
        for pool in self.clusters.pools() {
            sqlx::query!("select 1 as one").fetch_one(pool).await?;
        }
        Ok(())
    }
}

/// A `LIKE` pattern matching text that contains `text` literally: `%`, `_` and `\` typed by a
/// person are escaped (PostgreSQL's default escape character is the backslash), so they match
/// themselves instead of any text.
pub fn like_contains(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}
