//! `xiaobao-bench`: measures tenant provisioning and the request path of the service against a
//! real PostgreSQL server.
//!
//! Every run works in a fresh database `xbbench_<unixtime>` (and, for `load`, a pgbench scratch
//! database `xbbench_pgb_<unixtime>`) that is dropped at the end together with its tenant roles,
//! even when the run fails or is interrupted, so nothing else on the server is touched.
//!
//! Figures are printed as plain text lines, followed by one JSON line for scripts.

#![expect(clippy::print_stdout, reason = "a benchmark prints its figures")]

mod app;
mod auth;
mod cpu;
mod demo;
mod enrolment;
mod load;
mod pgbench;
mod provision;
mod scratch;
mod stats;

use clap::{Parser, Subcommand};

/// Default superuser URL when neither `--database-url` nor the environment gives one.
const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[derive(Parser)]
#[command(
    name = "xiaobao-bench",
    about = "Benchmarks of tenant provisioning and of the request path"
)]
struct Cli {
    /// Superuser URL of the PostgreSQL server to measure on; the benchmark creates and drops
    /// its own databases and roles there.
    #[arg(
        long,
        global = true,
        env = "XIAOBAO_TEST_DATABASE_URL",
        hide_env_values = true,
        default_value = DEFAULT_DATABASE_URL
    )]
    database_url: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Time provisioning of fresh tenants, then of the idempotent no-op path.
    Provision(provision::ProvisionArgs),
    /// Serve the real router on loopback and load one tenant-scoped route; compare with
    /// `pgbench -S` on the same server.
    Load(load::LoadArgs),
    /// Cost of one authorisation check (100,000 role assignments loaded) and of one login.
    Auth(auth::AuthArgs),
    /// Roster ingestion of generated CSV and XLSX rosters against a plain COPY and calamine.
    Roster(enrolment::RosterArgs),
    /// Progress queries with 50,000 schools and 20 million roster rows in one tenant.
    Province(enrolment::ProvinceArgs),
    /// The demo seeding (programmes, accounts, demo data): first run and idempotent second run.
    Demo(demo::DemoArgs),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Provision(args) => provision::run(&cli.database_url, &args).await,
        Command::Load(args) => load::run(&cli.database_url, &args).await,
        Command::Auth(args) => auth::run(&args).await,
        Command::Roster(args) => enrolment::roster(&cli.database_url, &args).await,
        Command::Province(args) => enrolment::province(&cli.database_url, &args).await,
        Command::Demo(args) => demo::run(&cli.database_url, &args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xiaobao-bench: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
