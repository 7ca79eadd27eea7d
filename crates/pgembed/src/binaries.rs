//! Finding (and, as root on Debian-like systems, installing) the PostgreSQL server binaries.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::PgEmbedError;
use crate::proc::{is_executable, is_root, run, run_unchecked, tail, which};

/// Environment variable naming a server `bin` directory to use before any other.
pub const BIN_DIR_ENV: &str = "XIAOBAO_PG_BIN_DIR";

/// Where Debian/Ubuntu put versioned server installs.
const DEBIAN_PG_ROOT: &str = "/usr/lib/postgresql";

/// The tools a cluster needs, all from one directory (Debian's `postgresql-NN` package ships
/// them together in `/usr/lib/postgresql/NN/bin`; `psql` comes with its client dependency).
const REQUIRED_TOOLS: [&str; 4] = ["initdb", "pg_ctl", "postgres", "psql"];

/// A directory holding `initdb`, `pg_ctl`, `postgres` and `psql` of one PostgreSQL version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgBinaries {
    /// The (symlink-resolved) directory.
    pub bin_dir: PathBuf,
    /// Major version, e.g. 15.
    pub version: u32,
}

impl PgBinaries {
    /// Path of one of the tools in [`PgBinaries::bin_dir`].
    pub fn tool(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }
}

/// Finds the server binaries; if there are none and we are root, installs the distribution's
/// server package with `apt-get` and looks again.
///
/// Order: `$XIAOBAO_PG_BIN_DIR`, the highest `/usr/lib/postgresql/*/bin`, then `PATH` (where a
/// `pg_ctl` counts only if, symlinks resolved, it sits next to `initdb`, `postgres` and
/// `psql`).
pub fn locate_binaries() -> Result<PgBinaries, PgEmbedError> {
    match find_binaries() {
        Err(PgEmbedError::BinariesNotFound { .. }) if is_root() => {
            let package = install_server_package()?;
            find_binaries().map_err(|e| match e {
                PgEmbedError::BinariesNotFound { searched } => PgEmbedError::Install(format!(
                    "installed `{package}`, but still no directory with initdb, pg_ctl, \
                     postgres and psql was found (searched {searched})"
                )),
                other => other,
            })
        }
        other => other,
    }
}

/// Like [`locate_binaries`] but never installs anything.
pub fn find_binaries() -> Result<PgBinaries, PgEmbedError> {
    let candidates = candidate_dirs();
    for dir in &candidates {
        if let Some(found) = probe(dir) {
            tracing::debug!(bin_dir = %found.bin_dir.display(), version = found.version, "found PostgreSQL server binaries");
            return Ok(found);
        }
    }
    Err(PgEmbedError::BinariesNotFound {
        searched: candidates
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(":"),
    })
}

fn candidate_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os(BIN_DIR_ENV).filter(|d| !d.is_empty()) {
        dirs.push(PathBuf::from(dir));
    }
    let mut versioned: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir(DEBIAN_PG_ROOT)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let key = name
                .split('.')
                .map(str::parse)
                .collect::<Result<Vec<u32>, _>>()
                .ok()?;
            Some((key, entry.path().join("bin")))
        })
        .collect();
    versioned.sort_by(|a, b| b.0.cmp(&a.0));
    dirs.extend(versioned.into_iter().map(|(_, dir)| dir));
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path).filter(|d| !d.as_os_str().is_empty()));
    }
    let mut seen = Vec::new();
    dirs.retain(|d| {
        let new = !seen.contains(d);
        seen.push(d.clone());
        new
    });
    dirs
}

