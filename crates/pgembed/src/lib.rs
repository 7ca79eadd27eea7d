//! Private PostgreSQL clusters run from the machine's own server binaries.
//!
//! Used by the service binary at start-up (database mode `embedded`) and by the test
//! scripts. Everything is synchronous (`std::process`):
//!
//! * [`locate_binaries`] finds `initdb`/`pg_ctl`/`postgres`/`psql` (installing the
//!   distribution's server package with `apt-get` when running as root and they are missing);
//! * [`ensure_running`] initialises the data directory if needed and starts the cluster on
//!   `127.0.0.1:<port>` with password authentication — or reuses it when it already runs —
//!   and returns the URL of the service's own role;
//! * [`ensure_running_for_tests`] does the same for the test suite's throw-away clusters,
//!   with trust authentication on loopback (test-only);
//! * [`stop`] stops it.
//!
//! # Authentication ([`ensure_running`])
//!
//! * `pg_hba.conf` and `pg_ident.conf` are managed: rewritten on every start (and the running
//!   server reloaded when reused). TCP connections from `127.0.0.1/32` and `::1/128` need a
//!   password (`scram-sha-256`); over the Unix socket (in the data directory, mode 0700) only
//!   the cluster's own OS user may connect, as the superuser `postgres`, by `peer`
//!   authentication; nothing else is accepted. After every start it is checked that the
//!   superuser without a password is refused on TCP.
//! * The passwords are generated (32 letters and digits from a CSPRNG) and kept in
//!   [`secrets_dir`]: `<data_dir>.secrets/` next to the data directory (`var/pg` →
//!   `var/pg.secrets/`), mode 0700, holding [`SUPERUSER_PASSWORD_FILE`],
//!   [`SERVICE_PASSWORD_FILE`] and a libpq password file [`PGPASS_FILE`] for both roles, each
//!   mode 0600. Directory and files belong to the cluster's OS user (the data directory's
//!   owner: [`SERVICE_USER`] when started as root, which can read them too). In the fallback
//!   location the directory sits next to the fallback data directory. A deleted password file
//!   is generated anew and the role gets the new password at the next start.
//! * The superuser `postgres` (password from `initdb --pwfile`) is used only to bootstrap, on
//!   every start, in one transaction run by the cluster's `psql` (Unix socket and `peer`, or
//!   TCP with the password file when the data directory's path is too long for a socket):
//!   both passwords are (re)set from their files (sent as SCRAM verifiers, never in clear),
//!   the login role [`SERVICE_ROLE`] is made `NOSUPERUSER CREATEROLE LOGIN` with `CREATE` on
//!   the database, and it is given what the service owns in external mode: the `control` and
//!   `audit_anchor` schemas with every table, view, sequence, function and type in them, and
//!   membership (`with admin option`) in every role that owns a `t_*` schema. Every step is
//!   idempotent.
//! * [`RunningCluster::url`] connects as [`SERVICE_ROLE`] with its password;
//!   [`RunningCluster::superuser_url`] as `postgres`, for tooling. Neither is logged; the
//!   `Debug` output of [`RunningCluster`] shows them without passwords.
//! * A cluster made by an earlier version (initdb `--auth=trust`, the service connected as
//!   `postgres`) is converted at its first start with this version: the superuser gets a
//!   password from a newly generated file, the service role is created and handed `control`,
//!   `audit_anchor` and the tenant roles as above, and the managed `pg_hba.conf` replaces the
//!   trust one — before the server starts when the conversion can use the Unix socket, else
//!   (no socket, or the cluster is already running) right after the bootstrap, followed by a
//!   reload.
//!
//! PostgreSQL refuses to run as root. When the caller is root, the tools run as the system
//! user [`SERVICE_USER`] (created on demand), the data directory is owned by it, and when
//! that user cannot reach the requested directory (e.g. a checkout under `/root`), the
//! cluster lives under [`FALLBACK_ROOT`] instead — [`RunningCluster::data_dir`] tells where.

mod binaries;
mod bootstrap;
mod error;
mod lock;
mod proc;
mod scram;
mod secrets;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use binaries::{BIN_DIR_ENV, PgBinaries, find_binaries, locate_binaries};
pub use error::PgEmbedError;
pub use proc::SERVICE_USER;
pub use secrets::{PGPASS_FILE, SERVICE_PASSWORD_FILE, SUPERUSER_PASSWORD_FILE, secrets_dir};

use bootstrap::Conn;
use lock::FileLock;
use proc::{Runner, run, run_unchecked, tail};
use secrets::Secrets;

