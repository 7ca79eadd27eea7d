//! The worker: claims due jobs of every active tenant, runs their handlers under a lease and
//! records the outcome.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use xiaobao_domain::Clock;

use async_trait::async_trait;
use futures::FutureExt;
use serde::de::DeserializeOwned;
use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument;
use xiaobao_db::{Db, DbError, DbResult, Tenant, TenantStatus};

use crate::queue::{self, Claimed, Finish};
use crate::{JOBS_CHANNEL, JobId, Schedule};

/// What a handler gets for one attempt of one job.
#[derive(Clone)]
pub struct JobContext {
    /// The database: open the tenant's transactions with `db.tenant_tx(&tenant)`.
    pub db: Db,
    pub tenant: Arc<Tenant>,
    pub job_id: JobId,
    pub kind: String,
    pub payload: serde_json::Value,
    /// Number of this attempt, from 1.
    pub attempt: i32,
    pub max_attempts: i32,
    /// The application's clock: a handler's "today" and "now".
    pub clock: Clock,
}

impl JobContext {
    /// Whether a failure of this attempt makes the job dead.
    pub fn is_last_attempt(&self) -> bool {
        self.attempt >= self.max_attempts
    }

    /// The payload as `T`; a payload that does not fit is a permanent error (retrying would
    /// not change it).
    pub fn payload_as<T: DeserializeOwned>(&self) -> Result<T, JobError> {
        serde_json::from_value(self.payload.clone())
            .map_err(|e| JobError::permanent(format!("任务参数无效：{e}")))
    }
}

/// Failure of a job attempt. The message is stored in `jobs.last_error` and logged, so it
/// must not contain personal data (recipients, phone numbers, codes, message bodies).
#[derive(Debug)]
pub struct JobError {
    message: String,
    permanent: bool,
}

impl JobError {
    /// A failure worth retrying (with backoff) until `max_attempts`.
    pub fn retry(message: impl std::fmt::Display) -> Self {
        Self {
            message: message.to_string(),
            permanent: false,
        }
    }

    /// A failure that retrying cannot fix: the job is dead at once.
    pub fn permanent(message: impl std::fmt::Display) -> Self {
        Self {
            message: message.to_string(),
            permanent: true,
        }
    }

