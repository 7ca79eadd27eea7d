//! The remaining school and central-school screens of seed 001: 增加所辖学校 (a central school
//! registers a school of its county, the department approves, the school is assigned to it),
//! the contact mobile of an assigned school, 修改基本信息 and 修改手机号 (an SMS code to the new
//! number, read from the outbox), and the school home page's 投保数据 / 承保数据 panels on
//! fixed dates of the test clock.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;
use xiaobao_domain::{AccountType, Role};
use xiaobao_test_support::{
    AccountSpec, SignedInSession, TestAccount, TestApp, TestAppOptions, TestResponse,
};

use crate::registration::{BOUNDARY, base64, fields, multipart, pdf, sql_all, sql_exec, sql_one};

const JINSHUI: &str = "410105";
const ZHONGYUAN: &str = "410102";

/// 金水区 with its department, a central school marked as one (signed in again after) and a
/// school assigned to it; plus a central school of 中原区.
struct World {
    app: TestApp,
    dept: SignedInSession,
    central: TestAccount,
    c: SignedInSession,
    assigned: TestAccount,
    other_central: SignedInSession,
}

async fn central_school(app: &TestApp, name: &str, region: &str) -> TestAccount {
    let account = app
        .account(
            "henan",
            AccountSpec::new(name, region, &[Role::CentralSchool, Role::School]),
        )
        .await;
    sql_exec(
        app,
        "update organisations set is_central = true where org_id = $1::bigint",
        &[&account.org_id.to_string()],
    )
    .await;
    account
}

async fn world_with(app: TestApp) -> World {
    let dept_account = app
        .account(
            "henan",
            AccountSpec {
                login_name: Some("金水区"),
                ..AccountSpec::new("金水区教育局", JINSHUI, &[Role::CountyDepartment])
            },
        )
        .await;
    let central = central_school(&app, "郑州市金水区代注册中心校", JINSHUI).await;
    let other = central_school(&app, "郑州市中原区代注册中心校", ZHONGYUAN).await;
    let assigned = app
        .account(
            "henan",
            AccountSpec {
                mobile: Some("13911110001"),
                ..AccountSpec::new("郑州市金水区所辖小学", JINSHUI, &[Role::School])
            },
        )
        .await;
    sql_exec(
        &app,
        "update organisations set central_school_id = $2::bigint where org_id = $1::bigint",
        &[&assigned.org_id.to_string(), &central.org_id.to_string()],
    )
    .await;
    let dept = app.sign_in("henan", &dept_account).await;
    let c = app.sign_in("henan", &central).await;
    let other_central = app.sign_in("henan", &other).await;
    World {
        app,
        dept,
        central,
        c,
        assigned,
        other_central,
    }
}

async fn world() -> World {
    world_with(TestApp::init().await.with_demo_tenants().await).await
}

/// Posts the registration form as a signed-in central school.
async fn post_registration(
    app: &TestApp,
    s: &SignedInSession,
    fields: &[(&str, String)],
) -> TestResponse {
    let pdf = pdf();
    app.request(
        Request::post("/t/henan/assigned-schools")
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .header("cookie", &s.cookie)
            .body(Body::from(multipart(
                &s.csrf,
                fields,
                Some(("办学许可证.pdf", &pdf)),
            )))
            .unwrap(),
    )
    .await
}

fn api_registration(name: &str, mobile: &str, region: &str) -> serde_json::Value {
    json!({
        "name": name, "region_code": region, "nature": "public", "school_type": "primary",
        "address": "郑州市金水区文化路 2 号", "principal": "王校长", "contact_name": "赵老师",
        "contact_mobile": mobile,
        "qualification": {"file_name": "许可证.pdf", "content_base64": base64(&pdf())},
    })
}

async fn audit_count(app: &TestApp, action: &str, entity_id: i64) -> i64 {
    let (n,): (i64,) = sql_one(
        app,
        "select count(*) from audit_log where action = $1 and entity_id = $2",
        &[action, &entity_id.to_string()],
    )
    .await;
    n
}

