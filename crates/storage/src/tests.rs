//! Unit tests of the upload path against the in-memory store.

#![expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use object_store::ObjectStore;
use object_store::memory::InMemory;
use object_store::path::Path;
use sha2::{Digest, Sha256};

use crate::sniff::tests::{docx_bytes, jpeg_bytes, pdf_bytes, png_bytes, xlsx_bytes};
use crate::{DocumentKind, Documents, MediaType, StorageError, object_key};

struct Fixture {
    store: Arc<InMemory>,
    docs: Documents,
    temp: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let store = Arc::new(InMemory::new());
    let temp = tempfile::tempdir().unwrap();
    let docs = Documents::new(store.clone(), temp.path().join("uploads"));
    Fixture { store, docs, temp }
}

impl Fixture {
    /// Every temporary upload file is gone.
    fn assert_no_temp_files(&self) {
        let dir = self.temp.path().join("uploads");
        let left: Vec<_> = std::fs::read_dir(&dir)
            .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "temporary files left: {left:?}");
    }

    async fn object_count(&self) -> usize {
        self.store
            .list(None)
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
            .len()
    }
}

/// A body of `data` in chunks of `chunk` bytes.
fn body(data: &[u8], chunk: usize) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
    let chunks: Vec<_> = data
        .chunks(chunk)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    stream::iter(chunks)
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Deterministic filler that does not look like anything.
fn filler(len: usize, seed: u8) -> Vec<u8> {
    let mut x = u32::from(seed) | 0x9e37_0000;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

#[tokio::test]
async fn every_accepted_type_is_stored_under_its_content_address() {
    let f = fixture();
    let cases: Vec<(DocumentKind, &str, Vec<u8>, MediaType)> = vec![
        (
            DocumentKind::Roster,
            "学生花名册（2025）.xlsx",
            xlsx_bytes(),
            MediaType::Xlsx,
        ),
        (
            DocumentKind::Roster,
            "名册.csv",
            "姓名,班级\n张三,一年级1班\n".as_bytes().to_vec(),
            MediaType::Csv,
        ),
        (
            DocumentKind::Qualification,
            "办学许可证.pdf",
            pdf_bytes(),
            MediaType::Pdf,
        ),
        (
            DocumentKind::Qualification,
            "证书.PNG",
            png_bytes(),
            MediaType::Png,
        ),
        (
            DocumentKind::Qualification,
            "证书.jpeg",
            jpeg_bytes(),
            MediaType::Jpeg,
        ),
        (
            DocumentKind::ClaimEvidence,
            "诊断证明.docx",
            docx_bytes(),
            MediaType::Docx,
        ),
        (
            DocumentKind::ClaimEvidence,
            "费用清单.xlsx",
            xlsx_bytes(),
            MediaType::Xlsx,
        ),
        (
            DocumentKind::Policy,
            "保单.pdf",
            pdf_bytes(),
            MediaType::Pdf,
        ),
        (
            DocumentKind::Endorsement,
            "批单.pdf",
            pdf_bytes(),
            MediaType::Pdf,
        ),
    ];
    for (kind, name, data, media) in cases {
        let obj = f.docs.put_stream(7, kind, name, body(&data, 100)).await;
        let obj = obj.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(obj.media_type, media, "{name}");
        assert_eq!(obj.size, data.len() as u64);
        assert_eq!(obj.sha256, sha256_hex(&data));
        assert_eq!(obj.key, object_key(7, &obj.sha256));
        assert!(
            obj.key
                .starts_with(&format!("tenants/7/sha256/{}/", &obj.sha256[..2]))
        );
        assert_eq!(obj.original_name, name);
        let stored = f.store.get(&Path::from(obj.key.as_str())).await.unwrap();
        assert_eq!(
            stored.bytes().await.unwrap().as_ref(),
            data.as_slice(),
            "{name}"
        );
    }
    f.assert_no_temp_files();
}

#[tokio::test]
async fn a_file_past_the_kinds_limit_is_refused_without_reading_the_rest() {
    let f = fixture();
    let limit = DocumentKind::Qualification.limits().max_bytes as usize;
    let pulled = Arc::new(AtomicUsize::new(0));
    let counter = pulled.clone();
    let chunk = 1024 * 1024;
    // 30 MiB offered in 1 MiB chunks; the limit is 10 MiB.
    let mut first = pdf_bytes();
    first.resize(chunk, b' ');
    let body = stream::iter(0..30).map(move |i| {
        counter.fetch_add(1, Ordering::SeqCst);
        Ok::<_, std::io::Error>(if i == 0 {
            Bytes::from(first.clone())
        } else {
            Bytes::from(vec![b' '; chunk])
        })
    });
    let err = f
        .docs
        .put_stream(1, DocumentKind::Qualification, "大文件.pdf", body)
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::TooLarge { .. }), "{err:?}");
    assert_eq!(err.code(), "document_too_large");
    assert_eq!(pulled.load(Ordering::SeqCst), limit / chunk + 1);
    assert_eq!(f.object_count().await, 0);
    f.assert_no_temp_files();

    // Exactly at the limit is fine.
    let mut exact = pdf_bytes();
    exact.resize(limit, b' ');
    f.docs
        .put_stream(1, DocumentKind::Qualification, "刚好.pdf", body_of(exact))
        .await
        .unwrap();
}

