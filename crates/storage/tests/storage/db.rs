//! `record`, `open` and `sweep_unreferenced` against real PostgreSQL, with the local
//! filesystem store (the embedded default).

use std::sync::Arc;
use std::time::Duration;

use object_store::ObjectStore;
use object_store::path::Path;
use xiaobao_storage::{
    DocumentKind, Documents, MediaType, StorageError, StoreSettings, SweepReport, build_store,
    list_for_owner, object_key,
};
use xiaobao_test_support::TestApp;

use crate::{body, collect, meta, pdf, sha256_hex};

struct Env {
    app: TestApp,
    store: Arc<dyn ObjectStore>,
    docs: Documents,
    _dir: tempfile::TempDir,
}

async fn env(tenants: &[&str]) -> Env {
    let app = TestApp::init().await;
    for slug in tenants {
        app.tenant(slug, "520200", "main").await;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = build_store(&StoreSettings::Local {
        dir: dir.path().join("objects"),
    })
    .unwrap();
    let docs = crate::documents(store.clone(), dir.path());
    Env {
        app,
        store,
        docs,
        _dir: dir,
    }
}

async fn count_rows(app: &TestApp, slug: &str) -> i64 {
    let tenant = app.db().active_tenant(slug).unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    sqlx::query_scalar!(r#"select count(*) as "count!" from documents"#)
        .fetch_one(&mut *tx)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_recorded_document_opens_as_the_same_bytes_with_its_chinese_name() {
    let e = env(&["alpha"]).await;
    let alpha = e.app.db().active_tenant("alpha").unwrap();
    let data = pdf(300_000, 1);
    let obj = e
        .docs
        .put_stream(
            alpha.tenant_id,
            DocumentKind::Policy,
            "保单（2025）.pdf",
            body(&data, 8192),
        )
        .await
        .unwrap();

    let mut tx = e.app.db().tenant_tx(&alpha).await.unwrap();
    let row = e
        .docs
        .record(
            &mut tx,
            &alpha,
            &obj,
            &meta(DocumentKind::Policy, "claim-9"),
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(row.tenant_id, alpha.tenant_id);
    assert_eq!(row.kind, DocumentKind::Policy);
    assert_eq!(row.media_type, MediaType::Pdf);
    assert_eq!(row.original_name, "保单（2025）.pdf");
    assert_eq!(row.size_bytes, data.len() as i64);
    assert_eq!(row.sha256, sha256_hex(&data));
    assert_eq!(row.object_key, object_key(alpha.tenant_id, &row.sha256));
    assert_eq!(row.uploaded_by, "account:1");

    let mut tx = e.app.db().tenant_tx(&alpha).await.unwrap();
    let (opened, stream) = e.docs.open(&mut tx, row.document_id).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(opened, row);
    let (bytes, _) = collect(stream).await.unwrap();
    assert_eq!(sha256_hex(&bytes), row.sha256);
    assert!(
        opened
            .content_disposition()
            .to_str()
            .unwrap()
            .ends_with("filename*=UTF-8''%E4%BF%9D%E5%8D%95%EF%BC%882025%EF%BC%89.pdf")
    );

    let mut tx = e.app.db().tenant_tx(&alpha).await.unwrap();
    let err = e
        .docs
        .open(&mut tx, row.document_id + 1000)
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), "document_not_found");
    drop(tx);
}

#[tokio::test]
async fn a_rolled_back_business_write_leaves_only_an_object_that_the_sweep_removes() {
    let e = env(&["alpha"]).await;
    let alpha = e.app.db().active_tenant("alpha").unwrap();
    let data = pdf(10_000, 2);
    let obj = e
        .docs
        .put_stream(
            alpha.tenant_id,
            DocumentKind::ClaimEvidence,
            "病历.pdf",
            body(&data, 999),
        )
        .await
        .unwrap();
    let mut tx = e.app.db().tenant_tx(&alpha).await.unwrap();
    e.docs
        .record(
            &mut tx,
            &alpha,
            &obj,
            &meta(DocumentKind::ClaimEvidence, "claim-1"),
        )
        .await
        .unwrap();
    // The business write fails after the row was inserted: everything rolls back.
    tx.rollback().await.unwrap();
    assert_eq!(count_rows(&e.app, "alpha").await, 0);
    let path = Path::from(obj.key.as_str());
    assert!(
        e.store.head(&path).await.is_ok(),
        "bytes stay until the sweep"
    );

    // Younger than the cut-off: kept (it might belong to an upload about to commit).
    let report = e
        .docs
        .sweep_unreferenced(
            e.app.db(),
            &alpha,
            Duration::from_secs(3600),
            xiaobao_domain::Clock::system().now(),
        )
        .await
        .unwrap();
    assert_eq!(
        report,
        SweepReport {
            scanned: 1,
            too_recent: 1,
            ..SweepReport::default()
        }
    );
    assert!(e.store.head(&path).await.is_ok());

    let report = e
        .docs
        .sweep_unreferenced(
            e.app.db(),
            &alpha,
            Duration::ZERO,
            xiaobao_domain::Clock::system().now(),
        )
        .await
        .unwrap();
    assert_eq!(report.deleted, 1, "{report:?}");
    assert!(matches!(
        e.store.head(&path).await,
        Err(object_store::Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn the_sweep_keeps_referenced_objects_other_tenants_objects_and_foreign_keys() {
    let e = env(&["alpha", "beta"]).await;
    let alpha = e.app.db().active_tenant("alpha").unwrap();
    let beta = e.app.db().active_tenant("beta").unwrap();
    let kept = e
        .docs
        .store(
            e.app.db(),
            &alpha,
            &meta(DocumentKind::Policy, "p-1"),
            "保单.pdf",
            body(&pdf(5_000, 10), 100),
        )
        .await
        .unwrap();
    let orphan = e
        .docs
        .put_stream(
            alpha.tenant_id,
            DocumentKind::Policy,
            "孤儿.pdf",
            body(&pdf(5_000, 11), 100),
        )
        .await
        .unwrap();
    let betas = e
        .docs
        .put_stream(
            beta.tenant_id,
            DocumentKind::Policy,
            "乙.pdf",
            body(&pdf(5_000, 12), 100),
        )
        .await
        .unwrap();
    // A tenant whose id starts with alpha's (1 → 10) must not be swept with alpha.
    let lookalike = object_key(alpha.tenant_id * 10, &sha256_hex(b"x"));
    e.store
        .put(
            &Path::from(lookalike.as_str()),
            bytes::Bytes::from_static(b"x").into(),
        )
        .await
        .unwrap();
    let foreign = format!("tenants/{}/exports/report.csv", alpha.tenant_id);
    e.store
        .put(
            &Path::from(foreign.as_str()),
            bytes::Bytes::from_static(b"a,b").into(),
        )
        .await
        .unwrap();

    let report = e
        .docs
        .sweep_unreferenced(
            e.app.db(),
            &alpha,
            Duration::ZERO,
            xiaobao_domain::Clock::system().now(),
        )
        .await
        .unwrap();
    assert_eq!(
        report,
        SweepReport {
            scanned: 3,
            referenced: 1,
            foreign: 1,
            deleted: 1,
            ..SweepReport::default()
        }
    );
    for (key, present) in [
        (&kept.object_key, true),
        (&orphan.key, false),
        (&betas.key, true),
        (&lookalike, true),
        (&foreign, true),
    ] {
        assert_eq!(
            e.store.head(&Path::from(key.as_str())).await.is_ok(),
            present,
            "{key}"
        );
    }
    let mut tx = e.app.db().tenant_tx(&alpha).await.unwrap();
    let (_, stream) = e.docs.open(&mut tx, kept.document_id).await.unwrap();
    collect(stream).await.unwrap();
    drop(tx);
}

#[tokio::test]
async fn the_sweep_leaves_an_object_whose_row_is_being_written() {
    let e = env(&["alpha"]).await;
    let alpha = e.app.db().active_tenant("alpha").unwrap();
    let obj = e
        .docs
        .put_stream(
            alpha.tenant_id,
            DocumentKind::Policy,
            "保单.pdf",
            body(&pdf(2_000, 3), 500),
        )
        .await
        .unwrap();
    let mut business = e.app.db().tenant_tx(&alpha).await.unwrap();
    e.docs
        .record(
            &mut business,
            &alpha,
            &obj,
            &meta(DocumentKind::Policy, "p-2"),
        )
        .await
        .unwrap();

    // The row is not committed yet, so the object looks unreferenced — but it is locked.
    let report = e
        .docs
        .sweep_unreferenced(
            e.app.db(),
            &alpha,
            Duration::ZERO,
            xiaobao_domain::Clock::system().now(),
        )
        .await
        .unwrap();
    assert_eq!(report.busy, 1, "{report:?}");
    assert_eq!(report.deleted, 0);

    business.commit().await.unwrap();
    let report = e
        .docs
        .sweep_unreferenced(
            e.app.db(),
            &alpha,
            Duration::ZERO,
            xiaobao_domain::Clock::system().now(),
        )
        .await
        .unwrap();
    assert_eq!(report.referenced, 1, "{report:?}");
    assert!(e.store.head(&Path::from(obj.key.as_str())).await.is_ok());
}

#[tokio::test]
async fn no_row_is_written_for_bytes_that_vanished_before_the_record() {
    let e = env(&["alpha"]).await;
    let alpha = e.app.db().active_tenant("alpha").unwrap();
    let obj = e
        .docs
        .put_stream(
            alpha.tenant_id,
            DocumentKind::Policy,
            "保单.pdf",
            body(&pdf(2_000, 4), 500),
        )
        .await
        .unwrap();
    // E.g. a sweep deleted an old orphan that this upload had deduplicated against.
    e.store.delete(&Path::from(obj.key.as_str())).await.unwrap();
    let mut tx = e.app.db().tenant_tx(&alpha).await.unwrap();
    let err = e
        .docs
        .record(&mut tx, &alpha, &obj, &meta(DocumentKind::Policy, "p-3"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "document_object_missing");
    tx.commit().await.unwrap();
    assert_eq!(count_rows(&e.app, "alpha").await, 0);
}

#[tokio::test]
async fn a_row_whose_bytes_are_missing_or_damaged_never_yields_a_complete_body() {
    let e = env(&["alpha"]).await;
    let alpha = e.app.db().active_tenant("alpha").unwrap();
    let a = e
        .docs
        .store(
            e.app.db(),
            &alpha,
            &meta(DocumentKind::Policy, "p"),
            "甲.pdf",
            body(&pdf(70_000, 5), 4096),
        )
        .await
        .unwrap();
    let b = e
        .docs
        .store(
            e.app.db(),
            &alpha,
            &meta(DocumentKind::Policy, "p"),
            "乙.pdf",
            body(&pdf(70_000, 6), 4096),
        )
        .await
        .unwrap();

    e.store
        .delete(&Path::from(a.object_key.as_str()))
        .await
        .unwrap();
    let mut tx = e.app.db().tenant_tx(&alpha).await.unwrap();
    let err = e.docs.open(&mut tx, a.document_id).await.err().unwrap();
    assert!(matches!(err, StorageError::ObjectMissing { .. }), "{err:?}");

    // Same size, different bytes: the stream ends in an error, not a normal end.
    e.store
        .put(
            &Path::from(b.object_key.as_str()),
            bytes::Bytes::from(pdf(70_000, 7)).into(),
        )
        .await
        .unwrap();
    let (_, stream) = e.docs.open(&mut tx, b.document_id).await.unwrap();
    let err = collect(stream).await.unwrap_err();
    assert_eq!(err.code(), "document_corrupt");

    // Another size: refused before a byte is sent.
    e.store
        .put(
            &Path::from(b.object_key.as_str()),
            bytes::Bytes::from(pdf(100, 7)).into(),
        )
        .await
        .unwrap();
    let err = e.docs.open(&mut tx, b.document_id).await.err().unwrap();
    assert_eq!(err.code(), "document_corrupt");
    drop(tx);
}

#[tokio::test]
async fn one_tenants_object_cannot_be_recorded_in_another_tenant() {
    let e = env(&["alpha", "beta"]).await;
    let alpha = e.app.db().active_tenant("alpha").unwrap();
    let beta = e.app.db().active_tenant("beta").unwrap();
    let obj = e
        .docs
        .put_stream(
            alpha.tenant_id,
            DocumentKind::Policy,
            "保单.pdf",
            body(&pdf(1_000, 8), 500),
        )
        .await
        .unwrap();
    let mut tx = e.app.db().tenant_tx(&beta).await.unwrap();
    let err = e
        .docs
        .record(&mut tx, &beta, &obj, &meta(DocumentKind::Policy, "p"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "document_wrong_tenant");
    drop(tx);

    // Nor with a kind that does not accept its type.
    let mut tx = e.app.db().tenant_tx(&alpha).await.unwrap();
    let err = e
        .docs
        .record(&mut tx, &alpha, &obj, &meta(DocumentKind::Roster, "r"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "document_type_not_allowed");
    drop(tx);
}

#[tokio::test]
async fn documents_are_listed_by_owner_and_rows_are_never_updated() {
    let e = env(&["alpha"]).await;
    let alpha = e.app.db().active_tenant("alpha").unwrap();
    let data = pdf(3_000, 9);
    for name in ["一.pdf", "二.pdf"] {
        e.docs
            .store(
                e.app.db(),
                &alpha,
                &meta(DocumentKind::ClaimEvidence, "claim-5"),
                name,
                body(&data, 1000),
            )
            .await
            .unwrap();
    }
    e.docs
        .store(
            e.app.db(),
            &alpha,
            &meta(DocumentKind::ClaimEvidence, "claim-6"),
            "三.pdf",
            body(&data, 1000),
        )
        .await
        .unwrap();
    let mut tx = e.app.db().tenant_tx(&alpha).await.unwrap();
    let rows = list_for_owner(&mut tx, "claim", "claim-5").await.unwrap();
    let names: Vec<_> = rows.iter().map(|r| r.original_name.as_str()).collect();
    assert_eq!(names, ["一.pdf", "二.pdf"]);
    // The same bytes: one object for three rows.
    assert_eq!(rows[0].object_key, rows[1].object_key);

    let err = sqlx::query!("update documents set original_name = 'x.pdf'")
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("never updated"), "{err}");
    drop(tx);

    // The database refuses a key that is not the content address of the row's hash.
    let mut tx = e.app.db().tenant_tx(&alpha).await.unwrap();
    let err = sqlx::query!(
        "insert into documents (tenant_id, kind, owner_kind, owner_id, original_name, media_type, \
         size_bytes, sha256, object_key, uploaded_by) values \
         ($1, 'policy', 'claim', 'c', 'a.pdf', 'application/pdf', 1, $2, 'tenants/2/x', 'me')",
        alpha.tenant_id,
        sha256_hex(b"a"),
    )
    .execute(&mut *tx)
    .await
    .unwrap_err();
    assert!(err.to_string().contains("check"), "{err}");
    drop(tx);
}
