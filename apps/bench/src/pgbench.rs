//! The ceiling: `pgbench -S` (select-only, one statement per transaction) on a scratch
//! database of the same PostgreSQL server.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::process::Command;

use crate::cpu::{CpuSnapshot, CpuUse};
use crate::scratch::{self, ScratchDb};

/// How to run pgbench.
pub struct PgbenchRun<'a> {
    pub binary: &'a Path,
    pub scale: u32,
    pub clients: usize,
    pub threads: usize,
    pub seconds: u64,
}

/// What pgbench measured.
pub struct PgbenchResult {
    /// Transactions per second, without initial connection time.
    pub tps: f64,
    pub init_seconds: f64,
    /// Who used the cores during the run (inside it, see [`sample_cpu`]).
    pub cpu: Option<CpuUse>,
}

/// The pgbench binary: `explicit`, else `pgbench` on `PATH`, else the newest
/// `/usr/lib/postgresql/<version>/bin/pgbench`.
pub fn find_binary(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("pgbench"))
        .find(|candidate| candidate.is_file());
    if let Some(path) = on_path {
        return Ok(path);
    }
    let mut versioned: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let path = entry.path().join("bin/pgbench");
            path.is_file().then_some((version, path))
        })
        .collect();
    versioned.sort();
    versioned.pop().map(|(_, path)| path).context(
        "pgbench not found on PATH nor in /usr/lib/postgresql/*/bin: install the PostgreSQL \
         client tools or pass --pgbench",
    )
}

/// Initialises a pgbench schema in `xbbench_pgb_<unixtime>`, runs `pgbench -S` on it and
/// drops it.
pub async fn run(admin_url: &str, options: &PgbenchRun<'_>) -> anyhow::Result<PgbenchResult> {
    let name = format!("xbbench_pgb_{}", scratch::unix_time()?);
    scratch::with_scratch_db(admin_url, &name, async |db| measure(db, options).await).await
}

async fn measure(db: &ScratchDb, options: &PgbenchRun<'_>) -> anyhow::Result<PgbenchResult> {
    let started = Instant::now();
    let scale = options.scale.to_string();
    pgbench(options.binary, &["-i", "-s", &scale, "-q", &db.url])
        .await
        .context("pgbench -i failed")?;
    let init_seconds = started.elapsed().as_secs_f64();

    let (clients, threads, seconds) = (
        options.clients.to_string(),
        options.threads.to_string(),
        options.seconds.to_string(),
    );
    let select_only = [
        "-S", "-c", &clients, "-j", &threads, "-T", &seconds, "-n", &db.url,
    ];
    let (output, cpu) = tokio::join!(
        pgbench(options.binary, &select_only),
        sample_cpu(options.seconds)
    );
    let output = output.context("pgbench -S failed")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let tps = parse_tps(&stdout).with_context(|| {
        format!("no \"tps = … (without initial connection time)\" in:\n{stdout}")
    })?;
    Ok(PgbenchResult {
        tps,
        init_seconds,
        cpu,
    })
}

/// CPU use inside a run of `seconds`, leaving out its first and last second (connections
/// being made and closed).
async fn sample_cpu(seconds: u64) -> Option<CpuUse> {
    if seconds < 3 {
        return None;
    }
    let window = Duration::from_secs(seconds - 2);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = CpuSnapshot::take()?;
    tokio::time::sleep(window).await;
    let after = CpuSnapshot::take()?;
    Some(before.until(&after, window.as_secs_f64()))
}

async fn pgbench(binary: &Path, args: &[&str]) -> anyhow::Result<Output> {
    let output = Command::new(binary)
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .with_context(|| format!("cannot run {}", binary.display()))?;
    if !output.status.success() {
        bail!(
            "{} exited with {}: {}",
            binary.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(output)
}

/// The figure of `tps = 12345.678901 (without initial connection time)`.
fn parse_tps(report: &str) -> Option<f64> {
    report.lines().find_map(|line| {
        let rest = line.trim().strip_prefix("tps = ")?;
        let (number, note) = rest.split_once(' ')?;
        note.contains("without initial connection time")
            .then(|| number.parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::parse_tps;

    #[test]
    fn reads_tps_without_connection_time() {
        let report = "number of failed transactions: 0 (0.000%)\n\
                      latency average = 1.234 ms\n\
                      initial connection time = 12.5 ms\n\
                      tps = 25934.123456 (without initial connection time)\n";
        assert_eq!(parse_tps(report), Some(25934.123456));
        assert_eq!(
            parse_tps("tps = 1.0 (including connections establishing)"),
            None
        );
    }
}
