//! The pages in a real browser: headless Chromium through chromedriver. Screenshots are saved
//! under `target/test-artefacts/screenshots/` for people to look at. Each test starts its
//! browser first, so a missing browser fails the test before any database is made.

use xiaobao_domain::Role;
use xiaobao_test_support::{Browser, TestApp};

/// A desktop of the kind schools and bureaus use, and a phone.
const SIZES: [(u32, u32, &str); 2] = [(1366, 768, "1366x768"), (390, 844, "phone")];

const TENANTS: [(&str, &str); 2] = [
    ("henan", "河南省教育保险管理系统"),
    ("shanghai", "上海市中小学校方责任保险管理系统"),
];

#[tokio::test]
async fn landing_and_login_pages_of_two_tenants_show_their_own_programme() {
    let browser = Browser::start().await;
    let app = TestApp::init().await.with_demo_tenants().await;
    let base = app.serve().await;
    for (slug, name) in TENANTS {
        for (width, height, size) in SIZES {
            browser.resize(width, height).await;
            assert_eq!(
                browser.viewport().await,
                (u64::from(width), u64::from(height))
            );

            browser.goto(&format!("{base}/t/{slug}/")).await;
            assert_eq!(browser.title().await, name);
            assert_eq!(browser.text("header.top .brand-name").await, name);
            assert_eq!(browser.text("main h1").await, format!("欢迎使用{name}"));
            let page = browser.text("main").await;
            assert!(
                page.contains("当前学年") && page.contains("2025-2026"),
                "{page}"
            );
            assert!(page.contains("本学年险种与保费") && page.contains("时间节点"));
            assert_eq!(browser.texts("nav.bar li").await, ["系统首页", "登录"]);
            browser
                .assert_no_horizontal_overflow(&format!("{slug} landing at {size}"))
                .await;
            browser.screenshot(&format!("{slug}-landing-{size}")).await;

            browser.goto(&format!("{base}/t/{slug}/login")).await;
            assert_eq!(browser.title().await, format!("用户登录 - {name}"));
            assert_eq!(browser.text("header.top .brand-name").await, name);
            assert_eq!(browser.text("#login-title").await, "账户登录");
            assert_eq!(
                browser.texts(".tabs a").await,
                ["学校", "教育部门", "承保机构", "经纪机构", "主管部门"]
            );
            assert_eq!(browser.text("button[type=submit]").await, "登录系统");
            assert_eq!(browser.text("aside h2").await, name);
            browser
                .assert_no_horizontal_overflow(&format!("{slug} login at {size}"))
                .await;
            browser.screenshot(&format!("{slug}-login-{size}")).await;
        }
    }
    browser.close().await;
}

#[tokio::test]
async fn the_account_type_tabs_switch_the_prompt_and_the_submitted_type() {
    let browser = Browser::start().await;
    let app = TestApp::init().await.with_demo_tenants().await;
    let base = app.serve().await;
    browser.goto(&format!("{base}/t/henan/login")).await;
    assert_eq!(browser.text(".tab.is-active").await, "学校");
    assert_eq!(
        browser.text("label[for=login_name]").await,
        "学校全称或联系人手机号"
    );

    browser.click(".tab[data-type=department]").await;
    assert_eq!(browser.text(".tab.is-active").await, "教育部门");
    assert_eq!(browser.text("label[for=login_name]").await, "区域名称");
    assert_eq!(
        browser
            .property("#login_name", "placeholder")
            .await
            .as_deref(),
        Some("请输入所在区域名称，如：金水区")
    );
    assert_eq!(
        browser
            .property("input[name=account_type]", "value")
            .await
            .as_deref(),
        Some("department")
    );
    let url = browser.client().current_url().await.unwrap();
    assert_eq!(url.query(), Some("type=department"));
    browser.screenshot("henan-login-department-tab").await;

    // The chosen type is what the form submits: the answer keeps it.
    browser.click("button[type=submit]").await;
    browser.wait_for("#login_name_error").await;
    assert_eq!(browser.text(".tab.is-active").await, "教育部门");
    assert_eq!(
        browser.text("#login_name_error").await,
        "请输入所在区域名称"
    );
    browser.close().await;
}

#[tokio::test]
async fn a_login_with_empty_fields_shows_the_messages_next_to_the_fields() {
    let browser = Browser::start().await;
    let app = TestApp::init().await.with_demo_tenants().await;
    let base = app.serve().await;
    for (width, height, size) in SIZES {
        browser.resize(width, height).await;
        browser.goto(&format!("{base}/t/shanghai/login")).await;
        browser.click("button[type=submit]").await;
        browser.wait_for("#password_error").await;
        assert_eq!(
            browser.text("#login_name_error").await,
            "请输入学校全称或联系人手机号"
        );
        assert_eq!(browser.text("#password_error").await, "请输入密码");
        browser
            .assert_no_horizontal_overflow(&format!("login errors at {size}"))
            .await;
        browser
            .screenshot(&format!("shanghai-login-empty-{size}"))
            .await;
    }
    browser.close().await;
}

