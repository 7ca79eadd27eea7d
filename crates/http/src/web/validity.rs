//! Whether a signed-in session still stands.
//!
//! A session stores the account it signed in as, with that account's *session epoch* at the
//! time (`accounts.session_epoch`). Triggers move the epoch whenever a password is changed,
//! reset or cleared, the account is disabled, or its roles change; a session whose epoch is
//! no longer the account's is signed out on its next request, so roles and rights are never
//! trusted from the session past such a change. A session also ends a fixed time after sign-in
//! (`session.absolute_timeout_hours`), however active it is.
//!
//! The account's epoch is cached in process for [`FRESH_FOR`]; a change made by this process
//! refreshes it at once, a change made by another instance is seen within that time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::AppState;
use crate::web::error::PageError;

/// How long a cached epoch is trusted.
const FRESH_FOR: Duration = Duration::from_secs(2);
/// Accounts cached at most (all are dropped when full; they are re-read on demand).
const CAPACITY: usize = 100_000;

/// What the session check needs of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Standing {
    pub epoch: i64,
    /// Active account of a not deregistered organisation.
    pub active: bool,
}

/// The per-process cache of account standings, by (tenant slug, account id).
#[derive(Debug, Default)]
pub struct Epochs {
    inner: Mutex<HashMap<(String, i64), (Standing, Instant)>>,
}

impl Epochs {
    fn cached(&self, slug: &str, account_id: i64) -> Option<Standing> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner
            .get(&(slug.to_string(), account_id))
            .filter(|(_, at)| at.elapsed() < FRESH_FOR)
            .map(|(s, _)| *s)
    }

    fn store(&self, slug: &str, account_id: i64, standing: Standing) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.len() >= CAPACITY {
            inner.clear();
        }
        inner.insert((slug.to_string(), account_id), (standing, Instant::now()));
    }

    /// Forgets every cached account of a tenant (after a change that may move epochs).
    pub fn forget_tenant(&self, slug: &str) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.retain(|(s, _), _| s != slug);
    }
}

/// The account's standing, read from the tenant's database (and cached).
pub(crate) async fn fetch(
    state: &AppState,
    slug: &str,
    account_id: i64,
) -> Result<Standing, PageError> {
    let tenant = state
        .db
        .active_tenant(slug)
        .map_err(|_| PageError::NotFound)?;
    let row = xiaobao_identity::service::standing(&state.db, &tenant, account_id).await?;
    let standing = row.map_or(
        Standing {
            epoch: -1,
            active: false,
        },
        |(epoch, active)| Standing { epoch, active },
    );
    state.auth.epochs.store(slug, account_id, standing);
    Ok(standing)
}

/// Whether the signed-in account of a session of tenant `slug` still stands: signed in less
/// than the absolute lifetime ago, the account active, its epoch unchanged.
pub(crate) async fn still_valid(
    state: &AppState,
    slug: &str,
    user: &crate::web::session::SignedIn,
    signed_in_at: i64,
) -> Result<bool, PageError> {
    let now = tower_sessions::cookie::time::OffsetDateTime::now_utc().unix_timestamp();
    let lifetime = i64::try_from(state.config.session.absolute_timeout_hours)
        .unwrap_or(12)
        .saturating_mul(3600);
    if now.saturating_sub(signed_in_at) > lifetime {
        return Ok(false);
    }
    if slug.is_empty() {
        return Ok(true);
    }
    let account_id = user.viewer.account_id;
    let standing = match state.auth.epochs.cached(slug, account_id) {
        Some(s) => s,
        None => fetch(state, slug, account_id).await?,
    };
    Ok(standing.active && standing.epoch == user.epoch)
}
