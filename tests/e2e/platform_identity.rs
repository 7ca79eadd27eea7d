//! A broker's platform login: one login name and password granted in several programmes,
//! switching between them without signing in again; lock-out on the platform login.

use axum::http::StatusCode;
use xiaobao_domain::{AccountType, Role};
use xiaobao_test_support::{AccountSpec, TEST_PASSWORD, TestApp};

async fn platform_login(app: &TestApp, login: &str, grants: &[(&str, i64)]) -> i64 {
    let main = app.db().clusters.main();
    let id = xiaobao_identity::platform::create(main, login, "测试经纪公司（总部）", None)
        .await
        .unwrap();
    let hash = app.state.auth.hasher.hash(TEST_PASSWORD).await.unwrap();
    xiaobao_identity::platform::store_password(main, id, &hash, false)
        .await
        .unwrap();
    for (slug, account_id) in grants {
        let tenant = app.db().active_tenant(slug).unwrap();
        xiaobao_identity::platform::grant(main, id, tenant.tenant_id, *account_id)
            .await
            .unwrap();
    }
    id
}

fn location(r: &xiaobao_test_support::TestResponse) -> String {
    r.headers["location"].to_str().unwrap().to_string()
}

#[tokio::test]
async fn one_platform_login_works_in_every_granted_programme_and_switches_between_them() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let henan = app
        .account(
            "henan",
            AccountSpec {
                login_name: Some("pt-broker-henan"),
                ..AccountSpec::new("测试经纪河南服务部", "410000", &[Role::Broker])
            },
        )
        .await;
    let shanghai = app
        .account(
            "shanghai",
            AccountSpec {
                login_name: Some("pt-broker-shanghai"),
                ..AccountSpec::new("测试经纪上海服务部", "310000", &[Role::Broker])
            },
        )
        .await;
    platform_login(
        &app,
        "pt-group",
        &[
            ("henan", henan.account_id),
            ("shanghai", shanghai.account_id),
        ],
    )
    .await;

    let s = app
        .sign_in_with("henan", AccountType::Broker, "pt-group", TEST_PASSWORD)
        .await
        .unwrap();
    let home = app.get_with_cookie("/t/henan/", &s.cookie).await.text();
    assert!(
        home.contains("测试经纪河南服务部"),
        "acts as the henan account"
    );
    let page = app.get_with_cookie("/t/henan/switch", &s.cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.text().contains("上海市中小学校方责任保险管理系统"),
        "{}",
        page.text()
    );

    let r = app
        .post_as(&s, "/t/henan/switch", &[("tenant", "shanghai")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let link = location(&r);
    assert!(
        link.starts_with("/t/shanghai/switch/enter?token="),
        "{link}"
    );
    // The link only works in the programme it was made for, and not once altered.
    let wrong = app
        .get(&link.replace("/t/shanghai/", "/t/liupanshui/"))
        .await;
    assert!(location(&wrong).ends_with("login?type=broker"));
    let altered = app.get(&format!("{link}0")).await;
    assert!(location(&altered).ends_with("login?type=broker"));
    let entered = app.get(&link).await;
    assert_eq!(location(&entered), "/t/shanghai/");
    // Used once, the link is spent.
    let again = app.get(&link).await;
    assert!(location(&again).ends_with("login?type=broker"));
    let cookie = format!("xb_session={}", entered.cookie("xb_session").unwrap());
    let account = app.get_with_cookie("/t/shanghai/account", &cookie).await;
    assert_eq!(account.status, StatusCode::OK);
    assert!(account.text().contains("测试经纪上海服务部"));
    assert!(account.text().contains("切换项目"));

    // Not granted in liupanshui: the same answer as any wrong login.
    let r = app
        .sign_in_with("liupanshui", AccountType::Broker, "pt-group", TEST_PASSWORD)
        .await
        .unwrap_err();
    assert!(r.text().contains("账号或密码错误"));

    // The switch is in the target programme's audit trail.
    let tenant = app.db().active_tenant("shanghai").unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let switched: i64 =
        sqlx::query_scalar("select count(*) from audit_log where action = 'login.switched'")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(switched, 1);
}

#[tokio::test]
async fn a_platform_login_locks_after_five_wrong_passwords_in_any_programme() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let henan = app
        .account(
            "henan",
            AccountSpec {
                login_name: Some("pl-broker-henan"),
                ..AccountSpec::new("锁定测试经纪河南", "410000", &[Role::Broker])
            },
        )
        .await;
    let shanghai = app
        .account(
            "shanghai",
            AccountSpec {
                login_name: Some("pl-broker-shanghai"),
                ..AccountSpec::new("锁定测试经纪上海", "310000", &[Role::Broker])
            },
        )
        .await;
    platform_login(
        &app,
        "pl-group",
        &[
            ("henan", henan.account_id),
            ("shanghai", shanghai.account_id),
        ],
    )
    .await;
    for i in 0..5 {
        let slug = if i % 2 == 0 { "henan" } else { "shanghai" };
        app.sign_in_with(slug, AccountType::Broker, "pl-group", "Wrong2026pw")
            .await
            .unwrap_err();
    }
    let r = app
        .sign_in_with("shanghai", AccountType::Broker, "pl-group", TEST_PASSWORD)
        .await
        .unwrap_err();
    assert!(r.text().contains("账号已锁定"), "{}", r.text());
}
