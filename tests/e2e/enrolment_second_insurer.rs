//! A second insurer for a product a school has already enrolled (学校投保多家保险公司): the
//! school asks, its department approves, a second enrolment (seq 2) appears with that insurer
//! and goes through roster and submission like the first, which stays as it was. Asking for
//! the first insurer again is refused.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use xiaobao_domain::Role;
use xiaobao_domain::resident_id::check_char;
use xiaobao_test_support::{AccountSpec, SignedInSession, TestAccount, TestApp, TestResponse};

const SLUG: &str = "henan";
/// 郑州市 and its 金水区, where the school is.
const CITY: &str = "410100";
const COUNTY: &str = "410105";
const PRODUCT: &str = "school_liability";
const FIRST: (i64, &str) = (9101, "第一财险");
const SECOND: (i64, &str) = (9102, "第二财险");
/// Admitted too, asked for once the second enrolment exists.
const THIRD: (i64, &str) = (9103, "第三财险");

/// A valid ID of a primary pupil born 2016-04-`day`, sequence `seq`, male.
fn pupil_id(day: u32, seq: u32) -> String {
    let first17 = format!("4101052016040{}{:03}", day, seq * 2 + 1);
    format!("{first17}{}", check_char(&first17))
}

/// An XLSX roster with the template's student columns and `n` valid pupils (`day` 1–9 keeps
/// two rosters apart).
fn roster(n: u32, day: u32) -> Vec<u8> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in ["学生姓名", "性别", "班级", "身份证号", "学籍号"]
        .into_iter()
        .enumerate()
    {
        ws.write_string(0, u16::try_from(c).unwrap(), h).unwrap();
    }
    let names = ["甲", "乙", "丙", "丁", "戊"];
    for i in 0..n {
        let row = i + 1;
        ws.write_string(row, 0, format!("学生{}", names[i as usize % names.len()]))
            .unwrap();
        ws.write_string(row, 1, "男").unwrap();
        ws.write_string(row, 2, "二年级(1)班").unwrap();
        ws.write_string(row, 3, pupil_id(day, i)).unwrap();
        ws.write_string(row, 4, "").unwrap();
    }
    wb.save_to_buffer().unwrap()
}

