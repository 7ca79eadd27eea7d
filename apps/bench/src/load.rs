//! `load`: the real router served on loopback in this process, loaded by a keep-alive HTTP/1.1
//! generator in the same process, compared with `pgbench -S` on the same PostgreSQL server.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, StatusCode, header};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use crate::app::{self, TempDir};
use crate::cpu::{CpuSnapshot, CpuUse};
use crate::pgbench::{self, PgbenchRun};
use crate::scratch::{self, ScratchDb};
use crate::stats::Latency;

/// Share of pgbench's rate the route is expected to reach.
const TARGET_PERCENT: f64 = 30.0;

#[derive(clap::Args)]
pub struct LoadArgs {
    /// Measured seconds, for the route and for pgbench alike.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent keep-alive connections (and pgbench clients).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Unmeasured seconds of the same load first (pool connections, caches).
    #[arg(long, default_value_t = 1)]
    warmup_seconds: u64,
    /// Stop after this many requests even if time remains.
    #[arg(long, default_value_t = 5_000_000)]
    max_requests: u64,
    /// The route to load; it must answer a non-empty JSON array.
    #[arg(long, default_value = "/api/v1/t/henan/regions/410100/children")]
    path: String,
    /// Database pool size of the service (default: the service's own default).
    #[arg(long)]
    max_connections: Option<u32>,
    /// Also load a guarded route with a signed-in session (the 金水区 department of the demo
    /// accounts): session lookup, the policy check and the region filter in SQL.
    #[arg(long)]
    signed_in: bool,
    /// The guarded route loaded with `--signed-in`; it must answer JSON with non-empty `items`.
    #[arg(long, default_value = "/api/v1/t/henan/schools?per_page=20")]
    signed_in_path: String,
    /// Also load `/healthz` (no database) the same way, as the HTTP stack's own ceiling.
    #[arg(long)]
    healthz_baseline: bool,
    /// pgbench binary (default: on PATH, else /usr/lib/postgresql/*/bin/pgbench).
    #[arg(long)]
    pgbench: Option<PathBuf>,
    /// pgbench scale factor for `pgbench -i`.
    #[arg(long, default_value_t = 10)]
    pgbench_scale: u32,
    /// pgbench worker threads (`-j`).
    #[arg(long, default_value_t = 2)]
    pgbench_threads: usize,
}

pub async fn run(admin_url: &str, args: &LoadArgs) -> anyhow::Result<()> {
    if args.concurrency == 0 || args.seconds == 0 {
        bail!("--concurrency and --seconds must be at least 1");
    }
    let pgbench_binary = pgbench::find_binary(args.pgbench.as_deref())?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let name = format!("xbbench_{}", scratch::unix_time()?);
    println!(
        "load: fresh database {name}; the load generator, the server (one tokio runtime, \
         {cores} worker threads) and PostgreSQL all share this machine's {cores} cores"
    );
    let routes =
        scratch::with_scratch_db(admin_url, &name, async |db| load_routes(db, args).await).await?;

    println!(
        "pgbench -S -c {} -j {} -T {} -n (scale {}, {}) …",
        args.concurrency,
        args.pgbench_threads,
        args.seconds,
        args.pgbench_scale,
        pgbench_binary.display()
    );
    let ceiling = pgbench::run(
        admin_url,
        &PgbenchRun {
            binary: &pgbench_binary,
            scale: args.pgbench_scale,
            clients: args.concurrency,
            threads: args.pgbench_threads,
            seconds: args.seconds,
        },
    )
    .await?;
    println!(
        "pgbench -S: {:.0} tps (without initial connection time; init took {:.1} s)",
        ceiling.tps, ceiling.init_seconds
    );
    if let Some(cpu) = &ceiling.cpu {
        let transactions = (ceiling.tps * cpu.seconds) as u64;
        println!("pgbench -S {}", cpu.line(transactions));
    }

    let percent = |rate: f64| 100.0 * rate / ceiling.tps;
    let route_percent = percent(routes.route.rate);
    let verdict = if route_percent >= TARGET_PERCENT {
        "met"
    } else {
        "NOT met"
    };
    println!(
        "route rate = {route_percent:.1} % of pgbench -S (target ≥ {TARGET_PERCENT:.0} %: {verdict})"
    );
    if let Some(signed_in) = &routes.signed_in {
        let p = percent(signed_in.rate);
        println!(
            "signed-in route rate = {p:.1} % of pgbench -S (target ≥ {TARGET_PERCENT:.0} %: {})",
            if p >= TARGET_PERCENT {
                "met"
            } else {
                "NOT met"
            }
        );
    }
    if let Some(healthz) = &routes.healthz {
        println!(
            "/healthz rate = {:.1} % of pgbench -S",
            percent(healthz.rate)
        );
    }

    let summary = json!({
        "bench": "load",
        "database": name,
        "cores": cores,
        "shared_machine": "load generator, server and PostgreSQL share the cores",
        "seconds": args.seconds,
        "concurrency": args.concurrency,
        "pool_max_connections": routes.pool_max_connections,
        "route": routes.route.to_json(),
        "healthz": routes.healthz.as_ref().map(Measured::to_json),
        "signed_in": routes.signed_in.as_ref().map(Measured::to_json),
        "pgbench": {
            "tps": ceiling.tps,
            "clients": args.concurrency,
            "threads": args.pgbench_threads,
            "scale": args.pgbench_scale,
            "cpu": ceiling.cpu.map(CpuUse::to_json),
        },
        "route_percent_of_pgbench": route_percent,
        "target_percent": TARGET_PERCENT,
    });
    println!("{summary}");
    Ok(())
}

