//! 学校数据, department management of schools, change requests and central schools through
//! the real router: region scope in every list and read, 404 plus an audit row outside it,
//! masked mobiles, password resets with their SMS, rename / move / deregistration requests and
//! their decisions, central schools and their assigned schools.

mod central;
mod change_requests;
mod listing;
mod management;

use axum::http::StatusCode;
use xiaobao_domain::{AccountType, Role};
use xiaobao_test_support::{AccountSpec, SignedInSession, TestAccount, TestApp};

pub(super) const SLUG: &str = "henan";

pub(super) async fn department(
    app: &TestApp,
    login: &str,
    name: &str,
    region: &str,
) -> TestAccount {
    let role = if region.ends_with("00") {
        Role::CityDepartment
    } else {
        Role::CountyDepartment
    };
    app.account(
        SLUG,
        AccountSpec {
            login_name: Some(login),
            ..AccountSpec::new(name, region, &[role])
        },
    )
    .await
}

pub(super) async fn school(app: &TestApp, name: &str, region: &str) -> TestAccount {
    app.account(SLUG, AccountSpec::new(name, region, &[Role::School]))
        .await
}

/// A query on the tenant's schema, committed.
pub(super) async fn scalar<T>(app: &TestApp, sql: &str, id: i64) -> T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
{
    let tenant = app.db().active_tenant(SLUG).unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let value: T = sqlx::query_scalar(sql)
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    value
}

/// Audit rows of an action: (entity, entity id, actor account, on behalf of, detail).
pub(super) async fn audit_rows(
    app: &TestApp,
    action: &str,
) -> Vec<(
    String,
    Option<String>,
    Option<i64>,
    Option<i64>,
    serde_json::Value,
)> {
    let tenant = app.db().active_tenant(SLUG).unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let rows = sqlx::query_as(
        "select entity, entity_id, actor_account_id, on_behalf_of_org_id, detail from audit_log \
         where action = $1 order by chain_seq",
    )
    .bind(action)
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    rows
}

pub(super) async fn api_names(app: &TestApp, s: &SignedInSession, uri: &str) -> Vec<String> {
    let r = app.json_as(s, "GET", uri, None).await;
    assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.text());
    let body = r.json();
    let items = body.get("items").unwrap_or(&body);
    let mut names: Vec<String> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}
