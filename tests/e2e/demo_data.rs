//! The demo data: hundreds of schools per demo programme over its real regions, most of them
//! enrolled through the enrolment service with generated rosters it accepted, requests and
//! endorsements, a central school, Liupanshui's two tender lots with their insurers; made once
//! (a second run changes nothing), on the test clock's date.

use std::collections::{HashMap, HashSet};

use axum::http::StatusCode;
use xiaobao::demo_data::{DemoDataReport, seed_demo_data};
use xiaobao_domain::AccountType;
use xiaobao_test_support::{ENROLMENT_SEASON, TestApp, TestAppOptions};

/// An app whose pool lets the seeding enrol four schools at a time per programme, as the
/// service's default pool does.
async fn app() -> TestApp {
    let app = TestApp::start_configured(TestAppOptions::default(), |c| {
        c.database.max_connections = 14;
    })
    .await;
    assert!(app.clock.set_china(ENROLMENT_SEASON));
    app
}

async fn seed(app: &TestApp, password: &str) -> DemoDataReport {
    xiaobao::seed_demo_tenants(app.db(), app.clock.today())
        .await
        .unwrap();
    xiaobao::demo::seed_demo_accounts(app.db(), &app.state.auth.hasher, password)
        .await
        .unwrap();
    seed_demo_data(&app.state, password, app.clock.today())
        .await
        .unwrap()
}

/// Counts that any change of the demo data would move.
#[derive(Debug, PartialEq, Eq)]
struct Counts {
    schools: i64,
    accounts: i64,
    enrolments: i64,
    submitted: i64,
    rosters: i64,
    roster_rows: i64,
    requests: i64,
    endorsements: i64,
    audit: i64,
}

