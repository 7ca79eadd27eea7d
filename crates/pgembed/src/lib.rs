//! Private PostgreSQL clusters run from the machine's own server binaries.
//!
//! Used by the service binary at start-up (database mode `embedded`) and by the test
//! scripts. Everything is synchronous (`std::process`):
//!
//! * [`locate_binaries`] finds `initdb`/`pg_ctl`/`postgres` (installing the distribution's
//!   server package with `apt-get` when running as root and they are missing);
//! * [`ensure_running`] initialises the data directory if needed and starts the cluster on
//!   `127.0.0.1:<port>` with trust authentication for the `postgres` superuser — or reuses it
//!   when it already runs;
//! * [`stop`] stops it.
//!
//! PostgreSQL refuses to run as root. When the caller is root, the tools run as the system
//! user [`SERVICE_USER`] (created on demand), the data directory is owned by it, and when
//! that user cannot reach the requested directory (e.g. a checkout under `/root`), the
//! cluster lives under [`FALLBACK_ROOT`] instead — [`RunningCluster::data_dir`] tells where.

mod binaries;
mod error;
mod lock;
mod proc;

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use binaries::{BIN_DIR_ENV, PgBinaries, find_binaries, locate_binaries};
pub use error::PgEmbedError;
pub use proc::SERVICE_USER;

use lock::FileLock;
use proc::{Runner, run, run_unchecked, tail};

/// Where clusters go (as root) when [`SERVICE_USER`] cannot reach the requested directory.
pub const FALLBACK_ROOT: &str = "/var/lib/xiaobao-pg";

/// Start-up timeout passed to `pg_ctl -t`, in seconds.
const START_TIMEOUT_SECS: u64 = 60;
/// Lines of `server.log` quoted in start errors.
const LOG_TAIL_LINES: usize = 20;
/// Longest Unix socket path PostgreSQL accepts (`sizeof(sun_path) - 1`).
const MAX_SOCKET_PATH: usize = 107;
const CONF_BEGIN: &str = "# BEGIN xiaobao-pgembed (managed: rewritten on every start)";
const CONF_END: &str = "# END xiaobao-pgembed";

/// Which cluster to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSpec {
    /// Data directory (relative paths are taken from the current directory).
    pub data_dir: PathBuf,
    /// Port on 127.0.0.1.
    pub port: u16,
}

/// A cluster that is up and accepting TCP connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningCluster {
    /// `postgres://postgres@127.0.0.1:{port}/postgres` (trust authentication, no password).
    pub url: String,
    /// Port on 127.0.0.1.
    pub port: u16,
    /// Where the data directory actually is (see [`FALLBACK_ROOT`]); absolute.
    pub data_dir: PathBuf,
    /// `false` if it was already running and has been reused.
    pub started_now: bool,
}

/// Makes sure the cluster of `spec` runs: `initdb` if the directory holds no cluster yet,
/// (re)writes the managed settings into `postgresql.conf`, `pg_ctl start`. An already running
/// cluster on the same port is reused (`started_now == false`).
///
/// Errors if the port is taken by something else, the cluster runs on another port, or the
/// server does not come up (the error quotes the end of `server.log`).
pub fn ensure_running(spec: &ClusterSpec) -> Result<RunningCluster, PgEmbedError> {
    let bins = locate_binaries()?;
    let runner = Runner::detect()?;
    let requested = absolute(&spec.data_dir)?;
    let _lock = lock_for(&requested, true)?;
    let dir = match existing_cluster_dir(&requested, &runner) {
        Some(dir) => dir,
        None => new_cluster_dir(&requested, &runner)?,
    };
    if !runner.can_traverse(parent_of(&dir)) {
        return Err(PgEmbedError::Unreachable {
            data_dir: dir,
            user: SERVICE_USER.into(),
        });
    }
    take_ownership(&dir, &runner)?;

    let cluster = |started_now| RunningCluster {
        url: format!("postgres://postgres@127.0.0.1:{}/postgres", spec.port),
        port: spec.port,
        data_dir: dir.clone(),
        started_now,
    };

    if is_running(&bins, &runner, &dir)? {
        if let Some(running_port) = pid_file_port(&dir)
            && running_port != spec.port
        {
            return Err(PgEmbedError::RunningOnOtherPort {
                data_dir: dir,
                running_port,
                requested_port: spec.port,
            });
        }
        // It may still be starting up (another process just launched it).
        if !wait_for_tcp(spec.port, Duration::from_secs(START_TIMEOUT_SECS)) {
            return Err(start_failed(
                &dir,
                spec.port,
                "the cluster is running (postmaster.pid) but does not accept TCP connections on \
                 127.0.0.1",
            ));
        }
        tracing::info!(data_dir = %dir.display(), port = spec.port, "reusing running PostgreSQL cluster");
        return Ok(cluster(false));
    }

    if port_in_use(spec.port) {
        return Err(PgEmbedError::PortInUse {
            port: spec.port,
            data_dir: dir,
        });
    }
    if !dir.join("PG_VERSION").is_file() {
        initdb(&bins, &runner, &dir)?;
    }
    write_managed_config(&dir, spec.port)?;
    start(&bins, &runner, &dir, spec.port)?;
    Ok(cluster(true))
}