/// Checks that `dir` really is a server install: `pg_ctl` resolved through symlinks lives
/// next to `initdb`, `postgres` and `psql`, and `postgres --version` reports a version.
fn probe(dir: &Path) -> Option<PgBinaries> {
    let pg_ctl = dir.join("pg_ctl");
    if !is_executable(&pg_ctl) {
        return None;
    }
    let real_dir = std::fs::canonicalize(&pg_ctl).ok()?.parent()?.to_path_buf();
    let complete = REQUIRED_TOOLS
        .iter()
        .all(|tool| is_executable(&real_dir.join(tool)));
    if !complete {
        return None;
    }
    let version = tool_version(&real_dir.join("postgres"))?;
    let initdb_version = tool_version(&real_dir.join("initdb"))?;
    if version != initdb_version {
        tracing::debug!(dir = %real_dir.display(), version, initdb_version, "postgres and initdb versions differ; skipping");
        return None;
    }
    Some(PgBinaries {
        bin_dir: real_dir,
        version,
    })
}

fn tool_version(tool: &Path) -> Option<u32> {
    let output = Command::new(tool).arg("--version").output().ok()?;
    if !output.status.success() {
        return None;
    }
    parse_major_version(&String::from_utf8_lossy(&output.stdout))
}

/// `postgres (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)` → 15; `... 9.6.24` → 9.
fn parse_major_version(text: &str) -> Option<u32> {
    let after = text
        .split_once("(PostgreSQL)")
        .map_or(text, |(_, rest)| rest);
    let token = after
        .split_whitespace()
        .find(|t| t.starts_with(|c: char| c.is_ascii_digit()))?;
    let digits: String = token.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// `apt-get update` + install of the server package (root only); returns the package name.
fn install_server_package() -> Result<String, PgEmbedError> {
    let Some(apt_get) = which("apt-get") else {
        return Err(PgEmbedError::Install(format!(
            "no PostgreSQL server binaries found and `apt-get` is not available; install the \
             PostgreSQL server package of your system, put its bin directory on PATH or set \
             {BIN_DIR_ENV}"
        )));
    };
    tracing::warn!(
        "PostgreSQL server binaries not found; installing them with apt-get (this takes a while)"
    );
    let apt = |args: &[&str]| {
        let mut cmd = Command::new(&apt_get);
        cmd.env("DEBIAN_FRONTEND", "noninteractive")
            .args(["-o", "DPkg::Lock::Timeout=600"])
            .args(args);
        cmd
    };
    run(&mut apt(&["-q", "update"])).map_err(|e| PgEmbedError::Install(e.to_string()))?;
    let package = server_package_name();
    tracing::info!(package = %package, "installing");
    let mut install = apt(&["-q", "install", "-y", "--no-install-recommends", &package]);
    let output = run_unchecked(&mut install)?;
    if !output.status.success() {
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        return Err(PgEmbedError::Install(format!(
            "`apt-get install {package}` failed ({}):\n{}",
            output.status,
            tail(text.trim(), 30)
        )));
    }
    Ok(package)
}

/// `postgresql` if apt knows it, else the highest `postgresql-NN` it offers.
fn server_package_name() -> String {
    let known = |pkg: &str| {
        Command::new("apt-cache")
            .args(["show", pkg])
            .output()
            .is_ok_and(|o| o.status.success() && !o.stdout.is_empty())
    };
    if known("postgresql") {
        return "postgresql".into();
    }
    let names = Command::new("apt-cache")
        .args(["pkgnames", "postgresql-"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    names
        .lines()
        .filter_map(|name| {
            let version: u32 = name.strip_prefix("postgresql-")?.parse().ok()?;
            Some((version, name.to_owned()))
        })
        .max()
        .map_or_else(|| "postgresql".into(), |(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        assert_eq!(
            parse_major_version("postgres (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)\n"),
            Some(15)
        );
        assert_eq!(parse_major_version("initdb (PostgreSQL) 9.6.24"), Some(9));
        assert_eq!(parse_major_version("pg_ctl (PostgreSQL) 17beta1"), Some(17));
        assert_eq!(parse_major_version("nothing here"), None);
    }

    #[test]
    fn finds_the_machine_binaries() {
        // The build machines have PostgreSQL; this only checks the probe logic agrees.
        if let Ok(found) = find_binaries() {
            assert!(found.tool("initdb").exists());
            assert!(found.tool("postgres").exists());
            assert!(found.tool("psql").exists());
            assert!(found.version >= 9);
        }
    }
}