fn body_of(data: Vec<u8>) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
    stream::once(async move { Ok(Bytes::from(data)) })
}

#[tokio::test]
async fn the_same_bytes_are_stored_once_per_tenant_but_not_shared_across_tenants() {
    let f = fixture();
    let data = xlsx_bytes();
    let a = f
        .docs
        .put_stream(1, DocumentKind::Roster, "一班.xlsx", body(&data, 64))
        .await
        .unwrap();
    assert!(!a.deduplicated);
    let b = f
        .docs
        .put_stream(
            1,
            DocumentKind::Roster,
            "一班（副本）.xlsx",
            body(&data, 1000),
        )
        .await
        .unwrap();
    assert!(b.deduplicated);
    assert_eq!(a.key, b.key);
    assert_eq!(b.original_name, "一班（副本）.xlsx");
    assert_eq!(f.object_count().await, 1);

    let other = f
        .docs
        .put_stream(2, DocumentKind::Roster, "一班.xlsx", body(&data, 64))
        .await
        .unwrap();
    assert!(!other.deduplicated);
    assert_ne!(other.key, a.key);
    assert_eq!(f.object_count().await, 2);
}

#[tokio::test]
async fn a_damaged_object_under_the_key_is_replaced_not_deduplicated() {
    let f = fixture();
    let data = pdf_bytes();
    let key = object_key(1, &sha256_hex(&data));
    f.store
        .put(
            &Path::from(key.as_str()),
            Bytes::from_static(b"%PDF-").into(),
        )
        .await
        .unwrap();
    let obj = f
        .docs
        .put_stream(1, DocumentKind::Policy, "保单.pdf", body(&data, 10))
        .await
        .unwrap();
    assert!(!obj.deduplicated);
    let stored = f.store.get(&Path::from(key.as_str())).await.unwrap();
    assert_eq!(stored.bytes().await.unwrap().as_ref(), data.as_slice());
}

#[tokio::test]
async fn large_files_go_up_in_parts_and_arrive_whole() {
    let f = fixture();
    let docs = f.docs.clone().with_part_size(64 * 1024);
    let mut data = pdf_bytes();
    data.extend(filler(1_000_000, 3));
    let obj = docs
        .put_stream(
            3,
            DocumentKind::ClaimEvidence,
            "病历.pdf",
            body(&data, 7_777),
        )
        .await
        .unwrap();
    let stored = f.store.get(&Path::from(obj.key.as_str())).await.unwrap();
    assert_eq!(stored.meta.size, data.len() as u64);
    let bytes = stored.bytes().await.unwrap();
    assert_eq!(sha256_hex(&bytes), obj.sha256);
    f.assert_no_temp_files();
}

#[tokio::test]
async fn content_that_does_not_match_the_extension_is_refused_in_chinese() {
    let f = fixture();
    let cases: Vec<(DocumentKind, &str, Vec<u8>, &str)> = vec![
        (
            DocumentKind::Roster,
            "花名册.xlsx",
            pdf_bytes(),
            "文件内容不是 Excel 表格（.xlsx），请上传从 Excel 或 WPS 另存的 .xlsx 文件",
        ),
        // A .docx renamed to .xlsx: both are ZIPs, told apart by their entries.
        (
            DocumentKind::ClaimEvidence,
            "清单.xlsx",
            docx_bytes(),
            "文件内容不是 Excel 表格（.xlsx）",
        ),
        (
            DocumentKind::Qualification,
            "证书.pdf",
            png_bytes(),
            "文件内容不是 PDF 文件（.pdf）",
        ),
        (
            DocumentKind::Qualification,
            "证书.png",
            jpeg_bytes(),
            "文件内容不是 PNG 图片（.png）",
        ),
        (
            DocumentKind::Roster,
            "名册.csv",
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00".to_vec(), // an old .xls
            "文件内容不是 CSV 文本（.csv）",
        ),
    ];
    for (kind, name, data, message) in cases {
        let err = f
            .docs
            .put_stream(1, kind, name, body(&data, 50))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "document_content_mismatch", "{name}: {err}");
        assert!(err.to_string().starts_with(message), "{name}: {err}");
        assert!(err.is_client_error());
    }
    assert_eq!(f.object_count().await, 0);
    f.assert_no_temp_files();
}

