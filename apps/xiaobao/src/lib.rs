//! Wiring: from a [`Config`] to a running service. The binary and the end-to-end tests build
//! the application through these same functions.

pub mod demo;
pub mod demo_data;
pub mod enrolment_reminders;
pub mod jobs;
pub mod keys;
pub mod password_expiry;

use std::sync::Arc;

use anyhow::Context;
use std::time::Duration;

use xiaobao_config::{
    Config, DatabaseMode, MAIN_CLUSTER, MailTransport, SmtpTlsMode, StorageBackend,
};
use xiaobao_db::seed::{REGIONS_CSV, demo_tenants, regions_under};
use xiaobao_db::{ClusterUrls, Db, NewTenant, ProvisionOutcome};
use xiaobao_http::AppState;

/// The private cluster of the embedded default, when this process started it.
pub struct EmbeddedCluster {
    spec: xiaobao_pgembed::ClusterSpec,
}

impl EmbeddedCluster {
    /// Stops the cluster this process started.
    pub fn stop(self) {
        match xiaobao_pgembed::stop(&self.spec) {
            Ok(_) => tracing::info!("embedded PostgreSQL stopped"),
            Err(error) => tracing::warn!(%error, "embedded PostgreSQL did not stop cleanly"),
        }
    }
}

/// The cluster URLs to connect to; in embedded mode the private cluster is started first
/// (and returned, when this process started it, so the caller can stop it on exit).
pub fn cluster_urls(config: &Config) -> anyhow::Result<(ClusterUrls, Option<EmbeddedCluster>)> {
    let mut urls = ClusterUrls::new();
    let mut embedded = None;
    match config.database.mode {
        DatabaseMode::Embedded => {
            // The keyring exists before the cluster does: a cluster without its keyring is
            // data whose keys are lost, and never gets new ones (see `keys`).
            keys::load(config, keys::embedded_cluster_exists(config))?;
            let spec = xiaobao_pgembed::ClusterSpec {
                data_dir: absolute(&config.database.embedded_dir)?,
                port: config.database.embedded_port,
            };
            let running = xiaobao_pgembed::ensure_running(&spec)
                .context("无法启动内置 PostgreSQL（database.mode = embedded）")?;
            tracing::info!(data_dir = %running.data_dir.display(), port = running.port,
                started_now = running.started_now, "embedded PostgreSQL ready");
            urls.insert(MAIN_CLUSTER.to_string(), running.url);
            if running.started_now {
                embedded = Some(EmbeddedCluster { spec });
            }
        }
        DatabaseMode::External => {
            let url = config
                .database
                .url
                .as_ref()
                .context("database.url 未配置（XIAOBAO_DATABASE__URL）")?;
            urls.insert(MAIN_CLUSTER.to_string(), url.expose().to_string());
        }
    }
    for (name, url) in &config.database.clusters {
        urls.insert(name.clone(), url.expose().to_string());
    }
    Ok((urls, embedded))
}

fn absolute(path: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    if path.is_absolute() {
        Ok(path.to_path_buf())
    } else {
        Ok(std::env::current_dir()?.join(path))
    }
}

/// Connects the databases, resolves and checks the keys (see [`keys`]), connects Redis and the
/// object store, and loads the calendar.
pub async fn build_state(config: Config, urls: &ClusterUrls) -> anyhow::Result<AppState> {
    build_state_at(config, urls, xiaobao_domain::Clock::system()).await
}

