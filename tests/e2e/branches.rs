//! Insurer branch accounts (分支账号管理 / 县区账号管理) through the real router: who may open
//! which branch where, the refusals and their audit rows, the set-password SMS, and the list of
//! one's own branches.

use axum::http::StatusCode;
use serde_json::json;
use xiaobao_domain::Role;
use xiaobao_test_support::{AccountSpec, SignedInSession, TestAccount, TestApp};

/// The company of most branches here, and a competitor.
const COMPANY: i64 = 7;
const OTHER_COMPANY: i64 = 8;

async fn province(app: &TestApp, company_id: i64, login: &'static str) -> TestAccount {
    app.account(
        "henan",
        AccountSpec {
            login_name: Some(login),
            company_id: Some(company_id),
            ..AccountSpec::new("测试保险河南省分公司", "410000", &[Role::InsurerProvince])
        },
    )
    .await
}

async fn branch(
    app: &TestApp,
    name: &'static str,
    region: &'static str,
    role: Role,
    company_id: i64,
    login: &'static str,
    parent: Option<i64>,
) -> TestAccount {
    let roles: &'static [Role] = match role {
        Role::InsurerCity => &[Role::InsurerCity],
        _ => &[Role::InsurerCounty],
    };
    app.account(
        "henan",
        AccountSpec {
            login_name: Some(login),
            company_id: Some(company_id),
            parent_org_id: parent,
            ..AccountSpec::new(name, region, roles)
        },
    )
    .await
}

/// The branch's organisation and account as stored.
#[derive(Debug, sqlx::FromRow)]
struct Stored {
    org_id: i64,
    kind: String,
    company_id: Option<i64>,
    company_name: Option<String>,
    branch_level: Option<String>,
    parent_org_id: Option<i64>,
    region_code: String,
    contact_mobile: Option<String>,
    account_id: i64,
    account_type: String,
    has_password: bool,
    roles: Vec<String>,
}

async fn stored(app: &TestApp, login: &str) -> Option<Stored> {
    let tenant = app.db().active_tenant("henan").unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let row = sqlx::query_as(
        "select o.org_id, o.kind, o.company_id, o.company_name, o.branch_level, o.parent_org_id, \
         o.region_code, o.contact_mobile, a.account_id, a.account_type, \
         a.password_hash is not null as has_password, \
         array(select role from account_roles r where r.account_id = a.account_id) as roles \
         from accounts a join organisations o on o.org_id = a.org_id \
         where a.account_type = 'insurer' and a.login_name = $1",
    )
    .bind(login)
    .fetch_optional(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    row
}

/// `(action, entity_id, detail)` of the audit rows of `action` by `account_id`, oldest first.
async fn audit_rows(
    app: &TestApp,
    action: &str,
    account_id: i64,
) -> Vec<(String, Option<String>, serde_json::Value)> {
    let tenant = app.db().active_tenant("henan").unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let rows = sqlx::query_as(
        "select action, entity_id, detail from audit_log \
         where action = $1 and actor_account_id = $2 order by chain_seq",
    )
    .bind(action)
    .bind(account_id)
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    rows
}

fn form<'a>(
    level: &'a str,
    region: &'a str,
    name: &'a str,
    login: &'a str,
    mobile: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("branch_level", level),
        ("region_code", region),
        ("name", name),
        ("login_name", login),
        ("contact_name", "王经理"),
        ("contact_mobile", mobile),
    ]
}

async fn api_list(app: &TestApp, s: &SignedInSession) -> Vec<String> {
    let r = app
        .json_as(s, "GET", "/api/v1/t/henan/branches", None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let mut logins: Vec<String> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["login_name"].as_str().unwrap().to_string())
        .collect();
    logins.sort();
    logins
}