/// Stops the cluster of `spec` (`pg_ctl stop -m fast`). Returns whether it was running.
pub fn stop(spec: &ClusterSpec) -> Result<bool, PgEmbedError> {
    let requested = absolute(&spec.data_dir)?;
    let runner = Runner::detect()?;
    let _lock = lock_for(&requested, false)?;
    let Some(dir) = existing_cluster_dir(&requested, &runner) else {
        return Ok(false);
    };
    let bins = find_binaries()?;
    if !is_running(&bins, &runner, &dir)? {
        return Ok(false);
    }
    tracing::info!(data_dir = %dir.display(), "stopping PostgreSQL cluster");
    let mut cmd = runner.command(&bins.tool("pg_ctl"));
    cmd.arg("-D").arg(&dir).args(["-m", "fast", "-w", "-t"]);
    cmd.arg(START_TIMEOUT_SECS.to_string()).arg("stop");
    run(&mut cmd)?;
    Ok(true)
}

/// `/var/lib/xiaobao-pg/<absolute path with separators replaced>`.
pub fn fallback_dir(requested: &Path) -> PathBuf {
    let sanitised: String = requested
        .to_string_lossy()
        .trim_start_matches('/')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let sanitised = if sanitised.is_empty() || sanitised.chars().all(|c| c == '.') {
        "root".to_owned()
    } else {
        sanitised
    };
    Path::new(FALLBACK_ROOT).join(sanitised)
}

fn absolute(path: &Path) -> Result<PathBuf, PgEmbedError> {
    std::path::absolute(path)
        .map_err(|e| PgEmbedError::io(format!("resolving {}", path.display()), e))
}

fn parent_of(dir: &Path) -> &Path {
    dir.parent().unwrap_or(Path::new("/"))
}

fn io_err(action: &str, path: &Path) -> impl FnOnce(std::io::Error) -> PgEmbedError {
    let action = format!("{action} {}", path.display());
    move |e| PgEmbedError::io(action, e)
}

/// `<parent>/.<name>.pgembed.lock`, next to the requested data directory.
fn lock_for(requested: &Path, create_parent: bool) -> Result<Option<FileLock>, PgEmbedError> {
    let parent = parent_of(requested);
    if !parent.is_dir() {
        if !create_parent {
            return Ok(None);
        }
        std::fs::create_dir_all(parent).map_err(io_err("creating", parent))?;
    }
    let name = requested
        .file_name()
        .map_or_else(|| "cluster".into(), |n| n.to_string_lossy().into_owned());
    FileLock::acquire(&parent.join(format!(".{name}.pgembed.lock")))
}

fn has_cluster(dir: &Path) -> bool {
    dir.join("PG_VERSION").is_file()
}

/// The directory already holding this spec's cluster: the requested one, or (as root) its
/// fallback location.
fn existing_cluster_dir(requested: &Path, runner: &Runner) -> Option<PathBuf> {
    if has_cluster(requested) {
        return Some(requested.to_path_buf());
    }
    if runner.is_service_user() {
        let fallback = fallback_dir(requested);
        if has_cluster(&fallback) {
            return Some(fallback);
        }
    }
    None
}

/// Where a new cluster goes: the requested directory, unless (as root) the service user cannot
/// reach it.
fn new_cluster_dir(requested: &Path, runner: &Runner) -> Result<PathBuf, PgEmbedError> {
    std::fs::create_dir_all(requested).map_err(io_err("creating", requested))?;
    if runner.can_traverse(parent_of(requested)) {
        return Ok(requested.to_path_buf());
    }
    let fallback = fallback_dir(requested);
    tracing::warn!(
        requested = %requested.display(),
        actual = %fallback.display(),
        user = SERVICE_USER,
        "the requested PostgreSQL data directory is not reachable by the service user; using the fallback location"
    );
    std::fs::create_dir_all(&fallback).map_err(io_err("creating", &fallback))?;
    Ok(fallback)
}

