//! Approval and activation by the one-time link of the SMS.

use super::*;

/// 金水区's department signed in, and a pending registration of [`SCHOOL`] with the contact
/// mobile 13812340021: the app, the department, the school's org id and the session.
async fn pending_registration() -> (TestApp, TestAccount, i64, SignedInSession) {
    let app = TestApp::init().await.with_demo_tenants().await;
    let dept = department(&app, "金水区教育局", "金水区", "410105").await;
    let org = register_ok(&app, SCHOOL, "13812340021").await;
    let s = app.sign_in("henan", &dept).await;
    (app, dept, org, s)
}

/// Approves the registration through the page.
async fn approve(app: &TestApp, s: &SignedInSession, org: i64) {
    let r = app
        .post_as(s, &format!("/t/henan/registrations/{org}/approve"), &[])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
}

#[tokio::test]
async fn the_reviewer_sees_the_full_mobile_and_downloads_the_qualification() {
    let (app, _, org, s) = pending_registration().await;

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
}

#[tokio::test]
async fn approval_activates_the_school_audits_it_and_sends_one_sms_with_the_link() {
    let (app, dept, org, s) = pending_registration().await;

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
}

#[tokio::test]
async fn deciding_a_registration_again_is_refused_and_sends_nothing() {
    let (app, _, org, s) = pending_registration().await;
    approve(&app, &s, org).await;
    // Deciding again is refused.
    let again = app
        .post_as(&s, &format!("/t/henan/registrations/{org}/approve"), &[])
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.text().contains("该注册申请已处理（已通过）"));
    assert_eq!(notifications(&app).await.len(), 1);
}

#[tokio::test]
async fn the_activation_link_signs_in_once_and_forces_a_first_password() {
    let (app, _, org, s) = pending_registration().await;
    approve(&app, &s, org).await;
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
