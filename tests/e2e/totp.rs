//! Two-factor sign-in (TOTP) through the real router on the fixed test clock: enrolment on the
//! account page and through the API, the second sign-in step (codes of the step before
//! accepted, older ones and replays refused), lock-out by wrong codes, recovery codes used
//! once, turning it off, and the authority sent to enrol when the programme requires it.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Duration;
use xiaobao_domain::{AccountType, Role};
use xiaobao_identity::totp;
use xiaobao_test_support::{AccountSpec, SignedInSession, TestAccount, TestApp, TestAppOptions};

const SLUG: &str = "henan";

/// The text between `start` and the next `end` after it.
fn between<'a>(html: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = html.find(start)? + start.len();
    let to = html[from..].find(end)? + from;
    Some(&html[from..to])
}

/// The secret the enrolment page shows for manual entry.
fn shown_secret(html: &str) -> Vec<u8> {
    let text = between(html, "<code id=\"totp_secret\">", "</code>")
        .unwrap_or_else(|| panic!("no secret on the page: {html}"));
    totp::from_base32(text).unwrap()
}

/// The recovery codes the page shows once.
fn shown_recovery_codes(html: &str) -> Vec<String> {
    let list = between(
        html,
        "<ol class=\"recovery-codes\" id=\"recovery_codes\">",
        "</ol>",
    )
    .unwrap_or_else(|| panic!("no recovery codes: {html}"));
    list.split("<code>")
        .skip(1)
        .filter_map(|c| c.split("</code>").next())
        .map(str::to_string)
        .collect()
}

fn code_now(app: &TestApp, secret: &[u8]) -> String {
    totp::code_at(secret, app.clock.now())
}

fn code_steps_ago(app: &TestApp, secret: &[u8], steps: u64) -> String {
    totp::code_for_step(secret, totp::step_at(app.clock.now()) - steps)
}

/// Enrols the signed-in account through the pages: the secret and the recovery codes shown.
async fn enrol(app: &TestApp, s: &SignedInSession) -> (Vec<u8>, Vec<String>) {
    let r = app
        .post_as(s, "/t/henan/account/two-factor/start", &[])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let page = app
        .get_with_cookie("/t/henan/account/two-factor", &s.cookie)
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains("<svg"), "an inline QR code: {html}");
    assert!(!html.contains("<?xml"));
    let secret = shown_secret(&html);
    assert_eq!(secret.len(), totp::SECRET_LEN);
    // A wrong code does not enable it.
    let wrong = app
        .post_as(
            s,
            "/t/henan/account/two-factor/confirm",
            &[("code", "000000")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.text().contains("动态验证码不正确"));
    let code = code_now(app, &secret);
    let done = app
        .post_as(s, "/t/henan/account/two-factor/confirm", &[("code", &code)])
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text());
    let codes = shown_recovery_codes(&done.text());
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

/// The password step of the login form: the pending session's cookie and CSRF token.
async fn password_step(app: &TestApp, account: &TestAccount) -> SignedInSession {
    let s = app.sign_in("henan", account).await;
    assert_eq!(s.location, "/t/henan/login/second-factor");
    // Nothing is signed in yet.
    let home = app.get_with_cookie("/t/henan/account", &s.cookie).await;
    assert_eq!(home.status, StatusCode::SEE_OTHER);
    let page = app
        .get_with_cookie("/t/henan/login/second-factor", &s.cookie)
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert!(page.text().contains("两步验证"));
    SignedInSession {
        csrf: page.csrf_token().unwrap(),
        ..s
    }
}

/// Gives the second factor; the signed-in session on success, the answer otherwise.
async fn second_step(
    app: &TestApp,
    pending: &SignedInSession,
    code: &str,
) -> Result<SignedInSession, xiaobao_test_support::TestResponse> {
    let r = app
        .post_as(
            pending,
            "/t/henan/login/second-factor",
            &[("totp_code", code)],
        )
        .await;
    if r.status != StatusCode::SEE_OTHER {
        return Err(r);
    }
    let cookie = format!("xb_session={}", r.cookie("xb_session").unwrap());
    let page = app
        .get_with_cookie("/t/henan/account/password", &cookie)
        .await;
    Ok(SignedInSession {
        csrf: page.csrf_token().unwrap_or_default(),
        location: r
            .headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string(),
        cookie,
    })
}

