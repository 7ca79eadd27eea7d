//! The web shell through the real router: login page and form, sessions, CSRF, navigation.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use xiaobao_domain::Role;
use xiaobao_test_support::{AccountSpec, TestApp, TestAppOptions};

#[tokio::test]
async fn the_login_page_asks_for_the_account_type_first_and_carries_a_csrf_token() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let r = app.get("/t/henan/login").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let html = r.text();
    assert!(html.contains("<title>用户登录 - 河南省教育保险管理系统</title>"));
    let tabs = ["学校", "教育部门", "承保机构", "经纪机构", "主管部门"];
    let mut at = html.find("data-tabs").expect("tabs");
    for tab in tabs {
        let found = html[at..].find(&format!(">{tab}</a>")).expect(tab);
        at += found;
    }
    assert!(
        at < html.find("name=\"login_name\"").expect("login name field"),
        "the tabs come before the login name"
    );
    assert!(html.contains("请输入学校全称或联系人手机号"));
    let token = r.csrf_token().expect("csrf field");
    assert_eq!(token.len(), 43);
    assert_eq!(r.headers["cache-control"], "no-store");
    // Registration and recovery are links to their pages, which answer.
    for (id, href, label) in [
        ("register_link", "/t/henan/register", "学校注册"),
        (
            "forgot_password_link",
            "/t/henan/forgot-password",
            "忘记密码？",
        ),
        (
            "forgot_account_link",
            "/t/henan/forgot-account",
            "忘记账号？",
        ),
    ] {
        assert!(
            html.contains(&format!("<a href=\"{href}\" id=\"{id}\">{label}</a>")),
            "{id}: {html}"
        );
        assert_eq!(app.get(href).await.status, StatusCode::OK, "{href}");
    }
    assert!(!html.contains("即将开放"), "{html}");
    // ?type= chooses a tab without any script.
    let dept = app.get("/t/henan/login?type=department").await.text();
    assert!(dept.contains("value=\"department\" data-account-type"));
    assert!(dept.contains("请输入所在区域名称，如：金水区"));
}

#[tokio::test]
async fn session_cookies_are_http_only_same_site_and_secure_when_configured() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let r = app.get("/t/henan/login").await;
    let cookie = r.set_cookie("xb_session").expect("session cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    assert!(cookie.contains("Max-Age=1800"), "30 minutes idle: {cookie}");
    assert!(
        !cookie.contains("Secure"),
        "plain-HTTP loopback by default: {cookie}"
    );
    // The landing page of a visitor creates no session at all.
    assert!(
        app.get("/t/henan/")
            .await
            .set_cookie("xb_session")
            .is_none()
    );

    let app = TestApp::start_configured(TestAppOptions::default(), |c| {
        c.server.public_url = Some("https://xiaobao.example.cn".into());
        c.session.idle_timeout_mins = 15;
    })
    .await
    .with_demo_tenants()
    .await;
    let cookie = app
        .get("/t/henan/login")
        .await
        .set_cookie("xb_session")
        .expect("session cookie");
    assert!(cookie.contains("Secure"), "HTTPS public URL: {cookie}");
    assert!(cookie.contains("Max-Age=900"), "{cookie}");
}

