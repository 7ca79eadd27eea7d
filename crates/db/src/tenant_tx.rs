use std::ops::{Deref, DerefMut};

use sqlx::{PgConnection, Postgres, Transaction};

use crate::{Clusters, DbResult, Tenant};

/// A transaction running as one tenant: its role (which has rights on its own schema only)
/// and its schema as the only `search_path` entry, both `LOCAL` so they end with the
/// transaction and never leak to the next user of the pooled connection.
///
/// Dropped without [`TenantTx::commit`], it rolls back.
pub struct TenantTx {
    tx: Transaction<'static, Postgres>,
}

/// Quotes an identifier for SQL. Catalog names are validated on creation; quoting keeps this
/// safe regardless.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl TenantTx {
    pub(crate) async fn begin(
        clusters: &Clusters,
        tenant: &Tenant,
        statement_timeout_ms: u64,
    ) -> DbResult<Self> {
        let pool = clusters.get(&tenant.cluster)?;
        // One round trip: BEGIN and the local settings travel as one simple-query message.
        let begin = format!(
            "begin; set local role {}; set local search_path to {}; set local statement_timeout = {}",
            quote_ident(&tenant.db_role),
            quote_ident(&tenant.schema_name),
            statement_timeout_ms,
        );
        let tx = pool.begin_with(begin).await?;
        Ok(Self { tx })
    }

    pub async fn commit(self) -> DbResult<()> {
        self.tx.commit().await?;
        Ok(())
    }

    pub async fn rollback(self) -> DbResult<()> {
        self.tx.rollback().await?;
        Ok(())
    }
}

impl Deref for TenantTx {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        &self.tx
    }
}

impl DerefMut for TenantTx {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}
