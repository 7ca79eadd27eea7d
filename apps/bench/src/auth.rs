//! `xiaobao-bench auth`: the cost of one authorisation check and of one login.
//!
//! - Authorisation: the reviewed policy (`policies/`) with 100,000 account → role assignments
//!   (`g, account:N, role, tenant`) loaded into the casbin enforcer; the time of one
//!   `enforce(account, tenant, resource, action)` over random accounts and permissions, and of
//!   one decision-table lookup (`Authz::allows`, what a request pays: the roles come from the
//!   session).
//! - Login: one argon2id verification with the configured parameters (`auth.argon2_*`), on one
//!   core — the part of a login that dominates its CPU cost.

use std::time::Instant;

use casbin::{CoreApi, MgmtApi};
use clap::Args;
use xiaobao_authz::{Authz, Permission};
use xiaobao_config::Config;
use xiaobao_domain::Role;
use xiaobao_identity::PasswordHasher;

#[derive(Debug, Args)]
pub struct AuthArgs {
    /// Account → role assignments loaded into the enforcer.
    #[arg(long, default_value_t = 100_000)]
    assignments: usize,
    /// Authorisation checks timed.
    #[arg(long, default_value_t = 200_000)]
    checks: usize,
    /// Logins (argon2id verifications) timed.
    #[arg(long, default_value_t = 20)]
    logins: usize,
}

const TENANTS: [&str; 3] = ["henan", "liupanshui", "shanghai"];
const ROLES: [Role; 9] = [
    Role::ProgrammeAuthority,
    Role::CityDepartment,
    Role::CountyDepartment,
    Role::CentralSchool,
    Role::School,
    Role::InsurerProvince,
    Role::InsurerCity,
    Role::InsurerCounty,
    Role::Broker,
];

fn role_of(n: usize) -> Role {
    // Mostly schools, as in a real programme.
    if n % 10 < 8 {
        Role::School
    } else {
        ROLES[n % ROLES.len()]
    }
}

pub async fn run(args: &AuthArgs) -> anyhow::Result<()> {
    let mut authz = Authz::load().await?;
    let started = Instant::now();
    let rules: Vec<Vec<String>> = (0..args.assignments)
        .map(|n| {
            vec![
                format!("account:{n}"),
                role_of(n).as_str().to_string(),
                TENANTS[n % TENANTS.len()].to_string(),
            ]
        })
        .collect();
    authz.enforcer_mut().add_grouping_policies(rules).await?;
    let load_secs = started.elapsed().as_secs_f64();

    let mut rng = fastrand::Rng::with_seed(7);
    let requests: Vec<(String, &str, Permission)> = (0..args.checks.min(100_000))
        .map(|_| {
            let n = rng.usize(0..args.assignments);
            let p = Permission::ALL[rng.usize(0..Permission::ALL.len())];
            (format!("account:{n}"), TENANTS[n % TENANTS.len()], p)
        })
        .collect();
    let enforcer = authz.enforcer();
    // Warm up, then time.
    let mut allowed = 0usize;
    for (sub, dom, p) in requests.iter().take(1000) {
        allowed += usize::from(enforcer.enforce((sub.as_str(), *dom, p.resource, p.action))?);
    }
    let started = Instant::now();
    for i in 0..args.checks {
        let (sub, dom, p) = &requests[i % requests.len()];
        allowed += usize::from(enforcer.enforce((sub.as_str(), *dom, p.resource, p.action))?);
    }
    let casbin_us = started.elapsed().as_secs_f64() * 1e6 / args.checks as f64;

    let roles: Vec<Vec<Role>> = (0..args.assignments).map(|n| vec![role_of(n)]).collect();
    let started = Instant::now();
    for i in 0..args.checks {
        let (sub, _, p) = &requests[i % requests.len()];
        let n: usize = sub.trim_start_matches("account:").parse().unwrap_or(0);
        allowed += usize::from(authz.allows(&roles[n], *p));
    }
    let table_us = started.elapsed().as_secs_f64() * 1e6 / args.checks as f64;

    let config = Config::default();
    let hasher = PasswordHasher::new(config.auth.argon2_memory_kib, config.auth.argon2_iterations)?;
    let phc = hasher.hash_blocking("Bench2026pw")?;
    let started = Instant::now();
    let mut ok = 0usize;
    for _ in 0..args.logins {
        ok += usize::from(hasher.verify_blocking("Bench2026pw", &phc));
    }
    let login_ms = started.elapsed().as_secs_f64() * 1e3 / args.logins as f64;
    anyhow::ensure!(ok == args.logins, "argon2 verification failed");

    println!(
        "authorisation: {} assignments loaded into casbin in {:.2} s",
        args.assignments, load_secs
    );
    println!(
        "  casbin enforce (account subject, real policy): {casbin_us:.2} µs per check ({} checks)",
        args.checks
    );
    println!("  decision table (roles from the session):       {table_us:.3} µs per check");
    println!("  target: under 10 µs per check");
    println!(
        "login: argon2id m={} KiB t={} p=1: {login_ms:.1} ms of one core per login (target 50–200 ms)",
        config.auth.argon2_memory_kib, config.auth.argon2_iterations
    );
    println!(
        "{}",
        serde_json::json!({
            "benchmark": "auth",
            "assignments": args.assignments,
            "casbin_enforce_us": casbin_us,
            "decision_table_us": table_us,
            "login_ms": login_ms,
            "argon2_memory_kib": config.auth.argon2_memory_kib,
            "argon2_iterations": config.auth.argon2_iterations,
            "allowed_seen": allowed,
        })
    );
    Ok(())
}
