//! A department managing its schools: contact mobiles and password resets.

use super::*;

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
