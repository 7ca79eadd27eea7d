//! Background jobs: a PostgreSQL queue per tenant (the `jobs` table of migration
//! `0004_jobs.sql`) and the [`Worker`] that runs it.
//!
//! - **Enqueue with the business write.** [`enqueue`] takes the caller's connection — the
//!   `TenantTx` of the change that causes the job — so a rolled-back change never runs its job
//!   and a committed one always has it. An insert trigger sends `NOTIFY xiaobao_jobs` with the
//!   tenant schema as payload (delivered on commit only), which wakes the workers at once.
//! - **Idempotent.** A [`NewJob`] may carry a `dedupe_key` (unique per tenant): enqueueing the
//!   same key twice creates one job. Handlers must themselves tolerate running again — a job is
//!   delivered *at least* once (a worker can die after the work and before marking it done).
//! - **Claim.** One short tenant transaction moves the oldest due job to `running` with
//!   `for update skip locked`, increments `attempts` and takes a lease (`locked_by`,
//!   `locked_until`). The handler runs outside that transaction; while it runs the worker
//!   extends the lease (every third of it). A worker that dies stops extending, the lease
//!   runs out, and another worker claims the job again. If the lease is found taken over, the
//!   handler is cancelled, so two workers never run one job at the same time.
//! - **Outcome.** Success marks the job `done`. An error (or a panic) re-queues it with
//!   exponential backoff and jitter ([`Backoff`]) and keeps the message in `last_error`; once
//!   `attempts` reaches `max_attempts`, or the error is [`JobError::permanent`], the job is
//!   `dead` — visible through [`list_jobs`], and put back with [`retry_dead`].
//! - **Schedules.** A [`Schedule`] (daily at a China-time hour, or every fixed interval) is
//!   enqueued per active tenant by the worker, with the dedupe key `"{kind}:{occurrence}"`, so
//!   several workers create each occurrence once. Only the latest occurrence is created: a
//!   worker that was down for three days runs a daily job once, not three times.
//!
//! The worker covers every active tenant of the catalog (`Db::catalog`), on every cluster;
//! the process must keep the catalog current (`Catalog::listen`).

mod cleanup;
mod queue;
mod schedule;
mod worker;

pub use cleanup::{CLEANUP_KIND, CleanupJobs};
pub use queue::{JobId, JobRow, JobStatus, NewJob, enqueue, get_job, list_jobs, retry_dead};
pub use schedule::{Every, Schedule};
pub use worker::{Backoff, JobContext, JobError, JobHandler, Worker};

/// The `LISTEN`/`NOTIFY` channel the `jobs` insert trigger notifies; the payload is the tenant
/// schema.
pub const JOBS_CHANNEL: &str = "xiaobao_jobs";