    pub fn is_permanent(&self) -> bool {
        self.permanent
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for JobError {}

impl From<DbError> for JobError {
    fn from(e: DbError) -> Self {
        Self::retry(e)
    }
}

impl From<sqlx::Error> for JobError {
    fn from(e: sqlx::Error) -> Self {
        Self::retry(e)
    }
}

impl From<anyhow::Error> for JobError {
    fn from(e: anyhow::Error) -> Self {
        Self::retry(format!("{e:#}"))
    }
}

/// The code that runs one kind of job. Register it with [`Worker::with_handler`].
///
/// A job may run more than once (a worker can die after the work and before recording it),
/// so `run` must be idempotent: check in the database whether the work is already done.
#[async_trait]
pub trait JobHandler: Send + Sync {
    /// The `jobs.kind` this handler runs, e.g. `notify.deliver`.
    fn kind(&self) -> &'static str;
    async fn run(&self, ctx: JobContext) -> Result<(), JobError>;
}

/// Delay before the next attempt after a failure: `base × 2^(attempt−1)`, capped at `max`,
/// of which a random share between one half and all is used ("equal jitter"), so jobs that
/// failed together do not all come back at the same instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    /// 30 s, 1 min, 2 min, 4 min … capped at one hour.
    fn default() -> Self {
        Self {
            base: Duration::from_secs(30),
            max: Duration::from_secs(3600),
        }
    }
}

impl Backoff {
    /// Delay after the failed attempt number `attempt` (from 1).
    pub fn delay(&self, attempt: i32) -> Duration {
        let exponent = u32::try_from(attempt.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        let full = self.base.saturating_mul(1 << exponent).min(self.max);
        let half = full / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

/// Jobs claimed from one tenant before the worker turns to the next, so a tenant with a large
/// backlog does not starve the others.
const TURN: usize = 10;
/// Longest `last_error` kept.
const MAX_ERROR_CHARS: usize = 1000;

/// Runs the jobs of every active tenant.
///
/// - [`Worker::run_until`] is the long-running loop: a pass over every tenant at start and
///   every `poll_interval` (also enqueues schedules and reaps dead leases), plus an immediate
///   pass over a tenant whenever its `jobs` trigger notifies `xiaobao_jobs` (one `LISTEN`
///   connection per cluster). Jobs due later (`run_at`, backoff) start at the next poll.
/// - [`Worker::run_once`] is one full pass: it processes everything due now and returns how
///   many jobs it ran.
///
/// Within a pass, `concurrency` slots claim and run jobs in parallel. Every slot claims with
/// `for update skip locked`, so any number of workers (processes) can run side by side.
pub struct Worker {
    db: Db,
    handlers: HashMap<&'static str, Arc<dyn JobHandler>>,
    kinds: Vec<String>,
    worker_id: String,
    lease: Duration,
    poll_interval: Duration,
    backoff: Backoff,
    concurrency: usize,
    schedules: Vec<Schedule>,
    /// (schema, kind) → the last occurrence key this worker made sure exists.
    scheduled: Mutex<HashMap<(String, String), String>>,
    clock: Clock,
}

impl Worker {
    /// A worker with no handlers; defaults: lease 60 s, poll every 5 s, [`Backoff::default`],
    /// 4 slots, an id of host name, process id and a random suffix.
    pub fn new(db: Db) -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "worker".into());
        Self {
            db,
            handlers: HashMap::new(),
            kinds: Vec::new(),
            worker_id: format!("{host}:{}:{:04x}", std::process::id(), fastrand::u16(..)),
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(5),
            backoff: Backoff::default(),
            concurrency: 4,
            schedules: Vec::new(),
            scheduled: Mutex::new(HashMap::new()),
            clock: Clock::system(),
        }
    }

    /// Schedules occurrences, and hands handlers, the time of `clock`.
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Registers the handler of a job kind (replacing an earlier one of the same kind). The
    /// worker claims only jobs of kinds it has a handler for.
    #[must_use]
    pub fn with_handler(self, handler: impl JobHandler + 'static) -> Self {
        self.with_shared_handler(Arc::new(handler))
    }

    #[must_use]
    pub fn with_shared_handler(mut self, handler: Arc<dyn JobHandler>) -> Self {
        self.handlers.insert(handler.kind(), handler);
        self.kinds = self.handlers.keys().map(|k| (*k).to_string()).collect();
        self.kinds.sort();
        self
    }

    /// Adds a recurring job, enqueued for every active tenant.
    #[must_use]
    pub fn with_schedule(mut self, schedule: Schedule) -> Self {
        self.schedules.push(schedule);
        self
    }

    /// Names this worker in `jobs.locked_by`; must be unique among running workers.
    #[must_use]
    pub fn with_worker_id(mut self, worker_id: impl Into<String>) -> Self {
        self.worker_id = worker_id.into();
        self
    }

    /// How long a claim holds a job without being extended. A dead worker's job is retried
    /// after at most this long; the lease is extended every third of it while the handler runs.
    #[must_use]
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(100));
        self
    }

    #[must_use]
    pub fn with_poll_interval(mut self, poll_interval: Duration) -> Self {
        self.poll_interval = poll_interval.max(Duration::from_millis(10));
        self
    }

    #[must_use]
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Jobs run at the same time by this worker (at least 1).
    #[must_use]
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// One full pass: schedules and expired leases of every active tenant, then every job
    /// due now. Returns the number of jobs run (whatever their outcome).
    pub async fn run_once(&self) -> usize {
        let tenants = self.active_tenants();
        self.maintain(&tenants).await;
        self.pass(&tenants, &AtomicBool::new(false)).await
    }

