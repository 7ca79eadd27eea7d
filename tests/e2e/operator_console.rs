//! 运营控制台: an operator signs in at platform level (with two-factor sign-in), opens a
//! programme whose account then signs in, imports a holiday calendar that moves a due date;
//! platform and programme sessions never stand for each other; every action is audited.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;
use xiaobao_domain::Role;
use xiaobao_test_support::{AccountSpec, SignedInSession, TestApp};

const RULES: &str = include_str!("../../crates/domain/programmes/henan-2025-2026.toml");

/// An operator with a password already changed.
async fn operator(app: &TestApp, login: &str) -> String {
    let password = "Operator2025x";
    let hash = app.state.auth.hasher.hash(password).await.unwrap();
    let main = app.db().clusters.main();
    let id = xiaobao_platform::operators::create(main, login, "测试运营", &hash, false)
        .await
        .unwrap()
        .unwrap();
    xiaobao_platform::operators::store_password(main, id, &hash, false)
        .await
        .unwrap();
    password.to_string()
}

/// Signs in through the API; the session, or the answer.
async fn api_sign_in(
    app: &TestApp,
    body: serde_json::Value,
) -> Result<SignedInSession, xiaobao_test_support::TestResponse> {
    let r = app
        .request(
            Request::post("/api/v1/platform/session")
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await;
    if r.status != StatusCode::OK {
        return Err(r);
    }
    let name = &app.state.config.session.cookie_name;
    Ok(SignedInSession {
        cookie: format!("{name}={}", r.cookie(name).unwrap()),
        csrf: r.json()["csrf_token"].as_str().unwrap().to_string(),
        location: String::new(),
    })
}

/// The secret shown on the enrolment page.
fn secret_on(page: &str) -> Vec<u8> {
    let at = page.find("id=\"totp_secret\">").unwrap() + "id=\"totp_secret\">".len();
    let rest = &page[at..];
    xiaobao_identity::totp::from_base32(&rest[..rest.find('<').unwrap()]).unwrap()
}

#[tokio::test]
async fn an_operator_with_two_factors_opens_a_programme_whose_account_signs_in() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let password = operator(&app, "ops.wang").await;
    // Anonymous: the console sends to its sign-in page, the API answers 401.
    let r = app.get("/platform/tenants").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(
        r.headers["location"]
            .to_str()
            .unwrap()
            .starts_with("/platform/login")
    );
    assert_eq!(
        app.get("/api/v1/platform/tenants").await.status,
        StatusCode::UNAUTHORIZED
    );
    // A wrong password is refused.
    let r = api_sign_in(
        &app,
        json!({"login_name": "ops.wang", "password": "wrong1234"}),
    )
    .await
    .unwrap_err();
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // Page sign-in, then two-factor enrolment by QR code.
    let (cookie, token) = app.form_session("/platform/login").await;
    let r = app
        .post_form(
            "/platform/login",
            Some(&cookie),
            &[
                ("csrf_token", &token),
                ("login_name", "ops.wang"),
                ("password", &password),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let name = &app.state.config.session.cookie_name;
    let cookie = format!("{name}={}", r.cookie(name).unwrap());
    let page = app
        .get_with_cookie("/platform/account/two-factor", &cookie)
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let session = SignedInSession {
        csrf: page.csrf_token().unwrap(),
        cookie,
        location: String::new(),
    };
    let r = app
        .post_as(&session, "/platform/account/two-factor/start", &[])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let page = app
        .get_with_cookie("/platform/account/two-factor", &session.cookie)
        .await;
    assert!(page.text().contains("<svg"), "QR code shown");
    let secret = secret_on(&page.text());
    let r = app
        .post_as(
            &session,
            "/platform/account/two-factor/confirm",
            &[("code", "000000")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let code = xiaobao_identity::totp::code_at(&secret, app.clock.now());
    let r = app
        .post_as(
            &session,
            "/platform/account/two-factor/confirm",
            &[("code", &code)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.text().contains("id=\"recovery_codes\""));

    // From now on the password alone signs nobody in; a wrong code is refused.
    let r = api_sign_in(
        &app,
        json!({"login_name": "ops.wang", "password": password}),
    )
    .await
    .unwrap_err();
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json()["error"]["code"], "second_factor_required");
    let r = api_sign_in(
        &app,
        json!({"login_name": "ops.wang", "password": password, "totp_code": "123456"}),
    )
    .await
    .unwrap_err();
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    app.clock.advance(chrono::Duration::seconds(60));
    let code = xiaobao_identity::totp::code_at(&secret, app.clock.now());
    let ops = api_sign_in(
        &app,
        json!({"login_name": "ops.wang", "password": password, "totp_code": code}),
    )
    .await
    .unwrap();

    // Hostile inputs get clear errors on their field.
    for (body, field) in [
        (
            json!({"slug": "Bad-Slug", "name_zh": "x", "root_region_code": "410000", "academic_year": "2025-2026", "rules_document": RULES}),
            "slug",
        ),
        (
            json!({"slug": "kaifeng", "name_zh": "开封市校方责任保险", "root_region_code": "999999", "academic_year": "2025-2026", "rules_document": RULES}),
            "root_region_code",
        ),
        (
            json!({"slug": "kaifeng", "name_zh": "开封市校方责任保险", "root_region_code": "410000", "academic_year": "2025-2026", "rules_document": "garbage = [", "cluster": "main"}),
            "rules_file",
        ),
        (
            json!({"slug": "kaifeng", "name_zh": "开封市校方责任保险", "root_region_code": "410000", "academic_year": "2025-2026", "rules_document": RULES, "cluster": "nowhere"}),
            "cluster",
        ),
        (
            json!({"slug": "henan", "name_zh": "重复", "root_region_code": "410000", "academic_year": "2025-2026", "rules_document": RULES}),
            "slug",
        ),
    ] {
        let r = app
            .json_as(&ops, "POST", "/api/v1/platform/tenants", Some(body))
            .await;
        assert!(r.status.is_client_error(), "{}", r.text());
        assert_eq!(r.json()["error"]["field"], field, "{}", r.text());
        assert!(!r.json()["error"]["message"].as_str().unwrap().is_ascii());
    }

    // Open a programme with an uploaded rules file.
    let r = app
        .json_as(
            &ops,
            "POST",
            "/api/v1/platform/tenants",
            Some(json!({"slug": "kaifeng", "name_zh": "开封市校方责任保险", "root_region_code": "410000",
                         "academic_year": "2025-2026", "rules_document": RULES})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["status"], "active");
    let page = app.get_with_cookie("/platform/tenants", &ops.cookie).await;
    assert!(page.text().contains("开封市校方责任保险"));

    // An account made in it signs in to it.
    let account = app
        .account(
            "kaifeng",
            AccountSpec::new("开封测试主管部门", "410000", &[Role::ProgrammeAuthority]),
        )
        .await;
    let tenant_session = app.sign_in("kaifeng", &account).await;
    assert_eq!(
        app.get_with_cookie("/t/kaifeng/rules/2025-2026", &tenant_session.cookie)
            .await
            .status,
        StatusCode::OK
    );
    // Neither session stands for the other.
    let r = app.get_with_cookie("/t/kaifeng/rules", &ops.cookie).await;
    assert_eq!(
        r.status,
        StatusCode::SEE_OTHER,
        "a platform session is none in a programme"
    );
    let r = app
        .json_as(&ops, "GET", "/api/v1/t/kaifeng/rules", None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = app
        .json_as(&tenant_session, "GET", "/api/v1/platform/tenants", None)
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "a programme's session is none in the console"
    );
    let r = app
        .get_with_cookie("/platform/tenants", &tenant_session.cookie)
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);

    // Archive: the slug typed again.
    let r = app
        .json_as(
            &ops,
            "POST",
            "/api/v1/platform/tenants/kaifeng/archive",
            Some(json!({"confirm": "kaifen"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "confirm");
    let r = app
        .json_as(
            &ops,
            "POST",
            "/api/v1/platform/tenants/kaifeng/archive",
            Some(json!({"confirm": "kaifeng"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(app.get("/t/kaifeng/").await.status, StatusCode::NOT_FOUND);

    // Clusters answer with their health.
    let r = app
        .json_as(&ops, "GET", "/api/v1/platform/clusters", None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()[0]["name"], "main");
    assert_eq!(r.json()[0]["reachable"], true);

    // Everything was audited.
    let r = app
        .json_as(&ops, "GET", "/api/v1/platform/audit", None)
        .await;
    let actions: Vec<String> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    for action in [
        "login.failed",
        "totp.enabled",
        "login.second_factor.failed",
        "login.second_factor.succeeded",
        "tenant.created",
        "tenant.archived",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
    let page = app.get_with_cookie("/platform/audit", &ops.cookie).await;
    assert!(page.text().contains("tenant.created"));
}

#[tokio::test]
async fn an_imported_holiday_calendar_moves_a_due_date() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let password = operator(&app, "ops.li").await;
    let ops = api_sign_in(&app, json!({"login_name": "ops.li", "password": password}))
        .await
        .unwrap();
    let due = "/api/v1/t/henan/working-days/due?from=2027-09-30T10:00:00%2B08:00&days=1";
    let before = app.get(due).await.json();
    assert_eq!(before["last_day"], "2027-10-01");
    assert_eq!(before["beyond_known_calendar"], true);

    // Hostile files.
    let r = app
        .json_as(
            &ops,
            "POST",
            "/api/v1/platform/calendars/preview",
            Some(json!({"toml": "[2027]\noff = [\"2027-10-01\",\n \"2027-02-30\"]\n"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("第3行"),
        "{}",
        r.text()
    );
    let r = app
        .json_as(
            &ops,
            "POST",
            "/api/v1/platform/calendars/preview",
            Some(json!({"xlsx_base64": "UEsDBAoAAAAAAA=="})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    let big = "#".repeat(300 * 1024);
    let r = app
        .json_as(
            &ops,
            "POST",
            "/api/v1/platform/calendars/preview",
            Some(json!({"toml": big})),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());

    // Preview: the days that change; nothing stored yet.
    let file = "[2027]\noff = [\"2027-10-01\", \"2027-10-04\", \"2027-10-05\", \"2027-10-06\", \"2027-10-07\"]\nwork = [\"2027-09-26\", \"2027-10-09\"]\n";
    let r = app
        .json_as(
            &ops,
            "POST",
            "/api/v1/platform/calendars/preview",
            Some(json!({"toml": file})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let preview = r.json();
    assert_eq!(preview["years"][0]["year"], 2027);
    assert_eq!(preview["years"][0]["new_year"], true);
    assert_eq!(preview["years"][0]["to_off"].as_array().unwrap().len(), 5);
    assert_eq!(
        preview["years"][0]["to_work"],
        json!(["2027-09-26", "2027-10-09"])
    );
    assert_eq!(app.get(due).await.json()["last_day"], "2027-10-01");

    // Import: the due date computed afterwards uses it.
    let r = app
        .json_as(
            &ops,
            "POST",
            "/api/v1/platform/calendars",
            Some(json!({"document": preview["document"], "source": "国务院办公厅 2027 年节假日安排"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let after = app.get(due).await.json();
    assert_eq!(after["last_day"], "2027-10-08");
    assert_eq!(after["beyond_known_calendar"], false);
    assert!(app.state.calendar.current().known_years().contains(&2027));
    let page = app
        .get_with_cookie("/platform/calendars", &ops.cookie)
        .await;
    assert!(page.text().contains("国务院办公厅 2027 年节假日安排"));
    let r = app
        .json_as(&ops, "GET", "/api/v1/platform/audit", None)
        .await;
    assert_eq!(r.json()[0]["action"], "calendar.imported");
}