/// The measured routes of one run.
struct RouteFigures {
    pool_max_connections: u32,
    route: Measured,
    signed_in: Option<Measured>,
    healthz: Option<Measured>,
}

/// Sets up the demo tenants, serves the router, loads the route (and `/healthz`).
async fn load_routes(db: &ScratchDb, args: &LoadArgs) -> anyhow::Result<RouteFigures> {
    let work_dir = TempDir::new(&db.name);
    let config = app::config(db, &work_dir, args.max_connections);
    let pool_max_connections = config.database.max_connections;
    let state = app::build_state(config).await?;
    xiaobao::seed_demo_tenants(&state.db, state.clock.today())
        .await
        .context("cannot provision the demo tenants")?;

    let server = Server::start(state.clone()).await?;
    let result = async {
        let route = Target {
            addr: server.addr,
            path: args.path.clone(),
            check: Check::NonEmptyJsonArray,
            cookie: None,
        };
        let figures = measure_route(&route, args, pool_max_connections).await?;
        let signed_in = if args.signed_in {
            let hasher = &state.auth.hasher;
            let password = xiaobao::demo::generate_password();
            let demo = xiaobao::demo::seed_demo_accounts(&state.db, hasher, &password)
                .await
                .context("cannot create the demo accounts")?;
            anyhow::ensure!(!demo.is_empty(), "no demo accounts");
            let session = xiaobao_http::open_session(
                &state,
                "henan",
                xiaobao_domain::AccountType::Department,
                "金水区",
                &password,
            )
            .await
            .map_err(|e| anyhow!("sign-in failed: {e}"))?;
            let target = Target {
                addr: server.addr,
                path: args.signed_in_path.clone(),
                check: Check::NonEmptyItems,
                cookie: Some(format!("{}={session}", state.config.session.cookie_name)),
            };
            Some(measure_route(&target, args, pool_max_connections).await?)
        } else {
            None
        };
        let healthz = if args.healthz_baseline {
            let target = Target {
                addr: server.addr,
                path: "/healthz".into(),
                check: Check::Status200,
                cookie: None,
            };
            Some(measure_route(&target, args, pool_max_connections).await?)
        } else {
            None
        };
        Ok(RouteFigures {
            pool_max_connections,
            route: figures,
            signed_in,
            healthz,
        })
    }
    .await;
    server.stop().await;
    state.db.clusters.close().await;
    result
}

