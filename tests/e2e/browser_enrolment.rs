//! A school's enrolment in a real browser: the school signs in, opens 投保数据, downloads the
//! roster template, saves headcount and insurer, uploads a roster with bad rows and sees every
//! problem by line, uploads the corrected roster, sees it accepted and submits. Screenshots
//! are saved under `target/test-artefacts/screenshots/`.

use std::path::Path;
use std::time::Duration;

use fantoccini::Locator;
use serde_json::json;
use xiaobao_domain::Role;
use xiaobao_domain::resident_id::check_char;
use xiaobao_test_support::{AccountSpec, Browser, TEST_PASSWORD, TestApp};

const SLUG: &str = "henan";
const SCHOOL: &str = "郑州市金水区浏览器投保小学";
const COMPANY: i64 = 9001;
const PRODUCT: &str = "school_liability";

/// A valid ID of a primary pupil born 2016-03-`day`, sequence `seq` (odd = male).
fn id(day: u32, seq: u32) -> String {
    let first17 = format!("410105201603{day:02}{seq:03}");
    format!("{first17}{}", check_char(&first17))
}

enum Cell {
    Text(String),
    Number(f64),
}

fn t(s: &str) -> Cell {
    Cell::Text(s.to_string())
}

fn pupil(name: &str, gender: &str, idno: &str) -> [Cell; 5] {
    [t(name), t(gender), t("三年级(2)班"), t(idno), t("")]
}

/// An XLSX roster with the template's student columns, written to `path`.
fn write_roster(path: &Path, rows: &[[Cell; 5]]) {
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
    std::fs::write(path, wb.save_to_buffer().unwrap()).unwrap();
}

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

/// What the browser gets for `href` with its own cookies: status, headers and body.
struct Fetched {
    status: u64,
    content_type: String,
    disposition: String,
    body: Vec<u8>,
}

async fn fetch(browser: &Browser, href: &str) -> Fetched {
    let v = browser
        .client()
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(arguments[0], { credentials: 'same-origin' })
               .then(async r => {
                 const b = new Uint8Array(await r.arrayBuffer());
                 done({ status: r.status,
                        type: r.headers.get('content-type') || '',
                        disposition: r.headers.get('content-disposition') || '',
                        body: Array.from(b) });
               })
               .catch(e => done({ error: String(e) }));",
            vec![json!(href)],
        )
        .await
        .unwrap_or_else(|e| panic!("fetch {href}: {e}"));
    assert!(v.get("error").is_none(), "fetch {href}: {v}");
    Fetched {
        status: v["status"].as_u64().unwrap(),
        content_type: v["type"].as_str().unwrap().to_string(),
        disposition: v["disposition"].as_str().unwrap().to_string(),
        body: v["body"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| u8::try_from(b.as_u64().unwrap()).unwrap())
            .collect(),
    }
}

/// The cells of every row of the table body matching `css`.
async fn table_rows(browser: &Browser, css: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for tr in browser
        .client()
        .find_all(Locator::Css(&format!("{css} tbody tr")))
        .await
        .unwrap()
    {
        let mut cells = Vec::new();
        for td in tr.find_all(Locator::Css("td")).await.unwrap() {
            cells.push(td.text().await.unwrap());
        }
        out.push(cells);
    }
    out
}

/// Fills the roster form of enrolment `eid` with `headcount` and `file` and sends it.
async fn upload(browser: &Browser, eid: &str, headcount: &str, file: &Path) {
    browser
        .fill(&format!("#roster_headcount_{eid}"), headcount)
        .await;
    browser
        .client()
        .find(Locator::Css(&format!("#roster_file_{eid}")))
        .await
        .unwrap()
        .send_keys(file.to_str().unwrap())
        .await
        .unwrap();
    browser
        .click(&format!(
            "#enrolment_{eid} form.roster-upload button[type=submit]"
        ))
        .await;
}

