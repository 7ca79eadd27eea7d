//! Opening a document for download in its own tenant transaction.

use bytes::Bytes;
use futures::stream::BoxStream;
use xiaobao_db::{Db, Tenant};

use crate::{DocumentRow, Documents, StorageError};

impl Documents {
    /// The document's row and a stream of its bytes, read in a transaction of its own.
    pub async fn open_in(
        &self,
        db: &Db,
        tenant: &Tenant,
        document_id: i64,
    ) -> Result<(DocumentRow, BoxStream<'static, Result<Bytes, StorageError>>), StorageError> {
        let mut tx = db.tenant_tx(tenant).await?;
        let opened = self.open(&mut tx, document_id).await;
        tx.commit().await?;
        opened
    }
}