async fn scalar(app: &TestApp, slug: &str, sql: &str) -> i64 {
    let tenant = app.db().active_tenant(slug).unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let n: i64 = sqlx::query_scalar(sql).fetch_one(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
    n
}

async fn rows(app: &TestApp, slug: &str, sql: &str) -> Vec<(String, String)> {
    let tenant = app.db().active_tenant(slug).unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let r = sqlx::query_as(sql).fetch_all(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
    r
}

async fn counts(app: &TestApp, slug: &str) -> Counts {
    Counts {
        schools: scalar(
            app,
            slug,
            "select count(*) from organisations where kind = 'school'",
        )
        .await,
        accounts: scalar(app, slug, "select count(*) from accounts").await,
        enrolments: scalar(app, slug, "select count(*) from enrolments").await,
        submitted: scalar(
            app,
            slug,
            "select count(*) from enrolments where status <> 'draft'",
        )
        .await,
        rosters: scalar(app, slug, "select count(*) from rosters").await,
        roster_rows: scalar(app, slug, "select count(*) from roster_rows").await,
        requests: scalar(app, slug, "select count(*) from enrolment_requests").await,
        endorsements: scalar(app, slug, "select count(*) from endorsements").await,
        audit: scalar(app, slug, "select count(*) from audit_log").await,
    }
}

/// Schools per region code.
async fn schools_by_region(app: &TestApp, slug: &str) -> HashMap<String, i64> {
    rows(
        app,
        slug,
        "select region_code, count(*)::text from organisations where kind = 'school' \
         group by region_code",
    )
    .await
    .into_iter()
    .map(|(code, n)| (code, n.parse().unwrap()))
    .collect()
}

#[tokio::test]
async fn the_demo_programmes_get_hundreds_of_enrolled_schools_once() {
    let app = app().await;
    let password = xiaobao::demo::generate_password();
    let report = seed(&app, &password).await;
    assert_eq!(report.programmes.len(), 3, "{report:?}");
    for p in &report.programmes {
        assert!(p.made, "{p:?}");
        assert_eq!(p.academic_year, "2025-2026");
        assert!(p.schools >= 290 && p.schools_made == p.schools, "{p:?}");
        assert!(p.submitted >= 200, "{p:?}");
        assert!(p.roster_rows >= 30_000, "{p:?}");
        assert!(p.drafts > 0, "{p:?}");
        assert!(p.modification_requests >= 4, "{p:?}");
        assert!(p.endorsements >= 2, "{p:?}");
        assert_eq!(p.second_insurer_requests, 2, "{p:?}");
    }

    // Spread over the programmes' real regions.
    let liupanshui = schools_by_region(&app, "liupanshui").await;
    for county in ["520203", "520281", "520204", "520201", "520299"] {
        assert!(
            liupanshui.get(county).copied().unwrap_or(0) >= 10,
            "{county}: {liupanshui:?}"
        );
    }
    let shanghai = schools_by_region(&app, "shanghai").await;
    let districts = rows(
        &app,
        "shanghai",
        "select region_code, name from regions where level = 'county'",
    )
    .await;
    assert_eq!(districts.len(), 16);
    for (code, name) in &districts {
        assert!(
            shanghai.get(code).copied().unwrap_or(0) >= 4,
            "{name}: {shanghai:?}"
        );
    }
    let henan = schools_by_region(&app, "henan").await;
    let henan_counties = rows(
        &app,
        "henan",
        "select region_code, name from regions where level in ('county', 'direct') \
         and (parent_code = '410100' or parent_code = '410300')",
    )
    .await;
    assert!(henan_counties.len() >= 26, "{henan_counties:?}");
    for (code, name) in &henan_counties {
        assert!(
            henan.get(code).copied().unwrap_or(0) >= 4,
            "{name}: {henan:?}"
        );
    }
    assert!(
        scalar(
            &app,
            "henan",
            "select count(distinct split_part(region_path, '.', 2)) from organisations \
             where kind = 'school'"
        )
        .await
            >= 2
    );

    // Plausible schools: names unique, with their region's prefix; contacts with mobiles of the
    // fake series; most public; every type of the programme.
    let names = rows(
        &app,
        "liupanshui",
        "select o.name, o.region_code from organisations o where o.kind = 'school'",
    )
    .await;
    assert!(
        names
            .iter()
            .any(|(n, c)| n == "盘州市红果镇中心小学" && c == "520281")
    );
    assert!(
        names
            .iter()
            .filter(|(_, c)| c == "520203")
            .all(|(n, _)| n.starts_with("六枝特区")),
        "{names:?}"
    );
    let private = scalar(
        &app,
        "henan",
        "select count(*) from organisations where kind = 'school' and nature = 'private'",
    )
    .await;
    let all = scalar(
        &app,
        "henan",
        "select count(*) from organisations where kind = 'school'",
    )
    .await;
    assert!(private > 0 && private * 3 < all, "{private} of {all}");
    let types = scalar(
        &app,
        "henan",
        "select count(distinct school_type) from organisations where kind = 'school'",
    )
    .await;
    assert_eq!(types, 5);
    assert_eq!(
        scalar(
            &app,
            "shanghai",
            "select count(*) from organisations where kind = 'school' \
             and contact_mobile like '1390000%' and contact_name is not null"
        )
        .await,
        scalar(
            &app,
            "shanghai",
            "select count(*) from organisations where kind = 'school' \
             and contact_mobile like '1390000%'"
        )
        .await
    );

    // Most schools submitted, each with its accepted roster of as many rows as its headcount.
    for slug in ["henan", "liupanshui", "shanghai"] {
        let schools = scalar(
            &app,
            slug,
            "select count(*) from organisations where kind = 'school' \
             and contact_mobile like '1390000%'",
        )
        .await;
        let submitted = scalar(
            &app,
            slug,
            "select count(*) from enrolments where product_code = 'school_liability' \
             and seq = 1 and status = 'submitted'",
        )
        .await;
        assert!(
            submitted * 100 >= schools * 70 && submitted * 100 <= schools * 92,
            "{slug}: {submitted} of {schools}"
        );
        let mismatched = scalar(
            &app,
            slug,
            "select count(*) from enrolments e join rosters r on r.roster_id = e.roster_id \
             where e.status = 'submitted' and (r.status <> 'accepted' or r.row_count <> e.headcount \
             or e.premium_fen <= 0)",
        )
        .await;
        assert_eq!(mismatched, 0, "{slug}");
        let rejected = scalar(
            &app,
            slug,
            "select count(*) from rosters where status = 'rejected'",
        )
        .await;
        assert_eq!(rejected, 0, "{slug}");
        let conflicts = scalar(&app, slug, "select count(*) from roster_conflicts").await;
        assert_eq!(conflicts, 0, "{slug}: generated IDs are unique");
        let pending = scalar(
            &app,
            slug,
            "select count(*) from enrolment_requests where status = 'pending' and kind = 'modify'",
        )
        .await;
        assert!(pending >= 2, "{slug}");
        let second = scalar(
            &app,
            slug,
            "select count(*) from enrolment_requests where status = 'pending' \
             and kind = 'second_insurer'",
        )
        .await;
        assert_eq!(second, 2, "{slug}");
        let owed = scalar(
            &app,
            slug,
            "select count(*) from endorsements where status = 'pending'",
        )
        .await;
        assert!(owed >= 2, "{slug}");
        let drafts = scalar(
            &app,
            slug,
            "select count(*) from enrolments where status = 'draft'",
        )
        .await;
        assert!(drafts > 0, "{slug}");
        // One central school with its schools.
        let assigned = scalar(
            &app,
            slug,
            "select count(*) from organisations s join organisations c \
             on c.org_id = s.central_school_id where c.is_central",
        )
        .await;
        assert!(assigned >= 5, "{slug}: {assigned}");
    }
    // Staff and interns where the rules have them.
    assert!(
        scalar(
            &app,
            "henan",
            "select count(*) from enrolments where product_code = 'staff_liability' \
             and status = 'submitted'"
        )
        .await
            > 40
    );
    assert!(
        scalar(
            &app,
            "shanghai",
            "select count(*) from enrolments where product_code = 'student_internship' \
             and status = 'submitted'"
        )
        .await
            > 3
    );

    // Liupanshui: lot A (六枝特区, 盘州市) chose one insurer, lot B another.
    let chosen = rows(
        &app,
        "liupanshui",
        "select o.region_code, e.company_name from enrolments e \
         join organisations o on o.org_id = e.school_org_id where e.seq = 1",
    )
    .await;
    let lot = |a: bool| -> HashSet<String> {
        chosen
            .iter()
            .filter(|(code, _)| xiaobao::demo_data::liupanshui_lot_a(code) == a)
            .map(|(_, c)| c.clone())
            .collect()
    };
    let (lot_a, lot_b) = (lot(true), lot(false));
    assert_eq!(
        lot_a,
        HashSet::from(["中国人民财产保险股份有限公司".to_string()])
    );
    assert_eq!(
        lot_b,
        HashSet::from(["中国太平洋财产保险股份有限公司".to_string()])
    );
    let lot_b_regions: HashSet<String> = chosen
        .iter()
        .filter(|(code, _)| !xiaobao::demo_data::liupanshui_lot_a(code))
        .map(|(code, _)| code.clone())
        .collect();
    assert_eq!(
        lot_b_regions,
        HashSet::from(["520201", "520204", "520299"].map(String::from))
    );

    // A department's progress: non-zero and what the enrolments hold.
    let zhengzhou = app
        .sign_in_with("henan", AccountType::Department, "郑州市", &password)
        .await
        .unwrap_or_else(|r| panic!("{} {}", r.status, r.text()));
    let progress = app
        .get_with_cookie("/api/v1/t/henan/enrolment/progress", &zhengzhou.cookie)
        .await;
    assert_eq!(progress.status, StatusCode::OK, "{}", progress.text());
    let progress = progress.json();
    assert_eq!(progress["product_code"], "school_liability", "{progress}");
    let regions = progress["regions"].as_array().unwrap();
    assert!(regions.len() >= 13, "{progress}");
    let sum = |key: &str| -> i64 { regions.iter().map(|r| r[key].as_i64().unwrap()).sum() };
    assert!(regions.iter().all(|r| r["schools"].as_i64().unwrap() > 0));
    let with_submissions = regions
        .iter()
        .filter(|r| r["submitted"].as_i64().unwrap() > 0)
        .count();
    assert!(with_submissions >= 10, "{progress}");
    let of_city = |sql: &str| sql.replace("{city}", "410000.410100.");
    assert_eq!(
        sum("schools"),
        scalar(
            &app,
            "henan",
            &of_city(
                "select count(*) from organisations where kind = 'school' and status = 'active' \
                 and region_path like '{city}%'"
            )
        )
        .await
    );
    assert_eq!(
        sum("submitted"),
        scalar(
            &app,
            "henan",
            &of_city(
                "select count(*) from enrolments where product_code = 'school_liability' \
                 and seq = 1 and status <> 'draft' and region_path like '{city}%'"
            )
        )
        .await
    );
    assert_eq!(
        sum("headcount"),
        scalar(
            &app,
            "henan",
            &of_city(
                "select coalesce(sum(headcount), 0)::bigint from enrolments \
                 where product_code = 'school_liability' and seq = 1 and status <> 'draft' \
                 and region_path like '{city}%'"
            )
        )
        .await
    );
    assert_eq!(
        sum("premium_fen"),
        scalar(
            &app,
            "henan",
            &of_city(
                "select coalesce(sum(premium_fen), 0)::bigint from enrolments \
                 where product_code = 'school_liability' and seq = 1 and status <> 'draft' \
                 and region_path like '{city}%'"
            )
        )
        .await
    );
    assert!(sum("headcount") > 8_000, "{progress}");
    // 5 yuan a pupil; approved increases of public schools add no premium.
    assert!(sum("premium_fen") <= sum("headcount") * 500, "{progress}");
    assert!(
        sum("premium_fen") * 100 >= sum("headcount") * 500 * 99,
        "{progress}"
    );
    assert_eq!(
        sum("not_submitted"),
        sum("schools") - sum("submitted"),
        "{progress}"
    );

    // A generated school signs in with the demo password.
    app.sign_in_with(
        "liupanshui",
        AccountType::School,
        "盘州市红果镇中心小学",
        &password,
    )
    .await
    .unwrap_or_else(|r| panic!("{} {}", r.status, r.text()));
    // So does the second insurer's branch.
    app.sign_in_with(
        "liupanshui",
        AccountType::Insurer,
        "cpic-liupanshui",
        &password,
    )
    .await
    .unwrap_or_else(|r| panic!("{} {}", r.status, r.text()));

    // A second run changes nothing.
    let mut before = Vec::new();
    for slug in ["henan", "liupanshui", "shanghai"] {
        before.push(counts(&app, slug).await);
    }
    let again = seed_demo_data(&app.state, &password, app.clock.today())
        .await
        .unwrap();
    for p in &again.programmes {
        assert!(!p.made, "{p:?}");
        assert_eq!((p.schools_made, p.submitted, p.roster_rows), (0, 0, 0));
    }
    let mut after = Vec::new();
    for slug in ["henan", "liupanshui", "shanghai"] {
        after.push(counts(&app, slug).await);
    }
    assert_eq!(before, after);
    app.cleanup().await;
}