#[tokio::test]
async fn a_province_branch_opens_city_and_county_branches_and_their_contacts_get_a_link() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let prov = province(&app, COMPANY, "prov-henan").await;
    let s = app.sign_in("henan", &prov).await;

    let page = app.get_with_cookie("/t/henan/branches", &s.cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains("分支账号管理"), "{html}");
    assert!(html.contains("暂无下级分支账号"));
    // Cities and counties of the province are offered, with the level to choose.
    assert!(html.contains(r#"<option value="410100">郑州市（市级分公司）</option>"#));
    assert!(html.contains(r#"<option value="410105">郑州市 · 金水区（县区支公司）</option>"#));
    assert!(html.contains(r#"<select id="branch_level" name="branch_level""#));
    // The menu entry leads here and is highlighted.
    assert!(html.contains(r#"href="/t/henan/branches" class="is-current""#));

    let r = app
        .post_as(
            &s,
            "/t/henan/branches",
            &form(
                "city",
                "410100",
                "测试保险郑州市分公司",
                "zz-city",
                "138 1234 5678",
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let city = stored(&app, "zz-city").await.expect("the city branch");
    assert_eq!(
        r.headers["location"].to_str().unwrap(),
        format!("/t/henan/branches?created={}", city.org_id)
    );
    assert_eq!(city.kind, "insurer_branch");
    assert_eq!(city.company_id, Some(COMPANY));
    assert_eq!(city.company_name.as_deref(), Some("测试保险公司"));
    assert_eq!(city.branch_level.as_deref(), Some("city"));
    assert_eq!(city.parent_org_id, Some(prov.org_id));
    assert_eq!(city.region_code, "410100");
    assert_eq!(city.contact_mobile.as_deref(), Some("13812345678"));
    assert_eq!(city.account_type, "insurer");
    assert!(
        !city.has_password,
        "nobody but the contact ever knows the password"
    );
    assert_eq!(city.roles, ["insurer_city"]);

    let page = app
        .get_with_cookie(
            &format!("/t/henan/branches?created={}", city.org_id),
            &s.cookie,
        )
        .await;
    let html = page.text();
    assert!(
        html.contains("设置密码的链接已通过短信发送至联系人手机 138****5678"),
        "{html}"
    );
    assert!(html.contains("<td>zz-city</td>"));
    assert!(html.contains("待设置密码"));
    assert!(!html.contains("13812345678"));

    // The SMS: queued with its delivery job, carrying a live set-password link of the account.
    let tenant = app.db().active_tenant("henan").unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let sms: Vec<(i64, String, String, serde_json::Value)> = sqlx::query_as(
        "select notification_id, channel, recipient, params from notifications \
         where template = 'account_opened' order by notification_id",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    assert_eq!(sms.len(), 1);
    let (notification_id, channel, recipient, params) = &sms[0];
    assert_eq!(channel, "sms");
    assert_eq!(recipient, "13812345678");
    assert_eq!(params["org_name"], "测试保险郑州市分公司");
    assert_eq!(params["login_name"], "zz-city");
    let url = params["set_password_url"].as_str().unwrap();
    let prefix = format!("{}/t/henan/activate?token=", app.state.config.public_url());
    let token = url.strip_prefix(&prefix).unwrap_or_else(|| panic!("{url}"));
    let code_id: i64 = token.split('.').next().unwrap().parse().unwrap();
    let (code_account, purpose, live): (i64, String, bool) = sqlx::query_as(
        "select account_id, purpose, used_at is null and expires_at > now() \
         from one_time_codes where code_id = $1",
    )
    .bind(code_id)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    assert_eq!(
        (code_account, purpose.as_str(), live),
        (city.account_id, "set_password", true)
    );
    let jobs: i64 = sqlx::query_scalar(
        "select count(*) from jobs where kind = 'notify.deliver' and dedupe_key = $1",
    )
    .bind(format!("notify:{notification_id}"))
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    assert_eq!(jobs, 1);
    tx.commit().await.unwrap();
    let created = audit_rows(&app, "branch.created", prov.account_id).await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].1, Some(city.org_id.to_string()));
    assert_eq!(created[0].2["region_code"], "410100");
    assert_eq!(created[0].2["contact_mobile"], "138****5678");
    assert_eq!(
        audit_rows(&app, "account.set_password_link_sent", prov.account_id)
            .await
            .len(),
        1
    );

    // A county branch straight below the province, through the API.
    let r = app
        .json_as(
            &s,
            "POST",
            "/api/v1/t/henan/branches",
            Some(json!({
                "branch_level": "county",
                "region_code": "410105",
                "name": "测试保险金水区支公司",
                "login_name": "金水支公司",
                "contact_name": "李主任",
                "contact_mobile": "13900000001"
            })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let body = r.json();
    assert_eq!(body["branch_level"], "county");
    assert_eq!(body["branch_level_label"], "县区支公司");
    assert_eq!(body["region_name"], "郑州市 · 金水区");
    assert_eq!(body["parent_org_id"], prov.org_id);
    assert_eq!(body["contact_mobile"], "139****0001");
    assert_eq!(body["has_password"], false);
    let county = stored(&app, "金水支公司").await.unwrap();
    assert_eq!(county.roles, ["insurer_county"]);
    assert_eq!(county.branch_level.as_deref(), Some("county"));
    assert_eq!(body["org_id"], county.org_id);

    // A login name is unique among insurer accounts; malformed ones are refused.
    let r = app
        .post_as(
            &s,
            "/t/henan/branches",
            &form(
                "city",
                "410300",
                "测试保险洛阳市分公司",
                "zz-city",
                "13812340000",
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().contains("该登录账号已被使用"), "{}", r.text());
    let r = app
        .json_as(
            &s,
            "POST",
            "/api/v1/t/henan/branches",
            Some(json!({"branch_level": "city", "region_code": "410300",
                "name": "测试保险洛阳市分公司", "login_name": "ly city!",
                "contact_name": "赵", "contact_mobile": "13812340000"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "login_name");
    // A city level needs a city.
    let r = app
        .json_as(
            &s,
            "POST",
            "/api/v1/t/henan/branches",
            Some(json!({"branch_level": "city", "region_code": "410302",
                "name": "测试保险老城区支公司", "login_name": "ly-laocheng",
                "contact_name": "赵", "contact_mobile": "13812340000"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "region_code");
    assert!(stored(&app, "ly-laocheng").await.is_none());
    assert_eq!(api_list(&app, &s).await, ["zz-city", "金水支公司"]);
}

#[tokio::test]
async fn a_city_branch_opens_county_branches_in_its_city_only() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let prov = province(&app, COMPANY, "prov-henan").await;
    let city = branch(
        &app,
        "测试保险郑州市分公司",
        "410100",
        Role::InsurerCity,
        COMPANY,
        "zz-city",
        Some(prov.org_id),
    )
    .await;
    let s = app.sign_in("henan", &city).await;
    let page = app.get_with_cookie("/t/henan/branches", &s.cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains("县区账号管理"), "{html}");
    // Only the counties of its own city are offered; no level to choose.
    assert!(html.contains(r#"<option value="410105">"#));
    assert!(!html.contains(r#"<option value="410302">"#));
    assert!(!html.contains(r#"<option value="410100">"#));
    assert!(!html.contains(r#"<select id="branch_level""#));

    // The form sends no level: a city branch opens county branches.
    let mut fields = form(
        "",
        "410105",
        "测试保险金水区支公司",
        "zz-jinshui",
        "13700000001",
    );
    fields.retain(|(k, _)| *k != "branch_level");
    let r = app.post_as(&s, "/t/henan/branches", &fields).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let county = stored(&app, "zz-jinshui").await.unwrap();
    assert_eq!(county.parent_org_id, Some(city.org_id));
    assert_eq!(county.branch_level.as_deref(), Some("county"));
    assert_eq!(county.company_id, Some(COMPANY));
    assert_eq!(county.roles, ["insurer_county"]);

    // Another city's county: refused, whatever the form offered, and audited.
    let r = app
        .post_as(
            &s,
            "/t/henan/branches",
            &form(
                "county",
                "410302",
                "测试保险老城区支公司",
                "ly-laocheng",
                "13700000002",
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text().contains("只能在本机构负责的区域内开设分支账号"),
        "{}",
        r.text()
    );
    let r = app
        .json_as(
            &s,
            "POST",
            "/api/v1/t/henan/branches",
            Some(json!({"branch_level": "county", "region_code": "410302",
                "name": "测试保险老城区支公司", "login_name": "ly-laocheng",
                "contact_name": "赵", "contact_mobile": "13700000002"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let error = &r.json()["error"];
    assert_eq!(error["field"], "region_code");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("不在本机构负责范围内")
    );
    assert!(stored(&app, "ly-laocheng").await.is_none());
    let refused = audit_rows(&app, "branch.create_refused", city.account_id).await;
    assert_eq!(refused.len(), 2, "{refused:?}");
    for (_, entity_id, detail) in &refused {
        assert_eq!(entity_id.as_deref(), Some(city.org_id.to_string().as_str()));
        assert_eq!(detail["cause"], "outside_subtree");
        assert_eq!(detail["region_code"], "410302");
    }

    // Its own city, or a city at all: not for a city branch.
    let r = app
        .post_as(
            &s,
            "/t/henan/branches",
            &form(
                "city",
                "410100",
                "测试保险郑州二分公司",
                "zz-city-2",
                "13700000003",
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().contains("当前账号不能开设市级分公司账号"));
    assert!(stored(&app, "zz-city-2").await.is_none());
    let refused = audit_rows(&app, "branch.create_refused", city.account_id).await;
    assert_eq!(refused.len(), 3);
    assert_eq!(refused[2].2["cause"], "level_not_allowed");
    // Its own region is not below itself.
    let r = app
        .json_as(
            &s,
            "POST",
            "/api/v1/t/henan/branches",
            Some(json!({"branch_level": "county", "region_code": "410100",
                "name": "测试保险郑州县区", "login_name": "zz-self",
                "contact_name": "赵", "contact_mobile": "13700000004"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(stored(&app, "zz-self").await.is_none());
    assert_eq!(api_list(&app, &s).await, ["zz-jinshui"]);
}

#[tokio::test]
async fn a_county_branch_opens_nothing_and_is_refused_the_page_and_the_api() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let county = branch(
        &app,
        "测试保险金水区支公司",
        "410105",
        Role::InsurerCounty,
        COMPANY,
        "jinshui-county",
        None,
    )
    .await;
    let s = app.sign_in("henan", &county).await;
    let page = app.get_with_cookie("/t/henan/branches", &s.cookie).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.text().contains("无权访问"));
    let r = app
        .json_as(&s, "GET", "/api/v1/t/henan/branches", None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json()["error"]["code"], "forbidden");
    let r = app
        .json_as(
            &s,
            "POST",
            "/api/v1/t/henan/branches",
            Some(json!({"branch_level": "county", "region_code": "410105",
                "name": "测试保险金水二支", "login_name": "jinshui-2",
                "contact_name": "赵", "contact_mobile": "13700000005"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .post_as(
            &s,
            "/t/henan/branches",
            &form(
                "county",
                "410105",
                "测试保险金水二支",
                "jinshui-2",
                "13700000005",
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(stored(&app, "jinshui-2").await.is_none());
    // The menu has no branch management either.
    let home = app.get_with_cookie("/t/henan/", &s.cookie).await.text();
    assert!(!home.contains("分支账号管理") && !home.contains("县区账号管理"));
    assert_eq!(
        audit_rows(&app, "access.denied", county.account_id)
            .await
            .len(),
        4
    );
}

#[tokio::test]
async fn the_list_shows_the_own_subtree_of_the_own_company_only() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let prov = province(&app, COMPANY, "a-prov").await;
    let zz = branch(
        &app,
        "甲保险郑州市分公司",
        "410100",
        Role::InsurerCity,
        COMPANY,
        "a-zz",
        Some(prov.org_id),
    )
    .await;
    let ly = branch(
        &app,
        "甲保险洛阳市分公司",
        "410300",
        Role::InsurerCity,
        COMPANY,
        "a-ly",
        Some(prov.org_id),
    )
    .await;
    branch(
        &app,
        "甲保险金水区支公司",
        "410105",
        Role::InsurerCounty,
        COMPANY,
        "a-jinshui",
        Some(zz.org_id),
    )
    .await;
    branch(
        &app,
        "甲保险中原区支公司",
        "410102",
        Role::InsurerCounty,
        COMPANY,
        "a-zhongyuan",
        Some(prov.org_id),
    )
    .await;
    branch(
        &app,
        "甲保险老城区支公司",
        "410302",
        Role::InsurerCounty,
        COMPANY,
        "a-laocheng",
        Some(ly.org_id),
    )
    .await;
    let other_prov = province(&app, OTHER_COMPANY, "b-prov").await;
    let other_zz = branch(
        &app,
        "乙保险郑州市分公司",
        "410100",
        Role::InsurerCity,
        OTHER_COMPANY,
        "b-zz",
        Some(other_prov.org_id),
    )
    .await;
    branch(
        &app,
        "乙保险金水区支公司",
        "410105",
        Role::InsurerCounty,
        OTHER_COMPANY,
        "b-jinshui",
        Some(other_zz.org_id),
    )
    .await;

    let s = app.sign_in("henan", &zz).await;
    // Both counties of its city, whoever opened them; not Luoyang's, not the other company's.
    assert_eq!(api_list(&app, &s).await, ["a-jinshui", "a-zhongyuan"]);
    let html = app
        .get_with_cookie("/t/henan/branches", &s.cookie)
        .await
        .text();
    assert!(html.contains("<td>a-jinshui</td>") && html.contains("<td>a-zhongyuan</td>"));
    for absent in ["a-laocheng", "b-jinshui", "b-zz", "a-zz", "a-prov"] {
        assert!(!html.contains(&format!("<td>{absent}</td>")), "{absent}");
    }
    let s = app.sign_in("henan", &prov).await;
    assert_eq!(
        api_list(&app, &s).await,
        ["a-jinshui", "a-laocheng", "a-ly", "a-zhongyuan", "a-zz"]
    );
    let s = app.sign_in("henan", &other_zz).await;
    assert_eq!(api_list(&app, &s).await, ["b-jinshui"]);
}
