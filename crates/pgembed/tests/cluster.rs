//! Starts real clusters in temporary directories on free ports.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use xiaobao_pgembed::{
    ClusterSpec, FALLBACK_ROOT, PGPASS_FILE, PgEmbedError, RunningCluster, SERVICE_PASSWORD_FILE,
    SERVICE_ROLE, SUPERUSER_PASSWORD_FILE, ensure_running, ensure_running_for_tests, fallback_dir,
    locate_binaries, secrets_dir, stop,
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

fn psql_binary() -> PathBuf {
    locate_binaries().expect("binaries").tool("psql")
}

/// Runs `sql` with the cluster's `psql` (as this process's user) connected over TCP as
/// `user`, with `password` or none at all; stdout, or stderr on failure.
fn psql_as(port: u16, user: &str, password: Option<&str>, sql: &str) -> Result<String, String> {
    let mut cmd = Command::new(psql_binary());
    cmd.args([
        "-X",
        "-q",
        "-w",
        "-tA",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        "127.0.0.1",
    ])
    .args([
        "-p",
        &port.to_string(),
        "-U",
        user,
        "-d",
        "postgres",
        "-c",
        sql,
    ])
    .env("PGPASSFILE", "/nonexistent/pgpass")
    .env("PGCONNECT_TIMEOUT", "10");
    for var in ["PGPASSWORD", "PGSERVICE", "PGSSLMODE", "PGOPTIONS"] {
        cmd.env_remove(var);
    }
    if let Some(password) = password {
        // Only inside tests: the environment of this short-lived process.
        cmd.env("PGPASSWORD", password);
    }
    let output = cmd.output().expect("run psql");
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
    }
}

fn secret(running: &RunningCluster, name: &str) -> String {
    let dir = running.secrets_dir.as_ref().expect("a secrets dir");
    std::fs::read_to_string(dir.join(name))
        .expect("read password file")
        .trim()
        .to_owned()
}

fn service_password(running: &RunningCluster) -> String {
    secret(running, SERVICE_PASSWORD_FILE)
}

fn superuser_password(running: &RunningCluster) -> String {
    secret(running, SUPERUSER_PASSWORD_FILE)
}

/// Runs `sql` as the service role, with its password from its file.
fn as_service(running: &RunningCluster, sql: &str) -> String {
    psql_as(
        running.port,
        SERVICE_ROLE,
        Some(&service_password(running)),
        sql,
    )
    .unwrap_or_else(|e| panic!("as {SERVICE_ROLE}: {sql}: {e}"))
}

