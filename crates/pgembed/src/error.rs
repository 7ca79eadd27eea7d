//! The one error type of the crate.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while locating binaries or managing a cluster.
#[derive(Debug, thiserror::Error)]
pub enum PgEmbedError {
    /// No directory holding `initdb`, `pg_ctl`, `postgres` and `psql` was found.
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres, psql) not found. \
         Install them with `sudo apt-get install postgresql` (Debian/Ubuntu; other systems: \
         the PostgreSQL server package). Searched $XIAOBAO_PG_BIN_DIR, /usr/lib/postgresql/*/bin \
         and every directory on PATH ({searched})"
    )]
    BinariesNotFound {
        /// The directories that were looked at, `:`-separated.
        searched: String,
    },

    /// Installing the server package (as root) failed.
    #[error("could not install the PostgreSQL server package: {0}")]
    Install(String),

    /// The port is held by something that is not the cluster in `data_dir`.
    #[error(
        "port {port} on 127.0.0.1 is already in use by another process (not the PostgreSQL \
         cluster in {data_dir}); stop that process or choose another port, e.g. \
         XIAOBAO_DATABASE__EMBEDDED_PORT=55499"
    )]
    PortInUse {
        /// The requested port.
        port: u16,
        /// Where our cluster lives.
        data_dir: PathBuf,
    },

    /// The cluster is already running, but on a different port than requested.
    #[error(
        "the PostgreSQL cluster in {data_dir} is already running on port {running_port}, not on \
         the requested port {requested_port}; stop it first (it is restarted on the requested \
         port) or request port {running_port}"
    )]
    RunningOnOtherPort {
        /// Where the cluster lives.
        data_dir: PathBuf,
        /// Port from its `postmaster.pid`.
        running_port: u16,
        /// Port that was asked for.
        requested_port: u16,
    },

    /// Running as root, the service user cannot reach a data directory that already holds a
    /// cluster.
    #[error(
        "the PostgreSQL cluster in {data_dir} cannot be reached by the system user {user} \
         (a parent directory is not traversable); make its parents traversable (chmod o+x) or \
         move the cluster"
    )]
    Unreachable {
        /// Where the cluster lives.
        data_dir: PathBuf,
        /// The unprivileged user clusters run as.
        user: String,
    },

    /// The data directory belongs to a cluster of some other user that seems to be running.
    #[error(
        "the PostgreSQL cluster in {data_dir} is owned by uid {owner_uid} and appears to be \
         running; refusing to take it over"
    )]
    ForeignCluster {
        /// Where the cluster lives.
        data_dir: PathBuf,
        /// Owner of the data directory.
        owner_uid: u32,
    },

    /// A file-system operation failed.
    #[error("{action}: {source}")]
    Io {
        /// What was being done.
        action: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// An external command exited unsuccessfully.
    #[error("`{command}` failed ({status}){output}")]
    Command {
        /// The command line.
        command: String,
        /// Exit status description.
        status: String,
        /// Captured stdout/stderr, prefixed with a newline, or empty.
        output: String,
    },

    /// `pg_ctl start` failed or the server did not come up.
    #[error(
        "PostgreSQL in {data_dir} failed to start on port {port}: {reason}\n\
         --- last lines of {log_file} ---\n{log_tail}"
    )]
    StartFailed {
        /// Where the cluster lives.
        data_dir: PathBuf,
        /// Requested port.
        port: u16,
        /// What went wrong.
        reason: String,
        /// The server log.
        log_file: PathBuf,
        /// Its last 20 lines.
        log_tail: String,
    },

    /// A password file or its directory is unusable.
    #[error("PostgreSQL password file {path}: {reason}")]
    Secret {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// Setting up the service role (or converting an old cluster) as the superuser failed.
    #[error(
        "could not set up the roles of the PostgreSQL cluster in {data_dir} (as superuser \
         postgres, {via}): {detail}"
    )]
    Bootstrap {
        /// Where the cluster lives.
        data_dir: PathBuf,
        /// How we connected.
        via: String,
        /// What psql reported (passwords removed).
        detail: String,
    },

    /// After the managed `pg_hba.conf` was loaded the cluster still let `postgres` in over TCP
    /// without a password.
    #[error(
        "the PostgreSQL cluster in {data_dir} still accepts the superuser without a password on \
         127.0.0.1:{port} after its pg_hba.conf was replaced; refusing to use it"
    )]
    TrustStillAccepted {
        /// Where the cluster lives.
        data_dir: PathBuf,
        /// Its port.
        port: u16,
    },

    /// [`crate::ensure_running_for_tests`] was pointed at a password-protected cluster.
    #[error(
        "the PostgreSQL cluster in {data_dir} is password-protected (its pg_hba.conf is managed \
         by ensure_running); the test-only trust mode does not take it over"
    )]
    ProtectedCluster {
        /// Where the cluster lives.
        data_dir: PathBuf,
    },

    /// Another process held the start/stop lock for too long.
    #[error(
        "timed out after {waited_secs}s waiting for {path} (held by pid {holder}); if no other \
         process is starting or stopping this cluster, delete the file"
    )]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// Contents of the lock file (pid of the holder).
        holder: String,
        /// How long we waited.
        waited_secs: u64,
    },
}

impl PgEmbedError {
    pub(crate) fn io(action: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            action: action.into(),
            source,
        }
    }
}