/// [`build_state`] on a given clock (tests run on a fixed one).
pub async fn build_state_at(
    config: Config,
    urls: &ClusterUrls,
    clock: xiaobao_domain::Clock,
) -> anyhow::Result<AppState> {
    let db = Db::connect(
        urls,
        config.database.max_connections,
        &config.database.role_prefix,
        config.database.statement_timeout_ms,
    )
    .await
    .context("无法连接数据库")?;
    let keyring = keys::open(&config, &db).await?;
    let redis = match &config.redis.url {
        None => None,
        Some(url) => {
            let client = redis::Client::open(url.expose()).context("redis.url 无效")?;
            Some(
                redis::aio::ConnectionManager::new(client)
                    .await
                    .context("无法连接 Redis（redis.url）")?,
            )
        }
    };
    let objects = xiaobao_storage::build_store(&store_settings(&config)?)
        .context("无法打开文件存储（storage.*）")?;
    let upload_dir = absolute(&config.storage.upload_dir)?;
    std::fs::create_dir_all(&upload_dir)
        .with_context(|| format!("无法创建上传暂存目录 {}", upload_dir.display()))?;
    let documents = Arc::new(xiaobao_storage::Documents::new(objects.clone(), upload_dir));
    let calendar = xiaobao_db::load_calendar(db.clusters.main())
        .await
        .context("无法读取节假日日历")?;
    let download_key: Arc<[u8]> = Arc::from(keyring.download_key.expose());
    let auth_secret = keyring.auth_secret.expose().to_vec();
    let id_key: Arc<[u8]> = Arc::from(keyring.id_keys().as_slice());
    let authz = xiaobao_authz::Authz::load()
        .await
        .context("权限策略（policies/）无法加载")?;
    let auth = xiaobao_http::auth::services(&config, authz, redis.clone(), &auth_secret, &clock)
        .context("无法初始化登录服务")?;
    Ok(AppState {
        db,
        config: Arc::new(config),
        sessions: xiaobao_http::Sessions::new(redis.clone()),
        redis,
        objects,
        documents,
        download_key,
        calendar: xiaobao_db::SharedCalendar::new(calendar),
        auth,
        id_key,
        clock,
    })
}

fn store_settings(config: &Config) -> anyhow::Result<xiaobao_storage::StoreSettings> {
    let s = &config.storage;
    Ok(match s.backend {
        StorageBackend::Local => xiaobao_storage::StoreSettings::Local {
            dir: absolute(&s.local_dir)?,
        },
        StorageBackend::S3 => {
            let need = |v: &Option<String>, key: &str| {
                v.clone()
                    .with_context(|| format!("storage.backend = s3 需要 {key}"))
            };
            xiaobao_storage::StoreSettings::S3 {
                endpoint: need(&s.s3_endpoint, "XIAOBAO_STORAGE__S3_ENDPOINT")?,
                bucket: need(&s.s3_bucket, "XIAOBAO_STORAGE__S3_BUCKET")?,
                region: s.s3_region.clone(),
                access_key_id: need(&s.s3_access_key_id, "XIAOBAO_STORAGE__S3_ACCESS_KEY_ID")?,
                secret_access_key: s
                    .s3_secret_access_key
                    .as_ref()
                    .map(|k| k.expose().to_string())
                    .context("storage.backend = s3 需要 XIAOBAO_STORAGE__S3_SECRET_ACCESS_KEY")?,
                virtual_hosted_style: s.s3_virtual_hosted_style,
                allow_http: s.s3_allow_http,
            }
        }
    })
}