/// Where clusters go (as root) when [`SERVICE_USER`] cannot reach the requested directory.
pub const FALLBACK_ROOT: &str = "/var/lib/xiaobao-pg";

/// The cluster's superuser (bootstrap and tooling only).
pub const SUPERUSER: &str = "postgres";

/// The login role the service connects as ([`ensure_running`]): `NOSUPERUSER CREATEROLE`,
/// `CREATE` on the database, owner of `control`, member of every tenant role.
pub const SERVICE_ROLE: &str = "xiaobao_service";

/// Start-up timeout passed to `pg_ctl -t`, in seconds.
const START_TIMEOUT_SECS: u64 = 60;
/// Lines of `server.log` quoted in start errors.
const LOG_TAIL_LINES: usize = 20;
/// Longest Unix socket path PostgreSQL accepts (`sizeof(sun_path) - 1`).
const MAX_SOCKET_PATH: usize = 107;
const CONF_BEGIN: &str = "# BEGIN xiaobao-pgembed (managed: rewritten on every start)";
const CONF_END: &str = "# END xiaobao-pgembed";
/// First line of the managed `pg_hba.conf`; a cluster whose file starts otherwise has not been
/// converted to password authentication yet.
const HBA_HEADER: &str =
    "# Managed by xiaobao-pgembed (password authentication): rewritten on every start.";
/// The `pg_ident.conf` map letting the cluster's OS user in as the superuser.
const IDENT_MAP: &str = "xiaobao_pgembed";
/// In [`secrets_dir`]: never created, so libpq finds no password when pointed at it.
const NO_PGPASS_FILE: &str = ".no-password";

/// Which cluster to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSpec {
    /// Data directory (relative paths are taken from the current directory).
    pub data_dir: PathBuf,
    /// Port on 127.0.0.1.
    pub port: u16,
}

/// A cluster that is up and accepting TCP connections.
///
/// Its URLs carry passwords: never log them (`Debug` shows them redacted).
#[derive(Clone, PartialEq, Eq)]
pub struct RunningCluster {
    /// What the service connects with:
    /// `postgres://xiaobao_service:<password>@127.0.0.1:{port}/postgres` ([`SERVICE_ROLE`]);
    /// from [`ensure_running_for_tests`], `postgres://postgres@127.0.0.1:{port}/postgres`.
    pub url: String,
    /// The superuser, for tooling: `postgres://postgres:<password>@127.0.0.1:{port}/postgres`;
    /// from [`ensure_running_for_tests`], the same as `url`.
    pub superuser_url: String,
    /// Port on 127.0.0.1.
    pub port: u16,
    /// Where the data directory actually is (see [`FALLBACK_ROOT`]); absolute.
    pub data_dir: PathBuf,
    /// Where the password files are ([`secrets_dir`] of `data_dir`); `None` from
    /// [`ensure_running_for_tests`].
    pub secrets_dir: Option<PathBuf>,
    /// `false` if it was already running and has been reused.
    pub started_now: bool,
}

impl fmt::Debug for RunningCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningCluster")
            .field("url", &redact_url(&self.url))
            .field("superuser_url", &redact_url(&self.superuser_url))
            .field("port", &self.port)
            .field("data_dir", &self.data_dir)
            .field("secrets_dir", &self.secrets_dir)
            .field("started_now", &self.started_now)
            .finish()
    }
}

/// `scheme://user:[redacted]@host…` for a URL with a password; other text unchanged.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    match authority[..at].split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:[redacted]{}", &rest[at..]),
        None => url.to_owned(),
    }
}

/// How a cluster authenticates.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Auth {
    /// [`ensure_running`].
    Password,
    /// [`ensure_running_for_tests`].
    TestTrust,
}

/// Makes sure the cluster of `spec` runs with password authentication: `initdb` if the
/// directory holds no cluster yet, (re)writes the managed settings into `postgresql.conf` and
/// the managed `pg_hba.conf`/`pg_ident.conf`, `pg_ctl start`, then the superuser's bootstrap
/// (see the crate documentation: service role, passwords, conversion of a cluster made by an
/// earlier version). An already running cluster on the same port is reused
/// (`started_now == false`), and gets the same bootstrap and managed authentication.
///
/// Errors if the port is taken by something else, the cluster runs on another port, the
/// server does not come up (the error quotes the end of `server.log`), a password file is
/// unusable, or the bootstrap fails.
pub fn ensure_running(spec: &ClusterSpec) -> Result<RunningCluster, PgEmbedError> {
    ensure(spec, Auth::Password)
}

