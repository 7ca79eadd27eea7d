//! Enrolment on fixed dates of the application's clock: the school deadline of the programme's
//! own rules (Henan: 09-30), a department reopening a school until a date, the reopening
//! running out, and the end of the academic year at 1 September 00:00 China time (16:00 UTC
//! the day before).

use axum::http::StatusCode;
use xiaobao_domain::Role;
use xiaobao_test_support::{AccountSpec, SignedInSession, TestAccount, TestApp};

const SLUG: &str = "henan";
const COMPANY: i64 = 9001;
const PRODUCT: &str = "school_liability";
const JINSHUI: &str = "410105";

struct Env {
    app: TestApp,
    school: TestAccount,
    school_session: SignedInSession,
    department: SignedInSession,
}

async fn setup() -> Env {
    let app = TestApp::init().await.with_demo_tenants().await;
    app.open_enrolment_year(SLUG, &[(COMPANY, "测试财险", "410100")])
        .await;
    let school = app
        .account(
            SLUG,
            AccountSpec::new("时钟测试小学", JINSHUI, &[Role::School]),
        )
        .await;
    let school_session = app.sign_in(SLUG, &school).await;
    let dept = app
        .account(
            SLUG,
            AccountSpec::new("金水区教育局", JINSHUI, &[Role::CountyDepartment]),
        )
        .await;
    let department = app.sign_in(SLUG, &dept).await;
    Env {
        app,
        school,
        school_session,
        department,
    }
}

/// Saves a draft through the API: the status and the error code, if any.
async fn save(env: &Env, headcount: u32) -> (StatusCode, String) {
    let r = env
        .app
        .json_as(
            &env.school_session,
            "PUT",
            &format!(
                "/api/v1/t/{SLUG}/enrolment/schools/{}/products/{PRODUCT}",
                env.school.org_id
            ),
            Some(serde_json::json!({"headcount": headcount, "company_id": COMPANY})),
        )
        .await;
    let code = if r.status == StatusCode::OK {
        String::new()
    } else {
        r.json()["error"]["code"].as_str().unwrap_or("").to_string()
    };
    (r.status, code)
}

async fn reopen(env: &Env, until: &str) -> (StatusCode, serde_json::Value) {
    let r = env
        .app
        .json_as(
            &env.department,
            "POST",
            &format!(
                "/api/v1/t/{SLUG}/enrolment/schools/{}/reopen",
                env.school.org_id
            ),
            Some(serde_json::json!({"until": until, "reason": "补报新生"})),
        )
        .await;
    let status = r.status;
    (status, r.json())
}

fn at(env: &Env, china: &str) {
    assert!(env.app.clock.set_china(china), "{china}");
}

#[tokio::test]
async fn the_deadline_refuses_changes_until_a_department_reopens_and_the_reopening_runs_out() {
    let env = setup().await;
    let ok = (StatusCode::OK, String::new());
    let refused = (StatusCode::CONFLICT, "deadline_passed".to_string());

    // The deadline day itself is open to its last second.
    at(&env, "2025-09-30 23:59:59");
    assert_eq!(save(&env, 40).await, ok);
    // From 1 October 00:00 China time the programme's deadline (09-30) has passed.
    at(&env, "2025-10-01 00:00:00");
    assert_eq!(save(&env, 41).await, refused);
    let page = env
        .app
        .get_with_cookie(&format!("/t/{SLUG}/enrolment"), &env.school_session.cookie)
        .await;
    assert!(page.text().contains("2025-09-30"), "{}", page.text());

    // The department cannot reopen into the past, nor past the academic year.
    let (status, body) = reopen(&env, "2025-09-30").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "bad_reopen_date");
    let (status, body) = reopen(&env, "2026-09-01").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "bad_reopen_date");

    // Reopened until 10 October: the school may change its draft again, to that day's end.
    let (status, body) = reopen(&env, "2025-10-10").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["until"], "2025-10-10");
    assert_eq!(save(&env, 42).await, ok);
    at(&env, "2025-10-10 23:59:59");
    assert_eq!(save(&env, 43).await, ok);

    // The reopening has run out.
    env.app.clock.advance(chrono::Duration::seconds(1));
    assert_eq!(save(&env, 44).await, refused);
    let headcount: i64 = {
        let tenant = env.app.state.db.active_tenant(SLUG).unwrap();
        let mut tx = env.app.state.db.tenant_tx(&tenant).await.unwrap();
        let n = sqlx::query_scalar(
            "select headcount::bigint from enrolments where school_org_id = $1 and product_code = $2",
        )
        .bind(env.school.org_id)
        .bind(PRODUCT)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
        n
    };
    assert_eq!(headcount, 43, "the refused saves changed nothing");
}

#[tokio::test]
async fn the_academic_year_ends_at_1_september_00_00_china_time() {
    let env = setup().await;
    // Reopened to the year's last day, reopened on that day.
    at(&env, "2026-08-31 08:00:00");
    let (status, body) = reopen(&env, "2026-08-31").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // 23:59:59 China time on 31 August is still the year (15:59:59 UTC).
    at(&env, "2026-08-31 23:59:59");
    assert_eq!(env.app.clock.academic_year().to_string(), "2025-2026");
    assert_eq!(save(&env, 30).await, (StatusCode::OK, String::new()));
    // One second later it is 1 September in China — 16:00 on 31 August in UTC — and the
    // year is over: no change, no reopening.
    env.app.clock.advance(chrono::Duration::seconds(1));
    assert_eq!(
        env.app.clock.now().to_rfc3339(),
        "2026-08-31T16:00:00+00:00"
    );
    assert_eq!(env.app.clock.academic_year().to_string(), "2026-2027");
    assert_eq!(
        save(&env, 31).await,
        (StatusCode::CONFLICT, "deadline_passed".to_string())
    );
    let (status, body) = reopen(&env, "2026-09-02").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "bad_reopen_date");
}