#[tokio::test]
async fn a_form_post_without_the_right_csrf_token_is_refused_and_not_processed() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let (cookie, token) = app.form_session("/t/henan/login").await;
    let login = [
        ("account_type", "school"),
        ("login_name", "郑州市第一中学"),
        ("password", "x"),
    ];
    let wrong = "A".repeat(43);
    for (what, cookie, token) in [
        ("no token", Some(cookie.as_str()), None),
        ("wrong token", Some(cookie.as_str()), Some(wrong.as_str())),
        ("no session", None, Some(token.as_str())),
    ] {
        let mut fields = login.to_vec();
        if let Some(t) = token {
            fields.push(("csrf_token", t));
        }
        let r = app.post_form("/t/henan/login", cookie, &fields).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{what}");
        let html = r.text();
        assert!(html.contains("请求未通过安全校验"), "{what}: {html}");
        assert!(html.contains("河南省教育保险管理系统"), "branded: {what}");
        assert!(
            !html.contains("账号或密码错误"),
            "the login never ran: {what}"
        );
    }
    // Signing out is a form post too: without the token the session survives.
    let signed_in = app
        .signed_in_cookie("henan", Role::School, "郑州市第一中学")
        .await;
    let r = app
        .post_form("/t/henan/logout", Some(&signed_in), &[])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let home = app.get_with_cookie("/t/henan/", &signed_in).await.text();
    assert!(
        home.contains("欢迎您，<strong>郑州市第一中学</strong>"),
        "still signed in"
    );
    // With its token it works and ends the session.
    let token = app
        .get_with_cookie("/t/henan/", &signed_in)
        .await
        .csrf_token()
        .expect("logout form");
    let r = app
        .post_form(
            "/t/henan/logout",
            Some(&signed_in),
            &[("csrf_token", &token)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.headers["location"], "/t/henan/login");
    let home = app.get_with_cookie("/t/henan/", &signed_in).await.text();
    assert!(!home.contains("欢迎您"), "signed out");
}

#[tokio::test]
async fn calls_relying_on_the_session_cookie_need_the_csrf_header() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let (cookie, token) = app.form_session("/t/henan/login").await;
    let post = |header: Option<&str>| {
        let mut r = Request::post("/api/v1/t/henan/regions/410000")
            .header("content-type", "application/json")
            .header("cookie", &cookie);
        if let Some(t) = header {
            r = r.header("x-csrf-token", t);
        }
        r.body(Body::from("{}")).unwrap()
    };
    let r = app.request(post(None)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json()["error"]["code"], "csrf_failed");
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("CSRF")
    );
    // With the header the request reaches routing (this resource has no POST).
    let r = app.request(post(Some(&token))).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    // A form post works with the header instead of the field, too.
    let r = app
        .request(
            Request::post("/t/henan/login")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", &cookie)
                .header("x-csrf-token", &token)
                .body(Body::from("account_type=school&login_name=a&password=b"))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.text().contains("账号或密码错误"));
    // And a multipart form carries it as a field.
    let body = format!(
        "--XB\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{token}\r\n--XB\r\nContent-Disposition: form-data; name=\"login_name\"\r\n\r\na\r\n--XB--\r\n"
    );
    let r = app
        .request(
            Request::post("/t/henan/logout")
                .header("content-type", "multipart/form-data; boundary=XB")
                .header("cookie", &cookie)
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
}