#[tokio::test]
async fn a_central_school_registers_a_school_that_is_assigned_to_it_once_approved() {
    let World {
        app,
        dept,
        central,
        c,
        ..
    } = world().await;
    let form = app
        .get_with_cookie("/t/henan/assigned-schools", &c.cookie)
        .await
        .text();
    assert!(form.contains("id=\"new_assigned\""), "{form}");
    let page = app
        .get_with_cookie("/t/henan/assigned-schools/new", &c.cookie)
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains("增加所辖学校") && html.contains("id=\"central_notice\""));
    // Only its own county is offered.
    assert!(html.contains("value=\"410105\""), "{html}");
    assert!(!html.contains("value=\"410102\""));

    // The same checks as self-registration.
    let mut bad = fields("郑州市金水区代注册小学", "1391234");
    bad.retain(|(k, _)| *k != "principal");
    let r = post_registration(&app, &c, &bad).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().contains("请输入校长（园长）姓名"), "{}", r.text());
    assert!(r.text().contains("手机号格式不正确"));

    let r = post_registration(&app, &c, &fields("郑州市金水区代注册小学", "13922220001")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let done = app
        .get_with_cookie(r.headers["location"].to_str().unwrap(), &c.cookie)
        .await
        .text();
    assert!(done.contains("已代为提交注册申请"), "{done}");
    let (org_id, status, by): (i64, String, Option<i64>) = sql_one(
        &app,
        "select org_id, status, registered_by_org_id from organisations where name = $1",
        &["郑州市金水区代注册小学"],
    )
    .await;
    assert_eq!((status.as_str(), by), ("pending", Some(central.org_id)));
    // Not assigned before approval.
    assert!(!done.contains("郑州市金水区代注册小学"));

    // The department sees who registered it.
    let list = app
        .get_with_cookie("/t/henan/registrations", &dept.cookie)
        .await
        .text();
    assert!(list.contains("郑州市金水区代注册中心校代注册"), "{list}");
    let one = app
        .get_with_cookie(&format!("/t/henan/registrations/{org_id}"), &dept.cookie)
        .await
        .text();
    assert!(
        one.contains("由中心校“郑州市金水区代注册中心校”代为注册"),
        "{one}"
    );
    let api = app
        .json_as(
            &dept,
            "GET",
            &format!("/api/v1/t/henan/registrations/{org_id}"),
            None,
        )
        .await
        .json();
    assert_eq!(api["registered_by_org_id"], central.org_id);

    let r = app
        .json_as(
            &dept,
            "POST",
            &format!("/api/v1/t/henan/registrations/{org_id}/approve"),
            None,
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text());
    let (assigned,): (Option<i64>,) = sql_one(
        &app,
        "select central_school_id from organisations where org_id = $1::bigint",
        &[&org_id.to_string()],
    )
    .await;
    assert_eq!(assigned, Some(central.org_id));
    let page = app
        .get_with_cookie("/t/henan/assigned-schools", &c.cookie)
        .await
        .text();
    assert!(page.contains("郑州市金水区代注册小学"), "{page}");

    // The API files a registration the same way.
    let r = app
        .json_as(
            &c,
            "POST",
            "/api/v1/t/henan/assigned-schools",
            Some(api_registration(
                "郑州市金水区代注册二小",
                "13922220002",
                JINSHUI,
            )),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["status"], "pending");
    let audit: Vec<(serde_json::Value,)> = sql_all(
        &app,
        "select detail from audit_log where action = 'school.registration.submitted' \
         and actor_account_id = $1::bigint order by chain_seq",
        &[&central.account_id.to_string()],
    )
    .await;
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[0].0["registered_by_org_id"], central.org_id);
    assert_eq!(audit[0].0["contact_mobile"], "139****0001");
}

