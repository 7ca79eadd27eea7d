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
    // year is over: 2026-2027 is the current year and it is not open, so nothing can be
    // changed or reopened, and the school sees 2025-2026 as 上一学年, read-only.
    env.app.clock.advance(chrono::Duration::seconds(1));
    assert_eq!(
        env.app.clock.now().to_rfc3339(),
        "2026-08-31T16:00:00+00:00"
    );
    assert_eq!(env.app.clock.academic_year().to_string(), "2026-2027");
    assert_eq!(
        save(&env, 31).await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "year_not_open".to_string()
        )
    );
    let (status, body) = reopen(&env, "2026-09-02").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "year_not_open");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2026-2027学年尚未开放"),
        "{body}"
    );
    let page = env
        .app
        .get_with_cookie(&format!("/t/{SLUG}/enrolment"), &env.school_session.cookie)
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(
        html.contains("2026-2027 学年尚未开放投保") && html.contains("上一学年（2025-2026）"),
        "{html}"
    );
    assert!(
        !html.contains("提交投保</button>") && !html.contains(">保存</button>"),
        "the previous year is read-only: {html}"
    );
    let api = env
        .app
        .get_with_cookie(
            &format!("/api/v1/t/{SLUG}/enrolment/schools/{}", env.school.org_id),
            &env.school_session.cookie,
        )
        .await;
    assert_eq!(api.status, StatusCode::OK, "{}", api.text());
    let overview = api.json();
    assert_eq!(overview["academic_year"], "2025-2026");
    assert_eq!(overview["not_open_year"], "2026-2027");
    assert_eq!(overview["open"], false);
}

#[tokio::test]
async fn the_current_year_is_the_one_containing_today_once_it_is_open() {
    let env = setup().await;
    // In August 2026 the opened 2025-2026 is still the current year.
    at(&env, "2026-08-20 09:00:00");
    let o = overview(&env).await;
    assert_eq!(o["academic_year"], "2025-2026");
    assert!(o["not_open_year"].is_null(), "{o}");
    // The authority opens 2026-2027 ahead of time (rules copied from 2025-2026): in August
    // it is not current yet, from 1 September 00:00 China time it is.
    let tenant = env.app.state.db.active_tenant(SLUG).unwrap();
    let mut tx = env.app.state.db.tenant_tx(&tenant).await.unwrap();
    let next = xiaobao_domain::AcademicYear::parse("2026-2027").unwrap();
    let document = xiaobao_domain::programmes::demo_rules_for(
        SLUG,
        next,
        chrono::NaiveDate::from_ymd_opt(2026, 8, 20).unwrap(),
    )
    .unwrap();
    xiaobao_db::rules::save_version(&mut tx, "2026-2027", &document, "test", "下一学年")
        .await
        .unwrap();
    xiaobao_enrolment::years::open(&mut tx, next, &[], &xiaobao_audit::Actor::cli("test"))
        .await
        .unwrap()
        .expect("2026-2027 opens");
    sqlx::query(
        "insert into admitted_insurers (academic_year, company_id, company_name, region_code, \
         region_path) select '2026-2027', $1, '测试财险', region_code, path from regions \
         where region_code = '410100'",
    )
    .bind(COMPANY)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(overview(&env).await["academic_year"], "2025-2026");
    at(&env, "2026-08-31 23:59:59");
    assert_eq!(overview(&env).await["academic_year"], "2025-2026");
    env.app.clock.advance(chrono::Duration::seconds(1));
    let o = overview(&env).await;
    assert_eq!(o["academic_year"], "2026-2027");
    assert!(o["not_open_year"].is_null(), "{o}");
    assert_eq!(o["deadline"], "2026-09-30");
    assert_eq!(save(&env, 30).await, (StatusCode::OK, String::new()));
}

async fn overview(env: &Env) -> serde_json::Value {
    let path = format!("/api/v1/t/{SLUG}/enrolment/schools/{}", env.school.org_id);
    env.app
        .get_with_cookie(&path, &env.school_session.cookie)
        .await
        .json()
}
