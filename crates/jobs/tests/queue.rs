//! The job queue against a real PostgreSQL (`xiaobao-test-support`).

#![expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;
use xiaobao_db::{Db, Tenant};
use xiaobao_jobs::{
    Backoff, JobContext, JobError, JobHandler, JobId, JobRow, JobStatus, NewJob, Schedule, Worker,
    enqueue, get_job, list_jobs, retry_dead,
};
use xiaobao_test_support::TestApp;

const RECORD: &str = "test.record";

/// Counts runs per job and notices two runs of one job at the same time.
#[derive(Default)]
struct Record {
    runs: Mutex<HashMap<JobId, u32>>,
    in_flight: Mutex<HashSet<JobId>>,
    overlaps: AtomicUsize,
    pause: Duration,
}

#[async_trait]
impl JobHandler for Record {
    fn kind(&self) -> &'static str {
        RECORD
    }

    async fn run(&self, ctx: JobContext) -> Result<(), JobError> {
        if !self.in_flight.lock().unwrap().insert(ctx.job_id) {
            self.overlaps.fetch_add(1, Ordering::SeqCst);
        }
        *self.runs.lock().unwrap().entry(ctx.job_id).or_default() += 1;
        tokio::time::sleep(self.pause).await;
        self.in_flight.lock().unwrap().remove(&ctx.job_id);
        Ok(())
    }
}

impl Record {
    fn total(&self) -> u32 {
        self.runs.lock().unwrap().values().sum()
    }
}

async fn app_with_tenant() -> (TestApp, Arc<Tenant>) {
    let app = TestApp::init().await;
    app.tenant("alpha", "520200", "main").await;
    let tenant = app.db().active_tenant("alpha").unwrap();
    (app, tenant)
}

async fn add(db: &Db, tenant: &Tenant, job: NewJob) -> Option<JobId> {
    let mut tx = db.tenant_tx(tenant).await.unwrap();
    let id = enqueue(&mut tx, job).await.unwrap();
    tx.commit().await.unwrap();
    id
}

async fn job(db: &Db, tenant: &Tenant, id: JobId) -> JobRow {
    let mut tx = db.tenant_tx(tenant).await.unwrap();
    get_job(&mut tx, id).await.unwrap().unwrap()
}

async fn jobs(db: &Db, tenant: &Tenant, status: Option<JobStatus>) -> Vec<JobRow> {
    let mut tx = db.tenant_tx(tenant).await.unwrap();
    list_jobs(&mut tx, status, 1000).await.unwrap()
}

fn fast(worker: Worker) -> Worker {
    worker
        .with_lease(Duration::from_millis(600))
        .with_poll_interval(Duration::from_millis(100))
        .with_backoff(Backoff {
            base: Duration::from_millis(200),
            max: Duration::from_secs(1),
        })
}

#[tokio::test]
async fn a_job_enqueued_in_a_rolled_back_transaction_never_runs() {
    let (app, alpha) = app_with_tenant().await;
    let record = Arc::new(Record::default());
    let worker = fast(Worker::new(app.db().clone())).with_shared_handler(record.clone());

    let mut tx = app.db().tenant_tx(&alpha).await.unwrap();
    let id = enqueue(&mut tx, NewJob::new(RECORD, json!({"n": 1})))
        .await
        .unwrap();
    assert!(id.is_some());
    tx.rollback().await.unwrap();

    assert_eq!(worker.run_once().await, 0);
    assert_eq!(record.total(), 0);
    assert!(jobs(app.db(), &alpha, None).await.is_empty());

    // The same enqueue committed runs, once.
    let id = add(app.db(), &alpha, NewJob::new(RECORD, json!({"n": 2})))
        .await
        .unwrap();
    assert_eq!(worker.run_once().await, 1);
    assert_eq!(worker.run_once().await, 0);
    assert_eq!(record.runs.lock().unwrap().get(&id), Some(&1));
    let done = job(app.db(), &alpha, id).await;
    assert_eq!(done.status, JobStatus::Done);
    assert_eq!(done.attempts, 1);
    assert!(done.finished_at.is_some() && done.locked_by.is_none());
}

