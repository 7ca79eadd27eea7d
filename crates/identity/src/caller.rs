//! Who is asking, where and when: what every context's per-request service handle is built
//! from. The edge makes a [`Caller`] only from a signed-in, permission-checked session.

use std::sync::Arc;

use xiaobao_audit::Actor;
use xiaobao_db::{Db, Tenant, TenantTx};
use xiaobao_domain::{Clock, Failure, WorkCalendar};

use crate::Viewer;

/// A signed-in account acting in one tenant at the clock's time.
#[derive(Clone)]
pub struct Caller {
    pub db: Db,
    pub tenant: Arc<Tenant>,
    /// The account, its roles and its region scope.
    pub viewer: Viewer,
    /// The account as recorded in the audit trail (with the client's address).
    pub actor: Actor,
    pub clock: Clock,
    /// Working days (national holidays and 调休) for deadlines counted in working days.
    pub calendar: Arc<WorkCalendar>,
}

impl Caller {
    /// Opens the tenant's transaction (rolled back unless committed).
    pub async fn tx(&self) -> Result<TenantTx, Failure> {
        Ok(self.db.tenant_tx(&self.tenant).await?)
    }

    /// The actor for an action on school `org_id`: the account itself when it is that
    /// school's, otherwise recorded as acting on the school's behalf.
    #[must_use]
    pub fn actor_for(&self, org_id: i64) -> Actor {
        if self.viewer.org_id == org_id {
            self.actor.clone()
        } else {
            crate::school_admin::acting_for(&self.actor, org_id)
        }
    }
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("tenant", &self.tenant.slug)
            .field("account_id", &self.viewer.account_id)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// A visitor of a programme who is not signed in (sign-in, registration, recovery): the
/// tenant, the visitor as the audit trail records it (address and browser) and the clock.
#[derive(Clone)]
pub struct Guest {
    pub db: Db,
    pub tenant: Arc<Tenant>,
    pub actor: Actor,
    pub clock: Clock,
}

impl Guest {
    /// The signed-in caller acting through a visitor's flow (a central school filing a
    /// registration on a school's behalf): its tenant, audit actor and clock.
    #[must_use]
    pub fn of_caller(caller: &Caller) -> Self {
        Self {
            db: caller.db.clone(),
            tenant: caller.tenant.clone(),
            actor: caller.actor.clone(),
            clock: caller.clock.clone(),
        }
    }

    /// Opens the tenant's transaction (rolled back unless committed).
    pub async fn tx(&self) -> Result<TenantTx, Failure> {
        Ok(self.db.tenant_tx(&self.tenant).await?)
    }
}

impl std::fmt::Debug for Guest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guest")
            .field("tenant", &self.tenant.slug)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}
