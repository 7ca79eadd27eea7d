//! A best-effort cross-process lock file, so two processes do not `initdb` the same
//! directory at once. (The running cluster itself is protected by PostgreSQL's
//! `postmaster.pid`; this only serialises our check-then-act sequences.)

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::PgEmbedError;

const WAIT: Duration = Duration::from_secs(300);
const POLL: Duration = Duration::from_millis(100);
/// A lock whose holder cannot be checked (no `/proc`) is considered stale after this long.
const UNVERIFIABLE_STALE_AFTER: Duration = Duration::from_secs(600);

/// Held while it lives; the file is removed on drop.
#[derive(Debug)]
pub struct FileLock {
    path: PathBuf,
    token: String,
}

impl FileLock {
    /// Creates `path` exclusively, waiting while a live process holds it. Returns `None`
    /// (and logs) if the directory is not writable, so read-only setups still work.
    pub fn acquire(path: &Path) -> Result<Option<Self>, PgEmbedError> {
        let token = format!(
            "{} {}",
            std::process::id(),
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        );
        let started = Instant::now();
        let mut announced = false;
        loop {
            match OpenOptions::new().write(true).create_new(true).open(path) {
                Ok(mut file) => {
                    file.write_all(token.as_bytes())
                        .map_err(|e| PgEmbedError::io(format!("writing {}", path.display()), e))?;
                    return Ok(Some(Self {
                        path: path.to_path_buf(),
                        token,
                    }));
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    let holder = std::fs::read_to_string(path).unwrap_or_default();
                    if is_stale(path, &holder) {
                        tracing::warn!(lock = %path.display(), holder = %holder.trim(), "removing stale lock file");
                        let _ = std::fs::remove_file(path);
                        continue;
                    }
                    if started.elapsed() > WAIT {
                        return Err(PgEmbedError::LockTimeout {
                            path: path.to_path_buf(),
                            holder: holder.trim().to_owned(),
                            waited_secs: WAIT.as_secs(),
                        });
                    }
                    if !announced {
                        tracing::info!(lock = %path.display(), holder = %holder.trim(), "waiting for another process");
                        announced = true;
                    }
                    std::thread::sleep(POLL);
                }
                Err(e) if e.kind() == ErrorKind::PermissionDenied => {
                    tracing::warn!(lock = %path.display(), "cannot create lock file; continuing without it");
                    return Ok(None);
                }
                Err(e) => {
                    return Err(PgEmbedError::io(format!("creating {}", path.display()), e));
                }
            }
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Only remove it if it is still ours (a stale-lock breaker may have replaced it).
        if std::fs::read_to_string(&self.path).is_ok_and(|t| t == self.token) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn is_stale(path: &Path, holder: &str) -> bool {
    let age = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|m| m.elapsed().ok())
        .unwrap_or_default();
    let pid = holder
        .split_whitespace()
        .next()
        .and_then(|p| p.parse::<u32>().ok());
    match pid {
        // Being written right now, or garbage: give the writer a moment.
        None => age > Duration::from_secs(5),
        Some(pid) if Path::new("/proc/self").exists() => {
            !Path::new(&format!("/proc/{pid}")).exists()
        }
        Some(_) => age > UNVERIFIABLE_STALE_AFTER,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_is_exclusive_and_released() {
        let dir = std::env::temp_dir().join(format!("pgembed-lock-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("x.lock");
        {
            let held = FileLock::acquire(&path)
                .expect("acquire")
                .expect("writable");
            assert!(path.exists());
            // A lock held by a dead pid is stale and gets broken.
            drop(held);
        }
        assert!(!path.exists());
        std::fs::write(&path, "4294967 1").expect("write");
        let again = FileLock::acquire(&path)
            .expect("acquire")
            .expect("writable");
        drop(again);
        assert!(!path.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