/// The background worker with every job this service knows: notification delivery, the
/// nightly clean-ups of finished jobs and of unreferenced document objects, the daily password
/// expiry warnings.
pub fn build_worker(state: &AppState) -> anyhow::Result<xiaobao_jobs::Worker> {
    let config = &state.config;
    let outbox = absolute(&config.outbox.dir)?;
    let mailer: Arc<dyn xiaobao_notify::Mailer> = match config.mail.transport {
        MailTransport::Outbox => Arc::new(
            xiaobao_notify::OutboxMailer::new(&outbox, &config.mail.from)
                .context("无法使用邮件发件箱目录（outbox.dir）")?,
        ),
        MailTransport::Smtp => Arc::new(
            xiaobao_notify::SmtpMailer::new(&xiaobao_notify::SmtpSettings {
                host: config.mail.smtp_host.clone().unwrap_or_default(),
                port: config.mail.smtp_port,
                username: config.mail.smtp_username.clone(),
                password: config
                    .mail
                    .smtp_password
                    .as_ref()
                    .map(|p| secrecy::SecretString::from(p.expose().to_string())),
                tls: match config.mail.smtp_tls {
                    SmtpTlsMode::None => xiaobao_notify::SmtpTls::None,
                    SmtpTlsMode::Starttls => xiaobao_notify::SmtpTls::StartTls,
                    SmtpTlsMode::Tls => xiaobao_notify::SmtpTls::Tls,
                },
                from: config.mail.from.clone(),
                timeout: Duration::from_secs(config.mail.smtp_timeout_secs),
            })
            .context("邮件配置无效（mail.*）")?,
        ),
    };
    let sms: Arc<dyn xiaobao_notify::SmsProvider> =
        Arc::new(xiaobao_notify::OutboxSms::new(&outbox).with_clock(state.clock.clone()));
    Ok(xiaobao_jobs::Worker::new(state.db.clone())
        .with_clock(state.clock.clone())
        .with_handler(xiaobao_notify::DeliverHandler::new(mailer, sms))
        .with_handler(xiaobao_jobs::CleanupJobs::default())
        .with_handler(jobs::SweepDocuments::new(state.documents.clone()))
        .with_handler(password_expiry::PasswordExpiryWarnings::new(
            password_expiry::ExpiryPolicy::from_config(&config.auth),
        ))
        .with_handler(enrolment_reminders::EnrolmentReminders)
        .with_schedule(xiaobao_jobs::Schedule::daily(
            xiaobao_jobs::CLEANUP_KIND,
            3,
            30,
        ))
        .with_schedule(xiaobao_jobs::Schedule::daily(
            jobs::SWEEP_DOCUMENTS_KIND,
            3,
            45,
        ))
        .with_schedule(xiaobao_jobs::Schedule::daily(
            password_expiry::PASSWORD_EXPIRY_KIND,
            9,
            0,
        ))
        .with_schedule(xiaobao_jobs::Schedule::daily(
            enrolment_reminders::ENROLMENT_REMINDERS_KIND,
            9,
            10,
        ))
        .with_concurrency(config.jobs.concurrency)
        .with_poll_interval(Duration::from_secs(config.jobs.poll_interval_secs))
        .with_lease(Duration::from_secs(config.jobs.lease_secs)))
}

/// Runs the worker alone (`xiaobao worker`) until Ctrl-C or SIGTERM.
pub async fn run_worker(state: AppState) -> anyhow::Result<()> {
    let worker = build_worker(&state)?;
    let catalog_task = state.db.spawn_catalog_listener();
    let calendar_task = spawn_calendar_listener(&state);
    tracing::info!("worker started");
    worker.run_until(shutdown_signal()).await;
    catalog_task.abort();
    calendar_task.abort();
    state.db.clusters.close().await;
    tracing::info!("worker stopped");
    Ok(())
}

/// Provisions the demo programmes (`henan`, `liupanshui`, `shanghai`) on the main cluster,
/// marked `demo` in the catalog; demo programmes made earlier are only brought up to date. A
/// tenant with a demo slug that the demo did not make is a real programme: it is left alone
/// (with a warning) and not returned.
///
/// The demo lives in `today`'s year: each demo programme gets rules for the academic year
/// containing `today` and the one before, where it has none for them yet, from
/// [`demo_rules_for`](xiaobao_domain::programmes::demo_rules_for): in the current year a
/// school enrolment deadline that has already passed is moved 30 days ahead of `today`, also
/// in rules an earlier start wrote (rules a person changed are kept as they are).
pub async fn seed_demo_tenants(
    db: &Db,
    today: chrono::NaiveDate,
) -> anyhow::Result<Vec<(String, ProvisionOutcome)>> {
    let current = xiaobao_domain::AcademicYear::containing_date(today);
    let mut out = Vec::new();
    for demo in demo_tenants() {
        let marked: Option<bool> = sqlx::query_scalar!(
            "select demo from control.tenants where slug = $1",
            demo.slug
        )
        .fetch_optional(db.clusters.main())
        .await?;
        if marked == Some(false) {
            tracing::warn!(
                tenant.slug = demo.slug,
                "a tenant with this demo programme's slug exists and was not made by the demo: it gets no demo accounts"
            );
            continue;
        }
        let regions = regions_under(REGIONS_CSV, demo.root_region_code)?;
        let rules_of = |year: xiaobao_domain::AcademicYear| {
            xiaobao_domain::programmes::demo_rules_for(demo.slug, year, today)
                .map(|document| xiaobao_db::RulesSeed {
                    academic_year: year.to_string(),
                    document,
                })
                .with_context(|| format!("演示租户 {} 没有 {year} 学年的规则", demo.slug))
        };
        let outcome = db
            .provisioner()
            .create_demo(
                &NewTenant {
                    slug: demo.slug.to_string(),
                    name_zh: demo.name_zh.to_string(),
                    root_region_code: demo.root_region_code.to_string(),
                    cluster: MAIN_CLUSTER.to_string(),
                },
                &regions,
                Some(&rules_of(current)?),
            )
            .await
            .with_context(|| format!("无法开通演示租户 {}", demo.slug))?;
        let tenant = db.active_tenant(demo.slug)?;
        let mut tx = db.tenant_tx(&tenant).await?;
        for year in [current.previous(), current] {
            let year_text = year.to_string();
            let reason = match xiaobao_db::rules::current(&mut tx, &year_text).await? {
                None => "演示数据：当前学年及上一学年的规则",
                // Rules the demo wrote whose school deadline has passed since (an earlier
                // start): moved again, so that today's visitor can still enrol.
                Some(stored)
                    if year == current
                        && stored.changed_by.starts_with("system:")
                        && demo_deadline_passed(&stored.document, today) =>
                {
                    "演示数据：学校投保截止日期按今天顺延"
                }
                Some(_) => continue,
            };
            let seed = rules_of(year)?;
            xiaobao_db::rules::save_version(
                &mut tx,
                &year_text,
                &seed.document,
                "system:demo",
                reason,
            )
            .await?;
        }
        tx.commit().await?;
        out.push((demo.slug.to_string(), outcome));
    }
    Ok(out)
}