#[tokio::test]
async fn a_wrong_password_is_answered_without_saying_which_part_was_wrong() {
    let browser = Browser::start().await;
    let app = TestApp::init().await.with_demo_tenants().await;
    let base = app.serve().await;
    browser.goto(&format!("{base}/t/henan/login")).await;
    browser.fill("#login_name", "郑州市金水区实验小学").await;
    browser.fill("#password", "wrong-passw0rd").await;
    browser.click("button[type=submit]").await;
    browser.wait_for("#form_error").await;
    assert_eq!(browser.text("#form_error").await, "账号或密码错误");
    assert_eq!(
        browser.property("#login_name", "value").await.as_deref(),
        Some("郑州市金水区实验小学")
    );
    assert_eq!(
        browser.property("#password", "value").await.as_deref(),
        Some("")
    );
    browser.screenshot("henan-login-wrong-password").await;
    browser.close().await;
}

#[tokio::test]
async fn a_form_whose_session_is_gone_is_refused_with_a_chinese_page() {
    let browser = Browser::start().await;
    let app = TestApp::init().await.with_demo_tenants().await;
    let base = app.serve().await;
    browser.goto(&format!("{base}/t/henan/login")).await;
    browser.fill("#login_name", "郑州市金水区实验小学").await;
    browser.fill("#password", "passw0rd").await;
    // As after the idle time-out: the session, and with it the form's token, is gone.
    browser.client().delete_all_cookies().await.unwrap();
    browser.click("button[type=submit]").await;
    browser.wait_for(".error-page").await;
    assert_eq!(browser.text(".error-page .code").await, "403");
    assert_eq!(browser.text(".error-page h1").await, "请求未通过安全校验");
    assert_eq!(
        browser.text("header.top .brand-name").await,
        "河南省教育保险管理系统"
    );
    browser.screenshot("henan-csrf-refused").await;
    browser.close().await;
}

#[tokio::test]
async fn a_signed_in_department_sees_its_menu_at_both_sizes() {
    let browser = Browser::start().await;
    let app = TestApp::init().await.with_demo_tenants().await;
    let base = app.serve().await;
    let cookie = app
        .signed_in_cookie("henan", Role::CountyDepartment, "金水区教育局")
        .await;
    // A cookie can only be set for the site being shown.
    browser.goto(&format!("{base}/t/henan/")).await;
    browser.set_cookie(&cookie).await;
    for (width, height, size) in SIZES {
        browser.resize(width, height).await;
        browser.goto(&format!("{base}/t/henan/")).await;
        assert_eq!(browser.text("nav.side .side-title").await, "操作导航");
        let items = browser.texts("nav.side li").await;
        assert_eq!(items[0], "系统首页");
        // Pages not built yet are disabled entries; the built ones are links.
        assert!(
            items
                .iter()
                .any(|i| i.starts_with("未决案件") && i.ends_with("即将开放")),
            "{items:?}"
        );
        assert!(items.contains(&"学校数据".to_string()), "{items:?}");
        assert!(
            browser
                .text("header .welcome")
                .await
                .contains("金水区教育局")
        );
        browser
            .assert_no_horizontal_overflow(&format!("department home at {size}"))
            .await;
        browser
            .screenshot(&format!("henan-department-home-{size}"))
            .await;
    }
    // Signing out goes back to the login page, signed out.
    browser.click("form.logout button").await;
    browser.wait_for("#login-title").await;
    assert!(
        browser
            .client()
            .find(fantoccini::Locator::Css("nav.side"))
            .await
            .is_err()
    );
    browser.close().await;
}

#[tokio::test]
async fn a_tenant_host_name_serves_that_tenant_in_the_browser() {
    let browser = Browser::start().await;
    let app = TestApp::init().await.with_demo_tenants().await;
    let base = app.serve().await;
    // Chromium resolves *.localhost to the loopback address itself.
    let host = base.replace("127.0.0.1", "shanghai.localhost");
    browser.goto(&format!("{host}/login")).await;
    assert_eq!(
        browser.title().await,
        "用户登录 - 上海市中小学校方责任保险管理系统"
    );
    browser.click(".tab[data-type=insurer]").await;
    let url = browser.client().current_url().await.unwrap();
    assert_eq!(url.path(), "/login");
    browser.click("header .brand").await;
    browser.wait_for(".hero").await;
    let url = browser.client().current_url().await.unwrap();
    assert_eq!(url.path(), "/");
    assert_eq!(browser.title().await, "上海市中小学校方责任保险管理系统");
    browser.close().await;
}
