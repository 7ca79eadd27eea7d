//! Sessions end when what they were granted on changes: a password changed or reset, a role
//! given or taken, an account disabled; and a fixed time after sign-in however active.

use axum::http::StatusCode;
use xiaobao_domain::Role;
use xiaobao_http::{SessionData, SignedIn};
use xiaobao_test_support::{AccountSpec, SignedInSession, TestApp};

async fn me(app: &TestApp, s: &SignedInSession) -> StatusCode {
    app.json_as(s, "GET", "/api/v1/t/henan/me", None)
        .await
        .status
}

#[tokio::test]
async fn changing_ones_password_ends_the_other_sessions_only() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let school = app
        .account(
            "henan",
            AccountSpec::new("会话测试小学", "410105", &[Role::School]),
        )
        .await;
    let here = app.sign_in("henan", &school).await;
    let there = app.sign_in("henan", &school).await;
    assert_eq!(me(&app, &here).await, StatusCode::OK);
    assert_eq!(me(&app, &there).await, StatusCode::OK);
    let r = app
        .json_as(
            &here,
            "POST",
            "/api/v1/t/henan/me/password",
            Some(serde_json::json!({
                "current_password": school.password,
                "new_password": "Another2026pw",
            })),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    // The session that changed it goes on (with its new cookie when it was re-issued).
    let cookie = r
        .cookie("xb_session")
        .map(|v| format!("xb_session={v}"))
        .unwrap_or(here.cookie.clone());
    let here = SignedInSession { cookie, ..here };
    assert_eq!(me(&app, &here).await, StatusCode::OK);
    assert_eq!(me(&app, &there).await, StatusCode::UNAUTHORIZED);
    // The page of the ended session is the login, not the account's data.
    let page = app
        .get_with_cookie("/t/henan/enrolment", &there.cookie)
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_reset_or_a_new_role_ends_the_accounts_sessions() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let school = app
        .account(
            "henan",
            AccountSpec::new("会话测试乙小学", "410105", &[Role::School]),
        )
        .await;
    let dept = app
        .account(
            "henan",
            AccountSpec::new("金水区会话测试", "410105", &[Role::CountyDepartment]),
        )
        .await;
    let d = app.sign_in("henan", &dept).await;
    // A new role (the school becomes a central school): its sessions end.
    let s = app.sign_in("henan", &school).await;
    assert_eq!(me(&app, &s).await, StatusCode::OK);
    let r = app
        .json_as(
            &d,
            "PUT",
            &format!("/api/v1/t/henan/schools/{}/central", school.org_id),
            Some(serde_json::json!({"is_central": true})),
        )
        .await;
    assert!(r.status.is_success(), "{} {}", r.status, r.text());
    assert_eq!(me(&app, &s).await, StatusCode::UNAUTHORIZED);
    // Signed in again, the session carries the new role; a reset by the department ends it.
    let s = app.sign_in("henan", &school).await;
    let roles = app
        .json_as(&s, "GET", "/api/v1/t/henan/me", None)
        .await
        .json();
    assert!(roles.to_string().contains("central_school"), "{roles}");
    let r = app
        .json_as(
            &d,
            "POST",
            &format!("/api/v1/t/henan/schools/{}/password-reset", school.org_id),
            None,
        )
        .await;
    assert!(r.status.is_success(), "{} {}", r.status, r.text());
    assert_eq!(me(&app, &s).await, StatusCode::UNAUTHORIZED);
    // The department's own session is untouched.
    assert_eq!(me(&app, &d).await, StatusCode::OK);
}

#[tokio::test]
async fn a_session_ends_a_fixed_time_after_sign_in() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let school = app
        .account(
            "henan",
            AccountSpec::new("会话测试丙小学", "410105", &[Role::School]),
        )
        .await;
    let s = app.sign_in("henan", &school).await;
    let me_view = app
        .json_as(&s, "GET", "/api/v1/t/henan/me", None)
        .await
        .json();
    assert_eq!(me_view["account_id"], school.account_id);
    // The same account's session as it would be 13 hours after its sign-in (the limit is 12).
    let tenant = app.db().active_tenant("henan").unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let epoch: i64 = sqlx::query_scalar("select session_epoch from accounts where account_id = $1")
        .bind(school.account_id)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let viewer = xiaobao_identity::Viewer {
        account_id: school.account_id,
        org_id: school.org_id,
        org_kind: "school".into(),
        roles: vec![Role::School],
        region_code: "410105".into(),
        region_path: "-".into(),
        company_id: None,
        display_name: "会话测试丙小学".into(),
    };
    let mut user = SignedIn::new(viewer, false);
    user.epoch = epoch;
    let idle = std::time::Duration::from_secs(1800);
    for (hours, expected) in [(1, StatusCode::OK), (13, StatusCode::UNAUTHORIZED)] {
        let mut data = SessionData::new("henan", Some(user.clone()));
        data.signed_in_at -= hours * 3600;
        let id = app.state.sessions.open(&data, idle).await.unwrap();
        let r = app
            .request(
                axum::http::Request::get("/api/v1/t/henan/me")
                    .header("cookie", format!("xb_session={id}"))
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, expected, "{hours} hours after sign-in");
    }
}
