//! Queries on a tenant's `jobs` table. Every function takes the connection of a `TenantTx`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use xiaobao_db::{DbError, DbResult};

/// Key of a row of `jobs` (unique within its tenant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, sqlx::Type)]
#[sqlx(transparent)]
#[serde(transparent)]
pub struct JobId(pub i64);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<i64> for JobId {
    fn from(raw: i64) -> Self {
        Self(raw)
    }
}

impl std::str::FromStr for JobId {
    type Err = xiaobao_domain::ids::NotAnId;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        xiaobao_domain::ids::parse_key(raw).map(Self)
    }
}

impl xiaobao_domain::ids::Id for JobId {
    const ENTITY: &'static str = "job";

    fn get(self) -> i64 {
        self.0
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Waiting for `run_at` (new, or re-queued after a failure with backoff).
    Queued,
    /// Claimed by a worker that holds the lease.
    Running,
    /// Finished successfully.
    Done,
    /// Failed `max_attempts` times, or permanently; waits for [`retry_dead`].
    Dead,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "queued" => Some(Self::Queued),
            "running" => Some(Self::Running),
            "done" => Some(Self::Done),
            "dead" => Some(Self::Dead),
            _ => None,
        }
    }
}

/// Default `max_attempts` of a job (the column default too).
pub const DEFAULT_MAX_ATTEMPTS: i32 = 5;

/// A job to enqueue. Build with [`NewJob::new`] and the `with_*` methods.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// Handler kind, e.g. `notify.deliver`.
    pub kind: String,
    /// Input of the handler. Keep personal data out: store ids and load the data in the handler.
    pub payload: serde_json::Value,
    /// Not before this instant; `None` = now.
    pub run_at: Option<DateTime<Utc>>,
    /// Unique per tenant: a second enqueue with the same key is ignored.
    pub dedupe_key: Option<String>,
    /// Attempts before the job is dead; `None` = [`DEFAULT_MAX_ATTEMPTS`].
    pub max_attempts: Option<i32>,
}

impl NewJob {
    pub fn new(kind: impl Into<String>, payload: serde_json::Value) -> Self {
        Self {
            kind: kind.into(),
            payload,
            run_at: None,
            dedupe_key: None,
            max_attempts: None,
        }
    }

    #[must_use]
    pub fn with_run_at(mut self, run_at: DateTime<Utc>) -> Self {
        self.run_at = Some(run_at);
        self
    }

    #[must_use]
    pub fn with_dedupe_key(mut self, key: impl Into<String>) -> Self {
        self.dedupe_key = Some(key.into());
        self
    }

    #[must_use]
    pub fn with_max_attempts(mut self, max_attempts: i32) -> Self {
        self.max_attempts = Some(max_attempts);
        self
    }
}

/// Adds a job in the caller's transaction. Returns `None` when a job with the same
/// `dedupe_key` already exists (in any status), so enqueueing is idempotent.
///
/// Call it with the `TenantTx` of the business change: the job exists if and only if the
/// change commits.
#[tracing::instrument(skip_all, fields(job.kind = %job.kind))]
pub async fn enqueue(conn: &mut PgConnection, job: NewJob) -> DbResult<Option<JobId>> {
    if let Some(max) = job.max_attempts
        && !(1..=100).contains(&max)
    {
        return Err(DbError::Invalid(format!(
            "任务最大尝试次数须在 1–100 之间（收到 {max}）"
        )));
    }
    let id = sqlx::query_scalar!(
        "insert into jobs (kind, payload, run_at, dedupe_key, max_attempts) \
         values ($1, $2, coalesce($3, now()), $4, $5) \
         on conflict (dedupe_key) do nothing \
         returning job_id as \"job_id: JobId\"",
        job.kind,
        job.payload,
        job.run_at,
        job.dedupe_key,
        job.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS),
    )
    .fetch_optional(conn)
    .await?;
    Ok(id)
}