/// Checks the route once, warms up, then measures and prints its figures.
async fn measure_route(
    target: &Target,
    args: &LoadArgs,
    pool_max_connections: u32,
) -> anyhow::Result<Measured> {
    let mut probe = Connection::open(target.addr).await?;
    let (status, body) = probe.get(&target.path, target.cookie.as_deref()).await?;
    if let Err(problem) = target.check.verify(status, &body) {
        bail!(
            "GET {} is not usable for the benchmark: {problem}; body: {}",
            target.path,
            String::from_utf8_lossy(&body)
        );
    }
    drop(probe);

    let target = Arc::new(target.clone());
    if args.warmup_seconds > 0 {
        generate(
            &target,
            args.concurrency,
            Duration::from_secs(args.warmup_seconds),
            args.max_requests,
        )
        .await?;
    }
    let measured = generate(
        &target,
        args.concurrency,
        Duration::from_secs(args.seconds),
        args.max_requests,
    )
    .await?;
    println!(
        "GET {}: {} connections, pool {}, {:.1} s: {} ok, {} errors, {:.0} requests/s",
        target.path,
        args.concurrency,
        pool_max_connections,
        measured.elapsed.as_secs_f64(),
        measured.ok,
        measured.errors,
        measured.rate
    );
    if let Some(latency) = measured.latency {
        println!("GET {} latency: {}", target.path, latency.line());
    }
    if let Some(cpu) = &measured.cpu {
        println!("GET {} {}", target.path, cpu.line(measured.ok));
    }
    if let Some(error) = &measured.first_error {
        println!("GET {} first error: {error}", target.path);
    }
    Ok(measured)
}

/// The router served on `127.0.0.1:<ephemeral>` with `axum::serve`, as the service does.
struct Server {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    serving: tokio::task::JoinHandle<std::io::Result<()>>,
    catalog: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start(state: xiaobao_http::AppState) -> anyhow::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .context("cannot listen on 127.0.0.1")?;
        let addr = listener.local_addr()?;
        // As `xiaobao::serve`: the catalog follows notifications while serving.
        let catalog = state.db.spawn_catalog_listener();
        let (stop, stopped) = oneshot::channel::<()>();
        let app = xiaobao_http::build_router(state);
        let serving = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        Ok(Self {
            addr,
            stop,
            serving,
            catalog,
        })
    }

    /// Stops accepting, lets open connections finish (at most a few seconds).
    async fn stop(self) {
        let _ = self.stop.send(());
        let mut serving = self.serving;
        if tokio::time::timeout(Duration::from_secs(5), &mut serving)
            .await
            .is_err()
        {
            serving.abort();
        }
        self.catalog.abort();
    }
}

/// What a response must be to count as a success.
#[derive(Clone, Copy)]
enum Check {
    /// 200 with a JSON array of at least one element.
    NonEmptyJsonArray,
    /// 200, any body.
    Status200,
    /// 200 with a JSON object whose `items` is a non-empty array.
    NonEmptyItems,
}

impl Check {
    fn verify(self, status: StatusCode, body: &[u8]) -> Result<(), String> {
        if status != StatusCode::OK {
            return Err(format!("status {status}"));
        }
        match self {
            Check::Status200 => Ok(()),
            Check::NonEmptyItems => match serde_json::from_slice::<serde_json::Value>(body) {
                Ok(v) if v["items"].as_array().is_some_and(|a| !a.is_empty()) => Ok(()),
                Ok(_) => Err("no non-empty `items`".into()),
                Err(error) => Err(format!("not JSON: {error}")),
            },
            Check::NonEmptyJsonArray => match serde_json::from_slice::<serde_json::Value>(body) {
                Ok(serde_json::Value::Array(items)) if !items.is_empty() => Ok(()),
                Ok(_) => Err("not a non-empty JSON array".into()),
                Err(error) => Err(format!("not JSON: {error}")),
            },
        }
    }
}

#[derive(Clone)]
struct Target {
    addr: SocketAddr,
    path: String,
    check: Check,
    /// A `Cookie` header sent with every request (a signed-in session).
    cookie: Option<String>,
}

/// The figures of one measured load.
struct Measured {
    elapsed: Duration,
    ok: u64,
    errors: u64,
    /// Successful requests per second.
    rate: f64,
    latency: Option<Latency>,
    first_error: Option<String>,
    /// Who used the cores during the load.
    cpu: Option<CpuUse>,
}

