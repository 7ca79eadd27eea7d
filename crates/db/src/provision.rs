use sqlx::{Connection, Executor, PgConnection};

use crate::catalog::{TenantRow, fetch_tenants};
use crate::seed::RegionSeed;
use crate::tenant_tx::quote_ident;
use crate::{Db, DbError, DbResult, Tenant, TenantStatus};

static TENANT_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/tenant");

/// What `create` is asked to make.
#[derive(Debug, Clone)]
pub struct NewTenant {
    pub slug: String,
    pub name_zh: String,
    pub root_region_code: String,
    /// Cluster name from the configuration (`main` or one of `database.clusters`).
    pub cluster: String,
}

/// Rules seeded on creation when the tenant has none for that academic year.
#[derive(Debug, Clone)]
pub struct RulesSeed {
    pub academic_year: String,
    pub document: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProvisionOutcome {
    /// The tenant did not exist and was made.
    Created,
    /// The tenant existed; missing migrations were applied, nothing else changed.
    AlreadyPresent { migrations_applied: usize },
}

/// Tenant lifecycle operations; obtained from [`Db::provisioner`].
pub struct Provisioner<'a> {
    db: &'a Db,
    role_prefix: &'a str,
}

/// Checks a tenant slug: 2–31 lowercase letters and digits, starting with a letter.
pub fn validate_slug(slug: &str) -> DbResult<()> {
    let ok = (2..=31).contains(&slug.len())
        && slug.starts_with(|c: char| c.is_ascii_lowercase())
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(DbError::InvalidSlug(slug.to_string()))
    }
}

impl<'a> Provisioner<'a> {
    pub(crate) fn new(db: &'a Db, role_prefix: &'a str) -> Self {
        Self { db, role_prefix }
    }

    /// Creates a tenant: catalog row, database role, schema `t_<slug>` owned by that role,
    /// tenant migrations with their ledger inside the schema, region tree and rules.
    /// Idempotent: on an existing tenant it only applies missing migrations.
    pub async fn create(
        &self,
        new: &NewTenant,
        regions: &[RegionSeed],
        rules: Option<&RulesSeed>,
    ) -> DbResult<ProvisionOutcome> {
        self.create_marked(new, regions, rules, false).await
    }

    /// Like [`Provisioner::create`], for the demo seeding: a tenant this call makes is marked
    /// `demo` in the catalog (the only tenants that get demo accounts). An existing tenant keeps
    /// its mark.
    pub async fn create_demo(
        &self,
        new: &NewTenant,
        regions: &[RegionSeed],
        rules: Option<&RulesSeed>,
    ) -> DbResult<ProvisionOutcome> {
        self.create_marked(new, regions, rules, true).await
    }

    async fn create_marked(
        &self,
        new: &NewTenant,
        regions: &[RegionSeed],
        rules: Option<&RulesSeed>,
        demo: bool,
    ) -> DbResult<ProvisionOutcome> {
        validate_slug(&new.slug)?;
        if new.name_zh.trim().is_empty() {
            return Err(DbError::Invalid("项目中文名称不能为空".into()));
        }
        self.db.clusters.get(&new.cluster)?;
        if let Some(rules) = rules {
            let parsed = xiaobao_domain::rules::ProgrammeRules::from_toml_str(&rules.document)
                .map_err(|e| DbError::Invalid(format!("项目规则无效：{e}")))?;
            if parsed.academic_year().to_string() != rules.academic_year {
                return Err(DbError::Invalid(format!(
                    "项目规则中的学年 {} 与要开通的学年 {} 不一致",
                    parsed.academic_year(),
                    rules.academic_year
                )));
            }
        }
        if !regions.iter().any(|r| r.code == new.root_region_code) {
            return Err(DbError::Invalid(format!(
                "根地区代码 {} 不在地区数据中",
                new.root_region_code
            )));
        }
        let main = self.db.clusters.main();
        let mut lock = main.acquire().await?;
        lock_slug(&mut lock, &new.slug).await?;
        let result = self.create_locked(new, regions, rules, demo).await;
        unlock_slug(&mut lock, &new.slug).await?;
        self.db.catalog.reload(main).await?;
        result
    }