async fn actions(app: &TestApp, account_id: i64) -> Vec<(String, serde_json::Value)> {
    let tenant = app.db().active_tenant(SLUG).unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let rows: Vec<(String, serde_json::Value)> = sqlx::query_as(
        "select action, detail from audit_log where entity = 'account' and entity_id = $1 \
         order by chain_seq",
    )
    .bind(account_id.to_string())
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    rows
}

/// A county department's account (one department per region).
async fn department(app: &TestApp, name: &str, region: &str) -> TestAccount {
    app.account(
        SLUG,
        AccountSpec {
            login_name: Some(name),
            ..AccountSpec::new(name, region, &[Role::CountyDepartment])
        },
    )
    .await
}

#[tokio::test]
async fn enrolment_then_sign_in_asks_for_a_fresh_code() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let dept = department(&app, "两步验证金水区", "410105").await;
    let s = app.sign_in(SLUG, &dept).await;
    let (secret, _) = enrol(&app, &s).await;
    let page = app
        .get_with_cookie("/t/henan/account/two-factor", &s.cookie)
        .await;
    assert!(page.text().contains("two_factor_on"), "{}", page.text());

    // The secret is sealed at rest: the stored value is not the secret and is bound to the
    // account; nothing of it is in the audit trail.
    let tenant = app.db().active_tenant(SLUG).unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let sealed: Vec<u8> =
        sqlx::query_scalar("select secret_sealed from account_totp where account_id = $1")
            .bind(dept.account_id)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    tx.commit().await.unwrap();
    assert!(!sealed.windows(secret.len()).any(|w| w == secret.as_slice()));
    let keys = app.state.totp_keys(&tenant).unwrap();
    assert_eq!(keys.open(dept.account_id, &sealed).unwrap(), secret);
    assert!(keys.open(dept.account_id + 1, &sealed).is_err());
    let trail = actions(&app, dept.account_id).await;
    let b32 = totp::base32(&secret);
    assert!(trail.iter().any(|(a, _)| a == "totp.enabled"));
    assert!(trail.iter().all(|(_, d)| !d.to_string().contains(&b32)));

    // The code that confirmed the enrolment is used: the same step never signs in.
    let pending = password_step(&app, &dept).await;
    let used = code_now(&app, &secret);
    let r = second_step(&app, &pending, &used).await.unwrap_err();
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(
        r.text().contains("动态验证码或恢复码不正确"),
        "{}",
        r.text()
    );

    // A minute later: the code of the step before is still accepted.
    app.clock.advance(Duration::seconds(60));
    let previous = code_steps_ago(&app, &secret, 1);
    let signed = second_step(&app, &pending, &previous).await.unwrap();
    assert_eq!(signed.location, "/t/henan/");
    let me = app
        .json_as(&signed, "GET", "/api/v1/t/henan/me", None)
        .await;
    assert_eq!(me.status, StatusCode::OK);

    // The same code a second time, and one two steps old, are refused.
    let pending = password_step(&app, &dept).await;
    let r = second_step(&app, &pending, &previous).await.unwrap_err();
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let old = code_steps_ago(&app, &secret, 2);
    assert!(second_step(&app, &pending, &old).await.is_err());
    // The current one signs in.
    let now = code_now(&app, &secret);
    second_step(&app, &pending, &now).await.unwrap();

    let trail: Vec<String> = actions(&app, dept.account_id)
        .await
        .into_iter()
        .map(|(a, _)| a)
        .collect();
    for action in [
        "login.password_verified",
        "login.second_factor.failed",
        "login.second_factor.succeeded",
    ] {
        assert!(trail.iter().any(|a| a == action), "{action}: {trail:?}");
    }

    // The pending step expires after five minutes.
    app.clock.advance(Duration::seconds(30));
    let pending = password_step(&app, &dept).await;
    app.clock.advance(Duration::minutes(6));
    let late = code_now(&app, &secret);
    let r = app
        .post_as(
            &pending,
            "/t/henan/login/second-factor",
            &[("totp_code", &late)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.headers["location"], "/t/henan/login");
    app.cleanup().await;
}

