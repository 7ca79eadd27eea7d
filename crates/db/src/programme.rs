//! What anyone may read of a programme (its landing page and the public API): the regions
//! and the rules in force, each read in its own tenant transaction.

use std::sync::Arc;

use crate::regions::{self, Region};
use crate::rules::{self, RulesVersion};
use crate::{Db, DbResult, Tenant};

/// The public reads of one programme.
#[derive(Clone)]
pub struct Programme {
    db: Db,
    tenant: Arc<Tenant>,
}

impl std::fmt::Debug for Programme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Programme")
            .field("tenant", &self.tenant.slug)
            .finish_non_exhaustive()
    }
}

impl Programme {
    #[must_use]
    pub fn new(db: Db, tenant: Arc<Tenant>) -> Self {
        Self { db, tenant }
    }

    /// The newest academic year with rules and its rules in force (`None`s when there are
    /// none yet).
    pub async fn newest_rules(&self) -> DbResult<(Option<String>, Option<RulesVersion>)> {
        let mut tx = self.db.tenant_tx(&self.tenant).await?;
        let year = rules::years(&mut tx)
            .await?
            .into_iter()
            .next()
            .map(|y| y.to_string());
        let stored = match &year {
            Some(y) => rules::current(&mut tx, y).await?,
            None => None,
        };
        tx.commit().await?;
        Ok((year, stored))
    }

    /// The rules in force for an academic year.
    pub async fn rules(&self, academic_year: &str) -> DbResult<Option<RulesVersion>> {
        let mut tx = self.db.tenant_tx(&self.tenant).await?;
        let stored = rules::current(&mut tx, academic_year).await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// The root region and its children.
    pub async fn top_regions(&self) -> DbResult<(Option<Region>, Vec<Region>)> {
        let mut tx = self.db.tenant_tx(&self.tenant).await?;
        let root = regions::root(&mut tx).await?;
        let children = match &root {
            Some(r) => regions::children(&mut tx, &r.region_code).await?,
            None => Vec::new(),
        };
        tx.commit().await?;
        Ok((root, children))
    }

    /// One region.
    pub async fn region(&self, code: &str) -> DbResult<Option<Region>> {
        let mut tx = self.db.tenant_tx(&self.tenant).await?;
        let region = regions::get(&mut tx, code).await?;
        tx.commit().await?;
        Ok(region)
    }

    /// The direct children of a region; `None` when the region does not exist.
    pub async fn children(&self, code: &str) -> DbResult<Option<Vec<Region>>> {
        let mut tx = self.db.tenant_tx(&self.tenant).await?;
        let children = regions::children(&mut tx, code).await?;
        let exists = !children.is_empty() || regions::get(&mut tx, code).await?.is_some();
        tx.commit().await?;
        Ok(exists.then_some(children))
    }
}
