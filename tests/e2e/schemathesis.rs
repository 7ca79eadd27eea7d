//! The API against its own OpenAPI document, with schemathesis (from PyPI, in the virtualenv
//! `var/test/py` that `infra/test/services.sh up` makes): on a real port, with a seeded
//! programme (an open year, a school with a submitted enrolment and its roster, a department,
//! an insurer branch, the programme authority), every operation is called with generated and
//! malformed input as each of those four signed-in accounts and as an anonymous caller. No
//! answer may be a 5xx, and each answer's status, content type and body must be ones the
//! document declares for the operation.
//!
//! The runs are bounded (examples per operation, a fixed seed) so the test takes a few
//! minutes at most; `XIAOBAO_SCHEMATHESIS_EXAMPLES` and `XIAOBAO_SCHEMATHESIS_SEED` change
//! them for a deeper or another run.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use xiaobao_domain::Role;
use xiaobao_domain::resident_id::check_char;
use xiaobao_test_support::{AccountSpec, SignedInSession, TestApp};

const SLUG: &str = "henan";
const CITY: &str = "410100";
const COUNTY: &str = "410105";
const PRODUCT: &str = "school_liability";
const COMPANY: (i64, &str) = (9301, "契约测试财险");

/// The checks of every run (the contract: no 5xx, documented statuses, content
/// types and bodies).
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_schema_conformance";

/// Test cases per operation and phase, unless `XIAOBAO_SCHEMATHESIS_EXAMPLES` says otherwise.
const EXAMPLES: u32 = 5;
const SEED: u64 = 20_252_026;

/// The schemathesis executable: `XIAOBAO_TEST_SCHEMATHESIS` (written into var/test/env.sh by
/// services.sh), else the test virtualenv of this checkout. Missing is a failure, never a skip.
fn schemathesis() -> PathBuf {
    let path = std::env::var_os("XIAOBAO_TEST_SCHEMATHESIS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../var/test/py/bin/schemathesis")
        });
    let version = std::process::Command::new(&path).arg("--version").output();
    match version {
        Ok(out) if out.status.success() => path,
        Ok(out) => panic!(
            "{} --version failed ({}): {}{}\nrun infra/test/services.sh up (the test command \
             infra/test/run.sh does), which installs schemathesis into var/test/py",
            path.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!(
            "schemathesis is not available at {} ({e}): run infra/test/services.sh up (the \
             test command infra/test/run.sh does), which installs it into var/test/py",
            path.display()
        ),
    }
}

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// A TOML basic string (JSON's escapes are TOML's).
fn toml_str(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// A valid ID of a primary pupil born 2016-05-01, sequence `seq`, male.
fn pupil_id(seq: u32) -> String {
    let first17 = format!("41010520160501{:03}", seq * 2 + 1);
    format!("{first17}{}", check_char(&first17))
}

fn roster(n: u32) -> Vec<u8> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in ["学生姓名", "性别", "班级", "身份证号", "学籍号"]
        .into_iter()
        .enumerate()
    {
        ws.write_string(0, u16::try_from(c).unwrap(), h).unwrap();
    }
    for i in 0..n {
        ws.write_string(
            i + 1,
            0,
            format!("学生{}", ["甲", "乙", "丙"][i as usize % 3]),
        )
        .unwrap();
        ws.write_string(i + 1, 1, "男").unwrap();
        ws.write_string(i + 1, 2, "二年级(1)班").unwrap();
        ws.write_string(i + 1, 3, pupil_id(i)).unwrap();
        ws.write_string(i + 1, 4, "").unwrap();
    }
    wb.save_to_buffer().unwrap()
}

/// What the seeded programme holds, for the path parameters of the runs.
struct Seeded {
    school_org_id: i64,
    enrolment_id: i64,
    roster_id: i64,
}

