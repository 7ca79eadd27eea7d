//! 学校数据, department management of schools, change requests and central schools through
//! the real router: region scope in every list and read, 404 plus an audit row outside it,
//! masked mobiles, password resets with their SMS, rename / move / deregistration requests and
//! their decisions, central schools and their assigned schools.

use axum::http::StatusCode;
use xiaobao_domain::{AccountType, Role};
use xiaobao_test_support::{AccountSpec, SignedInSession, TestAccount, TestApp};

const SLUG: &str = "henan";

async fn department(app: &TestApp, login: &str, name: &str, region: &str) -> TestAccount {
    let role = if region.ends_with("00") {
        Role::CityDepartment
    } else {
        Role::CountyDepartment
    };
    app.account(
        SLUG,
        AccountSpec {
            login_name: Some(login),
            ..AccountSpec::new(name, region, &[role])
        },
    )
    .await
}

async fn school(app: &TestApp, name: &str, region: &str) -> TestAccount {
    app.account(SLUG, AccountSpec::new(name, region, &[Role::School]))
        .await
}

/// A query on the tenant's schema, committed.
async fn scalar<T>(app: &TestApp, sql: &str, id: i64) -> T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
{
    let tenant = app.db().active_tenant(SLUG).unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let value: T = sqlx::query_scalar(sql)
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    value
}

/// Audit rows of an action: (entity, entity id, actor account, on behalf of, detail).
async fn audit_rows(
    app: &TestApp,
    action: &str,
) -> Vec<(
    String,
    Option<String>,
    Option<i64>,
    Option<i64>,
    serde_json::Value,
)> {
    let tenant = app.db().active_tenant(SLUG).unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let rows = sqlx::query_as(
        "select entity, entity_id, actor_account_id, on_behalf_of_org_id, detail from audit_log \
         where action = $1 order by chain_seq",
    )
    .bind(action)
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    rows
}

