//! Crafted spreadsheets against both upload paths — a school's roster and a department's school
//! import: each gets a clear Chinese 422 or 413, and the service still answers afterwards.

use std::io::{Read, Write};
use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use xiaobao_domain::Role;
use xiaobao_test_support::{AccountSpec, SignedInSession, TestApp};

const SLUG: &str = "henan";

/// A small valid XLSX roster (the student template's header and one row).
fn base_xlsx() -> Vec<u8> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in ["学生姓名", "性别", "班级", "身份证号", "学籍号"]
        .iter()
        .enumerate()
    {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    for (c, v) in ["张三", "男", "三年级2班", "410105201603100011", ""]
        .iter()
        .enumerate()
    {
        ws.write_string(1, c as u16, *v).unwrap();
    }
    wb.save_to_buffer().unwrap()
}

/// `xlsx` with the part `name` replaced by what `f` makes of it.
fn patched(xlsx: &[u8], name: &str, f: impl Fn(String) -> String) -> Vec<u8> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(xlsx)).unwrap();
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let entry_name = entry.name().unwrap().to_string();
        let mut text = String::new();
        entry.read_to_string(&mut text).unwrap();
        let text = if entry_name == name { f(text) } else { text };
        out.start_file(entry_name, options).unwrap();
        out.write_all(text.as_bytes()).unwrap();
    }
    out.finish().unwrap().into_inner()
}

/// The valid roster with its sheet replaced by `sheet` (streamed into the zip by `write`).
fn with_sheet(write: impl Fn(&mut dyn Write)) -> Vec<u8> {
    let base = base_xlsx();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(base.as_slice())).unwrap();
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let name = entry.name().unwrap().to_string();
        out.start_file(name.clone(), options).unwrap();
        if name == "xl/worksheets/sheet1.xml" {
            write(&mut out);
        } else {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            out.write_all(&bytes).unwrap();
        }
    }
    out.finish().unwrap().into_inner()
}

/// About 1 GiB of sheet XML in a few MB, made once.
fn gigabyte_sheet() -> &'static [u8] {
    static FILE: OnceLock<Vec<u8>> = OnceLock::new();
    FILE.get_or_init(|| {
        with_sheet(|w| {
            w.write_all(b"<?xml version=\"1.0\"?><worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><sheetData>").unwrap();
            let row = "<row><c t=\"inlineStr\"><is><t>aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa</t></is></c></row>".repeat(1024);
            for _ in 0..(1024 * 1024 * 1024 / row.len()) {
                w.write_all(row.as_bytes()).unwrap();
            }
            w.write_all(b"</sheetData></worksheet>").unwrap();
        })
    })
}

/// A zip of 100,000 empty entries.
fn many_entries() -> Vec<u8> {
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    out.start_file("xl/workbook.xml", options).unwrap();
    for i in 0..100_000 {
        out.start_file(format!("{i:x}"), options).unwrap();
    }
    out.finish().unwrap().into_inner()
}

/// Every crafted file, by what it tries.
fn crafted() -> Vec<(&'static str, Vec<u8>)> {
    let base = base_xlsx();
    let half = base[..base.len() / 2].to_vec();
    vec![
        (
            "huge shared-string count",
            patched(&base, "xl/sharedStrings.xml", |t| {
                t.replacen("uniqueCount=\"", "uniqueCount=\"2400000000000000000", 1)
                    .replacen("count=\"", "count=\"2400000000000000000", 1)
            }),
        ),
        (
            "far-away cell",
            patched(&base, "xl/worksheets/sheet1.xml", |t| {
                t.replace(
                    "</sheetData>",
                    "<row r=\"1048576\"><c r=\"XFD1048576\" t=\"inlineStr\"><is><t>x</t></is></c></row></sheetData>",
                )
            }),
        ),
        ("1 GiB sheet", gigabyte_sheet().to_vec()),
        ("100,000 entries", many_entries()),
        (
            "deep nesting",
            with_sheet(|w| {
                w.write_all(b"<worksheet><sheetData><row><c><is>").unwrap();
                w.write_all("<r>".repeat(100_000).as_bytes()).unwrap();
                w.write_all("</r>".repeat(100_000).as_bytes()).unwrap();
                w.write_all(b"</is></c></row></sheetData></worksheet>")
                    .unwrap();
            }),
        ),
        ("truncated zip", half),
        (
            "a PDF renamed .xlsx",
            b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n".to_vec(),
        ),
        (
            "an XLS",
            [
                &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1][..],
                &[0u8; 504][..],
            ]
            .concat(),
        ),
    ]
}