/// As root: makes `dir` (recursively) owned by the service user and mode 0700.
fn take_ownership(dir: &Path, runner: &Runner) -> Result<(), PgEmbedError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let Runner::AsServiceUser { uid, gid, .. } = runner else {
        return Ok(());
    };
    let meta = std::fs::metadata(dir).map_err(io_err("inspecting", dir))?;
    if meta.uid() != *uid {
        if meta.uid() != 0 && dir.join("postmaster.pid").exists() {
            return Err(PgEmbedError::ForeignCluster {
                data_dir: dir.to_path_buf(),
                owner_uid: meta.uid(),
            });
        }
        tracing::debug!(data_dir = %dir.display(), user = SERVICE_USER, "handing data directory to the service user");
        let mut chown = std::process::Command::new("chown");
        chown.arg("-R").arg(format!("{uid}:{gid}")).arg(dir);
        run(&mut chown)?;
    }
    if has_cluster(dir) && meta.mode() & 0o027 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io_err("setting permissions of", dir))?;
    }
    Ok(())
}

/// `postmaster.pid` present and `pg_ctl status` says so.
fn is_running(bins: &PgBinaries, runner: &Runner, dir: &Path) -> Result<bool, PgEmbedError> {
    if !dir.join("postmaster.pid").exists() {
        return Ok(false);
    }
    let mut cmd = runner.command(&bins.tool("pg_ctl"));
    cmd.arg("-D").arg(dir).arg("status");
    let output = run_unchecked(&mut cmd)?;
    // 0: running; 3: not running; 4: no accessible data directory.
    tracing::debug!(status = %output.status, stdout = %String::from_utf8_lossy(&output.stdout).trim(), "pg_ctl status");
    Ok(output.status.success())
}

