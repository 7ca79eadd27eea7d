//! The audit trail's anchor outside the tenant's schema.
//!
//! Each tenant's `audit_log` is a hash chain (see `migrations/tenant/0002_audit_log.sql` and
//! 0006). The tenant's database role owns that table, so on its own the chain cannot stop
//! someone holding that role from rewriting rows and recomputing every hash. The anchor closes
//! the gap: for every appended row a trigger calls [`ADVANCE`], a `security definer` function
//! owned by the service's own login role, which folds the row's hash into a keyed MAC kept in
//! the cluster's `audit_anchor` schema:
//!
//! `mac₀ = sha256(k ‖ sha256(k ‖ hash of the head when anchored))`,
//! `macₙ = sha256(k ‖ sha256(k ‖ macₙ₋₁ ‖ row_hashₙ))`.
//!
//! The key `k` (32 random bytes per tenant) and the MAC live in tables the tenant role cannot
//! read or write; the function can only run as a trigger, for the schema of the table it fires
//! on. `xiaobao audit verify` recomputes the MAC from the rows' stored hashes and compares it
//! with the anchor, so rewriting history — even with every hash recomputed — shows.

use sha2::{Digest, Sha256};
use sqlx::{Executor, PgPool};

use crate::tenant_tx::quote_ident;
use crate::{DbResult, Tenant};

/// The schema, tables and function of the anchor on one cluster (idempotent).
const INSTALL: &str = include_str!("../sql/audit_anchor_install.sql");

/// The trigger function (created or replaced at every install).
const ADVANCE: &str = include_str!("../sql/audit_anchor_advance.sql");

/// Creates the anchor objects on the tenant's cluster and lets the tenant's role fire the
/// trigger function (and nothing else there). Run before the tenant's migrations.
pub(crate) async fn install(pool: &PgPool, tenant: &Tenant) -> DbResult<()> {
    let mut conn = pool.acquire().await?;
    // Two provisioners at once must not race on `create … if not exists`.
    sqlx::query!("select pg_advisory_lock(hashtext('xiaobao-audit-anchor'))")
        .fetch_one(&mut *conn)
        .await?;
    let result = async {
        // Runtime SQL: multi-statement DDL, and grants naming the tenant's role.
        conn.execute(INSTALL).await?;
        conn.execute(ADVANCE).await?;
        let role = quote_ident(&tenant.db_role);
        conn.execute(
            format!(
                "grant usage on schema audit_anchor to {role}; \
                 grant execute on function audit_anchor.advance() to {role}"
            )
            .as_str(),
        )
        .await?;
        Ok::<_, crate::DbError>(())
    }
    .await;
    sqlx::query!("select pg_advisory_unlock(hashtext('xiaobao-audit-anchor'))")
        .fetch_one(&mut *conn)
        .await?;
    result
}

/// Anchors a tenant's chain at its current head, once (a tenant already anchored keeps its
/// anchor). Run after the tenant's migrations.
pub(crate) async fn anchor(pool: &PgPool, tenant: &Tenant) -> DbResult<()> {
    let mut tx = pool.begin().await?;
    let schema = quote_ident(&tenant.schema_name);
    // The head is read as the tenant and kept locked, so no row is appended until the anchor
    // exists; the anchor tables are written as the service's own role.
    // Runtime SQL (this statement and the next): they name the tenant's role and schema.
    tx.execute(format!("set local role {}", quote_ident(&tenant.db_role)).as_str())
        .await?;
    let head: Option<(i64, Vec<u8>)> = sqlx::query_as(&format!(
        "select seq, last_hash from {schema}.audit_chain_head where only_row for update"
    ))
    .fetch_optional(&mut *tx)
    .await?;
    tx.execute("reset role").await?;
    let Some((seq, last_hash)) = head else {
        return Ok(());
    };
    let key: [u8; 32] = rand::random();
    sqlx::query!(
        "insert into audit_anchor.keys (schema_name, key) values ($1, $2) \
         on conflict (schema_name) do nothing",
        tenant.schema_name,
        key.as_slice(),
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "insert into audit_anchor.anchors (schema_name, start_seq, seq, mac) \
         select $1, $2, $2, sha256(k.key || sha256(k.key || $3::bytea)) \
         from audit_anchor.keys k where k.schema_name = $1 \
         on conflict (schema_name) do nothing",
        tenant.schema_name,
        seq,
        last_hash,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A tenant's anchor as the verification needs it.
#[derive(Clone)]
pub struct Anchor {
    /// The chain position the anchor started at (its MAC starts from that row's hash).
    pub start_seq: i64,
    /// The last position folded in.
    pub seq: i64,
    pub mac: Vec<u8>,
    key: Vec<u8>,
}

impl std::fmt::Debug for Anchor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Anchor")
            .field("start_seq", &self.start_seq)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl Anchor {
    /// `mac₀` from the hash of the row at `start_seq` (empty when the chain was empty).
    pub fn start(&self, hash: &[u8]) -> Vec<u8> {
        self.fold(&[], hash)
    }

    /// The next MAC after `mac` for a row of hash `row_hash`.
    pub fn fold(&self, mac: &[u8], row_hash: &[u8]) -> Vec<u8> {
        let inner = Sha256::new()
            .chain_update(&self.key)
            .chain_update(mac)
            .chain_update(row_hash)
            .finalize();
        Sha256::new()
            .chain_update(&self.key)
            .chain_update(inner)
            .finalize()
            .to_vec()
    }
}

/// The anchor of a tenant, read with the service's own role; `None` when it has none.
pub async fn read(db: &crate::Db, tenant: &Tenant) -> DbResult<Option<Anchor>> {
    let pool = db.clusters.get(&tenant.cluster)?;
    let exists = sqlx::query_scalar!(
        "select exists (select 1 from pg_tables where schemaname = 'audit_anchor' \
         and tablename = 'anchors') as \"exists!\""
    )
    .fetch_one(pool)
    .await?;
    if !exists {
        return Ok(None);
    }
    Ok(sqlx::query_as!(
        Anchor,
        "select a.start_seq, a.seq, a.mac, k.key from audit_anchor.anchors a \
         join audit_anchor.keys k using (schema_name) where a.schema_name = $1",
        tenant.schema_name,
    )
    .fetch_optional(pool)
    .await?)
}