#[tokio::test]
async fn a_school_downloads_the_template_is_shown_bad_rows_by_line_and_submits_the_fixed_roster() {
    let browser = Browser::start().await;
    let app = TestApp::init().await.with_demo_tenants().await;
    app.open_enrolment_year(SLUG, &[(COMPANY, "测试财险", "410100")])
        .await;
    app.account(
        SLUG,
        AccountSpec {
            nature: Some("public"),
            school_type: Some("primary"),
            ..AccountSpec::new(SCHOOL, "410105", &[Role::School])
        },
    )
    .await;
    let base = app.serve().await;
    let dir = std::env::temp_dir().join(format!("{}-rosters", app.name));
    std::fs::create_dir_all(&dir).unwrap();

    // Signs in and opens 投保数据 from the navigation.
    browser.goto(&format!("{base}/t/{SLUG}/login")).await;
    browser.fill("#login_name", SCHOOL).await;
    browser.fill("#password", TEST_PASSWORD).await;
    browser.click("form.form button[type=submit]").await;
    wait_for_path(&browser, &format!("/t/{SLUG}/")).await;
    browser
        .client()
        .find(Locator::Css("nav.side"))
        .await
        .unwrap()
        .find(Locator::LinkText("投保数据"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_path(&browser, &format!("/t/{SLUG}/enrolment")).await;
    let product = format!("#product_{PRODUCT}");
    browser.wait_for(&product).await;
    assert!(
        browser.text("#enrolment-title").await.contains(SCHOOL),
        "{}",
        browser.text("#enrolment-title").await
    );
    assert!(
        browser
            .text(&format!("{product}_title"))
            .await
            .starts_with("校方责任保险（无过失责任险）")
    );
    assert_eq!(
        browser
            .text(&format!("span.status[data-status={PRODUCT}]"))
            .await,
        "未提交"
    );
    browser.screenshot("henan-enrolment-empty").await;

    // The template link answers a real XLSX with the student columns, with the browser's
    // session.
    let link = format!("{product} a.template-link");
    assert_eq!(browser.text(&link).await, "下载花名册模板（Excel）");
    let href = browser.property(&link, "href").await.unwrap();
    assert_eq!(
        href,
        format!("{base}/t/{SLUG}/enrolment/templates/student"),
        "template link"
    );
    let tpl = fetch(&browser, &href).await;
    assert_eq!(tpl.status, 200);
    assert_eq!(&tpl.body[..2], b"PK", "XLSX is a zip");
    assert!(
        tpl.content_type.contains("spreadsheetml"),
        "{}",
        tpl.content_type
    );
    assert!(
        tpl.disposition.contains("filename*=UTF-8''"),
        "{}",
        tpl.disposition
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

    // Saves the headcount and the insurer.
    browser.fill(&format!("#headcount_{PRODUCT}"), "5").await;
    browser
        .client()
        .find(Locator::Css(&format!("#company_{PRODUCT}")))
        .await
        .unwrap()
        .select_by_value(&COMPANY.to_string())
        .await
        .unwrap();
    browser
        .click(&format!("{product} form.form button[type=submit]"))
        .await;
    browser.wait_for("#enrolment_done").await;
    assert_eq!(browser.text("#enrolment_done").await, "已保存。");
    let card = browser
        .client()
        .find(Locator::Css(&format!("{product} .enrolment")))
        .await
        .unwrap();
    let card_id = card.attr("id").await.unwrap().unwrap();
    let eid = card_id.strip_prefix("enrolment_").unwrap().to_string();
    let card = format!("#{card_id}");
    assert_eq!(
        browser.text(&format!("{card} .enrolment-status")).await,
        "未提交"
    );
    assert_eq!(
        browser.text(&format!("{card} .enrolment-headcount")).await,
        "5"
    );
    assert_eq!(
        browser.text(&format!("{card} .enrolment-roster")).await,
        "未上传"
    );

    // A roster with bad rows: every problem by line, in Chinese.
    let good = id(20, 201);
    let mut wrong_check = id(21, 203);
    let right = wrong_check.pop().unwrap();
    let wrong = if right == '0' { '1' } else { '0' };
    wrong_check.push(wrong);
    let female = id(22, 204); // 17th digit even: female
    let bad_rows = vec![
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
        pupil("孙七", "男", &female),
        pupil("周八", "男", &good),
    ];
    let bad = dir.join("花名册-有误.xlsx");
    write_roster(&bad, &bad_rows);
    upload(&browser, &eid, "6", &bad).await;
    browser.wait_for("#roster_rejected").await;
    assert!(
        browser
            .client()
            .current_url()
            .await
            .unwrap()
            .path()
            .starts_with(&format!("/t/{SLUG}/enrolment/rosters/"))
    );
    assert_eq!(
        browser.text("#roster_rejected").await,
        "花名册有 5 处问题，未被接受。此前已接受的花名册和投保人数保持不变，请修改后重新上传。"
    );
    let expected: Vec<Vec<String>> = [
        (
            "第 3 行",
            "身份证号",
            "身份证号被表格软件转成了科学计数法（如 4.10105E+17），后几位已丢失：请把该列设置为“文本”格式后重新录入完整的18位号码".to_string(),
        ),
        (
            "第 4 行",
            "身份证号",
            "这是旧的15位身份证号，请填写18位的身份证号".to_string(),
        ),
        (
            "第 5 行",
            "身份证号",
            format!("身份证号校验位错误：应为{right}，实际为{wrong}（请核对号码是否录入有误）"),
        ),
        (
            "第 6 行",
            "性别",
            "性别「男」与身份证号第17位（女）不一致".to_string(),
        ),
        ("第 7 行", "身份证号", "身份证号与第 2 行重复".to_string()),
    ]
    .into_iter()
    .map(|(line, column, reason)| vec![line.to_string(), column.to_string(), reason])
    .collect();
    assert_eq!(table_rows(&browser, "#roster_problems").await, expected);
    let problems_href = browser.property("#problems_xlsx", "href").await.unwrap();
    let problems = fetch(&browser, &problems_href).await;
    assert_eq!(problems.status, 200);
    assert_eq!(&problems.body[..2], b"PK");
    browser.screenshot("henan-enrolment-roster-rejected").await;

    // Nothing changed on the enrolment.
    browser.click("#back_to_enrolment").await;
    browser.wait_for(&card).await;
    assert_eq!(
        browser.text(&format!("{card} .enrolment-headcount")).await,
        "5"
    );
    assert_eq!(
        browser.text(&format!("{card} .enrolment-roster")).await,
        "未上传"
    );

    // The corrected roster: five valid rows, headcount five.
    let mut right_check = wrong_check.clone();
    right_check.pop();
    right_check.push(right);
    let fixed_rows = vec![
        pupil("张三", "男", &good),
        pupil("李四", "男", &id(23, 205)),
        pupil("王五", "男", &id(24, 207)),
        pupil("赵六", "男", &right_check),
        pupil("孙七", "女", &female),
    ];
    let fixed = dir.join("花名册-已改正.xlsx");
    write_roster(&fixed, &fixed_rows);
    upload(&browser, &eid, "5", &fixed).await;
    browser.wait_for("#roster_accepted").await;
    assert_eq!(
        browser.text("#roster_accepted").await,
        "已接受 5 行，花名册已生效。"
    );
    assert!(
        browser
            .client()
            .find(Locator::Css("#roster_problems"))
            .await
            .is_err(),
        "no problems listed"
    );
    browser.screenshot("henan-enrolment-roster-accepted").await;
    browser.click("#back_to_enrolment").await;
    browser.wait_for(&card).await;
    assert_eq!(
        browser.text(&format!("{card} .enrolment-roster")).await,
        "5 行"
    );
    assert_eq!(
        browser.text(&format!("{card} .enrolment-headcount")).await,
        "5"
    );

    // Submits: 已提交, premium 5 × 5.00.
    browser.click(&format!("#submit_{eid}")).await;
    browser.wait_for("#enrolment_done").await;
    assert_eq!(browser.text("#enrolment_done").await, "已提交投保。");
    assert_eq!(
        browser.text(&format!("{card} .enrolment-status")).await,
        "已提交"
    );
    assert_eq!(
        browser
            .text(&format!("span.status[data-status={PRODUCT}]"))
            .await,
        "已提交"
    );
    assert_eq!(
        browser.text(&format!("{card} .enrolment-premium")).await,
        "25.00"
    );
    assert!(
        browser
            .client()
            .find(Locator::Css(&format!("#submit_{eid}")))
            .await
            .is_err(),
        "no submit button once submitted"
    );
    browser.screenshot("henan-enrolment-submitted").await;

    let _ = std::fs::remove_dir_all(&dir);
    browser.close().await;
}
