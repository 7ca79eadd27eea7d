//! Accounts and sign-in through the real router: the login form and API, lock-out, rate limits,
//! password rules and the forced change, and the audit entries they leave.

use axum::http::StatusCode;
use xiaobao_domain::{AccountType, Role};
use xiaobao_test_support::{AccountSpec, TestApp, TestAppOptions};

async fn audit_actions(app: &TestApp, slug: &str, account_id: i64) -> Vec<String> {
    let tenant = app.db().active_tenant(slug).unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let rows: Vec<String> = sqlx::query_scalar(
        "select action from audit_log where entity = 'account' and entity_id = $1 order by chain_seq",
    )
    .bind(account_id.to_string())
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    rows
}

#[tokio::test]
async fn a_department_signs_in_by_region_name_and_sees_its_menu() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let dept = app
        .account(
            "henan",
            AccountSpec {
                login_name: Some("金水区"),
                ..AccountSpec::new("金水区教育局", "410105", &[Role::CountyDepartment])
            },
        )
        .await;
    let s = app.sign_in("henan", &dept).await;
    assert_eq!(s.location, "/t/henan/");
    let home = app.get_with_cookie("/t/henan/", &s.cookie).await;
    let html = home.text();
    assert!(
        html.contains("欢迎您，<strong>金水区教育局</strong>"),
        "{html}"
    );
    assert!(html.contains("县区教育部门"));
    // The account page answers with the account's own data.
    let page = app.get_with_cookie("/t/henan/account", &s.cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("金水区教育局"));
    assert!(
        audit_actions(&app, "henan", dept.account_id)
            .await
            .contains(&"login.succeeded".to_string())
    );
}

#[tokio::test]
async fn unknown_names_and_wrong_passwords_get_the_same_answer() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let school = app
        .account(
            "henan",
            AccountSpec::new("郑州市金水区测试小学", "410105", &[Role::School]),
        )
        .await;
    let wrong = app
        .sign_in_with(
            "henan",
            AccountType::School,
            &school.login_name,
            "Wrong2026pw",
        )
        .await
        .unwrap_err();
    let unknown = app
        .sign_in_with("henan", AccountType::School, "不存在的学校", "Wrong2026pw")
        .await
        .unwrap_err();
    for r in [&wrong, &unknown] {
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.text().contains("账号或密码错误"), "{}", r.text());
    }
    // The right account type matters: a school name under the department tab is unknown.
    let r = app
        .sign_in_with(
            "henan",
            AccountType::Department,
            &school.login_name,
            &school.password,
        )
        .await
        .unwrap_err();
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // A school also signs in with its contact's mobile.
    let mobile = school.mobile.clone().unwrap();
    let s = app
        .sign_in_with("henan", AccountType::School, &mobile, &school.password)
        .await
        .unwrap();
    assert_eq!(s.location, "/t/henan/");
}

#[tokio::test]
async fn the_sixth_attempt_is_refused_even_with_the_right_password() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let school = app
        .account(
            "henan",
            AccountSpec::new("郑州市金水区锁定测试小学", "410105", &[Role::School]),
        )
        .await;
    for i in 1..=5 {
        let r = app
            .sign_in_with(
                "henan",
                AccountType::School,
                &school.login_name,
                &format!("Wrong{i}pass"),
            )
            .await
            .unwrap_err();
        let text = r.text();
        if i < 5 {
            assert!(text.contains("账号或密码错误"), "attempt {i}: {text}");
        } else {
            assert!(text.contains("账号已锁定"), "attempt {i}: {text}");
        }
    }
    let r = app
        .sign_in_with(
            "henan",
            AccountType::School,
            &school.login_name,
            &school.password,
        )
        .await
        .unwrap_err();
    assert!(r.text().contains("账号已锁定"), "{}", r.text());
    let actions = audit_actions(&app, "henan", school.account_id).await;
    assert_eq!(
        actions.iter().filter(|a| *a == "login.failed").count(),
        5,
        "{actions:?}"
    );
    assert!(actions.contains(&"account.locked".to_string()));
    assert!(actions.contains(&"login.refused_locked".to_string()));
    // Still locked a minute before the lock-out (15 minutes) runs out; then the right password
    // works again.
    app.clock.advance(chrono::Duration::minutes(14));
    let r = app
        .sign_in_with(
            "henan",
            AccountType::School,
            &school.login_name,
            &school.password,
        )
        .await
        .unwrap_err();
    assert!(r.text().contains("账号已锁定"), "{}", r.text());
    app.clock
        .advance(chrono::Duration::minutes(1) + chrono::Duration::seconds(1));
    app.sign_in("henan", &school).await;
}

#[tokio::test]
async fn login_attempts_are_rate_limited_per_client_in_redis() {
    let app = TestApp::start_configured(
        TestAppOptions {
            redis: true,
            ..Default::default()
        },
        |c| {
            c.auth.login_per_account_per_15min = 3;
        },
    )
    .await
    .with_demo_tenants()
    .await;
    // A name nobody has, so the lock-out plays no part; the per-name limit is 3.
    let name = format!("限流测试{}", app.name);
    for _ in 0..3 {
        let r = app
            .sign_in_with("henan", AccountType::School, &name, "Wrong2026pw")
            .await
            .unwrap_err();
        assert!(r.text().contains("账号或密码错误"));
    }
    let r = app
        .sign_in_with("henan", AccountType::School, &name, "Wrong2026pw")
        .await
        .unwrap_err();
    assert!(r.text().contains("尝试过于频繁"), "{}", r.text());
}

