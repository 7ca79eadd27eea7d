//! 项目规则: the authority changes its rules, a second authority account approves (maker-checker):
//! the round trip through the API and the pages, self-decision refused, a refusal with and
//! without a reason, field-level validation, a stale proposal, what a change means for a
//! submitted enrolment, and who may not see any of it.

use axum::http::StatusCode;
use serde_json::json;
use xiaobao_domain::Role;
use xiaobao_domain::resident_id::check_char;
use xiaobao_test_support::{AccountSpec, SignedInSession, TestAccount, TestApp};

const SLUG: &str = "liupanshui";
const YEAR: &str = "2025-2026";
const ROOT: &str = "520200";
const ZHONGSHAN: &str = "520201";
const RATE: &str = "products[1].rates[1].rate_fen";
const SETTLE: &str = "claims.settle_tiers[1].working_days";

struct Env {
    app: TestApp,
    maker: SignedInSession,
    checker: SignedInSession,
    maker_account: TestAccount,
}

async fn setup() -> Env {
    let app = TestApp::init().await.with_demo_tenants().await;
    app.open_enrolment_year(SLUG, &[(1, "甲保险公司", ROOT)])
        .await;
    let maker_account = app
        .account(
            SLUG,
            AccountSpec::new("规则经办人", ROOT, &[Role::ProgrammeAuthority]),
        )
        .await;
    let checker_account = app
        .account(
            SLUG,
            AccountSpec::new("规则复核人", ROOT, &[Role::ProgrammeAuthority]),
        )
        .await;
    let maker = app.sign_in(SLUG, &maker_account).await;
    let checker = app.sign_in(SLUG, &checker_account).await;
    Env {
        app,
        maker,
        checker,
        maker_account,
    }
}

fn api(path: &str) -> String {
    format!("/api/v1/t/{SLUG}/{path}")
}

