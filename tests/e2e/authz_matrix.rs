//! The authorisation matrix: every guarded route × every role, run against the real router with
//! real signed-in accounts. The expectation of each cell is derived from `policies/` (through
//! `xiaobao_authz`), and the whole table is compared with a reviewed snapshot
//! (`snapshots/e2e__authz_matrix__authz_matrix.snap`): a policy change, or a new route, without
//! the matching snapshot change fails here.

use std::fmt::Write as _;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use xiaobao_authz::Authz;
use xiaobao_domain::Role;
use xiaobao_test_support::{AccountSpec, SignedInSession, TestApp};

/// One account per role, each in a region where its role makes sense.
fn specs() -> Vec<(Role, AccountSpec<'static>)> {
    vec![
        (
            Role::ProgrammeAuthority,
            AccountSpec::new("矩阵测试主管部门", "410000", &[Role::ProgrammeAuthority]),
        ),
        (
            Role::CityDepartment,
            AccountSpec {
                login_name: Some("矩阵郑州市"),
                ..AccountSpec::new("矩阵测试郑州市教育局", "410100", &[Role::CityDepartment])
            },
        ),
        (
            Role::CountyDepartment,
            AccountSpec {
                login_name: Some("矩阵金水区"),
                ..AccountSpec::new("矩阵测试金水区教育局", "410105", &[Role::CountyDepartment])
            },
        ),
        (
            Role::CentralSchool,
            AccountSpec::new(
                "矩阵测试中心校",
                "410105",
                &[Role::School, Role::CentralSchool],
            ),
        ),
        (
            Role::School,
            AccountSpec::new("矩阵测试小学", "410105", &[Role::School]),
        ),
        (
            Role::InsurerProvince,
            AccountSpec {
                login_name: Some("matrix-province"),
                ..AccountSpec::new("矩阵测试保险省分公司", "410000", &[Role::InsurerProvince])
            },
        ),
        (
            Role::InsurerCity,
            AccountSpec {
                login_name: Some("matrix-city"),
                ..AccountSpec::new("矩阵测试保险市分公司", "410100", &[Role::InsurerCity])
            },
        ),
        (
            Role::InsurerCounty,
            AccountSpec {
                login_name: Some("matrix-county"),
                ..AccountSpec::new("矩阵测试保险县支公司", "410105", &[Role::InsurerCounty])
            },
        ),
        (
            Role::Broker,
            AccountSpec {
                login_name: Some("matrix-broker"),
                ..AccountSpec::new("矩阵测试经纪机构", "410000", &[Role::Broker])
            },
        ),
    ]
}

/// The route's path with its parameters filled: the tenant, and ids that exist nowhere.
fn concrete(path: &str) -> String {
    let mut out = String::new();
    for segment in path.split('/') {
        if segment.is_empty() {
            continue;
        }
        out.push('/');
        if segment == "{slug}" {
            out.push_str("henan");
        } else if segment.starts_with('{') {
            out.push_str("987654321");
        } else {
            out.push_str(segment);
        }
    }
    out
}

/// The status, and whether it sends to a sign-in page (no session for this scope).
async fn call(
    app: &TestApp,
    session: &SignedInSession,
    method: &Method,
    path: &str,
) -> (StatusCode, bool) {
    let api = path.starts_with("/api/");
    let mut request = Request::builder()
        .method(method.clone())
        .uri(path)
        .header("cookie", &session.cookie);
    let body = if *method == Method::GET {
        Body::empty()
    } else if api {
        request = request
            .header("content-type", "application/json")
            .header("x-csrf-token", &session.csrf);
        Body::from("{}")
    } else {
        request = request.header("content-type", "application/x-www-form-urlencoded");
        Body::from(format!("csrf_token={}", session.csrf))
    };
    let r = app.request(request.body(body).unwrap()).await;
    let to_login = r.status == StatusCode::SEE_OTHER
        && r.headers
            .get("location")
            .and_then(|l| l.to_str().ok())
            .is_some_and(|l| l.split('?').next().unwrap_or("").ends_with("/login"));
    (r.status, to_login)
}

