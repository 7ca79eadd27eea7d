//! Identity: organisations and accounts of a programme, passwords (argon2id, rules, history,
//! expiry), sign-in with lock-out and rate limits, one-time codes, and the region scope every
//! query of a signed-in account is filtered by.
//!
//! Functions take the caller's tenant transaction (`&mut PgConnection` inside
//! `Db::tenant_tx`), so a change, its audit entry and its notification commit together.

pub mod accounts;
pub mod branches;
pub mod caller;
pub mod captcha;
pub mod codes;
pub mod companies;
pub mod limits;
pub mod login;
pub mod orgs;
pub mod password;
pub mod platform;
pub mod recovery;
pub mod registration;
pub mod school_admin;
pub mod scope;
pub mod service;
pub mod totp;

pub use accounts::{Account, AccountSummary};
pub use caller::{Caller, Guest};
pub use codes::{CodeError, CodePurpose, Codes};
pub use limits::{Limit, RateLimiter, Verdict};
pub use login::{Authenticated, LoginAttempt, LoginError, LoginPolicy, authenticate};
pub use password::{PasswordHasher, PasswordProblem, check_new_password};
pub use scope::{SchoolScope, SchoolScopeArgs, Viewer};

/// Failures of the identity functions that are not a person's mistake.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error(transparent)]
    Audit(#[from] xiaobao_audit::AuditError),
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("rate limiter unavailable: {0}")]
    Limiter(String),
}

impl From<IdentityError> for xiaobao_domain::Failure {
    fn from(e: IdentityError) -> Self {
        use xiaobao_domain::Failure;
        match e {
            IdentityError::Sqlx(sqlx::Error::PoolTimedOut) => Failure::Unavailable(Box::new(e)),
            other => Failure::Internal(Box::new(other)),
        }
    }
}

impl From<school_admin::AdminProblem> for xiaobao_domain::Failure {
    fn from(p: school_admin::AdminProblem) -> Self {
        xiaobao_domain::Refusal::from(p).into()
    }
}
