//! The school's side of enrolment (投保数据): template, draft, roster uploads that are rejected
//! with every reason by line or accepted, submission and premium, an ID insured elsewhere, an
//! insurer not admitted, a central school acting on a school's behalf and a modification
//! request.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use xiaobao_domain::Role;
use xiaobao_domain::resident_id::check_char;
use xiaobao_test_support::{AccountSpec, SignedInSession, TestApp, TestResponse};

const SLUG: &str = "henan";
const COMPANY: i64 = 9001;
const OTHER_COMPANY: i64 = 9002;
const PRODUCT: &str = "school_liability";

/// A valid ID of a primary pupil born 2016-03-`day`, sequence `seq` (odd = male).
fn id(day: u32, seq: u32) -> String {
    let first17 = format!("41010520160{}{:02}{:03}", 3, day, seq);
    format!("{first17}{}", check_char(&first17))
}

enum Cell {
    Text(String),
    Number(f64),
}

/// An XLSX roster with the template's student columns; every cell as text unless a number.
fn roster_xlsx(rows: &[[Cell; 5]]) -> Vec<u8> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in ["学生姓名", "性别", "班级", "身份证号", "学籍号"]
        .iter()
        .enumerate()
    {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            match cell {
                Cell::Text(s) => ws.write_string(r as u32 + 1, c as u16, s).unwrap(),
                Cell::Number(n) => ws.write_number(r as u32 + 1, c as u16, *n).unwrap(),
            };
        }
    }
    wb.save_to_buffer().unwrap()
}

fn t(s: &str) -> Cell {
    Cell::Text(s.to_string())
}

fn pupil(name: &str, gender: &str, idno: &str) -> [Cell; 5] {
    [t(name), t(gender), t("三年级(2)班"), t(idno), t("")]
}

fn good_rows(n: u32, base: u32) -> Vec<[Cell; 5]> {
    (0..n)
        .map(|i| {
            pupil(
                &format!("学生{}", hanzi(i)),
                "男",
                &id(10 + i, base + 2 * i + 1),
            )
        })
        .collect()
}

fn hanzi(i: u32) -> &'static str {
    ["甲", "乙", "丙", "丁", "戊", "己", "庚", "辛"][i as usize % 8]
}

