//! Account recovery: 忘记密码 and 忘记账号.

use super::*;

/// A programme whose mobiles get four reset codes an hour, and a school of 金水区 with a known
/// mobile; the school's account and mobile.
async fn recovery_app() -> (TestApp, TestAccount, String) {
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
    (app, school, mobile)
}

#[tokio::test]
async fn forgot_password_answers_known_and_unknown_mobiles_alike_and_texts_only_the_known() {
    let (app, _, mobile) = recovery_app().await;
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
    assert_eq!(last_code(&app, &mobile).await.len(), 6);
    let bad = ask_code(&app, "1391234").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().contains("手机号格式不正确"));
}

#[tokio::test]
async fn a_reset_code_clears_the_lock_survives_refused_passwords_and_works_once() {
    let (app, school, mobile) = recovery_app().await;
    ask_code(&app, &mobile).await;
    let code = last_code(&app, &mobile).await;
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
}

#[tokio::test]
async fn an_expired_reset_code_is_refused() {
    let (app, school, mobile) = recovery_app().await;
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
}

#[tokio::test]
async fn five_wrong_tries_use_a_reset_code_up() {
    let (app, _, mobile) = recovery_app().await;
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
}

#[tokio::test]
async fn the_fourth_reset_code_of_the_hour_is_the_last_for_a_mobile() {
    let (app, _, mobile) = recovery_app().await;
    for _ in 0..3 {
        ask_code(&app, &mobile).await;
    }
    // The fourth code of the hour is the last one for this mobile.
    let r = ask_code(&app, &mobile).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = ask_code(&app, &mobile).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.text().contains("获取验证码过于频繁"));
}

#[tokio::test]
async fn the_password_reset_api_answers_like_the_form() {
    let (app, _, _) = recovery_app().await;
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