#[tokio::test]
async fn a_central_school_of_another_county_is_refused() {
    let World {
        app,
        assigned,
        other_central,
        c,
        central,
        ..
    } = world().await;
    // Registering a school of another county.
    let r = app
        .json_as(
            &other_central,
            "POST",
            "/api/v1/t/henan/assigned-schools",
            Some(api_registration(
                "郑州市金水区越界小学",
                "13922220003",
                JINSHUI,
            )),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(r.json()["error"]["field"], "region_code");
    assert_eq!(
        r.json()["error"]["message"],
        "中心校只能为本县（区）的学校代为注册"
    );
    let none: Vec<(i64,)> = sql_all(
        &app,
        "select org_id from organisations where name = $1",
        &["郑州市金水区越界小学"],
    )
    .await;
    assert!(none.is_empty());

    // The mobile of a school assigned to another central school: 404, audited.
    let uri = format!(
        "/api/v1/t/henan/assigned-schools/{}/contact-mobile",
        assigned.org_id
    );
    let r = app
        .json_as(
            &other_central,
            "PUT",
            &uri,
            Some(json!({"contact_mobile": "13933330001"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    assert_eq!(
        audit_count(&app, "access.out_of_scope", assigned.org_id).await,
        1
    );
    let page = app
        .post_as(
            &other_central,
            &format!(
                "/t/henan/assigned-schools/{}/contact-mobile",
                assigned.org_id
            ),
            &[("contact_mobile", "13933330001")],
        )
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    // Its own mobile is not changed here either (修改手机号 takes a code).
    let r = app
        .json_as(
            &c,
            "PUT",
            &format!(
                "/api/v1/t/henan/assigned-schools/{}/contact-mobile",
                central.org_id
            ),
            Some(json!({"contact_mobile": "13933330002"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let (mobile,): (String,) = sql_one(
        &app,
        "select contact_mobile from organisations where org_id = $1::bigint",
        &[&assigned.org_id.to_string()],
    )
    .await;
    assert_eq!(mobile, "13911110001");
}

#[tokio::test]
async fn a_central_school_changes_the_contact_mobile_of_its_school() {
    let World {
        app, c, assigned, ..
    } = world().await;
    let page = app
        .get_with_cookie(&format!("/t/henan/schools/{}", assigned.org_id), &c.cookie)
        .await
        .text();
    assert!(page.contains("id=\"assigned_mobile_form\""), "{page}");
    // The deregistration request (merger or closure) is on the same page.
    assert!(page.contains("id=\"request_form\"") && page.contains("value=\"deregister\""));

    let action = format!(
        "/t/henan/assigned-schools/{}/contact-mobile",
        assigned.org_id
    );
    let r = app
        .post_as(&c, &action, &[("contact_mobile", "1393333")])
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().contains("手机号格式不正确"));
    let r = app
        .post_as(&c, &action, &[("contact_mobile", "13933330001")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let (mobile,): (String,) = sql_one(
        &app,
        "select contact_mobile from organisations where org_id = $1::bigint",
        &[&assigned.org_id.to_string()],
    )
    .await;
    assert_eq!(mobile, "13933330001");
    let sent: Vec<(String, serde_json::Value)> = sql_all(
        &app,
        "select recipient, params from notifications where template = 'contact_mobile_changed' \
         order by notification_id",
        &[],
    )
    .await;
    let to: Vec<&str> = sent.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(to, ["13933330001", "13911110001"]);
    assert_eq!(sent[0].1["mobile_masked"], "139****0001");
    let (detail, behalf): (serde_json::Value, Option<i64>) = sql_one(
        &app,
        "select detail, on_behalf_of_org_id from audit_log \
         where action = 'school.contact_mobile_changed' and entity_id = $1",
        &[&assigned.org_id.to_string()],
    )
    .await;
    assert_eq!(behalf, Some(assigned.org_id));
    assert!(!detail.to_string().contains("13933330001"), "{detail}");
    // The API.
    let r = app
        .json_as(
            &c,
            "PUT",
            &format!(
                "/api/v1/t/henan/assigned-schools/{}/contact-mobile",
                assigned.org_id
            ),
            Some(json!({"contact_mobile": "13933330001"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["code"], "same_mobile");
}

#[tokio::test]
async fn a_school_changes_its_basic_information() {
    let World { app, assigned, .. } = world().await;
    let s = app.sign_in("henan", &assigned).await;
    let account = app
        .get_with_cookie("/t/henan/account", &s.cookie)
        .await
        .text();
    assert!(account.contains("id=\"school_info_link\"") && account.contains("修改手机号"));
    let page = app
        .get_with_cookie("/t/henan/account/school-info", &s.cookie)
        .await
        .text();
    assert!(page.contains("id=\"name_region_note\""), "{page}");
    assert!(page.contains("请到“学校信息”提交变更申请"));

    let r = app
        .post_as(
            &s,
            "/t/henan/account/school-info",
            &[
                ("contact_name", " "),
                ("principal", "钱校长"),
                ("address", "金水路 9 号"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text().contains("id=\"contact_name_error\""),
        "{}",
        r.text()
    );
    let r = app
        .post_as(
            &s,
            "/t/henan/account/school-info",
            &[
                ("contact_name", "孙老师"),
                ("principal", "钱校长"),
                ("address", "金水路 9 号"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let (name, principal, address): (String, String, String) = sql_one(
        &app,
        "select contact_name, principal, address from organisations where org_id = $1::bigint",
        &[&assigned.org_id.to_string()],
    )
    .await;
    assert_eq!(
        (name.as_str(), principal.as_str(), address.as_str()),
        ("孙老师", "钱校长", "金水路 9 号")
    );
    assert_eq!(
        audit_count(&app, "school.basic_info_changed", assigned.org_id).await,
        1
    );
    let r = app
        .json_as(
            &s,
            "PUT",
            "/api/v1/t/henan/me/school-info",
            Some(json!({"contact_name": "孙老师", "principal": "钱校长", "address": ""})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "address");
    // A NUL or a line break (which PostgreSQL text cannot hold, or a one-line field should
    // not) is refused on its field, not a server error.
    for (field, body) in [
        (
            "address",
            json!({"contact_name": "孙老师", "principal": "钱校长", "address": "金水路\u{0}9 号"}),
        ),
        (
            "principal",
            json!({"contact_name": "孙老师", "principal": "钱\n校长", "address": "金水路 9 号"}),
        ),
    ] {
        let r = app
            .json_as(&s, "PUT", "/api/v1/t/henan/me/school-info", Some(body))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
        assert_eq!(r.json()["error"]["field"], field);
    }
    let r = app
        .json_as(
            &s,
            "PUT",
            "/api/v1/t/henan/me/school-info",
            Some(
                json!({"contact_name": "周老师", "principal": "钱校长", "address": "金水路 9 号"}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert_eq!(
        audit_count(&app, "school.basic_info_changed", assigned.org_id).await,
        2
    );
}

async fn last_mobile_code(app: &TestApp, mobile: &str) -> String {
    let (code,): (String,) = sql_one(
        app,
        "select params->>'code' from notifications where template = 'mobile_change_code' \
         and recipient = $1 order by notification_id desc limit 1",
        &[mobile],
    )
    .await;
    code
}

#[tokio::test]
async fn a_school_changes_its_mobile_with_the_code_sent_to_the_new_number() {
    let app = TestApp::start_configured(TestAppOptions::default(), |c| {
        c.auth.codes_per_mobile_per_hour = 3;
    })
    .await
    .with_demo_tenants()
    .await;
    let World {
        app, assigned, c, ..
    } = world_with(app).await;
    let s = app.sign_in("henan", &assigned).await;
    // A number another school uses is refused before any code is sent.
    let taken = app
        .json_as(
            &s,
            "POST",
            "/api/v1/t/henan/me/mobile/code",
            Some(json!({"contact_mobile": c_mobile(&app, &c).await})),
        )
        .await;
    assert_eq!(taken.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(taken.json()["error"]["code"], "mobile_taken");

    let new = "13944440001";
    let r = app
        .post_as(
            &s,
            "/t/henan/account/mobile/code",
            &[("contact_mobile", new)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.text().contains("id=\"code_sent\"") && r.text().contains("139****0001"));
    let code = last_mobile_code(&app, new).await;
    assert_eq!(code.len(), 6);

    // A wrong code is refused and counted; the right code for another number too.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let r = app
        .post_as(
            &s,
            "/t/henan/account/mobile",
            &[("contact_mobile", new), ("code", wrong)],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .contains("<p class=\"field-error\" id=\"code_error\">验证码错误</p>")
    );
    let r = app
        .json_as(
            &s,
            "PUT",
            "/api/v1/t/henan/me/mobile",
            Some(json!({"contact_mobile": "13944440002", "code": code})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "code");
    let (attempts,): (i32,) = sql_one(
        &app,
        "select attempts from one_time_codes where account_id = $1::bigint \
         and purpose = 'change_mobile' order by code_id desc limit 1",
        &[&assigned.account_id.to_string()],
    )
    .await;
    assert_eq!(attempts, 2);

    let r = app
        .post_as(
            &s,
            "/t/henan/account/mobile",
            &[("contact_mobile", new), ("code", &code)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let (mobile,): (String,) = sql_one(
        &app,
        "select contact_mobile from organisations where org_id = $1::bigint",
        &[&assigned.org_id.to_string()],
    )
    .await;
    assert_eq!(mobile, new);
    // Used once.
    let r = app
        .json_as(
            &s,
            "PUT",
            "/api/v1/t/henan/me/mobile",
            Some(json!({"contact_mobile": "13944440003", "code": code})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    // The new number signs in.
    app.sign_in_with("henan", AccountType::School, new, &assigned.password)
        .await
        .unwrap();
    for action in ["school.mobile_code_issued", "school.mobile_code_refused"] {
        assert!(
            audit_count(&app, action, assigned.account_id).await >= 1,
            "{action}"
        );
    }
    assert_eq!(
        audit_count(&app, "school.contact_mobile_changed", assigned.org_id).await,
        1
    );
    let old: Vec<(String,)> = sql_all(
        &app,
        "select recipient from notifications where template = 'contact_mobile_changed' \
         order by notification_id",
        &[],
    )
    .await;
    assert_eq!(old.len(), 2);
    assert_eq!(old[1].0, "13911110001");

    // Codes are limited per account like the other codes (three an hour here).
    let mut last = StatusCode::OK;
    for n in 2..=3 {
        last = app
            .json_as(
                &s,
                "POST",
                "/api/v1/t/henan/me/mobile/code",
                Some(json!({"contact_mobile": format!("1395555000{n}")})),
            )
            .await
            .status;
    }
    assert_eq!(last, StatusCode::NO_CONTENT);
    let r = app
        .json_as(
            &s,
            "POST",
            "/api/v1/t/henan/me/mobile/code",
            Some(json!({"contact_mobile": "13955550009"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
}

async fn c_mobile(app: &TestApp, c: &SignedInSession) -> String {
    let me = app.json_as(c, "GET", "/api/v1/t/henan/school", None).await;
    me.json()["school"]["contact_mobile"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn the_school_home_shows_the_enrolment_and_underwriting_panels_of_the_year() {
    const SLUG: &str = "liupanshui";
    let app = TestApp::init().await.with_demo_tenants().await;
    let school = app
        .account(
            SLUG,
            AccountSpec::new("钟山区首页小学", "520201", &[Role::School]),
        )
        .await;
    let home = |s: SignedInSession| {
        let app = &app;
        async move {
            let r = app.get_with_cookie(&format!("/t/{SLUG}/"), &s.cookie).await;
            assert_eq!(r.status, StatusCode::OK);
            r.text()
        }
    };
    // No year opened yet.
    assert!(app.clock.set_china("2025-09-15 10:00"));
    let s = app.sign_in(SLUG, &school).await;
    let text = home(s.clone()).await;
    assert!(text.contains("id=\"panels_empty\""), "{text}");
    assert!(text.contains("2025-2026 学年尚未开放投保"));

    // The open year: deadline, status, 前往操作; 承保数据 not insured yet.
    app.open_enrolment_year(SLUG, &[(1, "甲保险公司", "520200")])
        .await;
    let text = home(s.clone()).await;
    assert!(text.contains("id=\"panel_enrolment\""), "{text}");
    assert!(text.contains("<dd id=\"panel_year\">2025-2026</dd>"));
    assert!(text.contains("9月30日前，填写投保信息并上传投保《花名册》"));
    assert!(text.contains("校方责任险（含附加无过失责任险）</strong>：未提交"));
    assert!(text.contains(&format!(
        "href=\"/t/{SLUG}/enrolment\" id=\"panel_enrolment_link\">前往操作"
    )));
    assert!(text.contains("id=\"panel_underwriting\""));
    assert!(text.contains("：未投保。尚未提交投保数据。"));

    // 2026-09: the new year is not opened, the previous one shows read-only.
    assert!(app.clock.set_china("2026-09-10 10:00"));
    let s = app.sign_in(SLUG, &school).await;
    let text = home(s).await;
    assert!(text.contains("id=\"panels_not_open\""), "{text}");
    assert!(text.contains("2026-2027 学年尚未开放投保"));
    assert!(text.contains("上一学年（2025-2026）"));
    assert!(text.contains("id=\"panel_enrolment_link\">查看"));
}
