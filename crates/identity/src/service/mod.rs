//! The identity contexts' actions, one handle per context built from a [`Caller`](crate::Caller):
//! each method opens the tenant transaction, does the work with its audit entries and
//! notifications, commits only when it succeeded, and answers
//! [`Outcome`](xiaobao_domain::Outcome).

pub mod schools;

pub use schools::Schools;
pub mod accounts;

pub use accounts::Accounts;
pub mod recovery;

pub use recovery::Recovery;
pub mod review;

pub use review::Reviews;

/// Where a set-password link points, and how long it lives.
#[derive(Debug, Clone)]
pub struct SetPasswordLink {
    /// The activation page; the token is appended as `?token=…`.
    pub activate_url: String,
    pub ttl: chrono::Duration,
}
pub mod register;

pub use register::Registrations;
pub mod sign_in;

pub use sign_in::SignIn;
pub mod branches;

pub use branches::Branches;
pub mod admin;

pub use admin::Admin;

/// An account's session epoch and whether it may be signed in (active, its organisation not
/// deregistered); `None` when there is no such account. Read on every request whose cached
/// standing is stale, in a transaction of its own.
pub async fn standing(
    db: &xiaobao_db::Db,
    tenant: &xiaobao_db::Tenant,
    account_id: i64,
) -> xiaobao_domain::Outcome<Option<(i64, bool)>> {
    let mut tx = db.tenant_tx(tenant).await?;
    let row: Option<(i64, bool)> = sqlx::query!(
        r#"select a.session_epoch,
             (a.status = 'active' and o.status <> 'deregistered') as "live!"
           from accounts a join organisations o on o.org_id = a.org_id
           where a.account_id = $1"#,
        account_id,
    )
    .fetch_optional(&mut *tx)
    .await
    .map_err(crate::IdentityError::from)?
    .map(|r| (r.session_epoch, r.live));
    tx.commit().await?;
    Ok(row)
}
pub mod two_factor;

pub use two_factor::TwoFactor;