impl Measured {
    fn to_json(&self) -> serde_json::Value {
        json!({
            "elapsed_seconds": self.elapsed.as_secs_f64(),
            "ok": self.ok,
            "errors": self.errors,
            "requests_per_second": self.rate,
            "latency_us": self.latency.map(Latency::to_json),
            "first_error": self.first_error,
            "cpu": self.cpu.map(CpuUse::to_json),
        })
    }
}

/// What one connection of the generator saw.
#[derive(Default)]
struct WorkerTally {
    /// Latency of each successful request, in microseconds.
    latencies_us: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
}

impl WorkerTally {
    fn error(&mut self, error: impl std::fmt::Display) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(error.to_string());
        }
    }
}

/// Runs `concurrency` connections, each sending requests back to back until `duration` is
/// over or `max_requests` have been sent in all.
async fn generate(
    target: &Arc<Target>,
    concurrency: usize,
    duration: Duration,
    max_requests: u64,
) -> anyhow::Result<Measured> {
    let sent = Arc::new(AtomicU64::new(0));
    let cpu_before = CpuSnapshot::take();
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = JoinSet::new();
    for _ in 0..concurrency {
        let (target, sent) = (Arc::clone(target), Arc::clone(&sent));
        workers.spawn(async move { worker(&target, deadline, &sent, max_requests).await });
    }
    let mut latencies = Vec::new();
    let (mut errors, mut first_error) = (0, None);
    while let Some(joined) = workers.join_next().await {
        let tally = joined.context("a load generator task failed")??;
        latencies.extend(tally.latencies_us);
        errors += tally.errors;
        first_error = first_error.or(tally.first_error);
    }
    let elapsed = started.elapsed();
    let cpu = cpu_before
        .zip(CpuSnapshot::take())
        .map(|(before, after)| before.until(&after, elapsed.as_secs_f64()));
    let ok = latencies.len() as u64;
    Ok(Measured {
        elapsed,
        ok,
        errors,
        rate: ok as f64 / elapsed.as_secs_f64(),
        latency: Latency::of(&mut latencies),
        first_error,
        cpu,
    })
}

/// One keep-alive connection sending requests back to back; reconnects after a transport
/// error.
async fn worker(
    target: &Target,
    deadline: Instant,
    sent: &AtomicU64,
    max_requests: u64,
) -> anyhow::Result<WorkerTally> {
    let mut tally = WorkerTally::default();
    let mut connection = Connection::open(target.addr).await?;
    while Instant::now() < deadline && sent.fetch_add(1, Ordering::Relaxed) < max_requests {
        let started = Instant::now();
        match connection.get(&target.path, target.cookie.as_deref()).await {
            Ok((status, body)) => {
                let micros = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
                match target.check.verify(status, &body) {
                    Ok(()) => tally.latencies_us.push(micros),
                    Err(problem) => tally.error(problem),
                }
            }
            Err(error) => {
                tally.error(format!("{error:#}"));
                connection = Connection::open(target.addr).await?;
            }
        }
    }
    Ok(tally)
}

/// A client HTTP/1.1 connection; requests on it reuse the same TCP connection.
struct Connection {
    sender: SendRequest<Empty<Bytes>>,
    host: String,
    driver: tokio::task::JoinHandle<()>,
}

impl Connection {
    async fn open(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("cannot connect to {addr}"))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP/1.1 handshake failed")?;
        let driver = tokio::spawn(async move {
            // The error, if any, surfaces on the next request of this connection.
            let _ = connection.await;
        });
        Ok(Self {
            sender,
            host: addr.to_string(),
            driver,
        })
    }

    /// `GET path`: the status and the whole body.
    async fn get(
        &mut self,
        path: &str,
        cookie: Option<&str>,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        let mut request = Request::get(path).header(header::HOST, &self.host);
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        let request = request.body(Empty::new()).context("invalid request")?;
        self.sender
            .ready()
            .await
            .map_err(|error| anyhow!("connection closed: {error}"))?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.driver.abort();
    }
}
