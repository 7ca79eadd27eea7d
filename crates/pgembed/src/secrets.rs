//! The passwords of a password-protected cluster: generated once, kept in files readable only
//! by their owner in a private directory next to the data directory.

use std::ffi::OsString;
use std::fs::{DirBuilder, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rand::Rng as _;

use crate::PgEmbedError;
use crate::proc::Runner;

/// The superuser's password (one line) in [`secrets_dir`].
pub const SUPERUSER_PASSWORD_FILE: &str = "superuser-password";
/// The service role's password (one line) in [`secrets_dir`].
pub const SERVICE_PASSWORD_FILE: &str = "service-password";
/// A libpq password file (`PGPASSFILE`) for both roles on `127.0.0.1`, in [`secrets_dir`];
/// derived from the two password files and rewritten when they change.
pub const PGPASS_FILE: &str = "pgpass";

/// Length of a generated password (ASCII letters and digits: about 190 bits).
const PASSWORD_LEN: usize = 32;
/// Shortest password accepted from a file.
const MIN_PASSWORD_LEN: usize = 24;

/// Where the passwords of the cluster in `data_dir` are kept: `<data_dir>.secrets`, a sibling
/// of the data directory (`var/pg` → `var/pg.secrets`). Pass the directory the cluster really
/// lives in ([`crate::RunningCluster::data_dir`], which may be the fallback location).
pub fn secrets_dir(data_dir: &Path) -> PathBuf {
    let mut name: OsString = data_dir
        .file_name()
        .map_or_else(|| OsString::from("cluster"), ToOwned::to_owned);
    name.push(".secrets");
    data_dir.parent().unwrap_or(Path::new("/")).join(name)
}

fn secret_err(path: &Path, reason: impl Into<String>) -> PgEmbedError {
    PgEmbedError::Secret {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> PgEmbedError {
    let path = path.to_path_buf();
    move |e| PgEmbedError::io(format!("{action} {}", path.display()), e)
}

/// The secrets directory of one cluster, checked: a real directory (not a symlink), mode 0700,
/// owned by the cluster's OS user (the same owner as the data directory).
pub(crate) struct Secrets {
    dir: PathBuf,
    /// uid/gid files are handed to (root runs the cluster as the service user).
    chown_to: Option<(u32, u32)>,
}

impl Secrets {
    /// Creates or checks [`secrets_dir`] of `data_dir` (which must exist and belong to the
    /// cluster's OS user).
    pub(crate) fn open(data_dir: &Path, runner: &Runner) -> Result<Self, PgEmbedError> {
        let dir = secrets_dir(data_dir);
        let chown_to = match runner {
            Runner::AsServiceUser { uid, gid, .. } => Some((*uid, *gid)),
            Runner::Direct => None,
        };
        let owner_uid = std::fs::metadata(data_dir)
            .map_err(io_err("inspecting", data_dir))?
            .uid();
        let secrets = Self { dir, chown_to };
        match std::fs::symlink_metadata(&secrets.dir) {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                DirBuilder::new()
                    .mode(0o700)
                    .create(&secrets.dir)
                    .map_err(io_err("creating", &secrets.dir))?;
                secrets.hand_over(&secrets.dir)?;
            }
            Err(e) => return Err(io_err("inspecting", &secrets.dir)(e)),
            Ok(meta) => {
                if !meta.is_dir() {
                    return Err(secret_err(
                        &secrets.dir,
                        "exists but is not a directory (a symlink is not accepted)",
                    ));
                }
                if meta.uid() != owner_uid {
                    if secrets.chown_to.is_some() && meta.uid() == 0 {
                        secrets.hand_over(&secrets.dir)?;
                    } else {
                        return Err(secret_err(
                            &secrets.dir,
                            format!(
                                "is owned by uid {}, not by uid {owner_uid}, the owner of the data \
                                 directory; remove it or fix its owner",
                                meta.uid()
                            ),
                        ));
                    }
                }
                if meta.mode() & 0o077 != 0 {
                    std::fs::set_permissions(&secrets.dir, std::fs::Permissions::from_mode(0o700))
                        .map_err(io_err("setting permissions of", &secrets.dir))?;
                }
            }
        }
        Ok(secrets)
    }

    /// The directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// As root: gives `path` to the service user.
    fn hand_over(&self, path: &Path) -> Result<(), PgEmbedError> {
        if let Some((uid, gid)) = self.chown_to {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .map_err(io_err("changing the owner of", path))?;
        }
        Ok(())
    }

    /// The password kept in `name`, generated (and written, mode 0600) when the file does not
    /// exist yet. Returns it and whether it was generated now.
    pub(crate) fn password(&self, name: &str) -> Result<(String, bool), PgEmbedError> {
        let path = self.dir.join(name);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) => {
                self.check_file(&path, &meta)?;
                let text = std::fs::read_to_string(&path).map_err(io_err("reading", &path))?;
                let password = text.trim_end_matches(['\n', '\r']);
                check_password(&path, password)?;
                Ok((password.to_owned(), false))
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let password = generate_password();
                self.write(name, &format!("{password}\n"))?;
                tracing::info!(file = %path.display(), "generated a PostgreSQL password");
                Ok((password, true))
            }
            Err(e) => Err(io_err("inspecting", &path)(e)),
        }
    }

    /// Writes `name` with `contents` unless it already holds exactly that; returns its path.
    pub(crate) fn write_if_changed(
        &self,
        name: &str,
        contents: &str,
    ) -> Result<PathBuf, PgEmbedError> {
        let path = self.dir.join(name);
        if let Ok(meta) = std::fs::symlink_metadata(&path) {
            self.check_file(&path, &meta)?;
            if std::fs::read_to_string(&path).is_ok_and(|current| current == contents) {
                return Ok(path);
            }
        }
        self.write(name, contents)?;
        Ok(path)
    }

    /// A regular file; mode and owner corrected when they are wider or wrong.
    fn check_file(&self, path: &Path, meta: &std::fs::Metadata) -> Result<(), PgEmbedError> {
        if !meta.is_file() {
            return Err(secret_err(
                path,
                "is not a regular file (a symlink is not accepted)",
            ));
        }
        if meta.mode() & 0o077 != 0 {
            tracing::warn!(file = %path.display(), "password file was readable by others; now 0600");
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .map_err(io_err("setting permissions of", path))?;
        }
        if let Some((uid, _)) = self.chown_to
            && meta.uid() != uid
        {
            self.hand_over(path)?;
        }
        Ok(())
    }

    /// Atomically (temporary file, then rename) writes `name`, mode 0600.
    fn write(&self, name: &str, contents: &str) -> Result<(), PgEmbedError> {
        let path = self.dir.join(name);
        let tmp = self.dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io_err("creating", &tmp))?;
        let written = file
            .write_all(contents.as_bytes())
            .and_then(|()| file.sync_all());
        drop(file);
        let result = written
            .map_err(io_err("writing", &tmp))
            .and_then(|()| self.hand_over(&tmp))
            .and_then(|()| std::fs::rename(&tmp, &path).map_err(io_err("renaming", &tmp)));
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }
}