    /// Runs until `shutdown` completes. On shutdown no new job is claimed; jobs already
    /// running finish and are recorded before this returns.
    pub async fn run_until(&self, shutdown: impl Future<Output = ()>) {
        tracing::info!(worker.id = %self.worker_id, kinds = ?self.kinds, "job worker started");
        let wake = Arc::new(Wake::default());
        let _listeners = AbortOnDrop(
            self.db
                .clusters
                .pools()
                .map(|pool| tokio::spawn(listen(pool.clone(), wake.clone())))
                .collect(),
        );
        let stop = AtomicBool::new(false);
        let mut shutdown = pin!(shutdown);
        let mut next_full = Instant::now();
        loop {
            let full = Instant::now() >= next_full;
            let woken = wake.take();
            let work = async {
                let tenants = self.active_tenants();
                if full {
                    self.maintain(&tenants).await;
                    self.pass(&tenants, &stop).await
                } else {
                    let tenants: Vec<_> = tenants
                        .into_iter()
                        .filter(|t| woken.contains(&t.schema_name))
                        .collect();
                    self.pass(&tenants, &stop).await
                }
            };
            let mut work = pin!(work);
            let shutting_down = tokio::select! {
                _ = &mut work => false,
                () = &mut shutdown => true,
            };
            if shutting_down {
                stop.store(true, Ordering::Relaxed);
                work.await;
                break;
            }
            if full {
                next_full = Instant::now() + self.poll_interval;
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = wake.notify.notified() => {}
                () = tokio::time::sleep_until(next_full) => {}
            }
        }
        tracing::info!(worker.id = %self.worker_id, "job worker stopped");
    }

    fn active_tenants(&self) -> Vec<Arc<Tenant>> {
        self.db
            .catalog
            .all()
            .into_iter()
            .filter(|t| t.status == TenantStatus::Active)
            .collect()
    }

