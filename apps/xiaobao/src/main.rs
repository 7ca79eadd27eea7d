//! `xiaobao`: the service and its admin commands.

mod audit_cli;
mod identity_cli;

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use xiaobao_config::{Config, LogFormat, MAIN_CLUSTER};
use xiaobao_db::seed::{REGIONS_CSV, regions_under};
use xiaobao_db::{Db, NewTenant, ProvisionOutcome, RulesSeed};

#[derive(Parser)]
#[command(name = "xiaobao", about = "校保：校方责任保险管理平台", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Start the service (the default): embedded database unless configured otherwise; runs
    /// the background worker too unless `jobs.embedded_worker` is off.
    Run,
    /// Run only the background worker (notifications, clean-ups, scheduled jobs).
    Worker,
    /// Tenant provisioning.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Programme rules of a tenant.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Platform logins of brokers and insurer head offices working in several programmes.
    Identity {
        #[command(subcommand)]
        command: identity_cli::IdentityCommand,
    },
    /// Platform operators (the 运营控制台 at /platform/).
    Operator {
        #[command(subcommand)]
        command: OperatorCommand,
    },
    /// Audit trail checks.
    Audit {
        #[command(subcommand)]
        command: audit_cli::AuditCommand,
    },
    /// The service's keys (see docs/SECURITY.md).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Import a national holiday calendar (format of holidays-cn.toml).
    CalendarImport { file: PathBuf },
    /// Print the OpenAPI document.
    Openapi,
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create a tenant (idempotent): schema t_<slug>, its role, migrations, regions, rules.
    Create {
        #[arg(long)]
        slug: String,
        /// Chinese name of the programme, e.g. 河南省教育保险管理系统.
        #[arg(long)]
        name: String,
        /// GB/T 2260 code of the programme's top region, e.g. 410000.
        #[arg(long)]
        root_region: String,
        /// Cluster to place it on (`main` or a name from database.clusters).
        #[arg(long, default_value = MAIN_CLUSTER)]
        cluster: String,
        /// Rules document (TOML) to seed for --academic-year.
        #[arg(long, requires = "academic_year")]
        rules: Option<PathBuf>,
        #[arg(long)]
        academic_year: Option<String>,
    },
    /// Apply missing migrations to one tenant, or to all.
    Migrate {
        #[arg(long)]
        slug: Option<String>,
    },
    /// Archive a tenant: its schema is renamed, never dropped.
    Archive {
        #[arg(long)]
        slug: String,
    },
    /// List the catalog.
    List,
}

