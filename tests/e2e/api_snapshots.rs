//! The JSON answers of the enrolment API as an insurer's or a school's system reads them,
//! snapshot-tested (ids redacted; the clock is fixed, so dates are stable): the school's
//! overview, a saved draft, and a refusal.

use axum::http::StatusCode;
use xiaobao_domain::Role;
use xiaobao_test_support::{AccountSpec, TestApp};

const SLUG: &str = "henan";
const COMPANY: i64 = 9001;

#[tokio::test]
async fn enrolment_answers_keep_their_shape() {
    let app = TestApp::init().await.with_demo_tenants().await;
    app.open_enrolment_year(SLUG, &[(COMPANY, "测试财险", "410100")])
        .await;
    let school = app
        .account(
            SLUG,
            AccountSpec::new("快照测试小学", "410105", &[Role::School]),
        )
        .await;
    let s = app.sign_in(SLUG, &school).await;
    let overview_uri = format!("/api/v1/t/{SLUG}/enrolment/schools/{}", school.org_id);
    let draft_uri = format!("{overview_uri}/products/school_liability");

    let overview = app.json_as(&s, "GET", &overview_uri, None).await;
    assert_eq!(overview.status, StatusCode::OK, "{}", overview.text());
    insta::assert_json_snapshot!("enrolment_overview", overview.json(), {
        ".school.org_id" => "[org_id]",
        ".insurers[].company_id" => "[company_id]",
        ".products[].enrolments[].enrolment_id" => "[enrolment_id]",
        ".products[].enrolments[].school_org_id" => "[org_id]",
    });

    let draft = app
        .json_as(
            &s,
            "PUT",
            &draft_uri,
            Some(serde_json::json!({"headcount": 120, "company_id": COMPANY})),
        )
        .await;
    assert_eq!(draft.status, StatusCode::OK, "{}", draft.text());
    insta::assert_json_snapshot!("enrolment_draft", draft.json(), {
        ".enrolment_id" => "[enrolment_id]",
        ".school_org_id" => "[org_id]",
    });

    // After the deadline: the refusal's code, class (409) and message.
    assert!(app.clock.set_china("2025-10-01 08:00"));
    let refused = app
        .json_as(
            &s,
            "PUT",
            &draft_uri,
            Some(serde_json::json!({"headcount": 121, "company_id": COMPANY})),
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text());
    insta::assert_json_snapshot!("enrolment_deadline_refusal", refused.json());
}