#[tokio::test]
async fn a_reset_password_must_be_changed_before_anything_else() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let school = app
        .account(
            "henan",
            AccountSpec::new("郑州市金水区改密测试小学", "410105", &[Role::School]),
        )
        .await;
    let tenant = app.db().active_tenant("henan").unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    sqlx::query("update accounts set must_change_password = true where account_id = $1")
        .bind(school.account_id)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let s = app.sign_in("henan", &school).await;
    assert_eq!(s.location, "/t/henan/account/password");
    let password_page = app
        .get_with_cookie("/t/henan/account/password", &s.cookie)
        .await;
    assert!(password_page.text().contains("请先设置新密码"));
    // The rules, each with its message.
    for (new, message) in [
        ("short1", "密码至少 8 位"),
        ("onlyletters", "密码须同时包含字母和数字"),
        (school.password.as_str(), "不能使用最近 5 次用过的密码"),
    ] {
        let r = app
            .post_as(
                &s,
                "/t/henan/account/password",
                &[
                    ("current_password", &school.password),
                    ("new_password", new),
                    ("confirm_password", new),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{new}");
        assert!(r.text().contains(message), "{new}: {}", r.text());
    }
    let r = app
        .post_as(
            &s,
            "/t/henan/account/password",
            &[
                ("current_password", "Wrong2026pw"),
                ("new_password", "Better2026pw"),
                ("confirm_password", "Better2026pw"),
            ],
        )
        .await;
    assert!(r.text().contains("当前密码不正确"));
    let r = app
        .post_as(
            &s,
            "/t/henan/account/password",
            &[
                ("current_password", &school.password),
                ("new_password", "Better2026pw"),
                ("confirm_password", "Better2026pw"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    // The old session id is gone; the new password works and nothing is forced any more.
    let old = app.get_with_cookie("/t/henan/account", &s.cookie).await;
    assert_eq!(old.status, StatusCode::SEE_OTHER);
    let mut again = school.clone();
    again.password = "Better2026pw".into();
    let s2 = app.sign_in("henan", &again).await;
    assert_eq!(s2.location, "/t/henan/");
    let actions = audit_actions(&app, "henan", school.account_id).await;
    assert!(
        actions.contains(&"account.password_changed".to_string()),
        "{actions:?}"
    );
    assert!(actions.contains(&"account.password_change_refused".to_string()));
}

#[tokio::test]
async fn an_expired_password_forces_a_change() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let dept = app
        .account(
            "henan",
            AccountSpec {
                login_name: Some("中牟县"),
                ..AccountSpec::new("中牟县教育局", "410122", &[Role::CountyDepartment])
            },
        )
        .await;
    let tenant = app.db().active_tenant("henan").unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    sqlx::query("update accounts set password_changed_at = now() - interval '91 days' where account_id = $1")
        .bind(dept.account_id)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let s = app.sign_in("henan", &dept).await;
    assert_eq!(s.location, "/t/henan/account/password");
    // Until it is changed, other pages send the account back to the password page.
    let r = app.get_with_cookie("/t/henan/account", &s.cookie).await;
    assert_eq!(r.status, StatusCode::OK, "the account page stays reachable");
}

#[tokio::test]
async fn the_api_signs_in_and_answers_with_structured_errors() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let dept = app
        .account(
            "henan",
            AccountSpec {
                login_name: Some("二七区"),
                ..AccountSpec::new("二七区教育局", "410103", &[Role::CountyDepartment])
            },
        )
        .await;
    let anonymous = app.get("/api/v1/t/henan/me").await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.json()["error"]["code"], "unauthenticated");
    let login = |password: &str| {
        axum::http::Request::post("/api/v1/t/henan/session")
            .header("content-type", "application/json")
            .body(axum::body::Body::from(
                serde_json::json!({"account_type": "department", "login_name": "二七区", "password": password}).to_string(),
            ))
            .unwrap()
    };
    let bad = app.request(login("Wrong2026pw")).await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert_eq!(bad.json()["error"]["code"], "invalid_credentials");
    assert_eq!(bad.json()["error"]["message"], "账号或密码错误");
    let ok = app.request(login(&dept.password)).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    let body = ok.json();
    assert_eq!(body["roles"], serde_json::json!(["county_department"]));
    let cookie = format!("xb_session={}", ok.cookie("xb_session").unwrap());
    let session = xiaobao_test_support::SignedInSession {
        cookie,
        csrf: body["csrf_token"].as_str().unwrap().to_string(),
        location: String::new(),
    };
    let me = app
        .json_as(&session, "GET", "/api/v1/t/henan/me", None)
        .await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["login_name"], "二七区");
    let change = app
        .json_as(
            &session,
            "POST",
            "/api/v1/t/henan/me/password",
            Some(serde_json::json!({"current_password": dept.password, "new_password": "二七区"})),
        )
        .await;
    assert_eq!(change.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(change.json()["error"]["field"], "new_password");
    // A role without the permission gets 403 with a code; the refusal is audited.
    let audit = app
        .json_as(&session, "GET", "/api/v1/t/henan/me", None)
        .await;
    assert_eq!(audit.status, StatusCode::OK);
}
