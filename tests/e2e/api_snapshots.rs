//! The JSON answers of the enrolment API as an insurer's or a school's system reads them,
//! snapshot-tested (ids redacted; the clock is fixed, so dates are stable): the school's
//! overview, a saved draft, and a refusal; the schools, identity, administration and public
//! answers with at least one refusal each (ids, times, tokens, mobiles and links redacted).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use xiaobao_domain::Role;
use xiaobao_test_support::{AccountSpec, TestAccount, TestApp, TestResponse};

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

/// The answer with every id, time, token, mobile and link replaced by `[key]`, so that the
/// snapshot holds the shape and the stable values only.
fn redacted(mut value: serde_json::Value) -> serde_json::Value {
    fn volatile(key: &str) -> bool {
        key == "id"
            || key.ends_with("_id")
            || key.ends_with("_ids")
            || key.ends_with("_at")
            || key.contains("token")
            || key.contains("mobile")
            || key.contains("url")
            || key == "login_name"
    }
    fn walk(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, item) in map.iter_mut() {
                    if volatile(k) && !item.is_null() {
                        *item = serde_json::Value::String(format!("[{k}]"));
                    } else {
                        walk(item);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut value);
    value
}

/// Status and body of an answer (`null` for an empty body), snapshotted together.
fn answer(r: &TestResponse) -> serde_json::Value {
    let body = if r.body.is_empty() {
        serde_json::Value::Null
    } else {
        r.json()
    };
    serde_json::json!({"status": r.status.as_u16(), "body": body})
}

/// Sends a JSON body without a session (public and sign-in routes).
async fn post_public(app: &TestApp, uri: &str, body: serde_json::Value) -> TestResponse {
    app.request(
        Request::post(uri)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .expect("request"),
    )
    .await
}

async fn department(app: &TestApp, login: &str, name: &str, region: &str) -> TestAccount {
    app.account(
        SLUG,
        AccountSpec {
            login_name: Some(login),
            ..AccountSpec::new(name, region, &[Role::CountyDepartment])
        },
    )
    .await
}

#[tokio::test]
async fn school_answers_keep_their_shape() {
    let app = TestApp::init().await.with_demo_tenants().await;
    assert!(app.clock.set_china("2025-06-02 09:00"));
    let dept = department(&app, "金水区", "金水区教育局", "410105").await;
    let mine = app
        .account(
            SLUG,
            AccountSpec::new("快照金水区第一小学", "410105", &[Role::School]),
        )
        .await;
    let central = app
        .account(
            SLUG,
            AccountSpec::new("快照金水区中心校", "410105", &[Role::School]),
        )
        .await;
    let other = app
        .account(
            SLUG,
            AccountSpec::new("快照中牟县第一小学", "410122", &[Role::School]),
        )
        .await;
    let d = app.sign_in(SLUG, &dept).await;

    let list = app
        .json_as(&d, "GET", "/api/v1/t/henan/schools", None)
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text());
    insta::assert_json_snapshot!("schools_list", redacted(list.json()));

    let uri = format!("/api/v1/t/henan/schools/{}", mine.org_id);
    let detail = app.json_as(&d, "GET", &uri, None).await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.text());
    insta::assert_json_snapshot!("school_detail", redacted(detail.json()));

    // Refusals: a school outside the county, a region outside the subtree.
    let uri = format!("/api/v1/t/henan/schools/{}", other.org_id);
    let outside = app.json_as(&d, "GET", &uri, None).await;
    assert_eq!(outside.status, StatusCode::NOT_FOUND, "{}", outside.text());
    insta::assert_json_snapshot!("school_out_of_scope_refusal", outside.json());
    let wider = app
        .json_as(
            &d,
            "GET",
            "/api/v1/t/henan/schools?region_code=410122",
            None,
        )
        .await;
    assert_eq!(
        wider.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        wider.text()
    );
    insta::assert_json_snapshot!("school_list_region_refusal", wider.json());

    // Central school: marked, a school assigned to it, the lists.
    let mark = app
        .json_as(
            &d,
            "PUT",
            &format!("/api/v1/t/henan/schools/{}/central", central.org_id),
            Some(serde_json::json!({"is_central": true})),
        )
        .await;
    assert_eq!(mark.status, StatusCode::NO_CONTENT, "{}", mark.text());
    let assign = app
        .json_as(
            &d,
            "PUT",
            &format!("/api/v1/t/henan/schools/{}/central-school", mine.org_id),
            Some(serde_json::json!({"central_school_id": central.org_id})),
        )
        .await;
    assert_eq!(assign.status, StatusCode::NO_CONTENT, "{}", assign.text());
    let centrals = app
        .json_as(&d, "GET", "/api/v1/t/henan/central-schools", None)
        .await;
    assert_eq!(centrals.status, StatusCode::OK, "{}", centrals.text());
    insta::assert_json_snapshot!("central_schools", redacted(centrals.json()));
    let c = app.sign_in(SLUG, &central).await;
    let assigned = app
        .json_as(&c, "GET", "/api/v1/t/henan/assigned-schools", None)
        .await;
    assert_eq!(assigned.status, StatusCode::OK, "{}", assigned.text());
    insta::assert_json_snapshot!("assigned_schools", redacted(assigned.json()));
    let across = app
        .json_as(
            &d,
            "PUT",
            &format!("/api/v1/t/henan/schools/{}/central-school", other.org_id),
            Some(serde_json::json!({"central_school_id": central.org_id})),
        )
        .await;
    insta::assert_json_snapshot!("central_assignment_across_scopes_refusal", answer(&across));

    // A change request: the school's own record, the request, the lists, the decision.
    let s = app.sign_in(SLUG, &mine).await;
    let own = app.json_as(&s, "GET", "/api/v1/t/henan/school", None).await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.text());
    insta::assert_json_snapshot!("own_school", redacted(own.json()));
    let created = app
        .json_as(
            &s,
            "POST",
            "/api/v1/t/henan/school/change-requests",
            Some(serde_json::json!({"kind": "rename", "new_name": "快照金水区实验小学", "reason": "学校更名获批"})),
        )
        .await;
    insta::assert_json_snapshot!("change_request_created", redacted(answer(&created)));
    let bad = app
        .json_as(
            &s,
            "POST",
            "/api/v1/t/henan/school/change-requests",
            Some(serde_json::json!({"kind": "teleport"})),
        )
        .await;
    insta::assert_json_snapshot!("change_request_kind_refusal", answer(&bad));
    let requests = app
        .json_as(&d, "GET", "/api/v1/t/henan/change-requests", None)
        .await;
    assert_eq!(requests.status, StatusCode::OK, "{}", requests.text());
    insta::assert_json_snapshot!("change_requests", redacted(requests.json()));
    let id = created.json()["change_request_id"]
        .as_i64()
        .expect("the created request's id");
    let decision_uri = format!("/api/v1/t/henan/change-requests/{id}/decision");
    let decide = |body: serde_json::Value| app.json_as(&d, "POST", &decision_uri, Some(body));
    let no_reason = decide(serde_json::json!({"decision": "refuse"})).await;
    insta::assert_json_snapshot!("change_request_refusal_without_reason", answer(&no_reason));
    let approved = decide(serde_json::json!({"decision": "approve"})).await;
    insta::assert_json_snapshot!("change_request_approved", redacted(answer(&approved)));
}