async fn api_names(app: &TestApp, s: &SignedInSession, uri: &str) -> Vec<String> {
    let r = app.json_as(s, "GET", uri, None).await;
    assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.text());
    let body = r.json();
    let items = body.get("items").unwrap_or(&body);
    let mut names: Vec<String> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_county_department_lists_only_its_county_with_masked_mobiles() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let dept = department(&app, "金水区", "金水区教育局", "410105").await;
    let a = school(&app, "郑州市金水区第一小学", "410105").await;
    let b = school(&app, "郑州市金水区第二小学", "410105").await;
    school(&app, "中牟县第一小学", "410122").await;
    let s = app.sign_in(SLUG, &dept).await;

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
    let r = app
        .json_as(&s, "GET", "/api/v1/t/henan/schools?name=第二", None)
        .await;
    assert_eq!(r.json()["total"], 1);
    assert_eq!(r.json()["items"][0]["org_id"], b.org_id);
    assert_eq!(
        r.json()["items"][0]["contact_mobile"],
        xiaobao_audit::mask_phone(b.mobile.as_deref().unwrap())
    );
    // Paging keeps the total.
    let r = app
        .json_as(&s, "GET", "/api/v1/t/henan/schools?per_page=1&page=2", None)
        .await;
    assert_eq!(r.json()["total"], 2);
    assert_eq!(r.json()["items"][0]["name"], "郑州市金水区第二小学");
    // A region outside the subtree is refused, not silently widened.
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
    // The department reads its own school with the whole mobile (it manages it).
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
async fn a_changed_contact_mobile_is_checked_and_masked_in_the_audit_trail() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let dept = department(&app, "金水区", "金水区教育局", "410105").await;
    let a = school(&app, "郑州市金水区手机测试小学", "410105").await;
    let b = school(&app, "郑州市金水区另一所小学", "410105").await;
    let s = app.sign_in(SLUG, &dept).await;
    let uri = format!("/t/henan/schools/{}/contact-mobile", a.org_id);

    let r = app
        .post_as(&s, &uri, &[("contact_mobile", "1380000")])
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().contains("手机号格式不正确"));
    let r = app
        .post_as(
            &s,
            &uri,
            &[("contact_mobile", b.mobile.as_deref().unwrap())],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().contains("该手机号已被其他学校使用"));

    let new_mobile = "13612345678";
    let r = app
        .post_as(&s, &uri, &[("contact_mobile", new_mobile)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let stored: String = scalar(
        &app,
        "select contact_mobile from organisations where org_id = $1",
        a.org_id,
    )
    .await;
    assert_eq!(stored, new_mobile);

    let rows = audit_rows(&app, "school.contact_mobile_changed").await;
    assert_eq!(rows.len(), 1);
    let detail = &rows[0].4;
    let old = a.mobile.as_deref().unwrap();
    assert_eq!(
        detail["changes"]["contact_mobile"]["before"],
        xiaobao_audit::mask_phone(old)
    );
    assert_eq!(detail["changes"]["contact_mobile"]["after"], "136****5678");
    let text = detail.to_string();
    assert!(!text.contains(old) && !text.contains(new_mobile), "{text}");
    // The new mobile signs the school in; the old one no longer does.
    app.sign_in_with(SLUG, AccountType::School, new_mobile, &a.password)
        .await
        .unwrap();
    assert!(
        app.sign_in_with(SLUG, AccountType::School, old, &a.password)
            .await
            .is_err()
    );
    // The API refuses a bad number with its field.
    let r = app
        .json_as(
            &s,
            "PUT",
            &format!("/api/v1/t/henan/schools/{}/contact-mobile", a.org_id),
            Some(serde_json::json!({"contact_mobile": "12345678901"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "contact_mobile");
}

#[tokio::test]
async fn a_password_reset_clears_the_hash_and_queues_one_sms() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let dept = department(&app, "金水区", "金水区教育局", "410105").await;
    let a = school(&app, "郑州市金水区重置测试小学", "410105").await;
    let s = app.sign_in(SLUG, &dept).await;

    let r = app
        .post_as(
            &s,
            &format!("/t/henan/schools/{}/password-reset", a.org_id),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let has_hash: bool = scalar(
        &app,
        "select password_hash is not null from accounts where account_id = $1",
        a.account_id,
    )
    .await;
    assert!(!has_hash);
    let must_change: bool = scalar(
        &app,
        "select must_change_password from accounts where account_id = $1",
        a.account_id,
    )
    .await;
    assert!(must_change);
    let sms: i64 = scalar(
        &app,
        "select count(*) from notifications n join organisations o \
         on n.recipient = o.contact_mobile where n.channel = 'sms' and o.org_id = $1",
        a.org_id,
    )
    .await;
    assert_eq!(sms, 1);
    let links: i64 = scalar(
        &app,
        "select count(*) from one_time_codes where account_id = $1 \
         and purpose = 'set_password' and used_at is null",
        a.account_id,
    )
    .await;
    assert_eq!(links, 1);
    let done = app
        .get_with_cookie(
            &format!("/t/henan/schools/{}?done=reset", a.org_id),
            &s.cookie,
        )
        .await;
    assert!(done.text().contains("设置新密码的链接已通过短信发送"));
    // The old password is gone.
    let refused = app
        .sign_in_with(SLUG, AccountType::School, &a.login_name, &a.password)
        .await
        .unwrap_err();
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(audit_rows(&app, "account.password_reset").await.len(), 1);
}

#[tokio::test]
async fn an_approved_rename_changes_the_login_name() {
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

    let d = app.sign_in(SLUG, &dept).await;
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

#[tokio::test]
async fn a_central_school_sees_exactly_the_schools_assigned_to_it() {
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
    let list = app
        .json_as(&d, "GET", "/api/v1/t/henan/central-schools", None)
        .await
        .json();
    assert_eq!(list[0]["org_id"], central.org_id);
    assert_eq!(list[0]["assigned"], 2);

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
    // Reading one of its schools is recorded as done on the school's behalf.
    let r = app
        .get_with_cookie(&format!("/t/henan/schools/{}", a.org_id), &s.cookie)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let viewed = audit_rows(&app, "school.viewed_on_behalf").await;
    assert_eq!(viewed.len(), 1);
    assert_eq!(viewed[0].3, Some(a.org_id));
    assert_eq!(viewed[0].2, Some(central.account_id));
    // A school not assigned to it is out of reach.
    let r = app
        .get_with_cookie(&format!("/t/henan/schools/{}", c.org_id), &s.cookie)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
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
    // A department has no 所辖学校 page.
    assert_eq!(
        app.get_with_cookie("/t/henan/assigned-schools", &d.cookie)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
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
