//! 准入保险公司 and 赔偿项目 in the rules: Liupanshui's tender lots edited through the API and the
//! page as rules proposals, approved by a second authority account, the opened year's
//! admissions following (a school in 钟山区 sees lot B's new insurer, one in 盘州市 does not);
//! an admission an enrolment uses cannot be removed; the new year's draft carries a tender
//! that still runs and drops one that ended; compensation items edited in the rules form.

use axum::http::StatusCode;
use serde_json::json;
use xiaobao_domain::Role;
use xiaobao_test_support::{AccountSpec, SignedInSession, TestApp};

const SLUG: &str = "liupanshui";
const YEAR: &str = "2025-2026";
const ROOT: &str = "520200";
const ZHONGSHAN: &str = "520201";
const PANZHOU: &str = "520281";
const PICC: &str = "中国人民财产保险股份有限公司";
const CPIC: &str = "中国太平洋财产保险股份有限公司";
const PINGAN: &str = "中国平安财产保险股份有限公司";

struct Env {
    app: TestApp,
    maker: SignedInSession,
    checker: SignedInSession,
    pingan: i64,
}

async fn setup() -> Env {
    let app = TestApp::init().await.with_demo_tenants().await;
    // Opened with the demo rules' lots: PICC for lot A, CPIC for lot B.
    app.open_enrolment_year(SLUG, &[]).await;
    let pingan = xiaobao_identity::companies::ensure(
        app.db().clusters.main(),
        "insurer",
        PINGAN,
        "平安产险",
    )
    .await
    .unwrap()
    .company_id;
    let mut sessions = Vec::new();
    for name in ["准入经办人", "准入复核人"] {
        let a = app
            .account(
                SLUG,
                AccountSpec::new(name, ROOT, &[Role::ProgrammeAuthority]),
            )
            .await;
        sessions.push(app.sign_in(SLUG, &a).await);
    }
    let checker = sessions.pop().unwrap();
    let maker = sessions.pop().unwrap();
    Env {
        app,
        maker,
        checker,
        pingan,
    }
}

fn api(path: &str) -> String {
    format!("/api/v1/t/{SLUG}/{path}")
}

fn lot_a() -> serde_json::Value {
    json!({"company": PICC, "regions": ["520203", PANZHOU], "lot": "A标段", "tender_years": "2025-2028"})
}

fn lot_b(company: &str) -> serde_json::Value {
    json!({"company": company, "regions": ["520204", ZHONGSHAN, "520299"], "lot": "B标段", "tender_years": "2025-2028"})
}

async fn put_insurers(env: &Env, entries: serde_json::Value) -> (StatusCode, serde_json::Value) {
    let r = env
        .app
        .json_as(
            &env.maker,
            "PUT",
            &api(&format!("rules/{YEAR}/insurers")),
            Some(json!({"entries": entries, "reason": "B标段中标人变更"})),
        )
        .await;
    (r.status, r.json())
}