#[tokio::test]
async fn identity_answers_keep_their_shape() {
    let app = TestApp::init().await.with_demo_tenants().await;
    assert!(app.clock.set_china("2025-06-02 09:00"));
    let dept = department(&app, "快照金水区", "快照金水区教育局", "410105").await;
    let anonymous = app.get("/api/v1/t/henan/me").await;
    insta::assert_json_snapshot!("me_unauthenticated", answer(&anonymous));
    let login = |password: &str| serde_json::json!({"account_type": "department", "login_name": "快照金水区", "password": password});
    let bad = post_public(&app, "/api/v1/t/henan/session", login("Wrong2026pw")).await;
    insta::assert_json_snapshot!("session_bad_password", answer(&bad));
    let ok = post_public(&app, "/api/v1/t/henan/session", login(&dept.password)).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    insta::assert_json_snapshot!("session_created", redacted(ok.json()));
    let d = app.sign_in(SLUG, &dept).await;
    let me = app.json_as(&d, "GET", "/api/v1/t/henan/me", None).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text());
    insta::assert_json_snapshot!("me", redacted(me.json()));

    // Registration: submit, the reviewer's list and record, refusal and approval.
    let b64 = crate::registration::base64(b"%PDF-1.4\n%snapshot\n");
    let body = serde_json::json!({
        "name": "快照金水区接口幼儿园", "region_code": "410105", "nature": "民办",
        "school_type": "kindergarten", "address": "郑州市金水区花园路 8 号",
        "principal": "王园长", "contact_name": "赵老师", "contact_mobile": "13812349901",
        "qualification": {"file_name": "办学许可证.pdf", "content_base64": b64},
    });
    let receipt = post_public(&app, "/api/v1/t/henan/registrations", body.clone()).await;
    insta::assert_json_snapshot!("registration_receipt", redacted(answer(&receipt)));
    let again = post_public(&app, "/api/v1/t/henan/registrations", body).await;
    insta::assert_json_snapshot!("registration_name_taken", answer(&again));
    let org = receipt.json()["org_id"].as_i64().expect("org_id");
    let list = app
        .json_as(&d, "GET", "/api/v1/t/henan/registrations", None)
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text());
    insta::assert_json_snapshot!("registrations", redacted(list.json()));
    let one = app
        .json_as(
            &d,
            "GET",
            &format!("/api/v1/t/henan/registrations/{org}"),
            None,
        )
        .await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.text());
    insta::assert_json_snapshot!("registration", redacted(one.json()));
    let refuse = app
        .json_as(
            &d,
            "POST",
            &format!("/api/v1/t/henan/registrations/{org}/refuse"),
            Some(serde_json::json!({"reason": ""})),
        )
        .await;
    insta::assert_json_snapshot!("registration_refusal_without_reason", answer(&refuse));
    let approve = app
        .json_as(
            &d,
            "POST",
            &format!("/api/v1/t/henan/registrations/{org}/approve"),
            None,
        )
        .await;
    insta::assert_json_snapshot!("registration_approved", redacted(answer(&approve)));
    let missing = app
        .json_as(
            &d,
            "POST",
            "/api/v1/t/henan/registrations/987654321/approve",
            None,
        )
        .await;
    insta::assert_json_snapshot!("registration_unknown", answer(&missing));
}