/// A signed-in platform operator (through the console's API sign-in).
async fn operator_session(app: &TestApp) -> SignedInSession {
    let password = "Matrix2025ops";
    let hash = app.state.auth.hasher.hash(password).await.unwrap();
    let main = app.db().clusters.main();
    let id = xiaobao_platform::operators::create(main, "matrix-ops", "矩阵运营", &hash, false)
        .await
        .unwrap()
        .unwrap();
    xiaobao_platform::operators::store_password(main, id, &hash, false)
        .await
        .unwrap();
    let r = app
        .request(
            Request::post("/api/v1/platform/session")
                .header("content-type", "application/json")
                .body(Body::from(
                    serde_json::json!({"login_name": "matrix-ops", "password": password})
                        .to_string(),
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let name = &app.state.config.session.cookie_name;
    SignedInSession {
        cookie: format!("{name}={}", r.cookie(name).unwrap()),
        csrf: r.json()["csrf_token"].as_str().unwrap().to_string(),
        location: String::new(),
    }
}

#[tokio::test]
async fn every_route_answers_every_role_as_the_policy_says() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let authz = Authz::load().await.unwrap();
    let mut sessions = Vec::new();
    for (role, spec) in specs() {
        let account = app.account("henan", spec).await;
        sessions.push((role, spec.roles, app.sign_in("henan", &account).await));
    }
    // The platform operator: a console session (no session in any programme).
    const OPERATOR: &[Role] = &[Role::PlatformOperator];
    sessions.push((
        Role::PlatformOperator,
        OPERATOR,
        operator_session(&app).await,
    ));
    let mut routes = xiaobao_http::route_table();
    routes.sort_by(|a, b| (&a.path, a.method.as_str()).cmp(&(&b.path, b.method.as_str())));
    assert!(!routes.is_empty());
    let mut table = String::new();
    let mut wrong = Vec::new();
    for route in &routes {
        let path = concrete(&route.path);
        let _ = write!(
            table,
            "{:<6} {:<48} {:<36}",
            route.method.as_str(),
            route.path,
            route.permission.to_string()
        );
        for (role, roles, session) in &sessions {
            let allowed = authz.allows(roles, route.permission);
            let (status, to_login) = call(&app, session, &route.method, &path).await;
            let answered_allowed =
                !matches!(status, StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED) && !to_login;
            if allowed != answered_allowed {
                wrong.push(format!(
                    "{} {} as {}: policy says {}, router answered {status}",
                    route.method,
                    path,
                    role.as_str(),
                    if allowed { "allow" } else { "deny" }
                ));
            }
            table.push_str(if allowed { " Y" } else { " ." });
        }
        table.push('\n');
    }
    assert!(
        wrong.is_empty(),
        "router and policy disagree:\n{}",
        wrong.join("\n")
    );
    // Anonymous requests never reach a guarded handler.
    for route in &routes {
        let path = concrete(&route.path);
        let r = app
            .request(
                Request::builder()
                    .method(route.method.clone())
                    .uri(&path)
                    .header("content-type", "application/json")
                    .body(Body::from("{}"))
                    .unwrap(),
            )
            .await;
        assert!(
            matches!(
                r.status,
                StatusCode::UNAUTHORIZED | StatusCode::SEE_OTHER | StatusCode::FORBIDDEN
            ),
            "{} {path} anonymous: {}",
            route.method,
            r.status
        );
    }
    let header = format!(
        "{:<6} {:<48} {:<36} {}\n",
        "method",
        "route",
        "permission",
        specs()
            .iter()
            .map(|(r, _)| r.as_str())
            .chain([Role::PlatformOperator.as_str()])
            .collect::<Vec<_>>()
            .join(" ")
    );
    insta::assert_snapshot!("authz_matrix", format!("{header}{table}"));
}
