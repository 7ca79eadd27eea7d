use axum::http::StatusCode;
use xiaobao_test_support::{TestApp, TestAppOptions};

#[tokio::test]
async fn healthz_answers_without_touching_anything() {
    let app = TestApp::init().await;
    let r = app.get("/healthz").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text(), "ok");
}

#[tokio::test]
async fn readyz_checks_every_cluster_redis_and_the_object_store() {
    let app = TestApp::start(TestAppOptions {
        second_cluster: true,
        redis: true,
    })
    .await;
    let r = app.get("/readyz").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let body = r.json();
    assert_eq!(body["ready"], true);
    assert_eq!(body["database"], "ok");
    assert_eq!(body["redis"], "ok");
    assert_eq!(body["object_store"], "ok");

    // With cluster B unreachable, the service is not ready, and says which part failed.
    app.db().clusters.get("b").unwrap().close().await;
    let r = app.get("/readyz").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
    assert_eq!(r.json()["database"], "failed");
    assert_eq!(r.json()["redis"], "ok");
}