#[tokio::test]
async fn wrong_codes_lock_the_account_like_wrong_passwords() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let dept = department(&app, "锁定验证金水区", "410105").await;
    let s = app.sign_in(SLUG, &dept).await;
    let (secret, _) = enrol(&app, &s).await;
    app.clock.advance(Duration::seconds(30));
    let threshold = app.state.config.auth.lockout_threshold;
    let pending = password_step(&app, &dept).await;
    let mut last = None;
    for _ in 0..threshold {
        last = Some(second_step(&app, &pending, "123456").await.unwrap_err());
    }
    let last = last.unwrap();
    assert_eq!(last.status, StatusCode::UNAUTHORIZED);
    assert!(last.text().contains("账号已锁定"), "{}", last.text());
    // The right code does not help now, nor does the right password.
    let right = code_now(&app, &secret);
    let r = second_step(&app, &pending, &right).await.unwrap_err();
    assert!(r.text().contains("账号已锁定"), "{}", r.text());
    let again = app
        .sign_in_with(
            SLUG,
            AccountType::Department,
            &dept.login_name,
            &dept.password,
        )
        .await
        .unwrap_err();
    assert!(again.text().contains("账号已锁定"), "{}", again.text());
    let trail: Vec<String> = actions(&app, dept.account_id)
        .await
        .into_iter()
        .map(|(a, _)| a)
        .collect();
    assert!(trail.iter().any(|a| a == "account.locked"), "{trail:?}");

    // Right passwords in between do not reset the count of wrong codes.
    let other = department(&app, "计数验证中原区", "410102").await;
    let s = app.sign_in(SLUG, &other).await;
    let (_, _) = enrol(&app, &s).await;
    for _ in 0..threshold - 1 {
        let pending = password_step(&app, &other).await;
        second_step(&app, &pending, "654321").await.unwrap_err();
    }
    let pending = password_step(&app, &other).await;
    let r = second_step(&app, &pending, "654321").await.unwrap_err();
    assert!(r.text().contains("账号已锁定"), "{}", r.text());
    app.cleanup().await;
}

