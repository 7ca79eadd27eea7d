//! 运营控制台: companies and platform logins. An operator adds a company (a duplicate full
//! name refused) and edits its short name, creates a platform login of it with a one-time
//! password, grants it in a programme as a broker account (other accounts refused), the login
//! signs in there and must change its password; revoked or disabled, it no longer signs in;
//! every action is audited; a programme's session reaches none of it. Turning two-factor
//! sign-in on ends the operator's other sessions and keeps the acting one.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;
use xiaobao_domain::{AccountType, Role};
use xiaobao_test_support::{AccountSpec, SignedInSession, TestApp};

/// An operator with a password already changed, signed in through the API.
async fn operator_session(app: &TestApp, login: &str) -> (SignedInSession, String) {
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
    (sign_in(app, login, password).await, password.to_string())
}

async fn sign_in(app: &TestApp, login: &str, password: &str) -> SignedInSession {
    let r = app
        .request(
            Request::post("/api/v1/platform/session")
                .header("content-type", "application/json")
                .body(Body::from(
                    json!({"login_name": login, "password": password}).to_string(),
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let name = &app.state.config.session.cookie_name;
    SignedInSession {
        cookie: format!("{name}={}", r.cookie(name).unwrap()),
        csrf: r.json()["csrf_token"].as_str().unwrap().to_string(),
        location: String::new(),
    }
}

fn refused_on(r: &xiaobao_test_support::TestResponse, status: StatusCode, field: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.json()["error"]["field"], field, "{}", r.text());
    assert!(!r.json()["error"]["message"].as_str().unwrap().is_ascii());
}

async fn audit_count(app: &TestApp, action: &str) -> i64 {
    sqlx::query_scalar("select count(*) from control.operator_audit where action = $1")
        .bind(action)
        .fetch_one(app.db().clusters.main())
        .await
        .unwrap()
}

#[tokio::test]
async fn an_operator_adds_a_company_and_a_platform_login_that_signs_in_where_granted() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let (ops, _) = operator_session(&app, "ops.li").await;

    // Companies: hostile input refused on its field, a company added, its name kept unique.
    for (body, field) in [
        (
            json!({"kind": "bank", "name": "某某银行", "short_name": "某行"}),
            "kind",
        ),
        (
            json!({"kind": "broker", "name": "某", "short_name": "某"}),
            "name",
        ),
        (
            json!({"kind": "broker", "name": "测试保险经纪有限公司", "short_name": ""}),
            "short_name",
        ),
    ] {
        let r = app
            .json_as(&ops, "POST", "/api/v1/platform/companies", Some(body))
            .await;
        refused_on(&r, StatusCode::UNPROCESSABLE_ENTITY, field);
    }
    let r = app
        .json_as(
            &ops,
            "POST",
            "/api/v1/platform/companies",
            Some(
                json!({"kind": "broker", "name": "测试保险经纪有限公司", "short_name": "测试经纪"}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let company_id = r.json()["company_id"].as_i64().unwrap();
    let r = app
        .json_as(
            &ops,
            "POST",
            "/api/v1/platform/companies",
            Some(
                json!({"kind": "insurer", "name": " 测试保险经纪有限公司 ", "short_name": "又一"}),
            ),
        )
        .await;
    refused_on(&r, StatusCode::CONFLICT, "name");
    // The page refuses the same in Chinese, and says the full name is fixed.
    let r = app
        .post_as(
            &ops,
            "/platform/companies",
            &[
                ("kind", "broker"),
                ("name", "测试保险经纪有限公司"),
                ("short_name", "重复"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.text().contains("公司全称不能重复"), "{}", r.text());
    assert!(r.text().contains("公司全称一经创建不能修改"));
    // The short name is edited on the page.
    let r = app
        .post_as(
            &ops,
            &format!("/platform/companies/{company_id}/short-name"),
            &[("short_name", "测经")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let list = app
        .json_as(&ops, "GET", "/api/v1/platform/companies", None)
        .await
        .json();
    let company = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["company_id"] == company_id)
        .unwrap()
        .clone();
    assert_eq!(company["short_name"], "测经");
    assert_eq!(company["name"], "测试保险经纪有限公司");

    // A platform login of it, with a one-time password.
    let r = app
        .json_as(
            &ops,
            "POST",
            "/api/v1/platform/logins",
            Some(json!({"login_name": "ce-group", "display_name": "测试经纪（总部）"})),
        )
        .await;
    refused_on(&r, StatusCode::UNPROCESSABLE_ENTITY, "company_id");
    let r = app
        .json_as(
            &ops,
            "POST",
            "/api/v1/platform/logins",
            Some(json!({"login_name": "Ce Group", "display_name": "测试经纪（总部）", "company_id": company_id})),
        )
        .await;
    refused_on(&r, StatusCode::UNPROCESSABLE_ENTITY, "login_name");
    let r = app
        .json_as(
            &ops,
            "POST",
            "/api/v1/platform/logins",
            Some(json!({"login_name": "ce-group", "display_name": "测试经纪（总部）", "company_id": company_id})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let password = r.json()["one_time_password"].as_str().unwrap().to_string();
    let identity_id = r.json()["login"]["identity_id"].as_i64().unwrap();
    assert_eq!(r.json()["login"]["company_name"], "测试保险经纪有限公司");
    assert_eq!(r.json()["login"]["must_change_password"], true);
    let r = app
        .json_as(
            &ops,
            "POST",
            "/api/v1/platform/logins",
            Some(json!({"login_name": "ce-group", "display_name": "又一个", "company_id": company_id})),
        )
        .await;
    refused_on(&r, StatusCode::CONFLICT, "login_name");

    // Granted in henan as a broker account; a programme authority account is refused.
    let broker = app
        .account(
            "henan",
            AccountSpec {
                login_name: Some("ce-broker-henan"),
                ..AccountSpec::new("测试经纪河南服务部", "410000", &[Role::Broker])
            },
        )
        .await;
    let authority = app
        .account(
            "henan",
            AccountSpec::new("河南测试主管部门", "410000", &[Role::ProgrammeAuthority]),
        )
        .await;
    let grants = format!("/api/v1/platform/logins/{identity_id}/grants");
    let r = app
        .json_as(
            &ops,
            "POST",
            &grants,
            Some(json!({"tenant": "henan", "account_login": authority.login_name})),
        )
        .await;
    refused_on(&r, StatusCode::UNPROCESSABLE_ENTITY, "account_login");
    assert!(
        r.text().contains("只能授权为经纪机构或承保机构"),
        "{}",
        r.text()
    );
    let r = app
        .json_as(
            &ops,
            "POST",
            &grants,
            Some(json!({"tenant": "nowhere", "account_login": broker.login_name})),
        )
        .await;
    refused_on(&r, StatusCode::UNPROCESSABLE_ENTITY, "tenant");
    let r = app
        .json_as(
            &ops,
            "POST",
            &grants,
            Some(json!({"tenant": "henan", "account_login": "nobody-here"})),
        )
        .await;
    refused_on(&r, StatusCode::UNPROCESSABLE_ENTITY, "account_login");
    let r = app
        .json_as(
            &ops,
            "POST",
            &grants,
            Some(json!({"tenant": "henan", "account_login": broker.login_name})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["grants"][0]["tenant_slug"], "henan");
    let page = app.get_with_cookie("/platform/logins", &ops.cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("ce-group"));
    assert!(page.text().contains("河南"), "grants shown by tenant name");

    // The login signs in to henan with the one-time password and must change it.
    let s = app
        .sign_in_with("henan", AccountType::Broker, "ce-group", &password)
        .await
        .unwrap_or_else(|r| panic!("{}", r.text()));
    assert!(s.location.contains("password"), "{}", s.location);
    // A programme's session reaches no console route.
    let r = app.get_with_cookie("/platform/companies", &s.cookie).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(
        r.headers["location"]
            .to_str()
            .unwrap()
            .starts_with("/platform/login")
    );
    let r = app
        .json_as(&s, "GET", "/api/v1/platform/logins", None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = app
        .json_as(
            &s,
            "POST",
            "/api/v1/platform/companies",
            Some(json!({"kind": "broker", "name": "越权公司名称", "short_name": "越权"})),
        )
        .await;
    // Refused (its CSRF token is the programme session's, and no operator is signed in).
    assert!(
        [StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&r.status),
        "{}",
        r.text()
    );
    let list = app
        .json_as(&ops, "GET", "/api/v1/platform/companies", None)
        .await
        .text();
    assert!(!list.contains("越权公司名称"));

    // Revoked: the sign-in is refused like any wrong login.
    let r = app
        .json_as(
            &ops,
            "DELETE",
            &format!("/api/v1/platform/logins/{identity_id}/grants/henan"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["grants"], json!([]));
    let r = app
        .sign_in_with("henan", AccountType::Broker, "ce-group", &password)
        .await
        .unwrap_err();
    assert!(r.text().contains("账号或密码错误"), "{}", r.text());

    // Granted again on the page, then disabled: refused again; a reset password is new.
    let r = app
        .post_as(
            &ops,
            &format!("/platform/logins/{identity_id}/grants"),
            &[("tenant", "henan"), ("account_login", &broker.login_name)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = app
        .json_as(
            &ops,
            "POST",
            &format!("/api/v1/platform/logins/{identity_id}/password"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let reset = r.json()["one_time_password"].as_str().unwrap().to_string();
    assert_ne!(reset, password);
    app.sign_in_with("henan", AccountType::Broker, "ce-group", &password)
        .await
        .unwrap_err();
    app.sign_in_with("henan", AccountType::Broker, "ce-group", &reset)
        .await
        .unwrap_or_else(|r| panic!("{}", r.text()));
    let status = format!("/api/v1/platform/logins/{identity_id}/status");
    let r = app
        .json_as(&ops, "POST", &status, Some(json!({"status": "gone"})))
        .await;
    refused_on(&r, StatusCode::UNPROCESSABLE_ENTITY, "status");
    let r = app
        .json_as(&ops, "POST", &status, Some(json!({"status": "disabled"})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["status"], "disabled");
    app.sign_in_with("henan", AccountType::Broker, "ce-group", &reset)
        .await
        .unwrap_err();
    let r = app
        .json_as(&ops, "POST", &status, Some(json!({"status": "disabled"})))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);

    // Every action is in the operators' trail, without any password.
    for (action, n) in [
        ("company.created", 1),
        ("company.short_name_changed", 1),
        ("platform_login.created", 1),
        ("platform_login.granted", 2),
        ("platform_login.revoked", 1),
        ("platform_login.password_reset", 1),
        ("platform_login.disabled", 1),
    ] {
        assert_eq!(audit_count(&app, action).await, n, "{action}");
    }
    let details: Vec<String> =
        sqlx::query_scalar("select detail::text from control.operator_audit")
            .fetch_all(app.db().clusters.main())
            .await
            .unwrap();
    assert!(
        details
            .iter()
            .all(|d| !d.contains(&password) && !d.contains(&reset))
    );
}

/// The secret shown on the enrolment page.
fn secret_on(page: &str) -> Vec<u8> {
    let at = page.find("id=\"totp_secret\">").unwrap() + "id=\"totp_secret\">".len();
    let rest = &page[at..];
    xiaobao_identity::totp::from_base32(&rest[..rest.find('<').unwrap()]).unwrap()
}

#[tokio::test]
async fn turning_two_factor_on_ends_the_operators_other_sessions_but_not_this_one() {
    let app = TestApp::init().await;
    let (acting, password) = operator_session(&app, "ops.zhao").await;
    let other = sign_in(&app, "ops.zhao", &password).await;
    for s in [&acting, &other] {
        let r = app.json_as(s, "GET", "/api/v1/platform/audit", None).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    // Starting an enrolment ends nothing.
    let r = app
        .post_as(&acting, "/platform/account/two-factor/start", &[])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let r = app
        .json_as(&other, "GET", "/api/v1/platform/audit", None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let page = app
        .get_with_cookie("/platform/account/two-factor", &acting.cookie)
        .await;
    let secret = secret_on(&page.text());
    let code = xiaobao_identity::totp::code_at(&secret, app.clock.now());
    let r = app
        .post_as(
            &acting,
            "/platform/account/two-factor/confirm",
            &[("code", &code)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // The other session ended; the acting one goes on.
    let r = app
        .json_as(&other, "GET", "/api/v1/platform/audit", None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = app
        .json_as(&acting, "GET", "/api/v1/platform/audit", None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}