/// **Test-only.** Makes sure the cluster of `spec` runs the way the test suite's private
/// clusters always have: `initdb --auth=trust`, so anyone on the machine can connect as the
/// superuser `postgres` over loopback without a password; `url` (and `superuser_url`) is
/// `postgres://postgres@127.0.0.1:{port}/postgres`. `pg_hba.conf` is left as `initdb` wrote
/// it. Never use it for data that matters. Refuses ([`PgEmbedError::ProtectedCluster`]) a
/// cluster [`ensure_running`] has protected.
pub fn ensure_running_for_tests(spec: &ClusterSpec) -> Result<RunningCluster, PgEmbedError> {
    ensure(spec, Auth::TestTrust)
}

/// The passwords of a password-protected cluster, loaded (or generated) for this start.
struct Credentials {
    secrets: Secrets,
    superuser: String,
    service: String,
    pgpass: PathBuf,
}

impl Credentials {
    fn load(dir: &Path, runner: &Runner) -> Result<Self, PgEmbedError> {
        let secrets = Secrets::open(dir, runner)?;
        let (superuser, _) = secrets.password(SUPERUSER_PASSWORD_FILE)?;
        let (service, _) = secrets.password(SERVICE_PASSWORD_FILE)?;
        let pgpass = secrets.write_if_changed(
            PGPASS_FILE,
            &format!(
                "127.0.0.1:*:*:{SUPERUSER}:{superuser}\n127.0.0.1:*:*:{SERVICE_ROLE}:{service}\n"
            ),
        )?;
        Ok(Self {
            secrets,
            superuser,
            service,
            pgpass,
        })
    }
}

