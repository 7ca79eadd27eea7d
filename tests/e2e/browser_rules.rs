//! 项目规则 in a real browser: an authority account changes a rate and a settle tier in the
//! form, sees the proposal's difference; a second authority account sees both values side by
//! side and approves; the year shows version 2 in force. Screenshots under
//! `target/test-artefacts/screenshots/`.

use std::time::Duration;

use xiaobao_domain::Role;
use xiaobao_test_support::{AccountSpec, Browser, TestApp};

const SLUG: &str = "liupanshui";
const YEAR: &str = "2025-2026";
const ROOT: &str = "520200";

/// Waits (up to 10 s) until the page's path starts with `prefix`.
async fn wait_for_path_prefix(browser: &Browser, prefix: &str) -> String {
    for _ in 0..100 {
        let url = browser.client().current_url().await.unwrap();
        if url.path().starts_with(prefix) {
            return url.path().to_string();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let url = browser.client().current_url().await.unwrap();
    panic!("expected {prefix}…, the browser shows {url}");
}

#[tokio::test]
async fn an_authority_changes_a_rate_and_a_settle_tier_and_a_second_account_approves() {
    let browser = Browser::start().await;
    let app = TestApp::init().await.with_demo_tenants().await;
    let maker = app
        .account(
            SLUG,
            AccountSpec::new("浏览器规则经办人", ROOT, &[Role::ProgrammeAuthority]),
        )
        .await;
    let checker = app
        .account(
            SLUG,
            AccountSpec::new("浏览器规则复核人", ROOT, &[Role::ProgrammeAuthority]),
        )
        .await;
    let maker = app.sign_in(SLUG, &maker).await;
    let checker = app.sign_in(SLUG, &checker).await;
    let base = app.serve().await;

    // The maker opens 项目规则 from the menu, the year, and the form.
    browser.goto(&format!("{base}/t/{SLUG}/")).await;
    browser.set_cookie(&maker.cookie).await;
    browser.goto(&format!("{base}/t/{SLUG}/")).await;
    browser
        .client()
        .find(fantoccini::Locator::Css("nav.side"))
        .await
        .unwrap()
        .find(fantoccini::Locator::LinkText("项目规则"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.wait_for(&format!("#rules_year_{YEAR}")).await;
    browser.click(&format!("#rules_year_{YEAR}")).await;
    browser.wait_for("#rules_edit_link").await;
    assert_eq!(browser.text("#rules_current_version").await, "第1版");
    browser.click("#rules_edit_link").await;
    browser.wait_for("#rules_fields_form").await;
    let rate = "input[data-path=\"products[1].rates[1].rate_fen\"]";
    let settle = "input[data-path=\"claims.settle_tiers[1].working_days\"]";
    assert_eq!(
        browser.property(rate, "value").await.as_deref(),
        Some("1000")
    );
    browser.fill(rate, "1200").await;
    browser.fill(settle, "4").await;
    browser.fill("#reason", "财政预算调整").await;
    browser.screenshot("liupanshui-rules-edit").await;
    browser.click("#rules_submit").await;
    let path = wait_for_path_prefix(&browser, &format!("/t/{SLUG}/rule-proposals/")).await;
    browser.wait_for("#done").await;
    assert!(
        browser
            .text("#done")
            .await
            .contains("待另一位主管部门账号审核")
    );
    assert!(browser.text("#proposal_own").await.contains("另一位"));

    // The checker sees both values side by side and approves.
    browser.set_cookie(&checker.cookie).await;
    browser.goto(&format!("{base}{path}")).await;
    browser.wait_for("#rules_changes").await;
    let rows = browser.texts("#rules_changes tbody tr").await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(
        rows[0].contains("1000") && rows[0].contains("1200"),
        "{rows:?}"
    );
    assert!(rows[1].contains("结案时效档1"), "{rows:?}");
    browser.screenshot("liupanshui-rules-proposal").await;
    browser.click("#approve_button").await;
    browser.wait_for("#done").await;
    assert!(browser.text("#done").await.contains("审核通过"));
    assert!(browser.text("#proposal_status").await.contains("第2版"));

    // In force.
    browser.goto(&format!("{base}/t/{SLUG}/rules/{YEAR}")).await;
    browser.wait_for("#rules_current_version").await;
    assert_eq!(browser.text("#rules_current_version").await, "第2版");
    let public = app
        .get(&format!("/api/v1/t/{SLUG}/rules/{YEAR}"))
        .await
        .json();
    assert_eq!(public["rules"]["products"][0]["rates"][0]["rate_fen"], 1200);
    browser.close().await;
}
