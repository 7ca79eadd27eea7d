use axum::http::StatusCode;
use sqlx::Executor;
use xiaobao_db::ProvisionOutcome;
use xiaobao_test_support::{TestApp, TestAppOptions};

/// Inserts a region into a tenant through the tenant helper.
async fn add_region(app: &TestApp, slug: &str, code: &str, name: &str, parent: &str, path: &str) {
    let tenant = app.db().active_tenant(slug).unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    sqlx::query(
        "insert into regions (region_code, name, parent_code, level, path) values ($1, $2, $3, 'county', $4)",
    )
    .bind(code)
    .bind(name)
    .bind(parent)
    .bind(path)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn rows_written_through_one_tenant_are_invisible_through_another() {
    let app = TestApp::init().await;
    // Two tenants with the same region tree, so every code exists in both.
    app.tenant("alpha", "520200", "main").await;
    app.tenant("beta", "520200", "main").await;
    add_region(
        &app,
        "alpha",
        "520298",
        "测试新区",
        "520200",
        "520200.520298",
    )
    .await;

    let a = app.get("/api/v1/t/alpha/regions/520298").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.json()["name"], "测试新区");

    let b = app.get("/api/v1/t/beta/regions/520298").await;
    assert_eq!(b.status, StatusCode::NOT_FOUND, "{}", b.text());
    assert_eq!(b.json()["error"]["code"], "not_found");

    let children_a = app
        .get("/api/v1/t/alpha/regions/520200/children")
        .await
        .json();
    let children_b = app
        .get("/api/v1/t/beta/regions/520200/children")
        .await
        .json();
    let codes = |v: &serde_json::Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r["code"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert!(codes(&children_a).contains(&"520298".to_string()));
    assert!(!codes(&children_b).contains(&"520298".to_string()));
    assert_eq!(codes(&children_a).len(), codes(&children_b).len() + 1);

    // Pages too: alpha's landing lists the new region, beta's does not.
    assert!(app.get("/t/alpha/").await.text().contains("测试新区"));
    assert!(!app.get("/t/beta/").await.text().contains("测试新区"));
}

#[tokio::test]
async fn a_query_naming_another_tenants_schema_is_refused_by_the_database() {
    let app = TestApp::init().await;
    app.tenant("alpha", "520200", "main").await;
    app.tenant("beta", "520200", "main").await;
    let alpha = app.db().active_tenant("alpha").unwrap();
    let mut tx = app.db().tenant_tx(&alpha).await.unwrap();
    let err = sqlx::query("select region_code from t_beta.regions")
        .fetch_all(&mut *tx)
        .await
        .unwrap_err();
    let code = err
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned());
    assert_eq!(
        code.as_deref(),
        Some("42501"),
        "expected insufficient_privilege, got {err}"
    );
    drop(tx);

    // Nor can the tenant read the control schema.
    let mut tx = app.db().tenant_tx(&alpha).await.unwrap();
    let err = sqlx::query("select slug from control.tenants")
        .fetch_all(&mut *tx)
        .await
        .unwrap_err();
    let code = err
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned());
    assert_eq!(code.as_deref(), Some("42501"), "{err}");
}

#[tokio::test]
async fn a_query_outside_the_tenant_helper_finds_no_tenant_table() {
    let app = TestApp::init().await;
    app.tenant("alpha", "520200", "main").await;
    let err = sqlx::query("select region_code from regions")
        .fetch_all(app.db().clusters.main())
        .await
        .unwrap_err();
    let code = err
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned());
    assert_eq!(
        code.as_deref(),
        Some("42P01"),
        "expected undefined_table, got {err}"
    );
}

#[tokio::test]
async fn tenant_settings_do_not_leak_to_the_next_user_of_a_pooled_connection() {
    let app = TestApp::init().await;
    app.tenant("alpha", "520200", "main").await;
    let alpha = app.db().active_tenant("alpha").unwrap();
    for _ in 0..3 {
        let tx = app.db().tenant_tx(&alpha).await.unwrap();
        tx.commit().await.unwrap();
    }
    // Every pooled connection is back to the service role and an empty search_path.
    for _ in 0..3 {
        let mut conn = app.db().clusters.main().acquire().await.unwrap();
        let (role, path): (String, String) =
            sqlx::query_as("select current_user::text, current_setting('search_path')")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
        assert!(!role.contains("_t_"), "role leaked: {role}");
        assert!(
            path.is_empty() || path == "\"\"",
            "search_path leaked: {path}"
        );
    }
}

