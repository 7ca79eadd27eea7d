//! The demo lives in today's year: whatever the date, the demo programmes have rules for the
//! academic year containing today and the one before, both open, with a school enrolment
//! deadline a visitor can still meet, so a demo school enrols end to end.

use axum::http::StatusCode;
use xiaobao_domain::AccountType;
use xiaobao_test_support::TestApp;

const SLUG: &str = "henan";
const SCHOOL: &str = "郑州市金水区文化路第一小学";

async fn seed(app: &TestApp, password: &str) {
    xiaobao::seed_demo_tenants(app.db(), app.clock.today())
        .await
        .unwrap();
    xiaobao::demo::seed_demo_accounts(app.db(), &app.state.auth.hasher, password)
        .await
        .unwrap();
}

async fn rule_versions(app: &TestApp) -> Vec<(String, i32)> {
    let tenant = app.db().active_tenant(SLUG).unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let rows = sqlx::query_as(
        "select academic_year, version from programme_rules order by academic_year, version",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    rows
}

async fn school_org_id(app: &TestApp) -> i64 {
    let tenant = app.db().active_tenant(SLUG).unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let id = sqlx::query_scalar("select org_id from organisations where name = $1")
        .bind(SCHOOL)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    id
}

#[tokio::test]
async fn a_demo_school_enrols_on_a_day_after_the_programmes_deadline() {
    let app = TestApp::init().await;
    // Henan's schools enrol until 09-30; on 4 December the demo moves that 30 days ahead.
    assert!(app.clock.set_china("2026-12-04 10:00"));
    let password = xiaobao::demo::generate_password();
    seed(&app, &password).await;
    assert_eq!(
        rule_versions(&app).await,
        [("2025-2026".to_string(), 1), ("2026-2027".to_string(), 1)]
    );

    let authority = app
        .sign_in_with(SLUG, AccountType::Authority, "河南省教育厅", &password)
        .await
        .unwrap_or_else(|r| panic!("{} {}", r.status, r.text()));
    let years = app
        .get_with_cookie(
            &format!("/api/v1/t/{SLUG}/enrolment/years"),
            &authority.cookie,
        )
        .await;
    assert_eq!(years.status, StatusCode::OK, "{}", years.text());
    let years = years.json();
    let opened: Vec<(&str, bool)> = years
        .as_array()
        .unwrap()
        .iter()
        .map(|y| {
            (
                y["academic_year"].as_str().unwrap(),
                y["opened"].is_object(),
            )
        })
        .collect();
    assert_eq!(
        opened,
        [("2026-2027", true), ("2025-2026", true)],
        "{years}"
    );

    let school = app
        .sign_in_with(SLUG, AccountType::School, SCHOOL, &password)
        .await
        .unwrap_or_else(|r| panic!("{} {}", r.status, r.text()));
    let org_id = school_org_id(&app).await;
    let overview = app
        .get_with_cookie(
            &format!("/api/v1/t/{SLUG}/enrolment/schools/{org_id}"),
            &school.cookie,
        )
        .await
        .json();
    assert_eq!(overview["academic_year"], "2026-2027", "{overview}");
    assert_eq!(overview["open"], true, "{overview}");
    assert_eq!(overview["deadline"], "2027-01-03", "{overview}");
    let company = overview["insurers"][0]["company_id"].as_i64().unwrap();
    let saved = app
        .json_as(
            &school,
            "PUT",
            &format!("/api/v1/t/{SLUG}/enrolment/schools/{org_id}/products/school_liability"),
            Some(serde_json::json!({"headcount": 120, "company_id": company})),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.text());
    let page = app
        .get_with_cookie(&format!("/t/{SLUG}/enrolment"), &school.cookie)
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(
        html.contains("2026-2027 学年") && html.contains("投保截止 2027-01-03"),
        "{html}"
    );
    assert!(!html.contains("投保截止日期已过"), "{html}");
}

#[tokio::test]
async fn seeding_again_keeps_the_rules_and_a_new_year_brings_its_own() {
    let app = TestApp::init().await;
    assert!(app.clock.set_china("2026-12-04 10:00"));
    let password = xiaobao::demo::generate_password();
    seed(&app, &password).await;
    seed(&app, &password).await;
    let before = rule_versions(&app).await;
    assert_eq!(before.len(), 2, "{before:?}");
    // Started again after the moved deadline (2027-01-03) passed: the demo's own rules are
    // moved once more, as a new version.
    assert!(app.clock.set_china("2027-02-10 09:00"));
    seed(&app, &password).await;
    seed(&app, &password).await;
    assert_eq!(
        rule_versions(&app).await,
        [
            ("2025-2026".to_string(), 1),
            ("2026-2027".to_string(), 1),
            ("2026-2027".to_string(), 2)
        ]
    );
    // A start in the next academic year adds that year's rules and opens it; the years
    // before stay as they were.
    assert!(app.clock.set_china("2027-10-20 09:00"));
    seed(&app, &password).await;
    let after = rule_versions(&app).await;
    assert_eq!(
        after,
        [
            ("2025-2026".to_string(), 1),
            ("2026-2027".to_string(), 1),
            ("2026-2027".to_string(), 2),
            ("2027-2028".to_string(), 1)
        ]
    );
    let tenant = app.db().active_tenant(SLUG).unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let opened: Vec<String> =
        sqlx::query_scalar("select academic_year from academic_years order by academic_year")
            .fetch_all(&mut *tx)
            .await
            .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(opened, ["2025-2026", "2026-2027", "2027-2028"]);
    // Its school deadline: 09-30 has passed on 20 October, so 30 days from then.
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let stored = xiaobao_db::rules::current(&mut tx, "2027-2028")
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    let rules = xiaobao_domain::ProgrammeRules::from_toml_str(&stored.document).unwrap();
    assert_eq!(
        rules
            .deadline(
                xiaobao_domain::rules::Deadline::SchoolEnrolment,
                rules.academic_year()
            )
            .to_string(),
        "2027-11-19"
    );
}

#[tokio::test]
async fn the_demo_authority_changes_a_rule_and_its_second_account_approves_it() {
    let app = TestApp::init().await;
    assert!(app.clock.set_china("2026-12-04 10:00"));
    let password = xiaobao::demo::generate_password();
    seed(&app, &password).await;
    let sign_in = |login: String| {
        let (app, password) = (&app, password.clone());
        async move {
            app.sign_in_with(SLUG, AccountType::Authority, &login, &password)
                .await
                .unwrap_or_else(|r| panic!("{login}: {} {}", r.status, r.text()))
        }
    };
    let maker = sign_in("河南省教育厅".to_string()).await;
    let checker = sign_in(xiaobao::demo::checker_login("河南省教育厅")).await;
    let r = app
        .json_as(
            &maker,
            "POST",
            &format!("/api/v1/t/{SLUG}/rules/2026-2027/proposals"),
            Some(serde_json::json!({
                "changes": {"claims.settle_tiers[1].working_days": 4},
                "reason": "缩短小额案件结案时限",
            })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let id = r.json()["proposal_id"].as_i64().unwrap();
    let r = app
        .json_as(
            &checker,
            "POST",
            &format!("/api/v1/t/{SLUG}/rule-proposals/{id}/approve"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["version"], 2);
    let rules = app
        .get(&format!("/api/v1/t/{SLUG}/rules/2026-2027"))
        .await
        .json();
    assert_eq!(
        rules["rules"]["claims"]["settle_tiers"][0]["working_days"],
        4
    );
    // Started again: the approved change is kept (it is not the demo's own version).
    seed(&app, &password).await;
    let rules = app
        .get(&format!("/api/v1/t/{SLUG}/rules/2026-2027"))
        .await
        .json();
    assert_eq!(rules["version"], 2, "{rules}");
}
