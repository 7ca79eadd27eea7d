//! School registration end to end in a real browser: the school registers through the form
//! with its licence, the department signs in and approves, the contact opens the link of the
//! SMS, sets the first password, signs out and signs in with it. Screenshots are saved under
//! `target/test-artefacts/screenshots/`.

use std::time::Duration;

use fantoccini::Locator;
use xiaobao_domain::Role;
use xiaobao_test_support::{AccountSpec, Browser, TEST_PASSWORD, TestApp};

const SCHOOL: &str = "郑州市金水区浏览器测试小学";
const PASSWORD: &str = "Liulanqi2026";

/// Waits (up to 10 s) until the page's path is `path`.
async fn wait_for_path(browser: &Browser, path: &str) {
    for _ in 0..100 {
        let url = browser.client().current_url().await.unwrap();
        if url.path() == path {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let url = browser.client().current_url().await.unwrap();
    panic!("expected {path}, the browser shows {url}");
}

#[tokio::test]
async fn a_school_registers_is_approved_and_signs_in_with_the_password_it_set() {
    let browser = Browser::start().await;
    let app = TestApp::init().await.with_demo_tenants().await;
    app.account(
        "henan",
        AccountSpec {
            login_name: Some("金水区"),
            ..AccountSpec::new("金水区教育局", "410105", &[Role::CountyDepartment])
        },
    )
    .await;
    let base = app.serve().await;
    let licence = std::env::temp_dir().join(format!("{}-办学许可证.pdf", app.name));
    std::fs::write(
        &licence,
        b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n",
    )
    .unwrap();

    // From the login page to the registration form.
    browser.goto(&format!("{base}/t/henan/login")).await;
    browser.click("#register_link").await;
    browser.wait_for("#register-title").await;
    assert_eq!(browser.title().await, "学校注册 - 河南省教育保险管理系统");
    browser.fill("#name", SCHOOL).await;
    let client = browser.client();
    for (select, value) in [
        ("#region_code", "410105"),
        ("#nature", "public"),
        ("#school_type", "primary"),
    ] {
        client
            .find(Locator::Css(select))
            .await
            .unwrap()
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("{select}: {e}"));
    }
    browser.fill("#address", "郑州市金水区经三路 10 号").await;
    browser.fill("#principal", "陈校长").await;
    browser.fill("#contact_name", "周老师").await;
    browser.fill("#contact_mobile", "13812345678").await;
    client
        .find(Locator::Css("#qualification"))
        .await
        .unwrap()
        .send_keys(licence.to_str().unwrap())
        .await
        .unwrap();
    browser.screenshot("henan-register-form").await;
    browser.click("form.form button[type=submit]").await;
    browser.wait_for("#register_done").await;
    assert_eq!(
        browser.text("#register_done").await,
        "已提交，等待 金水区教育局 审核"
    );
    assert!(browser.text("main").await.contains("138****5678"));
    browser.screenshot("henan-register-done").await;

    // The department signs in and approves.
    browser
        .goto(&format!("{base}/t/henan/login?type=department"))
        .await;
    browser.fill("#login_name", "金水区").await;
    browser.fill("#password", TEST_PASSWORD).await;
    browser.click("form.form button[type=submit]").await;
    wait_for_path(&browser, "/t/henan/").await;
    browser.goto(&format!("{base}/t/henan/registrations")).await;
    browser.wait_for("#registrations").await;
    let rows = browser.texts("#registrations tbody tr").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].contains(SCHOOL) && rows[0].contains("13812345678"));
    browser.screenshot("henan-registrations-pending").await;
    browser.click("#registrations tbody a").await;
    browser.wait_for("#approve_button").await;
    assert!(
        browser
            .text("#qualification_link")
            .await
            .contains("办学许可证.pdf")
    );
    browser.screenshot("henan-registration-detail").await;
    browser.click("#approve_button").await;
    browser.wait_for("#decided").await;
    assert_eq!(browser.text("#registration_status").await, "已通过");
    browser.click("form.logout button").await;
    browser.wait_for("#login-title").await;

    // The link of the SMS, from the outbox.
    let tenant = app.db().active_tenant("henan").unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let (recipient, link): (String, String) = sqlx::query_as(
        "select recipient, params->>'set_password_url' from notifications \
         where template = 'registration_approved'",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(recipient, "13812345678");
    let path = link
        .strip_prefix(&app.state.config.public_url())
        .unwrap_or_else(|| panic!("{link}"));
    assert!(path.starts_with("/t/henan/activate?token="), "{path}");

    // The contact opens it and is made to set a password first.
    browser.goto(&format!("{base}{path}")).await;
    browser.wait_for("#activate_button").await;
    assert_eq!(browser.text("#activate_school").await, SCHOOL);
    browser.screenshot("henan-activate").await;
    browser.click("#activate_button").await;
    wait_for_path(&browser, "/t/henan/account/password").await;
    browser.wait_for("#password_forced").await;
    assert!(
        client
            .find(Locator::Css("#current_password"))
            .await
            .is_err(),
        "no current password to ask for"
    );
    // Any other page leads back to the password page.
    browser.goto(&format!("{base}/t/henan/registrations")).await;
    wait_for_path(&browser, "/t/henan/account/password").await;
    browser.wait_for("#new_password").await;
    browser.fill("#new_password", PASSWORD).await;
    browser.fill("#confirm_password", PASSWORD).await;
    browser.screenshot("henan-first-password").await;
    browser.click("main form.form button[type=submit]").await;
    browser.wait_for("#password_done").await;
    browser.screenshot("henan-first-password-done").await;
    browser.click("form.logout button").await;
    browser.wait_for("#login-title").await;

    // Signs in with the new password and reaches the home page.
    browser.fill("#login_name", SCHOOL).await;
    browser.fill("#password", PASSWORD).await;
    browser.click("form.form button[type=submit]").await;
    wait_for_path(&browser, "/t/henan/").await;
    assert!(
        browser.text("header .welcome").await.contains(SCHOOL),
        "{}",
        browser.text("header .welcome").await
    );
    browser
        .screenshot("henan-school-home-after-registration")
        .await;

    // The link worked once.
    browser.goto(&format!("{base}{path}")).await;
    browser.wait_for(".error-page").await;
    assert_eq!(browser.text(".error-page h1").await, "链接无效或已过期");

    // The recovery pages from the login page, signed out.
    browser.goto(&format!("{base}/t/henan/")).await;
    browser.click("form.logout button").await;
    browser.wait_for("#forgot_password_link").await;
    browser.click("#forgot_password_link").await;
    browser.wait_for("#send_code").await;
    browser.fill("#mobile", "13812345678").await;
    browser.click("#send_code").await;
    browser.wait_for("#code_sent").await;
    assert_eq!(
        browser.text("#code_sent").await,
        "如该手机号已注册，验证码已发送，请查收短信"
    );
    browser.screenshot("henan-forgot-password").await;
    browser.goto(&format!("{base}/t/henan/login")).await;
    browser.click("#forgot_account_link").await;
    browser.wait_for("svg.captcha").await;
    browser.fill("#school_name", SCHOOL).await;
    browser.fill("#captcha_answer", "XXXX").await;
    browser.click("main form.form button[type=submit]").await;
    browser.wait_for("#captcha_error").await;
    assert_eq!(
        browser.text("#captcha_error").await,
        "验证码错误，请重新输入"
    );
    browser.screenshot("henan-forgot-account").await;
    let _ = std::fs::remove_file(&licence);
    browser.close().await;
}