/// Whether the school enrolment deadline of a stored rules document lies before `today`.
fn demo_deadline_passed(document: &str, today: chrono::NaiveDate) -> bool {
    xiaobao_domain::ProgrammeRules::from_toml_str(document).is_ok_and(|rules| {
        rules.deadline(
            xiaobao_domain::rules::Deadline::SchoolEnrolment,
            rules.academic_year(),
        ) < today
    })
}

/// Serves until Ctrl-C or SIGTERM, then lets in-flight requests finish.
pub async fn serve(state: AppState) -> anyhow::Result<()> {
    let config = state.config.clone();
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| {
            format!(
                "无法监听 {}：端口可能已被占用，可用 XIAOBAO_SERVER__LISTEN 换一个地址",
                config.server.listen
            )
        })?;
    let catalog_task = state.db.spawn_catalog_listener();
    let calendar_task = spawn_calendar_listener(&state);
    let db = state.db.clone();
    // The embedded default runs the background worker in this process; it stops with the
    // server (jobs already running finish first).
    let (stop_worker, worker_stopped) = tokio::sync::watch::channel(false);
    let worker_task = if config.jobs.embedded_worker {
        let worker = build_worker(&state)?;
        let mut stopped = worker_stopped.clone();
        Some(tokio::spawn(async move {
            worker
                .run_until(async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                })
                .await;
        }))
    } else {
        None
    };
    let app = xiaobao_http::build_router(state);
    // After the signal, in-flight requests get `shutdown_grace_secs` to finish.
    let stopping = Arc::new(tokio::sync::Notify::new());
    let signalled = stopping.clone();
    // The peer address of each connection reaches the handlers (rate limits, audit entries).
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown_signal().await;
        signalled.notify_one();
    });
    let grace = std::time::Duration::from_secs(config.server.shutdown_grace_secs);
    tokio::select! {
        result = server => result?,
        () = async { stopping.notified().await; tokio::time::sleep(grace).await } => {
            tracing::warn!(grace_secs = grace.as_secs(), "requests still running after the grace period; closing");
        }
    }
    let _ = stop_worker.send(true);
    if let Some(task) = worker_task {
        let _ = task.await;
    }
    catalog_task.abort();
    calendar_task.abort();
    db.clusters.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Keeps the process's working-day calendar current (see [`xiaobao_db::SharedCalendar`]).
fn spawn_calendar_listener(state: &AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(
        state
            .calendar
            .clone()
            .listen(state.db.clusters.main().clone()),
    )
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
