//! A registration under review: region scope of the reviewing department, refusal.

use super::*;

#[tokio::test]
async fn a_department_of_another_county_neither_sees_nor_decides_a_registration() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let jinshui = department(&app, "金水区教育局", "金水区", "410105").await;
    let zhongyuan = department(&app, "中原区教育局", "中原区", "410102").await;
    let city = department(&app, "郑州市教育局", "郑州市", "410100").await;
    let org = register_ok(&app, SCHOOL, "13812340011").await;

    let own = app.sign_in("henan", &jinshui).await;
    let list = app
        .get_with_cookie("/t/henan/registrations", &own.cookie)
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text());
    assert!(list.text().contains(SCHOOL));
    // The city's department sees the schools of its counties too.
    let c = app.sign_in("henan", &city).await;
    let list = app
        .get_with_cookie("/t/henan/registrations", &c.cookie)
        .await;
    assert!(list.text().contains(SCHOOL));

    let other = app.sign_in("henan", &zhongyuan).await;
    let list = app
        .get_with_cookie("/t/henan/registrations", &other.cookie)
        .await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(!list.text().contains(SCHOOL));
    assert!(list.text().contains("本辖区暂无待审核的学校注册申请"));
    let api = app
        .json_as(&other, "GET", "/api/v1/t/henan/registrations", None)
        .await;
    assert_eq!(api.json(), serde_json::json!([]));
    let detail = app
        .get_with_cookie(&format!("/t/henan/registrations/{org}"), &other.cookie)
        .await;
    assert_eq!(detail.status, StatusCode::NOT_FOUND);
    let r = app
        .post_as(
            &other,
            &format!("/t/henan/registrations/{org}/approve"),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .json_as(
            &other,
            "POST",
            &format!("/api/v1/t/henan/registrations/{org}/refuse"),
            Some(serde_json::json!({"reason": "不在本区"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["error"]["code"], "not_found");
    // Each attempt is in the trail, by the other county's account.
    let (n,): (i64,) = sql_one(
        &app,
        "select count(*) from audit_log where action = 'access.out_of_scope' \
         and entity = 'organisation' and entity_id = $1 and actor_account_id = $2::bigint",
        &[&org.to_string(), &zhongyuan.account_id.to_string()],
    )
    .await;
    assert_eq!(n, 3);
    let (status,): (String,) = sql_one(
        &app,
        "select status from organisations where org_id = $1::bigint",
        &[&org.to_string()],
    )
    .await;
    assert_eq!(status, "pending");
    assert!(notifications(&app).await.is_empty());
    // The own county's department still can.
    let r = app
        .post_as(&own, &format!("/t/henan/registrations/{org}/approve"), &[])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
}

#[tokio::test]
async fn a_refusal_needs_a_reason_disables_the_account_and_frees_the_name() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let dept = department(&app, "金水区教育局", "金水区", "410105").await;
    let org = register_ok(&app, SCHOOL, "13812340031").await;
    let s = app.sign_in("henan", &dept).await;
    let r = app
        .post_as(
            &s,
            &format!("/t/henan/registrations/{org}/refuse"),
            &[("reason", "  ")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .contains("<p class=\"field-error\" id=\"reason_error\">请填写退回原因</p>")
    );
    let reason = "资质证书照片不清晰，请重新拍照上传";
    let r = app
        .post_as(
            &s,
            &format!("/t/henan/registrations/{org}/refuse"),
            &[("reason", reason)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let page = app.get_with_cookie(&location(&r), &s.cookie).await;
    assert!(page.text().contains(reason));
    assert!(page.text().contains("已退回"));
    let (status, stored): (String, Option<String>) = sql_one(
        &app,
        "select status, refusal_reason from organisations where org_id = $1::bigint",
        &[&org.to_string()],
    )
    .await;
    assert_eq!(status, "refused");
    assert_eq!(stored.as_deref(), Some(reason));
    let (account_status,): (String,) = sql_one(
        &app,
        "select status from accounts where org_id = $1::bigint",
        &[&org.to_string()],
    )
    .await;
    assert_eq!(account_status, "disabled");
    let (n,): (i64,) = sql_one(
        &app,
        "select count(*) from audit_log where action = 'school.registration.refused' \
         and entity_id = $1 and detail->>'reason' = $2",
        &[&org.to_string(), reason],
    )
    .await;
    assert_eq!(n, 1);
    // The contact is told why, by one SMS.
    let sent = notifications(&app).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].0, "sms");
    assert_eq!(sent[0].2, "registration_refused");
    assert_eq!(sent[0].3["reason"], reason);
    let refused = app
        .get_with_cookie("/t/henan/registrations?status=refused", &s.cookie)
        .await;
    assert!(refused.text().contains(SCHOOL));
    // The school registers again with the same name and mobile.
    let again = register_ok(&app, SCHOOL, "13812340031").await;
    assert_ne!(again, org);
}