/// One job as stored, for listing and inspection.
#[derive(Debug, Clone, Serialize)]
pub struct JobRow {
    pub job_id: JobId,
    pub kind: String,
    pub payload: serde_json::Value,
    pub dedupe_key: Option<String>,
    pub status: JobStatus,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_at: DateTime<Utc>,
    pub locked_by: Option<String>,
    pub locked_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

struct RawJobRow {
    job_id: JobId,
    kind: String,
    payload: serde_json::Value,
    dedupe_key: Option<String>,
    status: String,
    attempts: i32,
    max_attempts: i32,
    run_at: DateTime<Utc>,
    locked_by: Option<String>,
    locked_until: Option<DateTime<Utc>>,
    last_error: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
}

impl TryFrom<RawJobRow> for JobRow {
    type Error = DbError;
    fn try_from(r: RawJobRow) -> DbResult<Self> {
        let status = JobStatus::parse(&r.status)
            .ok_or_else(|| DbError::Invalid(format!("未知的任务状态 {}", r.status)))?;
        Ok(Self {
            job_id: r.job_id,
            kind: r.kind,
            payload: r.payload,
            dedupe_key: r.dedupe_key,
            status,
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            run_at: r.run_at,
            locked_by: r.locked_by,
            locked_until: r.locked_until,
            last_error: r.last_error,
            created_at: r.created_at,
            updated_at: r.updated_at,
            finished_at: r.finished_at,
        })
    }
}

/// Jobs of the tenant, most recently changed first; `status` narrows the list (e.g. the dead
/// jobs an administrator should look at). `limit` is clamped to 1–1000.
pub async fn list_jobs(
    conn: &mut PgConnection,
    status: Option<JobStatus>,
    limit: i64,
) -> DbResult<Vec<JobRow>> {
    let rows = sqlx::query_as!(
        RawJobRow,
        "select job_id as \"job_id: JobId\", kind, payload, dedupe_key, status, attempts, \
         max_attempts, run_at, locked_by, locked_until, last_error, created_at, updated_at, \
         finished_at from jobs \
         where ($1::text is null or status = $1) \
         order by updated_at desc, job_id desc limit $2",
        status.map(JobStatus::as_str),
        limit.clamp(1, 1000),
    )
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(JobRow::try_from).collect()
}

/// One job by id.
pub async fn get_job(conn: &mut PgConnection, job_id: JobId) -> DbResult<Option<JobRow>> {
    let row = sqlx::query_as!(
        RawJobRow,
        "select job_id as \"job_id: JobId\", kind, payload, dedupe_key, status, attempts, \
         max_attempts, run_at, locked_by, locked_until, last_error, created_at, updated_at, \
         finished_at from jobs where job_id = $1",
        job_id.0,
    )
    .fetch_optional(conn)
    .await?;
    row.map(JobRow::try_from).transpose()
}

/// Puts a dead job back in the queue with a fresh set of attempts, due now. Returns `false`
/// when the job does not exist or is not dead. `last_error` is kept until the next attempt.
#[tracing::instrument(skip_all, fields(job.id = %job_id))]
pub async fn retry_dead(conn: &mut PgConnection, job_id: JobId) -> DbResult<bool> {
    let updated = sqlx::query!(
        "update jobs set status = 'queued', attempts = 0, run_at = now(), finished_at = null, \
         updated_at = now() where job_id = $1 and status = 'dead'",
        job_id.0,
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if updated == 0 {
        return Ok(false);
    }
    // Wake the workers on commit, as the insert trigger does for new jobs.
    sqlx::query!(
        "select pg_notify($1, current_schema())",
        crate::JOBS_CHANNEL
    )
    .fetch_one(conn)
    .await?;
    tracing::info!("dead job re-queued");
    Ok(true)
}

/// A job a worker has just claimed.
#[derive(Debug)]
pub(crate) struct Claimed {
    pub job_id: JobId,
    pub kind: String,
    pub payload: serde_json::Value,
    pub attempts: i32,
    pub max_attempts: i32,
}

/// Moves the oldest due job of one of `kinds` to `running` under this worker's lease.
/// `attempts` after the claim is the number of this attempt and, with `locked_by`, fences the
/// later updates: a worker whose lease was taken over changes nothing.
pub(crate) async fn claim(
    conn: &mut PgConnection,
    worker_id: &str,
    lease_ms: i64,
    kinds: &[String],
) -> DbResult<Option<Claimed>> {
    Ok(sqlx::query_as!(
        Claimed,
        "update jobs set status = 'running', attempts = attempts + 1, locked_by = $1, \
         locked_until = now() + $2::bigint * interval '1 millisecond', updated_at = now() \
         where job_id = ( \
             select job_id from jobs \
             where kind = any($3) \
               and ((status = 'queued' and run_at <= now()) \
                 or (status = 'running' and locked_until < now() and attempts < max_attempts)) \
             order by run_at, job_id \
             limit 1 \
             for update skip locked) \
         returning job_id as \"job_id: JobId\", kind, payload, attempts, max_attempts",
        worker_id,
        lease_ms,
        kinds,
    )
    .fetch_optional(conn)
    .await?)
}

/// Marks dead the running jobs whose lease ran out on their last allowed attempt (their
/// worker died): they would otherwise stay `running` for ever.
pub(crate) async fn reap_expired(conn: &mut PgConnection) -> DbResult<u64> {
    Ok(sqlx::query!(
        "update jobs set status = 'dead', locked_by = null, locked_until = null, \
         finished_at = now(), updated_at = now(), \
         last_error = '租约到期仍未完成（工作进程中断），已达最大尝试次数' \
         where status = 'running' and locked_until < now() and attempts >= max_attempts",
    )
    .execute(conn)
    .await?
    .rows_affected())
}

/// Extends the lease of a job this worker runs. `false`: the lease was lost.
pub(crate) async fn extend_lease(
    conn: &mut PgConnection,
    job: &Claimed,
    worker_id: &str,
    lease_ms: i64,
) -> DbResult<bool> {
    let n = sqlx::query!(
        "update jobs set locked_until = now() + $4::bigint * interval '1 millisecond', \
         updated_at = now() \
         where job_id = $1 and status = 'running' and locked_by = $2 and attempts = $3",
        job.job_id.0,
        worker_id,
        job.attempts,
        lease_ms,
    )
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// How a claimed job ends.
pub(crate) enum Finish<'a> {
    Done,
    Retry { delay_ms: i64, error: &'a str },
    Dead { error: &'a str },
}

/// Records the outcome of a job this worker ran. `false`: the lease was lost meanwhile and
/// nothing was changed.
pub(crate) async fn finish(
    conn: &mut PgConnection,
    job: &Claimed,
    worker_id: &str,
    outcome: Finish<'_>,
) -> DbResult<bool> {
    // `locked_by` and `attempts` fence the update: if the lease ran out and another worker
    // claimed the job, its `attempts` is higher and this update matches nothing.
    let result = match outcome {
        Finish::Done => {
            sqlx::query!(
                "update jobs set status = 'done', locked_by = null, locked_until = null, \
                 finished_at = now(), updated_at = now() \
                 where job_id = $1 and status = 'running' and locked_by = $2 and attempts = $3",
                job.job_id.0,
                worker_id,
                job.attempts,
            )
            .execute(conn)
            .await?
        }
        Finish::Retry { delay_ms, error } => {
            sqlx::query!(
                "update jobs set status = 'queued', locked_by = null, locked_until = null, \
                 run_at = now() + $4::bigint * interval '1 millisecond', last_error = $5, \
                 updated_at = now() \
                 where job_id = $1 and status = 'running' and locked_by = $2 and attempts = $3",
                job.job_id.0,
                worker_id,
                job.attempts,
                delay_ms,
                error,
            )
            .execute(conn)
            .await?
        }
        Finish::Dead { error } => {
            sqlx::query!(
                "update jobs set status = 'dead', locked_by = null, locked_until = null, \
                 last_error = $4, finished_at = now(), updated_at = now() \
                 where job_id = $1 and status = 'running' and locked_by = $2 and attempts = $3",
                job.job_id.0,
                worker_id,
                job.attempts,
                error,
            )
            .execute(conn)
            .await?
        }
    };
    Ok(result.rows_affected() == 1)
}