/// The port recorded in `postmaster.pid` (4th line).
fn pid_file_port(dir: &Path) -> Option<u16> {
    let text = std::fs::read_to_string(dir.join("postmaster.pid")).ok()?;
    text.lines().nth(3)?.trim().parse().ok()
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

fn accepts_tcp(port: u16) -> bool {
    TcpStream::connect_timeout(&loopback(port), Duration::from_millis(500)).is_ok()
}

fn wait_for_tcp(port: u16, timeout: Duration) -> bool {
    let started = Instant::now();
    loop {
        if accepts_tcp(port) {
            return true;
        }
        if started.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Something answers on the port, or it cannot be bound.
fn port_in_use(port: u16) -> bool {
    if accepts_tcp(port) {
        return true;
    }
    match TcpListener::bind(loopback(port)) {
        Ok(_) => false,
        Err(e) => e.kind() == std::io::ErrorKind::AddrInUse,
    }
}

fn initdb(bins: &PgBinaries, runner: &Runner, dir: &Path) -> Result<(), PgEmbedError> {
    tracing::info!(data_dir = %dir.display(), version = bins.version, "initialising PostgreSQL cluster");
    let attempt = |locale: &str| {
        let mut cmd = runner.command(&bins.tool("initdb"));
        cmd.arg("-D")
            .arg(dir)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8"])
            .arg(format!("--locale={locale}"));
        run(&mut cmd)
    };
    match attempt("C.UTF-8") {
        Ok(_) => Ok(()),
        Err(first) => {
            tracing::warn!(error = %first, "initdb with locale C.UTF-8 failed; retrying with locale C");
            // initdb removes what it created on failure; make sure nothing half-made remains.
            if !has_cluster(dir) {
                clear_dir(dir)?;
            }
            attempt("C").map(|_| ())
        }
    }
}

/// Removes the contents of `dir`, keeping the directory itself (and its owner).
fn clear_dir(dir: &Path) -> Result<(), PgEmbedError> {
    let entries = std::fs::read_dir(dir).map_err(io_err("reading", dir))?;
    for entry in entries {
        let path = entry.map_err(io_err("reading", dir))?.path();
        let result = if path.is_dir() && !path.is_symlink() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        result.map_err(io_err("removing", &path))?;
    }
    Ok(())
}

fn conf_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// The settings block appended to `postgresql.conf`.
fn managed_settings(dir: &Path, port: u16) -> String {
    let dir_text = dir.to_string_lossy();
    let socket_path_len = dir_text.len() + "/.s.PGSQL.".len() + port.to_string().len();
    let socket_dir = if dir.to_str().is_some() && socket_path_len <= MAX_SOCKET_PATH {
        dir_text.into_owned()
    } else {
        tracing::warn!(data_dir = %dir.display(), "data directory path too long for a Unix socket; the cluster listens on TCP only");
        String::new()
    };
    format!(
        "{CONF_BEGIN}\n\
         listen_addresses = '127.0.0.1'\n\
         port = {port}\n\
         unix_socket_directories = {}\n\
         max_connections = 200\n\
         shared_buffers = 128MB\n\
         {CONF_END}\n",
        conf_quote(&socket_dir)
    )
}

/// Replaces (or appends) the managed block of `postgresql.conf`. Writing in place keeps the
/// file's owner.
fn write_managed_config(dir: &Path, port: u16) -> Result<(), PgEmbedError> {
    let path = dir.join("postgresql.conf");
    let current = std::fs::read_to_string(&path).map_err(io_err("reading", &path))?;
    let mut kept = String::with_capacity(current.len());
    let mut inside = false;
    for line in current.lines() {
        match line.trim() {
            l if l == CONF_BEGIN => inside = true,
            l if l == CONF_END => inside = false,
            _ if inside => {}
            _ => {
                kept.push_str(line);
                kept.push('\n');
            }
        }
    }
    let updated = format!("{kept}{}", managed_settings(dir, port));
    if updated != current {
        std::fs::write(&path, updated).map_err(io_err("writing", &path))?;
    }
    Ok(())
}

fn start(bins: &PgBinaries, runner: &Runner, dir: &Path, port: u16) -> Result<(), PgEmbedError> {
    tracing::info!(data_dir = %dir.display(), port, "starting PostgreSQL cluster");
    let mut cmd = runner.command(&bins.tool("pg_ctl"));
    cmd.arg("-D")
        .arg(dir)
        .arg("-l")
        .arg(dir.join("server.log"))
        .args(["-w", "-t"])
        .arg(START_TIMEOUT_SECS.to_string())
        .arg("start");
    if let Err(e) = run(&mut cmd) {
        return Err(start_failed(dir, port, &e.to_string()));
    }
    if !wait_for_tcp(port, Duration::from_secs(10)) {
        return Err(start_failed(
            dir,
            port,
            "pg_ctl reported success but 127.0.0.1 does not accept TCP connections",
        ));
    }
    Ok(())
}

fn start_failed(dir: &Path, port: u16, reason: &str) -> PgEmbedError {
    let log_file = dir.join("server.log");
    let log_tail = std::fs::read(&log_file)
        .map(|bytes| tail(&String::from_utf8_lossy(&bytes), LOG_TAIL_LINES))
        .unwrap_or_else(|e| format!("(could not read it: {e})"));
    PgEmbedError::StartFailed {
        data_dir: dir.to_path_buf(),
        port,
        reason: reason.to_owned(),
        log_file,
        log_tail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_dir_is_sanitised() {
        assert_eq!(
            fallback_dir(Path::new("/root/src/xiaobao/var/test/pg-b")),
            Path::new("/var/lib/xiaobao-pg/root_src_xiaobao_var_test_pg-b")
        );
        assert_eq!(
            fallback_dir(Path::new("/a b/ü'x")),
            Path::new("/var/lib/xiaobao-pg/a_b___x")
        );
        assert_eq!(
            fallback_dir(Path::new("/")),
            Path::new("/var/lib/xiaobao-pg/root")
        );
    }

    #[test]
    fn managed_block_is_replaced_not_duplicated() {
        let dir = std::env::temp_dir().join(format!("pgembed-conf-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("postgresql.conf"), "max_wal_size = 1GB\n").expect("write");
        write_managed_config(&dir, 5000).expect("first");
        write_managed_config(&dir, 5001).expect("second");
        let text = std::fs::read_to_string(dir.join("postgresql.conf")).expect("read");
        assert_eq!(text.matches(CONF_BEGIN).count(), 1);
        assert!(text.starts_with("max_wal_size = 1GB\n"));
        assert!(text.contains("port = 5001\n"));
        assert!(!text.contains("port = 5000"));
        assert!(text.contains(&format!("unix_socket_directories = '{}'", dir.display())));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn long_paths_get_no_unix_socket() {
        let long = PathBuf::from(format!("/tmp/{}", "x".repeat(120)));
        assert!(managed_settings(&long, 5432).contains("unix_socket_directories = ''"));
        assert!(conf_quote("it's").eq("'it''s'"));
    }

    #[test]
    fn reads_port_from_pid_file() {
        let dir = std::env::temp_dir().join(format!("pgembed-pid-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(
            dir.join("postmaster.pid"),
            "123\n/data\n1700000000\n55433\n/data\n127.0.0.1\n  1234  5678\nready   \n",
        )
        .expect("write");
        assert_eq!(pid_file_port(&dir), Some(55433));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