#[tokio::test]
async fn enqueueing_twice_with_one_dedupe_key_makes_one_job() {
    let (app, alpha) = app_with_tenant().await;
    let first = add(
        app.db(),
        &alpha,
        NewJob::new(RECORD, json!({})).with_dedupe_key("claim:42:opened"),
    )
    .await;
    let second = add(
        app.db(),
        &alpha,
        NewJob::new(RECORD, json!({})).with_dedupe_key("claim:42:opened"),
    )
    .await;
    assert!(first.is_some());
    assert_eq!(second, None);
    assert_eq!(jobs(app.db(), &alpha, None).await.len(), 1);
}

/// First call never returns (the worker "hangs" and is then killed); later calls succeed.
#[derive(Default)]
struct HangOnce {
    calls: AtomicUsize,
    completed: AtomicUsize,
}

#[async_trait]
impl JobHandler for HangOnce {
    fn kind(&self) -> &'static str {
        "test.hang_once"
    }

    async fn run(&self, _ctx: JobContext) -> Result<(), JobError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            std::future::pending::<()>().await;
        }
        self.completed.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test]
async fn a_worker_killed_mid_job_leaves_the_job_to_another_worker_after_the_lease() {
    let (app, alpha) = app_with_tenant().await;
    let handler = Arc::new(HangOnce::default());
    let lease = Duration::from_millis(600);
    let a = Worker::new(app.db().clone())
        .with_worker_id("worker-a")
        .with_lease(lease)
        .with_shared_handler(handler.clone());
    let b = Worker::new(app.db().clone())
        .with_worker_id("worker-b")
        .with_lease(lease)
        .with_shared_handler(handler.clone());
    let id = add(app.db(), &alpha, NewJob::new("test.hang_once", json!({})))
        .await
        .unwrap();

    let killed = tokio::spawn(async move { a.run_once().await });
    while handler.calls.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // While worker A lives it keeps extending its lease: B finds nothing to do even after
    // more than one lease has passed.
    tokio::time::sleep(lease * 2).await;
    assert_eq!(b.run_once().await, 0);
    let running = job(app.db(), &alpha, id).await;
    assert_eq!(running.status, JobStatus::Running);
    assert_eq!(running.locked_by.as_deref(), Some("worker-a"));

    killed.abort();
    assert!(killed.await.unwrap_err().is_cancelled());
    // The lease runs out, then B takes the job over and completes it.
    tokio::time::sleep(lease + Duration::from_millis(200)).await;
    assert_eq!(b.run_once().await, 1);
    let done = job(app.db(), &alpha, id).await;
    assert_eq!(done.status, JobStatus::Done);
    assert_eq!(done.attempts, 2);
    assert_eq!(handler.calls.load(Ordering::SeqCst), 2);
    assert_eq!(handler.completed.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn two_workers_run_each_of_200_jobs_exactly_once_and_never_at_the_same_time() {
    let (app, alpha) = app_with_tenant().await;
    {
        let mut tx = app.db().tenant_tx(&alpha).await.unwrap();
        for n in 0..200 {
            enqueue(&mut tx, NewJob::new(RECORD, json!({ "n": n })))
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    }
    let record = Arc::new(Record {
        pause: Duration::from_millis(2),
        ..Record::default()
    });
    // Two "processes": each worker has its own pools, as separate processes would.
    let mut running = Vec::new();
    let mut stops = Vec::new();
    for name in ["worker-a", "worker-b"] {
        let db = Db::connect(&app.urls, 10, &app.name, 30_000).await.unwrap();
        let worker = fast(Worker::new(db))
            .with_worker_id(name)
            .with_concurrency(4)
            .with_shared_handler(record.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        stops.push(stop);
        running.push(tokio::spawn(async move {
            worker
                .run_until(async {
                    let _ = stopped.await;
                })
                .await;
        }));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while jobs(app.db(), &alpha, Some(JobStatus::Done)).await.len() < 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "jobs not done in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for stop in stops {
        let _ = stop.send(());
    }
    for task in running {
        task.await.unwrap();
    }

    let runs = record.runs.lock().unwrap().clone();
    assert_eq!(runs.len(), 200);
    assert!(runs.values().all(|&n| n == 1), "a job ran twice: {runs:?}");
    assert_eq!(record.overlaps.load(Ordering::SeqCst), 0);
    let all = jobs(app.db(), &alpha, None).await;
    assert!(
        all.iter()
            .all(|j| j.status == JobStatus::Done && j.attempts == 1)
    );
}

/// Fails while `fail` is set; panics for payloads asking for it.
struct Flaky {
    fail: AtomicBool,
}

#[async_trait]
impl JobHandler for Flaky {
    fn kind(&self) -> &'static str {
        "test.flaky"
    }

    async fn run(&self, ctx: JobContext) -> Result<(), JobError> {
        match ctx.payload["mode"].as_str() {
            Some("panic") => panic!("模拟的程序错误"),
            Some("permanent") => Err(JobError::permanent("参数永远不会变好")),
            _ if self.fail.load(Ordering::SeqCst) => Err(JobError::retry("模拟失败")),
            _ => Ok(()),
        }
    }
}

/// Runs passes until the job reaches `status`, sleeping past its backoff in between.
async fn until_status(worker: &Worker, db: &Db, tenant: &Tenant, id: JobId, status: JobStatus) {
    for _ in 0..50 {
        if job(db, tenant, id).await.status == status {
            return;
        }
        worker.run_once().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("job {id} never reached {status:?}");
}

#[tokio::test]
async fn a_failing_job_is_retried_with_backoff_then_dead_and_can_be_retried() {
    let (app, alpha) = app_with_tenant().await;
    let flaky = Arc::new(Flaky {
        fail: AtomicBool::new(true),
    });
    let worker = fast(Worker::new(app.db().clone())).with_shared_handler(flaky.clone());
    let id = add(
        app.db(),
        &alpha,
        NewJob::new("test.flaky", json!({})).with_max_attempts(3),
    )
    .await
    .unwrap();

    assert_eq!(worker.run_once().await, 1);
    let after_first = job(app.db(), &alpha, id).await;
    assert_eq!(after_first.status, JobStatus::Queued);
    assert_eq!(after_first.attempts, 1);
    assert_eq!(after_first.last_error.as_deref(), Some("模拟失败"));
    // Backoff: base 200 ms with jitter, so 100–200 ms from the failure.
    let wait = after_first.run_at - after_first.updated_at;
    assert!(
        wait >= chrono::Duration::milliseconds(95) && wait <= chrono::Duration::milliseconds(205),
        "{wait:?}"
    );
    // Not due yet.
    assert_eq!(worker.run_once().await, 0);

    until_status(&worker, app.db(), &alpha, id, JobStatus::Dead).await;
    let dead = job(app.db(), &alpha, id).await;
    assert_eq!(dead.attempts, 3);
    assert_eq!(dead.last_error.as_deref(), Some("模拟失败"));
    assert!(dead.finished_at.is_some());
    let listed = jobs(app.db(), &alpha, Some(JobStatus::Dead)).await;
    assert_eq!(listed.iter().map(|j| j.job_id).collect::<Vec<_>>(), [id]);
    assert_eq!(worker.run_once().await, 0, "a dead job is not run");

    // An administrator puts it back once the cause is fixed.
    flaky.fail.store(false, Ordering::SeqCst);
    let mut tx = app.db().tenant_tx(&alpha).await.unwrap();
    assert!(retry_dead(&mut tx, id).await.unwrap());
    assert!(!retry_dead(&mut tx, id).await.unwrap(), "no longer dead");
    tx.commit().await.unwrap();
    assert_eq!(worker.run_once().await, 1);
    let done = job(app.db(), &alpha, id).await;
    assert_eq!(done.status, JobStatus::Done);
    assert_eq!(done.attempts, 1);
    assert!(
        jobs(app.db(), &alpha, Some(JobStatus::Dead))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_permanent_error_is_dead_at_once_and_a_panic_is_retried() {
    let (app, alpha) = app_with_tenant().await;
    let worker = fast(Worker::new(app.db().clone())).with_handler(Flaky {
        fail: AtomicBool::new(false),
    });
    let permanent = add(
        app.db(),
        &alpha,
        NewJob::new("test.flaky", json!({"mode": "permanent"})),
    )
    .await
    .unwrap();
    let panics = add(
        app.db(),
        &alpha,
        NewJob::new("test.flaky", json!({"mode": "panic"})).with_max_attempts(2),
    )
    .await
    .unwrap();
    assert_eq!(worker.run_once().await, 2);

    let p = job(app.db(), &alpha, permanent).await;
    assert_eq!((p.status, p.attempts), (JobStatus::Dead, 1));
    assert_eq!(p.last_error.as_deref(), Some("参数永远不会变好"));

    let q = job(app.db(), &alpha, panics).await;
    assert_eq!((q.status, q.attempts), (JobStatus::Queued, 1));
    assert!(q.last_error.unwrap().contains("模拟的程序错误"));
    until_status(&worker, app.db(), &alpha, panics, JobStatus::Dead).await;
}

#[tokio::test]
async fn a_scheduled_occurrence_is_created_once_even_with_two_workers() {
    let app = TestApp::init().await;
    app.tenant("alpha", "520200", "main").await;
    app.tenant("beta", "520200", "main").await;
    let record = Arc::new(Record::default());
    // Both workers on one fixed clock: the occurrence is the one of that moment.
    let clock = xiaobao_domain::Clock::at_china("2025-10-08 09:30").unwrap();
    let worker = |name: &str| {
        fast(Worker::new(app.db().clone()))
            .with_clock(clock.clone())
            .with_worker_id(name)
            .with_schedule(Schedule::every(RECORD, Duration::from_secs(3600)))
            .with_shared_handler(record.clone())
    };
    let (a, b) = (worker("worker-a"), worker("worker-b"));
    let (ran_a, ran_b) = tokio::join!(a.run_once(), b.run_once());
    let (again_a, again_b) = tokio::join!(a.run_once(), b.run_once());
    assert_eq!(ran_a + ran_b, 2, "one occurrence per tenant");
    assert_eq!(again_a + again_b, 0);
    assert_eq!(record.total(), 2);

    let (key, _) =
        Schedule::every(RECORD, Duration::from_secs(3600)).latest_occurrence(clock.now());
    for slug in ["alpha", "beta"] {
        let tenant = app.db().active_tenant(slug).unwrap();
        let all = jobs(app.db(), &tenant, None).await;
        assert_eq!(all.len(), 1, "{slug}");
        assert_eq!(
            all[0].dedupe_key.as_deref(),
            Some(format!("{RECORD}:{key}").as_str())
        );
        assert_eq!(all[0].status, JobStatus::Done);
    }
    // A fresh worker (a restarted process) does not create the occurrence again either.
    assert_eq!(worker("worker-c").run_once().await, 0);
}

#[tokio::test]
async fn a_running_worker_wakes_on_a_committed_enqueue() {
    let (app, alpha) = app_with_tenant().await;
    let record = Arc::new(Record::default());
    // A long poll interval: only the notification can wake it in time.
    let worker = Worker::new(app.db().clone())
        .with_poll_interval(Duration::from_secs(60))
        .with_shared_handler(record.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        worker
            .run_until(async {
                let _ = stopped.await;
            })
            .await;
    });
    // Let the first full pass and the LISTEN happen.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let id = add(app.db(), &alpha, NewJob::new(RECORD, json!({})))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while job(app.db(), &alpha, id).await.status != JobStatus::Done {
        assert!(tokio::time::Instant::now() < deadline, "not woken");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(());
    task.await.unwrap();
}
