//! Rename, move and deregistration requests of a school and their decisions.

use super::*;

/// 金水区's department, and its school 郑州市金水区旧名小学 signed in, having asked to be renamed
/// 郑州市金水区新名小学: the app, the department, the school and its session.
async fn rename_requested() -> (TestApp, TestAccount, TestAccount, SignedInSession) {
    let app = TestApp::init().await.with_demo_tenants().await;
    let dept = department(&app, "金水区", "金水区教育局", "410105").await;
    let a = school(&app, "郑州市金水区旧名小学", "410105").await;
    let s = app.sign_in(SLUG, &a).await;

    let rename = [
        ("kind", "rename"),
        ("new_name", "郑州市金水区新名小学"),
        ("reason", "学校更名"),
    ];
    let r = app
        .post_as(&s, "/t/henan/school/change-requests", &rename)
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    (app, dept, a, s)
}

/// The department signs in, finds the one pending rename and approves it: its session and the
/// request's id.
async fn approve_the_rename(app: &TestApp, dept: &TestAccount) -> (SignedInSession, i64) {
    let d = app.sign_in(SLUG, dept).await;
    let pending = app
        .json_as(&d, "GET", "/api/v1/t/henan/change-requests", None)
        .await;
    let list = pending.json();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["new_name"], "郑州市金水区新名小学");
    let id = list[0]["change_request_id"].as_i64().unwrap();
    let r = app
        .post_as(
            &d,
            &format!("/t/henan/change-requests/{id}/decision"),
            &[("decision", "approve")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    (d, id)
}

#[tokio::test]
async fn a_second_open_rename_request_is_refused_with_a_clear_message() {
    let (app, _, _, s) = rename_requested().await;
    // One open request per kind, with a clear message.
    let again = app
        .post_as(
            &s,
            "/t/henan/school/change-requests",
            &[
                ("kind", "rename"),
                ("new_name", "郑州市金水区又一新名小学"),
                ("reason", "再次更名"),
            ],
        )
        .await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(again.text().contains("已有一条待审核的更名申请"));
}

#[tokio::test]
async fn deciding_a_change_request_twice_is_refused_on_the_page_and_through_the_api() {
    let (app, dept, _, _) = rename_requested().await;
    let (d, id) = approve_the_rename(&app, &dept).await;
    // Deciding twice is refused.
    let twice = app
        .post_as(
            &d,
            &format!("/t/henan/change-requests/{id}/decision"),
            &[("decision", "refuse"), ("reason", "重复")],
        )
        .await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
    // The same refusal answers the same status through the API.
    let twice = app
        .json_as(
            &d,
            "POST",
            &format!("/api/v1/t/henan/change-requests/{id}/decision"),
            Some(serde_json::json!({"decision": "refuse", "reason": "重复"})),
        )
        .await;
    assert_eq!(twice.status, StatusCode::CONFLICT, "{}", twice.text());
    assert_eq!(twice.json()["error"]["code"], "already_decided");
}

#[tokio::test]
async fn an_approved_rename_changes_the_login_name() {
    let (app, dept, a, _) = rename_requested().await;
    approve_the_rename(&app, &dept).await;
    let name: String = scalar(
        &app,
        "select name from organisations where org_id = $1",
        a.org_id,
    )
    .await;
    assert_eq!(name, "郑州市金水区新名小学");
    let login: String = scalar(
        &app,
        "select login_name || '|' || display_name from accounts where account_id = $1",
        a.account_id,
    )
    .await;
    assert_eq!(login, "郑州市金水区新名小学|郑州市金水区新名小学");
    let old = app
        .sign_in_with(
            SLUG,
            AccountType::School,
            "郑州市金水区旧名小学",
            &a.password,
        )
        .await
        .unwrap_err();
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    app.sign_in_with(
        SLUG,
        AccountType::School,
        "郑州市金水区新名小学",
        &a.password,
    )
    .await
    .unwrap();
    let renamed = audit_rows(&app, "school.renamed").await;
    assert_eq!(renamed.len(), 1);
    assert_eq!(
        renamed[0].4["changes"]["name"]["before"],
        "郑州市金水区旧名小学"
    );
    assert_eq!(renamed[0].2, Some(dept.account_id));
}

#[tokio::test]
async fn deregistration_needs_merger_or_closure_and_disables_the_account() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let dept = department(&app, "金水区", "金水区教育局", "410105").await;
    let a = school(&app, "郑州市金水区撤并小学", "410105").await;
    let s = app.sign_in(SLUG, &a).await;

    let other = app
        .post_as(
            &s,
            "/t/henan/school/change-requests",
            &[
                ("kind", "deregister"),
                ("deregister_cause", "other"),
                ("reason", "不想用了"),
            ],
        )
        .await;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(other.text().contains("注销原因只能是学校合并或学校撤销"));
    let no_reason = app
        .json_as(
            &s,
            "POST",
            "/api/v1/t/henan/school/change-requests",
            Some(serde_json::json!({"kind": "deregister", "deregister_cause": "merger", "reason": ""})),
        )
        .await;
    assert_eq!(no_reason.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(no_reason.json()["error"]["field"], "reason");
    let created = app
        .json_as(
            &s,
            "POST",
            "/api/v1/t/henan/school/change-requests",
            Some(serde_json::json!({"kind": "deregister", "deregister_cause": "merger", "reason": "并入金水区实验小学"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    assert_eq!(created.json()["status"], "pending");
    let id = created.json()["change_request_id"].as_i64().unwrap();

    let d = app.sign_in(SLUG, &dept).await;
    let refuse = app
        .json_as(
            &d,
            "POST",
            &format!("/api/v1/t/henan/change-requests/{id}/decision"),
            Some(serde_json::json!({"decision": "refuse"})),
        )
        .await;
    assert_eq!(refuse.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refuse.json()["error"]["field"], "reason");
    let approve = app
        .json_as(
            &d,
            "POST",
            &format!("/api/v1/t/henan/change-requests/{id}/decision"),
            Some(serde_json::json!({"decision": "approve"})),
        )
        .await;
    assert_eq!(approve.status, StatusCode::OK, "{}", approve.text());
    assert_eq!(approve.json()["status"], "approved");
    let status: String = scalar(
        &app,
        "select o.status || '|' || a.status from organisations o join accounts a \
         on a.org_id = o.org_id where a.account_id = $1",
        a.account_id,
    )
    .await;
    assert_eq!(status, "deregistered|disabled");
    assert!(
        app.sign_in_with(SLUG, AccountType::School, &a.login_name, &a.password)
            .await
            .is_err()
    );
    let rows = audit_rows(&app, "school.deregistered").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].4["changes"]["status"]["after"], "deregistered");
    assert_eq!(rows[0].4["deregister_cause"], "merger");
}

#[tokio::test]
async fn an_approved_move_takes_the_school_out_of_the_old_county() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let jinshui = department(&app, "金水区", "金水区教育局", "410105").await;
    let zhongmou = department(&app, "中牟县", "中牟县教育局", "410122").await;
    let a = school(&app, "郑州市搬迁测试小学", "410105").await;
    let s = app.sign_in(SLUG, &a).await;
    // The school has an enrolment of the year: it moves with the school.
    app.open_enrolment_year(SLUG, &[(9001, "测试财险", "410100")])
        .await;
    let r = app
        .json_as(
            &s,
            "PUT",
            &format!(
                "/api/v1/t/henan/enrolment/schools/{}/products/school_liability",
                a.org_id
            ),
            Some(serde_json::json!({"headcount": 10, "company_id": 9001})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = app
        .post_as(
            &s,
            "/t/henan/school/change-requests",
            &[
                ("kind", "move_region"),
                ("new_region_code", "410122"),
                ("reason", "学校实际位于中牟县"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    // Only the school's own department sees the request.
    let z = app.sign_in(SLUG, &zhongmou).await;
    let none = app
        .json_as(&z, "GET", "/api/v1/t/henan/change-requests", None)
        .await;
    assert_eq!(none.json(), serde_json::json!([]));
    let j = app.sign_in(SLUG, &jinshui).await;
    let list = app
        .json_as(&j, "GET", "/api/v1/t/henan/change-requests", None)
        .await
        .json();
    let id = list[0]["change_request_id"].as_i64().unwrap();
    let foreign = app
        .json_as(
            &z,
            "POST",
            &format!("/api/v1/t/henan/change-requests/{id}/decision"),
            Some(serde_json::json!({"decision": "approve"})),
        )
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    assert!(
        audit_rows(&app, "access.out_of_scope")
            .await
            .iter()
            .any(|r| r.0 == "change_request" && r.1.as_deref() == Some(id.to_string().as_str()))
    );
    let r = app
        .post_as(
            &j,
            &format!("/t/henan/change-requests/{id}/decision"),
            &[("decision", "approve")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let region: String = scalar(
        &app,
        "select region_code || '|' || region_path from organisations where org_id = $1",
        a.org_id,
    )
    .await;
    assert_eq!(region, "410122|410000.410100.410122");
    let enrolment_path: String = scalar(
        &app,
        "select string_agg(region_path, ',') from enrolments where school_org_id = $1",
        a.org_id,
    )
    .await;
    assert_eq!(enrolment_path, "410000.410100.410122");
    assert!(
        api_names(&app, &j, "/api/v1/t/henan/schools")
            .await
            .is_empty()
    );
    assert_eq!(
        api_names(&app, &z, "/api/v1/t/henan/schools").await,
        ["郑州市搬迁测试小学"]
    );
}