#[tokio::test]
async fn a_recovery_code_signs_in_once_and_turning_it_off_needs_password_and_code() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let dept = department(&app, "恢复码金水区", "410105").await;
    let s = app.sign_in(SLUG, &dept).await;
    let (secret, codes) = enrol(&app, &s).await;
    let pending = password_step(&app, &dept).await;
    let signed = second_step(&app, &pending, &codes[0].to_uppercase())
        .await
        .unwrap();
    let pending = password_step(&app, &dept).await;
    let r = second_step(&app, &pending, &codes[0]).await.unwrap_err();
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    second_step(&app, &pending, &codes[1]).await.unwrap();
    let trail = actions(&app, dept.account_id).await;
    let used: Vec<_> = trail
        .iter()
        .filter(|(a, _)| a == "totp.recovery_code_used")
        .collect();
    assert_eq!(used.len(), 2);
    assert_eq!(used[1].1["remaining"], 8);
    assert!(
        trail
            .iter()
            .all(|(_, d)| !d.to_string().contains(&codes[0]))
    );
    let status = app
        .json_as(&signed, "GET", "/api/v1/t/henan/me/two-factor", None)
        .await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.text());
    assert_eq!(status.json()["enabled"], true);
    assert_eq!(status.json()["recovery_codes_left"], 8);

    // Off: the password and a current code are both needed.
    app.clock.advance(Duration::seconds(30));
    let code = code_now(&app, &secret);
    let r = app
        .post_as(
            &signed,
            "/t/henan/account/two-factor/disable",
            &[("password", "Wrong2026pw"), ("code", &code)],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().contains("密码不正确"));
    let r = app
        .post_as(
            &signed,
            "/t/henan/account/two-factor/disable",
            &[("password", &dept.password), ("code", "000000")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .post_as(
            &signed,
            "/t/henan/account/two-factor/disable",
            &[("password", &dept.password), ("code", &code)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    // The password alone signs in again.
    let s = app.sign_in(SLUG, &dept).await;
    assert_eq!(s.location, "/t/henan/");
    let trail: Vec<String> = actions(&app, dept.account_id)
        .await
        .into_iter()
        .map(|(a, _)| a)
        .collect();
    assert!(trail.iter().any(|a| a == "totp.disabled"));
    assert!(trail.iter().any(|a| a == "totp.disable_refused"));
    app.cleanup().await;
}

async fn api_login(app: &TestApp, body: serde_json::Value) -> xiaobao_test_support::TestResponse {
    app.request(
        Request::post("/api/v1/t/henan/session")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn the_api_enrols_and_asks_for_the_code_at_sign_in() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let dept = department(&app, "接口验证金水区", "410105").await;
    let s = app.sign_in(SLUG, &dept).await;
    let r = app
        .json_as(&s, "POST", "/api/v1/t/henan/me/two-factor", None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let started = r.json();
    let uri = started["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains("issuer=%E6%A0%A1%E4%BF%9D"), "{uri}");
    assert!(started["qr_svg"].as_str().unwrap().starts_with("<svg"));
    let secret = totp::from_base32(started["secret"].as_str().unwrap()).unwrap();
    let r = app
        .json_as(
            &s,
            "POST",
            "/api/v1/t/henan/me/two-factor/confirm",
            Some(serde_json::json!({"code": code_now(&app, &secret)})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["recovery_codes"].as_array().unwrap().len(), 10);
    // Starting again while it is on is refused.
    let again = app
        .json_as(&s, "POST", "/api/v1/t/henan/me/two-factor", None)
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);

    let login = serde_json::json!({"account_type": "department", "login_name": dept.login_name,
        "password": dept.password});
    let r = api_login(&app, login.clone()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "second_factor_required");
    assert_eq!(r.json()["error"]["field"], "totp_code");
    assert!(r.cookie("xb_session").is_none_or(|c| c.is_empty()));
    let mut wrong = login.clone();
    wrong["totp_code"] = "111111".into();
    let r = api_login(&app, wrong).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json()["error"]["code"], "invalid_second_factor");
    app.clock.advance(Duration::seconds(30));
    let mut right = login.clone();
    right["totp_code"] = code_now(&app, &secret).into();
    let r = api_login(&app, right).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    app.cleanup().await;
}

#[tokio::test]
async fn an_authority_must_enrol_first_when_the_programme_requires_it() {
    let app = TestApp::start_configured(TestAppOptions::default(), |c| {
        c.auth.require_totp_for_admins = true;
    })
    .await
    .with_demo_tenants()
    .await;
    let authority = app
        .account(
            SLUG,
            AccountSpec {
                login_name: Some("两步验证主管"),
                ..AccountSpec::new("两步验证主管部门", "410000", &[Role::ProgrammeAuthority])
            },
        )
        .await;
    let s = app.sign_in(SLUG, &authority).await;
    for page in ["/t/henan/admin/audit", "/t/henan/rules", "/t/henan/schools"] {
        let r = app.get_with_cookie(page, &s.cookie).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{page}");
        assert_eq!(
            r.headers["location"], "/t/henan/account/two-factor",
            "{page}"
        );
    }
    let api = app.json_as(&s, "GET", "/api/v1/t/henan/audit", None).await;
    assert_eq!(api.status, StatusCode::FORBIDDEN, "{}", api.text());
    assert_eq!(api.json()["error"]["code"], "two_factor_enrolment_required");
    let page = app
        .get_with_cookie("/t/henan/account/two-factor", &s.cookie)
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("two_factor_required"));
    let (secret, _) = enrol(&app, &s).await;
    // Enrolled in this session: everything answers.
    let audit = app.get_with_cookie("/t/henan/admin/audit", &s.cookie).await;
    assert_eq!(audit.status, StatusCode::OK);
    // A new sign-in gives the second factor and is let through.
    app.clock.advance(Duration::seconds(30));
    let pending = password_step(&app, &authority).await;
    let signed = second_step(&app, &pending, &code_now(&app, &secret))
        .await
        .unwrap();
    let audit = app
        .get_with_cookie("/t/henan/admin/audit", &signed.cookie)
        .await;
    assert_eq!(audit.status, StatusCode::OK);

    // Other accounts are not required to.
    let dept = department(&app, "不强制金水区", "410105").await;
    let d = app.sign_in(SLUG, &dept).await;
    let schools = app.get_with_cookie("/t/henan/schools", &d.cookie).await;
    assert_eq!(schools.status, StatusCode::OK);
    app.cleanup().await;
}

#[tokio::test]
async fn reseal_moves_two_factor_secrets_to_the_new_id_key() {
    use xiaobao_roster::{IdSealer, derived_keys};
    use xiaobao_test_support::TEST_ID_KEY;
    let app = TestApp::init().await.with_demo_tenants().await;
    let dept = department(&app, "轮换验证金水区", "410105").await;
    let s = app.sign_in(SLUG, &dept).await;
    let (secret, _) = enrol(&app, &s).await;
    let new_key = "the-new-id-key-0123456789abcdef0123456789abcdef";
    let rotating = IdSealer::encode_keys(
        (2, new_key.as_bytes()),
        Some((1, TEST_ID_KEY.as_bytes())),
        Some(TEST_ID_KEY.as_bytes()),
    );
    let actor = xiaobao_audit::Actor::cli("test");
    let reports = xiaobao::keys::reseal(app.db(), &rotating, Some(SLUG), 100, &actor)
        .await
        .unwrap();
    assert_eq!(reports[0].totp_resealed, 1);
    let again = xiaobao::keys::reseal(app.db(), &rotating, Some(SLUG), 100, &actor)
        .await
        .unwrap();
    assert_eq!(again[0].totp_resealed, 0, "nothing left to re-seal");
    // Only the new key is needed now.
    let rotated =
        IdSealer::encode_keys((2, new_key.as_bytes()), None, Some(TEST_ID_KEY.as_bytes()));
    let keys = totp::TotpKeys::new(&derived_keys(&rotated, totp::SEAL_INFO, SLUG)).unwrap();
    let tenant = app.db().active_tenant(SLUG).unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let sealed: Vec<u8> =
        sqlx::query_scalar("select secret_sealed from account_totp where account_id = $1")
            .bind(dept.account_id)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(sealed[1], 2);
    assert_eq!(keys.open(dept.account_id, &sealed).unwrap(), secret);
    app.cleanup().await;
}

#[tokio::test]
async fn turning_it_on_or_off_ends_the_other_sessions_and_recovery_codes_can_be_renewed() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let dept = department(&app, "两步验证中原区", "410102").await;
    let other = app.sign_in(SLUG, &dept).await;
    let s = app.sign_in(SLUG, &dept).await;
    let signed_in = |r: &xiaobao_test_support::TestResponse| r.status == StatusCode::OK;
    assert!(signed_in(
        &app.get_with_cookie("/t/henan/account", &other.cookie).await
    ));
    let (secret, old_codes) = enrol(&app, &s).await;
    // The session that turned it on stays; the other one is signed out.
    assert!(signed_in(
        &app.get_with_cookie("/t/henan/account", &s.cookie).await
    ));
    assert_eq!(
        app.get_with_cookie("/t/henan/account", &other.cookie)
            .await
            .status,
        StatusCode::SEE_OTHER
    );

    // New recovery codes need a current code from the authenticator, not a recovery code.
    app.clock.advance(Duration::seconds(30));
    let r = app
        .post_as(
            &s,
            "/t/henan/account/two-factor/recovery-codes",
            &[("code", &old_codes[0])],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert!(r.text().contains("6 位数字"));
    let r = app
        .post_as(
            &s,
            "/t/henan/account/two-factor/recovery-codes",
            &[("code", "000000")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().contains("动态验证码不正确"));
    let code = code_now(&app, &secret);
    let r = app
        .post_as(
            &s,
            "/t/henan/account/two-factor/recovery-codes",
            &[("code", &code)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.text().contains("recovery_codes_regenerated"));
    let new_codes = shown_recovery_codes(&r.text());
    assert_eq!(new_codes.len(), 10);
    assert!(new_codes.iter().all(|c| !old_codes.contains(c)));
    // The same code cannot be replayed for another set.
    let r = app
        .post_as(
            &s,
            "/t/henan/account/two-factor/recovery-codes",
            &[("code", &code)],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    // The old codes no longer sign in; a new one does.
    let pending = password_step(&app, &dept).await;
    let r = second_step(&app, &pending, &old_codes[1])
        .await
        .unwrap_err();
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let pending = password_step(&app, &dept).await;
    let third = second_step(&app, &pending, &new_codes[0]).await.unwrap();

    // Through the API as well.
    app.clock.advance(Duration::seconds(30));
    let r = app
        .json_as(
            &s,
            "POST",
            "/api/v1/t/henan/me/two-factor/recovery-codes",
            Some(serde_json::json!({ "code": code_now(&app, &secret) })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["recovery_codes"].as_array().unwrap().len(), 10);
    let trail = actions(&app, dept.account_id).await;
    let renewed = trail
        .iter()
        .filter(|(a, _)| a == "totp.recovery_codes_regenerated")
        .count();
    assert_eq!(renewed, 2);
    assert!(trail.iter().any(|(a, _)| a == "totp.regenerate_refused"));

    // Turning it off also ends the other sessions, and keeps this one.
    app.clock.advance(Duration::seconds(30));
    let r = app
        .post_as(
            &s,
            "/t/henan/account/two-factor/disable",
            &[
                ("password", &dept.password),
                ("code", &code_now(&app, &secret)),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert!(signed_in(
        &app.get_with_cookie("/t/henan/account", &s.cookie).await
    ));
    assert_eq!(
        app.get_with_cookie("/t/henan/account", &third.cookie)
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    app.cleanup().await;
}
