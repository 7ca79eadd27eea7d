//! The programme authority's administration pages through the real router: the audit trail,
//! notification delivery attempts, background jobs and their retry; and the daily password
//! expiry warnings.

use axum::http::StatusCode;
use xiaobao::password_expiry::{ExpiryPolicy, PASSWORD_EXPIRY_KIND, warn_expiring};
use xiaobao_domain::Role;
use xiaobao_test_support::{AccountSpec, SignedInSession, TestAccount, TestApp, TestAppOptions};

async fn authority(app: &TestApp) -> TestAccount {
    app.account(
        "henan",
        AccountSpec {
            login_name: Some("henan-admin"),
            ..AccountSpec::new("测试省教育厅", "410000", &[Role::ProgrammeAuthority])
        },
    )
    .await
}

/// Runs SQL with one bound id in the henan tenant; the first column of the first row.
async fn scalar<T>(app: &TestApp, sql: &str, bind: i64) -> T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
{
    let tenant = app.db().active_tenant("henan").unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let v: T = sqlx::query_scalar(sql)
        .bind(bind)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    v
}

/// The count a query without parameters returns, in the henan tenant.
async fn count(app: &TestApp, sql: &str) -> i64 {
    let tenant = app.db().active_tenant("henan").unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let n: i64 = sqlx::query_scalar(sql).fetch_one(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
    n
}

async fn execute(app: &TestApp, sql: &str) {
    let tenant = app.db().active_tenant("henan").unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    sqlx::query(sql).execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
}

async fn get_json(app: &TestApp, s: &SignedInSession, uri: &str) -> serde_json::Value {
    let r = app.json_as(s, "GET", uri, None).await;
    assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.text());
    r.json()
}

#[tokio::test]
async fn the_authority_finds_sign_ins_in_the_audit_trail_and_narrows_the_search() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let admin = authority(&app).await;
    let school = app
        .account(
            "henan",
            AccountSpec {
                mobile: Some("13911112222"),
                ..AccountSpec::new("郑州市金水区审计测试小学", "410105", &[Role::School])
            },
        )
        .await;
    app.sign_in("henan", &school).await;
    app.sign_in("henan", &school).await;
    let s = app.sign_in("henan", &admin).await;

    let page = app.get_with_cookie("/t/henan/admin/audit", &s.cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains(r#"href="/t/henan/admin/audit" class="is-current""#));
    assert!(html.contains("login.succeeded"));
    assert!(html.contains(&format!(
        "account:{} 郑州市金水区审计测试小学",
        school.account_id
    )));

    // The school's sign-ins only: two, newest first, nothing of the authority.
    let uri = format!(
        "/api/v1/t/henan/audit?action=login.&actor={}",
        school.account_id
    );
    let body = get_json(&app, &s, &uri).await;
    let rows = body["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{body}");
    for row in rows {
        assert_eq!(row["action"], "login.succeeded");
        assert_eq!(row["actor_account_id"], school.account_id);
        assert_eq!(row["entity_id"], school.account_id.to_string());
        assert!(row["occurred_at"].as_str().unwrap().ends_with("+08:00"));
    }
    assert!(rows[0]["chain_seq"].as_i64() > rows[1]["chain_seq"].as_i64());
    assert_eq!(body["next_before_seq"], serde_json::Value::Null);
    let html = app
        .get_with_cookie(
            &format!(
                "/t/henan/admin/audit?action=login.&actor={}",
                school.account_id
            ),
            &s.cookie,
        )
        .await
        .text();
    assert_eq!(html.matches("<code>login.succeeded</code>").count(), 2);
    assert!(!html.contains(&format!("account:{} 测试省教育厅", admin.account_id)));

    // Keyset paging, one row a page.
    let first = get_json(&app, &s, &format!("{uri}&limit=1")).await;
    let seq = first["rows"][0]["chain_seq"].as_i64().unwrap();
    assert_eq!(first["next_before_seq"], seq);
    let second = get_json(&app, &s, &format!("{uri}&limit=1&before_seq={seq}")).await;
    assert_eq!(second["rows"][0]["chain_seq"], rows[1]["chain_seq"]);
    let page = app
        .get_with_cookie(
            &format!(
                "/t/henan/admin/audit?action=login.&actor={}&limit=1",
                school.account_id
            ),
            &s.cookie,
        )
        .await
        .text();
    assert!(
        page.contains(&format!(
            "actor={}&#38;limit=1&#38;before_seq={seq}",
            school.account_id
        )),
        "{page}"
    );

    // By entity: the school's organisation, its mobile masked as stored.
    let org = get_json(
        &app,
        &s,
        &format!(
            "/api/v1/t/henan/audit?entity=organisation&entity_id={}",
            school.org_id
        ),
    )
    .await;
    let rows = org["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["action"], "organisation.created");
    assert_eq!(rows[0]["detail"]["contact_mobile"], "139****2222");
    let html = app
        .get_with_cookie(
            &format!(
                "/t/henan/admin/audit?entity=organisation&entity_id={}",
                school.org_id
            ),
            &s.cookie,
        )
        .await
        .text();
    assert!(html.contains("139****2222"));
    assert!(!html.contains("13911112222"));

    // A time range before the sign-ins finds nothing; a wrong filter is named.
    let empty = get_json(&app, &s, &format!("{uri}&to=2020-01-01")).await;
    assert_eq!(empty["rows"].as_array().unwrap().len(), 0);
    let today = get_json(&app, &s, &format!("{uri}&from=2020-01-01")).await;
    assert_eq!(today["rows"].as_array().unwrap().len(), 2);
    let r = app
        .json_as(&s, "GET", "/api/v1/t/henan/audit?actor=张三", None)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "actor");
    let r = app
        .get_with_cookie("/t/henan/admin/audit?from=昨天", &s.cookie)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().contains("开始时间格式错误"));
}

