//! Running external commands, directly or — when we are root — as the unprivileged
//! service user (PostgreSQL refuses to run as root).

use std::ffi::OsStr;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::PgEmbedError;

/// The system user clusters run as when the caller is root.
pub const SERVICE_USER: &str = "xiaobao-pg";

/// Environment variables that would make PostgreSQL tools look somewhere else or log in
/// differently.
const PG_ENV: &[&str] = &[
    "PGDATA",
    "PGPORT",
    "PGHOST",
    "PGHOSTADDR",
    "PGUSER",
    "PGDATABASE",
    "PGOPTIONS",
    "PGPASSWORD",
    "PGPASSFILE",
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGSYSCONFDIR",
    "PGSSLMODE",
    "PGREQUIRESSL",
    "PGGSSENCMODE",
    "PGREQUIREAUTH",
    "PGTARGETSESSIONATTRS",
];

/// Directories searched for system tools in addition to `PATH` (root's `PATH` in some
/// containers lacks the `sbin` ones).
const SYSTEM_DIRS: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// Whether the effective user is root: `/proc/self/status`, else `id -u`.
pub fn is_root() -> bool {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        for line in status.lines() {
            if let Some(rest) = line.strip_prefix("Uid:") {
                // real, effective, saved, fs
                if let Some(euid) = rest.split_whitespace().nth(1) {
                    return euid == "0";
                }
            }
        }
    }
    Command::new("id")
        .arg("-u")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Whether `path` is a regular file with an execute bit (following symlinks).
pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Finds `name` on `PATH`, then in the usual system directories.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(SYSTEM_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// Renders a command line for messages.
pub fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(OsStr::to_string_lossy)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `cmd` to completion with captured output; a non-zero exit is an error carrying the
/// output.
pub fn run(cmd: &mut Command) -> Result<Output, PgEmbedError> {
    let output = run_unchecked(cmd)?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(command_failed(cmd, &output))
    }
}

/// Runs `cmd` to completion with captured output, whatever its exit status.
pub fn run_unchecked(cmd: &mut Command) -> Result<Output, PgEmbedError> {
    tracing::debug!(command = %describe(cmd), "running");
    cmd.stdin(Stdio::null())
        .output()
        .map_err(|e| PgEmbedError::io(format!("could not run `{}`", describe(cmd)), e))
}

/// Runs `cmd` to completion with `input` on its standard input and captured output, whatever
/// its exit status. (For SQL with secrets: nothing of it is on the command line.)
pub fn run_unchecked_with_input(cmd: &mut Command, input: &[u8]) -> Result<Output, PgEmbedError> {
    let description = describe(cmd);
    tracing::debug!(command = %description, "running with input");
    let failed = |e| PgEmbedError::io(format!("could not run `{description}`"), e);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(failed)?;
    let writer = child.stdin.take().map(|mut stdin| {
        let input = input.to_vec();
        // On its own thread, so a child writing much output before reading cannot deadlock.
        std::thread::spawn(move || stdin.write_all(&input))
    });
    let output = child.wait_with_output().map_err(failed)?;
    if let Some(writer) = writer {
        match writer.join() {
            // A child that exits early closes the pipe; its exit status tells what happened.
            Ok(Ok(())) | Err(_) => {}
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            Ok(Err(e)) => return Err(failed(e)),
        }
    }
    Ok(output)
}

