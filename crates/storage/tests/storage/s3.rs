//! The S3 backend against a real S3-compatible server on loopback (moto's server, started by
//! `infra/test/run.sh`). Each test makes its own bucket.

use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::path::Path;
use xiaobao_storage::{DocumentKind, StoreSettings, build_store};
use xiaobao_test_support::TestApp;

use crate::{body, collect, meta, pdf, sha256_hex};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run the suite with infra/test/run.sh, which starts moto's S3 \
             server on loopback and exports XIAOBAO_TEST_S3_ENDPOINT, \
             XIAOBAO_TEST_S3_ACCESS_KEY_ID, XIAOBAO_TEST_S3_SECRET_ACCESS_KEY and \
             XIAOBAO_TEST_S3_REGION"
        )
    })
}

struct Bucket {
    endpoint: String,
    name: String,
    store: Arc<dyn ObjectStore>,
}

/// A fresh bucket on the test server. object_store cannot create buckets, so this is a plain
/// `PUT /<bucket>`, which moto accepts unsigned.
async fn bucket() -> Bucket {
    let endpoint = env("XIAOBAO_TEST_S3_ENDPOINT")
        .trim_end_matches('/')
        .to_string();
    assert!(
        endpoint.starts_with("http://127.") || endpoint.starts_with("http://localhost"),
        "XIAOBAO_TEST_S3_ENDPOINT must be a loopback address, not {endpoint}"
    );
    let name = format!("xbt-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let response = reqwest::Client::new()
        .put(format!("{endpoint}/{name}"))
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!("cannot reach the S3 test server at {endpoint} ({e}): run infra/test/run.sh")
        });
    assert!(
        response.status().is_success(),
        "create bucket: {}",
        response.status()
    );
    let store = build_store(&StoreSettings::S3 {
        endpoint: endpoint.clone(),
        bucket: name.clone(),
        region: env("XIAOBAO_TEST_S3_REGION"),
        access_key_id: env("XIAOBAO_TEST_S3_ACCESS_KEY_ID"),
        secret_access_key: env("XIAOBAO_TEST_S3_SECRET_ACCESS_KEY"),
        virtual_hosted_style: false,
        allow_http: true,
    })
    .unwrap();
    Bucket {
        endpoint,
        name,
        store,
    }
}

impl Bucket {
    /// Empties and deletes the bucket.
    async fn remove(self) {
        let objects: Vec<_> = self.store.list(None).try_collect().await.unwrap();
        for o in objects {
            self.store.delete(&o.location).await.unwrap();
        }
        let response = reqwest::Client::new()
            .delete(format!("{}/{}", self.endpoint, self.name))
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "delete bucket: {}",
            response.status()
        );
    }
}

#[tokio::test]
async fn a_multi_mib_document_goes_up_in_parts_and_streams_back_identical() {
    let bucket = bucket().await;
    let app = TestApp::init().await;
    app.tenant("alpha", "520200", "main").await;
    let alpha = app.db().active_tenant("alpha").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let docs = crate::documents(bucket.store.clone(), dir.path());

    // 13 MiB: three parts of the default 5 MiB.
    let data = pdf(13 * 1024 * 1024 + 123, 21);
    let row = docs
        .store(
            app.db(),
            &alpha,
            &meta(DocumentKind::ClaimEvidence, "claim-s3"),
            "理赔材料（扫描件）.pdf",
            body(&data, 64 * 1024),
        )
        .await
        .unwrap();
    assert_eq!(row.sha256, sha256_hex(&data));

    let head = bucket
        .store
        .head(&Path::from(row.object_key.as_str()))
        .await
        .unwrap();
    assert_eq!(head.size, data.len() as u64);
    // S3 marks a multipart object's ETag with the number of parts.
    let etag = head.e_tag.unwrap_or_default();
    assert!(
        etag.trim_matches('"').ends_with("-3"),
        "multipart ETag expected, got {etag}"
    );

    let mut tx = app.db().tenant_tx(&alpha).await.unwrap();
    let (opened, stream) = docs.open(&mut tx, row.document_id).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(opened.document_id, row.document_id);
    let (bytes, chunks) = collect(stream).await.unwrap();
    assert!(
        chunks > 1,
        "the download arrived as {chunks} chunk(s), not streamed"
    );
    assert_eq!(bytes.len(), data.len());
    assert_eq!(sha256_hex(&bytes), row.sha256);

    bucket.remove().await;
}

#[tokio::test]
async fn on_s3_the_same_file_is_stored_once_and_orphans_are_swept() {
    let bucket = bucket().await;
    let app = TestApp::init().await;
    app.tenant("alpha", "520200", "main").await;
    let alpha = app.db().active_tenant("alpha").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let docs = crate::documents(bucket.store.clone(), dir.path());

    let data = pdf(200_000, 22);
    let first = docs
        .put_stream(
            alpha.tenant_id,
            DocumentKind::Policy,
            "保单.pdf",
            body(&data, 10_000),
        )
        .await
        .unwrap();
    assert!(!first.deduplicated);
    let again = docs
        .put_stream(
            alpha.tenant_id,
            DocumentKind::Policy,
            "保单-副本.pdf",
            body(&data, 7_000),
        )
        .await
        .unwrap();
    assert!(again.deduplicated);
    assert_eq!(again.key, first.key);

    let orphan = docs
        .put_stream(
            alpha.tenant_id,
            DocumentKind::Policy,
            "作废.pdf",
            body(&pdf(50_000, 23), 10_000),
        )
        .await
        .unwrap();
    let mut tx = app.db().tenant_tx(&alpha).await.unwrap();
    docs.record(&mut tx, &alpha, &first, &meta(DocumentKind::Policy, "p-1"))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let report = docs
        .sweep_unreferenced(
            app.db(),
            &alpha,
            Duration::ZERO,
            xiaobao_domain::Clock::system().now(),
        )
        .await
        .unwrap();
    assert_eq!(
        (report.scanned, report.referenced, report.deleted),
        (2, 1, 1),
        "{report:?}"
    );
    let left: Vec<_> = bucket.store.list(None).try_collect().await.unwrap();
    let keys: Vec<_> = left.iter().map(|o| o.location.to_string()).collect();
    assert_eq!(keys, vec![first.key.as_str()]);
    assert!(!keys.contains(&orphan.key));

    bucket.remove().await;
}