#[tokio::test]
async fn departments_are_refused_the_administration_pages() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let admin = authority(&app).await;
    let dept = app
        .account(
            "henan",
            AccountSpec {
                login_name: Some("郑州市"),
                ..AccountSpec::new("郑州市教育局", "410100", &[Role::CityDepartment])
            },
        )
        .await;
    let d = app.sign_in("henan", &dept).await;
    for path in ["audit", "notifications", "jobs"] {
        let r = app
            .get_with_cookie(&format!("/t/henan/admin/{path}"), &d.cookie)
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
        let r = app
            .json_as(&d, "GET", &format!("/api/v1/t/henan/{path}"), None)
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
    }
    let r = app
        .json_as(&d, "POST", "/api/v1/t/henan/jobs/1/retry", None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app.post_as(&d, "/t/henan/admin/jobs/1/retry", &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let home = app.get_with_cookie("/t/henan/", &d.cookie).await.text();
    assert!(!home.contains("审计日志"));
    let denied: i64 = scalar(
        &app,
        "select count(*) from audit_log where action = 'access.denied' \
         and actor_account_id = $1",
        dept.account_id,
    )
    .await;
    assert_eq!(denied, 8);

    let a = app.sign_in("henan", &admin).await;
    let home = app.get_with_cookie("/t/henan/", &a.cookie).await.text();
    for (label, href) in [
        ("审计日志", "/t/henan/admin/audit"),
        ("消息发送记录", "/t/henan/admin/notifications"),
        ("后台任务", "/t/henan/admin/jobs"),
    ] {
        assert!(
            home.contains(&format!(r#"<a href="{href}">{label}</a>"#)),
            "{label}"
        );
        let r = app.get_with_cookie(href, &a.cookie).await;
        assert_eq!(r.status, StatusCode::OK, "{href}");
    }
}

#[tokio::test]
async fn a_dead_job_is_listed_with_its_error_and_can_be_retried() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let admin = authority(&app).await;
    let s = app.sign_in("henan", &admin).await;
    execute(
        &app,
        "insert into jobs (kind, payload, status, attempts, max_attempts, last_error, \
         finished_at) values \
         ('notify.deliver', '{\"notification_id\": 0}', 'dead', 8, 8, 'SMTP 服务器拒绝连接', now()), \
         ('documents.sweep', '{}', 'dead', 5, 5, '对象存储超时', now()), \
         ('jobs.cleanup', '{}', 'done', 1, 5, null, now())",
    )
    .await;
    let dead = count(
        &app,
        "select job_id from jobs where kind = 'notify.deliver'",
    )
    .await;
    let other = count(
        &app,
        "select job_id from jobs where kind = 'documents.sweep'",
    )
    .await;

    let page = app
        .get_with_cookie("/t/henan/admin/jobs?status=dead", &s.cookie)
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains("SMTP 服务器拒绝连接"), "{html}");
    assert!(html.contains("对象存储超时"));
    assert!(html.contains("<td>发送通知</td>"));
    assert!(html.contains("<strong>已失败</strong>"));
    assert!(html.contains("<td>8/8</td>"));
    assert!(
        !html.contains("清理已完成任务"),
        "only dead jobs were asked for"
    );
    assert!(html.contains(&format!(r#"action="/t/henan/admin/jobs/{dead}/retry""#)));

    let r = app
        .post_as(&s, &format!("/t/henan/admin/jobs/{dead}/retry"), &[])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers["location"].to_str().unwrap(),
        format!("/t/henan/admin/jobs?retried={dead}")
    );
    let (status, attempts): (String, i32) = {
        let tenant = app.db().active_tenant("henan").unwrap();
        let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
        let v = sqlx::query_as("select status, attempts from jobs where job_id = $1")
            .bind(dead)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        v
    };
    assert_eq!((status.as_str(), attempts), ("queued", 0));
    let page = app
        .get_with_cookie(&format!("/t/henan/admin/jobs?retried={dead}"), &s.cookie)
        .await
        .text();
    assert!(page.contains(&format!("任务 #{dead} 已重新加入队列")));
    let audited: i64 = scalar(
        &app,
        "select count(*) from audit_log where action = 'job.retried' and entity = 'job' \
         and entity_id = $1::text",
        dead,
    )
    .await;
    assert_eq!(audited, 1);
    let actor: Option<i64> = scalar(
        &app,
        "select actor_account_id from audit_log where action = 'job.retried' \
         and entity_id = $1::text",
        dead,
    )
    .await;
    assert_eq!(actor, Some(admin.account_id));

    // Not dead any more: nothing to retry.
    let r = app
        .post_as(&s, &format!("/t/henan/admin/jobs/{dead}/retry"), &[])
        .await;
    assert_eq!(
        r.headers["location"].to_str().unwrap(),
        format!("/t/henan/admin/jobs?not_dead={dead}")
    );
    let r = app
        .json_as(
            &s,
            "POST",
            &format!("/api/v1/t/henan/jobs/{dead}/retry"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .json_as(&s, "POST", "/api/v1/t/henan/jobs/987654321/retry", None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // The API lists and retries too.
    let jobs = get_json(&app, &s, "/api/v1/t/henan/jobs?status=dead").await;
    let ids: Vec<i64> = jobs
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [other]);
    assert_eq!(jobs[0]["last_error"], "对象存储超时");
    let r = app
        .json_as(
            &s,
            "POST",
            &format!("/api/v1/t/henan/jobs/{other}/retry"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let jobs = get_json(&app, &s, "/api/v1/t/henan/jobs?status=dead").await;
    assert_eq!(jobs.as_array().unwrap().len(), 0);
    let audited = count(
        &app,
        "select count(*) from audit_log where action = 'job.retried'",
    )
    .await;
    assert_eq!(audited, 2);
}

#[tokio::test]
async fn the_notifications_page_shows_attempts_with_recipients_masked() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let admin = authority(&app).await;
    let s = app.sign_in("henan", &admin).await;
    execute(
        &app,
        "with n as (insert into notifications (channel, recipient, template, params, status) \
           values ('sms', '13812345678', 'password_reset_code', '{\"minutes_valid\": 10}', \
           'failed') returning notification_id) \
         insert into notification_attempts (notification_id, outcome, detail, provider) \
         select notification_id, 'failed', '短信网关超时', 'outbox-sms' from n",
    )
    .await;
    execute(
        &app,
        "insert into notifications (channel, recipient, template, params, status, sent_at) \
         values ('mail', 'zhangsan@example.cn', 'deadline_reminder', '{}', 'sent', now())",
    )
    .await;

    let page = app
        .get_with_cookie("/t/henan/admin/notifications", &s.cookie)
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains("<td>138****5678</td>"), "{html}");
    assert!(html.contains("<td>z***@example.cn</td>"));
    assert!(!html.contains("13812345678") && !html.contains("zhangsan@"));
    assert!(html.contains("<strong>发送失败</strong>"));
    assert!(html.contains("outbox-sms 失败：短信网关超时"));
    assert!(html.contains("密码重置验证码"));

    let r = app
        .json_as(
            &s,
            "GET",
            "/api/v1/t/henan/notifications?status=failed",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!r.text().contains("13812345678"));
    let list = r.json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["recipient_masked"], "138****5678");
    assert_eq!(list[0]["channel"], "sms");
    assert_eq!(list[0]["attempts"][0]["outcome"], "failed");
    assert_eq!(list[0]["attempts"][0]["detail"], "短信网关超时");
    let mail = get_json(&app, &s, "/api/v1/t/henan/notifications?channel=mail").await;
    assert_eq!(mail[0]["recipient_masked"], "z***@example.cn");
    let r = app
        .json_as(&s, "GET", "/api/v1/t/henan/notifications?status=lost", None)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// Sets when an account's password was changed (and last warned), `days` ago.
async fn aged(app: &TestApp, account_id: i64, changed_days_ago: i32, warned_days_ago: Option<i32>) {
    let tenant = app.db().active_tenant("henan").unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    sqlx::query(
        "update accounts set password_changed_at = now() - make_interval(days => $2), \
         password_warned_at = now() - make_interval(days => $3) where account_id = $1",
    )
    .bind(account_id)
    .bind(changed_days_ago)
    .bind(warned_days_ago)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// `(recipient, days_left)` of the password expiry warnings, by recipient.
async fn warnings(app: &TestApp) -> Vec<(String, i64)> {
    let tenant = app.db().active_tenant("henan").unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let rows: Vec<(String, serde_json::Value)> = sqlx::query_as(
        "select recipient, params from notifications where template = 'password_expiring' \
         order by recipient",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    rows.into_iter()
        .map(|(r, p)| (r, p["days_left"].as_i64().unwrap()))
        .collect()
}

#[tokio::test]
async fn password_expiry_warnings_go_once_per_account() {
    let outbox = std::env::temp_dir().join(format!("xb-expiry-{}", std::process::id()));
    let dir = outbox.clone();
    let app = TestApp::start_configured(TestAppOptions::default(), move |c| {
        c.outbox.dir = dir;
        c.auth.password_max_age_days = 90;
        c.auth.password_warn_days = 7;
    })
    .await
    .with_demo_tenants()
    .await;
    let school = |name: &'static str, mobile: &'static str| AccountSpec {
        mobile: Some(mobile),
        ..AccountSpec::new(name, "410105", &[Role::School])
    };
    // Expires in 5 days: warned.
    let due = app
        .account("henan", school("到期测试一小", "13900000001"))
        .await;
    aged(&app, due.account_id, 85, None).await;
    // Warned for an earlier password only: warned again.
    let rewarn = app
        .account("henan", school("到期测试二小", "13900000002"))
        .await;
    aged(&app, rewarn.account_id, 88, Some(100)).await;
    // Already warned for this password.
    let warned = app
        .account("henan", school("到期测试三小", "13900000003"))
        .await;
    aged(&app, warned.account_id, 86, Some(1)).await;
    // Not yet within the warning days; already expired.
    let fresh = app
        .account("henan", school("到期测试四小", "13900000004"))
        .await;
    aged(&app, fresh.account_id, 10, None).await;
    let expired = app
        .account("henan", school("到期测试五小", "13900000005"))
        .await;
    aged(&app, expired.account_id, 95, None).await;
    // No mobile known: skipped.
    let dept = app
        .account(
            "henan",
            AccountSpec {
                login_name: Some("金水区"),
                ..AccountSpec::new("金水区教育局", "410105", &[Role::CountyDepartment])
            },
        )
        .await;
    aged(&app, dept.account_id, 85, None).await;

    let tenant = app.db().active_tenant("henan").unwrap();
    let policy = ExpiryPolicy::from_config(&app.state.config.auth);
    let report = warn_expiring(app.db(), &tenant, policy).await.unwrap();
    assert_eq!((report.warned, report.skipped_without_mobile), (2, 1));
    assert_eq!(
        warnings(&app).await,
        [
            ("13900000001".to_string(), 5),
            ("13900000002".to_string(), 2)
        ]
    );
    for (account, is_warned) in [
        (due.account_id, true),
        (rewarn.account_id, true),
        (fresh.account_id, false),
        (expired.account_id, false),
        (dept.account_id, false),
    ] {
        let recent: bool = scalar(
            &app,
            "select coalesce(password_warned_at > now() - interval '1 minute', false) \
             from accounts where account_id = $1",
            account,
        )
        .await;
        assert_eq!(recent, is_warned, "account {account}");
    }
    // Each warning goes out through the delivery job.
    let jobs = count(
        &app,
        "select count(*) from jobs j join notifications n \
         on j.dedupe_key = 'notify:' || n.notification_id \
         where n.template = 'password_expiring'",
    )
    .await;
    assert_eq!(jobs, 2);

    // A second run warns nobody.
    let again = warn_expiring(app.db(), &tenant, policy).await.unwrap();
    assert_eq!((again.warned, again.skipped_without_mobile), (0, 1));
    assert_eq!(warnings(&app).await.len(), 2);

    // The worker runs it as a daily schedule of every tenant.
    let late = app
        .account("henan", school("到期测试六小", "13900000006"))
        .await;
    aged(&app, late.account_id, 89, None).await;
    let worker = xiaobao::build_worker(&app.state).unwrap();
    worker.run_once().await;
    let scheduled = count(
        &app,
        &format!(
            "select count(*) from jobs where kind = '{PASSWORD_EXPIRY_KIND}' \
             and status = 'done' and dedupe_key like '{PASSWORD_EXPIRY_KIND}:%'"
        ),
    )
    .await;
    assert_eq!(scheduled, 1);
    let all = warnings(&app).await;
    assert_eq!(all.len(), 3);
    assert!(all.contains(&("13900000006".to_string(), 1)), "{all:?}");
    let _ = std::fs::remove_dir_all(outbox);
}
