use axum::body::Body;
use axum::http::{Request, StatusCode};
use xiaobao_test_support::TestApp;

#[test]
fn the_openapi_document_matches_its_snapshot() {
    // An API change must show up as a diff of tests/e2e/snapshots/.
    insta::assert_snapshot!("openapi", xiaobao_http::openapi_json());
}

#[tokio::test]
async fn the_service_serves_its_openapi_document() {
    let app = TestApp::init().await;
    let r = app.get("/api/v1/openapi.json").await;
    assert_eq!(r.status, StatusCode::OK);
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/api/v1/t/{slug}/regions/{code}/children"].is_object());
}

#[tokio::test]
async fn region_children_come_in_display_order_with_the_direct_bucket_last() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let r = app
        .get("/api/v1/t/liupanshui/regions/520200/children")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let names: Vec<String> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["钟山区", "六枝特区", "水城区", "盘州市", "市直"]);
}

#[tokio::test]
async fn bad_input_gets_a_structured_chinese_error() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let r = app.get("/api/v1/t/henan/regions/41A000").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let e = &r.json()["error"];
    assert_eq!(e["code"], "invalid_input");
    assert_eq!(e["field"], "code");
    assert!(e["message"].as_str().unwrap().contains("6"), "{e}");

    let r = app.get("/api/v1/t/henan/regions/999999").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("999999")
    );

    let r = app.get("/api/v1/t/henan/rules/2025-2027").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "academic_year");

    let r = app
        .get("/api/v1/t/henan/working-days/due?from=yesterday&days=1")
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "from");

    let r = app
        .get("/api/v1/t/henan/working-days/due?from=2025-09-30T10:00:00%2B08:00")
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "invalid_input");

    let r = app.get("/api/v1/no/such/route").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["error"]["code"], "not_found");
}

#[tokio::test]
async fn rules_in_force_are_served_with_their_version() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let r = app.get("/api/v1/t/shanghai/rules/2025-2026").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let body = r.json();
    assert_eq!(body["version"], 1);
    assert!(body["changed_at"].as_str().unwrap().ends_with("+08:00"));
    let products = body["rules"]["products"].as_array().unwrap();
    assert_eq!(products.len(), 2);

    // A new version is what the API then serves, and the change is audited.
    let tenant = app.db().active_tenant("shanghai").unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let current = xiaobao_db::rules::current(&mut tx, "2025-2026")
        .await
        .unwrap()
        .unwrap();
    let v = xiaobao_db::rules::save_version(
        &mut tx,
        "2025-2026",
        &current.document,
        "cli:root",
        "复核",
    )
    .await
    .unwrap();
    let audited: i64 = sqlx::query_scalar(
        "select count(*) from audit_log where action = 'rules.change' \
             and entity_id like '2025-2026#%'",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(v, 2);
    assert_eq!(audited, 2);
    let r = app.get("/api/v1/t/shanghai/rules/2025-2026").await;
    assert_eq!(r.json()["version"], 2);
    // The operator's system user name stays in the audit trail, out of the public answer.
    assert_eq!(r.json()["changed_by"], "平台运营方");
    assert!(!r.text().contains("root"), "{}", r.text());

    let r = app.get("/api/v1/t/shanghai/rules/2030-2031").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn working_day_deadlines_skip_the_national_day_holiday() {
    let app = TestApp::init().await.with_demo_tenants().await;
    // Reported on 30 September 2025: one working day later is 9 October (1–8 October off).
    let r = app
        .get("/api/v1/t/liupanshui/working-days/due?from=2025-09-30T10:00:00%2B08:00&days=1")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let body = r.json();
    assert_eq!(body["last_day"], "2025-10-09");
    assert_eq!(body["due_at"], "2025-10-10T00:00:00+08:00");
    assert_eq!(body["beyond_known_calendar"], false);
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let app = TestApp::init().await;
    let limit = app.state.config.server.body_limit_bytes;
    let r = app
        .request(
            Request::post("/api/v1/tenants")
                .header("content-length", (limit + 1).to_string())
                .body(Body::from(vec![b'x'; limit + 1]))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
}
