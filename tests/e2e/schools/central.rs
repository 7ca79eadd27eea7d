//! Central schools and the schools assigned to them.

use super::*;

/// 金水区 with its department signed in, a central school (marked through the page) and three
/// schools: 甲 and 乙 assigned to the central school, 丙 not.
struct Central {
    app: TestApp,
    d: SignedInSession,
    central: TestAccount,
    a: TestAccount,
    c: TestAccount,
}

async fn central_with_two_schools() -> Central {
    let app = TestApp::init().await.with_demo_tenants().await;
    let dept = department(&app, "金水区", "金水区教育局", "410105").await;
    let central = school(&app, "郑州市金水区中心校", "410105").await;
    let a = school(&app, "郑州市金水区甲小学", "410105").await;
    let b = school(&app, "郑州市金水区乙小学", "410105").await;
    let c = school(&app, "郑州市金水区丙小学", "410105").await;
    let d = app.sign_in(SLUG, &dept).await;

    let r = app
        .post_as(
            &d,
            &format!("/t/henan/schools/{}/central", central.org_id),
            &[("is_central", "1")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let location = r.headers["location"].to_str().unwrap().to_string();
    let page = app.get_with_cookie(&location, &d.cookie).await.text();
    assert!(page.contains("退出后重新登录"), "{page}");
    let role: i64 = scalar(
        &app,
        "select count(*) from account_roles where account_id = $1 and role = 'central_school'",
        central.account_id,
    )
    .await;
    assert_eq!(role, 1);
    for s in [&a, &b] {
        let r = app
            .post_as(
                &d,
                &format!("/t/henan/schools/{}/central-school", s.org_id),
                &[("central_school_id", &central.org_id.to_string())],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    }
    Central {
        app,
        d,
        central,
        a,
        c,
    }
}

#[tokio::test]
async fn a_central_school_counts_the_schools_assigned_to_it() {
    let Central {
        app, d, central, ..
    } = central_with_two_schools().await;
    let list = app
        .json_as(&d, "GET", "/api/v1/t/henan/central-schools", None)
        .await
        .json();
    assert_eq!(list[0]["org_id"], central.org_id);
    assert_eq!(list[0]["assigned"], 2);
}

#[tokio::test]
async fn a_school_cannot_join_itself_as_its_central_school() {
    let Central {
        app, d, central, ..
    } = central_with_two_schools().await;
    // A school cannot join itself.
    let r = app
        .json_as(
            &d,
            "PUT",
            &format!("/api/v1/t/henan/schools/{}/central-school", central.org_id),
            Some(serde_json::json!({"central_school_id": central.org_id})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["message"], "学校不能加入自己");
}

#[tokio::test]
async fn a_central_school_sees_exactly_the_schools_assigned_to_it() {
    let Central { app, central, .. } = central_with_two_schools().await;
    // The role comes with the next sign-in.
    let s = app.sign_in(SLUG, &central).await;
    let me = app.json_as(&s, "GET", "/api/v1/t/henan/me", None).await;
    assert!(
        me.json()["roles"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("central_school"))
    );
    let page = app
        .get_with_cookie("/t/henan/assigned-schools", &s.cookie)
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains("郑州市金水区甲小学") && html.contains("郑州市金水区乙小学"));
    assert!(!html.contains("郑州市金水区丙小学"));
    assert!(html.contains("共 2 所学校"));
    assert_eq!(
        api_names(&app, &s, "/api/v1/t/henan/assigned-schools").await,
        ["郑州市金水区乙小学", "郑州市金水区甲小学"]
    );
}

#[tokio::test]
async fn reading_an_assigned_school_is_recorded_as_done_on_its_behalf() {
    let Central {
        app, central, a, ..
    } = central_with_two_schools().await;
    let s = app.sign_in(SLUG, &central).await;
    // Reading one of its schools is recorded as done on the school's behalf.
    let r = app
        .get_with_cookie(&format!("/t/henan/schools/{}", a.org_id), &s.cookie)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let viewed = audit_rows(&app, "school.viewed_on_behalf").await;
    assert_eq!(viewed.len(), 1);
    assert_eq!(viewed[0].3, Some(a.org_id));
    assert_eq!(viewed[0].2, Some(central.account_id));
}

#[tokio::test]
async fn a_school_not_assigned_to_the_central_school_is_out_of_its_reach() {
    let Central {
        app, central, c, ..
    } = central_with_two_schools().await;
    let s = app.sign_in(SLUG, &central).await;
    // A school not assigned to it is out of reach.
    let r = app
        .get_with_cookie(&format!("/t/henan/schools/{}", c.org_id), &s.cookie)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_central_school_asks_for_a_change_on_an_assigned_schools_behalf() {
    let Central {
        app, central, a, ..
    } = central_with_two_schools().await;
    let s = app.sign_in(SLUG, &central).await;
    // It asks for a change for one of its schools, on that school's behalf.
    let r = app
        .post_as(
            &s,
            &format!("/t/henan/schools/{}/change-requests", a.org_id),
            &[
                ("kind", "deregister"),
                ("deregister_cause", "closure"),
                ("reason", "教学点撤销"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let on_behalf: i64 = scalar(
        &app,
        "select on_behalf_of from change_requests where org_id = $1 and kind = 'deregister'",
        a.org_id,
    )
    .await;
    assert_eq!(on_behalf, a.org_id);
    let created = audit_rows(&app, "change_request.created").await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].3, Some(a.org_id));
    assert_eq!(created[0].2, Some(central.account_id));
}

#[tokio::test]
async fn a_department_has_no_assigned_schools_page() {
    let Central { app, d, .. } = central_with_two_schools().await;
    // A department has no 所辖学校 page.
    assert_eq!(
        app.get_with_cookie("/t/henan/assigned-schools", &d.cookie)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn unmarking_a_central_school_releases_its_schools() {
    let Central {
        app, d, central, ..
    } = central_with_two_schools().await;
    // Unmarking releases the schools.
    let r = app
        .json_as(
            &d,
            "PUT",
            &format!("/api/v1/t/henan/schools/{}/central", central.org_id),
            Some(serde_json::json!({"is_central": false})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let assigned: i64 = scalar(
        &app,
        "select count(*) from organisations where central_school_id = $1",
        central.org_id,
    )
    .await;
    assert_eq!(assigned, 0);
}

#[tokio::test]
async fn assignment_across_scopes_is_refused() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let jinshui = department(&app, "金水区", "金水区教育局", "410105").await;
    let zhongmou = department(&app, "中牟县", "中牟县教育局", "410122").await;
    let central = school(&app, "中牟县中心校", "410122").await;
    let mine = school(&app, "郑州市金水区跨区测试小学", "410105").await;
    let z = app.sign_in(SLUG, &zhongmou).await;
    let r = app
        .json_as(
            &z,
            "PUT",
            &format!("/api/v1/t/henan/schools/{}/central", central.org_id),
            Some(serde_json::json!({"is_central": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());

    let j = app.sign_in(SLUG, &jinshui).await;
    // Joining another county's central school: the central school is not in scope.
    let r = app
        .json_as(
            &j,
            "PUT",
            &format!("/api/v1/t/henan/schools/{}/central-school", mine.org_id),
            Some(serde_json::json!({"central_school_id": central.org_id})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Nor can it mark or reassign a school of another county.
    let r = app
        .post_as(
            &j,
            &format!("/t/henan/schools/{}/central", central.org_id),
            &[("is_central", "0")],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let (is_central, assigned): (bool, Option<i64>) = {
        let tenant = app.db().active_tenant(SLUG).unwrap();
        let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
        let a: bool = sqlx::query_scalar("select is_central from organisations where org_id = $1")
            .bind(central.org_id)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        let b: Option<i64> =
            sqlx::query_scalar("select central_school_id from organisations where org_id = $1")
                .bind(mine.org_id)
                .fetch_one(&mut *tx)
                .await
                .unwrap();
        tx.commit().await.unwrap();
        (a, b)
    };
    assert!(is_central);
    assert_eq!(assigned, None);
    let audited = audit_rows(&app, "access.out_of_scope").await;
    assert!(
        audited
            .iter()
            .filter(|r| r.2 == Some(jinshui.account_id))
            .count()
            >= 2,
        "{audited:?}"
    );
}

#[tokio::test]
async fn a_central_school_follows_each_assigned_schools_enrolment() {
    let Central {
        app, central, a, ..
    } = central_with_two_schools().await;
    app.open_enrolment_year(SLUG, &[(9001, "测试财险", "410100")])
        .await;
    let s = app.sign_in(SLUG, &central).await;
    // A draft for 甲, saved on its behalf.
    let r = app
        .json_as(
            &s,
            "PUT",
            &format!(
                "/api/v1/t/henan/enrolment/schools/{}/products/school_liability",
                a.org_id
            ),
            Some(serde_json::json!({"headcount": 30, "company_id": 9001})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    for path in ["/t/henan/assigned-schools", "/t/henan/enrolment"] {
        let html = app.get_with_cookie(path, &s.cookie).await.text();
        let row = |name: &str| {
            html.split("<tr>")
                .find(|r| r.contains(name))
                .unwrap_or_else(|| panic!("{path}: no row of {name}: {html}"))
                .to_string()
        };
        assert!(
            row("郑州市金水区甲小学").contains("校方责任保险（无过失责任险）：草稿"),
            "{path}: {html}"
        );
        assert!(
            row("郑州市金水区乙小学").contains("未开始"),
            "{path}: {html}"
        );
    }
}