async fn approve(env: &Env, id: i64) {
    let r = env
        .app
        .json_as(
            &env.checker,
            "POST",
            &api(&format!("rule-proposals/{id}/approve")),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

/// The companies a new school in `region` may choose.
async fn school_insurers(env: &Env, name: &str, region: &str) -> Vec<String> {
    let school = env
        .app
        .account(SLUG, AccountSpec::new(name, region, &[Role::School]))
        .await;
    let s = env.app.sign_in(SLUG, &school).await;
    let r = env
        .app
        .get_with_cookie(
            &api(&format!("enrolment/schools/{}", school.org_id)),
            &s.cookie,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()["insurers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

async fn admitted(env: &Env) -> Vec<(String, String)> {
    let tenant = env.app.db().active_tenant(SLUG).unwrap();
    let mut tx = env.app.db().tenant_tx(&tenant).await.unwrap();
    let rows: Vec<(String, String)> = sqlx::query_as(
        "select company_name, region_code from admitted_insurers where academic_year = $1 \
         order by company_name, region_code",
    )
    .bind(YEAR)
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    rows
}

#[tokio::test]
async fn lot_b_changes_insurer_through_the_api_and_the_opened_year_follows() {
    let env = setup().await;
    let app = &env.app;
    // The lots as the demo rules list them, with region names.
    let r = app
        .get_with_cookie(&api(&format!("rules/{YEAR}/insurers")), &env.maker.cookie)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let view = r.json();
    assert_eq!(view["opened"], true);
    assert_eq!(view["entries"][0]["lot"], "A标段");
    assert_eq!(view["entries"][0]["regions"][1]["name"], "盘州市");
    assert_eq!(view["entries"][1]["company"], CPIC);
    assert_eq!(view["entries"][1]["regions"][2]["name"], "市直");
    assert!(
        view["companies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == PINGAN)
    );
    assert!(school_insurers(&env, "钟山区准入前小学", ZHONGSHAN).await == [CPIC]);

    // Unknown company, overlapping lots and no reason are refused with Chinese messages.
    let (status, body) = put_insurers(&env, json!([lot_a(), lot_b("某某保险公司")])).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "unknown_company");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("某某保险公司")
    );
    let overlapping = json!({"company": PINGAN, "regions": [PANZHOU], "lot": "B标段", "tender_years": "2025-2028"});
    let (status, body) = put_insurers(&env, json!([lot_a(), lot_b(CPIC), overlapping])).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "enrolment.insurers[3].regions");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("不同标段的区域不能重叠"),
        "{body}"
    );

    // Lot B goes to 平安; a second authority account approves.
    let (status, body) = put_insurers(&env, json!([lot_a(), lot_b(PINGAN)])).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["proposal_id"].as_i64().unwrap();
    let detail = app
        .get_with_cookie(&api(&format!("rule-proposals/{id}")), &env.checker.cookie)
        .await
        .json();
    let changes = detail["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{detail}");
    assert_eq!(changes[0]["path"], "enrolment.insurers[2].company");
    assert_eq!(changes[0]["before"], CPIC);
    assert_eq!(changes[0]["after"], PINGAN);
    assert!(
        detail["document"]
            .as_str()
            .unwrap()
            .contains("# B标段：水城区、钟山区、市直各学校"),
        "comments kept"
    );
    // Not yet in force.
    assert!(admitted(&env).await.iter().any(|(c, _)| c == CPIC));
    approve(&env, id).await;

    let rows = admitted(&env).await;
    assert!(!rows.iter().any(|(c, _)| c == CPIC), "{rows:?}");
    assert!(rows.contains(&(PINGAN.to_string(), ZHONGSHAN.to_string())));
    assert!(rows.contains(&(PINGAN.to_string(), "520299".to_string())));
    assert_eq!(
        school_insurers(&env, "钟山区准入后小学", ZHONGSHAN).await,
        [PINGAN]
    );
    assert_eq!(
        school_insurers(&env, "盘州市准入后小学", PANZHOU).await,
        [PICC]
    );
    // Audited.
    let tenant = app.db().active_tenant(SLUG).unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let audited: i64 = sqlx::query_scalar(
        "select count(*) from audit_log where action = 'enrolment.admissions_changed'",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(audited, 1);
    let _ = env.pingan;
    env.app.cleanup().await;
}

#[tokio::test]
async fn the_page_lists_the_lots_and_proposes_an_added_insurer() {
    let env = setup().await;
    let app = &env.app;
    let year_page = app
        .get_with_cookie(&format!("/t/{SLUG}/rules/{YEAR}"), &env.maker.cookie)
        .await;
    assert!(year_page.text().contains(&format!("rules/{YEAR}/insurers")));
    let page = app
        .get_with_cookie(
            &format!("/t/{SLUG}/rules/{YEAR}/insurers"),
            &env.maker.cookie,
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let html = page.text();
    assert!(html.contains("准入保险公司"));
    assert!(html.contains("B标段"));
    assert!(html.contains("六枝特区、盘州市"), "region names, not codes");
    assert!(html.contains("六盘水市（全部）"));
    assert!(html.contains(&format!("<option value=\"{PINGAN}\">")));

    let form = |reason: &'static str| -> Vec<(&'static str, &'static str)> {
        vec![
            ("e1.company", PICC),
            ("e1.lot", "A标段"),
            ("e1.tender_years", "2025-2028"),
            ("e1.regions", "520203"),
            ("e1.regions", PANZHOU),
            ("e2.company", CPIC),
            ("e2.lot", "B标段"),
            ("e2.tender_years", "2025-2028"),
            ("e2.regions", "520204"),
            ("e2.regions", ZHONGSHAN),
            ("e2.regions", "520299"),
            // The new row: 平安 as a second insurer of lot B in 市直.
            ("e3.company", PINGAN),
            ("e3.lot", "B标段"),
            ("e3.tender_years", "2025-2028"),
            ("e3.regions", "520299"),
            ("reason", reason),
        ]
    };
    let uri = format!("/t/{SLUG}/rules/{YEAR}/insurers");
    // Without a reason: the form again, in Chinese, with what was typed.
    let r = app.post_as(&env.maker, &uri, &form("")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().contains("请填写修改原因"));
    // A wrong tender period names its row.
    let mut bad = form("新增市直共保");
    bad[13] = ("e3.tender_years", "2028-2025");
    let r = app.post_as(&env.maker, &uri, &bad).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .contains("第3项：招标期限“2028-2025”的结束年应晚于起始年"),
        "{}",
        r.text()
    );

    let r = app.post_as(&env.maker, &uri, &form("新增市直共保")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let location = r.headers["location"].to_str().unwrap().to_string();
    let id: i64 = location
        .split("rule-proposals/")
        .nth(1)
        .and_then(|rest| rest.split('?').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    let proposal = app.get_with_cookie(&location, &env.checker.cookie).await;
    assert!(proposal.text().contains("准入保险公司3 · 保险公司"));
    let r = app
        .post_as(
            &env.checker,
            &format!("/t/{SLUG}/rule-proposals/{id}/approve"),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let rows = admitted(&env).await;
    assert!(rows.contains(&(PINGAN.to_string(), "520299".to_string())));
    assert!(rows.contains(&(CPIC.to_string(), "520299".to_string())));
    let mut shizhi = school_insurers(&env, "市直共保测试中学", "520299").await;
    shizhi.sort();
    assert_eq!(shizhi, [CPIC, PINGAN]);
    assert_eq!(
        school_insurers(&env, "钟山区共保测试小学", ZHONGSHAN).await,
        [CPIC]
    );
    env.app.cleanup().await;
}

#[tokio::test]
async fn an_admission_an_enrolment_uses_cannot_be_removed() {
    let env = setup().await;
    let app = &env.app;
    let cpic = xiaobao_identity::companies::ensure(app.db().clusters.main(), "insurer", CPIC, CPIC)
        .await
        .unwrap()
        .company_id;
    let school = app
        .account(
            SLUG,
            AccountSpec::new("钟山区已投保小学", ZHONGSHAN, &[Role::School]),
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
            Some(json!({"headcount": 3, "company_id": cpic})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());

    let (status, body) = put_insurers(&env, json!([lot_a(), lot_b(PINGAN)])).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "admission_in_use");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(CPIC) && message.contains("钟山区"),
        "{message}"
    );
    // Nothing proposed, nothing changed.
    let year = app
        .get_with_cookie(&api(&format!("rules/{YEAR}/versions")), &env.maker.cookie)
        .await
        .json();
    assert!(year["proposals"].as_array().unwrap().is_empty(), "{year}");
    // Through the page: the same refusal beside the form.
    let r = app
        .post_as(
            &env.maker,
            &format!("/t/{SLUG}/rules/{YEAR}/insurers"),
            &[
                ("e1.company", PICC),
                ("e1.lot", "A标段"),
                ("e1.tender_years", "2025-2028"),
                ("e1.regions", "520203"),
                ("e1.regions", PANZHOU),
                ("e2.company", CPIC),
                ("e2.remove", "1"),
                ("reason", "取消B标段"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.text().contains("不能取消其在"), "{}", r.text());
    // Removing lot B where nobody enrolled with CPIC elsewhere is still refused for 钟山区 only:
    // keeping 钟山区 is accepted.
    let keep = json!({"company": CPIC, "regions": [ZHONGSHAN], "lot": "B标段", "tender_years": "2025-2028"});
    let (status, body) = put_insurers(&env, json!([lot_a(), keep])).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    env.app.cleanup().await;
}

#[tokio::test]
async fn the_next_year_draft_carries_a_running_tender_and_drops_an_ended_one() {
    let env = setup().await;
    let app = &env.app;
    // A one-year admission beside the three-year lots.
    let one_year = json!({"company": PINGAN, "regions": ["520299"], "tender_years": "2025-2026"});
    let (status, body) = put_insurers(&env, json!([lot_a(), lot_b(CPIC), one_year])).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    approve(&env, body["proposal_id"].as_i64().unwrap()).await;

    let next = "2026-2027";
    let r = app
        .get_with_cookie(&api(&format!("rules/{next}/draft")), &env.maker.cookie)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let draft = r.json();
    assert_eq!(draft["copied_from"], YEAR);
    let dropped = draft["dropped_insurers"].as_array().unwrap();
    assert_eq!(dropped.len(), 1, "{draft}");
    assert!(dropped[0].as_str().unwrap().contains(PINGAN));
    assert!(dropped[0].as_str().unwrap().contains("招标期限已满"));
    let document = draft["document"].as_str().unwrap();
    assert!(document.contains("academic_year = \"2026-2027\""));
    assert!(document.contains("lot = \"A标段\"") && document.contains("lot = \"B标段\""));
    assert!(!document.contains(PINGAN));
    let view = app
        .get_with_cookie(&api(&format!("rules/{next}/insurers")), &env.maker.cookie)
        .await
        .json();
    assert_eq!(view["entries"].as_array().unwrap().len(), 2, "{view}");
    assert_eq!(view["opened"], false);
    assert_eq!(view["version"], serde_json::Value::Null);
    // The draft page says so too.
    let page = app
        .get_with_cookie(&format!("/t/{SLUG}/rules/{next}/edit"), &env.maker.cookie)
        .await;
    assert!(page.text().contains("招标期限已满，未带入本学年"));
    // Proposing the draft as it is: valid for the new year.
    let r = app
        .json_as(
            &env.maker,
            "POST",
            &api(&format!("rules/{next}/proposals")),
            Some(json!({"document": document, "reason": "开启2026-2027学年"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    env.app.cleanup().await;
}

#[tokio::test]
async fn compensation_items_are_edited_in_the_rules_form_and_shown() {
    let env = setup().await;
    let app = &env.app;
    let fields = app
        .get_with_cookie(&api(&format!("rules/{YEAR}/fields")), &env.maker.cookie)
        .await
        .json();
    let confirmer = fields
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "claims.compensation_items[12].confirmed_by")
        .unwrap()
        .clone();
    assert_eq!(confirmer["section"], "赔偿项目");
    assert_eq!(confirmer["value"], "教育主管部门");
    let edit = app
        .get_with_cookie(&format!("/t/{SLUG}/rules/{YEAR}/edit"), &env.maker.cookie)
        .await;
    assert!(edit.text().contains("<legend>赔偿项目</legend>"));

    // A wrong confirmer is refused beside its field.
    let uri = format!("/t/{SLUG}/rules/{YEAR}/edit");
    let r = app
        .post_as(
            &env.maker,
            &uri,
            &[
                ("mode", "fields"),
                ("f:claims.compensation_items[12].confirmed_by", "学校"),
                ("reason", "疤痕修复改由经纪人确认"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().contains("无法识别的取值“学校”"));
    let r = app
        .post_as(
            &env.maker,
            &uri,
            &[
                ("mode", "fields"),
                (
                    "f:claims.compensation_items[12].confirmed_by",
                    "保险经纪机构",
                ),
                ("f:claims.compensation_items[1].cap_fen", "5000000"),
                ("reason", "疤痕修复改由经纪人确认"),
            ],
        )
        .await;
    // cap_fen is not in the document: not a field of the form.
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().contains("不是方案规则中可修改的字段"));
    let r = app
        .post_as(
            &env.maker,
            &uri,
            &[
                ("mode", "fields"),
                (
                    "f:claims.compensation_items[12].confirmed_by",
                    "保险经纪机构",
                ),
                ("f:claims.compensation_items[15].name", "康复治疗费"),
                ("reason", "疤痕修复改由经纪人确认"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let location = r.headers["location"].to_str().unwrap().to_string();
    let proposal = app.get_with_cookie(&location, &env.checker.cookie).await;
    let html = proposal.text();
    assert!(html.contains("赔偿项目12 · 确认方"), "{html}");
    assert!(html.contains("保险经纪机构"));
    assert!(html.contains("康复治疗费"));
    let id: i64 = location
        .split("rule-proposals/")
        .nth(1)
        .and_then(|rest| rest.split('?').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    approve(&env, id).await;
    let version = app
        .get_with_cookie(
            &format!("/t/{SLUG}/rules/{YEAR}/versions/2"),
            &env.maker.cookie,
        )
        .await;
    assert_eq!(version.status, StatusCode::OK, "{}", version.text());
    let html = version.text();
    assert!(html.contains("rules_compensation_items"));
    assert!(html.contains("疤痕修复费"));
    assert!(html.contains("经保险经纪机构确认后在合理范围内赔付"));
    assert!(html.contains("康复治疗费"));
    env.app.cleanup().await;
}
