//! 待办事项: each role's home page says what it has to do now, with links — a school its
//! deadline and status per product, a department its schools not submitted, an authority the
//! rule change waiting for it.

use axum::http::StatusCode;
use serde_json::json;
use xiaobao_domain::Role;
use xiaobao_test_support::{AccountSpec, TestApp};

const SLUG: &str = "liupanshui";
const ROOT: &str = "520200";
const ZHONGSHAN: &str = "520201";

#[tokio::test]
async fn each_roles_home_page_lists_what_it_has_to_do_now() {
    let app = TestApp::init().await.with_demo_tenants().await;
    app.open_enrolment_year(SLUG, &[(1, "甲保险公司", ROOT)])
        .await;
    let school = app
        .account(
            SLUG,
            AccountSpec::new("钟山区待办小学", ZHONGSHAN, &[Role::School]),
        )
        .await;
    let dept = app
        .account(
            SLUG,
            AccountSpec::new("钟山区教育局待办", ZHONGSHAN, &[Role::CountyDepartment]),
        )
        .await;
    let maker = app
        .account(
            SLUG,
            AccountSpec::new("待办经办人", ROOT, &[Role::ProgrammeAuthority]),
        )
        .await;
    let checker = app
        .account(
            SLUG,
            AccountSpec::new("待办复核人", ROOT, &[Role::ProgrammeAuthority]),
        )
        .await;
    let home = |cookie: String| {
        let app = &app;
        async move {
            let r = app.get_with_cookie(&format!("/t/{SLUG}/"), &cookie).await;
            assert_eq!(r.status, StatusCode::OK);
            r.text()
        }
    };

    let s = app.sign_in(SLUG, &school).await;
    let text = home(s.cookie.clone()).await;
    assert!(text.contains("id=\"todos\""), "{text}");
    assert!(
        text.contains("投保数据：校方责任险（含附加无过失责任险） 尚未提交，投保截止 2025-09-30"),
        "{text}"
    );
    assert!(text.contains(&format!("href=\"/t/{SLUG}/enrolment\"")));

    let d = app.sign_in(SLUG, &dept).await;
    let text = home(d.cookie.clone()).await;
    assert!(
        text.contains("本辖区 1 所学校中 0 所已提交，1 所尚未提交"),
        "{text}"
    );

    let m = app.sign_in(SLUG, &maker).await;
    let c = app.sign_in(SLUG, &checker).await;
    assert!(home(c.cookie.clone()).await.contains("todos"));
    let r = app
        .json_as(
            &m,
            "POST",
            &format!("/api/v1/t/{SLUG}/rules/2025-2026/proposals"),
            Some(json!({"changes": {"products[1].rates[1].rate_fen": 1100}, "reason": "下调费率"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let id = r.json()["proposal_id"].as_i64().unwrap();
    let text = home(c.cookie.clone()).await;
    assert!(
        text.contains("2025-2026 学年方案规则的修改（待办经办人提出：下调费率）待您审核"),
        "{text}"
    );
    assert!(text.contains(&format!("href=\"/t/{SLUG}/rule-proposals/{id}\"")));
    let text = home(m.cookie.clone()).await;
    assert!(text.contains("待另一位主管部门账号审核"), "{text}");
}