    async fn create_locked(
        &self,
        new: &NewTenant,
        regions: &[RegionSeed],
        rules: Option<&RulesSeed>,
        demo: bool,
    ) -> DbResult<ProvisionOutcome> {
        let main = self.db.clusters.main();
        let schema = format!("t_{}", new.slug);
        let role = format!("{}_t_{}", self.role_prefix, new.slug);
        let existing = sqlx::query_as!(
            TenantRow,
            "select tenant_id, slug, name_zh, root_region_code, schema_name, db_role, cluster, \
             status, created_at, updated_at, archived_at from control.tenants where slug = $1",
            new.slug,
        )
        .fetch_optional(main)
        .await?
        .map(Tenant::from);
        let tenant = match existing {
            Some(t) if t.status == TenantStatus::Archived => {
                return Err(DbError::ArchivedTenant(t.slug));
            }
            Some(t) if t.cluster != new.cluster => {
                return Err(DbError::Invalid(format!(
                    "租户 {} 已位于集群 {}，不能在集群 {} 上再次创建",
                    t.slug, t.cluster, new.cluster
                )));
            }
            Some(t) if t.status == TenantStatus::Active => {
                let applied = self.migrate_tenant(&t).await?;
                return Ok(ProvisionOutcome::AlreadyPresent {
                    migrations_applied: applied,
                });
            }
            // A half-made tenant (a previous attempt stopped midway) is finished below.
            Some(t) => t,
            None => sqlx::query_as!(
                TenantRow,
                "insert into control.tenants \
                     (slug, name_zh, root_region_code, schema_name, db_role, cluster, demo) \
                     values ($1, $2, $3, $4, $5, $6, $7) \
                     returning tenant_id, slug, name_zh, root_region_code, schema_name, db_role, \
                     cluster, status, created_at, updated_at, archived_at",
                new.slug,
                new.name_zh.trim(),
                new.root_region_code,
                schema,
                role,
                new.cluster,
                demo,
            )
            .fetch_one(main)
            .await?
            .into(),
        };

        self.create_role_and_schema(&tenant).await?;
        self.migrate_tenant(&tenant).await?;
        self.seed(&tenant, regions, rules).await?;
        sqlx::query!(
            "update control.tenants set status = 'active', updated_at = now() where tenant_id = $1",
            tenant.tenant_id,
        )
        .execute(main)
        .await?;
        tracing::info!(tenant.slug = %tenant.slug, tenant.cluster = %tenant.cluster, "tenant provisioned");
        Ok(ProvisionOutcome::Created)
    }

    async fn create_role_and_schema(&self, tenant: &Tenant) -> DbResult<()> {
        let pool = self.db.clusters.get(&tenant.cluster)?;
        let mut conn = pool.acquire().await?;
        let role_exists = sqlx::query_scalar!(
            r#"select exists (select 1 from pg_roles where rolname = $1) as "exists!""#,
            tenant.db_role,
        )
        .fetch_one(&mut *conn)
        .await?;
        let role = quote_ident(&tenant.db_role);
        let schema = quote_ident(&tenant.schema_name);
        if !role_exists {
            // DDL naming a role: identifiers cannot be bound.
            conn.execute(format!("create role {role} nologin noinherit").as_str())
                .await?;
        }
        let superuser = sqlx::query_scalar!(
            r#"select rolsuper as "rolsuper!" from pg_roles where rolname = current_user"#
        )
        .fetch_one(&mut *conn)
        .await?;
        if !superuser {
            // The service's login role must be a member to `SET ROLE` to the tenant.
            // Runtime SQL: a GRANT names a role, which cannot be bound.
            conn.execute(format!("grant {role} to current_user").as_str())
                .await?;
        }
        // Runtime SQL: DDL naming the schema and role.
        conn.execute(
            format!(
                "create schema if not exists {schema} authorization {role}; \
                 revoke all on schema {schema} from public"
            )
            .as_str(),
        )
        .await?;
        Ok(())
    }

    /// Applies missing tenant migrations as the tenant's role, with the ledger inside its
    /// schema. Returns how many were applied.
    async fn migrate_tenant(&self, tenant: &Tenant) -> DbResult<usize> {
        let pool = self.db.clusters.get(&tenant.cluster)?;
        // The audit anchor's trigger function must exist before the migration that uses it.
        crate::anchor::install(pool, tenant).await?;
        // A detached connection: its session settings die with it, never reaching the pool.
        let mut conn: PgConnection = pool.acquire().await?.detach();
        // Runtime SQL: `SET` names the role and schema.
        conn.execute(
            format!(
                "set role {}; set search_path to {}",
                quote_ident(&tenant.db_role),
                quote_ident(&tenant.schema_name)
            )
            .as_str(),
        )
        .await?;
        let before = applied_count(&mut conn).await?;
        let result = TENANT_MIGRATOR.run(&mut conn).await;
        let after = applied_count(&mut conn).await?;
        conn.close().await?;
        result?;
        crate::anchor::anchor(pool, tenant).await?;
        let applied = after.saturating_sub(before);
        if applied > 0 {
            tracing::info!(tenant.slug = %tenant.slug, applied, "tenant migrations applied");
        }
        Ok(applied)
    }