#[derive(Subcommand)]
enum OperatorCommand {
    /// Create an operator; prints a one-time password to change at first sign-in.
    Create {
        /// Login name: 3–40 lowercase letters, digits, `.`, `_`, `-`.
        #[arg(long)]
        login: String,
        /// The operator's name, shown in the console and the audit trail.
        #[arg(long)]
        name: String,
    },
    /// Set a new one-time password (to change at next sign-in) and unlock the operator.
    ResetPassword {
        #[arg(long)]
        login: String,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Re-seal every stored ID number not sealed with the current ID key id (after a rotation:
    /// new personal_data.id_key and id_key_id, the old key as previous_id_key, match_key kept).
    Reseal {
        /// Only this tenant (default: every active tenant).
        #[arg(long)]
        tenant: Option<String>,
        /// Rows per transaction.
        #[arg(long, default_value_t = 1000)]
        batch: usize,
    },
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Store a new version of a tenant's rules for an academic year (validated, audited).
    Set {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        academic_year: String,
        #[arg(long)]
        file: PathBuf,
        /// Why the rules change (recorded in the audit trail).
        #[arg(long)]
        reason: String,
    },
    /// Approve, as the platform operator, a proposed change of a programme that has a single
    /// authority account (with two or more, another authority account approves it).
    Approve {
        #[arg(long)]
        tenant: String,
        /// The proposal's number (编号), as its page shows it.
        #[arg(long)]
        proposal: i64,
        /// The operator's name, recorded as the approver.
        #[arg(long)]
        operator: String,
    },
    /// Print the rules in force.
    Show {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        academic_year: String,
    },
}

/// Logs go to standard error: standard output carries a command's own output alone (the
/// OpenAPI document, the rules in force, the tenant list…), so that it can be redirected to a
/// file or piped into another program. Colours only on a terminal.
fn init_tracing(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let config = match Config::load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("启动失败：{e}");
            return std::process::ExitCode::from(2);
        }
    };
    init_tracing(&config);
    tracing::debug!(
        file = ?std::env::var_os("XIAOBAO_CONFIG"),
        database.mode = ?config.database.mode,
        "configuration loaded"
    );
    match run(cli, config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("错误：{e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn connect(config: &Config) -> anyhow::Result<Db> {
    // An admin command leaves an embedded cluster running: the service may be using it.
    let (urls, _embedded) = xiaobao::cluster_urls(config)?;
    Ok(Db::connect(
        &urls,
        config.database.max_connections,
        &config.database.role_prefix,
        config.database.statement_timeout_ms,
    )
    .await?)
}

#[expect(clippy::print_stdout, reason = "admin commands print their results")]
async fn run(cli: Cli, config: Config) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => {
            let (urls, embedded) = xiaobao::cluster_urls(&config)?;
            let served = async {
                let state = xiaobao::build_state(config.clone(), &urls).await?;
                let mut demo_logins = Vec::new();
                if config.demo_seed() {
                    for (slug, outcome) in
                        xiaobao::seed_demo_tenants(&state.db, state.clock.today()).await?
                    {
                        tracing::info!(tenant.slug = %slug, ?outcome, "demo tenant");
                    }
                    let password = xiaobao::demo::demo_password(&config)?;
                    demo_logins = xiaobao::demo::seed_demo_accounts(
                        &state.db,
                        &state.auth.hasher,
                        password.expose(),
                    )
                    .await?;
                    let started = std::time::Instant::now();
                    let data = xiaobao::demo_data::seed_demo_data(
                        &state,
                        password.expose(),
                        state.clock.today(),
                    )
                    .await?;
                    for p in &data.programmes {
                        tracing::info!(
                            tenant.slug = %p.slug,
                            academic_year = %p.academic_year,
                            made = p.made,
                            schools = p.schools,
                            schools_made = p.schools_made,
                            submitted = p.submitted,
                            drafts = p.drafts,
                            roster_rows = p.roster_rows,
                            modification_requests = p.modification_requests,
                            second_insurer_requests = p.second_insurer_requests,
                            endorsements = p.endorsements,
                            seconds = p.seconds,
                            "demo data"
                        );
                    }
                    tracing::info!(
                        schools_made = data.schools_made(),
                        submitted = data.submitted(),
                        seconds = started.elapsed().as_secs_f64(),
                        "demo data seeded"
                    );
                    demo_logins.extend(data.logins);
                }
                print_banner(&config, &state.db, &state.clock, &demo_logins)?;
                xiaobao::serve(state).await
            }
            .await;
            if let Some(cluster) = embedded {
                cluster.stop();
            }
            served?;
        }
        Command::Worker => {
            let (urls, embedded) = xiaobao::cluster_urls(&config)?;
            let result = async {
                let state = xiaobao::build_state(config.clone(), &urls).await?;
                xiaobao::run_worker(state).await
            }
            .await;
            if let Some(cluster) = embedded {
                cluster.stop();
            }
            result?;
        }
        Command::Tenant { command } => {
            let db = connect(&config).await?;
            match command {
                TenantCommand::Create {
                    slug,
                    name,
                    root_region,
                    cluster,
                    rules,
                    academic_year,
                } => {
                    let regions = regions_under(REGIONS_CSV, &root_region)?;
                    let rules = match (rules, academic_year) {
                        (Some(file), Some(year)) => {
                            let document = std::fs::read_to_string(&file)
                                .with_context(|| format!("无法读取 {}", file.display()))?;
                            Some(RulesSeed {
                                academic_year: year,
                                document,
                            })
                        }
                        _ => None,
                    };
                    let outcome = db
                        .provisioner()
                        .create(
                            &NewTenant {
                                slug: slug.clone(),
                                name_zh: name,
                                root_region_code: root_region,
                                cluster,
                            },
                            &regions,
                            rules.as_ref(),
                        )
                        .await?;
                    match outcome {
                        ProvisionOutcome::Created => println!("已开通租户 {slug}"),
                        ProvisionOutcome::AlreadyPresent { migrations_applied } => println!(
                            "租户 {slug} 已存在，未做改动（补齐迁移 {migrations_applied} 个）"
                        ),
                    }
                }
                TenantCommand::Migrate { slug } => {
                    let results = match slug {
                        Some(slug) => vec![(slug.clone(), db.provisioner().migrate(&slug).await?)],
                        None => db.provisioner().migrate_all().await?,
                    };
                    for (slug, n) in results {
                        println!("{slug}: 应用迁移 {n} 个");
                    }
                }
                TenantCommand::Archive { slug } => {
                    let schema = db.provisioner().archive(&slug).await?;
                    println!("租户 {slug} 已归档，数据保留在 schema {schema}");
                }
                TenantCommand::List => {
                    for t in db.catalog.all() {
                        println!(
                            "{}\t{}\t{}\t{}\t{}\t{:?}",
                            t.slug,
                            t.name_zh,
                            t.root_region_code,
                            t.schema_name,
                            t.cluster,
                            t.status
                        );
                    }
                }
            }
        }
        Command::Rules { command } => {
            let db = connect(&config).await?;
            match command {
                RulesCommand::Set {
                    tenant,
                    academic_year,
                    file,
                    reason,
                } => {
                    let year = xiaobao_domain::academic_year::AcademicYear::parse(&academic_year)?;
                    let document = std::fs::read_to_string(&file)
                        .with_context(|| format!("无法读取 {}", file.display()))?;
                    let parsed = xiaobao_domain::rules::ProgrammeRules::from_toml_str(&document)
                        .with_context(|| format!("{} 不是有效的项目规则", file.display()))?;
                    if parsed.academic_year() != year {
                        bail!(
                            "规则文件中的学年 {} 与 --academic-year {year} 不一致",
                            parsed.academic_year()
                        );
                    }
                    if reason.trim().is_empty() {
                        bail!("请用 --reason 说明修改原因");
                    }
                    let tenant = db.active_tenant(&tenant)?;
                    let actor = format!(
                        "cli:{}",
                        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
                    );
                    let mut tx = db.tenant_tx(&tenant).await?;
                    let version = xiaobao_db::rules::save_version(
                        &mut tx,
                        &year.to_string(),
                        &document,
                        &actor,
                        reason.trim(),
                    )
                    .await?;
                    tx.commit().await?;
                    println!("已保存 {} {year} 学年规则第 {version} 版", tenant.slug);
                }
                RulesCommand::Approve {
                    tenant,
                    proposal,
                    operator,
                } => {
                    let tenant = db.active_tenant(&tenant)?;
                    let id = xiaobao_domain::ids::RulesProposalId(proposal);
                    match xiaobao_programme::approve_as_operator(&db, &tenant, id, &operator).await
                    {
                        Ok((year, version)) => println!(
                            "已审核通过 {} 的修改（编号{proposal}），{year} 学年规则第 {version} 版生效",
                            tenant.slug
                        ),
                        Err(xiaobao_domain::Failure::Refused(r)) => bail!("{}", r.message),
                        Err(other) => return Err(other.into()),
                    }
                }
                RulesCommand::Show {
                    tenant,
                    academic_year,
                } => {
                    let tenant = db.active_tenant(&tenant)?;
                    let mut tx = db.tenant_tx(&tenant).await?;
                    let rules = xiaobao_db::rules::current(&mut tx, &academic_year).await?;
                    tx.commit().await?;
                    match rules {
                        Some(r) => println!(
                            "# 第 {} 版，{}：{}\n{}",
                            r.version, r.changed_by, r.change_reason, r.document
                        ),
                        None => bail!("{} 没有 {academic_year} 学年的规则", tenant.slug),
                    }
                }
            }
        }
        Command::Identity { command } => {
            let db = connect(&config).await?;
            identity_cli::run(&db, &config, command).await?;
        }
        Command::Operator { command } => {
            let db = connect(&config).await?;
            let hasher = xiaobao_identity::PasswordHasher::new(
                config.auth.argon2_memory_kib,
                config.auth.argon2_iterations,
            )?;
            let main = db.clusters.main();
            let actor = xiaobao_platform::OperatorActor::cli(
                &std::env::var("USER").unwrap_or_else(|_| "unknown".into()),
            );
            let password = xiaobao_platform::operators::one_time_password();
            let hash = hasher.hash(&password).await?;
            let fail = |f: xiaobao_domain::Failure| anyhow::anyhow!("{f}");
            match command {
                OperatorCommand::Create { login, name } => {
                    xiaobao_platform::operators::check_login_name(&login).map_err(fail)?;
                    let name = name.trim();
                    if name.is_empty() || name.chars().count() > 60 {
                        bail!("--name 应为 1–60 个字");
                    }
                    let Some(id) =
                        xiaobao_platform::operators::create(main, &login, name, &hash, false)
                            .await
                            .map_err(fail)?
                    else {
                        bail!("登录名 {login} 已存在");
                    };
                    xiaobao_platform::audit::record(
                        main,
                        &actor,
                        "operator.created",
                        "operator",
                        Some(&id.to_string()),
                        serde_json::json!({"login_name": login}),
                    )
                    .await
                    .map_err(fail)?;
                    println!("已创建运营账号 {login}（{name}）");
                    println!("一次性密码：{password}（首次登录 /platform/login 后须修改）");
                }
                OperatorCommand::ResetPassword { login } => {
                    let row = xiaobao_platform::operators::by_login(main, &login)
                        .await
                        .map_err(fail)?
                        .with_context(|| format!("没有运营账号 {login}"))?;
                    xiaobao_platform::operators::store_password(main, row.operator_id, &hash, true)
                        .await
                        .map_err(fail)?;
                    xiaobao_platform::audit::record(
                        main,
                        &actor,
                        "operator.password_reset",
                        "operator",
                        Some(&row.operator_id.to_string()),
                        serde_json::json!({}),
                    )
                    .await
                    .map_err(fail)?;
                    println!("已重置 {login} 的密码，一次性密码：{password}（登录后须修改）");
                }
            }
        }
        Command::Audit { command } => {
            let db = connect(&config).await?;
            audit_cli::run(&db, command).await?;
        }
        Command::Keys { command } => {
            let db = connect(&config).await?;
            match command {
                KeysCommand::Reseal { tenant, batch } => {
                    let keys = xiaobao::keys::open(&config, &db).await?;
                    let actor = xiaobao_audit::Actor::cli(
                        &std::env::var("USER").unwrap_or_else(|_| "unknown".into()),
                    );
                    let reports = xiaobao::keys::reseal(
                        &db,
                        &keys.id_keys(),
                        tenant.as_deref(),
                        batch,
                        &actor,
                    )
                    .await?;
                    for r in reports {
                        println!(
                            "{}：检查 {} 行，重新封存 {} 行，两步验证密钥 {} 个（密钥编号 {}）",
                            r.tenant, r.rows, r.resealed, r.totp_resealed, keys.id_key.id
                        );
                    }
                }
            }
        }
        Command::CalendarImport { file } => {
            let db = connect(&config).await?;
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("无法读取 {}", file.display()))?;
            let years = xiaobao_db::import_calendar_toml(
                db.clusters.main(),
                &text,
                &file.display().to_string(),
            )
            .await?;
            println!("已导入年份：{years:?}");
        }
        Command::Openapi => println!("{}", xiaobao_http::openapi_json()),
    }
    Ok(())
}

