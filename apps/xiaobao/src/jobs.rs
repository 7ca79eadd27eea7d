//! Jobs of the platform services that need more than one crate to run.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use xiaobao_jobs::{JobContext, JobError, JobHandler};
use xiaobao_storage::Documents;

/// Kind of [`SweepDocuments`].
pub const SWEEP_DOCUMENTS_KIND: &str = "documents.sweep";

/// Deletes a tenant's stored objects that no document row refers to — bytes of uploads whose
/// transaction never committed — once they are a day old, so uploads in flight are safe.
pub struct SweepDocuments {
    documents: Arc<Documents>,
    older_than: Duration,
}

impl SweepDocuments {
    pub fn new(documents: Arc<Documents>) -> Self {
        Self {
            documents,
            older_than: Duration::from_secs(24 * 3600),
        }
    }
}

#[async_trait]
impl JobHandler for SweepDocuments {
    fn kind(&self) -> &'static str {
        SWEEP_DOCUMENTS_KIND
    }

    async fn run(&self, ctx: JobContext) -> Result<(), JobError> {
        let report = self
            .documents
            .sweep_unreferenced(&ctx.db, &ctx.tenant, self.older_than, ctx.clock.now())
            .await
            .map_err(|e| JobError::retry(e.to_string()))?;
        tracing::info!(tenant.slug = %ctx.tenant.slug, ?report, "unreferenced documents swept");
        Ok(())
    }
}