/// Uploads a roster of `headcount` to an enrolment through the API.
async fn upload(
    app: &TestApp,
    s: &SignedInSession,
    enrolment_id: i64,
    headcount: u32,
    file: &[u8],
) -> TestResponse {
    let boundary = "xbsecondinsurer7MA4YWxkTrZu0gW";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"headcount\"\r\n\r\n{headcount}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"花名册.xlsx\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let request = Request::post(format!("/api/v1/t/{SLUG}/enrolment/{enrolment_id}/roster"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .header("cookie", &s.cookie)
        .header("x-csrf-token", &s.csrf)
        .body(Body::from(body))
        .unwrap();
    app.request(request).await
}

/// Saves a draft of the product (seq 1 or 2) through the API; the enrolment.
async fn save(app: &TestApp, s: &SignedInSession, org_id: i64, draft: Value) -> Value {
    let r = app
        .json_as(
            s,
            "PUT",
            &format!("/api/v1/t/{SLUG}/enrolment/schools/{org_id}/products/{PRODUCT}"),
            Some(draft),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

async fn submit(app: &TestApp, s: &SignedInSession, enrolment_id: i64) -> Value {
    let r = app
        .json_as(
            s,
            "POST",
            &format!("/api/v1/t/{SLUG}/enrolment/{enrolment_id}/submit"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

async fn ask_second_insurer(
    app: &TestApp,
    s: &SignedInSession,
    enrolment_id: i64,
    company_id: i64,
) -> TestResponse {
    app.json_as(
        s,
        "POST",
        &format!("/api/v1/t/{SLUG}/enrolment/{enrolment_id}/second-insurer"),
        Some(json!({"company_id": company_id, "reason": "部分学生由另一家保险公司承保"})),
    )
    .await
}

/// The school's enrolments of the product, seq 1 first.
async fn enrolments(app: &TestApp, s: &SignedInSession, org_id: i64) -> Vec<Value> {
    let r = app
        .get_with_cookie(
            &format!("/api/v1/t/{SLUG}/enrolment/schools/{org_id}"),
            &s.cookie,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["code"] == PRODUCT)
        .unwrap()["enrolments"]
        .as_array()
        .unwrap()
        .clone()
}

/// A school of 金水区 with a submitted enrolment of 2 pupils with the first insurer.
async fn submitted_school(app: &TestApp) -> (TestAccount, SignedInSession, Value) {
    let school = app
        .account(
            SLUG,
            AccountSpec::new("多家承保测试小学", COUNTY, &[Role::School]),
        )
        .await;
    let s = app.sign_in(SLUG, &school).await;
    let draft = save(
        app,
        &s,
        school.org_id,
        json!({"headcount": 2, "company_id": FIRST.0}),
    )
    .await;
    let eid = draft["enrolment_id"].as_i64().unwrap();
    let r = upload(app, &s, eid, 2, &roster(2, 1)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let first = submit(app, &s, eid).await;
    assert_eq!(first["status"], "submitted");
    assert_eq!(first["seq"], 1);
    (school, s, first)
}

async fn start() -> TestApp {
    let app = TestApp::init().await.with_demo_tenants().await;
    app.open_enrolment_year(
        SLUG,
        &[
            (FIRST.0, FIRST.1, CITY),
            (SECOND.0, SECOND.1, CITY),
            (THIRD.0, THIRD.1, CITY),
        ],
    )
    .await;
    app
}

#[tokio::test]
async fn an_approved_second_insurer_gets_its_own_enrolment_and_the_first_is_unchanged() {
    let app = start().await;
    let (school, s, first) = submitted_school(&app).await;
    let first_id = first["enrolment_id"].as_i64().unwrap();
    let first_as_listed = enrolments(&app, &s, school.org_id).await;
    assert_eq!(first_as_listed.len(), 1);

    // The school asks; the request waits for the department.
    let r = ask_second_insurer(&app, &s, first_id, SECOND.0).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let request = r.json();
    assert_eq!(request["kind"], "second_insurer");
    assert_eq!(request["status"], "pending");
    assert_eq!(request["reviewer"], "department");
    assert_eq!(request["enrolment_id"], first_id);
    assert_eq!(request["new_company_id"], SECOND.0);
    assert_eq!(request["new_company_name"], SECOND.1);
    assert_eq!(request["created_enrolment_id"], Value::Null);
    let request_id = request["request_id"].as_i64().unwrap();
    // One open request at a time.
    let r = ask_second_insurer(&app, &s, first_id, THIRD.0).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "request_open");
    // Nothing is created before the decision.
    assert_eq!(enrolments(&app, &s, school.org_id).await.len(), 1);

    // The county's department sees it among its requests and approves it.
    let department = app
        .account(
            SLUG,
            AccountSpec::new("金水区教育局", COUNTY, &[Role::CountyDepartment]),
        )
        .await;
    let d = app.sign_in(SLUG, &department).await;
    let r = app
        .json_as(
            &d,
            "GET",
            &format!("/api/v1/t/{SLUG}/enrolment/requests"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let listed = r.json();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["request_id"], request_id);
    assert_eq!(listed[0]["kind_label"], "增加保险机构");
    assert_eq!(listed[0]["school_name"], "多家承保测试小学");
    let r = app
        .json_as(
            &d,
            "POST",
            &format!("/api/v1/t/{SLUG}/enrolment/requests/{request_id}/decision"),
            Some(json!({"decision": "approve"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let decided = r.json();
    assert_eq!(decided["status"], "approved");
    assert_eq!(decided["status_label"], "已通过");
    let second_id = decided["created_enrolment_id"].as_i64().unwrap();
    assert_ne!(second_id, first_id);

    // The school now has a second enrolment of the product: a draft with the second insurer.
    let listed = enrolments(&app, &s, school.org_id).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0], first_as_listed[0], "the first enrolment changed");
    let second = &listed[1];
    assert_eq!(second["enrolment_id"], second_id);
    assert_eq!(second["seq"], 2);
    assert_eq!(second["product_code"], PRODUCT);
    assert_eq!(second["academic_year"], first["academic_year"]);
    assert_eq!(second["status"], "draft");
    assert_eq!(second["company_id"], SECOND.0);
    assert_eq!(second["company_name"], SECOND.1);
    assert_eq!(second["headcount"], 0);
    assert_eq!(second["roster_id"], Value::Null);
    let page = app
        .get_with_cookie(&format!("/t/{SLUG}/enrolment"), &s.cookie)
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert!(page.text().contains(SECOND.1), "{}", page.text());
    assert!(page.text().contains(FIRST.1), "{}", page.text());

    // Its own headcount, roster and submission.
    let saved = save(&app, &s, school.org_id, json!({"headcount": 3, "seq": 2})).await;
    assert_eq!(saved["enrolment_id"], second_id);
    assert_eq!(saved["headcount"], 3);
    assert_eq!(saved["company_id"], SECOND.0, "the insurer stays");
    let r = upload(&app, &s, second_id, 3, &roster(3, 2)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["result"], "accepted");
    assert_eq!(r.json()["rows"], 3);
    let submitted = submit(&app, &s, second_id).await;
    assert_eq!(submitted["status"], "submitted");
    assert_eq!(submitted["seq"], 2);
    assert_eq!(submitted["company_id"], SECOND.0);
    assert_eq!(submitted["headcount"], 3);
    assert_eq!(submitted["roster_rows"], 3);
    assert_eq!(
        submitted["premium_fen"].as_i64().unwrap(),
        3 * submitted["rate_fen"].as_i64().unwrap()
    );
    assert_eq!(submitted["rate_fen"], first["rate_fen"]);

    // Both enrolments as the school sees them: the first exactly as before, the second
    // submitted with its own insurer and headcount.
    let listed = enrolments(&app, &s, school.org_id).await;
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0], first_as_listed[0], "the first enrolment changed");
    assert_eq!(listed[0]["company_id"], FIRST.0);
    assert_eq!(listed[0]["headcount"], 2);
    assert_eq!(listed[0]["roster_rows"], 2);
    assert_eq!(listed[0]["status"], "submitted");
    assert_eq!(listed[1]["enrolment_id"], second_id);
    assert_eq!(listed[1]["status"], "submitted");
    assert_eq!(listed[1]["company_id"], SECOND.0);
    assert_eq!(listed[1]["headcount"], 3);
    assert_eq!(listed[1]["roster_rows"], 3);

    // A product has at most two insurers.
    let r = ask_second_insurer(&app, &s, first_id, THIRD.0).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "second_exists");
}

#[tokio::test]
async fn the_first_insurer_cannot_be_asked_for_as_the_second() {
    let app = start().await;
    let (school, s, first) = submitted_school(&app).await;
    let first_id = first["enrolment_id"].as_i64().unwrap();
    let r = ask_second_insurer(&app, &s, first_id, FIRST.0).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    let error = &r.json()["error"];
    assert_eq!(error["code"], "same_insurer");
    assert_eq!(error["field"], "company_id");
    assert_eq!(error["message"], "第二家保险机构不能与第一家相同");
    // Nothing was asked: no request waits, and the first enrolment is as it was.
    let listed = enrolments(&app, &s, school.org_id).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["pending_request_id"], Value::Null);
    assert_eq!(listed[0]["status"], "submitted");
    assert_eq!(listed[0]["company_id"], FIRST.0);
}