#[expect(
    clippy::print_stdout,
    reason = "the start banner is for the person who ran the command"
)]
fn print_banner(
    config: &Config,
    db: &Db,
    clock: &xiaobao_domain::Clock,
    demo: &[xiaobao::demo::DemoLogin],
) -> anyhow::Result<()> {
    let base = config.public_url();
    println!();
    println!("校保已启动：{base}/");
    println!(
        "  健康检查：{base}/healthz  就绪检查：{base}/readyz  API 文档：{base}/api/v1/openapi.json"
    );
    for t in db.catalog.all() {
        if t.status == xiaobao_db::TenantStatus::Active {
            println!("  {}：{base}/t/{}/", t.name_zh, t.slug);
        }
    }
    if !demo.is_empty() {
        let path = config.demo_password_path();
        let password = xiaobao::demo::read_password(&path)?
            .with_context(|| format!("演示密码文件 {} 不存在", path.display()))?;
        println!(
            "  演示数据在当前学年 {}（今天 {}）：演示学校现在即可投保",
            clock.academic_year(),
            clock.today()
        );
        println!(
            "  演示账号（密码均为 {password}，仅供演示，保存在 {}）：",
            path.display()
        );
        println!(
            "    运营控制台 {}（平台运营）：{base}/platform/login",
            xiaobao::demo::DEMO_OPERATOR
        );
        for d in demo {
            println!(
                "    {:<10} {}（{}）：{base}/t/{}/login?type={}",
                d.tenant,
                d.login_name,
                d.what,
                d.tenant,
                d.account_type.as_str()
            );
        }
    }
    println!("按 Ctrl-C 停止。");
    println!();
    Ok(())
}