/// The error for a command that exited unsuccessfully.
pub fn command_failed(cmd: &Command, output: &Output) -> PgEmbedError {
    let mut text = String::from_utf8_lossy(&output.stdout)
        .trim_end()
        .to_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stderr = stderr.trim_end();
    if !stderr.is_empty() {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(stderr);
    }
    PgEmbedError::Command {
        command: describe(cmd),
        status: output.status.to_string(),
        output: if text.is_empty() {
            String::new()
        } else {
            format!(":\n{}", tail(&text, 40))
        },
    }
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// How PostgreSQL tools are run.
#[derive(Debug, Clone)]
pub enum Runner {
    /// As the current (non-root) user.
    Direct,
    /// We are root: through `runuser`/`setpriv` as [`SERVICE_USER`].
    AsServiceUser {
        /// Its uid.
        uid: u32,
        /// Its primary gid.
        gid: u32,
        /// `runuser` if present, else `setpriv`.
        switch: Switch,
    },
}

/// The tool used to drop privileges.
#[derive(Debug, Clone)]
pub enum Switch {
    Runuser(PathBuf),
    Setpriv(PathBuf),
}

impl Runner {
    /// `Direct` for a normal user; for root, makes sure [`SERVICE_USER`] exists.
    pub fn detect() -> Result<Self, PgEmbedError> {
        if !is_root() {
            return Ok(Self::Direct);
        }
        let switch = if let Some(runuser) = which("runuser") {
            Switch::Runuser(runuser)
        } else if let Some(setpriv) = which("setpriv") {
            Switch::Setpriv(setpriv)
        } else {
            return Err(PgEmbedError::Install(
                "running as root, but neither `runuser` nor `setpriv` (package util-linux) is \
                 available to run PostgreSQL as an unprivileged user"
                    .into(),
            ));
        };
        let (uid, gid) = ensure_service_user()?;
        Ok(Self::AsServiceUser { uid, gid, switch })
    }

    /// Whether commands run as the service user.
    pub fn is_service_user(&self) -> bool {
        matches!(self, Self::AsServiceUser { .. })
    }

    /// A command running `program` as the right user, in `/` (the caller's working
    /// directory may be unreadable for the service user), without `PG*` variables that would
    /// redirect the tools.
    pub fn command(&self, program: &Path) -> Command {
        let mut cmd = match self {
            Self::Direct => Command::new(program),
            Self::AsServiceUser {
                switch: Switch::Runuser(runuser),
                ..
            } => {
                let mut cmd = Command::new(runuser);
                cmd.args(["-u", SERVICE_USER, "--"]).arg(program);
                cmd
            }
            Self::AsServiceUser {
                uid,
                gid,
                switch: Switch::Setpriv(setpriv),
            } => {
                let mut cmd = Command::new(setpriv);
                cmd.arg(format!("--reuid={uid}"))
                    .arg(format!("--regid={gid}"))
                    .arg("--init-groups")
                    .arg("--")
                    .arg(program);
                cmd
            }
        };
        cmd.current_dir("/");
        for var in PG_ENV {
            cmd.env_remove(var);
        }
        cmd
    }

    /// The name of the OS user the tools run as: [`SERVICE_USER`], or the current user (`id -un`;
    /// `None` if it has no name).
    pub fn os_user_name(&self) -> Option<String> {
        if self.is_service_user() {
            return Some(SERVICE_USER.to_owned());
        }
        let output = Command::new("id")
            .arg("-un")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())?;
        let name = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        (!name.is_empty()).then_some(name)
    }

    /// Whether the service user can traverse into `dir` (always true for `Direct`).
    pub fn can_traverse(&self, dir: &Path) -> bool {
        if !self.is_service_user() {
            return true;
        }
        let mut cmd = self.command(Path::new("test"));
        cmd.arg("-x").arg(dir);
        run_unchecked(&mut cmd).is_ok_and(|o| o.status.success())
    }
}

/// Looks up (uid, gid) of `name` via `getent passwd`, else `/etc/passwd`.
pub fn lookup_user(name: &str) -> Option<(u32, u32)> {
    let from_getent = Command::new("getent")
        .args(["passwd", name])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    let text = match from_getent {
        Some(text) => text,
        None => std::fs::read_to_string("/etc/passwd").ok()?,
    };
    text.lines().find_map(|line| parse_passwd_line(line, name))
}

fn parse_passwd_line(line: &str, name: &str) -> Option<(u32, u32)> {
    let mut fields = line.split(':');
    if fields.next()? != name {
        return None;
    }
    let _password = fields.next()?;
    let uid = fields.next()?.parse().ok()?;
    let gid = fields.next()?.parse().ok()?;
    Some((uid, gid))
}

/// Creates [`SERVICE_USER`] if it does not exist yet; returns its (uid, gid).
fn ensure_service_user() -> Result<(u32, u32), PgEmbedError> {
    if let Some(ids) = lookup_user(SERVICE_USER) {
        return Ok(ids);
    }
    let Some(useradd) = which("useradd") else {
        return Err(PgEmbedError::Install(format!(
            "running as root and the system user {SERVICE_USER} does not exist, but `useradd` \
             is not available to create it; create it by hand"
        )));
    };
    let nologin = ["/usr/sbin/nologin", "/sbin/nologin"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("/bin/false");
    let mut cmd = Command::new(useradd);
    cmd.args(["--system", "--user-group", "--no-create-home", "--shell"])
        .arg(nologin)
        .arg(SERVICE_USER);
    tracing::info!(
        user = SERVICE_USER,
        "creating system user to run PostgreSQL as"
    );
    let result = run(&mut cmd);
    // Another process may have created it concurrently; what matters is that it exists now.
    match (lookup_user(SERVICE_USER), result) {
        (Some(ids), _) => Ok(ids),
        (None, Err(e)) => Err(e),
        (None, Ok(_)) => Err(PgEmbedError::Install(format!(
            "`useradd` succeeded but user {SERVICE_USER} cannot be looked up"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_passwd_lines() {
        let line = "xiaobao-pg:x:998:997::/home/xiaobao-pg:/usr/sbin/nologin";
        assert_eq!(parse_passwd_line(line, "xiaobao-pg"), Some((998, 997)));
        assert_eq!(parse_passwd_line(line, "xiaobao"), None);
        assert_eq!(parse_passwd_line("broken", "broken"), None);
    }

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail("a\nb\nc", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
        assert_eq!(tail("", 5), "");
    }
}
