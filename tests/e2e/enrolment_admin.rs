//! Enrolment as departments, the authority and insurers see it: the insurer's scope, roster
//! downloads (unmasked for insurers, masked for departments, both audited), modification
//! review with its premium change and endorsement, progress and reopening, premium totals and
//! the deadline reminders.

use std::io::Read;

use axum::http::StatusCode;
use xiaobao_domain::Role;
use xiaobao_domain::resident_id::{ResidentId, check_char};
use xiaobao_test_support::{AccountSpec, TestAccount, TestApp};

const SLUG: &str = "liupanshui";
/// 钟山区 and 六枝特区.
const ZHONGSHAN: &str = "520201";
const LIUZHI: &str = "520203";
/// The rate of liupanshui's only product, in fen per person.
const RATE: i64 = 1000;

struct Env {
    app: TestApp,
    year: String,
}

async fn setup() -> Env {
    let app = TestApp::init().await.with_demo_tenants().await;
    let year = app
        .open_enrolment_year(
            SLUG,
            &[(1, "甲保险公司", "520200"), (2, "乙保险公司", "520200")],
        )
        .await;
    Env { app, year }
}

async fn sql_i64(app: &TestApp, sql: &str) -> i64 {
    let tenant = app.db().active_tenant(SLUG).unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let v: i64 = sqlx::query_scalar(sql).fetch_one(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
    v
}

/// `n` valid resident ID numbers starting with `prefix` (6 digits).
fn ids(prefix: &str, n: usize, seed: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let first17 = format!("{prefix}20120101{:03}", (seed * 100 + i) % 1000);
            format!("{first17}{}", check_char(&first17))
        })
        .collect()
}

async fn school(env: &Env, name: &str, region: &str, nature: &str) -> TestAccount {
    env.app
        .account(
            SLUG,
            AccountSpec {
                nature: Some(nature),
                school_type: Some("primary"),
                ..AccountSpec::new(name, region, &[Role::School])
            },
        )
        .await
}

/// Stores a submitted enrolment of `school` with `company` and a roster of `ids`; its id.
async fn enrol(env: &Env, school: &TestAccount, company: i64, ids: &[String], submit: bool) -> i64 {
    let app = &env.app;
    let tenant = app.db().active_tenant(SLUG).unwrap();
    let sealer = app.state.sealer(&tenant);
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let headcount = i32::try_from(ids.len()).unwrap();
    let enrolment_id: i64 = sqlx::query_scalar(
        "insert into enrolments (academic_year, school_org_id, product_code, region_path, \
         company_id, company_name, headcount, rate_fen, premium_fen) \
         select $1, org_id, 'school_liability', region_path, $2, \
           case when $2 = 1 then '甲保险公司' else '乙保险公司' end, $3, $4, $3 * $4 \
         from organisations where org_id = $5 returning enrolment_id",
    )
    .bind(&env.year)
    .bind(company)
    .bind(headcount)
    .bind(RATE)
    .bind(school.org_id)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    let sha = format!("{:064x}", enrolment_id);
    let document_id: i64 = sqlx::query_scalar(
        "insert into documents (tenant_id, kind, owner_kind, owner_id, original_name, media_type, \
         size_bytes, sha256, object_key, uploaded_by) values ($1, 'roster', 'enrolment', $2, \
         'roster.csv', 'text/csv', 1, $3, 'tenants/' || $1 || '/sha256/' || substr($3, 1, 2) || '/' || $3, \
         'test') returning document_id",
    )
    .bind(tenant.tenant_id)
    .bind(enrolment_id.to_string())
    .bind(&sha)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    let roster_id: i64 = sqlx::query_scalar(
        "insert into rosters (enrolment_id, document_id, status, row_count) \
         values ($1, $2, 'accepted', $3) returning roster_id",
    )
    .bind(enrolment_id)
    .bind(document_id)
    .bind(headcount)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    for (i, id) in ids.iter().enumerate() {
        let rid = ResidentId::parse(id).unwrap();
        sqlx::query(
            "insert into roster_rows (roster_id, row_no, line, name, gender, class_name, \
             id_sealed, id_hash, id_masked) values ($1, $2, $2 + 1, $3, 'M', '一年级1班', $4, $5, $6)",
        )
        .bind(roster_id)
        .bind(i32::try_from(i + 1).unwrap())
        .bind(format!("学生{i}"))
        .bind(sealer.seal(&rid))
        .bind(sealer.match_hash(&rid).to_vec())
        .bind(rid.masked())
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    let status = if submit { "submitted" } else { "draft" };
    sqlx::query(
        "update enrolments set roster_id = $2, status = $3, \
         submitted_at = case when $3 = 'submitted' then now() end where enrolment_id = $1",
    )
    .bind(enrolment_id)
    .bind(roster_id)
    .bind(status)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    enrolment_id
}

async fn insurer(env: &Env, name: &str, company: i64, region: &str) -> TestAccount {
    env.app
        .account(
            SLUG,
            AccountSpec {
                company_id: Some(company),
                company_name: Some(if company == 1 {
                    "甲保险公司"
                } else {
                    "乙保险公司"
                }),
                ..AccountSpec::new(name, region, &[Role::InsurerCounty])
            },
        )
        .await
}

async fn department(env: &Env, name: &str, region: &str) -> TestAccount {
    env.app
        .account(
            SLUG,
            AccountSpec::new(name, region, &[Role::CountyDepartment]),
        )
        .await
}

/// The shared strings of an XLSX workbook.
fn xlsx_strings(bytes: &[u8]) -> String {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut out = String::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let name = f.name().unwrap().to_string();
        if name.starts_with("xl/") && name.ends_with(".xml") {
            f.read_to_string(&mut out).unwrap();
        }
    }
    out
}

