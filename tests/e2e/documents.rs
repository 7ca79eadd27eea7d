use std::time::Duration;

use axum::http::StatusCode;
use bytes::Bytes;
use xiaobao_storage::{DocumentKind, DocumentMeta, DownloadToken};
use xiaobao_test_support::TestApp;

/// A small but real PDF.
fn pdf(text: &str) -> Vec<u8> {
    format!("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% {text}\ntrailer << /Root 1 0 R >>\n%%EOF\n")
        .into_bytes()
}

async fn store_pdf(app: &TestApp, slug: &str, name: &str, bytes: Vec<u8>) -> i64 {
    let tenant = app.db().active_tenant(slug).unwrap();
    let body = futures::stream::iter(vec![Ok::<_, std::io::Error>(Bytes::from(bytes))]);
    let row = app
        .state
        .documents
        .store(
            app.db(),
            &tenant,
            &DocumentMeta {
                kind: DocumentKind::Qualification,
                owner_kind: "school".into(),
                owner_id: "1".into(),
                uploaded_by: "test".into(),
            },
            name,
            body,
        )
        .await
        .unwrap();
    row.document_id
}

fn token(app: &TestApp, slug: &str, id: i64, ttl: Duration) -> String {
    DownloadToken::issue(
        &app.state.download_key,
        slug,
        id,
        app.state.clock.now(),
        ttl,
    )
    .unwrap()
}

#[tokio::test]
async fn a_document_downloads_with_its_chinese_name_through_a_signed_link() {
    let app = TestApp::init().await;
    app.tenant("alpha", "520200", "main").await;
    let bytes = pdf("办学许可证");
    let id = store_pdf(
        &app,
        "alpha",
        "民办学校办学许可证（2025）.pdf",
        bytes.clone(),
    )
    .await;

    let t = token(&app, "alpha", id, Duration::from_secs(300));
    let r = app.get(&format!("/t/alpha/documents/{id}?token={t}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.body, bytes);
    assert_eq!(r.headers["content-type"], "application/pdf");
    let disposition = r.headers["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(
        disposition.contains("filename*=UTF-8''%E6%B0%91%E5%8A%9E"),
        "the Chinese name is RFC 5987-encoded: {disposition}"
    );
    assert_eq!(r.headers["cache-control"], "private, no-store");
}

#[tokio::test]
async fn downloads_without_a_valid_link_for_that_tenant_and_document_are_refused() {
    let app = TestApp::init().await;
    app.tenant("alpha", "520200", "main").await;
    app.tenant("beta", "520200", "main").await;
    let a = store_pdf(&app, "alpha", "a.pdf", pdf("a")).await;
    // Ids are per schema: give beta a document id that alpha does not have.
    store_pdf(&app, "beta", "first.pdf", pdf("first")).await;
    let b = store_pdf(&app, "beta", "b.pdf", pdf("b")).await;
    assert_ne!(a, b);

    // No token, a token for another document, another tenant, or an expired one.
    let wrong_doc = token(&app, "alpha", a + 1000, Duration::from_secs(300));
    let other_tenant = token(&app, "beta", a, Duration::from_secs(300));
    let expired = DownloadToken::issue_until(
        &app.state.download_key,
        "alpha",
        a,
        app.state.clock.now() - chrono::Duration::seconds(1),
    )
    .unwrap();
    for uri in [
        format!("/t/alpha/documents/{a}"),
        format!("/t/alpha/documents/{a}?token={wrong_doc}"),
        format!("/t/alpha/documents/{a}?token={other_tenant}"),
        format!("/t/alpha/documents/{a}?token={expired}"),
        format!("/t/alpha/documents/{a}?token=garbage"),
    ] {
        let r = app.get(&uri).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{uri}");
        assert!(r.text().contains("下载"), "a Chinese explanation: {uri}");
    }
    // beta's document is not reachable through alpha, even with a token alpha would accept.
    let t = token(&app, "alpha", b, Duration::from_secs(300));
    let r = app.get(&format!("/t/alpha/documents/{b}?token={t}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // And beta's own link works for beta.
    let t = token(&app, "beta", b, Duration::from_secs(300));
    assert_eq!(
        app.get(&format!("/t/beta/documents/{b}?token={t}"))
            .await
            .status,
        StatusCode::OK
    );
}