fn multipart(csrf: Option<&str>, headcount: &str, name: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "xbenrolboundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    let mut text = |k: &str, v: &str| {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    };
    if let Some(token) = csrf {
        text("csrf_token", token);
    }
    text("headcount", headcount);
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload(
    app: &TestApp,
    s: &SignedInSession,
    enrolment_id: i64,
    headcount: u32,
    file: &[u8],
    api: bool,
) -> TestResponse {
    let uri = if api {
        format!("/api/v1/t/{SLUG}/enrolment/{enrolment_id}/roster")
    } else {
        format!("/t/{SLUG}/enrolment/{enrolment_id}/roster")
    };
    let (ct, body) = multipart(
        (!api).then_some(s.csrf.as_str()),
        &headcount.to_string(),
        "花名册.xlsx",
        file,
    );
    let mut r = Request::post(uri)
        .header("content-type", ct)
        .header("cookie", &s.cookie);
    if api {
        r = r.header("x-csrf-token", &s.csrf);
    }
    app.request(r.body(Body::from(body)).unwrap()).await
}

async fn school(app: &TestApp, name: &str) -> xiaobao_test_support::TestAccount {
    app.account(SLUG, AccountSpec::new(name, "410105", &[Role::School]))
        .await
}

async fn start() -> (TestApp, String) {
    let app = TestApp::init().await.with_demo_tenants().await;
    let year = app
        .open_enrolment_year(SLUG, &[(COMPANY, "测试财险", "410100")])
        .await;
    (app, year)
}

/// Saves headcount and insurer through the API; the enrolment row.
async fn save(
    app: &TestApp,
    s: &SignedInSession,
    org_id: i64,
    headcount: u32,
) -> serde_json::Value {
    let r = app
        .json_as(
            s,
            "PUT",
            &format!("/api/v1/t/{SLUG}/enrolment/schools/{org_id}/products/{PRODUCT}"),
            Some(serde_json::json!({"headcount": headcount, "company_id": COMPANY})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

#[tokio::test]
async fn a_school_enrols_with_a_checked_roster_and_submits() {
    let (app, _year) = start().await;
    let a = school(&app, "投保测试第一小学").await;
    let s = app.sign_in(SLUG, &a).await;

    // The template: a real XLSX with the student columns.
    let tpl = app
        .get_with_cookie(&format!("/t/{SLUG}/enrolment/templates/student"), &s.cookie)
        .await;
    assert_eq!(tpl.status, StatusCode::OK);
    assert_eq!(&tpl.body[..2], b"PK");
    assert!(
        tpl.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("filename*=UTF-8''")
    );
    {
        use calamine::Reader;
        let mut wb: calamine::Xlsx<_> =
            calamine::open_workbook_from_rs(std::io::Cursor::new(tpl.body.clone())).unwrap();
        let name = wb.sheet_names()[0].clone();
        let range = wb.worksheet_range(&name).unwrap();
        let cells: Vec<String> = range
            .rows()
            .flat_map(|r| r.iter().map(|c| c.to_string()))
            .collect();
        let at = cells
            .iter()
            .position(|c| c == "学生姓名")
            .expect("header row");
        assert_eq!(
            &cells[at..at + 6],
            &["学生姓名", "性别", "班级", "身份证号", "学籍号", "备注"]
        );
    }

    // The page shows the product, not submitted.
    let page = app
        .get_with_cookie(&format!("/t/{SLUG}/enrolment"), &s.cookie)
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert!(page.text().contains("校方责任保险"), "{}", page.text());
    assert!(page.text().contains("未提交"));

    // Save headcount and insurer through the form.
    let r = app
        .post_as(
            &s,
            &format!(
                "/t/{SLUG}/enrolment/schools/{}/products/{PRODUCT}",
                a.org_id
            ),
            &[("headcount", "3"), ("company_id", &COMPANY.to_string())],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let overview = app
        .get_with_cookie(
            &format!("/api/v1/t/{SLUG}/enrolment/schools/{}", a.org_id),
            &s.cookie,
        )
        .await
        .json();
    let product = overview["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["code"] == PRODUCT)
        .unwrap()
        .clone();
    let e = &product["enrolments"][0];
    let eid = e["enrolment_id"].as_i64().unwrap();
    assert_eq!(e["headcount"], 3);
    assert_eq!(e["company_id"], COMPANY);

    // A first good roster of 3, accepted.
    let r = upload(&app, &s, eid, 3, &roster_xlsx(&good_rows(3, 100)), true).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["result"], "accepted");
    assert_eq!(r.json()["rows"], 3);

    // A bad roster: every problem by line; nothing changes.
    let good = id(20, 201);
    let mut wrong_check = id(21, 203);
    let last = wrong_check.pop().unwrap();
    wrong_check.push(if last == '0' { '1' } else { '0' });
    let female_as_male = id(22, 204); // 17th digit even: female
    let rows = vec![
        pupil("张三", "男", &good),
        [
            t("李四"),
            t("男"),
            t("三年级(2)班"),
            Cell::Number(4.10105e17),
            t(""),
        ],
        pupil("王五", "男", "410105160315123"),
        pupil("赵六", "男", &wrong_check),
        pupil("孙七", "男", &female_as_male),
        pupil("周八", "男", &good),
    ];
    let r = upload(&app, &s, eid, 6, &roster_xlsx(&rows), false).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let result_href = r.headers["location"].to_str().unwrap().to_string();
    let result = app.get_with_cookie(&result_href, &s.cookie).await;
    let html = result.text();
    assert_eq!(result.status, StatusCode::OK, "{html}");
    assert!(html.contains("未被接受"), "{html}");
    assert!(html.contains("保持不变"), "{html}");
    for (line, needle) in [
        (3, "科学计数法"),
        (4, "15位"),
        (5, "校验位"),
        (6, "性别"),
        (7, "重复"),
    ] {
        let row = html
            .split("<tr>")
            .find(|r| r.contains(&format!("第 {line} 行")) && r.contains(needle));
        assert!(row.is_some(), "line {line} should say {needle}: {html}");
    }
    let xlsx = app
        .get_with_cookie(&format!("{result_href}/problems.xlsx"), &s.cookie)
        .await;
    assert_eq!(xlsx.status, StatusCode::OK);
    assert_eq!(&xlsx.body[..2], b"PK");
    // Through the API the same file answers 422 with the problems.
    let r = upload(&app, &s, eid, 6, &roster_xlsx(&rows), true).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert!(r.json()["problems"].as_array().unwrap().len() >= 5);
    let overview = app
        .get_with_cookie(
            &format!("/api/v1/t/{SLUG}/enrolment/schools/{}", a.org_id),
            &s.cookie,
        )
        .await
        .json();
    let e = overview["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["code"] == PRODUCT)
        .unwrap()["enrolments"][0]
        .clone();
    assert_eq!(e["headcount"], 3, "headcount untouched");
    assert_eq!(e["roster_rows"], 3, "accepted roster still in force");

    // A good roster of 4 through the page: accepted.
    let r = upload(&app, &s, eid, 4, &roster_xlsx(&good_rows(4, 300)), false).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let result = app
        .get_with_cookie(r.headers["location"].to_str().unwrap(), &s.cookie)
        .await;
    assert!(result.text().contains("已接受 4 行"), "{}", result.text());

    // Submit: 已提交, premium = 4 × 5.00.
    let r = app
        .post_as(&s, &format!("/t/{SLUG}/enrolment/{eid}/submit"), &[])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let page = app
        .get_with_cookie(&format!("/t/{SLUG}/enrolment"), &s.cookie)
        .await;
    let html = page.text();
    assert!(html.contains("已提交"), "{html}");
    assert!(html.contains("20.00"), "{html}");
    let overview = app
        .get_with_cookie(
            &format!("/api/v1/t/{SLUG}/enrolment/schools/{}", a.org_id),
            &s.cookie,
        )
        .await
        .json();
    let p = overview["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["code"] == PRODUCT)
        .unwrap()
        .clone();
    assert_eq!(p["status"], "submitted");
    assert_eq!(
        p["enrolments"][0]["premium_fen"].as_i64().unwrap(),
        4 * p["rate_fen"].as_i64().unwrap()
    );
    // Submitting again is a conflict.
    let r = app
        .json_as(
            &s,
            "POST",
            &format!("/api/v1/t/{SLUG}/enrolment/{eid}/submit"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "already_submitted");
}

#[tokio::test]
async fn an_id_insured_by_another_school_is_refused() {
    let (app, _year) = start().await;
    let a = school(&app, "投保测试甲小学").await;
    let b = school(&app, "投保测试乙小学").await;
    let sa = app.sign_in(SLUG, &a).await;
    let sb = app.sign_in(SLUG, &b).await;
    let ea = save(&app, &sa, a.org_id, 2).await["enrolment_id"]
        .as_i64()
        .unwrap();
    let eb = save(&app, &sb, b.org_id, 2).await["enrolment_id"]
        .as_i64()
        .unwrap();
    let r = upload(&app, &sa, ea, 2, &roster_xlsx(&good_rows(2, 500)), true).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    // B lists one of A's pupils.
    let mut rows = good_rows(1, 700);
    rows.push(pupil("学生乙", "男", &id(11, 503)));
    let r = upload(&app, &sb, eb, 2, &roster_xlsx(&rows), true).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    let problems = r.json()["problems"].clone();
    assert_eq!(problems[0]["line"], 3, "{problems}");
    assert!(
        problems[0]["reason"]
            .as_str()
            .unwrap()
            .contains("其他学校投保"),
        "{problems}"
    );
}

#[tokio::test]
async fn an_insurer_not_admitted_is_refused() {
    let (app, _year) = start().await;
    let a = school(&app, "投保测试丙小学").await;
    let s = app.sign_in(SLUG, &a).await;
    let r = app
        .json_as(
            &s,
            "PUT",
            &format!(
                "/api/v1/t/{SLUG}/enrolment/schools/{}/products/{PRODUCT}",
                a.org_id
            ),
            Some(serde_json::json!({"headcount": 5, "company_id": OTHER_COMPANY})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(r.json()["error"]["field"], "company_id");
    assert_eq!(r.json()["error"]["code"], "insurer_not_admitted");
    // The form shows the message next to the product.
    let r = app
        .post_as(
            &s,
            &format!(
                "/t/{SLUG}/enrolment/schools/{}/products/{PRODUCT}",
                a.org_id
            ),
            &[
                ("headcount", "5"),
                ("company_id", &OTHER_COMPANY.to_string()),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text().contains("请选择本区域准入的保险机构"),
        "{}",
        r.text()
    );
    // Another school's page is not in scope: 404.
    let other = school(&app, "投保测试丁小学").await;
    let r = app
        .get_with_cookie(
            &format!("/api/v1/t/{SLUG}/enrolment/schools/{}", other.org_id),
            &s.cookie,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_central_school_acts_on_behalf_of_its_school() {
    let (app, _year) = start().await;
    let central = app
        .account(
            SLUG,
            AccountSpec::new("投保测试中心校", "410105", &[Role::CentralSchool]),
        )
        .await;
    let a = school(&app, "投保测试所辖小学").await;
    {
        let tenant = app.db().active_tenant(SLUG).unwrap();
        let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
        sqlx::query("update organisations set is_central = true where org_id = $1")
            .bind(central.org_id)
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::query("update organisations set central_school_id = $1 where org_id = $2")
            .bind(central.org_id)
            .bind(a.org_id)
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let s = app.sign_in(SLUG, &central).await;
    let list = app
        .get_with_cookie(&format!("/t/{SLUG}/enrolment"), &s.cookie)
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text());
    assert!(list.text().contains("投保测试所辖小学"), "{}", list.text());
    assert!(
        list.text()
            .contains(&format!("enrolment/schools/{}", a.org_id))
    );
    let page = app
        .get_with_cookie(
            &format!("/t/{SLUG}/enrolment/schools/{}", a.org_id),
            &s.cookie,
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let row = save(&app, &s, a.org_id, 2).await;
    let eid = row["enrolment_id"].as_i64().unwrap();
    let tenant = app.db().active_tenant(SLUG).unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let on_behalf: Option<i64> = sqlx::query_scalar(
        "select on_behalf_of_org_id from audit_log where action = 'enrolment.draft_saved' \
         and entity_id = $1 order by audit_log_id desc limit 1",
    )
    .bind(eid.to_string())
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(on_behalf, Some(a.org_id));
}

#[tokio::test]
async fn a_school_asks_to_modify_a_submitted_enrolment() {
    let (app, _year) = start().await;
    let a = school(&app, "投保测试修改小学").await;
    let s = app.sign_in(SLUG, &a).await;
    let eid = save(&app, &s, a.org_id, 2).await["enrolment_id"]
        .as_i64()
        .unwrap();
    let r = upload(&app, &s, eid, 2, &roster_xlsx(&good_rows(2, 800)), true).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let r = app
        .json_as(
            &s,
            "POST",
            &format!("/api/v1/t/{SLUG}/enrolment/{eid}/submit"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // A new roster of 3 while submitted: pending, for the request.
    let r = upload(&app, &s, eid, 3, &roster_xlsx(&good_rows(3, 900)), false).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let href = r.headers["location"].to_str().unwrap().to_string();
    let roster_id = href.rsplit('/').next().unwrap().to_string();
    let result = app.get_with_cookie(&href, &s.cookie).await;
    assert!(result.text().contains("修改申请"), "{}", result.text());
    let r = app
        .post_as(
            &s,
            &format!("/t/{SLUG}/enrolment/{eid}/modification"),
            &[
                ("new_headcount", "3"),
                ("new_roster_id", &roster_id),
                ("reason", "新转入一名学生"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let page = app
        .get_with_cookie(&format!("/t/{SLUG}/enrolment"), &s.cookie)
        .await;
    let html = page.text();
    assert!(html.contains("修改审核中"), "{html}");
    assert!(html.contains("新转入一名学生"), "{html}");
    // A second request while one is open: conflict.
    let r = app
        .json_as(
            &s,
            "POST",
            &format!("/api/v1/t/{SLUG}/enrolment/{eid}/modification"),
            Some(serde_json::json!({"new_company_id": COMPANY, "reason": "再次申请"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "request_open");
}

#[tokio::test]
async fn an_id_insured_elsewhere_under_another_name_is_never_revealed_to_the_uploader() {
    let (app, _year) = start().await;
    let a = school(&app, "冲突测试甲小学").await;
    let b = school(&app, "冲突测试乙小学").await;
    let dept = app
        .account(
            SLUG,
            AccountSpec::new("金水区教育局冲突测试", "410105", &[Role::CountyDepartment]),
        )
        .await;
    let sa = app.sign_in(SLUG, &a).await;
    let sb = app.sign_in(SLUG, &b).await;
    let ea = save(&app, &sa, a.org_id, 20).await["enrolment_id"]
        .as_i64()
        .unwrap();
    let eb = save(&app, &sb, b.org_id, 20).await["enrolment_id"]
        .as_i64()
        .unwrap();
    let r = upload(&app, &sa, ea, 20, &roster_xlsx(&good_rows(20, 500)), true).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    // B "guesses" all of A's ID numbers with made-up names: accepted, and nothing in the
    // answer (status, body, result page) tells B that any of them is insured elsewhere.
    let guessed: Vec<[Cell; 5]> = (0..20)
        .map(|i| {
            pupil(
                &format!("猜测{}", hanzi(i)),
                "男",
                &id(10 + i, 500 + 2 * i + 1),
            )
        })
        .collect();
    let r = upload(&app, &sb, eb, 20, &roster_xlsx(&guessed), true).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert!(!r.text().contains("其他学校"), "{}", r.text());
    let roster_id = r.json()["roster_id"].as_i64().unwrap();
    let page = app
        .get_with_cookie(
            &format!("/t/{SLUG}/enrolment/rosters/{roster_id}"),
            &sb.cookie,
        )
        .await;
    assert!(!page.text().contains("其他学校"));
    // The schools cannot see conflicts; the department of both sees them, with both names.
    for s in [&sa, &sb] {
        let r = app
            .json_as(
                s,
                "GET",
                &format!("/api/v1/t/{SLUG}/enrolment/conflicts"),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    }
    let sd = app.sign_in(SLUG, &dept).await;
    let r = app
        .json_as(
            &sd,
            "GET",
            &format!("/api/v1/t/{SLUG}/enrolment/conflicts"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let list = r.json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 20, "{list:?}");
    let first = list.iter().find(|c| c["line"] == 2).unwrap();
    assert_eq!(first["school_name"], "冲突测试乙小学");
    assert_eq!(first["other_school_name"], "冲突测试甲小学");
    assert_eq!(first["name"], "猜测甲");
    assert_eq!(first["other_name"], "学生甲");
    assert!(first["id_masked"].as_str().unwrap().contains('*'));
    let page = app
        .get_with_cookie(&format!("/t/{SLUG}/enrolment/conflicts"), &sd.cookie)
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("猜测甲"), "{}", page.text());
    // Resolving: a reason is needed, and once is enough.
    let id0 = first["conflict_id"].as_i64().unwrap();
    let path = format!("/api/v1/t/{SLUG}/enrolment/conflicts/{id0}/resolve");
    let r = app
        .json_as(
            &sd,
            "POST",
            &path,
            Some(serde_json::json!({"resolution": ""})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    let body = serde_json::json!({"resolution": "已与乙小学核实，系录入错误，已要求更正"});
    let r = app.json_as(&sd, "POST", &path, Some(body.clone())).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let r = app.json_as(&sd, "POST", &path, Some(body)).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    // Twenty conflicts from one account in a day alert the authority, once.
    let tenant = app.db().active_tenant(SLUG).unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let alerts: i64 = sqlx::query_scalar(
        "select count(*) from audit_log where action = 'roster.conflicts_alert' \
         and actor_account_id = $1",
    )
    .bind(b.account_id)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(alerts, 1);
}

#[tokio::test]
async fn roster_uploads_are_rate_limited_per_enrolment() {
    let (app, _year) = start().await;
    let a = school(&app, "限流测试小学").await;
    let sa = app.sign_in(SLUG, &a).await;
    let ea = save(&app, &sa, a.org_id, 2).await["enrolment_id"]
        .as_i64()
        .unwrap();
    let file = roster_xlsx(&good_rows(2, 900));
    let mut last = StatusCode::OK;
    for i in 0..21 {
        last = upload(&app, &sa, ea, 2, &file, true).await.status;
        if i < 20 {
            assert_eq!(last, StatusCode::CREATED, "upload {i}");
        }
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}