    async fn seed(
        &self,
        tenant: &Tenant,
        regions: &[RegionSeed],
        rules: Option<&RulesSeed>,
    ) -> DbResult<()> {
        let mut tx = self.db.tenant_tx(tenant).await?;
        crate::regions::insert_missing(&mut tx, regions).await?;
        if let Some(rules) = rules {
            let present = crate::rules::current(&mut tx, &rules.academic_year).await?;
            if present.is_none() {
                crate::rules::save_version(
                    &mut tx,
                    &rules.academic_year,
                    &rules.document,
                    "system:provision",
                    "开通租户时的初始配置",
                )
                .await?;
            }
        }
        tx.commit().await
    }

    /// Brings one tenant's schema up to date.
    pub async fn migrate(&self, slug: &str) -> DbResult<usize> {
        let tenant = self
            .db
            .catalog
            .get(slug)
            .ok_or_else(|| DbError::UnknownTenant(slug.to_string()))?;
        if tenant.status == TenantStatus::Archived {
            return Err(DbError::ArchivedTenant(slug.to_string()));
        }
        self.migrate_tenant(&tenant).await
    }

    /// Brings every active tenant up to date; returns (slug, migrations applied).
    pub async fn migrate_all(&self) -> DbResult<Vec<(String, usize)>> {
        let mut out = Vec::new();
        for tenant in fetch_tenants(self.db.clusters.main()).await? {
            if tenant.status == TenantStatus::Active {
                let applied = self.migrate_tenant(&tenant).await?;
                out.push((tenant.slug, applied));
            }
        }
        Ok(out)
    }

    /// Archives a tenant: its schema is renamed (never dropped) and the catalog marks it
    /// archived, so it is no longer served. Returns the new schema name.
    pub async fn archive(&self, slug: &str) -> DbResult<String> {
        let main = self.db.clusters.main();
        let tenants = fetch_tenants(main).await?;
        let tenant = tenants
            .into_iter()
            .find(|t| t.slug == slug)
            .ok_or_else(|| DbError::UnknownTenant(slug.to_string()))?;
        if tenant.status == TenantStatus::Archived {
            return Ok(tenant.schema_name);
        }
        // When it was archived is a recorded fact: the database's time, as for every
        // `created_at`.
        let stamp = sqlx::query_scalar!(
            r#"select to_char(clock_timestamp() at time zone 'UTC', 'YYYYMMDDHH24MISS') as "stamp!""#
        )
        .fetch_one(main)
        .await?;
        let new_schema = format!("{}_archived_{stamp}", tenant.schema_name);
        let pool = self.db.clusters.get(&tenant.cluster)?;
        let mut conn = pool.acquire().await?;
        let mut tx = conn.begin().await?;
        // Runtime SQL: DDL naming the schemas.
        tx.execute(
            format!(
                "alter schema {} rename to {}",
                quote_ident(&tenant.schema_name),
                quote_ident(&new_schema)
            )
            .as_str(),
        )
        .await?;
        // On the main cluster the rename and the catalog change commit together. On another
        // cluster the rename commits only once the catalog row no longer points at the old name.
        let update = sqlx::query_scalar!(
            "update control.tenants set status = 'archived', schema_name = $2, \
             archived_at = now(), updated_at = now() where tenant_id = $1 returning tenant_id",
            tenant.tenant_id,
            new_schema,
        );
        let updated = if tenant.cluster == xiaobao_config::MAIN_CLUSTER {
            update.fetch_optional(&mut *tx).await?
        } else {
            update.fetch_optional(main).await?
        };
        if updated.is_none() {
            return Err(DbError::UnknownTenant(slug.to_string()));
        }
        tx.commit().await?;
        self.db.catalog.reload(main).await?;
        tracing::info!(tenant.slug = %slug, schema = %new_schema, "tenant archived");
        Ok(new_schema)
    }
}

async fn applied_count(conn: &mut PgConnection) -> DbResult<usize> {
    let exists = sqlx::query_scalar!(
        "select exists (select 1 from information_schema.tables \
         where table_schema = current_schema() and table_name = '_sqlx_migrations') as \"exists!\""
    )
    .fetch_one(&mut *conn)
    .await?;
    if !exists {
        return Ok(0);
    }
    let n = sqlx::query_scalar!(r#"select count(*) as "n!" from _sqlx_migrations where success"#)
        .fetch_one(&mut *conn)
        .await?;
    Ok(usize::try_from(n).unwrap_or(0))
}

async fn lock_slug(conn: &mut PgConnection, slug: &str) -> DbResult<()> {
    sqlx::query!(
        "select pg_advisory_lock(hashtext('xiaobao-provision:' || $1))",
        slug
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(())
}

async fn unlock_slug(conn: &mut PgConnection, slug: &str) -> DbResult<()> {
    sqlx::query!(
        "select pg_advisory_unlock(hashtext('xiaobao-provision:' || $1))",
        slug
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(())
}
