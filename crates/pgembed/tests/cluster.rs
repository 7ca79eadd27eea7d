//! Starts real clusters in temporary directories on free ports.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;

use xiaobao_pgembed::{
    ClusterSpec, FALLBACK_ROOT, PgEmbedError, ensure_running, fallback_dir, locate_binaries, stop,
};

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind port 0");
    listener.local_addr().expect("local addr").port()
}

fn temp_dir(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let dir = PathBuf::from("/tmp").join(format!(
        "xiaobao-pgembed-{tag}-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Stops the cluster and removes its directories even when an assertion fails.
struct Cleanup {
    spec: ClusterSpec,
    dirs: Vec<PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = stop(&self.spec);
        for dir in &self.dirs {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn psql_select_1(port: u16) -> String {
    let bins = locate_binaries().expect("binaries");
    let psql = if Path::new("/usr/bin/psql").exists() {
        PathBuf::from("/usr/bin/psql")
    } else {
        bins.tool("psql")
    };
    let output = Command::new(psql)
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres"])
        .args(["-d", "postgres", "-w", "-tAc", "select 1"])
        .output()
        .expect("run psql");
    assert!(
        output.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn start_reuse_stop_cycle() {
    let root = temp_dir("cycle");
    let spec = ClusterSpec {
        data_dir: root.join("pg"),
        port: free_port(),
    };
    let _cleanup = Cleanup {
        spec: spec.clone(),
        dirs: vec![root.clone()],
    };

    let first = ensure_running(&spec).expect("start");
    assert!(first.started_now);
    assert_eq!(first.port, spec.port);
    assert_eq!(first.data_dir, spec.data_dir);
    assert_eq!(
        first.url,
        format!("postgres://postgres@127.0.0.1:{}/postgres", spec.port)
    );
    assert!(spec.data_dir.join("PG_VERSION").is_file());
    TcpStream::connect((Ipv4Addr::LOCALHOST, spec.port)).expect("tcp connect");
    assert_eq!(psql_select_1(spec.port), "1");

    let second = ensure_running(&spec).expect("reuse");
    assert!(!second.started_now);
    assert_eq!(second.data_dir, first.data_dir);

    // A different port for the running cluster is refused, not silently ignored.
    let other = ClusterSpec {
        port: free_port(),
        ..spec.clone()
    };
    assert!(matches!(
        ensure_running(&other),
        Err(PgEmbedError::RunningOnOtherPort { .. })
    ));

    assert!(stop(&spec).expect("stop"), "was running");
    assert!(!stop(&spec).expect("stop again"), "already stopped");
    assert!(TcpStream::connect((Ipv4Addr::LOCALHOST, spec.port)).is_err());

    // Starting again reuses the initialised directory.
    let third = ensure_running(&spec).expect("restart");
    assert!(third.started_now);
    assert_eq!(psql_select_1(spec.port), "1");
    assert!(stop(&spec).expect("final stop"));
}

#[test]
fn port_taken_by_someone_else_is_a_clear_error() {
    let root = temp_dir("busy");
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let spec = ClusterSpec {
        data_dir: root.join("pg"),
        port,
    };
    let _cleanup = Cleanup {
        spec: spec.clone(),
        dirs: vec![root.clone()],
    };
    let err = ensure_running(&spec).expect_err("port is busy");
    assert!(matches!(err, PgEmbedError::PortInUse { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains(&port.to_string()), "{message}");
    assert!(
        message.contains("XIAOBAO_DATABASE__EMBEDDED_PORT"),
        "{message}"
    );
    drop(listener);
}

#[test]
fn unreachable_dir_falls_back_when_root() {
    if !is_root() {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let root = temp_dir("private");
    let private = root.join("home");
    std::fs::create_dir_all(&private).expect("mkdir");
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let spec = ClusterSpec {
        data_dir: private.join("repo/var/pg"),
        port: free_port(),
    };
    let fallback = fallback_dir(&spec.data_dir);
    let _cleanup = Cleanup {
        spec: spec.clone(),
        dirs: vec![root.clone(), fallback.clone()],
    };

    let running = ensure_running(&spec).expect("start in fallback");
    assert!(running.started_now);
    assert_eq!(running.data_dir, fallback);
    assert!(running.data_dir.starts_with(FALLBACK_ROOT));
    assert!(fallback.join("PG_VERSION").is_file());
    assert_eq!(psql_select_1(spec.port), "1");

    let again = ensure_running(&spec).expect("reuse");
    assert!(!again.started_now);
    assert_eq!(again.data_dir, fallback);
    assert!(stop(&spec).expect("stop"));
    assert!(!stop(&spec).expect("stop again"));
}
