//! School self-registration, its review by the department of the school's region, activation
//! by the one-time link of the SMS, and account recovery (忘记密码, 忘记账号), through the real
//! router: pages and API, with the rows, notifications and audit entries they leave.

mod activation;
mod api;
mod recovery;
mod review;
mod submit;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use xiaobao_domain::{AccountType, Role};
use xiaobao_identity::captcha::Captcha;
use xiaobao_test_support::{
    AccountSpec, SignedInSession, TEST_PASSWORD, TestAccount, TestApp, TestAppOptions, TestResponse,
};

pub(super) const BOUNDARY: &str = "XBREGISTRATION7d1f";

/// Standard base64 with padding.
pub(crate) fn base64(bytes: &[u8]) -> String {
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
pub(super) const SCHOOL: &str = "郑州市金水区注册测试小学";

/// A small but real PDF.
pub(super) fn pdf() -> Vec<u8> {
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% \xe5\x8a\x9e\xe5\xad\xa6\xe8\xae\xb8\xe5\x8f\xaf\xe8\xaf\x81\ntrailer << /Root 1 0 R >>\n%%EOF\n"
        .to_vec()
}

pub(super) fn multipart(
    csrf: &str,
    fields: &[(&str, String)],
    file: Option<(&str, &[u8])>,
) -> Vec<u8> {
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
pub(super) fn fields(name: &str, mobile: &str) -> Vec<(&'static str, String)> {
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
pub(super) async fn register(
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

pub(super) async fn register_ok(app: &TestApp, name: &str, mobile: &str) -> i64 {
    let pdf = pdf();
    let r = register(app, &fields(name, mobile), Some(("办学许可证.pdf", &pdf))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    org_id(app, name).await
}

pub(super) async fn org_id(app: &TestApp, name: &str) -> i64 {
    let (id,): (i64,) = sql_one(
        app,
        "select org_id from organisations where name = $1 order by org_id desc limit 1",
        &[name],
    )
    .await;
    id
}

/// One row of a query in the henan schema; the parameters are bound as text (cast in SQL).
pub(super) async fn sql_one<T>(app: &TestApp, sql: &str, params: &[&str]) -> T
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let mut rows = sql_all(app, sql, params).await;
    assert!(!rows.is_empty(), "{sql}: no row");
    rows.remove(0)
}

pub(super) async fn sql_all<T>(app: &TestApp, sql: &str, params: &[&str]) -> Vec<T>
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

pub(super) async fn sql_exec(app: &TestApp, sql: &str, params: &[&str]) {
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
pub(super) async fn notifications(
    app: &TestApp,
) -> Vec<(String, String, String, serde_json::Value)> {
    sql_all(
        app,
        "select channel, recipient, template, params from notifications order by notification_id",
        &[],
    )
    .await
}

pub(super) async fn department(app: &TestApp, name: &str, login: &str, code: &str) -> TestAccount {
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
pub(super) async fn activation_path(app: &TestApp) -> String {
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

pub(super) fn location(r: &TestResponse) -> String {
    r.headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

pub(super) fn session_cookie(app: &TestApp, r: &TestResponse) -> String {
    let name = &app.state.config.session.cookie_name;
    format!("{name}={}", r.cookie(name).expect("a session cookie"))
}

/// Asks for a reset code through the form; the page's text.
pub(super) async fn ask_code(app: &TestApp, mobile: &str) -> TestResponse {
    let (cookie, csrf) = app.form_session("/t/henan/forgot-password").await;
    app.post_form(
        "/t/henan/forgot-password/code",
        Some(&cookie),
        &[("csrf_token", &csrf), ("mobile", mobile)],
    )
    .await
}

pub(super) async fn reset(
    app: &TestApp,
    mobile: &str,
    code: &str,
    new: &str,
    confirm: &str,
) -> TestResponse {
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
pub(super) async fn last_code(app: &TestApp, mobile: &str) -> String {
    let (code,): (String,) = sql_one(
        app,
        "select params->>'code' from notifications where template = 'password_reset_code' \
         and recipient = $1 order by notification_id desc limit 1",
        &[mobile],
    )
    .await;
    code
}