async fn propose(env: &Env, s: &SignedInSession, body: serde_json::Value) -> serde_json::Value {
    let r = env
        .app
        .json_as(
            s,
            "POST",
            &api(&format!("rules/{YEAR}/proposals")),
            Some(body),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()
}

async fn public_rules(env: &Env) -> serde_json::Value {
    let r = env.app.get(&api(&format!("rules/{YEAR}"))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

async fn scalar_i64(env: &Env, sql: &str) -> i64 {
    let tenant = env.app.db().active_tenant(SLUG).unwrap();
    let mut tx = env.app.db().tenant_tx(&tenant).await.unwrap();
    let v: i64 = sqlx::query_scalar(sql).fetch_one(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
    v
}

/// A school's enrolment of 3 pupils submitted through the API at the rate in force; its id and
/// the school's session.
async fn submitted_enrolment(env: &Env) -> (i64, SignedInSession, i64) {
    let app = &env.app;
    let school = app
        .account(
            SLUG,
            AccountSpec::new("钟山区规则测试小学", ZHONGSHAN, &[Role::School]),
        )
        .await;
    let s = app.sign_in(SLUG, &school).await;
    let r = app
        .json_as(
            &s,
            "PUT",
            &api(&format!(
                "enrolment/schools/{}/products/school_liability",
                school.org_id
            )),
            Some(json!({"headcount": 3, "company_id": 1})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let eid = r.json()["enrolment_id"].as_i64().unwrap();
    let mut csv = String::from("学生姓名,性别,班级,身份证号,学籍号,备注\n");
    for (i, name) in ["学生甲", "学生乙", "学生丙"].iter().enumerate() {
        let first17 = format!("52020120160315{:03}", 2 * i + 1);
        let id = format!("{first17}{}", check_char(&first17));
        csv.push_str(&format!("{name},男,三年级(2)班,{id},,\n"));
    }
    let boundary = "xbrulesboundary0123456789";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"headcount\"\r\n\r\n3\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"roster.csv\"\r\n\
         Content-Type: text/csv\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(csv.as_bytes());
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let request = axum::http::Request::post(api(&format!("enrolment/{eid}/roster")))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .header("cookie", &s.cookie)
        .header("x-csrf-token", &s.csrf)
        .body(axum::body::Body::from(body))
        .unwrap();
    let r = app.request(request).await;
    assert!(r.status.is_success(), "{} {}", r.status, r.text());
    let r = app
        .json_as(&s, "POST", &api(&format!("enrolment/{eid}/submit")), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["premium_fen"], 3000);
    (eid, s, school.org_id)
}

#[tokio::test]
async fn a_rule_change_takes_effect_only_when_a_second_authority_account_approves_it() {
    let env = setup().await;
    let app = &env.app;
    let (enrolment, school, school_org) = submitted_enrolment(&env).await;

    // The year's rules and its editable fields.
    let r = app.json_as(&env.maker, "GET", &api("rules"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let years = r.json();
    let year = years
        .as_array()
        .unwrap()
        .iter()
        .find(|y| y["academic_year"] == YEAR)
        .expect("the year is listed");
    assert_eq!(year["version"], 1);
    assert!(year["pending_proposal_id"].is_null());
    let r = app
        .json_as(
            &env.maker,
            "GET",
            &api(&format!("rules/{YEAR}/fields")),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let fields = r.json();
    let rate = fields
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == RATE)
        .expect("the rate field");
    assert_eq!(rate["value"], "1000");

    // Proposed: a rate and a settle tier.
    let p = propose(
        &env,
        &env.maker,
        json!({"changes": {RATE: 1200, SETTLE: 4}, "reason": "财政预算调整"}),
    )
    .await;
    let id = p["proposal_id"].as_i64().unwrap();
    assert_eq!(p["status"], "pending");
    assert_eq!(p["base_version"], 1);
    assert_eq!(p["mine"], true);
    assert_eq!(p["may_decide"], false);

    // Not in force yet; the proposer cannot approve it; a second proposal waits.
    assert_eq!(
        public_rules(&env).await["rules"]["products"][0]["rates"][0]["rate_fen"],
        1000
    );
    let r = app
        .json_as(
            &env.maker,
            "POST",
            &api(&format!("rule-proposals/{id}/approve")),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "self_decision");
    let r = app
        .json_as(
            &env.checker,
            "POST",
            &api(&format!("rules/{YEAR}/proposals")),
            Some(json!({"changes": {RATE: 900}, "reason": "另一项修改"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "proposal_pending");

    // The checker sees the difference, field by field, and approves.
    let r = app
        .json_as(
            &env.checker,
            "GET",
            &api(&format!("rule-proposals/{id}")),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let detail = r.json();
    assert_eq!(detail["proposal"]["may_decide"], true);
    assert_eq!(detail["stale"], false);
    let changes: Vec<(String, String, String)> = detail["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["path"].as_str().unwrap().to_string(),
                c["before"].as_str().unwrap().to_string(),
                c["after"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        [
            (RATE.to_string(), "1000".to_string(), "1200".to_string()),
            (SETTLE.to_string(), "5".to_string(), "4".to_string()),
        ]
    );
    assert!(
        detail["document"]
            .as_str()
            .unwrap()
            .contains("rate_fen = 1200")
    );
    let r = app
        .json_as(
            &env.checker,
            "POST",
            &api(&format!("rule-proposals/{id}/approve")),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let approved = r.json();
    assert_eq!(approved["status"], "approved");
    assert_eq!(approved["version"], 2);
    assert_eq!(approved["decided_by_name"], "规则复核人");

    // In force as version 2, with who and why.
    let public = public_rules(&env).await;
    assert_eq!(public["version"], 2);
    assert_eq!(public["rules"]["products"][0]["rates"][0]["rate_fen"], 1200);
    assert_eq!(
        public["rules"]["claims"]["settle_tiers"][0]["working_days"],
        4
    );
    let r = app
        .json_as(
            &env.maker,
            "GET",
            &api(&format!("rules/{YEAR}/versions")),
            None,
        )
        .await;
    let history = r.json();
    assert_eq!(history["current"]["version"], 2);
    assert_eq!(history["current"]["change_reason"], "财政预算调整");
    assert_eq!(
        history["current"]["changed_by"],
        "规则经办人提出，规则复核人审核"
    );
    assert_eq!(history["versions"].as_array().unwrap().len(), 2);
    // A second approval of the same proposal is refused.
    let r = app
        .json_as(
            &env.checker,
            "POST",
            &api(&format!("rule-proposals/{id}/approve")),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "proposal_decided");

    // Both steps audited, by their own accounts.
    let proposed = scalar_i64(
        &env,
        &format!(
            "select count(*) from audit_log where action = 'rules.proposed' and entity_id = '{id}' \
             and actor_account_id = {}",
            env.maker_account.account_id
        ),
    )
    .await;
    assert_eq!(proposed, 1);
    let approved = scalar_i64(
        &env,
        &format!(
            "select count(*) from audit_log where action = 'rules.approved' and entity_id = '{id}' \
             and actor_account_id <> {}",
            env.maker_account.account_id
        ),
    )
    .await;
    assert_eq!(approved, 1);

    // What is recorded stays as it was: the submitted enrolment keeps its premium.
    let premium = scalar_i64(
        &env,
        &format!("select premium_fen from enrolments where enrolment_id = {enrolment}"),
    )
    .await;
    assert_eq!(premium, 3000);
    // A school that enrols now is priced by the new rate.
    let r = app
        .json_as(
            &school,
            "GET",
            &api(&format!("enrolment/schools/{school_org}")),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let overview = r.json();
    assert_eq!(overview["products"][0]["rate_fen"], 1200, "{overview}");
    assert_eq!(overview["products"][0]["enrolments"][0]["rate_fen"], 1000);
    assert_eq!(
        overview["products"][0]["enrolments"][0]["premium_fen"],
        3000
    );
    drop(env);
}

#[tokio::test]
async fn refusals_need_a_reason_and_every_bad_input_names_its_field() {
    let env = setup().await;
    let app = &env.app;
    let post = |s: &SignedInSession, body: serde_json::Value| {
        let s = s.clone();
        async move {
            app.json_as(
                &s,
                "POST",
                &api(&format!("rules/{YEAR}/proposals")),
                Some(body),
            )
            .await
        }
    };
    // Field-level problems: the field is the path, the message Chinese.
    let r = post(
        &env.maker,
        json!({"changes": {RATE: "十元"}, "reason": "调整"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(r.json()["error"]["field"], RATE);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("不是整数")
    );
    let r = post(
        &env.maker,
        json!({"changes": {"claims.prepayment.percent": 150}, "reason": "调整"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "rules_invalid");
    assert_eq!(r.json()["error"]["field"], "claims.prepayment.percent");
    let r = post(
        &env.maker,
        json!({"changes": {"products[7].name": "x"}, "reason": "调整"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(r.json()["error"]["field"], "products[7].name");
    let r = post(
        &env.maker,
        json!({"changes": {RATE: 1000}, "reason": "没有修改"}),
    )
    .await;
    assert_eq!(r.json()["error"]["code"], "rules_unchanged");
    let r = post(&env.maker, json!({"changes": {RATE: 1100}, "reason": "  "})).await;
    assert_eq!(r.json()["error"]["field"], "reason");
    let r = post(&env.maker, json!({"reason": "都没有"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(r.json()["error"]["field"], "document");
    // A whole document of another year, and one that does not parse.
    let other_year = xiaobao_domain::demo_rules("liupanshui").unwrap();
    let r = post(
        &env.maker,
        json!({"document": other_year.replace("2025-2026", "2027-2028"), "reason": "整体修改"}),
    )
    .await;
    assert_eq!(r.json()["error"]["code"], "rules_wrong_year");
    let r = post(
        &env.maker,
        json!({"document": "academic_year = ", "reason": "整体修改"}),
    )
    .await;
    assert_eq!(r.json()["error"]["code"], "rules_syntax");
    assert_eq!(r.json()["error"]["field"], "document");

    // A refusal needs a reason; with one, the proposal is refused and nothing changes.
    let p = propose(
        &env,
        &env.maker,
        json!({"changes": {RATE: 1500}, "reason": "提高费率"}),
    )
    .await;
    let id = p["proposal_id"].as_i64().unwrap();
    let refuse = |s: &SignedInSession, reason: &str| {
        let s = s.clone();
        let body = json!({"reason": reason});
        async move {
            app.json_as(
                &s,
                "POST",
                &api(&format!("rule-proposals/{id}/refuse")),
                Some(body),
            )
            .await
        }
    };
    let r = refuse(&env.checker, "").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(r.json()["error"]["field"], "reason");
    let r = refuse(&env.maker, "自己退回").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let r = refuse(&env.checker, "费率调整须经财政部门确认").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["status"], "refused");
    assert_eq!(r.json()["decision_reason"], "费率调整须经财政部门确认");
    assert_eq!(public_rules(&env).await["version"], 1);
    // Decided: a new proposal may follow.
    propose(
        &env,
        &env.checker,
        json!({"changes": {RATE: 1100}, "reason": "另一方案"}),
    )
    .await;
    drop(env);
}

#[tokio::test]
async fn a_proposal_written_against_an_older_version_cannot_be_approved() {
    let env = setup().await;
    let app = &env.app;
    let p = propose(
        &env,
        &env.maker,
        json!({"changes": {RATE: 1300}, "reason": "调整"}),
    )
    .await;
    let id = p["proposal_id"].as_i64().unwrap();
    // Meanwhile the operator's command stores a version.
    let tenant = app.db().active_tenant(SLUG).unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let doc = xiaobao_domain::demo_rules("liupanshui").unwrap().replace(
        "report_answer_working_days = 1",
        "report_answer_working_days = 2",
    );
    xiaobao_db::rules::save_version(&mut tx, YEAR, &doc, "cli", "运维导入")
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let r = app
        .json_as(
            &env.checker,
            "GET",
            &api(&format!("rule-proposals/{id}")),
            None,
        )
        .await;
    assert_eq!(r.json()["stale"], true);
    let r = app
        .json_as(
            &env.checker,
            "POST",
            &api(&format!("rule-proposals/{id}/approve")),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "proposal_stale");
    assert_eq!(public_rules(&env).await["version"], 2);
    // Only its proposer withdraws it.
    let r = app
        .json_as(
            &env.checker,
            "POST",
            &api(&format!("rule-proposals/{id}/withdraw")),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "not_proposer");
    let r = app
        .json_as(
            &env.maker,
            "POST",
            &api(&format!("rule-proposals/{id}/withdraw")),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["status"], "withdrawn");
    let r = app
        .json_as(&env.maker, "GET", &api("rule-proposals/999999"), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    drop(env);
}

#[tokio::test]
async fn departments_schools_and_insurers_see_no_rules_administration() {
    let env = setup().await;
    let app = &env.app;
    let p = propose(
        &env,
        &env.maker,
        json!({"changes": {RATE: 1300}, "reason": "调整"}),
    )
    .await;
    let id = p["proposal_id"].as_i64().unwrap();
    for (name, region, role) in [
        ("钟山区教育局规则", ZHONGSHAN, Role::CountyDepartment),
        ("钟山区规则小学", ZHONGSHAN, Role::School),
    ] {
        let account = app
            .account(SLUG, AccountSpec::new(name, region, &[role]))
            .await;
        let s = app.sign_in(SLUG, &account).await;
        for path in [api("rules"), api(&format!("rule-proposals/{id}"))] {
            let r = app.json_as(&s, "GET", &path, None).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{role:?} {path}");
        }
        let r = app
            .json_as(
                &s,
                "POST",
                &api(&format!("rule-proposals/{id}/approve")),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{role:?}");
        let r = app
            .get_with_cookie(&format!("/t/{SLUG}/rules"), &s.cookie)
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{role:?}");
    }
    drop(env);
}

#[tokio::test]
async fn the_pages_propose_show_the_difference_and_approve() {
    let env = setup().await;
    let app = &env.app;
    let page = |s: &SignedInSession, path: String| {
        let cookie = s.cookie.clone();
        async move { app.get_with_cookie(&path, &cookie).await }
    };
    let r = page(&env.maker, format!("/t/{SLUG}/rules")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.text().contains(&format!("id=\"rules_year_{YEAR}\"")),
        "{}",
        r.text()
    );
    let r = page(&env.maker, format!("/t/{SLUG}/rules/{YEAR}")).await;
    assert!(r.text().contains("rules_current_version"));
    assert!(r.text().contains("第1版"));
    let r = page(&env.maker, format!("/t/{SLUG}/rules/{YEAR}/edit")).await;
    assert_eq!(r.status, StatusCode::OK);
    let form = r.text();
    assert!(form.contains(&format!("name=\"f:{RATE}\"")), "{form}");
    assert!(form.contains("费率（分/人/年）"));

    let edit = format!("/t/{SLUG}/rules/{YEAR}/edit");
    let rate_field = format!("f:{RATE}");
    let settle_field = format!("f:{SETTLE}");
    // A wrong value is shown beside its field, the form keeps what was typed.
    let r = app
        .post_as(
            &env.maker,
            &edit,
            &[
                ("mode", "fields"),
                (&rate_field, "十元"),
                ("reason", "调整"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let text = r.text();
    assert!(text.contains("“十元”不是整数"), "{text}");
    assert!(text.contains("value=\"十元\""));
    // Without a reason.
    let r = app
        .post_as(
            &env.maker,
            &edit,
            &[("mode", "fields"), (&rate_field, "1200")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().contains("reason_error"));
    // Proposed.
    let r = app
        .post_as(
            &env.maker,
            &edit,
            &[
                ("mode", "fields"),
                (&rate_field, "1200"),
                (&settle_field, "4"),
                ("reason", "财政预算调整"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let location = r.headers["location"].to_str().unwrap().to_string();
    assert!(location.contains("/rule-proposals/"), "{location}");
    let proposal_path = location.split('?').next().unwrap().to_string();
    let own = page(&env.maker, location.clone()).await.text();
    assert!(own.contains("proposal_own"), "{own}");
    assert!(!own.contains("approve_button"));

    // The checker sees both values side by side and approves.
    let theirs = page(&env.checker, proposal_path.clone()).await.text();
    assert!(
        theirs.contains(&format!("data-path=\"{RATE}\"")),
        "{theirs}"
    );
    assert!(
        theirs.contains("<td class=\"diff-before\">1000</td><td class=\"diff-after\">1200</td>")
    );
    assert!(theirs.contains("approve_button"));
    let r = app
        .post_as(&env.checker, &format!("{proposal_path}/approve"), &[])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let done = page(&env.checker, format!("{proposal_path}?done=approved"))
        .await
        .text();
    assert!(done.contains("已生效（第2版）"), "{done}");
    // The version page shows what changed from version 1.
    let v = page(&env.maker, format!("/t/{SLUG}/rules/{YEAR}/versions/2")).await;
    assert_eq!(v.status, StatusCode::OK);
    assert!(v.text().contains("与第1版的差异"));
    assert!(v.text().contains(&format!("data-path=\"{SETTLE}\"")));
    assert_eq!(
        public_rules(&env).await["rules"]["products"][0]["rates"][0]["rate_fen"],
        1200
    );
    // A missing version, a malformed year.
    let r = page(&env.maker, format!("/t/{SLUG}/rules/{YEAR}/versions/9")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = page(&env.maker, format!("/t/{SLUG}/rules/20x5/edit")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    drop(env);
}

#[tokio::test]
async fn a_new_year_starts_as_a_copy_of_the_year_before_approved_then_opened() {
    let env = setup().await;
    let app = &env.app;
    let next = "2026-2027";
    let page = |s: &SignedInSession, path: String| {
        let cookie = s.cookie.clone();
        async move { app.get_with_cookie(&path, &cookie).await }
    };
    // 开启新学年 on the list, the form prefilled from 2025-2026.
    let list = page(&env.maker, format!("/t/{SLUG}/rules")).await.text();
    assert!(
        list.contains(&format!(
            "href=\"/t/{SLUG}/rules/{next}/edit\" id=\"rules_roll_over\""
        )),
        "{list}"
    );
    let form = page(&env.maker, format!("/t/{SLUG}/rules/{next}/edit")).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.text());
    let form = form.text();
    assert!(form.contains("rules_copied"), "{form}");
    assert!(
        form.contains(&format!("value=\"{next}\" readonly")),
        "{form}"
    );
    let r = app
        .json_as(
            &env.maker,
            "GET",
            &api(&format!("rules/{next}/draft")),
            None,
        )
        .await;
    assert_eq!(r.json()["copied_from"], YEAR, "{}", r.text());
    assert!(r.json()["version"].is_null());

    let rate_field = format!("f:{RATE}");
    let r = app
        .post_as(
            &env.maker,
            &format!("/t/{SLUG}/rules/{next}/edit"),
            &[
                ("mode", "fields"),
                (&rate_field, "1100"),
                ("reason", "开启新学年"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let location = r.headers["location"].to_str().unwrap().to_string();
    let id: i64 = location
        .rsplit('/')
        .next()
        .and_then(|s| s.split('?').next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    // Compared with the year it was copied from: the year and the rate differ.
    let r = app
        .json_as(
            &env.checker,
            "GET",
            &api(&format!("rule-proposals/{id}")),
            None,
        )
        .await;
    let detail = r.json();
    assert_eq!(detail["base_label"], format!("{YEAR}学年（第1版）"));
    let paths: Vec<&str> = detail["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["academic_year", RATE], "{detail}");
    let r = app
        .json_as(
            &env.checker,
            "POST",
            &api(&format!("rule-proposals/{id}/approve")),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["version"], 1);
    let r = app.get(&api(&format!("rules/{next}"))).await;
    assert_eq!(
        r.json()["rules"]["products"][0]["rates"][0]["rate_fen"],
        1100
    );
    // Then the year opens for enrolment, with the admissions its rules carry.
    let r = app
        .json_as(
            &env.maker,
            "POST",
            &api(&format!("enrolment/years/{next}/open")),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let list = page(&env.maker, format!("/t/{SLUG}/rules")).await.text();
    assert!(list.contains("开启 2027-2028 学年"), "{list}");
    drop(env);
}

#[tokio::test]
async fn with_a_single_authority_account_the_platform_operator_approves() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let only = app
        .account(
            SLUG,
            AccountSpec::new("唯一主管账号", ROOT, &[Role::ProgrammeAuthority]),
        )
        .await;
    let s = app.sign_in(SLUG, &only).await;
    let r = app
        .json_as(
            &s,
            "POST",
            &api(&format!("rules/{YEAR}/proposals")),
            Some(json!({"changes": {RATE: 1150}, "reason": "调整费率"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let id = xiaobao_domain::ids::RulesProposalId(r.json()["proposal_id"].as_i64().unwrap());
    let tenant = app.db().active_tenant(SLUG).unwrap();
    let (year, version) = xiaobao_programme::approve_as_operator(app.db(), &tenant, id, "张运维")
        .await
        .unwrap();
    assert_eq!((year.to_string().as_str(), version), (YEAR, 2));
    let r = app
        .json_as(&s, "GET", &api(&format!("rule-proposals/{id}")), None)
        .await;
    assert_eq!(
        r.json()["proposal"]["decided_by_name"],
        "平台运营方（张运维）"
    );
    assert_eq!(
        app.get(&api(&format!("rules/{YEAR}"))).await.json()["rules"]["products"][0]["rates"][0]["rate_fen"],
        1150
    );
    // With a second authority account the operator does not approve.
    app.account(
        SLUG,
        AccountSpec::new("第二主管账号", ROOT, &[Role::ProgrammeAuthority]),
    )
    .await;
    let r = app
        .json_as(
            &s,
            "POST",
            &api(&format!("rules/{YEAR}/proposals")),
            Some(json!({"changes": {RATE: 1250}, "reason": "再次调整"})),
        )
        .await;
    let id = xiaobao_domain::ids::RulesProposalId(r.json()["proposal_id"].as_i64().unwrap());
    let refused = xiaobao_programme::approve_as_operator(app.db(), &tenant, id, "张运维")
        .await
        .unwrap_err();
    assert_eq!(refused.refusal().unwrap().code, "operator_not_needed");
}
