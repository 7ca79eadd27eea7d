//! Who used the cores during a measured window, from `/proc` (Linux; elsewhere nothing is
//! reported): this process (server and load generator), PostgreSQL, pgbench, and everything
//! else on the machine, which makes a run on a busy machine visible.

use serde_json::json;

/// CPU counters at one moment, in clock ticks.
#[derive(Debug, Clone, Copy)]
pub struct CpuSnapshot {
    /// All CPUs, all states.
    total: u64,
    /// All CPUs, idle and waiting for I/O.
    idle: u64,
    cpus: usize,
    bench: u64,
    postgres: u64,
    pgbench: u64,
}

/// Cores used on average over a window, by whom.
#[derive(Debug, Clone, Copy)]
pub struct CpuUse {
    pub cpus: usize,
    pub seconds: f64,
    pub bench: f64,
    pub postgres: f64,
    pub pgbench: f64,
    pub other: f64,
}

impl CpuSnapshot {
    /// The counters now, or `None` without a readable `/proc`.
    pub fn take() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let all: Vec<u64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .filter_map(|n| n.parse().ok())
            .collect();
        let cpus = stat
            .lines()
            .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
            .count();
        let mut snapshot = Self {
            total: all.iter().sum(),
            idle: all.get(3)? + all.get(4)?,
            cpus,
            bench: process_ticks("self")?.1,
            postgres: 0,
            pgbench: 0,
        };
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            else {
                continue;
            };
            match process_ticks(pid) {
                Some((comm, ticks)) if comm == "postgres" => snapshot.postgres += ticks,
                Some((comm, ticks)) if comm == "pgbench" => snapshot.pgbench += ticks,
                _ => {}
            }
        }
        Some(snapshot)
    }

    /// Average use between this snapshot and a later one. Processes that ended in between are
    /// counted as "other" (their ticks are gone), so windows should lie inside a load.
    pub fn until(&self, later: &Self, seconds: f64) -> CpuUse {
        let window_total = later.total.saturating_sub(self.total);
        let window_idle = later.idle.saturating_sub(self.idle).min(window_total);
        let cores = |ticks: u64| ticks as f64 / window_total.max(1) as f64 * self.cpus as f64;
        let busy = cores(window_total - window_idle);
        let bench = cores(later.bench.saturating_sub(self.bench));
        let postgres = cores(later.postgres.saturating_sub(self.postgres));
        let pgbench = cores(later.pgbench.saturating_sub(self.pgbench));
        CpuUse {
            cpus: self.cpus,
            seconds,
            bench,
            postgres,
            pgbench,
            other: (busy - bench - postgres - pgbench).max(0.0),
        }
    }
}

impl CpuUse {
    /// One line of text; per-operation CPU when `operations` is known.
    pub fn line(&self, operations: u64) -> String {
        let per_op = |cores: f64| cores * self.seconds * 1e6 / operations.max(1) as f64;
        let mut line = format!(
            "CPU (cores of {}): this process {:.2}, postgres {:.2}, pgbench {:.2}, other {:.2}",
            self.cpus, self.bench, self.postgres, self.pgbench, self.other
        );
        if operations > 0 {
            line.push_str(&format!(
                "; per operation: this process {:.0} µs, postgres {:.0} µs, pgbench {:.0} µs",
                per_op(self.bench),
                per_op(self.postgres),
                per_op(self.pgbench)
            ));
        }
        if self.other > 0.1 {
            line.push_str(" — other processes were busy: figures are disturbed");
        }
        line
    }

    pub fn to_json(self) -> serde_json::Value {
        json!({
            "cpus": self.cpus,
            "window_seconds": self.seconds,
            "bench_process_cores": self.bench,
            "postgres_cores": self.postgres,
            "pgbench_cores": self.pgbench,
            "other_cores": self.other,
        })
    }
}

/// Command name and user + system ticks of `/proc/<pid>/stat`.
fn process_ticks(pid: &str) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_string();
    let fields: Vec<&str> = stat.get(close + 2..)?.split_whitespace().collect();
    // Fields 14 and 15 of proc(5) (utime, stime), counted from the state field (3).
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((comm, utime + stime))
}