#[tokio::test]
async fn provisioning_twice_changes_nothing() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let henan = app.db().active_tenant("henan").unwrap();
    let count = |app: &TestApp| {
        let henan = henan.clone();
        let db = app.db().clone();
        async move {
            let mut tx = db.tenant_tx(&henan).await.unwrap();
            let regions = xiaobao_db::regions::count(&mut tx).await.unwrap();
            let rules = xiaobao_db::rules::history(&mut tx, "2025-2026")
                .await
                .unwrap()
                .len();
            let audit: i64 = sqlx::query_scalar("select count(*) from audit_log")
                .fetch_one(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            (regions, rules, audit)
        }
    };
    let before = count(&app).await;
    assert!(
        before.0 > 150,
        "Henan has its cities and counties: {before:?}"
    );
    assert_eq!(before.1, 1);

    let again = xiaobao::seed_demo_tenants(app.db(), xiaobao_test_support::enrolment_season_day())
        .await
        .unwrap();
    for (slug, outcome) in again {
        assert_eq!(
            outcome,
            ProvisionOutcome::AlreadyPresent {
                migrations_applied: 0
            },
            "{slug}"
        );
    }
    assert_eq!(count(&app).await, before);
    let after = app.db().active_tenant("henan").unwrap();
    assert_eq!(after.updated_at, henan.updated_at);
}

#[tokio::test]
async fn migrating_a_tenant_that_is_behind_brings_it_up_to_date() {
    let app = TestApp::init().await;
    app.tenant("alpha", "520200", "main").await;
    app.tenant("beta", "520200", "main").await;
    // Put alpha back to before migration 2: drop what it made and its ledger row.
    let mut su = app.superuser("main").await;
    su.execute(
        "drop table t_alpha.audit_log cascade; drop function t_alpha.audit_log_append_only() cascade; \
         delete from t_alpha._sqlx_migrations where version = 2",
    )
    .await
    .unwrap();

    let results = app.db().provisioner().migrate_all().await.unwrap();
    assert!(results.contains(&("alpha".to_string(), 1)), "{results:?}");
    assert!(results.contains(&("beta".to_string(), 0)), "{results:?}");
    let exists: bool = sqlx::query_scalar(
        "select exists (select 1 from information_schema.tables where table_schema = 't_alpha' and table_name = 'audit_log')",
    )
    .fetch_one(&mut su)
    .await
    .unwrap();
    assert!(exists);
    // The table belongs to the tenant's role, like everything in its schema.
    let owner: String = sqlx::query_scalar("select tableowner::text from pg_tables where schemaname = 't_alpha' and tablename = 'audit_log'")
        .fetch_one(&mut su)
        .await
        .unwrap();
    assert_eq!(owner, format!("{}_t_alpha", app.name));
    assert_eq!(app.db().provisioner().migrate("alpha").await.unwrap(), 0);
}

#[tokio::test]
async fn a_tenant_on_a_second_cluster_works_like_one_on_the_first() {
    let app = TestApp::start(TestAppOptions {
        second_cluster: true,
        ..Default::default()
    })
    .await;
    assert_eq!(
        app.tenant("alpha", "520200", "main").await,
        ProvisionOutcome::Created
    );
    assert_eq!(
        app.tenant("beta", "310000", "b").await,
        ProvisionOutcome::Created
    );

    // beta's schema is on cluster B, not on A.
    let mut a = app.superuser("main").await;
    let mut b = app.superuser("b").await;
    assert!(!schema_exists(&mut a, "t_beta").await);
    assert!(schema_exists(&mut b, "t_beta").await);
    assert!(schema_exists(&mut a, "t_alpha").await);
    assert!(!schema_exists(&mut b, "t_alpha").await);

    let r = app.get("/api/v1/t/beta/regions/310000/children").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json().as_array().unwrap().len(), 16);
    let page = app.get("/t/beta/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("浦东新区"));
    // Isolation holds across clusters too.
    assert_eq!(
        app.get("/api/v1/t/alpha/regions/310115").await.status,
        StatusCode::NOT_FOUND
    );
    // Provisioning again is a no-op there as well, and migrate reaches it.
    assert_eq!(
        app.tenant("beta", "310000", "b").await,
        ProvisionOutcome::AlreadyPresent {
            migrations_applied: 0
        }
    );
    let migrated = app.db().provisioner().migrate_all().await.unwrap();
    assert!(migrated.contains(&("beta".to_string(), 0)));
}

