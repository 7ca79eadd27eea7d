//! The platform operator console (控制台): the people who run the service sign in at platform
//! level (`control.operators`, argon2id, lock-out, a first password that must be changed, a
//! second factor by TOTP), and open and archive programmes, watch the database clusters,
//! import the national holiday calendar, and read what every operator did
//! (`control.operator_audit`, append-only).
//!
//! Everything here works on the main cluster's `control` schema outside any tenant
//! transaction; provisioning goes through [`xiaobao_db::Provisioner`]. Each action of
//! [`Console`] audits itself and returns an [`Outcome`](xiaobao_domain::Outcome).

pub mod audit;
pub mod calendar_file;
pub mod console;
pub mod directory;
pub mod operators;
pub mod sign_in;
pub mod totp;

pub use audit::{AuditRow, OperatorActor};
pub use console::{Console, OperatorCaller};
pub use operators::{OperatorIdentity, Standing};
pub use sign_in::{OperatorGuest, SignInStep};

/// A database failure of a control query, as the one refusal contract's internal failure.
pub(crate) fn db(e: impl Into<xiaobao_db::DbError>) -> xiaobao_domain::Failure {
    xiaobao_domain::Failure::from(e.into())
}