/// Runs `sql` as the superuser, with its password from its file.
fn as_superuser(running: &RunningCluster, sql: &str) -> String {
    psql_as(
        running.port,
        "postgres",
        Some(&superuser_password(running)),
        sql,
    )
    .unwrap_or_else(|e| panic!("as postgres: {sql}: {e}"))
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

/// No trust, no password-less superuser, passwords that work.
fn assert_password_protected(running: &RunningCluster) {
    let port = running.port;
    let refused = psql_as(port, "postgres", None, "select 1").expect_err("no password");
    assert!(refused.contains("password"), "{refused}");
    let refused = psql_as(
        port,
        "postgres",
        Some("not-the-password-at-all-x"),
        "select 1",
    )
    .expect_err("wrong password");
    assert!(
        refused.contains("password authentication failed"),
        "{refused}"
    );
    assert!(
        psql_as(port, SERVICE_ROLE, None, "select 1").is_err(),
        "service role without a password"
    );
    assert_eq!(as_superuser(running, "select 1"), "1");
    assert_eq!(as_service(running, "select 1"), "1");
    let hba = std::fs::read_to_string(running.data_dir.join("pg_hba.conf")).expect("pg_hba");
    let rules: Vec<&str> = hba
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .collect();
    assert!(!hba.contains("trust"), "{hba}");
    assert!(
        rules
            .iter()
            .all(|l| l.ends_with("scram-sha-256") || l.contains("peer map=")),
        "{hba}"
    );
}

fn assert_private_files(running: &RunningCluster) {
    let dir = running.secrets_dir.as_ref().expect("a secrets dir");
    assert_eq!(dir, &secrets_dir(&running.data_dir));
    assert_eq!(mode(dir), 0o700, "{}", dir.display());
    let owner = std::fs::metadata(&running.data_dir).expect("stat").uid();
    assert_eq!(std::fs::metadata(dir).expect("stat").uid(), owner);
    for name in [SUPERUSER_PASSWORD_FILE, SERVICE_PASSWORD_FILE, PGPASS_FILE] {
        let path = dir.join(name);
        assert_eq!(mode(&path), 0o600, "{}", path.display());
        assert_eq!(std::fs::metadata(&path).expect("stat").uid(), owner);
    }
    for password in [superuser_password(running), service_password(running)] {
        assert!(password.len() >= 24, "password too short");
        assert!(password.chars().all(|c| c.is_ascii_alphanumeric()));
    }
    assert_ne!(superuser_password(running), service_password(running));
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
    assert_eq!(first.secrets_dir, Some(root.join("pg.secrets")));
    assert_eq!(
        first.url,
        format!(
            "postgres://{SERVICE_ROLE}:{}@127.0.0.1:{}/postgres",
            service_password(&first),
            spec.port
        )
    );
    assert_eq!(
        first.superuser_url,
        format!(
            "postgres://postgres:{}@127.0.0.1:{}/postgres",
            superuser_password(&first),
            spec.port
        )
    );
    assert!(spec.data_dir.join("PG_VERSION").is_file());
    TcpStream::connect((Ipv4Addr::LOCALHOST, spec.port)).expect("tcp connect");
    assert_eq!(as_service(&first, "select 1"), "1");

    let second = ensure_running(&spec).expect("reuse");
    assert!(!second.started_now);
    assert_eq!(second.data_dir, first.data_dir);
    assert_eq!(second.url, first.url, "the password files are reused");
    assert_eq!(second.superuser_url, first.superuser_url);
    assert_password_protected(&second);

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

    // Starting again reuses the initialised directory and the passwords.
    let third = ensure_running(&spec).expect("restart");
    assert!(third.started_now);
    assert_eq!(third.url, first.url);
    assert_eq!(as_service(&third, "select 1"), "1");
    assert_password_protected(&third);
    assert!(stop(&spec).expect("final stop"));
}

#[test]
fn a_fresh_cluster_wants_passwords_and_serves_the_service_role() {
    let root = temp_dir("fresh");
    let spec = ClusterSpec {
        data_dir: root.join("pg"),
        port: free_port(),
    };
    let _cleanup = Cleanup {
        spec: spec.clone(),
        dirs: vec![root.clone()],
    };
    let running = ensure_running(&spec).expect("start");
    assert_password_protected(&running);
    assert_private_files(&running);

    // Not a superuser, but what external mode's role is: CREATEROLE, CREATE on the database.
    assert_eq!(
        as_service(
            &running,
            "select rolsuper, rolcreaterole, rolcanlogin, has_database_privilege('postgres', \
             'create') from pg_roles where rolname = current_user"
        ),
        "f|t|t|t"
    );
    // What provisioning does as that role: the catalog schema, a tenant role and its schema.
    as_service(
        &running,
        "create schema if not exists control; revoke all on schema control from public; \
         create table control.tenants (tenant_id bigint generated always as identity primary \
         key, slug text not null); \
         create role pgembed_t_demo nologin noinherit; grant pgembed_t_demo to current_user; \
         create schema if not exists t_demo authorization pgembed_t_demo; \
         revoke all on schema t_demo from public; \
         set role pgembed_t_demo; create table t_demo.rows (i int); \
         insert into t_demo.rows values (1); reset role",
    );
    assert_eq!(
        as_service(
            &running,
            "set role pgembed_t_demo; select count(*) from t_demo.rows"
        ),
        "1"
    );
    let denied = psql_as(
        running.port,
        SERVICE_ROLE,
        Some(&service_password(&running)),
        "select * from pg_authid",
    )
    .expect_err("not a superuser");
    assert!(denied.contains("permission denied"), "{denied}");

    // The cluster's socket: only its own OS user, by peer authentication.
    if is_root() {
        let output = Command::new(psql_binary())
            .args(["-X", "-w", "-tA", "-h"])
            .arg(&running.data_dir)
            .args([
                "-p",
                &running.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
            ])
            .args(["-c", "select 1"])
            .env("PGPASSFILE", "/nonexistent/pgpass")
            .env_remove("PGPASSWORD")
            .output()
            .expect("run psql");
        assert!(!output.status.success(), "root got in over the socket");
    }

    // Debug never shows the passwords.
    let debug = format!("{running:?}");
    assert!(!debug.contains(&service_password(&running)), "{debug}");
    assert!(!debug.contains(&superuser_password(&running)), "{debug}");
    assert!(
        debug.contains("xiaobao_service:[redacted]@127.0.0.1"),
        "{debug}"
    );

    // The test-only trust mode does not take a protected cluster over.
    assert!(matches!(
        ensure_running_for_tests(&spec),
        Err(PgEmbedError::ProtectedCluster { .. })
    ));
    assert_password_protected(&running);
    assert!(stop(&spec).expect("stop"));
}

/// What an earlier version left: a trust cluster on which the service, as superuser, made the
/// catalog, the audit anchor and a tenant.
const OLD_SERVICE_OBJECTS: &str = "\
    create role pgembed_t_demo nologin noinherit; \
    create schema control; \
    create table control.tenants (tenant_id bigint generated always as identity primary key, \
        slug text not null); \
    create table control.things (id serial primary key); \
    create sequence control.counter; \
    create view control.tenant_slugs as select slug from control.tenants; \
    create function control.answer() returns int language sql as 'select 42'; \
    create type control.colour as enum ('red', 'green'); \
    insert into control.tenants (slug) values ('demo'); \
    create schema audit_anchor; \
    create table audit_anchor.keys (schema_name text primary key, key bytea); \
    create function audit_anchor.advance() returns trigger language plpgsql security definer \
        as $$ begin return null; end $$; \
    create schema t_demo authorization pgembed_t_demo; \
    revoke all on schema t_demo from public; \
    set role pgembed_t_demo; \
    create table t_demo.rows (i int); \
    insert into t_demo.rows values (1); \
    reset role";

/// The old cluster's objects now belong to (or are reachable by) the service role.
fn assert_handed_over(running: &RunningCluster) {
    let not_ours = as_superuser(
        running,
        "select string_agg(what, ', ') from ( \
           select nspname as what from pg_namespace \
            where nspname in ('control', 'audit_anchor') \
              and nspowner <> 'xiaobao_service'::regrole \
           union all select oid::regclass::text from pg_class \
            where relnamespace in ('control'::regnamespace, 'audit_anchor'::regnamespace) \
              and relkind in ('r', 'S', 'v', 'i') and relowner <> 'xiaobao_service'::regrole \
           union all select oid::regprocedure::text from pg_proc \
            where pronamespace in ('control'::regnamespace, 'audit_anchor'::regnamespace) \
              and proowner <> 'xiaobao_service'::regrole \
           union all select oid::regtype::text from pg_type \
            where typnamespace = 'control'::regnamespace and typtype = 'e' \
              and typowner <> 'xiaobao_service'::regrole) objects",
    );
    assert_eq!(not_ours, "", "still owned by someone else");
    assert_eq!(
        as_service(running, "select pg_has_role('pgembed_t_demo', 'member')"),
        "t"
    );
    assert_eq!(
        as_service(
            running,
            "set role pgembed_t_demo; select count(*) from t_demo.rows"
        ),
        "1"
    );
    as_service(
        running,
        "insert into control.tenants (slug) values ('two'); insert into control.things \
         default values; select nextval('control.counter'); select control.answer(); \
         select count(*) from control.tenant_slugs; \
         create table if not exists audit_anchor.anchors (schema_name text primary key)",
    );
    assert_eq!(
        as_service(
            running,
            "select rolsuper from pg_roles where rolname = current_user"
        ),
        "f"
    );
}

#[test]
fn an_old_trust_cluster_is_converted_at_its_next_start() {
    let root = temp_dir("old");
    let spec = ClusterSpec {
        data_dir: root.join("pg"),
        port: free_port(),
    };
    let _cleanup = Cleanup {
        spec: spec.clone(),
        dirs: vec![root.clone()],
    };
    // The way earlier versions made it: initdb --auth=trust, the service as superuser.
    let old = ensure_running_for_tests(&spec).expect("old-style start");
    assert_eq!(
        old.url,
        format!("postgres://postgres@127.0.0.1:{}/postgres", spec.port)
    );
    assert_eq!(old.secrets_dir, None);
    psql_as(spec.port, "postgres", None, OLD_SERVICE_OBJECTS).expect("old objects");
    assert!(stop(&spec).expect("stop old"));
    assert!(!secrets_dir(&spec.data_dir).exists());

    let running = ensure_running(&spec).expect("converting start");
    assert!(running.started_now);
    assert_password_protected(&running);
    assert_private_files(&running);
    assert_handed_over(&running);

    // Every step is idempotent: the next start changes nothing and keeps the passwords.
    assert!(stop(&spec).expect("stop"));
    let again = ensure_running(&spec).expect("next start");
    assert_eq!(again.url, running.url);
    assert_password_protected(&again);
    assert_handed_over(&again);
    assert!(stop(&spec).expect("final stop"));
}

#[test]
fn a_running_old_cluster_without_a_socket_is_converted_over_tcp() {
    // A data directory path too long for a Unix socket: the bootstrap goes over TCP, first
    // under the old trust rules, then with the superuser's password file.
    let root = temp_dir("long");
    let spec = ClusterSpec {
        data_dir: root.join("d".repeat(70)).join("pg"),
        port: free_port(),
    };
    assert!(spec.data_dir.as_os_str().len() > 100);
    let _cleanup = Cleanup {
        spec: spec.clone(),
        dirs: vec![root.clone()],
    };
    ensure_running_for_tests(&spec).expect("old-style start");
    psql_as(spec.port, "postgres", None, OLD_SERVICE_OBJECTS).expect("old objects");

    // Converted while it runs: the new pg_hba.conf is loaded by a reload.
    let running = ensure_running(&spec).expect("converting reuse");
    assert!(!running.started_now);
    assert_password_protected(&running);
    assert_private_files(&running);
    assert_handed_over(&running);

    assert!(stop(&spec).expect("stop"));
    let again = ensure_running(&spec).expect("start over TCP with the password file");
    assert!(again.started_now);
    assert_eq!(again.url, running.url);
    assert_password_protected(&again);
    assert_handed_over(&again);
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
        dirs: vec![root.clone(), fallback.clone(), secrets_dir(&fallback)],
    };

    let running = ensure_running(&spec).expect("start in fallback");
    assert!(running.started_now);
    assert_eq!(running.data_dir, fallback);
    assert!(running.data_dir.starts_with(FALLBACK_ROOT));
    assert!(fallback.join("PG_VERSION").is_file());
    assert_eq!(running.secrets_dir, Some(secrets_dir(&fallback)));
    assert_private_files(&running);
    assert_eq!(as_service(&running, "select 1"), "1");

    let again = ensure_running(&spec).expect("reuse");
    assert!(!again.started_now);
    assert_eq!(again.data_dir, fallback);
    assert_eq!(again.url, running.url);
    assert!(stop(&spec).expect("stop"));
    assert!(!stop(&spec).expect("stop again"));
}
