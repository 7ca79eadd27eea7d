use axum::http::StatusCode;
use xiaobao_test_support::TestApp;

#[tokio::test]
async fn each_demo_tenant_landing_page_shows_its_programme_name() {
    let app = TestApp::init().await.with_demo_tenants().await;
    for (slug, name, region) in [
        ("henan", "河南省教育保险管理系统", "郑州市"),
        ("liupanshui", "六盘水市校方责任保险管理系统", "盘州市"),
        ("shanghai", "上海市中小学校方责任保险管理系统", "浦东新区"),
    ] {
        let r = app.get(&format!("/t/{slug}/")).await;
        assert_eq!(r.status, StatusCode::OK, "{slug}: {}", r.text());
        let html = r.text();
        assert!(
            html.contains(&format!("<title>{name}</title>")),
            "{slug}: {html}"
        );
        assert!(html.contains(region), "{slug} lists {region}");
        assert!(html.contains("2025-2026"));
        assert_eq!(
            r.headers["content-type"].to_str().unwrap(),
            "text/html; charset=utf-8"
        );
    }
    // Rates come from each programme's own rules.
    assert!(
        app.get("/t/liupanshui/")
            .await
            .text()
            .contains("10.00 元/人/年")
    );
    let shanghai = app.get("/t/shanghai/").await.text();
    assert!(shanghai.contains("5.00 元/人/年") && shanghai.contains("15.00 元/人/年"));
    // Henan's deadlines: schools by 30 September.
    assert!(app.get("/t/henan/").await.text().contains("2025年9月30日"));
}

#[tokio::test]
async fn a_host_name_selects_the_tenant_and_never_crosses_to_another() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let r = app.get_on_host("henan.localhost:8080", "/").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text().contains("河南省教育保险管理系统"));
    let api = app
        .get_on_host("shanghai.localhost", "/api/v1/regions/310000/children")
        .await;
    assert_eq!(api.status, StatusCode::OK, "{}", api.text());
    assert_eq!(api.json().as_array().unwrap().len(), 16);
    // A tenant host cannot reach another tenant by path.
    let cross = app.get_on_host("henan.localhost", "/t/shanghai/").await;
    assert_eq!(cross.status, StatusCode::NOT_FOUND);
    let cross_api = app
        .get_on_host("henan.localhost", "/api/v1/t/shanghai/regions/310000")
        .await;
    assert_eq!(cross_api.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_unknown_tenant_is_a_chinese_404_page_never_a_default_tenant() {
    let app = TestApp::init().await.with_demo_tenants().await;
    for r in [
        app.get("/t/nosuch/").await,
        app.get_on_host("nosuch.localhost", "/").await,
    ] {
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let html = r.text();
        assert!(html.contains("页面不存在"), "{html}");
        assert!(!html.contains("河南省教育保险管理系统"));
    }
    let api = app.get("/api/v1/t/nosuch/regions/410000").await;
    assert_eq!(api.status, StatusCode::NOT_FOUND);
    assert_eq!(api.json()["error"]["code"], "not_found");
}

#[tokio::test]
async fn the_platform_index_lists_active_tenants_and_pages_carry_security_headers() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let r = app.get("/").await;
    assert_eq!(r.status, StatusCode::OK);
    let html = r.text();
    for slug in ["henan", "liupanshui", "shanghai"] {
        assert!(html.contains(&format!("/t/{slug}/")), "{slug}");
    }
    assert_eq!(r.headers["x-content-type-options"], "nosniff");
    assert_eq!(r.headers["x-frame-options"], "DENY");
    assert!(
        r.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'self'")
    );
    assert!(r.headers.contains_key("x-request-id"));
    let css = app.get("/static/app.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(
        css.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
}
