//! The canonical text built in Rust is the one the SQL function `audit_log_canonical` builds,
//! byte for byte, and its hash is the one the insert trigger stored — on rows with Chinese
//! text, absent values, nested JSON and awkward times.

#![expect(clippy::unwrap_used, reason = "tests")]

use chrono::{DateTime, Utc};
use xiaobao_audit::{Actor, CanonicalFields, Entry, canonical, chain_hash, format_occurred_at};
use xiaobao_test_support::TestApp;

struct Row {
    chain_seq: i64,
    audit_log_id: i64,
    occurred_at: DateTime<Utc>,
    actor: String,
    action: String,
    entity: String,
    entity_id: Option<String>,
    detail: String,
    actor_account_id: Option<i64>,
    actor_org_id: Option<i64>,
    on_behalf_of_org_id: Option<i64>,
    ip: Option<String>,
    user_agent: Option<String>,
    prev_hash: Vec<u8>,
    row_hash: Vec<u8>,
    sql_canonical: String,
    sql_time: String,
}

#[tokio::test]
async fn rust_canonical_text_and_hash_match_the_database() {
    let app = TestApp::init().await;
    app.tenant("alpha", "520200", "main").await;
    let tenant = app.db().active_tenant("alpha").unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();

    // Through `record`: Chinese labels, every optional column set, nested JSON.
    let actor = Actor {
        account_id: Some(17),
        org_id: Some(4),
        on_behalf_of_org_id: Some(9),
        label: "account:17 金水区教育局".into(),
        ip: Some("2001:db8::1".into()),
        user_agent: Some("Mozilla/5.0 (浏览器)".into()),
    };
    xiaobao_audit::record(
        &mut tx,
        &actor,
        Entry::new("school.registration.approved", "organisation", Some(12))
            .change("name", "金水区第一小学", "金水区第一实验小学")
            .detail("reason", "材料齐全，同意注册。\"引号\" \\ 反斜杠 \u{1f} 分隔符")
            .detail(
                "nested",
                serde_json::json!({"b": [1, 2.50, 1e3, null, true], "a": {"深": "层"}, "emoji": "🏫"}),
            ),
    )
    .await
    .unwrap();
    // Nothing optional: the system, no entity id, an empty detail.
    xiaobao_audit::record(
        &mut tx,
        &Actor::system(),
        Entry::new("jobs.sweep", "documents", None::<i64>),
    )
    .await
    .unwrap();
    // Times written directly: before year 1000, sub-second, given in another zone.
    for at in [
        "0005-01-01 00:00:00.000001+00",
        "2025-12-31 23:59:59.999999+08",
        "2026-02-28 16:00:00.5-05",
    ] {
        sqlx::query!(
            "insert into audit_log (occurred_at, actor, action, entity, entity_id, detail) \
             values ($1::text::timestamptz, 'cli:王五', 'rules.change', 'programme_rules', '2025-2026', \
                     '{\"z\": 1, \"a\": [\"年\", {\"k\": \"\\u00e9x\"}], \"long_key_first\": 0.1}')",
            at,
        )
        .execute(&mut *tx)
        .await
        .unwrap();
    }

    let rows: Vec<Row> = sqlx::query_as!(
        Row,
        "select chain_seq as \"chain_seq!\", audit_log_id, occurred_at, actor, action, entity, \
                entity_id, detail::text as \"detail!\", actor_account_id, actor_org_id, \
                on_behalf_of_org_id, ip, user_agent, prev_hash as \"prev_hash!\", \
                row_hash as \"row_hash!\", audit_log_canonical(a) as \"sql_canonical!\", \
                to_char(occurred_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') as \"sql_time!\" \
           from audit_log a order by chain_seq",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    assert_eq!(rows.len(), 5);
    for row in &rows {
        assert_eq!(format_occurred_at(&row.occurred_at), row.sql_time);
        let text = canonical(&CanonicalFields {
            chain_seq: row.chain_seq,
            audit_log_id: row.audit_log_id,
            occurred_at: &row.occurred_at,
            actor: &row.actor,
            action: &row.action,
            entity: &row.entity,
            entity_id: row.entity_id.as_deref(),
            detail_text: &row.detail,
            actor_account_id: row.actor_account_id,
            actor_org_id: row.actor_org_id,
            on_behalf_of_org_id: row.on_behalf_of_org_id,
            ip: row.ip.as_deref(),
            user_agent: row.user_agent.as_deref(),
        });
        assert_eq!(text, row.sql_canonical, "row {}", row.chain_seq);
        assert_eq!(
            chain_hash(&row.prev_hash, &text),
            row.row_hash,
            "row {}",
            row.chain_seq
        );
    }
    // The first row carries every field; its text is spelled out here once.
    assert_eq!(
        rows[0].sql_canonical.split('\u{1f}').collect::<Vec<_>>()[..7],
        [
            "1",
            &rows[0].audit_log_id.to_string(),
            &rows[0].sql_time,
            "account:17 金水区教育局",
            "school.registration.approved",
            "organisation",
            "12",
        ]
    );
    assert!(
        rows[0]
            .sql_canonical
            .ends_with("\u{1f}17\u{1f}4\u{1f}9\u{1f}2001:db8::1\u{1f}Mozilla/5.0 (浏览器)")
    );
    assert_eq!(rows[2].sql_time, "0005-01-01T00:00:00.000001Z");
    assert_eq!(rows[3].sql_time, "2025-12-31T15:59:59.999999Z");
    assert_eq!(rows[4].sql_time, "2026-02-28T21:00:00.500000Z");
    // And the whole chain verifies.
    let report = xiaobao_audit::verify(&mut tx).await.unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.rows_checked, 5);
    tx.rollback().await.unwrap();
}
