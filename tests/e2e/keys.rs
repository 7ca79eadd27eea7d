//! The keyring: the embedded default's keyring file, external mode's required keys, the key
//! checks in the catalog, links and codes across instances and restarts, ID key rotation and
//! `keys reseal`; and the demo accounts, which only the demo's own tenants get.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::Executor;
use xiaobao_config::{Config, DatabaseMode, Secret};
use xiaobao_domain::{AccountType, ResidentId, Role};
use xiaobao_http::AppState;
use xiaobao_identity::CodePurpose;
use xiaobao_roster::IdSealer;
use xiaobao_storage::DownloadToken;
use xiaobao_test_support::{AccountSpec, TEST_ID_KEY, TestApp};

/// A directory of this test's own, removed with the app when it is dropped.
fn scratch(app: &TestApp, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(&app.name).join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The app's configuration in the embedded default's shape (keys from the keyring file under
/// `dir`), still on the app's test database.
fn embedded_config(app: &TestApp, dir: &Path) -> Config {
    let mut config = (*app.state.config).clone();
    config.database.mode = DatabaseMode::Embedded;
    config.database.embedded_dir = dir.join("pg");
    config.personal_data.id_key = None;
    config.storage.download_key = None;
    config.auth.secret_key = None;
    config
}

/// The state the service builds from `config`, or its refusal (the whole error chain).
async fn build(app: &TestApp, config: &Config) -> Result<AppState, String> {
    xiaobao::build_state(config.clone(), &app.urls)
        .await
        .map_err(|e| format!("{e:#}"))
}

async fn stop(state: AppState) {
    state.db.clusters.close().await;
}

/// The key checks the app's start recorded are removed, as on a database no start has used.
async fn forget_key_checks(app: &TestApp) {
    let mut conn = app.superuser("main").await;
    conn.execute("delete from control.key_checks")
        .await
        .unwrap();
}

fn error_text(result: Result<AppState, String>) -> String {
    match result {
        Ok(_) => panic!("the start was not refused"),
        Err(e) => e,
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A department account in a new tenant `henan`.
async fn henan_account(app: &TestApp) -> i64 {
    app.tenant("henan", "410000", "main").await;
    app.account(
        "henan",
        AccountSpec::new("金水区教育局", "410105", &[Role::CountyDepartment]),
    )
    .await
    .account_id
}

/// What one instance hands out: a set-password link, an SMS code, a download token.
struct Issued {
    link: String,
    code: String,
    download: String,
}

async fn issue(state: &AppState, account_id: i64) -> Issued {
    let tenant = state.db.active_tenant("henan").unwrap();
    let mut tx = state.db.tenant_tx(&tenant).await.unwrap();
    let codes = &state.auth.codes;
    let ttl = chrono::Duration::hours(1);
    let link = codes
        .issue_link_token(&mut tx, account_id, CodePurpose::SetPassword, ttl)
        .await
        .unwrap();
    let code = codes
        .issue_sms_code(&mut tx, account_id, CodePurpose::ResetPassword, ttl)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let download = DownloadToken::issue(
        &state.download_key,
        "henan",
        42,
        state.clock.now(),
        Duration::from_secs(300),
    )
    .unwrap();
    Issued {
        link,
        code,
        download,
    }
}

/// `state` accepts (and uses up) what another instance issued.
async fn accept(state: &AppState, account_id: i64, issued: &Issued) {
    let tenant = state.db.active_tenant("henan").unwrap();
    let mut tx = state.db.tenant_tx(&tenant).await.unwrap();
    let codes = &state.auth.codes;
    assert_eq!(
        codes
            .link_account(&mut tx, CodePurpose::SetPassword, &issued.link)
            .await
            .unwrap(),
        Some(account_id),
        "the set-password link is accepted"
    );
    assert_eq!(
        codes
            .consume_link_token(&mut tx, CodePurpose::SetPassword, &issued.link)
            .await
            .unwrap(),
        account_id
    );
    codes
        .consume_sms_code(
            &mut tx,
            account_id,
            CodePurpose::ResetPassword,
            &issued.code,
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    DownloadToken::verify(
        &state.download_key,
        "henan",
        42,
        &issued.download,
        state.clock.now(),
    )
    .unwrap();
}

#[tokio::test]
async fn the_embedded_keyring_is_made_once_private_and_reused_across_restarts() {
    let app = TestApp::init().await;
    let account_id = henan_account(&app).await;
    forget_key_checks(&app).await;
    let dir = scratch(&app, "embedded");
    let config = embedded_config(&app, &dir);
    let path = config.keyring_path();
    assert_eq!(path, dir.join("secrets/keyring.toml"));
    assert!(path.is_absolute());

    let first = build(&app, &config).await.unwrap();
    assert!(path.exists(), "the first start writes the keyring");
    #[cfg(unix)]
    {
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
    }
    let written = std::fs::read(&path).unwrap();
    let issued = issue(&first, account_id).await;
    let id = ResidentId::parse("11010519491231002X").unwrap();
    let sealed = IdSealer::for_tenant(&first.id_key, "henan").seal(&id);
    let hash = IdSealer::for_tenant(&first.id_key, "henan").match_hash(&id);
    stop(first).await;

    // A restart: the same keys, so everything the first process issued is still valid.
    let second = build(&app, &config).await.unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        written,
        "the keyring is reused"
    );
    accept(&second, account_id, &issued).await;
    let sealer = IdSealer::for_tenant(&second.id_key, "henan");
    assert_eq!(sealer.open(&sealed).unwrap(), id);
    assert_eq!(sealer.match_hash(&id), hash);
    stop(second).await;

    // The keyring lost while the catalog records key checks: refused, nothing regenerated.
    std::fs::rename(&path, dir.join("saved.toml")).unwrap();
    let err = error_text(build(&app, &config).await);
    assert!(err.contains("密钥环文件"), "{err}");
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(!path.exists());

    // The keyring lost beside an initialised cluster (no key checks yet): refused too.
    forget_key_checks(&app).await;
    std::fs::create_dir_all(dir.join("pg")).unwrap();
    std::fs::write(dir.join("pg/PG_VERSION"), "17\n").unwrap();
    let err = error_text(build(&app, &config).await);
    assert!(err.contains("密钥环文件"), "{err}");
    assert!(!path.exists());

    // Restored, it starts again.
    std::fs::rename(dir.join("saved.toml"), &path).unwrap();
    stop(build(&app, &config).await.unwrap()).await;
}

#[tokio::test]
async fn two_instances_with_one_configuration_accept_each_others_links_and_codes() {
    let app = TestApp::init().await;
    let account_id = henan_account(&app).await;
    let config = (*app.state.config).clone();
    let other = build(&app, &config).await.unwrap();

    let from_first = issue(&app.state, account_id).await;
    accept(&other, account_id, &from_first).await;
    let from_other = issue(&other, account_id).await;
    accept(&app.state, account_id, &from_other).await;

    // A restart of the other instance keeps what it issued valid.
    let before_restart = issue(&other, account_id).await;
    stop(other).await;
    let restarted = build(&app, &config).await.unwrap();
    accept(&restarted, account_id, &before_restart).await;

    // And the download link works through the other instance's download route: the token is
    // accepted (the document itself does not exist, so the answer is 404), where a token
    // signed with another key is refused (403).
    let download = |key: &[u8]| {
        let token = DownloadToken::issue(
            key,
            "henan",
            42,
            restarted.clock.now(),
            Duration::from_secs(60),
        )
        .unwrap();
        let router = xiaobao_http::build_router(restarted.clone());
        async move {
            tower::ServiceExt::oneshot(
                router,
                axum::http::Request::get(format!("/t/henan/documents/42?token={token}"))
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap()
            .status()
        }
    };
    assert_eq!(
        download(&app.state.download_key).await,
        axum::http::StatusCode::NOT_FOUND
    );
    assert_eq!(
        download(&[9u8; 32]).await,
        axum::http::StatusCode::FORBIDDEN
    );
    stop(restarted).await;
}

#[tokio::test]
async fn external_mode_refuses_to_start_without_each_key() {
    let app = TestApp::init().await;
    let dir = scratch(&app, "external");
    for (variable, unset) in [
        (
            "XIAOBAO_PERSONAL_DATA__ID_KEY",
            (|c: &mut Config| c.personal_data.id_key = None) as fn(&mut Config),
        ),
        ("XIAOBAO_STORAGE__DOWNLOAD_KEY", |c: &mut Config| {
            c.storage.download_key = None
        }),
        ("XIAOBAO_AUTH__SECRET_KEY", |c: &mut Config| {
            c.auth.secret_key = None
        }),
    ] {
        let mut config = (*app.state.config).clone();
        config.database.embedded_dir = dir.join("pg");
        unset(&mut config);
        let err = error_text(build(&app, &config).await);
        assert!(err.contains(variable), "{variable}: {err}");
        assert!(
            !config.keyring_path().exists() && !dir.join("secrets").exists(),
            "external mode writes no key file"
        );
    }
}

#[tokio::test]
async fn a_key_other_than_the_one_the_data_was_made_with_refuses_the_start() {
    let app = TestApp::init().await;
    let wrong = || Some(Secret::new("a-wrong-key-0123456789abcdef0123456789abcdef"));
    let base = (*app.state.config).clone();

    let mut config = base.clone();
    config.personal_data.id_key = wrong();
    let err = error_text(build(&app, &config).await);
    assert!(
        err.contains("personal_data.id_key 与已有数据使用的密钥不一致"),
        "{err}"
    );
    assert!(err.contains("XIAOBAO_PERSONAL_DATA__ID_KEY"), "{err}");

    let mut config = base.clone();
    config.storage.download_key = wrong();
    let err = error_text(build(&app, &config).await);
    assert!(
        err.contains("storage.download_key 与已有数据使用的密钥不一致"),
        "{err}"
    );

    let mut config = base.clone();
    config.auth.secret_key = wrong();
    let err = error_text(build(&app, &config).await);
    assert!(
        err.contains("auth.secret_key 与已有数据使用的密钥不一致"),
        "{err}"
    );

    // A new key under a new id is a rotation, but the match hash must keep its key.
    let mut config = base.clone();
    config.personal_data.id_key = wrong();
    config.personal_data.id_key_id = 2;
    config.personal_data.previous_id_key = Some(Secret::new(TEST_ID_KEY));
    let err = error_text(build(&app, &config).await);
    assert!(err.contains("personal_data.match_key"), "{err}");
    // A wrong previous key is refused as well.
    config.personal_data.match_key = Some(Secret::new(TEST_ID_KEY));
    config.personal_data.previous_id_key = wrong();
    let err = error_text(build(&app, &config).await);
    assert!(
        err.contains("personal_data.previous_id_key 与已有数据使用的密钥不一致"),
        "{err}"
    );
    config.personal_data.previous_id_key = Some(Secret::new(TEST_ID_KEY));
    stop(build(&app, &config).await.unwrap()).await;
    // Once key 2 is recorded, another key under id 2 is refused.
    config.personal_data.id_key = Some(Secret::new("yet-another-key-0123456789abcdef0123456789"));
    let err = error_text(build(&app, &config).await);
    assert!(err.contains("密钥编号 2"), "{err}");
}

/// A valid resident ID number (GB 11643 check digit) from a sequence number.
fn resident_id(n: u32) -> ResidentId {
    let body = format!("52020120150312{:03}", n % 1000);
    let weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .bytes()
        .zip(weights)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    let check = b"10X98765432"[(sum % 11) as usize] as char;
    ResidentId::parse(&format!("{body}{check}")).unwrap()
}

#[tokio::test]
async fn reseal_moves_every_row_to_the_current_key_and_keeps_its_match_hash() {
    let app = TestApp::init().await;
    app.tenant("henan", "410000", "main").await;
    let tenant = app.db().active_tenant("henan").unwrap();
    let old = IdSealer::for_tenant(&app.state.id_key, "henan");
    assert_eq!(old.key_id(), 1);
    // Two rosters' rows sealed under key 1.
    let ids: Vec<(i64, i32, ResidentId)> = (0..7)
        .map(|n| (if n < 5 { 1 } else { 2 }, n as i32 + 1, resident_id(n + 1)))
        .collect();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    for (roster_id, row_no, id) in &ids {
        sqlx::query(
            "insert into roster_rows (roster_id, row_no, line, name, gender, id_sealed, id_hash, \
             id_masked) values ($1, $2, $2 + 1, '学生', 'M', $3, $4, '5202**********123X')",
        )
        .bind(roster_id)
        .bind(row_no)
        .bind(old.seal(id))
        .bind(old.match_hash(id).to_vec())
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();

    // The rotation: a new key 2, the old one as previous and as the match key.
    let new_key = "the-new-id-key-0123456789abcdef0123456789abcdef";
    let mut config = (*app.state.config).clone();
    config.personal_data.id_key = Some(Secret::new(new_key));
    config.personal_data.id_key_id = 2;
    config.personal_data.previous_id_key = Some(Secret::new(TEST_ID_KEY));
    config.personal_data.previous_id_key_id = 1;
    config.personal_data.match_key = Some(Secret::new(TEST_ID_KEY));
    let rotating = build(&app, &config).await.unwrap();
    let actor = xiaobao_audit::Actor::cli("test");
    let reports = xiaobao::keys::reseal(&rotating.db, &rotating.id_key, Some("henan"), 3, &actor)
        .await
        .unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!((reports[0].rows, reports[0].resealed), (7, 7));
    let again = xiaobao::keys::reseal(&rotating.db, &rotating.id_key, None, 3, &actor)
        .await
        .unwrap();
    assert_eq!(again[0].resealed, 0, "nothing left to re-seal");
    stop(rotating).await;

    // Without the previous key every row still opens, and keeps its hash.
    config.personal_data.previous_id_key = None;
    let rotated = build(&app, &config).await.unwrap();
    let sealer = IdSealer::for_tenant(&rotated.id_key, "henan");
    assert_eq!(sealer.key_id(), 2);
    let mut tx = rotated.db.tenant_tx(&tenant).await.unwrap();
    let rows: Vec<(i64, i32, Vec<u8>, Vec<u8>)> = sqlx::query_as(
        "select roster_id, row_no, id_sealed, id_hash from roster_rows order by roster_id, row_no",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    let audited: i64 =
        sqlx::query_scalar("select count(*) from audit_log where action = 'roster.ids_resealed'")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(audited, 1);
    assert_eq!(rows.len(), ids.len());
    for ((roster_id, row_no, sealed, hash), (want_roster, want_row, id)) in rows.iter().zip(&ids) {
        assert_eq!((roster_id, row_no), (want_roster, want_row));
        assert_eq!(IdSealer::sealed_key_id(sealed), Some(2));
        assert_eq!(&sealer.open(sealed).unwrap(), id);
        assert_eq!(hash.as_slice(), old.match_hash(id).as_slice());
        assert_eq!(sealer.match_hash(id), old.match_hash(id));
        assert!(
            old.open(sealed).is_err(),
            "the old key alone no longer opens it"
        );
    }
    stop(rotated).await;
}

#[tokio::test]
async fn demo_accounts_go_only_into_tenants_the_demo_made() {
    let app = TestApp::init().await;
    assert!(
        !app.state.config.demo_seed(),
        "external mode seeds no demo by default"
    );
    // A real programme that happens to be called henan.
    app.tenant("henan", "410000", "main").await;
    let seeded = xiaobao::seed_demo_tenants(app.db(), xiaobao_test_support::enrolment_season_day())
        .await
        .unwrap();
    let slugs: Vec<&str> = seeded.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(slugs, ["liupanshui", "shanghai"]);
    let marks: Vec<(String, bool)> =
        sqlx::query_as("select slug, demo from control.tenants order by slug")
            .fetch_all(app.db().clusters.main())
            .await
            .unwrap();
    assert_eq!(
        marks,
        [
            ("henan".to_string(), false),
            ("liupanshui".to_string(), true),
            ("shanghai".to_string(), true)
        ]
    );

    let password = xiaobao::demo::generate_password();
    let logins = xiaobao::demo::seed_demo_accounts(app.db(), &app.state.auth.hasher, &password)
        .await
        .unwrap();
    assert!(logins.iter().all(|l| l.tenant != "henan"), "{logins:?}");
    assert!(logins.iter().any(|l| l.tenant == "shanghai"));
    let henan = app.db().active_tenant("henan").unwrap();
    let mut tx = app.db().tenant_tx(&henan).await.unwrap();
    let accounts: i64 = sqlx::query_scalar("select count(*) from accounts")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(accounts, 0, "no demo accounts in a real programme");
    app.sign_in_with(
        "shanghai",
        AccountType::Authority,
        "上海市教育委员会",
        &password,
    )
    .await
    .unwrap_or_else(|r| panic!("{} {}", r.status, r.text()));

    // A new demo password (its file was lost): the demo accounts get it, the old one is gone.
    let renewed = xiaobao::demo::generate_password();
    xiaobao::demo::seed_demo_accounts(app.db(), &app.state.auth.hasher, &renewed)
        .await
        .unwrap();
    assert!(
        app.sign_in_with(
            "shanghai",
            AccountType::Authority,
            "上海市教育委员会",
            &password
        )
        .await
        .is_err()
    );
    app.sign_in_with(
        "shanghai",
        AccountType::Authority,
        "上海市教育委员会",
        &renewed,
    )
    .await
    .unwrap_or_else(|r| panic!("{} {}", r.status, r.text()));
}
