//! The audit trail: one hash chain however many writers append at once, tampering found at the
//! row it touched, masking of personal numbers, search, and the `audit verify` command's path.

use serde_json::json;
use sqlx::{Executor, PgConnection};
use xiaobao_audit::{Actor, AuditFilter, AuditRow, BreakCode, Entry, VerifyReport};
use xiaobao_test_support::TestApp;

/// Appends `n` entries to a tenant, one transaction each, as the system.
async fn write_entries(app: &TestApp, slug: &str, n: usize) {
    let tenant = app.db().active_tenant(slug).unwrap();
    for i in 0..n {
        let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
        xiaobao_audit::record(
            &mut tx,
            &Actor::system(),
            Entry::new("test.entry", "thing", Some(i)).detail("reason", format!("第 {i} 条")),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
}

async fn verify(app: &TestApp, slug: &str) -> VerifyReport {
    let tenant = app.db().active_tenant(slug).unwrap();
    xiaobao_audit::verify_tenant(app.db(), &tenant)
        .await
        .unwrap()
}

/// Runs statements as a superuser with the append-only trigger of `slug`'s trail switched off.
async fn tamper(su: &mut PgConnection, slug: &str, sql: &str) {
    su.execute(
        format!(
            "alter table t_{slug}.audit_log disable trigger audit_log_no_change; {sql}; \
             alter table t_{slug}.audit_log enable trigger audit_log_no_change"
        )
        .as_str(),
    )
    .await
    .unwrap();
}

fn break_of(report: &VerifyReport) -> (i64, BreakCode) {
    let b = report
        .broken
        .as_ref()
        .unwrap_or_else(|| panic!("the chain should be broken: {report:?}"));
    (b.chain_seq, b.code)
}

#[tokio::test]
async fn concurrent_appends_form_one_intact_chain() {
    let app = TestApp::init().await;
    app.tenant("alpha", "520200", "main").await;
    let tenant = app.db().active_tenant("alpha").unwrap();
    let mut tasks = Vec::new();
    for task in 0..8_i64 {
        let db = app.db().clone();
        let tenant = tenant.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..25_i64 {
                let actor = Actor {
                    account_id: Some(task),
                    label: format!("account:{task} 测试账号"),
                    ..Actor::default()
                };
                // Every fifth time an entry is appended and taken back: a rolled back append
                // leaves no hole in the chain.
                if i % 5 == 0 {
                    let mut lost = db.tenant_tx(&tenant).await.unwrap();
                    xiaobao_audit::record(
                        &mut lost,
                        &actor,
                        Entry::new("test.rolled_back", "thing", None::<i64>),
                    )
                    .await
                    .unwrap();
                    lost.rollback().await.unwrap();
                }
                let mut tx = db.tenant_tx(&tenant).await.unwrap();
                xiaobao_audit::record(
                    &mut tx,
                    &actor,
                    Entry::new("test.concurrent", "thing", Some(format!("{task}-{i}")))
                        .detail("task", task)
                        .detail("i", i),
                )
                .await
                .unwrap();
                // Some of them take a moment before committing, so writers overlap.
                if i % 7 == 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
                tx.commit().await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }

    let report = verify(&app, "alpha").await;
    assert!(report.ok, "{report:?}");
    assert_eq!(report.broken, None);
    assert_eq!(report.rows_checked, 200);
    assert_eq!(report.head_seq, Some(200));

    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let seqs: Vec<i64> = sqlx::query_scalar("select chain_seq from audit_log order by chain_seq")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(seqs, (1..=200).collect::<Vec<i64>>());
    let distinct: i64 = sqlx::query_scalar(
        "select count(distinct entity_id) from audit_log where action = 'test.concurrent'",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    assert_eq!(distinct, 200);
    let rolled_back: i64 =
        sqlx::query_scalar("select count(*) from audit_log where action = 'test.rolled_back'")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    assert_eq!(rolled_back, 0);
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn a_row_edited_with_the_trigger_disabled_is_found_at_that_row() {
    let app = TestApp::init().await;
    app.tenant("alpha", "520200", "main").await;
    write_entries(&app, "alpha", 10).await;
    assert!(verify(&app, "alpha").await.ok);

    let mut su = app.superuser("main").await;
    tamper(
        &mut su,
        "alpha",
        "update t_alpha.audit_log set detail = jsonb_set(detail, '{reason}', '\"改过的原因\"') \
         where chain_seq = 4",
    )
    .await;
    let report = verify(&app, "alpha").await;
    assert!(!report.ok);
    assert_eq!(break_of(&report), (4, BreakCode::RowHashMismatch));
    assert_eq!(report.rows_checked, 4);
    assert!(report.summary().contains("第 4 条"), "{}", report.summary());

    // Recomputing the edited row's own hash only moves the break to the next row.
    tamper(
        &mut su,
        "alpha",
        "update t_alpha.audit_log a \
            set row_hash = sha256(a.prev_hash || convert_to(t_alpha.audit_log_canonical(a), 'UTF8')) \
          where chain_seq = 4",
    )
    .await;
    let report = verify(&app, "alpha").await;
    assert_eq!(break_of(&report), (5, BreakCode::PrevHashMismatch));
}

#[tokio::test]
async fn removed_rows_are_found_in_the_middle_and_at_the_end() {
    let app = TestApp::init().await;
    app.tenant("alpha", "520200", "main").await;
    app.tenant("beta", "520200", "main").await;
    write_entries(&app, "alpha", 6).await;
    write_entries(&app, "beta", 6).await;
    let mut su = app.superuser("main").await;

    // The last row: every remaining row is fine, only the head knows it existed.
    tamper(
        &mut su,
        "alpha",
        "delete from t_alpha.audit_log where chain_seq = 6",
    )
    .await;
    let report = verify(&app, "alpha").await;
    assert_eq!(break_of(&report), (6, BreakCode::TailMissing));
    assert_eq!(report.rows_checked, 5);
    assert_eq!(report.head_seq, Some(6));

    // A row in the middle.
    tamper(
        &mut su,
        "beta",
        "delete from t_beta.audit_log where chain_seq = 3",
    )
    .await;
    let report = verify(&app, "beta").await;
    assert_eq!(break_of(&report), (3, BreakCode::SeqGap));
    assert_eq!(report.rows_checked, 3);
}

#[tokio::test]
async fn the_database_refuses_to_change_or_remove_audit_rows() {
    let app = TestApp::init().await;
    app.tenant("alpha", "520200", "main").await;
    write_entries(&app, "alpha", 3).await;
    let tenant = app.db().active_tenant("alpha").unwrap();

    for sql in [
        "update audit_log set actor = 'someone' where chain_seq = 2",
        "delete from audit_log where chain_seq = 3",
        "truncate audit_log",
        "delete from audit_chain_head",
    ] {
        // As the tenant, the way the service runs its queries…
        let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
        let err = sqlx::query(sql).execute(&mut *tx).await.unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("append-only") || message.contains("keeps its one row"),
            "{sql}: {message}"
        );
        drop(tx);
        // …and as a superuser who leaves the triggers on.
        let mut su = app.superuser("main").await;
        su.execute("set search_path to t_alpha").await.unwrap();
        let err = su.execute(sql).await.unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("append-only") || message.contains("keeps its one row"),
            "{sql}: {message}"
        );
    }
    let report = verify(&app, "alpha").await;
    assert!(report.ok, "{report:?}");
    assert_eq!(report.rows_checked, 3);
}

#[tokio::test]
async fn personal_numbers_are_stored_masked_and_passwords_redacted() {
    let app = TestApp::init().await;
    app.tenant("alpha", "520200", "main").await;
    let tenant = app.db().active_tenant("alpha").unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let id = xiaobao_audit::record(
        &mut tx,
        &Actor::cli("admin"),
        Entry::new("school.contact.change", "organisation", Some(12))
            .change("contact_mobile", "13812345678", "13900001111")
            .change("contact_name", "张三", "李四")
            .change("principal", "王五", "王五")
            .change("password", "OldSecret1", "NewSecret2")
            .detail("id_number", "41010520100101123X")
            .detail("region_code", "410105")
            .detail("reason", "换联系人"),
    )
    .await
    .unwrap();
    let (detail, text): (serde_json::Value, String) =
        sqlx::query_as("select detail, detail::text from audit_log where audit_log_id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        detail,
        json!({
            "id_number": "410105********123X",
            "region_code": "410105",
            "reason": "换联系人",
            "changes": {
                "contact_mobile": {"before": "138****5678", "after": "139****1111"},
                "contact_name": {"before": "张三", "after": "李四"},
                "password": {"before": "[redacted]", "after": "[redacted]"},
            }
        })
    );
    for secret in [
        "13812345678",
        "13900001111",
        "OldSecret1",
        "NewSecret2",
        "0101123X",
    ] {
        assert!(!text.contains(secret), "{secret} stored in {text}");
    }
}

/// An entry with chosen actor, action and entity, at a chosen time.
async fn insert_at(
    tx: &mut PgConnection,
    at: &str,
    account: Option<i64>,
    actor: &str,
    action: &str,
    entity: &str,
    entity_id: &str,
) {
    sqlx::query(
        "insert into audit_log (occurred_at, actor_account_id, actor, action, entity, entity_id) \
         values ($1::timestamptz, $2, $3, $4, $5, $6)",
    )
    .bind(at)
    .bind(account)
    .bind(actor)
    .bind(action)
    .bind(entity)
    .bind(entity_id)
    .execute(tx)
    .await
    .unwrap();
}

fn seqs(rows: &[AuditRow]) -> Vec<i64> {
    rows.iter().map(|r| r.chain_seq).collect()
}

#[tokio::test]
async fn search_filters_and_pages_newest_first() {
    let app = TestApp::init().await;
    app.tenant("alpha", "520200", "main").await;
    let tenant = app.db().active_tenant("alpha").unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let rows = [
        // seq 1..=7
        (
            "2025-01-10 09:00+08",
            Some(1),
            "account:1 金水区教育局",
            "school.registration.approved",
            "organisation",
            "10",
        ),
        (
            "2025-02-10 09:00+08",
            Some(1),
            "account:1 金水区教育局",
            "school.registration.refused",
            "organisation",
            "11",
        ),
        (
            "2025-03-10 09:00+08",
            Some(2),
            "account:2 平安保险郑州分公司",
            "login.succeeded",
            "account",
            "2",
        ),
        (
            "2025-04-10 09:00+08",
            None,
            "system",
            "documents.sweep",
            "documents",
            "batch_1",
        ),
        (
            "2025-05-10 09:00+08",
            Some(2),
            "account:2 平安保险郑州分公司",
            "school.registrations.exported",
            "organisation",
            "10",
        ),
        (
            "2025-06-10 09:00+08",
            Some(1),
            "account:1 金水区教育局",
            "school.registration.approved",
            "organisation",
            "12",
        ),
        (
            "2025-07-10 09:00+08",
            None,
            "cli:root",
            "rules.change",
            "programme_rules",
            "2025-2026",
        ),
    ];
    for (at, account, actor, action, entity, id) in rows {
        insert_at(&mut tx, at, account, actor, action, entity, id).await;
    }
    let search =
        async |tx: &mut PgConnection, f: AuditFilter| xiaobao_audit::search(tx, &f).await.unwrap();

    let all = search(&mut tx, AuditFilter::default()).await;
    assert_eq!(seqs(&all), [7, 6, 5, 4, 3, 2, 1]);
    assert_eq!(all[0].actor, "cli:root");
    assert_eq!(all[0].entity_id.as_deref(), Some("2025-2026"));
    assert_eq!(all[0].detail, json!({}));

    let by_time = AuditFilter {
        from: Some("2025-02-10T01:00:00Z".parse().unwrap()),
        to: Some("2025-05-10T01:00:00Z".parse().unwrap()),
        ..AuditFilter::default()
    };
    // `from` is inclusive, `to` exclusive.
    assert_eq!(seqs(&search(&mut tx, by_time).await), [4, 3, 2]);

    let by_actor = AuditFilter {
        actor_account_id: Some(1),
        ..AuditFilter::default()
    };
    assert_eq!(seqs(&search(&mut tx, by_actor).await), [6, 2, 1]);

    let by_action = AuditFilter {
        action_prefix: Some("school.registration.".into()),
        ..AuditFilter::default()
    };
    assert_eq!(seqs(&search(&mut tx, by_action).await), [6, 2, 1]);
    let wildcard = AuditFilter {
        action_prefix: Some("%".into()),
        ..AuditFilter::default()
    };
    assert!(search(&mut tx, wildcard).await.is_empty());

    let by_entity = AuditFilter {
        entity: Some("organisation".into()),
        entity_id: Some("10".into()),
        ..AuditFilter::default()
    };
    assert_eq!(seqs(&search(&mut tx, by_entity).await), [5, 1]);

    let by_label = AuditFilter {
        text: Some("平安保险".into()),
        ..AuditFilter::default()
    };
    assert_eq!(seqs(&search(&mut tx, by_label).await), [5, 3]);
    let by_entity_id = AuditFilter {
        text: Some("BATCH_".into()),
        ..AuditFilter::default()
    };
    assert_eq!(seqs(&search(&mut tx, by_entity_id).await), [4]);
    // `_` is no wildcard: only `batch_1` holds one.
    let underscore = AuditFilter {
        text: Some("_".into()),
        ..AuditFilter::default()
    };
    assert_eq!(seqs(&search(&mut tx, underscore).await), [4]);

    let combined = AuditFilter {
        actor_account_id: Some(1),
        action_prefix: Some("school.".into()),
        from: Some("2025-02-01T00:00:00Z".parse().unwrap()),
        ..AuditFilter::default()
    };
    assert_eq!(seqs(&search(&mut tx, combined).await), [6, 2]);

    // Pages of three by keyset: every row once, newest first.
    let mut pages = Vec::new();
    let mut before = None;
    loop {
        let page = search(
            &mut tx,
            AuditFilter {
                before_seq: before,
                limit: 3,
                ..AuditFilter::default()
            },
        )
        .await;
        if page.is_empty() {
            break;
        }
        before = page.last().map(|r| r.chain_seq);
        pages.push(seqs(&page));
    }
    assert_eq!(pages, [vec![7, 6, 5], vec![4, 3, 2], vec![1]]);
    // The page size is clamped.
    let tiny = AuditFilter {
        limit: 0,
        ..AuditFilter::default()
    };
    assert_eq!(seqs(&search(&mut tx, tiny).await), [7]);
    let filtered_page = AuditFilter {
        actor_account_id: Some(1),
        before_seq: Some(6),
        limit: 1,
        ..AuditFilter::default()
    };
    assert_eq!(seqs(&search(&mut tx, filtered_page).await), [2]);
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn the_verify_command_reports_the_tampered_tenant_and_row() {
    let app = TestApp::init().await;
    app.tenant("alpha", "520200", "main").await;
    app.tenant("beta", "520200", "main").await;
    write_entries(&app, "alpha", 5).await;
    write_entries(&app, "beta", 8).await;
    let mut su = app.superuser("main").await;
    tamper(
        &mut su,
        "beta",
        "update t_beta.audit_log set entity_id = '999' where chain_seq = 6",
    )
    .await;

    // All active tenants, in slug order, as `xiaobao audit verify` prints them.
    let results = xiaobao_audit::verify_tenants(app.db(), None).await.unwrap();
    let lines: Vec<String> = results.iter().map(|r| r.line()).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0], "alpha: 5 条记录，审计链完整");
    assert!(results[0].ok());
    assert!(!results[1].ok());
    assert_eq!(results[1].slug, "beta");
    let report = results[1].outcome.as_ref().unwrap();
    assert_eq!(break_of(report), (6, BreakCode::RowHashMismatch));
    assert!(
        lines[1].starts_with("beta: 审计链在第 6 条处断开（row_hash_mismatch）"),
        "{}",
        lines[1]
    );

    // One tenant by name; an unknown one is an error, not a pass.
    let one = xiaobao_audit::verify_tenants(app.db(), Some("alpha"))
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
    assert!(one[0].ok());
    assert!(
        xiaobao_audit::verify_tenants(app.db(), Some("nosuch"))
            .await
            .is_err()
    );
}

/// Rewrites row `seq` of `slug`'s trail *as the tenant's own database role*, recomputing the
/// hash of that row and of every later one and the head, so the chain itself holds again.
async fn rewrite_as_tenant_role(app: &TestApp, slug: &str, seq: i64) {
    let tenant = app.db().active_tenant(slug).unwrap();
    let mut su = app.superuser("main").await;
    let schema = &tenant.schema_name;
    su.execute(
        format!(
            "set role \"{role}\";
             alter table {schema}.audit_log disable trigger audit_log_no_change;
             update {schema}.audit_log set detail = jsonb_set(detail, '{{reason}}', '\"改写\"')
              where chain_seq = {seq};
             do $$
             declare
                 r {schema}.audit_log;
                 prev bytea;
             begin
                 select prev_hash into prev from {schema}.audit_log where chain_seq = {seq};
                 for r in select * from {schema}.audit_log where chain_seq >= {seq}
                          order by chain_seq loop
                     update {schema}.audit_log
                        set prev_hash = prev,
                            row_hash = sha256(prev || convert_to({schema}.audit_log_canonical(r), 'UTF8'))
                      where chain_seq = r.chain_seq
                     returning row_hash into prev;
                 end loop;
                 update {schema}.audit_chain_head set last_hash = prev;
             end
             $$;
             alter table {schema}.audit_log enable trigger audit_log_no_change;
             reset role",
            role = tenant.db_role,
        )
        .as_str(),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn history_rewritten_by_the_tenant_role_with_every_hash_recomputed_is_found() {
    let app = TestApp::init().await;
    app.tenant("alpha", "520200", "main").await;
    write_entries(&app, "alpha", 8).await;
    assert!(verify(&app, "alpha").await.ok);
    rewrite_as_tenant_role(&app, "alpha", 3).await;
    // The chain alone holds again …
    let tenant = app.db().active_tenant("alpha").unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    assert!(xiaobao_audit::verify(&mut tx).await.unwrap().ok);
    tx.rollback().await.unwrap();
    // … but not against the anchor the tenant's role cannot reach.
    let report = verify(&app, "alpha").await;
    assert!(!report.ok, "{}", report.summary());
    assert_eq!(report.broken.unwrap().code, BreakCode::AnchorMismatch);
    // The role cannot read or move the anchor itself.
    let mut su = app.superuser("main").await;
    for sql in [
        "select mac from audit_anchor.anchors",
        "select key from audit_anchor.keys",
        "update audit_anchor.anchors set seq = 0",
    ] {
        let r = su
            .execute(format!("set role \"{}\"; {sql}", tenant.db_role).as_str())
            .await;
        assert!(r.is_err(), "{sql} was allowed");
        su.execute("reset role").await.unwrap();
    }
}

#[tokio::test]
async fn rows_appended_with_the_anchor_trigger_removed_are_found() {
    let app = TestApp::init().await;
    app.tenant("alpha", "520200", "main").await;
    write_entries(&app, "alpha", 3).await;
    let tenant = app.db().active_tenant("alpha").unwrap();
    let mut su = app.superuser("main").await;
    su.execute(
        format!(
            "set role \"{}\"; drop trigger audit_log_anchor on {}.audit_log; reset role",
            tenant.db_role, tenant.schema_name
        )
        .as_str(),
    )
    .await
    .unwrap();
    write_entries(&app, "alpha", 2).await;
    let report = verify(&app, "alpha").await;
    assert!(!report.ok, "{}", report.summary());
    assert_eq!(report.broken.unwrap().code, BreakCode::AnchorMismatch);
}
