//! Hostile input at the edge: body limits per route, the CSRF check that reads no large body,
//! registration refused by its rate limit before its document is decoded, and real client
//! addresses (per-client limits and audit rows) with clients on two loopback addresses.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use xiaobao_test_support::{TestApp, TestAppOptions};

/// Sends one HTTP/1.1 request from `source` (a loopback address) to the server at `base`
/// and returns the status and body.
async fn from_address(
    source: &str,
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let addr: std::net::SocketAddr = base.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

async fn login_from(source: &str, base: &str, login_name: &str) -> u16 {
    login_as_from(source, base, login_name, "WrongPass123").await
}

#[tokio::test]
async fn one_client_at_its_limit_does_not_limit_another_and_audit_rows_name_each() {
    let app = TestApp::start_configured(TestAppOptions::default(), |c| {
        c.auth.login_per_ip_per_minute = 3;
    })
    .await
    .with_demo_tenants()
    .await;
    let base = app.serve().await;
    for i in 0..3 {
        let status = login_from("127.0.0.2", &base, &format!("无此学校{i}")).await;
        assert_eq!(status, 401, "attempt {i} from 127.0.0.2");
    }
    assert_eq!(login_from("127.0.0.2", &base, "无此学校9").await, 429);
    // Another client is not in the first one's bucket.
    assert_eq!(login_from("127.0.0.3", &base, "无此学校3").await, 401);
    // A forwarded address from a client that is no trusted proxy changes nothing.
    let body = serde_json::json!({
        "account_type": "school", "login_name": "无此学校4", "password": "WrongPass123",
    })
    .to_string();
    let (status, _) = from_address(
        "127.0.0.2",
        &base,
        "POST",
        "/api/v1/t/henan/session",
        &[
            ("Content-Type", "application/json"),
            ("X-Forwarded-For", "203.0.113.9"),
        ],
        body.as_bytes(),
    )
    .await;
    assert_eq!(status, 429);
    let tenant = app.db().active_tenant("henan").unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let ips: Vec<(String, i64)> = sqlx::query_as(
        "select ip, count(*) from audit_log where action like 'login.%' and ip is not null \
         group by ip order by ip",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let seen: Vec<&str> = ips.iter().map(|(ip, _)| ip.as_str()).collect();
    assert!(seen.contains(&"127.0.0.2"), "{ips:?}");
    assert!(seen.contains(&"127.0.0.3"), "{ips:?}");
    assert!(!seen.contains(&"203.0.113.9"), "{ips:?}");
}

#[tokio::test]
async fn a_trusted_proxy_names_the_client() {
    let app = TestApp::start_configured(TestAppOptions::default(), |c| {
        c.auth.login_per_ip_per_minute = 2;
        c.server.trusted_proxies = vec!["127.0.0.4".into()];
    })
    .await
    .with_demo_tenants()
    .await;
    let base = app.serve().await;
    let attempt = |client: &'static str, n: u32| {
        let base = base.clone();
        async move {
            let body = serde_json::json!({
                "account_type": "school", "login_name": format!("无此学校{n}"), "password": "WrongPass123",
            })
            .to_string();
            from_address(
                "127.0.0.4",
                &base,
                "POST",
                "/api/v1/t/henan/session",
                &[
                    ("Content-Type", "application/json"),
                    ("X-Forwarded-For", client),
                ],
                body.as_bytes(),
            )
            .await
            .0
        }
    };
    assert_eq!(attempt("198.51.100.1", 1).await, 401);
    assert_eq!(attempt("198.51.100.1", 2).await, 401);
    assert_eq!(attempt("198.51.100.1", 3).await, 429);
    // The proxy's other client has its own bucket.
    assert_eq!(attempt("198.51.100.2", 4).await, 401);
}

#[tokio::test]
async fn forms_and_json_take_small_bodies_and_uploads_large_ones() {
    let app = TestApp::init().await.with_demo_tenants().await;
    // 100 KiB of JSON to the login API: refused before any handler runs.
    let big = format!(
        "{{\"account_type\":\"school\",\"login_name\":\"{}\",\"password\":\"x\"}}",
        "a".repeat(100 * 1024)
    );
    let r = app
        .request(
            Request::post("/api/v1/t/henan/session")
                .header("content-type", "application/json")
                .header("content-length", big.len().to_string())
                .body(Body::from(big.clone()))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "payload_too_large");
    // The same without a length (chunked): refused while it is read.
    let chunks = futures::stream::iter(
        big.into_bytes()
            .chunks(8 * 1024)
            .map(|c| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    );
    let r = app
        .request(
            Request::post("/api/v1/t/henan/session")
                .header("content-type", "application/json")
                .body(Body::from_stream(chunks))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
    // A login form of 100 KiB: a Chinese page.
    let (cookie, csrf) = app.form_session("/t/henan/login").await;
    let form = format!("csrf_token={csrf}&login_name={}", "a".repeat(100 * 1024));
    let r = app
        .request(
            Request::post("/t/henan/login")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", &cookie)
                .header("content-length", form.len().to_string())
                .body(Body::from(form))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.text().contains("提交的内容过大"), "{}", r.text());
    // An upload route takes a body of several MB (here a 2 MB file that is no spreadsheet:
    // refused for what it is, not for its size).
    let boundary = "xbhostileboundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{csrf}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\n某小学\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"qualification\"; filename=\"a.pdf\"\r\n\r\n"
    )
    .into_bytes();
    body.extend(std::iter::repeat_n(b'x', 2 * 1024 * 1024));
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let (reg_cookie, reg_csrf) = app.form_session("/t/henan/register").await;
    let body = String::from_utf8(body)
        .unwrap()
        .replace(&csrf, &reg_csrf)
        .into_bytes();
    let r = app
        .request(
            Request::post("/t/henan/register")
                .header(
                    "content-type",
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .header("cookie", &reg_cookie)
                .header("content-length", body.len().to_string())
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.status);
}

#[tokio::test]
async fn a_registration_over_its_limit_is_refused_before_its_document_is_read() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let attempt = |content: String| {
        let body = serde_json::json!({
            "name": "", "qualification": { "file_name": "a.pdf", "content_base64": content },
        })
        .to_string();
        Request::post("/api/v1/t/henan/registrations")
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap()
    };
    let mut statuses = Vec::new();
    for _ in 0..25 {
        let r = app.request(attempt("!!not base64!!".into())).await;
        statuses.push(r.status);
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
    }
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    assert!(
        statuses[..statuses.len() - 1]
            .iter()
            .all(|s| *s == StatusCode::UNPROCESSABLE_ENTITY)
    );
    // Refused by the limit: neither its JSON nor its base64 is looked at.
    let r = app
        .request(
            Request::post("/api/v1/t/henan/registrations")
                .header("content-type", "application/json")
                .body(Body::from("{ not json"))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "rate_limited");
}

async fn login_as_from(source: &str, base: &str, login_name: &str, password: &str) -> u16 {
    let body = serde_json::json!({
        "account_type": "school", "login_name": login_name, "password": password,
    })
    .to_string();
    from_address(
        source,
        base,
        "POST",
        "/api/v1/t/henan/session",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .await
    .0
}

#[tokio::test]
async fn a_stranger_typing_a_schools_name_locks_out_only_their_own_address() {
    use xiaobao_domain::Role;
    let app = TestApp::init().await.with_demo_tenants().await;
    let school = app
        .account(
            "henan",
            xiaobao_test_support::AccountSpec::new("锁定地址测试小学", "410105", &[Role::School]),
        )
        .await;
    let base = app.serve().await;
    for i in 1..=5 {
        let status = login_as_from("127.0.0.2", &base, &school.login_name, "Wrong2026pw").await;
        assert_eq!(status, if i < 5 { 401 } else { 423 }, "attempt {i}");
    }
    // Locked for that address, even with the right password …
    let right = school.password.as_str();
    assert_eq!(
        login_as_from("127.0.0.2", &base, &school.login_name, right).await,
        423
    );
    // … while the school itself, elsewhere, signs in.
    assert_eq!(
        login_as_from("127.0.0.3", &base, &school.login_name, right).await,
        200
    );
}

#[tokio::test]
async fn concurrent_wrong_passwords_get_no_extra_guesses() {
    use xiaobao_domain::Role;
    let app = TestApp::init().await.with_demo_tenants().await;
    let school = app
        .account(
            "henan",
            xiaobao_test_support::AccountSpec::new("并发锁定测试小学", "410105", &[Role::School]),
        )
        .await;
    let attempt = || {
        let body = serde_json::json!({
            "account_type": "school", "login_name": school.login_name, "password": "Wrong2026pw",
        })
        .to_string();
        app.request(
            Request::post("/api/v1/t/henan/session")
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap(),
        )
    };
    let answers = futures::future::join_all((0..12).map(|_| attempt())).await;
    let guesses = answers
        .iter()
        .filter(|r| r.status == StatusCode::UNAUTHORIZED)
        .count();
    let locked = answers
        .iter()
        .filter(|r| r.status == StatusCode::LOCKED)
        .count();
    // Four wrong answers, the fifth locks, every other attempt is refused unseen.
    assert_eq!(
        (guesses, locked),
        (4, 8),
        "{:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn guesses_at_unknown_names_are_counted_not_audited_one_by_one() {
    let app = TestApp::init().await.with_demo_tenants().await;
    for i in 0..15 {
        let body = serde_json::json!({
            "account_type": "school", "login_name": format!("无此学校{i}"), "password": "Wrong2026pw",
        })
        .to_string();
        let r = app
            .request(
                Request::post("/api/v1/t/henan/session")
                    .header("content-type", "application/json")
                    .body(Body::from(body))
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let tenant = app.db().active_tenant("henan").unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let audited: i64 = sqlx::query_scalar(
        "select count(*) from audit_log where action = 'login.failed' and actor_account_id is null",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    let counted: i32 = sqlx::query_scalar(
        "select failures from anonymous_login_failures where cause = 'unknown_account'",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(audited, 1);
    assert_eq!(counted, 15);
}
