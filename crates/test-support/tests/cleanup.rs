//! A `TestApp` removes what it made (its databases, its tenant roles, its temporary files,
//! its servers) when it is dropped, whether its test ends, moves it or panics; an explicit
//! `cleanup` does the same once.

#![expect(clippy::unwrap_used, reason = "tests")]

use sqlx::{Connection, PgConnection};
use xiaobao_test_support::{TestApp, TestAppOptions, cluster_a_url, cluster_b_url};

/// How many databases named `name` and roles prefixed by it the cluster at `url` holds.
async fn leftovers(url: &str, name: &str) -> (i64, i64) {
    let mut conn = PgConnection::connect(url).await.unwrap();
    let databases = sqlx::query_scalar!(
        r#"select count(*) as "n!" from pg_database where datname = $1"#,
        name
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    let roles = sqlx::query_scalar!(
        r#"select count(*) as "n!" from pg_roles where rolname like $1 || '\_%'"#,
        name
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    (databases, roles)
}

/// An app with a tenant (so tenant roles exist) and a file in its temporary directory.
async fn app_with_everything(options: TestAppOptions) -> TestApp {
    let app = TestApp::start(options).await;
    app.tenant("alpha", "520000", "main").await;
    let dir = std::env::temp_dir().join(&app.name).join("objects");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("file"), b"x").unwrap();
    let (databases, roles) = leftovers(&cluster_a_url(), &app.name).await;
    assert_eq!(databases, 1);
    assert!(roles > 0, "the tenant made no role");
    app
}

fn assert_gone(name: &str, leftovers: (i64, i64)) {
    assert_eq!(leftovers, (0, 0), "database or roles of {name} left");
    assert!(
        !std::env::temp_dir().join(name).exists(),
        "temporary directory of {name} left"
    );
}

#[tokio::test]
async fn a_dropped_app_leaves_no_database_role_or_directory() {
    let app = app_with_everything(TestAppOptions::default()).await;
    let name = app.name.clone();
    drop(app);
    assert_gone(&name, leftovers(&cluster_a_url(), &name).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_dropped_on_a_multi_threaded_runtime_is_cleaned_up_on_every_cluster() {
    let app = app_with_everything(TestAppOptions {
        second_cluster: true,
        ..TestAppOptions::default()
    })
    .await;
    app.tenant("beta", "520000", "b").await;
    let name = app.name.clone();
    assert_eq!(leftovers(&cluster_b_url(), &name).await.0, 1);
    drop(app);
    assert_gone(&name, leftovers(&cluster_a_url(), &name).await);
    assert_eq!(leftovers(&cluster_b_url(), &name).await, (0, 0));
}

#[tokio::test]
async fn the_app_of_a_panicking_test_is_cleaned_up() {
    // The failing test on a runtime of its own, as `#[tokio::test]` runs it.
    let (tx, rx) = std::sync::mpsc::channel();
    let test = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let app = app_with_everything(TestAppOptions::default()).await;
            tx.send(app.name.clone()).unwrap();
            assert!(app.get("/healthz").await.status.is_success());
            panic!("the test fails with its app alive");
        })
    });
    assert!(test.join().is_err(), "the test did not panic");
    let name = rx.recv().unwrap();
    assert_gone(&name, leftovers(&cluster_a_url(), &name).await);
}

#[tokio::test]
async fn an_explicit_cleanup_removes_everything_and_the_drop_after_it_is_quiet() {
    let app = app_with_everything(TestAppOptions::default()).await;
    let name = app.name.clone();
    // `cleanup` consumes the app, whose drop then finds the work done.
    app.cleanup().await;
    assert_gone(&name, leftovers(&cluster_a_url(), &name).await);
}

/// Holds an app the way test fixtures do.
struct Fixture {
    app: TestApp,
}

#[tokio::test]
async fn a_moved_app_is_cleaned_up_where_its_last_owner_drops_it() {
    let app = app_with_everything(TestAppOptions::default()).await;
    let name = app.name.clone();
    let app = app.with_demo_tenants().await;
    let fixture = Fixture { app };
    assert!(fixture.app.get("/healthz").await.status.is_success());
    // Dropped on a thread with no runtime at all.
    std::thread::spawn(move || drop(fixture)).join().unwrap();
    assert_gone(&name, leftovers(&cluster_a_url(), &name).await);
}

#[tokio::test]
async fn a_forgotten_app_leaves_its_database_for_the_sweep() {
    let app = TestApp::init().await;
    let name = app.name.clone();
    std::mem::forget(app);
    assert_eq!(leftovers(&cluster_a_url(), &name).await.0, 1);
    // What the sweep of a later run would do after two hours.
    let mut conn = PgConnection::connect(&cluster_a_url()).await.unwrap();
    // Runtime SQL: DDL naming a database.
    sqlx::query(&format!("drop database \"{name}\" with (force)"))
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(leftovers(&cluster_a_url(), &name).await.0, 0);
    let _ = std::fs::remove_dir_all(std::env::temp_dir().join(&name));
}

#[tokio::test]
async fn the_servers_of_a_dropped_app_stop() {
    let app = TestApp::init().await;
    let base = app.serve().await;
    let addr = base.trim_start_matches("http://").to_string();
    assert!(tokio::net::TcpStream::connect(&addr).await.is_ok());
    drop(app);
    // The aborted server task ends (its listener closed) once the runtime gets to it.
    let mut refused = false;
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(&addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(refused, "{addr} still accepts connections");
}