#[tokio::test]
async fn a_session_from_one_tenant_is_not_accepted_by_another() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let (cookie, token) = app.form_session("/t/henan/login").await;
    // Henan's session and token do not pass on Shanghai's form.
    let r = app
        .post_form(
            "/t/shanghai/login",
            Some(&cookie),
            &[
                ("csrf_token", &token),
                ("account_type", "school"),
                ("login_name", "a"),
                ("password", "b"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.text().contains("上海市中小学校方责任保险管理系统"));
    // A signed-in Henan session is anonymous on Shanghai's pages …
    let henan = app
        .signed_in_cookie("henan", Role::CountyDepartment, "金水区")
        .await;
    let on_henan = app.get_with_cookie("/t/henan/", &henan).await.text();
    assert!(on_henan.contains("欢迎您，<strong>金水区</strong>"));
    let r = app.get_with_cookie("/t/shanghai/login", &henan).await;
    assert!(!r.text().contains("金水区</strong>"));
    // … and Shanghai replaces it with a session of its own rather than reusing the id.
    let shanghai_id = r.cookie("xb_session").expect("a new session");
    assert_ne!(format!("xb_session={shanghai_id}"), henan);
    assert_ne!(r.csrf_token(), Some(token));
}

#[tokio::test]
async fn an_incomplete_login_is_answered_in_chinese_next_to_each_field() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let (cookie, token) = app.form_session("/t/henan/login").await;
    let r = app
        .post_form(
            "/t/henan/login",
            Some(&cookie),
            &[
                ("csrf_token", &token),
                ("account_type", "department"),
                ("login_name", "  "),
                ("password", ""),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text();
    assert!(
        html.contains("<p class=\"field-error\" id=\"login_name_error\">请输入所在区域名称</p>")
    );
    assert!(html.contains("<p class=\"field-error\" id=\"password_error\">请输入密码</p>"));
    assert!(
        html.contains("value=\"department\" data-account-type"),
        "type kept"
    );
    assert!(!html.contains("账号或密码错误"));

    // The login name is kept (escaped), the password never sent back.
    let r = app
        .post_form(
            "/t/henan/login",
            Some(&cookie),
            &[
                ("csrf_token", &token),
                ("account_type", "school"),
                ("login_name", "金水区<实验>小学"),
                ("password", ""),
            ],
        )
        .await;
    let html = r.text();
    assert!(
        html.contains("value=\"金水区&#60;实验&#62;小学\""),
        "{html}"
    );
    assert!(html.contains("id=\"password_error\""));
}

#[tokio::test]
async fn a_complete_login_gets_the_same_answer_whether_or_not_the_account_exists() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let (cookie, token) = app.form_session("/t/shanghai/login").await;
    let mut answers = Vec::new();
    for name in ["浦东新区", "13800000000"] {
        let r = app
            .post_form(
                "/t/shanghai/login",
                Some(&cookie),
                &[
                    ("csrf_token", &token),
                    ("account_type", "department"),
                    ("login_name", name),
                    ("password", "Secret-passw0rd"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        let html = r.text();
        assert!(html.contains(
            "<div class=\"alert alert-error\" role=\"alert\" id=\"form_error\">账号或密码错误</div>"
        ));
        assert!(html.contains(&format!("value=\"{name}\"")));
        assert!(
            !html.contains("Secret-passw0rd"),
            "the password is never echoed"
        );
        answers.push(html.replace(name, ""));
    }
    assert_eq!(answers[0], answers[1]);
}

#[tokio::test]
async fn sessions_live_in_redis_when_it_is_configured() {
    let app = TestApp::start(TestAppOptions {
        redis: true,
        ..Default::default()
    })
    .await
    .with_demo_tenants()
    .await;
    assert!(app.state.sessions.is_redis());
    let (cookie, token) = app.form_session("/t/henan/login").await;
    let id = cookie.strip_prefix("xb_session=").expect("cookie");
    let mut redis = app.state.redis.clone().expect("redis");
    let key = xiaobao_http::session::redis_key(id);
    let ttl: i64 = redis::cmd("TTL")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(
        (1700..=1800).contains(&ttl),
        "expires after 30 idle minutes: {ttl}"
    );
    // The session works across requests (the token round-trips through Redis) …
    let r = app
        .post_form(
            "/t/henan/login",
            Some(&cookie),
            &[
                ("csrf_token", &token),
                ("account_type", "school"),
                ("login_name", "a"),
                ("password", "b"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // … and signing out deletes it from Redis.
    let r = app
        .post_form("/t/henan/logout", Some(&cookie), &[("csrf_token", &token)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let exists: i64 = redis::cmd("EXISTS")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(exists, 0);
}

/// The `href`s of a page's navigation (`<nav …>…</nav>`).
fn nav_links(html: &str) -> Vec<String> {
    let mut links = Vec::new();
    for nav in html.split("<nav ").skip(1) {
        let nav = &nav[..nav.find("</nav>").unwrap_or(nav.len())];
        for part in nav.split("href=\"").skip(1) {
            links.push(part[..part.find('"').unwrap_or(0)].to_string());
        }
    }
    links
}

#[tokio::test]
async fn every_role_gets_its_menu_and_no_menu_entry_is_a_dead_link() {
    let app = TestApp::init().await.with_demo_tenants().await;
    // Visitors: 系统首页 and 登录.
    let html = app.get("/t/henan/").await.text();
    assert_eq!(nav_links(&html), ["/t/henan/", "/t/henan/login"]);
    assert!(html.contains(">系统首页</a>") && html.contains(">登录</a>"));

    // Enrolment pages need an open year.
    app.open_enrolment_year("henan", &[]).await;
    for (role, roles, region, name, expected) in [
        (
            Role::School,
            &[Role::School][..],
            "410105",
            "郑州市第一中学",
            &[][..],
        ),
        (
            Role::CentralSchool,
            &[Role::School, Role::CentralSchool][..],
            "410105",
            "城关镇中心校",
            &[][..],
        ),
        (
            Role::CountyDepartment,
            &[Role::CountyDepartment][..],
            "410105",
            "金水区",
            &["数据统计", "未决案件", "理赔案件"][..],
        ),
        (
            Role::InsurerProvince,
            &[Role::InsurerProvince][..],
            "410000",
            "平安财险河南分公司",
            &["未决案件"][..],
        ),
        (
            Role::InsurerCity,
            &[Role::InsurerCity][..],
            "410100",
            "平安财险郑州中心支公司",
            &["理赔案件"][..],
        ),
        (
            Role::Broker,
            &[Role::Broker][..],
            "410000",
            "经纪公司",
            &["数据统计"][..],
        ),
        (
            Role::ProgrammeAuthority,
            &[Role::ProgrammeAuthority][..],
            "410000",
            "河南省教育厅",
            &["数据统计"][..],
        ),
    ] {
        let account = app
            .account("henan", AccountSpec::new(name, region, roles))
            .await;
        let cookie = app.sign_in("henan", &account).await.cookie;
        let r = app.get_with_cookie("/t/henan/", &cookie).await;
        assert_eq!(r.status, StatusCode::OK);
        let html = r.text();
        assert!(
            html.contains("<h2 class=\"side-title\">操作导航</h2>"),
            "{role}"
        );
        assert!(
            html.contains(&format!("欢迎您，<strong>{name}</strong>")),
            "{role}"
        );
        assert!(html.contains(&format!(
            "<span class=\"role-badge\">{}</span>",
            role.label()
        )));
        for label in expected {
            assert!(
                html.contains(&format!("{label}<small>即将开放</small>")),
                "{role}: {label} is shown, disabled"
            );
        }
        assert!(html.contains(">退出系统</button>"), "{role}");
        for href in nav_links(&html) {
            let target = app.get_with_cookie(&href, &cookie).await;
            assert_eq!(
                target.status,
                StatusCode::OK,
                "{role}: {href} is a live link"
            );
        }
    }
}

#[tokio::test]
async fn links_on_a_tenant_host_name_stay_on_that_host() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let html = app.get_on_host("henan.localhost", "/").await.text();
    assert_eq!(nav_links(&html), ["/", "/login"]);
    assert!(html.contains("href=\"/login?type=department\""));
    let login = app.get_on_host("henan.localhost", "/login").await;
    assert_eq!(login.status, StatusCode::OK);
    assert!(login.text().contains("action=\"/login\""));
}

#[tokio::test]
async fn static_assets_are_vendored_and_cacheable() {
    let app = TestApp::init().await;
    for (path, kind) in [
        ("/static/app.css", "text/css"),
        ("/static/app.js", "text/javascript"),
        ("/static/favicon.svg", "image/svg+xml"),
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert!(
            r.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind),
            "{path}"
        );
        assert!(
            r.headers["cache-control"]
                .to_str()
                .unwrap()
                .starts_with("public"),
            "{path}"
        );
    }
}
