//! Registration, decision and activation through the JSON API.

use super::*;

/// The registration the API tests send: a kindergarten of 金水区 with a PDF as its licence
/// (named .jpg, which the content check refuses; the caller renames it).
fn api_body(name: &str, mobile: &str) -> serde_json::Value {
    serde_json::json!({
        "name": name, "region_code": "410105", "nature": "民办",
        "school_type": "kindergarten", "address": "郑州市金水区花园路 8 号",
        "principal": "王园长", "contact_name": "赵老师", "contact_mobile": mobile,
        "qualification": {"file_name": "民办学校办学许可证.jpg", "content_base64": base64(&pdf())},
    })
}

async fn api_post(app: &TestApp, v: serde_json::Value) -> TestResponse {
    app.request(
        Request::post("/api/v1/t/henan/registrations")
            .header("content-type", "application/json")
            .body(Body::from(v.to_string()))
            .unwrap(),
    )
    .await
}

/// The accepted registration body (the licence named .pdf).
fn api_ok_body() -> serde_json::Value {
    let mut ok = api_body("郑州市金水区接口测试幼儿园", "13812340041");
    ok["qualification"]["file_name"] = "办学许可证.pdf".into();
    ok
}

/// 金水区's department, and a kindergarten registered through the API: the department and the
/// school's org id.
async fn registered_through_the_api(app: &TestApp) -> (TestAccount, i64) {
    let dept = department(app, "金水区教育局", "金水区", "410105").await;
    let r = api_post(app, api_ok_body()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let receipt = r.json();
    assert_eq!(receipt["status"], "pending");
    assert_eq!(receipt["reviewer"], "金水区教育局");
    let org = receipt["org_id"].as_i64().unwrap();
    (dept, org)
}

/// Approves through the API.
async fn api_approve(app: &TestApp, s: &SignedInSession, org: i64) {
    let approve = app
        .json_as(
            s,
            "POST",
            &format!("/api/v1/t/henan/registrations/{org}/approve"),
            None,
        )
        .await;
    assert_eq!(approve.status, StatusCode::NO_CONTENT, "{}", approve.text());
}

#[tokio::test]
async fn the_registration_api_refuses_a_pdf_named_jpg_by_its_content() {
    let app = TestApp::init().await.with_demo_tenants().await;
    department(&app, "金水区教育局", "金水区", "410105").await;
    // A PDF named .jpg is refused by content.
    let r = api_post(&app, api_body("郑州市金水区接口测试幼儿园", "13812340041")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(r.json()["error"]["field"], "qualification");
}

#[tokio::test]
async fn the_registration_api_answers_a_pending_receipt_and_refuses_the_name_again() {
    let app = TestApp::init().await.with_demo_tenants().await;
    registered_through_the_api(&app).await;
    let r = api_post(&app, api_ok_body()).await;
    assert_eq!(r.json()["error"]["field"], "name");
}

#[tokio::test]
async fn the_reviewer_lists_api_registrations_with_the_mobile_and_the_document() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let (dept, org) = registered_through_the_api(&app).await;
    let s = app.sign_in("henan", &dept).await;
    let list = app
        .json_as(&s, "GET", "/api/v1/t/henan/registrations", None)
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text());
    let rows = list.json();
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(rows[0]["org_id"], org);
    assert_eq!(rows[0]["nature"], "private");
    assert_eq!(rows[0]["school_type"], "kindergarten");
    assert_eq!(rows[0]["contact_mobile"], "13812340041");
    let url = rows[0]["qualification_download_url"].as_str().unwrap();
    assert_eq!(app.get(url).await.body, pdf());
}

#[tokio::test]
async fn an_api_decision_needs_a_reason_to_refuse_and_conflicts_once_decided() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let (dept, org) = registered_through_the_api(&app).await;
    let s = app.sign_in("henan", &dept).await;
    let refuse = app
        .json_as(
            &s,
            "POST",
            &format!("/api/v1/t/henan/registrations/{org}/refuse"),
            Some(serde_json::json!({"reason": ""})),
        )
        .await;
    assert_eq!(refuse.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refuse.json()["error"]["field"], "reason");
    api_approve(&app, &s, org).await;
    let again = app
        .json_as(
            &s,
            "POST",
            &format!("/api/v1/t/henan/registrations/{org}/approve"),
            None,
        )
        .await;
    // Already decided: a conflict, as on the page (409 on every route).
    assert_eq!(again.status, StatusCode::CONFLICT);
    let one = app
        .json_as(
            &s,
            "GET",
            &format!("/api/v1/t/henan/registrations/{org}"),
            None,
        )
        .await;
    assert_eq!(one.json()["status"], "active");
}

#[tokio::test]
async fn the_activation_api_signs_in_once_and_takes_the_first_password() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let (dept, org) = registered_through_the_api(&app).await;
    let s = app.sign_in("henan", &dept).await;
    api_approve(&app, &s, org).await;
    let path = activation_path(&app).await;
    let token = path.split("token=").nth(1).unwrap().to_string();
    let activate = |token: String| {
        app.request(
            Request::post("/api/v1/t/henan/activation")
                .header("content-type", "application/json")
                .body(Body::from(
                    serde_json::json!({ "token": token }).to_string(),
                ))
                .unwrap(),
        )
    };
    let r = activate(format!("{token}x")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "a wrong secret");
    let r = activate(token.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let session = r.json();
    assert_eq!(session["must_change_password"], true);
    assert_eq!(session["roles"], serde_json::json!(["school"]));
    let school = SignedInSession {
        cookie: session_cookie(&app, &r),
        csrf: session["csrf_token"].as_str().unwrap().to_string(),
        location: String::new(),
    };
    let set = app
        .json_as(
            &school,
            "POST",
            "/api/v1/t/henan/me/password",
            Some(serde_json::json!({"new_password": "Youeryuan2026"})),
        )
        .await;
    assert_eq!(set.status, StatusCode::NO_CONTENT, "{}", set.text());
    assert_eq!(activate(token).await.status, StatusCode::NOT_FOUND);
    app.sign_in_with(
        "henan",
        AccountType::School,
        "郑州市金水区接口测试幼儿园",
        "Youeryuan2026",
    )
    .await
    .unwrap();
}
