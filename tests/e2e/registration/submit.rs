//! Submitting a self-registration: field checks, the pending account, unique names.

use super::*;

#[tokio::test]
async fn the_registration_page_offers_the_counties_and_city_buckets_grouped_by_city() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let page = app.get("/t/henan/register").await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains("<title>学校注册 - 河南省教育保险管理系统</title>"));
    assert!(html.contains("enctype=\"multipart/form-data\""));
    // The counties of the tree and the 市直 buckets, grouped by city; no city itself.
    assert!(html.contains("<optgroup label=\"郑州市\">"), "{html}");
    assert!(html.contains("<option value=\"410105\">金水区</option>"));
    assert!(html.contains("<option value=\"410199\">"), "市直: {html}");
    assert!(!html.contains("<option value=\"410100\">"));
    assert!(html.contains("<option value=\"junior_high\">初中（含完中）</option>"));
}

#[tokio::test]
async fn a_registration_with_bad_fields_answers_each_with_its_own_message() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let bad = vec![
        ("name", "小学".to_string()),
        ("region_code", String::new()),
        ("nature", "公立".into()),
        ("school_type", String::new()),
        ("address", String::new()),
        ("principal", "张".repeat(51)),
        ("contact_name", String::new()),
        ("contact_mobile", "1381234".into()),
    ];
    let r = register(&app, &bad, None).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text();
    for (id, message) in [
        (
            "name_error",
            "学校全称至少 4 个字，请按办学许可证或事业单位法人证书上的全称填写",
        ),
        ("region_code_error", "请选择所在县（市、区）"),
        ("nature_error", "请选择学校性质（公办或民办）"),
        ("school_type_error", "请选择学校类型"),
        ("address_error", "请输入学校地址"),
        ("principal_error", "校长（园长）姓名最多 50 个字"),
        ("contact_name_error", "请输入联系人（明白人）姓名"),
        (
            "contact_mobile_error",
            "手机号格式不正确，请输入 11 位手机号码",
        ),
        (
            "qualification_error",
            "请上传办学许可证或事业单位法人证书（PDF、JPG 或 PNG 文件）",
        ),
    ] {
        assert!(
            html.contains(&format!(
                "<p class=\"field-error\" id=\"{id}\">{message}</p>"
            )),
            "{id}: {html}"
        );
    }
    // What was typed is kept.
    assert!(html.contains("value=\"1381234\""));
}

#[tokio::test]
async fn a_region_of_another_programme_or_a_city_is_refused() {
    let app = TestApp::init().await.with_demo_tenants().await;
    // A region of another programme, and a city instead of a county.
    for region in ["310101", "410100"] {
        let mut f = fields(SCHOOL, "13812340001");
        f[1].1 = region.into();
        let r = register(&app, &f, Some(("证书.pdf", &pdf()))).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{region}");
        assert!(
            r.text()
                .contains("<p class=\"field-error\" id=\"region_code_error\">请选择本项目内的县（市、区）或市直</p>"),
            "{region}"
        );
    }
}

#[tokio::test]
async fn a_qualification_file_is_checked_by_content_and_type_and_nothing_is_recorded() {
    let app = TestApp::init().await.with_demo_tenants().await;
    // A file that is not what its name says, and a type not accepted.
    let r = register(
        &app,
        &fields(SCHOOL, "13812340001"),
        Some(("证书.pdf", b"just some text, no PDF")),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().contains("文件内容不是"), "{}", r.text());
    let r = register(
        &app,
        &fields(SCHOOL, "13812340001"),
        Some(("证书.docx", b"PK\x03\x04 nothing")),
    )
    .await;
    assert!(r.text().contains("资质证书只接受PDF"), "{}", r.text());
    // Nothing was recorded.
    let (n,): (i64,) = sql_one(
        &app,
        "select count(*) from organisations where kind = 'school'",
        &[],
    )
    .await;
    assert_eq!(n, 0);
}

#[tokio::test]
async fn the_registration_api_answers_the_first_problem_with_its_field() {
    let app = TestApp::init().await.with_demo_tenants().await;
    // The API answers with the first problem and its field.
    let r = app
        .request(
            Request::post("/api/v1/t/henan/registrations")
                .header("content-type", "application/json")
                .body(Body::from(
                    serde_json::json!({
                        "name": SCHOOL, "region_code": "410105", "nature": "public",
                        "school_type": "primary", "address": "文化路", "principal": "张",
                        "contact_name": "李", "contact_mobile": "13812340001"
                    })
                    .to_string(),
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(r.json()["error"]["field"], "qualification");
}

#[tokio::test]
async fn a_registration_is_pending_without_a_password_and_names_are_unique() {
    let app = TestApp::init().await.with_demo_tenants().await;
    department(&app, "金水区教育局", "金水区", "410105").await;
    let pdf = pdf();
    let r = register(
        &app,
        &fields(SCHOOL, "138 1234 0001"),
        Some(("办学许可证（2025）.pdf", &pdf)),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let html = r.text();
    assert!(html.contains("已提交，等待 金水区教育局 审核"), "{html}");
    assert!(html.contains("138****0001"));
    assert!(!html.contains("13812340001"));

    let (org, status, mobile, doc): (i64, String, String, Option<i64>) = sql_one(
        &app,
        "select org_id, status, contact_mobile, qualification_document_id from organisations \
         where name = $1",
        &[SCHOOL],
    )
    .await;
    assert_eq!(status, "pending");
    assert_eq!(mobile, "13812340001");
    let doc = doc.expect("the qualification document is linked");
    let (kind, owner, size): (String, String, i64) = sql_one(
        &app,
        "select kind, owner_kind || ':' || owner_id, size_bytes from documents \
         where document_id = $1::bigint",
        &[&doc.to_string()],
    )
    .await;
    assert_eq!(kind, "qualification");
    assert_eq!(owner, format!("organisation:{org}"));
    assert_eq!(size, pdf.len() as i64);
    let (login, has_password, roles): (String, bool, Vec<String>) = sql_one(
        &app,
        "select a.login_name, a.password_hash is not null, \
         array(select role from account_roles r where r.account_id = a.account_id) \
         from accounts a where a.org_id = $1::bigint",
        &[&org.to_string()],
    )
    .await;
    assert_eq!(login, SCHOOL);
    assert!(!has_password, "never an initial password");
    assert_eq!(roles, ["school"]);
    let actions: Vec<(String,)> = sql_all(
        &app,
        "select action from audit_log where entity = 'organisation' and entity_id = $1 \
         order by chain_seq",
        &[&org.to_string()],
    )
    .await;
    assert!(
        actions
            .iter()
            .any(|a| a.0 == "school.registration.submitted"),
        "{actions:?}"
    );
    // No notification yet, and a pending school cannot sign in.
    assert!(notifications(&app).await.is_empty());
    assert!(
        app.sign_in_with("henan", AccountType::School, SCHOOL, "Anything2026")
            .await
            .is_err()
    );

    // The same name again, and another school with the same mobile.
    let r = register(&app, &fields(SCHOOL, "13812340002"), Some(("a.pdf", &pdf))).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .contains("该学校名称已注册或正在审核中；如忘记登录账号，请使用“忘记账号”找回"),
        "{}",
        r.text()
    );
    let r = register(
        &app,
        &fields("郑州市金水区另一所小学", "13812340001"),
        Some(("a.pdf", &pdf)),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .contains("该手机号已被其他学校注册，请更换联系人手机号")
    );
}