#[tokio::test]
async fn insurer_sees_only_its_company_in_its_subtree() {
    let env = setup().await;
    let app = &env.app;
    let own = school(&env, "钟山区甲校", ZHONGSHAN, "public").await;
    let other_company = school(&env, "钟山区乙校", ZHONGSHAN, "public").await;
    let outside = school(&env, "六枝特区甲校", LIUZHI, "public").await;
    let draft = school(&env, "钟山区草稿校", ZHONGSHAN, "public").await;
    let e_own = enrol(&env, &own, 1, &ids("520201", 3, 1), true).await;
    let e_b = enrol(&env, &other_company, 2, &ids("520201", 2, 2), true).await;
    let e_out = enrol(&env, &outside, 1, &ids("520203", 2, 3), true).await;
    let e_draft = enrol(&env, &draft, 1, &ids("520201", 2, 4), false).await;
    let branch = insurer(&env, "甲保险钟山支公司", 1, ZHONGSHAN).await;
    let s = app.sign_in(SLUG, &branch).await;

    let r = app
        .json_as(&s, "GET", &format!("/api/v1/t/{SLUG}/underwriting"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let listed: Vec<i64> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["enrolment_id"].as_i64().unwrap())
        .collect();
    assert_eq!(listed, vec![e_own]);

    let page = app
        .get_with_cookie(&format!("/t/{SLUG}/underwriting"), &s.cookie)
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert!(page.text().contains("钟山区甲校"));
    assert!(!page.text().contains("钟山区乙校"));
    assert!(!page.text().contains("六枝特区甲校"));

    let before = sql_i64(
        app,
        "select count(*) from audit_log where action = 'access.out_of_scope'",
    )
    .await;
    for id in [e_b, e_out, e_draft] {
        let r = app
            .get_with_cookie(
                &format!("/t/{SLUG}/underwriting/{id}/roster.xlsx"),
                &s.cookie,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "enrolment {id}");
        let r = app
            .json_as(
                &s,
                "GET",
                &format!("/api/v1/t/{SLUG}/underwriting/{id}/roster.xlsx"),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(r.json()["error"]["code"], "not_found");
    }
    let after = sql_i64(
        app,
        "select count(*) from audit_log where action = 'access.out_of_scope'",
    )
    .await;
    assert_eq!(after - before, 6);

    // Received: once, then a conflict.
    let r = app
        .json_as(
            &s,
            "POST",
            &format!("/api/v1/t/{SLUG}/underwriting/{e_own}/received"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["status"], "underwritten");
    let r = app
        .json_as(
            &s,
            "POST",
            &format!("/api/v1/t/{SLUG}/underwriting/{e_own}/received"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.json()["error"]["code"], "already_received");
}

#[tokio::test]
async fn insurer_rosters_are_unmasked_and_departments_masked() {
    let env = setup().await;
    let app = &env.app;
    let own = school(&env, "钟山区下载校", ZHONGSHAN, "public").await;
    let roster = ids("520201", 3, 5);
    let e = enrol(&env, &own, 1, &roster, true).await;
    let branch = insurer(&env, "甲保险钟山支公司", 1, ZHONGSHAN).await;
    let s = app.sign_in(SLUG, &branch).await;
    let r = app
        .get_with_cookie(
            &format!("/t/{SLUG}/underwriting/{e}/roster.xlsx"),
            &s.cookie,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let cd = r.headers["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(cd.contains("filename*=UTF-8''"), "{cd}");
    let text = xlsx_strings(&r.body);
    for id in &roster {
        assert!(
            text.contains(id.as_str()),
            "full ID {id} in the insurer's roster"
        );
    }
    assert_eq!(
        sql_i64(
            app,
            "select count(*) from audit_log where action = 'roster.unmasked_read'"
        )
        .await,
        1
    );

    let dept = department(&env, "钟山区教育局", ZHONGSHAN).await;
    let d = app.sign_in(SLUG, &dept).await;
    let r = app
        .get_with_cookie(&format!("/t/{SLUG}/enrolment/{e}/roster.xlsx"), &d.cookie)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let text = xlsx_strings(&r.body);
    for id in &roster {
        assert!(!text.contains(id.as_str()), "no full ID for a department");
        let masked = format!("{}********{}", &id[..6], &id[14..]);
        assert!(text.contains(&masked), "masked {masked} in {text}");
    }
    assert_eq!(
        sql_i64(
            app,
            "select count(*) from audit_log where action = 'roster.downloaded'"
        )
        .await,
        1
    );

    // A region archive holds the roster.
    let r = app
        .get_with_cookie(
            &format!("/t/{SLUG}/underwriting/archive.zip?region={ZHONGSHAN}"),
            &s.cookie,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(r.body.clone())).unwrap();
    assert_eq!(zip.len(), 1);
    // The streamed archive holds a whole, readable roster.
    let mut xlsx = Vec::new();
    std::io::Read::read_to_end(&mut zip.by_index(0).unwrap(), &mut xlsx).unwrap();
    let mut book = calamine::open_workbook_auto_from_rs(std::io::Cursor::new(xlsx)).unwrap();
    let sheet = calamine::Reader::sheet_names(&book)[0].clone();
    let range = calamine::Reader::worksheet_range(&mut book, &sheet).unwrap();
    assert!(range.rows().count() >= 3, "{} rows", range.rows().count());
}

async fn request(env: &Env, school: &TestAccount, enrolment_id: i64, new_headcount: i32) -> i64 {
    sql_i64(
        &env.app,
        &format!(
            "insert into enrolment_requests (kind, enrolment_id, school_org_id, region_path, \
             new_headcount, reason, reviewer, requested_by) \
             select 'modify', {enrolment_id}, {org}, region_path, {new_headcount}, '新生入学', \
             'department', {acc} from organisations where org_id = {org} returning request_id",
            org = school.org_id,
            acc = school.account_id,
        ),
    )
    .await
}

#[tokio::test]
async fn department_approves_modifications_with_the_rules_premium_change() {
    let env = setup().await;
    let app = &env.app;
    let private = school(&env, "钟山区民办校", ZHONGSHAN, "private").await;
    let public = school(&env, "钟山区公办校", ZHONGSHAN, "public").await;
    let e_private = enrol(&env, &private, 1, &ids("520201", 100, 6), true).await;
    let e_public = enrol(&env, &public, 1, &ids("520201", 50, 7), true).await;
    let q_private = request(&env, &private, e_private, 112).await;
    let q_public = request(&env, &public, e_public, 60).await;

    let dept = department(&env, "钟山区教育局", ZHONGSHAN).await;
    let d = app.sign_in(SLUG, &dept).await;
    let list = app
        .get_with_cookie(&format!("/t/{SLUG}/enrolment/requests"), &d.cookie)
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text());
    assert!(list.text().contains("钟山区民办校"));

    // A form without a decision is answered on the request page, above the form.
    let r = app
        .post_as(
            &d,
            &format!("/t/{SLUG}/enrolment/requests/{q_private}/decision"),
            &[("decision", "")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert!(
        r.text()
            .contains(r#"id="decision_error">请选择通过或不予通过</div>"#),
        "{}",
        r.text()
    );
    assert!(r.text().contains("钟山区民办校"), "{}", r.text());
    let r = app
        .post_as(
            &d,
            &format!("/t/{SLUG}/enrolment/requests/{q_private}/decision"),
            &[("decision", "approve")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    // Deciding again: the page says why, next to the request.
    let again = app
        .post_as(
            &d,
            &format!("/t/{SLUG}/enrolment/requests/{q_private}/decision"),
            &[("decision", "approve")],
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text());
    assert!(
        again.text().contains(r#"id="decision_error">"#),
        "{}",
        again.text()
    );
    // (112 − 100 − ⌊100 × 5 %⌋) × 10 元 = 70 元.
    let expected = (112 - 100 - 100 * 5 / 100) * RATE;
    assert_eq!(
        sql_i64(
            app,
            &format!(
                "select premium_change_fen from enrolment_requests where request_id = {q_private}"
            )
        )
        .await,
        expected
    );
    let page = app
        .get_with_cookie(
            &format!("/t/{SLUG}/enrolment/requests/{q_private}"),
            &d.cookie,
        )
        .await;
    assert!(page.text().contains("70.00"), "{}", page.text());

    let r = app
        .json_as(
            &d,
            "POST",
            &format!("/api/v1/t/{SLUG}/enrolment/requests/{q_public}/decision"),
            Some(serde_json::json!({ "decision": "approve" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["premium_change_fen"], 0);
    // Deciding again is a conflict.
    let r = app
        .json_as(
            &d,
            "POST",
            &format!("/api/v1/t/{SLUG}/enrolment/requests/{q_public}/decision"),
            Some(serde_json::json!({ "decision": "approve" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.json()["error"]["code"], "already_decided");

    // The insurer owes endorsements and issues one.
    let branch = insurer(&env, "甲保险钟山支公司", 1, ZHONGSHAN).await;
    let s = app.sign_in(SLUG, &branch).await;
    let r = app
        .json_as(
            &s,
            "GET",
            &format!("/api/v1/t/{SLUG}/underwriting/endorsements"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let list = r.json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let private_row = list
        .iter()
        .find(|e| e["enrolment_id"] == e_private)
        .unwrap();
    assert_eq!(private_row["status"], "pending");
    assert_eq!(private_row["premium_change_fen"], expected);
    let id = private_row["endorsement_id"].as_i64().unwrap();
    let r = app
        .json_as(
            &s,
            "POST",
            &format!("/api/v1/t/{SLUG}/underwriting/endorsements/{id}/issued"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

#[tokio::test]
async fn county_department_follows_progress_and_reopens() {
    let env = setup().await;
    let app = &env.app;
    let done = school(&env, "钟山区已交校", ZHONGSHAN, "public").await;
    let pending = school(&env, "钟山区未交校", ZHONGSHAN, "public").await;
    enrol(&env, &done, 1, &ids("520201", 4, 8), true).await;
    let dept = department(&env, "钟山区教育局", ZHONGSHAN).await;
    let d = app.sign_in(SLUG, &dept).await;

    let r = app
        .json_as(
            &d,
            "GET",
            &format!("/api/v1/t/{SLUG}/enrolment/progress"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v = r.json();
    let regions = v["regions"].as_array().unwrap();
    assert_eq!(regions.len(), 1);
    assert_eq!(regions[0]["region_code"], ZHONGSHAN);
    assert_eq!(regions[0]["schools"], 2);
    assert_eq!(regions[0]["submitted"], 1);
    assert_eq!(regions[0]["not_submitted"], 1);
    assert_eq!(regions[0]["headcount"], 4);
    assert_eq!(regions[0]["premium_fen"], 4 * RATE);

    let r = app
        .json_as(
            &d,
            "GET",
            &format!("/api/v1/t/{SLUG}/enrolment/progress/not-submitted"),
            None,
        )
        .await;
    let list = r.json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["org_id"], pending.org_id);
    assert!(list[0]["contact_mobile"].as_str().unwrap().contains("****"));

    let page = app
        .get_with_cookie(&format!("/t/{SLUG}/enrolment/progress"), &d.cookie)
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert!(page.text().contains("钟山区未交校"));

    // A region outside the subtree is not found.
    let r = app
        .get_with_cookie(
            &format!("/t/{SLUG}/enrolment/progress?region={LIUZHI}"),
            &d.cookie,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let until = (app.clock.today() + chrono::Duration::days(7)).to_string();
    let r = app
        .post_as(
            &d,
            &format!("/t/{SLUG}/enrolment/schools/{}/reopen", pending.org_id),
            &[("until", &until), ("reason", "补交材料")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let r = app
        .get_with_cookie(
            &format!("/t/{SLUG}/enrolment/progress?done=reopened"),
            &d.cookie,
        )
        .await;
    assert!(
        r.text().contains(r#"id="done">已重新开放。"#),
        "{}",
        r.text()
    );
    // A past date through the form: back to the progress page, which says why.
    let r = app
        .post_as(
            &d,
            &format!("/t/{SLUG}/enrolment/schools/{}/reopen", pending.org_id),
            &[("until", "2000-01-01"), ("reason", "补交材料")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let to = r.headers["location"].to_str().unwrap().to_string();
    assert!(
        to.ends_with("/enrolment/progress?error=bad_reopen_date"),
        "{to}"
    );
    let r = app.get_with_cookie(&to, &d.cookie).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text().contains(r#"id="reopen_error">"#), "{}", r.text());
    // Only the reopen form's own problems are shown; other codes show nothing.
    let r = app
        .get_with_cookie(
            &format!("/t/{SLUG}/enrolment/progress?error=year_not_open"),
            &d.cookie,
        )
        .await;
    assert!(!r.text().contains("reopen_error"), "{}", r.text());
    assert_eq!(
        sql_i64(
            app,
            &format!(
                "select count(*) from audit_log where action = 'enrolment.reopened' \
                 and entity_id = '{}'",
                pending.org_id
            )
        )
        .await,
        1
    );
    // A bad date is refused with the field.
    let r = app
        .json_as(
            &d,
            "POST",
            &format!(
                "/api/v1/t/{SLUG}/enrolment/schools/{}/reopen",
                pending.org_id
            ),
            Some(serde_json::json!({ "until": "2000-01-01", "reason": "补交材料" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(r.json()["error"]["field"], "until");
}

#[tokio::test]
async fn premium_totals_add_up() {
    let env = setup().await;
    let app = &env.app;
    let a = school(&env, "钟山区统计甲校", ZHONGSHAN, "public").await;
    let b = school(&env, "钟山区统计乙校", ZHONGSHAN, "public").await;
    let c = school(&env, "六枝特区统计校", LIUZHI, "public").await;
    enrol(&env, &a, 1, &ids("520201", 3, 9), true).await;
    enrol(&env, &b, 2, &ids("520201", 5, 10), true).await;
    enrol(&env, &c, 1, &ids("520203", 7, 11), true).await;
    let authority = app
        .account(
            SLUG,
            AccountSpec::new("六盘水市教育局", "520200", &[Role::ProgrammeAuthority]),
        )
        .await;
    let s = app.sign_in(SLUG, &authority).await;
    let total = 15 * RATE;
    for by in ["county", "insurer", "programme", "city", "school"] {
        let r = app
            .json_as(
                &s,
                "GET",
                &format!("/api/v1/t/{SLUG}/enrolment/premiums?by={by}"),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{by}: {}", r.text());
        let v = r.json();
        let sum: i64 = v["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["premium_fen"].as_i64().unwrap())
            .sum();
        assert_eq!(sum, total, "{by}");
        assert_eq!(v["totals"][0]["premium_fen"], total, "{by}");
        assert_eq!(v["totals"][0]["headcount"], 15, "{by}");
    }
    let r = app
        .json_as(
            &s,
            "GET",
            &format!("/api/v1/t/{SLUG}/enrolment/premiums?by=insurer"),
            None,
        )
        .await;
    let v = r.json();
    let lines = v["lines"].as_array().unwrap();
    let of = |k: &str| {
        lines
            .iter()
            .find(|l| l["key"] == k)
            .map(|l| l["premium_fen"].as_i64().unwrap())
    };
    assert_eq!(of("1"), Some(10 * RATE));
    assert_eq!(of("2"), Some(5 * RATE));
    let page = app
        .get_with_cookie(
            &format!("/t/{SLUG}/enrolment/premiums?by=county"),
            &s.cookie,
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert!(page.text().contains("150.00"), "{}", page.text());
    let years = app
        .get_with_cookie(&format!("/t/{SLUG}/enrolment/years"), &s.cookie)
        .await;
    assert_eq!(years.status, StatusCode::OK, "{}", years.text());
    assert!(years.text().contains(&env.year));
    let r = app
        .json_as(
            &s,
            "POST",
            &format!("/api/v1/t/{SLUG}/enrolment/years/{}/open", env.year),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.json()["error"]["code"], "year_already_open");
    // A year that is not a year is refused on field `year`, on every route that takes one.
    for path in [
        format!("/api/v1/t/{SLUG}/enrolment/years/2026/open"),
        format!("/api/v1/t/{SLUG}/enrolment/years/2026-2028/open"),
    ] {
        let r = app.json_as(&s, "POST", &path, None).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {}",
            r.text()
        );
        assert_eq!(r.json()["error"]["field"], "year", "{path}");
        assert!(
            r.json()["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("学年")),
            "{path}: {}",
            r.text()
        );
    }
    let r = app
        .json_as(
            &s,
            "GET",
            &format!("/api/v1/t/{SLUG}/enrolment/conflicts?year=abcd-efgh"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(r.json()["error"]["field"], "year");
    let page = app
        .get_with_cookie(
            &format!("/t/{SLUG}/enrolment/conflicts?year=2025-2027"),
            &s.cookie,
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.text().contains("学年的两个年份必须相邻"),
        "{}",
        page.text()
    );
    // The year itself still lists.
    let r = app
        .json_as(
            &s,
            "GET",
            &format!("/api/v1/t/{SLUG}/enrolment/conflicts?year={}", env.year),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

#[tokio::test]
async fn reminders_are_queued_once() {
    let env = setup().await;
    let app = &env.app;
    let pending = school(&env, "钟山区提醒校", ZHONGSHAN, "public").await;
    let tenant = app.db().active_tenant(SLUG).unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let (_, rules) = xiaobao_enrolment::rules_for(&mut tx, env.year.parse().expect("a year"))
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    let days = *rules
        .enrolment()
        .reminder_days_before
        .first()
        .expect("liupanshui rules have reminder days");
    let deadline = rules.deadline(
        xiaobao_domain::Deadline::SchoolEnrolment,
        rules.academic_year(),
    );
    let today = deadline - chrono::Duration::days(i64::from(days));
    let count = async || {
        sql_i64(
            app,
            &format!(
                "select count(*) from notifications where recipient = '{}'",
                pending.mobile.clone().unwrap()
            ),
        )
        .await
    };
    let before = count().await;
    let sent = xiaobao::enrolment_reminders::send_due(app.db(), &tenant, today)
        .await
        .unwrap();
    assert!(sent >= 1);
    assert_eq!(count().await - before, 1);
    let again = xiaobao::enrolment_reminders::send_due(app.db(), &tenant, today)
        .await
        .unwrap();
    assert_eq!(again, 0);
    assert_eq!(count().await - before, 1);
    // A day with no reminder due sends nothing.
    let none = xiaobao::enrolment_reminders::send_due(
        app.db(),
        &tenant,
        today - chrono::Duration::days(1000),
    )
    .await
    .unwrap();
    assert_eq!(none, 0);
}

#[tokio::test]
async fn department_pages_without_an_open_year_show_a_notice() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let dept = app
        .account(
            SLUG,
            AccountSpec::new("钟山区教育局", ZHONGSHAN, &[Role::CountyDepartment]),
        )
        .await;
    let d = app.sign_in(SLUG, &dept).await;
    for page in ["progress", "requests", "premiums"] {
        let r = app
            .get_with_cookie(&format!("/t/{SLUG}/enrolment/{page}"), &d.cookie)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{page}: {}", r.text());
        let html = r.text();
        assert!(
            html.contains("尚未开放投保学年，请由项目管理方在「学年管理」中开放学年。"),
            "{page}: {html}"
        );
        assert!(!html.contains("无法办理"), "{page}: {html}");
    }
    // The insurer's 承保数据 likewise.
    let insurer = app
        .account(
            SLUG,
            AccountSpec {
                company_name: Some("甲保险公司"),
                ..AccountSpec::new("甲保险公司钟山支公司", ZHONGSHAN, &[Role::InsurerCounty])
            },
        )
        .await;
    let i = app.sign_in(SLUG, &insurer).await;
    let r = app
        .get_with_cookie(&format!("/t/{SLUG}/underwriting"), &i.cookie)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(
        r.text()
            .contains("尚未开放投保学年，请由项目管理方在「学年管理」中开放学年。"),
        "{}",
        r.text()
    );
    // The API keeps answering with the problem's code.
    for api in ["progress", "progress/not-submitted", "premiums"] {
        let r = app
            .json_as(
                &d,
                "GET",
                &format!("/api/v1/t/{SLUG}/enrolment/{api}"),
                None,
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{api}: {}",
            r.text()
        );
        assert_eq!(r.json()["error"]["code"], "year_not_open", "{api}");
    }
}

#[tokio::test]
async fn schools_insured_last_year_that_have_not_submitted_are_listed_as_lapsing() {
    let env = setup().await;
    let app = &env.app;
    let last_year = "2024-2025";
    {
        let tenant = app.db().active_tenant(SLUG).unwrap();
        let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
        xiaobao_enrolment::years::open(
            &mut tx,
            last_year.parse().unwrap(),
            &[],
            &xiaobao_audit::Actor::cli("test"),
        )
        .await
        .unwrap()
        .expect("the year before opens");
        tx.commit().await.unwrap();
    }
    let lapsing = school(&env, "钟山区去年投保校", ZHONGSHAN, "public").await;
    let renewed = school(&env, "钟山区已续保校", ZHONGSHAN, "public").await;
    let never = school(&env, "钟山区从未投保校", ZHONGSHAN, "public").await;
    // Both insured last year; only one has submitted this year.
    for (s, seed) in [(&lapsing, 21), (&renewed, 22)] {
        let id = enrol(&env, s, 1, &ids("520201", 2, seed), true).await;
        sql_i64(
            app,
            &format!(
                "with u as (update enrolments set academic_year = '{last_year}' \
                 where enrolment_id = {id} returning 1) select count(*) from u"
            ),
        )
        .await;
    }
    enrol(&env, &renewed, 1, &ids("520201", 2, 23), true).await;

    let dept = department(&env, "钟山区教育局断保", ZHONGSHAN).await;
    let d = app.sign_in(SLUG, &dept).await;
    let r = app
        .json_as(
            &d,
            "GET",
            &format!("/api/v1/t/{SLUG}/enrolment/progress"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["lapsing"], 1, "{}", r.text());
    let r = app
        .json_as(
            &d,
            "GET",
            &format!("/api/v1/t/{SLUG}/enrolment/progress/not-submitted"),
            None,
        )
        .await;
    let list = r.json();
    let flag = |org: i64| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|p| p["org_id"] == org)
            .map(|p| p["insured_last_year"].as_bool().unwrap())
    };
    assert_eq!(flag(lapsing.org_id), Some(true), "{list}");
    assert_eq!(flag(never.org_id), Some(false), "{list}");
    assert_eq!(flag(renewed.org_id), None, "{list}");
    let page = app
        .get_with_cookie(&format!("/t/{SLUG}/enrolment/progress"), &d.cookie)
        .await
        .text();
    assert!(page.contains("id=\"lapsing\""), "{page}");
    assert!(page.contains(&format!("data-lapsing=\"{}\"", lapsing.org_id)));

    // The school sees it on its own page; the renewed one does not.
    let s = app.sign_in(SLUG, &lapsing).await;
    let overview = app
        .get_with_cookie(
            &format!("/api/v1/t/{SLUG}/enrolment/schools/{}", lapsing.org_id),
            &s.cookie,
        )
        .await
        .json();
    assert_eq!(
        overview["lapsing"],
        serde_json::json!(["校方责任险（含附加无过失责任险）"]),
        "{overview}"
    );
    let page = app
        .get_with_cookie(&format!("/t/{SLUG}/enrolment"), &s.cookie)
        .await
        .text();
    assert!(page.contains("enrolment_lapsing"), "{page}");
    let s = app.sign_in(SLUG, &renewed).await;
    let overview = app
        .get_with_cookie(
            &format!("/api/v1/t/{SLUG}/enrolment/schools/{}", renewed.org_id),
            &s.cookie,
        )
        .await
        .json();
    assert_eq!(overview["lapsing"], serde_json::json!([]), "{overview}");
}

#[tokio::test]
async fn before_the_new_year_opens_departments_see_the_previous_years_progress_read_only() {
    let env = setup().await;
    let app = &env.app;
    let done = school(&env, "钟山区上学年已交校", ZHONGSHAN, "public").await;
    school(&env, "钟山区上学年未交校", ZHONGSHAN, "public").await;
    enrol(&env, &done, 1, &ids("520201", 3, 31), true).await;
    let dept = department(&env, "钟山区教育局上一学年", ZHONGSHAN).await;
    let d = app.sign_in(SLUG, &dept).await;
    // 2 September 2026: 2026-2027 contains today and is not open.
    assert!(app.clock.set_china("2026-09-02 09:00"));
    let r = app
        .json_as(
            &d,
            "GET",
            &format!("/api/v1/t/{SLUG}/enrolment/progress"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v = r.json();
    assert_eq!(v["academic_year"], "2025-2026", "{v}");
    assert_eq!(v["not_open_year"], "2026-2027", "{v}");
    assert_eq!(v["regions"][0]["submitted"], 1, "{v}");
    let html = app
        .get_with_cookie(&format!("/t/{SLUG}/enrolment/progress"), &d.cookie)
        .await
        .text();
    assert!(html.contains("id=\"progress_not_open\""), "{html}");
    assert!(html.contains("上一学年 · 2025-2026学年"), "{html}");
    assert!(
        !html.contains("重新开放</button>"),
        "no reopening of a past year: {html}"
    );
}