#[tokio::test]
async fn admin_answers_keep_their_shape() {
    let app = TestApp::init().await.with_demo_tenants().await;
    assert!(app.clock.set_china("2025-06-02 09:00"));
    let admin = app
        .account(
            SLUG,
            AccountSpec::new("快照平台管理员", "410000", &[Role::ProgrammeAuthority]),
        )
        .await;
    let dept = department(&app, "快照二七区", "快照二七区教育局", "410103").await;
    let a = app.sign_in(SLUG, &admin).await;
    let jobs = app
        .json_as(&a, "GET", "/api/v1/t/henan/jobs?status=dead", None)
        .await;
    assert_eq!(jobs.status, StatusCode::OK, "{}", jobs.text());
    insta::assert_json_snapshot!("jobs_dead", redacted(jobs.json()));
    let bad = app
        .json_as(&a, "GET", "/api/v1/t/henan/jobs?status=lost", None)
        .await;
    insta::assert_json_snapshot!("jobs_bad_status", answer(&bad));
    let missing = app
        .json_as(&a, "POST", "/api/v1/t/henan/jobs/987654321/retry", None)
        .await;
    insta::assert_json_snapshot!("job_retry_unknown", answer(&missing));
    let d = app.sign_in(SLUG, &dept).await;
    let forbidden = app.json_as(&d, "GET", "/api/v1/t/henan/jobs", None).await;
    insta::assert_json_snapshot!("jobs_forbidden", answer(&forbidden));
    let import = app
        .json_as(
            &a,
            "POST",
            "/api/v1/t/henan/onboarding/schools",
            Some(serde_json::json!({})),
        )
        .await;
    insta::assert_json_snapshot!("onboarding_schools_without_file", redacted(answer(&import)));
}

#[tokio::test]
async fn public_answers_keep_their_shape() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let tenant = app.get("/api/v1/t/henan").await;
    assert_eq!(tenant.status, StatusCode::OK, "{}", tenant.text());
    insta::assert_json_snapshot!("tenant", redacted(tenant.json()));
    let region = app.get("/api/v1/t/henan/regions/410105").await;
    assert_eq!(region.status, StatusCode::OK, "{}", region.text());
    insta::assert_json_snapshot!("region", redacted(region.json()));
    let children = app.get("/api/v1/t/henan/regions/410100/children").await;
    assert_eq!(children.status, StatusCode::OK, "{}", children.text());
    insta::assert_json_snapshot!("region_children", redacted(children.json()));
    let malformed = app.get("/api/v1/t/henan/regions/41A000").await;
    insta::assert_json_snapshot!("region_malformed", answer(&malformed));
    let unknown = app.get("/api/v1/t/henan/regions/999999").await;
    insta::assert_json_snapshot!("region_unknown", answer(&unknown));
    let no_tenant = app.get("/api/v1/t/atlantis/regions/410105").await;
    insta::assert_json_snapshot!("tenant_unknown", answer(&no_tenant));
    let no_route = app.get("/api/v1/no/such/route").await;
    insta::assert_json_snapshot!("route_unknown", answer(&no_route));
}