/// 32 ASCII letters and digits from the thread-local CSPRNG (ChaCha, seeded by the OS).
fn generate_password() -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(PASSWORD_LEN)
        .map(char::from)
        .collect()
}

/// Passwords go into URLs and `pgpass` unescaped: letters and digits only, and long enough.
fn check_password(path: &Path, password: &str) -> Result<(), PgEmbedError> {
    if password.len() < MIN_PASSWORD_LEN || !password.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(secret_err(
            path,
            format!(
                "must hold one password of at least {MIN_PASSWORD_LEN} ASCII letters and digits; \
                 delete the file to have a new one generated (the cluster's role is given the new \
                 password at the next start)"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_dir_is_a_sibling() {
        assert_eq!(
            secrets_dir(Path::new("/srv/xiaobao/var/pg")),
            Path::new("/srv/xiaobao/var/pg.secrets")
        );
        assert_eq!(
            secrets_dir(Path::new("/var/lib/xiaobao-pg/root_src_var_pg")),
            Path::new("/var/lib/xiaobao-pg/root_src_var_pg.secrets")
        );
    }

    #[test]
    fn generated_passwords_are_long_random_and_accepted() {
        let a = generate_password();
        let b = generate_password();
        assert_eq!(a.len(), PASSWORD_LEN);
        assert_ne!(a, b);
        assert!(check_password(Path::new("x"), &a).is_ok());
        assert!(check_password(Path::new("x"), "short").is_err());
        assert!(check_password(Path::new("x"), &format!("{a}:@")).is_err());
    }

    #[test]
    fn files_are_private_and_reused() {
        let root = std::env::temp_dir().join(format!(
            "pgembed-secrets-test-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or_default()
        ));
        let data_dir = root.join("pg");
        std::fs::create_dir_all(&data_dir).expect("data dir");
        let secrets = Secrets::open(&data_dir, &Runner::Direct).expect("open");
        let mode = |p: &Path| std::fs::metadata(p).expect("stat").mode() & 0o777;
        assert_eq!(mode(secrets.dir()), 0o700);
        let (first, generated) = secrets.password("one").expect("generate");
        assert!(generated);
        assert_eq!(mode(&secrets.dir().join("one")), 0o600);
        let (again, generated) = secrets.password("one").expect("reuse");
        assert!(!generated);
        assert_eq!(again, first);
        // Widened permissions are narrowed again.
        std::fs::set_permissions(secrets.dir(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let reopened = Secrets::open(&data_dir, &Runner::Direct).expect("reopen");
        assert_eq!(mode(reopened.dir()), 0o700);
        let path = reopened.write_if_changed("pgpass", "a\n").expect("write");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "a\n");
        let _ = std::fs::remove_dir_all(&root);
    }
}