    /// Per tenant, one short transaction: dead leases reaped, due schedule occurrences
    /// enqueued (only when this worker has not already seen the occurrence).
    async fn maintain(&self, tenants: &[Arc<Tenant>]) {
        let now = self.clock.now();
        for tenant in tenants {
            let due: Vec<_> = {
                let seen = self.scheduled.lock().unwrap_or_else(|e| e.into_inner());
                self.schedules
                    .iter()
                    .map(|s| (s, s.occurrence_job(now)))
                    .filter(|(s, job)| {
                        seen.get(&(tenant.schema_name.clone(), s.kind.clone()))
                            != job.dedupe_key.as_ref()
                    })
                    .collect()
            };
            let result = async {
                let mut tx = self.db.tenant_tx(tenant).await?;
                let reaped = queue::reap_expired(&mut tx).await?;
                if reaped > 0 {
                    tracing::warn!(tenant.slug = %tenant.slug, reaped,
                        "jobs dead after their last lease ran out");
                }
                for (_, job) in &due {
                    if let Some(id) = queue::enqueue(&mut tx, job.clone()).await? {
                        tracing::info!(tenant.slug = %tenant.slug, job.id = %id,
                            job.kind = %job.kind, "scheduled job enqueued");
                    }
                }
                tx.commit().await?;
                Ok::<_, DbError>(())
            }
            .await;
            match result {
                Ok(()) => {
                    let mut seen = self.scheduled.lock().unwrap_or_else(|e| e.into_inner());
                    for (schedule, job) in due {
                        if let Some(key) = job.dedupe_key {
                            seen.insert((tenant.schema_name.clone(), schedule.kind.clone()), key);
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(tenant.slug = %tenant.slug, %error, "job maintenance failed");
                }
            }
        }
    }

    /// Runs what is due in `tenants` with `concurrency` slots; stops claiming once `stop` is set.
    async fn pass(&self, tenants: &[Arc<Tenant>], stop: &AtomicBool) -> usize {
        if self.kinds.is_empty() || tenants.is_empty() {
            return 0;
        }
        futures::future::join_all((0..self.concurrency).map(|_| self.drain(tenants, stop)))
            .await
            .into_iter()
            .sum()
    }

    /// One slot: round-robin over the tenants, up to [`TURN`] jobs each per round, until no
    /// tenant has a due job.
    async fn drain(&self, tenants: &[Arc<Tenant>], stop: &AtomicBool) -> usize {
        let mut processed = 0;
        let mut active: Vec<&Arc<Tenant>> = tenants.iter().collect();
        while !active.is_empty() {
            let mut still = Vec::with_capacity(active.len());
            for tenant in active {
                let mut exhausted = false;
                for _ in 0..TURN {
                    if stop.load(Ordering::Relaxed) {
                        return processed;
                    }
                    match self.claim(tenant).await {
                        Ok(Some(job)) => {
                            self.execute(tenant, job).await;
                            processed += 1;
                        }
                        Ok(None) => {
                            exhausted = true;
                            break;
                        }
                        Err(error) => {
                            tracing::warn!(tenant.slug = %tenant.slug, %error,
                                "claiming a job failed");
                            exhausted = true;
                            break;
                        }
                    }
                }
                if !exhausted {
                    still.push(tenant);
                }
            }
            active = still;
        }
        processed
    }

    fn lease_ms(&self) -> i64 {
        i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX)
    }

    async fn claim(&self, tenant: &Tenant) -> DbResult<Option<Claimed>> {
        let mut tx = self.db.tenant_tx(tenant).await?;
        let job = queue::claim(&mut tx, &self.worker_id, self.lease_ms(), &self.kinds).await?;
        tx.commit().await?;
        Ok(job)
    }

    async fn execute(&self, tenant: &Arc<Tenant>, job: Claimed) {
        let span = tracing::info_span!("job", tenant.slug = %tenant.slug, job.id = %job.job_id,
            job.kind = %job.kind, job.attempt = job.attempts);
        async {
            let Some(handler) = self.handlers.get(job.kind.as_str()).cloned() else {
                // Not reachable: only kinds with a handler are claimed.
                return;
            };
            let ctx = JobContext {
                db: self.db.clone(),
                tenant: tenant.clone(),
                job_id: job.job_id,
                kind: job.kind.clone(),
                payload: job.payload.clone(),
                attempt: job.attempts,
                max_attempts: job.max_attempts,
                clock: self.clock.clone(),
            };
            let started = Instant::now();
            let Some(result) = self.run_under_lease(handler, ctx, tenant, &job).await else {
                tracing::warn!("job lease lost while running; handler cancelled");
                return;
            };
            let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            let error_text;
            let outcome = match &result {
                Ok(()) => Finish::Done,
                Err(error) => {
                    error_text = truncate(error.message(), MAX_ERROR_CHARS);
                    if error.is_permanent() || job.attempts >= job.max_attempts {
                        Finish::Dead { error: &error_text }
                    } else {
                        let delay = self.backoff.delay(job.attempts);
                        Finish::Retry {
                            delay_ms: i64::try_from(delay.as_millis()).unwrap_or(i64::MAX),
                            error: &error_text,
                        }
                    }
                }
            };
            let label = match outcome {
                Finish::Done => "done",
                Finish::Retry { .. } => "retry",
                Finish::Dead { .. } => "dead",
            };
            match self.finish(tenant, &job, outcome).await {
                Ok(true) => match &result {
                    Ok(()) => tracing::info!(elapsed_ms, "job done"),
                    Err(error) if label == "dead" => {
                        tracing::error!(elapsed_ms, %error, "job failed; dead");
                    }
                    Err(error) => tracing::warn!(elapsed_ms, %error, "job failed; will retry"),
                },
                Ok(false) => tracing::warn!(
                    outcome = label,
                    "job lease lost before the outcome was recorded"
                ),
                // The lease runs out and the job is claimed again.
                Err(error) => tracing::error!(outcome = label, %error,
                    "recording the job outcome failed"),
            }
        }
        .instrument(span)
        .await;
    }

    /// Runs the handler while extending the lease. `None`: the lease was lost (taken over, or
    /// not extended for a whole lease because the database was unreachable) and the handler
    /// was cancelled, so that no two workers run the job at the same time.
    async fn run_under_lease(
        &self,
        handler: Arc<dyn JobHandler>,
        ctx: JobContext,
        tenant: &Tenant,
        job: &Claimed,
    ) -> Option<Result<(), JobError>> {
        let mut run = pin!(AssertUnwindSafe(handler.run(ctx)).catch_unwind());
        let period = self.lease / 3;
        let mut ticker = tokio::time::interval_at(Instant::now() + period, period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut extended_at = Instant::now();
        loop {
            tokio::select! {
                result = &mut run => {
                    return Some(result.unwrap_or_else(|panic| {
                        Err(JobError::retry(format!(
                            "任务处理程序异常终止（panic）：{}",
                            truncate(&panic_message(panic.as_ref()), 200)
                        )))
                    }));
                }
                _ = ticker.tick() => match self.extend(tenant, job).await {
                    Ok(true) => extended_at = Instant::now(),
                    Ok(false) => return None,
                    Err(error) => {
                        tracing::warn!(%error, "extending the job lease failed");
                        if extended_at.elapsed() >= self.lease {
                            return None;
                        }
                    }
                },
            }
        }
    }

    async fn extend(&self, tenant: &Tenant, job: &Claimed) -> DbResult<bool> {
        let mut tx = self.db.tenant_tx(tenant).await?;
        let kept = queue::extend_lease(&mut tx, job, &self.worker_id, self.lease_ms()).await?;
        tx.commit().await?;
        Ok(kept)
    }

    async fn finish(&self, tenant: &Tenant, job: &Claimed, outcome: Finish<'_>) -> DbResult<bool> {
        let mut tx = self.db.tenant_tx(tenant).await?;
        let recorded = queue::finish(&mut tx, job, &self.worker_id, outcome).await?;
        tx.commit().await?;
        Ok(recorded)
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "（无消息）".to_string()
    }
}

fn truncate(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_string(),
    }
}

/// Notifications from the `jobs` triggers: the schemas that have new jobs.
#[derive(Default)]
struct Wake {
    notify: Notify,
    schemas: Mutex<HashSet<String>>,
}

impl Wake {
    fn take(&self) -> HashSet<String> {
        std::mem::take(&mut *self.schemas.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Listens on `xiaobao_jobs` on one cluster until aborted; reconnects after errors (missed
/// notifications are covered by the poll).
async fn listen(pool: PgPool, wake: Arc<Wake>) {
    loop {
        let Err(error) = listen_once(&pool, &wake).await;
        tracing::warn!(%error, "job listener failed; retrying");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

async fn listen_once(pool: &PgPool, wake: &Wake) -> Result<std::convert::Infallible, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(JOBS_CHANNEL).await?;
    loop {
        let notification = listener.recv().await?;
        wake.schemas
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(notification.payload().to_string());
        wake.notify.notify_one();
    }
}

struct AbortOnDrop(Vec<JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for handle in &self.0 {
            handle.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_with_jitter_and_stops_at_the_cap() {
        let b = Backoff {
            base: Duration::from_secs(30),
            max: Duration::from_secs(3600),
        };
        for (attempt, full) in [(1, 30), (2, 60), (3, 120), (4, 240), (8, 3600), (40, 3600)] {
            for _ in 0..50 {
                let d = b.delay(attempt);
                let full = Duration::from_secs(full);
                assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
            }
        }
    }

    #[test]
    fn long_errors_are_cut_on_a_character_boundary() {
        assert_eq!(truncate("短信发送失败", 4), "短信发送…");
        assert_eq!(truncate("ok", 4), "ok");
    }
}
