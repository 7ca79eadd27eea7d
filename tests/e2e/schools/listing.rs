//! Region scope of the school list and school reads: what each department, a city and a school may see.

use super::*;

/// 金水区's department signed in, two schools of 金水区 and one of 中牟县.
async fn county_with_two_schools() -> (TestApp, SignedInSession, TestAccount, TestAccount) {
    let app = TestApp::init().await.with_demo_tenants().await;
    let dept = department(&app, "金水区", "金水区教育局", "410105").await;
    let a = school(&app, "郑州市金水区第一小学", "410105").await;
    let b = school(&app, "郑州市金水区第二小学", "410105").await;
    school(&app, "中牟县第一小学", "410122").await;
    let s = app.sign_in(SLUG, &dept).await;
    (app, s, a, b)
}

#[tokio::test]
async fn a_county_department_lists_only_its_county_with_masked_mobiles() {
    let (app, s, a, _) = county_with_two_schools().await;

    let page = app.get_with_cookie("/t/henan/schools", &s.cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains("郑州市金水区第一小学") && html.contains("郑州市金水区第二小学"));
    assert!(!html.contains("中牟县第一小学"), "{html}");
    assert!(html.contains("共 2 所学校"), "{html}");
    // Lists never show a whole mobile.
    let mobile = a.mobile.clone().unwrap();
    assert!(!html.contains(&mobile));
    assert!(html.contains(&xiaobao_audit::mask_phone(&mobile)));
    // The sub-region select offers the county only (its subtree), not other counties.
    assert!(html.contains("<option value=\"410105\""));
    assert!(!html.contains("<option value=\"410122\""));

    assert_eq!(
        api_names(&app, &s, "/api/v1/t/henan/schools").await,
        ["郑州市金水区第一小学", "郑州市金水区第二小学"]
    );
}

#[tokio::test]
async fn the_school_list_api_filters_by_name_with_masked_mobiles() {
    let (app, s, _, b) = county_with_two_schools().await;
    let r = app
        .json_as(&s, "GET", "/api/v1/t/henan/schools?name=第二", None)
        .await;
    assert_eq!(r.json()["total"], 1);
    assert_eq!(r.json()["items"][0]["org_id"], b.org_id);
    assert_eq!(
        r.json()["items"][0]["contact_mobile"],
        xiaobao_audit::mask_phone(b.mobile.as_deref().unwrap())
    );
}

#[tokio::test]
async fn paging_the_school_list_keeps_the_total() {
    let (app, s, _, _) = county_with_two_schools().await;
    let r = app
        .json_as(&s, "GET", "/api/v1/t/henan/schools?per_page=1&page=2", None)
        .await;
    assert_eq!(r.json()["total"], 2);
    assert_eq!(r.json()["items"][0]["name"], "郑州市金水区第二小学");
}

#[tokio::test]
async fn a_region_filter_outside_the_subtree_is_refused_not_widened() {
    let (app, s, _, _) = county_with_two_schools().await;
    let r = app
        .json_as(
            &s,
            "GET",
            "/api/v1/t/henan/schools?region_code=410122",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "region_code");
}

#[tokio::test]
async fn a_department_reads_its_own_school_with_the_whole_mobile() {
    let (app, s, a, _) = county_with_two_schools().await;
    let mobile = a.mobile.clone().unwrap();
    let r = app
        .json_as(
            &s,
            "GET",
            &format!("/api/v1/t/henan/schools/{}", a.org_id),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["contact_mobile"], mobile.as_str());
    let page = app
        .get_with_cookie(&format!("/t/henan/schools/{}", a.org_id), &s.cookie)
        .await;
    assert!(page.text().contains(&mobile));
}

#[tokio::test]
async fn reading_another_countys_school_is_404_and_audited() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let dept = department(&app, "金水区", "金水区教育局", "410105").await;
    let other = school(&app, "中牟县范围测试小学", "410122").await;
    let s = app.sign_in(SLUG, &dept).await;

    let page = app
        .get_with_cookie(&format!("/t/henan/schools/{}", other.org_id), &s.cookie)
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(!page.text().contains("中牟县范围测试小学"));
    let api = app
        .json_as(
            &s,
            "GET",
            &format!("/api/v1/t/henan/schools/{}", other.org_id),
            None,
        )
        .await;
    assert_eq!(api.status, StatusCode::NOT_FOUND);
    assert_eq!(api.json()["error"]["code"], "not_found");
    // Management calls outside the scope are 404 too, and change nothing.
    let r = app
        .post_as(
            &s,
            &format!("/t/henan/schools/{}/contact-mobile", other.org_id),
            &[("contact_mobile", "13700001111")],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let mobile: String = scalar(
        &app,
        "select contact_mobile from organisations where org_id = $1",
        other.org_id,
    )
    .await;
    assert_eq!(Some(mobile), other.mobile);

    let rows = audit_rows(&app, "access.out_of_scope").await;
    let mine: Vec<_> = rows
        .iter()
        .filter(|r| r.1.as_deref() == Some(other.org_id.to_string().as_str()))
        .collect();
    assert_eq!(mine.len(), 3, "{rows:?}");
    assert!(
        mine.iter()
            .all(|r| r.0 == "organisation" && r.2 == Some(dept.account_id))
    );
}

