//! Integration tests of the documents module: real PostgreSQL (through `xiaobao-test-support`)
//! and a real S3-compatible server on loopback (moto, started by `infra/test/run.sh`).

#![expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod db;
mod s3;

use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt, stream};
use object_store::ObjectStore;
use sha2::{Digest, Sha256};
use xiaobao_storage::{DocumentKind, DocumentMeta, Documents};

/// A body of `data` in chunks of `chunk` bytes, as an HTTP body would arrive.
pub fn body(
    data: &[u8],
    chunk: usize,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + use<> {
    let chunks: Vec<_> = data
        .chunks(chunk)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    stream::iter(chunks)
}

/// A PDF of `len` bytes whose content depends on `seed`.
pub fn pdf(len: usize, seed: u32) -> Vec<u8> {
    let mut v = format!("%PDF-1.7\n% seed {seed}\n").into_bytes();
    let mut x = seed | 1;
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        v.push((x >> 24) as u8);
    }
    v.truncate(len);
    v
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

pub fn meta(kind: DocumentKind, owner_id: &str) -> DocumentMeta {
    DocumentMeta {
        kind,
        owner_kind: "claim".into(),
        owner_id: owner_id.into(),
        uploaded_by: "account:1".into(),
    }
}

/// A documents service over `store` with its temp dir under `dir`.
pub fn documents(store: Arc<dyn ObjectStore>, dir: &std::path::Path) -> Documents {
    Documents::new(store, dir.join("uploads"))
}

/// Collects a download stream, returning the bytes and how many chunks it came in.
pub async fn collect(
    mut s: futures::stream::BoxStream<'static, Result<Bytes, xiaobao_storage::StorageError>>,
) -> Result<(Vec<u8>, usize), xiaobao_storage::StorageError> {
    let mut out = Vec::new();
    let mut chunks = 0;
    while let Some(chunk) = s.next().await {
        out.extend_from_slice(&chunk?);
        chunks += 1;
    }
    Ok((out, chunks))
}