#[tokio::test]
async fn an_archived_tenant_is_no_longer_served_and_its_data_is_kept() {
    let app = TestApp::init().await;
    app.tenant("alpha", "520200", "main").await;
    assert_eq!(app.get("/t/alpha/").await.status, StatusCode::OK);
    let schema = app.db().provisioner().archive("alpha").await.unwrap();
    assert!(schema.starts_with("t_alpha_archived_"), "{schema}");
    assert_eq!(app.get("/t/alpha/").await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get("/api/v1/t/alpha/regions/520200").await.status,
        StatusCode::NOT_FOUND
    );
    let mut su = app.superuser("main").await;
    let n: i64 = sqlx::query_scalar(&format!("select count(*) from \"{schema}\".regions"))
        .fetch_one(&mut su)
        .await
        .unwrap();
    assert_eq!(n, 6);
    // The slug stays taken: creating it again is refused rather than silently reusing it.
    let again = app
        .db()
        .provisioner()
        .create(
            &xiaobao_db::NewTenant {
                slug: "alpha".into(),
                name_zh: "x".into(),
                root_region_code: "520200".into(),
                cluster: "main".into(),
            },
            &xiaobao_db::seed::regions_under(xiaobao_db::seed::REGIONS_CSV, "520200").unwrap(),
            None,
        )
        .await;
    assert!(matches!(again, Err(xiaobao_db::DbError::ArchivedTenant(_))));
}

#[tokio::test]
async fn the_catalog_cache_follows_changes_made_by_another_process() {
    let app = TestApp::init().await;
    let listener = tokio::spawn(
        app.db()
            .catalog
            .clone()
            .listen(app.db().clusters.main().clone()),
    );
    app.tenant("alpha", "520200", "main").await;
    // Another process archives the tenant directly in the catalog.
    let mut su = app.superuser("main").await;
    su.execute("update control.tenants set status = 'archived' where slug = 'alpha'")
        .await
        .unwrap();
    let mut archived = false;
    for _ in 0..50 {
        if app.get("/t/alpha/").await.status == StatusCode::NOT_FOUND {
            archived = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    listener.abort();
    assert!(archived, "the catalog cache did not pick up the change");
}

#[tokio::test]
async fn bad_slugs_and_unknown_clusters_are_refused_before_anything_is_made() {
    let app = TestApp::init().await;
    let regions = xiaobao_db::seed::regions_under(xiaobao_db::seed::REGIONS_CSV, "520200").unwrap();
    for (slug, cluster) in [("Bad-Slug", "main"), ("x", "main"), ("gamma", "nowhere")] {
        let r = app
            .db()
            .provisioner()
            .create(
                &xiaobao_db::NewTenant {
                    slug: slug.into(),
                    name_zh: "测试".into(),
                    root_region_code: "520200".into(),
                    cluster: cluster.into(),
                },
                &regions,
                None,
            )
            .await;
        assert!(r.is_err(), "{slug} on {cluster} was accepted");
    }
    assert!(app.db().catalog.all().is_empty());
}

async fn schema_exists(conn: &mut sqlx::PgConnection, schema: &str) -> bool {
    sqlx::query_scalar("select exists (select 1 from pg_namespace where nspname = $1)")
        .bind(schema)
        .fetch_one(conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn invalid_rules_refuse_provisioning_before_anything_is_made() {
    let app = TestApp::init().await;
    let regions = xiaobao_db::seed::regions_under(xiaobao_db::seed::REGIONS_CSV, "520200").unwrap();
    let r = app
        .db()
        .provisioner()
        .create(
            &xiaobao_db::NewTenant {
                slug: "gamma".into(),
                name_zh: "测试".into(),
                root_region_code: "520200".into(),
                cluster: "main".into(),
            },
            &regions,
            Some(&xiaobao_db::RulesSeed {
                academic_year: "2025-2026".into(),
                document: "academic_year = \"2025-2026\"\n".into(),
            }),
        )
        .await;
    let err = r.unwrap_err().to_string();
    assert!(err.contains("项目规则无效"), "{err}");
    assert!(app.db().catalog.all().is_empty());
    let mut su = app.superuser("main").await;
    assert!(!schema_exists(&mut su, "t_gamma").await);
}