#[tokio::test]
async fn a_type_the_kind_does_not_accept_is_refused_before_reading_the_body() {
    let f = fixture();
    let never = stream::poll_fn(
        |_| -> std::task::Poll<Option<Result<Bytes, std::io::Error>>> {
            panic!("the body must not be read")
        },
    );
    let err = f
        .docs
        .put_stream(1, DocumentKind::Policy, "保单.docx", never)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "document_type_not_allowed");
    assert_eq!(
        err.to_string(),
        "保单只接受PDF 文件（.pdf）；“保单.docx”不是这些类型的文件"
    );
    for name in ["名册", "名册.txt", "名册.exe"] {
        let err = f
            .docs
            .put_stream(1, DocumentKind::Roster, name, body(b"a,b\n", 10))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "document_type_not_allowed", "{name}");
    }
    let err = f
        .docs
        .put_stream(1, DocumentKind::Roster, "名册.xls", body(b"x", 10))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "document_legacy_format");
    assert_eq!(
        err.to_string(),
        "旧版 .xls 格式不受支持，请在 Excel、Word 或 WPS 中另存为 .xlsx 后上传"
    );
    // .doc is legacy for claim evidence (which takes .docx), simply not allowed for a roster.
    let err = f
        .docs
        .put_stream(1, DocumentKind::ClaimEvidence, "证明.doc", body(b"x", 10))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "document_legacy_format");
    let err = f
        .docs
        .put_stream(1, DocumentKind::Roster, "证明.doc", body(b"x", 10))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "document_type_not_allowed");
}

#[tokio::test]
async fn empty_and_interrupted_uploads_store_nothing() {
    let f = fixture();
    let err = f
        .docs
        .put_stream(1, DocumentKind::Policy, "保单.pdf", body(b"", 1))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "document_empty");

    let broken = stream::iter(vec![
        Ok(Bytes::from(pdf_bytes())),
        Err(std::io::Error::other("connection reset by peer")),
    ]);
    let err = f
        .docs
        .put_stream(1, DocumentKind::Policy, "保单.pdf", broken)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "upload_interrupted");
    assert!(err.to_string().contains("connection reset by peer"));
    assert_eq!(f.object_count().await, 0);
    f.assert_no_temp_files();
}

#[tokio::test]
async fn uploaded_names_are_sanitised() {
    let f = fixture();
    let obj = f
        .docs
        .put_stream(
            1,
            DocumentKind::Policy,
            "C:\\fakepath\\保单\u{202e}.pdf",
            body(&pdf_bytes(), 10),
        )
        .await
        .unwrap();
    assert_eq!(obj.original_name, "保单.pdf");
}

#[tokio::test]
async fn a_download_stream_that_does_not_match_its_row_ends_in_an_error() {
    let data = Bytes::from_static(b"%PDF-1.7 hello");
    let good = sha256_hex(&data);
    let chunks = |d: Bytes| -> futures::stream::BoxStream<'static, object_store::Result<Bytes>> {
        stream::iter(vec![Ok(d.slice(..5)), Ok(d.slice(5..))]).boxed()
    };
    let all: Vec<_> = crate::documents::verified(
        chunks(data.clone()),
        "k".into(),
        data.len() as u64,
        good.clone(),
    )
    .collect()
    .await;
    assert!(all.iter().all(Result::is_ok));
    assert_eq!(all.len(), 2);

    let tampered = Bytes::from_static(b"%PDF-1.7 HELLO");
    let all: Vec<_> = crate::documents::verified(
        chunks(tampered),
        "k".into(),
        data.len() as u64,
        good.clone(),
    )
    .collect()
    .await;
    assert!(
        matches!(all.last(), Some(Err(StorageError::Corrupt { .. }))),
        "{all:?}"
    );

    let longer = Bytes::from_static(b"%PDF-1.7 hello!!");
    let all: Vec<_> =
        crate::documents::verified(chunks(longer), "k".into(), data.len() as u64, good)
            .collect()
            .await;
    assert!(
        matches!(all.last(), Some(Err(StorageError::Corrupt { .. }))),
        "{all:?}"
    );
}

/// The service's futures are `Send`, so axum handlers and the job runner can await them.
#[test]
fn the_service_futures_can_cross_threads() {
    fn send<T: Send>(_: &T) {}
    async fn all(
        docs: &Documents,
        conn: &mut sqlx::PgConnection,
        db: &xiaobao_db::Db,
        tenant: &xiaobao_db::Tenant,
        obj: &crate::StoredObject,
        meta: &crate::DocumentMeta,
    ) {
        let body = || stream::empty::<Result<Bytes, std::io::Error>>();
        send(&docs.put_stream(1, DocumentKind::Roster, "a.csv", body()));
        send(&docs.store(db, tenant, meta, "a.csv", body()));
        send(&docs.record(conn, tenant, obj, meta));
        send(&docs.open(conn, 1));
        send(&docs.sweep_unreferenced(
            db,
            tenant,
            std::time::Duration::ZERO,
            chrono::DateTime::UNIX_EPOCH,
        ));
    }
    let _ = all;
}
