//! School self-registration, its review by the department of the school's region, activation
//! by the one-time link of the SMS, and account recovery (忘记密码, 忘记账号), through the real
//! router: pages and API, with the rows, notifications and audit entries they leave.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use xiaobao_domain::{AccountType, Role};
use xiaobao_identity::captcha::Captcha;
use xiaobao_test_support::{
    AccountSpec, SignedInSession, TEST_PASSWORD, TestAccount, TestApp, TestAppOptions, TestResponse,
};

const BOUNDARY: &str = "XBREGISTRATION7d1f";

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
const SCHOOL: &str = "郑州市金水区注册测试小学";

/// A small but real PDF.
fn pdf() -> Vec<u8> {
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% \xe5\x8a\x9e\xe5\xad\xa6\xe8\xae\xb8\xe5\x8f\xaf\xe8\xaf\x81\ntrailer << /Root 1 0 R >>\n%%EOF\n"
        .to_vec()
}

fn multipart(csrf: &str, fields: &[(&str, String)], file: Option<(&str, &[u8])>) -> Vec<u8> {
    let mut body = Vec::new();
    let mut part = |name: &str, value: &[u8], file_name: Option<&str>| {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match file_name {
            Some(f) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\
                     Content-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(value);
        body.extend_from_slice(b"\r\n");
    };
    part("csrf_token", csrf.as_bytes(), None);
    for (k, v) in fields {
        part(k, v.as_bytes(), None);
    }
    if let Some((name, bytes)) = file {
        part("qualification", bytes, Some(name));
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// The fields of a complete registration in 金水区.
fn fields(name: &str, mobile: &str) -> Vec<(&'static str, String)> {
    vec![
        ("name", name.to_string()),
        ("region_code", "410105".into()),
        ("nature", "public".into()),
        ("school_type", "primary".into()),
        ("address", "郑州市金水区文化路 1 号".into()),
        ("principal", "张校长".into()),
        ("contact_name", "李老师".into()),
        ("contact_mobile", mobile.to_string()),
    ]
}

/// Submits the registration form from a fresh visit of the page.
async fn register(
    app: &TestApp,
    fields: &[(&str, String)],
    file: Option<(&str, &[u8])>,
) -> TestResponse {
    let (cookie, token) = app.form_session("/t/henan/register").await;
    app.request(
        Request::post("/t/henan/register")
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .header("cookie", cookie)
            .body(Body::from(multipart(&token, fields, file)))
            .unwrap(),
    )
    .await
}

async fn register_ok(app: &TestApp, name: &str, mobile: &str) -> i64 {
    let pdf = pdf();
    let r = register(app, &fields(name, mobile), Some(("办学许可证.pdf", &pdf))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    org_id(app, name).await
}

async fn org_id(app: &TestApp, name: &str) -> i64 {
    let (id,): (i64,) = sql_one(
        app,
        "select org_id from organisations where name = $1 order by org_id desc limit 1",
        &[name],
    )
    .await;
    id
}

/// One row of a query in the henan schema; the parameters are bound as text (cast in SQL).
async fn sql_one<T>(app: &TestApp, sql: &str, params: &[&str]) -> T
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let mut rows = sql_all(app, sql, params).await;
    assert!(!rows.is_empty(), "{sql}: no row");
    rows.remove(0)
}

async fn sql_all<T>(app: &TestApp, sql: &str, params: &[&str]) -> Vec<T>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let tenant = app.db().active_tenant("henan").unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let mut q = sqlx::query_as::<_, T>(sql);
    for p in params {
        q = q.bind(*p);
    }
    let rows = q
        .fetch_all(&mut *tx)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    tx.commit().await.unwrap();
    rows
}

async fn sql_exec(app: &TestApp, sql: &str, params: &[&str]) {
    let tenant = app.db().active_tenant("henan").unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let mut q = sqlx::query(sql);
    for p in params {
        q = q.bind(*p);
    }
    q.execute(&mut *tx)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    tx.commit().await.unwrap();
}

/// The notifications queued so far: channel, recipient, template, params.
async fn notifications(app: &TestApp) -> Vec<(String, String, String, serde_json::Value)> {
    sql_all(
        app,
        "select channel, recipient, template, params from notifications order by notification_id",
        &[],
    )
    .await
}

async fn department(app: &TestApp, name: &str, login: &str, code: &str) -> TestAccount {
    let role = if code.ends_with("00") {
        Role::CityDepartment
    } else {
        Role::CountyDepartment
    };
    let roles: &'static [Role] = match role {
        Role::CityDepartment => &[Role::CityDepartment],
        _ => &[Role::CountyDepartment],
    };
    app.account(
        "henan",
        AccountSpec {
            login_name: Some(login),
            ..AccountSpec::new(name, code, roles)
        },
    )
    .await
}

/// The set-password link of the last approval SMS, as a path of the app.
async fn activation_path(app: &TestApp) -> String {
    let sms = notifications(app).await;
    let (_, _, _, params) = sms
        .iter()
        .rev()
        .find(|n| n.2 == "registration_approved")
        .expect("an approval SMS");
    let link = params["set_password_url"].as_str().unwrap();
    link.strip_prefix(&app.state.config.public_url())
        .unwrap_or_else(|| panic!("{link} is not under the public URL"))
        .to_string()
}

fn location(r: &TestResponse) -> String {
    r.headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

fn session_cookie(app: &TestApp, r: &TestResponse) -> String {
    let name = &app.state.config.session.cookie_name;
    format!("{name}={}", r.cookie(name).expect("a session cookie"))
}

#[tokio::test]
async fn a_registration_with_bad_fields_answers_each_with_its_own_message() {
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
async fn approval_sends_one_sms_whose_link_signs_in_once_and_forces_a_first_password() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let dept = department(&app, "金水区教育局", "金水区", "410105").await;
    let org = register_ok(&app, SCHOOL, "13812340021").await;
    let s = app.sign_in("henan", &dept).await;

    // The registration with its document's signed download link.
    let detail = app
        .get_with_cookie(&format!("/t/henan/registrations/{org}"), &s.cookie)
        .await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.text());
    let html = detail.text();
    assert!(
        html.contains("13812340021"),
        "the reviewer sees the full mobile"
    );
    let at = html
        .find("id=\"qualification_link\"")
        .expect("download link");
    let href_at = html[..at].rfind("href=\"").expect("href") + 6;
    let href = html[href_at..]
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    assert!(href.starts_with("/t/henan/documents/"), "{href}");
    let doc = app.get(&href).await;
    assert_eq!(doc.status, StatusCode::OK, "{href}");
    assert_eq!(doc.body, pdf());

    let r = app
        .post_as(&s, &format!("/t/henan/registrations/{org}/approve"), &[])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(
        location(&r),
        format!("/t/henan/registrations/{org}?decided=approved")
    );
    let (status, decided_by, decided): (String, Option<i64>, bool) = sql_one(
        &app,
        "select status, decided_by, decided_at is not null from organisations \
         where org_id = $1::bigint",
        &[&org.to_string()],
    )
    .await;
    assert_eq!(status, "active");
    assert_eq!(decided_by, Some(dept.account_id));
    assert!(decided);
    let (n,): (i64,) = sql_one(
        &app,
        "select count(*) from audit_log where action = 'school.registration.approved' \
         and entity_id = $1 and actor_account_id = $2::bigint",
        &[&org.to_string(), &dept.account_id.to_string()],
    )
    .await;
    assert_eq!(n, 1);

    // Exactly one SMS, to the contact, carrying the activation link.
    let sent = notifications(&app).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    let (channel, recipient, template, params) = &sent[0];
    assert_eq!(channel, "sms");
    assert_eq!(recipient, "13812340021");
    assert_eq!(template, "registration_approved");
    assert_eq!(params["school_name"], SCHOOL);
    let link = params["set_password_url"].as_str().unwrap();
    let prefix = format!("{}/t/henan/activate?token=", app.state.config.public_url());
    assert!(link.starts_with(&prefix), "{link}");
    assert!(link.len() > prefix.len() + 20, "{link}");
    // Deciding again is refused.
    let again = app
        .post_as(&s, &format!("/t/henan/registrations/{org}/approve"), &[])
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.text().contains("该注册申请已处理（已通过）"));
    assert_eq!(notifications(&app).await.len(), 1);

    // The link shows a page first, without using the link up.
    let path = activation_path(&app).await;
    let page = app.get(&path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert!(page.text().contains(SCHOOL));
    let (cookie, csrf) = app.form_session(&path).await;
    let token = path.split("token=").nth(1).unwrap().to_string();
    let r = app
        .post_form(
            "/t/henan/activate",
            Some(&cookie),
            &[("csrf_token", &csrf), ("token", &token)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(location(&r), "/t/henan/account/password");
    let school_cookie = session_cookie(&app, &r);
    // Signed in, but only the password page answers until a password is set.
    let blocked = app
        .get_with_cookie("/t/henan/registrations", &school_cookie)
        .await;
    assert_eq!(blocked.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&blocked), "/t/henan/account/password");
    let me = app
        .get_with_cookie("/api/v1/t/henan/me", &school_cookie)
        .await;
    assert_eq!(me.json()["must_change_password"], true);
    assert_eq!(me.json()["login_name"], SCHOOL);
    let pw = app
        .get_with_cookie("/t/henan/account/password", &school_cookie)
        .await;
    let html = pw.text();
    assert!(html.contains("id=\"password_forced\""), "{html}");
    assert!(
        !html.contains("name=\"current_password\""),
        "no current password to ask for"
    );
    let csrf = pw.csrf_token().unwrap();
    let weak = app
        .post_form(
            "/t/henan/account/password",
            Some(&school_cookie),
            &[
                ("csrf_token", &csrf),
                ("new_password", "abcdefgh"),
                ("confirm_password", "abcdefgh"),
            ],
        )
        .await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(weak.text().contains("密码须同时包含字母和数字"));
    let set = app
        .post_form(
            "/t/henan/account/password",
            Some(&school_cookie),
            &[
                ("csrf_token", &csrf),
                ("new_password", "Xuexiao2026"),
                ("confirm_password", "Xuexiao2026"),
            ],
        )
        .await;
    assert_eq!(set.status, StatusCode::SEE_OTHER, "{}", set.text());
    let changed = session_cookie(&app, &set);
    let now = app
        .get_with_cookie("/t/henan/registrations", &changed)
        .await;
    assert_eq!(now.status, StatusCode::FORBIDDEN, "no longer forced");
    // The link worked once.
    let (cookie, csrf) = app.form_session("/t/henan/login").await;
    let r = app
        .post_form(
            "/t/henan/activate",
            Some(&cookie),
            &[("csrf_token", &csrf), ("token", &token)],
        )
        .await;
    assert_eq!(r.status, StatusCode::GONE);
    assert!(r.text().contains("链接无效或已过期"));
    assert_eq!(app.get(&path).await.status, StatusCode::GONE);
    // The new password signs in, by name and by mobile.
    let s = app
        .sign_in_with("henan", AccountType::School, SCHOOL, "Xuexiao2026")
        .await
        .unwrap();
    assert_eq!(s.location, "/t/henan/");
    app.sign_in_with("henan", AccountType::School, "13812340021", "Xuexiao2026")
        .await
        .unwrap();
    let (account_id,): (i64,) = sql_one(
        &app,
        "select account_id from accounts where login_name = $1",
        &[SCHOOL],
    )
    .await;
    let actions: Vec<(String,)> = sql_all(
        &app,
        "select action from audit_log where entity = 'account' and entity_id = $1 \
         order by chain_seq",
        &[&account_id.to_string()],
    )
    .await;
    let actions: Vec<&str> = actions.iter().map(|a| a.0.as_str()).collect();
    assert!(actions.contains(&"account.activated"), "{actions:?}");
    assert!(actions.contains(&"account.password_changed"), "{actions:?}");
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

#[tokio::test]
async fn the_api_registers_decides_and_activates() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let dept = department(&app, "金水区教育局", "金水区", "410105").await;
    let b64 = base64(&pdf());
    let body = |name: &str, mobile: &str| {
        serde_json::json!({
            "name": name, "region_code": "410105", "nature": "民办",
            "school_type": "kindergarten", "address": "郑州市金水区花园路 8 号",
            "principal": "王园长", "contact_name": "赵老师", "contact_mobile": mobile,
            "qualification": {"file_name": "民办学校办学许可证.jpg", "content_base64": b64},
        })
    };
    let post = |v: serde_json::Value| {
        app.request(
            Request::post("/api/v1/t/henan/registrations")
                .header("content-type", "application/json")
                .body(Body::from(v.to_string()))
                .unwrap(),
        )
    };
    // A PDF named .jpg is refused by content.
    let r = post(body("郑州市金水区接口测试幼儿园", "13812340041")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(r.json()["error"]["field"], "qualification");
    let mut ok = body("郑州市金水区接口测试幼儿园", "13812340041");
    ok["qualification"]["file_name"] = "办学许可证.pdf".into();
    let r = post(ok.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let receipt = r.json();
    assert_eq!(receipt["status"], "pending");
    assert_eq!(receipt["reviewer"], "金水区教育局");
    let org = receipt["org_id"].as_i64().unwrap();
    let r = post(ok).await;
    assert_eq!(r.json()["error"]["field"], "name");

    let s = app.sign_in("henan", &dept).await;
    let list = app
        .json_as(&s, "GET", "/api/v1/t/henan/registrations", None)
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text());
    let rows = list.json();
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(rows[0]["org_id"], org);
    assert_eq!(rows[0]["nature"], "private");
    assert_eq!(rows[0]["school_type"], "kindergarten");
    assert_eq!(rows[0]["contact_mobile"], "13812340041");
    let url = rows[0]["qualification_download_url"].as_str().unwrap();
    assert_eq!(app.get(url).await.body, pdf());
    let refuse = app
        .json_as(
            &s,
            "POST",
            &format!("/api/v1/t/henan/registrations/{org}/refuse"),
            Some(serde_json::json!({"reason": ""})),
        )
        .await;
    assert_eq!(refuse.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refuse.json()["error"]["field"], "reason");
    let approve = app
        .json_as(
            &s,
            "POST",
            &format!("/api/v1/t/henan/registrations/{org}/approve"),
            None,
        )
        .await;
    assert_eq!(approve.status, StatusCode::NO_CONTENT, "{}", approve.text());
    let again = app
        .json_as(
            &s,
            "POST",
            &format!("/api/v1/t/henan/registrations/{org}/approve"),
            None,
        )
        .await;
    // Already decided: a conflict, as on the page (409 on every route).
    assert_eq!(again.status, StatusCode::CONFLICT);
    let one = app
        .json_as(
            &s,
            "GET",
            &format!("/api/v1/t/henan/registrations/{org}"),
            None,
        )
        .await;
    assert_eq!(one.json()["status"], "active");

    let path = activation_path(&app).await;
    let token = path.split("token=").nth(1).unwrap().to_string();
    let activate = |token: String| {
        app.request(
            Request::post("/api/v1/t/henan/activation")
                .header("content-type", "application/json")
                .body(Body::from(
                    serde_json::json!({ "token": token }).to_string(),
                ))
                .unwrap(),
        )
    };
    let r = activate(format!("{token}x")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "a wrong secret");
    let r = activate(token.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let session = r.json();
    assert_eq!(session["must_change_password"], true);
    assert_eq!(session["roles"], serde_json::json!(["school"]));
    let school = SignedInSession {
        cookie: session_cookie(&app, &r),
        csrf: session["csrf_token"].as_str().unwrap().to_string(),
        location: String::new(),
    };
    let set = app
        .json_as(
            &school,
            "POST",
            "/api/v1/t/henan/me/password",
            Some(serde_json::json!({"new_password": "Youeryuan2026"})),
        )
        .await;
    assert_eq!(set.status, StatusCode::NO_CONTENT, "{}", set.text());
    assert_eq!(activate(token).await.status, StatusCode::NOT_FOUND);
    app.sign_in_with(
        "henan",
        AccountType::School,
        "郑州市金水区接口测试幼儿园",
        "Youeryuan2026",
    )
    .await
    .unwrap();
}

/// Asks for a reset code through the form; the page's text.
async fn ask_code(app: &TestApp, mobile: &str) -> TestResponse {
    let (cookie, csrf) = app.form_session("/t/henan/forgot-password").await;
    app.post_form(
        "/t/henan/forgot-password/code",
        Some(&cookie),
        &[("csrf_token", &csrf), ("mobile", mobile)],
    )
    .await
}

async fn reset(app: &TestApp, mobile: &str, code: &str, new: &str, confirm: &str) -> TestResponse {
    let (cookie, csrf) = app.form_session("/t/henan/forgot-password").await;
    app.post_form(
        "/t/henan/forgot-password",
        Some(&cookie),
        &[
            ("csrf_token", &csrf),
            ("mobile", mobile),
            ("code", code),
            ("new_password", new),
            ("confirm_password", confirm),
        ],
    )
    .await
}

/// The code of the last reset SMS to `mobile`.
async fn last_code(app: &TestApp, mobile: &str) -> String {
    let (code,): (String,) = sql_one(
        app,
        "select params->>'code' from notifications where template = 'password_reset_code' \
         and recipient = $1 order by notification_id desc limit 1",
        &[mobile],
    )
    .await;
    code
}

#[tokio::test]
async fn forgot_password_resets_with_a_single_use_code_that_expires() {
    let app = TestApp::start_configured(TestAppOptions::default(), |c| {
        c.auth.codes_per_mobile_per_hour = 4;
    })
    .await
    .with_demo_tenants()
    .await;
    let school = app
        .account(
            "henan",
            AccountSpec {
                mobile: Some("13912340051"),
                ..AccountSpec::new(SCHOOL, "410105", &[Role::School])
            },
        )
        .await;
    let mobile = school.mobile.clone().unwrap();
    let page = app.get("/t/henan/forgot-password").await;
    assert!(page.text().contains("此找回密码仅为学校用户找回密码"));

    // Unknown and known mobiles get the same answer; only the known one gets an SMS.
    let unknown = ask_code(&app, "13900000000").await;
    let known = ask_code(&app, &mobile).await;
    for r in [&unknown, &known] {
        assert_eq!(r.status, StatusCode::OK);
        assert!(
            r.text()
                .contains("如该手机号已注册，验证码已发送，请查收短信")
        );
        assert!(r.text().contains("id=\"reset_form\""));
    }
    let sent = notifications(&app).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].0, "sms");
    assert_eq!(sent[0].1, mobile);
    assert_eq!(sent[0].2, "password_reset_code");
    assert_eq!(sent[0].3["minutes_valid"], 10);
    let code = last_code(&app, &mobile).await;
    assert_eq!(code.len(), 6);
    let bad = ask_code(&app, "1391234").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().contains("手机号格式不正确"));

    // A locked account: the reset clears the lock.
    sql_exec(
        &app,
        "update accounts set failed_logins = 3, locked_until = now() + interval '1 hour' \
         where account_id = $1::bigint",
        &[&school.account_id.to_string()],
    )
    .await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let r = reset(&app, &mobile, wrong, "Newpass2026", "Newpass2026").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .contains("<p class=\"field-error\" id=\"code_error\">验证码错误</p>")
    );
    let r = reset(&app, &mobile, &code, "Newpass2026", "Newpass2027").await;
    assert!(r.text().contains("两次输入的新密码不一致"));
    // A password the rules refuse leaves the code usable.
    let r = reset(&app, &mobile, &code, "short1", "short1").await;
    assert!(r.text().contains("密码至少 8 位"), "{}", r.text());
    let r = reset(&app, &mobile, &code, TEST_PASSWORD, TEST_PASSWORD).await;
    assert!(
        r.text().contains("不能使用最近 5 次用过的密码"),
        "{}",
        r.text()
    );
    let r = reset(&app, &mobile, &code, "Newpass2026", "Newpass2026").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.text().contains("密码已重置，请使用新密码登录"));
    let s = app
        .sign_in_with("henan", AccountType::School, SCHOOL, "Newpass2026")
        .await
        .unwrap();
    assert_eq!(s.location, "/t/henan/");
    // Used once.
    let r = reset(&app, &mobile, &code, "Another2026", "Another2026").await;
    assert!(
        r.text().contains("验证码已过期或已使用，请重新获取"),
        "{}",
        r.text()
    );
    // An unknown mobile reads the same as a used code.
    let r = reset(&app, "13900000000", "123456", "Another2026", "Another2026").await;
    assert!(r.text().contains("验证码已过期或已使用，请重新获取"));

    // An expired code.
    ask_code(&app, &mobile).await;
    let code = last_code(&app, &mobile).await;
    sql_exec(
        &app,
        "update one_time_codes set expires_at = $2::timestamptz - interval '1 second' \
         where account_id = $1::bigint and used_at is null",
        &[
            &school.account_id.to_string(),
            &app.clock.now().to_rfc3339(),
        ],
    )
    .await;
    let r = reset(&app, &mobile, &code, "Another2026", "Another2026").await;
    assert!(r.text().contains("验证码已过期或已使用，请重新获取"));

    // Five wrong tries use a code up.
    ask_code(&app, &mobile).await;
    let code = last_code(&app, &mobile).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..4 {
        let r = reset(&app, &mobile, wrong, "Another2026", "Another2026").await;
        assert!(r.text().contains(">验证码错误<"));
    }
    let r = reset(&app, &mobile, wrong, "Another2026", "Another2026").await;
    assert!(r.text().contains("验证码错误次数过多，请重新获取"));
    let r = reset(&app, &mobile, &code, "Another2026", "Another2026").await;
    assert!(r.text().contains("验证码错误次数过多，请重新获取"));

    // The fourth code of the hour is the last one for this mobile.
    let r = ask_code(&app, &mobile).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = ask_code(&app, &mobile).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.text().contains("获取验证码过于频繁"));
    let actions: Vec<(String,)> = sql_all(
        &app,
        "select action from audit_log where entity = 'account' and entity_id = $1 \
         order by chain_seq",
        &[&school.account_id.to_string()],
    )
    .await;
    let actions: Vec<&str> = actions.iter().map(|a| a.0.as_str()).collect();
    assert!(actions.contains(&"account.reset_code_issued"));
    assert!(actions.contains(&"account.password_reset_by_code"));
    assert!(actions.contains(&"account.password_reset_refused"));

    // The API: the same answers.
    let api = |path: &str, body: serde_json::Value| {
        app.request(
            Request::post(path)
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
    };
    let other = app
        .account(
            "henan",
            AccountSpec::new("郑州市金水区接口找回小学", "410105", &[Role::School]),
        )
        .await;
    let other_mobile = other.mobile.clone().unwrap();
    let r = api(
        "/api/v1/t/henan/password-reset/code",
        serde_json::json!({ "mobile": other_mobile }),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("如该手机号已注册")
    );
    let code = last_code(&app, &other_mobile).await;
    let r = api(
        "/api/v1/t/henan/password-reset",
        serde_json::json!({ "mobile": other_mobile, "code": code, "new_password": "Jiekou2026" }),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let r = api(
        "/api/v1/t/henan/password-reset",
        serde_json::json!({ "mobile": other_mobile, "code": code, "new_password": "Jiekou2027" }),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "code");
    app.sign_in_with("henan", AccountType::School, &other_mobile, "Jiekou2026")
        .await
        .unwrap();
}

#[tokio::test]
async fn forgot_account_shows_the_login_name_and_the_masked_mobile_behind_a_captcha() {
    let app = TestApp::init().await.with_demo_tenants().await;
    app.account(
        "henan",
        AccountSpec {
            mobile: Some("13812341234"),
            ..AccountSpec::new(SCHOOL, "410105", &[Role::School])
        },
    )
    .await;
    let page = app.get("/t/henan/forgot-account").await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"captcha\""));
    assert!(html.contains("aria-label=\"图形验证码\""));
    assert!(!html.contains("<text"), "glyphs are paths, not text");
    let page_token = html
        .split("name=\"captcha_token\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();

    let captcha = Captcha::new(&app.state.download_key);
    let known = || {
        captcha.issue_with_answer(
            "henan",
            "K7PX",
            app.state.clock.now(),
            chrono::Duration::minutes(5),
        )
    };
    let a = &app;
    let lookup = |name: &str, token: String, answer: &str| {
        let name = name.to_string();
        let answer = answer.to_string();
        async move {
            let (cookie, csrf) = a.form_session("/t/henan/forgot-account").await;
            a.post_form(
                "/t/henan/forgot-account",
                Some(&cookie),
                &[
                    ("csrf_token", &csrf),
                    ("school_name", &name),
                    ("captcha_token", &token),
                    ("captcha_answer", &answer),
                ],
            )
            .await
        }
    };
    // A wrong answer is refused, and uses the challenge up.
    let r = lookup(SCHOOL, page_token.clone(), "ZZZZ").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .contains("<p class=\"field-error\" id=\"captcha_error\">验证码错误，请重新输入</p>")
    );
    assert!(!r.text().contains("138****1234"));
    let r = lookup(SCHOOL, page_token, "ZZZZ").await;
    assert!(r.text().contains("验证码已失效，请重新输入新的验证码"));
    let ch = known();
    let r = lookup(SCHOOL, ch.token.clone(), "K7PY").await;
    assert!(r.text().contains("验证码错误，请重新输入"));
    let r = lookup(SCHOOL, ch.token, "K7PX").await;
    assert!(
        r.text().contains("验证码已失效，请重新输入新的验证码"),
        "single use: {}",
        r.text()
    );
    // Another programme's challenge does not work here.
    let foreign = captcha.issue_with_answer(
        "shanghai",
        "K7PX",
        app.state.clock.now(),
        chrono::Duration::minutes(5),
    );
    let r = lookup(SCHOOL, foreign.token, "K7PX").await;
    assert!(r.text().contains("验证码错误"));
    // An unknown school.
    let r = lookup("郑州市金水区不存在的小学", known().token, "k7px").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().contains("未找到该学校"));
    // The right answer (any case) shows the login name and the masked mobile only.
    let r = lookup(SCHOOL, known().token, "k7px").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let html = r.text();
    assert!(
        html.contains(&format!("<dd id=\"found_login_name\">{SCHOOL}</dd>")),
        "{html}"
    );
    assert!(html.contains("<dd id=\"found_mobile\">138****1234</dd>"));
    assert!(!html.contains("13812341234"));

    // The API: a challenge, then the look-up.
    let ch = app.get("/api/v1/t/henan/captcha").await;
    assert_eq!(ch.status, StatusCode::OK);
    assert!(ch.json()["svg"].as_str().unwrap().starts_with("<svg"));
    let api = |token: String, answer: &str| {
        app.request(
            Request::post("/api/v1/t/henan/account-lookup")
                .header("content-type", "application/json")
                .body(Body::from(
                    serde_json::json!({
                        "school_name": SCHOOL, "captcha_token": token, "captcha_answer": answer
                    })
                    .to_string(),
                ))
                .unwrap(),
        )
    };
    let r = api(ch.json()["token"].as_str().unwrap().to_string(), "0000").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "captcha_answer");
    let r = api(known().token, "K7PX").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["login_name"], SCHOOL);
    assert_eq!(r.json()["contact_mobile"], "138****1234");
}