#[tokio::test]
async fn a_school_cannot_reach_the_school_list_or_another_schools_record() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let me = school(&app, "郑州市金水区自查小学", "410105").await;
    let neighbour = school(&app, "郑州市金水区邻校小学", "410105").await;
    let s = app.sign_in(SLUG, &me).await;

    assert_eq!(
        app.get_with_cookie("/t/henan/schools", &s.cookie)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get_with_cookie(&format!("/t/henan/schools/{}", neighbour.org_id), &s.cookie)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let r = app
        .json_as(
            &s,
            "GET",
            &format!("/api/v1/t/henan/schools/{}", neighbour.org_id),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Its own record is at 学校信息, and only its own.
    let page = app.get_with_cookie("/t/henan/school", &s.cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("郑州市金水区自查小学"));
    assert!(!page.text().contains("郑州市金水区邻校小学"));
    let own = app.json_as(&s, "GET", "/api/v1/t/henan/school", None).await;
    assert_eq!(own.json()["school"]["org_id"], me.org_id);
    assert_eq!(
        own.json()["school"]["contact_mobile"],
        me.mobile.as_deref().unwrap()
    );
    // Asking for a change of another school is impossible: it is not in its scope.
    let r = app
        .post_as(
            &s,
            &format!("/t/henan/schools/{}/change-requests", neighbour.org_id),
            &[
                ("kind", "deregister"),
                ("deregister_cause", "closure"),
                ("reason", "不是本校"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let open: i64 = scalar(
        &app,
        "select count(*) from change_requests where org_id = $1",
        neighbour.org_id,
    )
    .await;
    assert_eq!(open, 0);
}

#[tokio::test]
async fn a_city_department_sees_every_county_of_its_city() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let city = department(&app, "郑州市", "郑州市教育局", "410100").await;
    school(&app, "郑州市金水区城市测试小学", "410105").await;
    school(&app, "中牟县城市测试小学", "410122").await;
    school(&app, "洛阳市涧西区城市测试小学", "410305").await;
    let s = app.sign_in(SLUG, &city).await;

    assert_eq!(
        api_names(&app, &s, "/api/v1/t/henan/schools").await,
        ["中牟县城市测试小学", "郑州市金水区城市测试小学"]
    );
    assert_eq!(
        api_names(&app, &s, "/api/v1/t/henan/schools?region_code=410122").await,
        ["中牟县城市测试小学"]
    );
    let r = app
        .json_as(
            &s,
            "GET",
            "/api/v1/t/henan/schools?region_code=410305",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    // The page counts schools per county of the city.
    let html = app
        .get_with_cookie("/t/henan/schools", &s.cookie)
        .await
        .text();
    assert!(html.contains("id=\"region_counts\""));
    assert!(html.contains("中牟县</a></td><td>1</td>"), "{html}");
    assert!(html.contains("二七区</a></td><td>0</td>"));
    assert!(!html.contains("洛阳市涧西区城市测试小学"));
}

#[tokio::test]
async fn name_searches_take_wildcards_literally() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let dept = department(&app, "金水区", "金水区教育局", "410105").await;
    school(&app, "郑州市金水区百分百小学", "410105").await;
    school(&app, "郑州市金水区第_实验小学", "410105").await;
    let d = app.sign_in(SLUG, &dept).await;
    // `%` and `_` match themselves, not any text.
    assert!(
        api_names(&app, &d, "/api/v1/t/henan/schools?name=%25")
            .await
            .is_empty()
    );
    assert_eq!(
        api_names(&app, &d, "/api/v1/t/henan/schools?name=_").await,
        ["郑州市金水区第_实验小学"]
    );
    assert_eq!(
        api_names(&app, &d, "/api/v1/t/henan/schools?name=百分").await,
        ["郑州市金水区百分百小学"]
    );
}