fn multipart(file_name: &str, fields: &[(&str, &str)], bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "xbhostilefileboundary";
    let mut body = Vec::new();
    let mut text = |k: &str, v: &str| {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    };
    for (k, v) in fields {
        text(k, v);
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn post_file(
    app: &TestApp,
    s: &SignedInSession,
    uri: &str,
    fields: &[(&str, &str)],
    file: &[u8],
) -> xiaobao_test_support::TestResponse {
    // Text goes up as .csv, anything else as .xlsx.
    let name = if file.starts_with("学生".as_bytes()) {
        "花名册.csv"
    } else {
        "花名册.xlsx"
    };
    let (ct, body) = multipart(name, fields, file);
    app.request(
        Request::post(uri)
            .header("content-type", ct)
            .header("cookie", &s.cookie)
            .header("x-csrf-token", &s.csrf)
            .body(Body::from(body))
            .unwrap(),
    )
    .await
}

/// The answer is a refusal with a Chinese message, and the service is still up.
async fn assert_refused(
    app: &TestApp,
    what: &str,
    path: &str,
    r: &xiaobao_test_support::TestResponse,
) {
    assert!(
        r.status == StatusCode::UNPROCESSABLE_ENTITY || r.status == StatusCode::PAYLOAD_TOO_LARGE,
        "{what} on {path}: {} {}",
        r.status,
        r.text()
    );
    let body = r.json();
    let message = body["error"]["message"].as_str().unwrap_or("").to_string();
    let reasons = body["problems"].to_string();
    let chinese = |s: &str| s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
    assert!(
        chinese(&message) || chinese(&reasons),
        "{what} on {path}: no Chinese message in {body}"
    );
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK, "{what}");
}

#[tokio::test]
async fn crafted_rosters_and_imports_are_refused_and_the_service_stays_up() {
    let app = TestApp::init().await.with_demo_tenants().await;
    app.open_enrolment_year(SLUG, &[(9001, "测试财险", "410100")])
        .await;
    let school = app
        .account(
            SLUG,
            AccountSpec::new("恶意文件测试小学", "410105", &[Role::School]),
        )
        .await;
    let dept = app
        .account(
            SLUG,
            AccountSpec::new("金水区恶意文件测试", "410105", &[Role::CountyDepartment]),
        )
        .await;
    let s = app.sign_in(SLUG, &school).await;
    let d = app.sign_in(SLUG, &dept).await;
    let r = app
        .json_as(
            &s,
            "PUT",
            &format!(
                "/api/v1/t/{SLUG}/enrolment/schools/{}/products/school_liability",
                school.org_id
            ),
            Some(serde_json::json!({"headcount": 1, "company_id": 9001})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let enrolment_id = r.json()["enrolment_id"].as_i64().unwrap();
    let roster = format!("/api/v1/t/{SLUG}/enrolment/{enrolment_id}/roster");
    let import = format!("/api/v1/t/{SLUG}/onboarding/schools");
    for (what, file) in crafted() {
        let r = post_file(&app, &s, &roster, &[("headcount", "1")], &file).await;
        assert_refused(&app, what, &roster, &r).await;
        let r = post_file(&app, &d, &import, &[], &file).await;
        assert_refused(&app, what, &import, &r).await;
    }
    // The limits answer 413, the malformed files 422.
    let r = post_file(&app, &s, &roster, &[("headcount", "1")], gigabyte_sheet()).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
    let r = post_file(&app, &d, &import, &[], &many_entries()).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
    // A roster with far more rows than its declared headcount is refused before its rows
    // are checked.
    let mut csv = String::from("学生姓名,性别,班级,身份证号,学籍号\n");
    for _ in 0..500 {
        csv.push_str("张三,男,三年级2班,410105201603100011,\n");
    }
    let r = post_file(&app, &s, &roster, &[("headcount", "1")], csv.as_bytes()).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
    assert!(r.text().contains("投保人数"), "{}", r.text());
    // Every refused roster is recorded and audited; none became the roster in force.
    let tenant = app.db().active_tenant(SLUG).unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let (rejected, audited, in_force): (i64, i64, Option<i64>) = sqlx::query_as(
        "select (select count(*) from rosters where enrolment_id = $1 and status = 'rejected'), \
                (select count(*) from audit_log where action = 'roster.rejected'), \
                (select roster_id from enrolments where enrolment_id = $1)",
    )
    .bind(enrolment_id)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert!(rejected >= 8, "{rejected} rejected");
    assert_eq!(audited, rejected);
    assert_eq!(in_force, None);
}
