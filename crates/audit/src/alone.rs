//! An entry written in a transaction of its own: for what is recorded although the request
//! itself changed nothing (a refused request, a miss outside the caller's scope).

use xiaobao_db::{Db, Tenant};

use crate::{Actor, AuditError, Entry, record};

/// Appends the entry in its own tenant transaction; returns the row's id.
pub async fn record_alone(
    db: &Db,
    tenant: &Tenant,
    actor: &Actor,
    entry: Entry,
) -> Result<i64, AuditError> {
    let mut tx = db.tenant_tx(tenant).await?;
    let id = record(&mut tx, actor, entry).await?;
    tx.commit().await?;
    Ok(id)
}