/// A school of 金水区 with a submitted enrolment of 2 pupils and its accepted roster.
async fn enrolled_school(app: &TestApp, s: &SignedInSession, org_id: i64) -> Seeded {
    let r = app
        .json_as(
            s,
            "PUT",
            &format!("/api/v1/t/{SLUG}/enrolment/schools/{org_id}/products/{PRODUCT}"),
            Some(json!({"headcount": 2, "company_id": COMPANY.0})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let enrolment_id = r.json()["enrolment_id"].as_i64().unwrap();
    let boundary = "xbschemathesis7MA4YWxkTrZu0gW";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"headcount\"\r\n\r\n2\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"花名册.xlsx\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&roster(2));
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let r = app
        .request(
            Request::post(format!("/api/v1/t/{SLUG}/enrolment/{enrolment_id}/roster"))
                .header(
                    "content-type",
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .header("cookie", &s.cookie)
                .header("x-csrf-token", &s.csrf)
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let roster_id = r.json()["roster_id"].as_i64().unwrap();
    let r = app
        .json_as(
            s,
            "POST",
            &format!("/api/v1/t/{SLUG}/enrolment/{enrolment_id}/submit"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    Seeded {
        school_org_id: org_id,
        enrolment_id,
        roster_id,
    }
}

/// One schemathesis run: who calls, with which session.
struct Run<'a> {
    name: &'static str,
    session: Option<&'a SignedInSession>,
}

/// The configuration of one run (schemathesis.toml): the base URL, the session's cookie and
/// CSRF header, the test programme in every path, the seeded rows in the id parameters, the
/// bounded generation.
fn config(base: &str, run: &Run<'_>, seeded: &Seeded, examples: u32, seed: u64) -> String {
    let mut toml = String::new();
    let _ = writeln!(toml, "base-url = {}", toml_str(base));
    let _ = writeln!(toml, "seed = {seed}");
    // One worker: schemathesis's generation is not safe across threads on every Python
    // (concurrent workers have failed inside Hypothesis with an AST recursion error).
    let _ = writeln!(toml, "workers = 1");
    let _ = writeln!(toml, "request-timeout = 30");
    let _ = writeln!(toml, "[generation]");
    let _ = writeln!(toml, "max-examples = {examples}");
    let _ = writeln!(toml, "database = \"none\"");
    // The coverage phase also sends every operation the methods it does not have; the 405s
    // say nothing of the document (no check of this test looks at them), and cost a quarter
    // of the run.
    let _ = writeln!(toml, "[phases.coverage]");
    let _ = writeln!(toml, "unexpected-methods = []");
    let _ = writeln!(toml, "[headers]");
    if let Some(s) = run.session {
        let _ = writeln!(toml, "Cookie = {}", toml_str(&s.cookie));
        let _ = writeln!(toml, "X-CSRF-Token = {}", toml_str(&s.csrf));
    }
    let _ = writeln!(toml, "[parameters]");
    let _ = writeln!(toml, "\"path.slug\" = {}", toml_str(SLUG));
    let _ = writeln!(toml, "\"path.org_id\" = {}", seeded.school_org_id);
    let _ = writeln!(toml, "\"path.enrolment_id\" = {}", seeded.enrolment_id);
    let _ = writeln!(toml, "\"path.roster_id\" = {}", seeded.roster_id);
    // The template's group and the product: a real one, so the calls reach past the lookup.
    let _ = writeln!(toml, "[[operations]]");
    let _ = writeln!(toml, "include-operation-id = \"template_download\"");
    let _ = writeln!(toml, "parameters = {{ \"path.group\" = \"student\" }}");
    let _ = writeln!(toml, "[[operations]]");
    let _ = writeln!(toml, "include-operation-id = \"api_save_draft\"");
    let _ = writeln!(
        toml,
        "parameters = {{ \"path.code\" = {} }}",
        toml_str(PRODUCT)
    );
    if run.session.is_some() {
        // Signing out would leave the rest of the run without its session; the anonymous
        // run calls it.
        let _ = writeln!(toml, "[[operations]]");
        let _ = writeln!(toml, "include-operation-id = \"api_logout\"");
        let _ = writeln!(toml, "enabled = false");
    }
    toml
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_keeps_to_its_openapi_document_for_every_role() {
    let bin = schemathesis();
    let examples = env_number("XIAOBAO_SCHEMATHESIS_EXAMPLES", EXAMPLES);
    let seed = env_number("XIAOBAO_SCHEMATHESIS_SEED", SEED);
    let app = TestApp::init().await.with_demo_tenants().await;
    app.open_enrolment_year(SLUG, &[(COMPANY.0, COMPANY.1, CITY)])
        .await;

    let school = app
        .account(
            SLUG,
            AccountSpec::new("契约测试小学", COUNTY, &[Role::School]),
        )
        .await;
    let department = app
        .account(
            SLUG,
            AccountSpec {
                login_name: Some("契约金水区"),
                ..AccountSpec::new("契约测试金水区教育局", COUNTY, &[Role::CountyDepartment])
            },
        )
        .await;
    let insurer = app
        .account(
            SLUG,
            AccountSpec {
                login_name: Some("contract-city"),
                company_id: Some(COMPANY.0),
                company_name: Some(COMPANY.1),
                ..AccountSpec::new("契约测试财险郑州市分公司", CITY, &[Role::InsurerCity])
            },
        )
        .await;
    let authority = app
        .account(
            SLUG,
            AccountSpec::new("契约测试主管部门", "410000", &[Role::ProgrammeAuthority]),
        )
        .await;
    let school_session = app.sign_in(SLUG, &school).await;
    let seeded = enrolled_school(&app, &school_session, school.org_id).await;
    let department_session = app.sign_in(SLUG, &department).await;
    let insurer_session = app.sign_in(SLUG, &insurer).await;
    let authority_session = app.sign_in(SLUG, &authority).await;
    for s in [
        &school_session,
        &department_session,
        &insurer_session,
        &authority_session,
    ] {
        assert!(!s.csrf.is_empty(), "no CSRF token for {}", s.cookie);
    }

    let base = app.serve().await;
    let dir = std::env::temp_dir().join(&app.name).join("schemathesis");
    std::fs::create_dir_all(&dir).unwrap();
    let spec = dir.join("openapi.json");
    std::fs::write(&spec, xiaobao_http::openapi_json()).unwrap();

    // The school first: a department's or the authority's calls may reset its password.
    let runs = [
        Run {
            name: "school",
            session: Some(&school_session),
        },
        Run {
            name: "insurer",
            session: Some(&insurer_session),
        },
        Run {
            name: "department",
            session: Some(&department_session),
        },
        Run {
            name: "authority",
            session: Some(&authority_session),
        },
        Run {
            name: "anonymous",
            session: None,
        },
    ];
    let started = Instant::now();
    let mut failed = Vec::new();
    for run in &runs {
        let config_file = dir.join(format!("{}.toml", run.name));
        std::fs::write(&config_file, config(&base, run, &seeded, examples, seed)).unwrap();
        let t0 = Instant::now();
        let out = tokio::process::Command::new(&bin)
            .current_dir(&dir)
            .env("NO_COLOR", "1")
            .arg("--no-color")
            .arg("--config-file")
            .arg(&config_file)
            .arg("run")
            .arg(&spec)
            .arg("--url")
            .arg(&base)
            .arg("--checks")
            .arg(CHECKS)
            .arg("--phases")
            .arg("examples,coverage,fuzzing")
            .arg("--no-shrink")
            .output()
            .await
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let summary = stdout.find("== SUMMARY ==").map_or("", |at| &stdout[at..]);
        eprintln!(
            "schemathesis as {}: {} in {:.0?}\n{summary}",
            run.name,
            out.status,
            t0.elapsed()
        );
        // A run that lost its session would have tested only the 401 answers.
        if let Some(session) = run.session {
            let me = app
                .json_as(session, "GET", &format!("/api/v1/t/{SLUG}/me"), None)
                .await;
            assert_eq!(
                me.status,
                StatusCode::OK,
                "the {} session did not last through its run: {}",
                run.name,
                me.text()
            );
        }
        if !out.status.success() {
            failed.push(format!(
                "==== schemathesis as {} ({}) ====\n{}{}",
                run.name,
                out.status,
                stdout,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    eprintln!("schemathesis: all runs in {:.0?}", started.elapsed());
    assert!(
        failed.is_empty(),
        "the API does not keep to its OpenAPI document:\n{}",
        failed.join("\n")
    );
}
