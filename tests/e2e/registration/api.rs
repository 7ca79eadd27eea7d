//! Registration, decision and activation through the JSON API.

use super::*;

#[tokio::test]
async fn the_api_registers_decides_and_activates() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let dept = department(&app, "金水区教育局", "金水区", "410105").await;
    let b64 = base64(&pdf());
    let body = |name: &str, mobile: &str| {
        serde_json::json!({
            "name": name, "region_code": "410105", "nature": "民办",
            "school_type": "kindergarten", "address": "郑州市金水区花园路 8 号",
            "principal": "王园长", "contact_name": "赵老师", "contact_mobile": mobile,
            "qualification": {"file_name": "民办学校办学许可证.jpg", "content_base64": b64},
        })
    };
    let post = |v: serde_json::Value| {
        app.request(
            Request::post("/api/v1/t/henan/registrations")
                .header("content-type", "application/json")
                .body(Body::from(v.to_string()))
                .unwrap(),
        )
    };
    // A PDF named .jpg is refused by content.
    let r = post(body("郑州市金水区接口测试幼儿园", "13812340041")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(r.json()["error"]["field"], "qualification");
    let mut ok = body("郑州市金水区接口测试幼儿园", "13812340041");
    ok["qualification"]["file_name"] = "办学许可证.pdf".into();
    let r = post(ok.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let receipt = r.json();
    assert_eq!(receipt["status"], "pending");
    assert_eq!(receipt["reviewer"], "金水区教育局");
    let org = receipt["org_id"].as_i64().unwrap();
    let r = post(ok).await;
    assert_eq!(r.json()["error"]["field"], "name");

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
    let approve = app
        .json_as(
            &s,
            "POST",
            &format!("/api/v1/t/henan/registrations/{org}/approve"),
            None,
        )
        .await;
    assert_eq!(approve.status, StatusCode::NO_CONTENT, "{}", approve.text());
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