fn ensure(spec: &ClusterSpec, auth: Auth) -> Result<RunningCluster, PgEmbedError> {
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
    let protected_before = hba_is_managed(&dir);
    let converting = auth == Auth::Password && !protected_before && has_cluster(&dir);
    if auth == Auth::TestTrust && protected_before {
        return Err(PgEmbedError::ProtectedCluster { data_dir: dir });
    }
    let credentials = match auth {
        Auth::Password => Some(Credentials::load(&dir, &runner)?),
        Auth::TestTrust => None,
    };
    let os_user = runner.os_user_name().filter(|name| is_plain_name(name));

    let started_now = if is_running(&bins, &runner, &dir)? {
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
        false
    } else {
        if port_in_use(spec.port) {
            return Err(PgEmbedError::PortInUse {
                port: spec.port,
                data_dir: dir,
            });
        }
        let fresh = !has_cluster(&dir);
        if fresh {
            let pwfile = credentials
                .as_ref()
                .map(|c| c.secrets.dir().join(SUPERUSER_PASSWORD_FILE));
            initdb(&bins, &runner, &dir, pwfile.as_deref())?;
        }
        write_managed_config(&dir, spec.port)?;
        // An unconverted cluster keeps its old pg_hba.conf until the bootstrap has given the
        // superuser a password, unless the bootstrap can come in over the socket (peer).
        let socket_planned = socket_dir(&dir, spec.port).is_some() && os_user.is_some();
        if credentials.is_some() && (fresh || protected_before || socket_planned) {
            write_managed_auth(&dir, os_user.as_deref(), &runner)?;
        }
        start(&bins, &runner, &dir, spec.port)?;
        true
    };

    let Some(credentials) = credentials else {
        let url = format!("postgres://{SUPERUSER}@127.0.0.1:{}/postgres", spec.port);
        return Ok(RunningCluster {
            superuser_url: url.clone(),
            url,
            port: spec.port,
            data_dir: dir,
            secrets_dir: None,
            started_now,
        });
    };

    let conn = match (&os_user, pid_file_socket(&dir, spec.port)) {
        (Some(_), Some(socket_dir)) => Conn::Socket(socket_dir),
        _ => Conn::Tcp {
            pgpass: credentials.pgpass.clone(),
        },
    };
    bootstrap::run(
        &bins,
        &runner,
        &dir,
        spec.port,
        &conn,
        &credentials.superuser,
        &credentials.service,
    )?;
    let changed = write_managed_auth(&dir, os_user.as_deref(), &runner)?;
    if changed || !started_now {
        reload(&bins, &runner, &dir)?;
    }
    bootstrap::wait_until_passwordless_refused(
        &bins,
        &runner,
        &dir,
        spec.port,
        &credentials.secrets.dir().join(NO_PGPASS_FILE),
    )?;
    if converting {
        tracing::warn!(data_dir = %dir.display(), role = SERVICE_ROLE,
            secrets_dir = %credentials.secrets.dir().display(),
            "converted a PostgreSQL cluster of an earlier version from trust to password \
             authentication; the service now connects as its own role");
    }
    Ok(RunningCluster {
        url: format!(
            "postgres://{SERVICE_ROLE}:{}@127.0.0.1:{}/postgres",
            credentials.service, spec.port
        ),
        superuser_url: format!(
            "postgres://{SUPERUSER}:{}@127.0.0.1:{}/postgres",
            credentials.superuser, spec.port
        ),
        port: spec.port,
        data_dir: dir,
        secrets_dir: Some(credentials.secrets.dir().to_path_buf()),
        started_now,
    })
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

/// `initdb` with the superuser `postgres`: with `pwfile`, its password from that file and
/// password (host) / peer (local) authentication; without, trust (test clusters only).
fn initdb(
    bins: &PgBinaries,
    runner: &Runner,
    dir: &Path,
    pwfile: Option<&Path>,
) -> Result<(), PgEmbedError> {
    tracing::info!(data_dir = %dir.display(), version = bins.version, "initialising PostgreSQL cluster");
    let attempt = |locale: &str| {
        let mut cmd = runner.command(&bins.tool("initdb"));
        cmd.arg("-D").arg(dir).args(["-U", SUPERUSER]);
        match pwfile {
            Some(pwfile) => {
                cmd.args(["--auth-host=scram-sha-256", "--auth-local=peer"])
                    .arg(format!("--pwfile={}", pwfile.display()));
            }
            None => {
                cmd.arg("--auth=trust");
            }
        }
        cmd.args(["-E", "UTF8"]).arg(format!("--locale={locale}"));
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

/// The directory of the cluster's Unix socket: the data directory, unless its path is too
/// long for a socket (then the cluster listens on TCP only).
fn socket_dir(dir: &Path, port: u16) -> Option<&str> {
    let text = dir.to_str()?;
    let socket_path_len = text.len() + "/.s.PGSQL.".len() + port.to_string().len();
    (socket_path_len <= MAX_SOCKET_PATH).then_some(text)
}

/// The settings block appended to `postgresql.conf`.
fn managed_settings(dir: &Path, port: u16) -> String {
    let socket_dir = socket_dir(dir, port).unwrap_or_else(|| {
        tracing::warn!(data_dir = %dir.display(), "data directory path too long for a Unix socket; the cluster listens on TCP only");
        ""
    });
    format!(
        "{CONF_BEGIN}\n\
         listen_addresses = '127.0.0.1'\n\
         port = {port}\n\
         unix_socket_directories = {}\n\
         max_connections = 200\n\
         shared_buffers = 128MB\n\
         {CONF_END}\n",
        conf_quote(socket_dir)
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

/// Whether `pg_hba.conf` is the managed one (the cluster is password-protected).
fn hba_is_managed(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("pg_hba.conf"))
        .is_ok_and(|text| text.lines().next() == Some(HBA_HEADER))
}

/// An OS user name that needs no quoting in `pg_ident.conf`.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// The managed `pg_hba.conf`: passwords on loopback TCP; on the Unix socket only the cluster's
/// own OS user (`os_user`, when known), as the superuser, by peer authentication.
fn managed_hba(os_user: Option<&str>) -> String {
    let local = match os_user {
        Some(_) => format!("local   all       {SUPERUSER}                  peer map={IDENT_MAP}\n"),
        None => String::new(),
    };
    format!(
        "{HBA_HEADER}\n\
         # Edits are lost. See the documentation of the xiaobao-pgembed crate.\n\
         # TYPE  DATABASE  USER      ADDRESS        METHOD\n\
         {local}\
         host    all       all       127.0.0.1/32   scram-sha-256\n\
         host    all       all       ::1/128        scram-sha-256\n"
    )
}

/// The managed `pg_ident.conf`: the cluster's OS user may be the superuser (over the socket).
fn managed_ident(os_user: Option<&str>) -> String {
    let line = match os_user {
        Some(user) => format!("{IDENT_MAP}  \"{user}\"  {SUPERUSER}\n"),
        None => String::new(),
    };
    format!(
        "# Managed by xiaobao-pgembed: rewritten on every start. Edits are lost.\n\
         # MAPNAME  SYSTEM-USERNAME  PG-USERNAME\n\
         {line}"
    )
}

/// Writes `pg_ident.conf` and `pg_hba.conf` (in this order) when they differ from the managed
/// ones; returns whether anything changed. Written in place, so they keep their owner (a file
/// that was missing is given to the service user).
fn write_managed_auth(
    dir: &Path,
    os_user: Option<&str>,
    runner: &Runner,
) -> Result<bool, PgEmbedError> {
    let mut changed = false;
    for (name, contents) in [
        ("pg_ident.conf", managed_ident(os_user)),
        ("pg_hba.conf", managed_hba(os_user)),
    ] {
        let path = dir.join(name);
        if std::fs::read_to_string(&path).is_ok_and(|current| current == contents) {
            continue;
        }
        let existed = path.exists();
        std::fs::write(&path, contents).map_err(io_err("writing", &path))?;
        if !existed && let Runner::AsServiceUser { uid, gid, .. } = runner {
            std::os::unix::fs::chown(&path, Some(*uid), Some(*gid))
                .map_err(io_err("changing the owner of", &path))?;
        }
        changed = true;
    }
    Ok(changed)
}

/// The Unix socket directory recorded in `postmaster.pid` (5th line), if its socket for
/// `port` exists.
fn pid_file_socket(dir: &Path, port: u16) -> Option<PathBuf> {
    let text = std::fs::read_to_string(dir.join("postmaster.pid")).ok()?;
    let socket_dir = PathBuf::from(text.lines().nth(4)?.trim());
    if socket_dir.as_os_str().is_empty() {
        return None;
    }
    socket_dir
        .join(format!(".s.PGSQL.{port}"))
        .exists()
        .then_some(socket_dir)
}

/// `pg_ctl reload`: the server rereads its configuration files.
fn reload(bins: &PgBinaries, runner: &Runner, dir: &Path) -> Result<(), PgEmbedError> {
    tracing::debug!(data_dir = %dir.display(), "reloading PostgreSQL configuration");
    let mut cmd = runner.command(&bins.tool("pg_ctl"));
    cmd.arg("-D").arg(dir).arg("reload");
    run(&mut cmd).map(|_| ())
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
    fn managed_auth_files_allow_passwords_and_the_own_user_only() {
        let hba = managed_hba(Some("xiaobao-pg"));
        assert_eq!(hba.lines().next(), Some(HBA_HEADER));
        let rules: Vec<Vec<&str>> = hba
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            rules,
            vec![
                vec!["local", "all", "postgres", "peer", "map=xiaobao_pgembed"],
                vec!["host", "all", "all", "127.0.0.1/32", "scram-sha-256"],
                vec!["host", "all", "all", "::1/128", "scram-sha-256"],
            ]
        );
        assert!(!managed_hba(None).contains("local"));
        assert!(!hba.contains("trust"));
        let ident = managed_ident(Some("xiaobao-pg"));
        assert!(ident.ends_with("xiaobao_pgembed  \"xiaobao-pg\"  postgres\n"));
        assert!(is_plain_name("xiaobao-pg") && is_plain_name("john.doe"));
        assert!(!is_plain_name("a b") && !is_plain_name("x\"y") && !is_plain_name(""));
    }

    #[test]
    fn hba_is_managed_only_with_the_header() {
        let dir = std::env::temp_dir().join(format!("pgembed-hba-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        assert!(!hba_is_managed(&dir));
        std::fs::write(dir.join("pg_hba.conf"), "host all all 127.0.0.1/32 trust\n")
            .expect("write");
        assert!(!hba_is_managed(&dir));
        assert!(write_managed_auth(&dir, Some("u"), &Runner::Direct).expect("write"));
        assert!(hba_is_managed(&dir));
        assert!(!write_managed_auth(&dir, Some("u"), &Runner::Direct).expect("again"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("postgres://xiaobao_service:s3cret@127.0.0.1:5/postgres"),
            "postgres://xiaobao_service:[redacted]@127.0.0.1:5/postgres"
        );
        assert_eq!(
            redact_url("postgres://postgres@127.0.0.1:5/postgres"),
            "postgres://postgres@127.0.0.1:5/postgres"
        );
        assert_eq!(redact_url("not a url"), "not a url");
        let cluster = RunningCluster {
            url: "postgres://a:pw1@h/d".into(),
            superuser_url: "postgres://b:pw2@h/d".into(),
            port: 5,
            data_dir: PathBuf::from("/d"),
            secrets_dir: None,
            started_now: true,
        };
        let debug = format!("{cluster:?}");
        assert!(!debug.contains("pw1") && !debug.contains("pw2"), "{debug}");
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
