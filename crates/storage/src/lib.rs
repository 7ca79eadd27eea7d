//! Documents: rosters (花名册), certificates (资质证书), claim evidence (理赔材料), policies
//! (保单) and endorsements (批单), stored over [`object_store`].
//!
//! # Model
//!
//! - **Keys** are per tenant and content-addressed:
//!   `tenants/{tenant_id}/sha256/{first two hex}/{sha256}` ([`object_key`]). The same file
//!   uploaded twice by one tenant is stored once; tenants never share objects.
//! - **A row** in the tenant's `documents` table (migration `tenant/0003_documents.sql`) records
//!   tenant, owner, kind, original name, media type, size, hash, uploader and time.
//! - **Bytes first, row second.** [`Documents::put_stream`] stores the bytes;
//!   [`Documents::record`] inserts the row inside the caller's business transaction. A crash in
//!   between leaves at most an unreferenced object, which [`Documents::sweep_unreferenced`]
//!   removes later — never a row without bytes (`record` re-checks the object under an advisory
//!   lock that the sweep must hold exclusively to delete).
//! - **Limits by kind** ([`DocumentKind::limits`]): size, and types told by magic bytes
//!   ([`sniff`]) that must agree with the name's extension. Errors ([`StorageError`]) carry a
//!   Chinese message and a stable [`StorageError::code`].
//! - **Streaming** both ways: uploads spool to a temporary file while hashing, then go up in one
//!   `PUT` (≤ 5 MiB) or a multipart upload; downloads stream from the store and are verified
//!   against the row's size and hash on the way.
//! - **Authorised downloads only.** Buckets stay private and no pre-signed or public URL is
//!   handed out: the service's download route checks a [`DownloadToken`] (or the session's
//!   rights), opens the document with [`Documents::open`] and sends it with
//!   [`content_disposition`], which carries the Chinese file name per RFC 6266/5987.
//!
//! # Backends ([`StoreSettings`], [`build_store`])
//!
//! - `Local { dir }` — the embedded default: files under `dir` (e.g. `./var/objects`).
//! - `S3 { … }` — production: Aliyun OSS (or any S3-compatible service).
//! - `Memory` — unit tests only.
//!
//! ## Aliyun OSS
//!
//! OSS speaks the S3 API with AWS Signature V4, with three differences that matter here:
//!
//! 1. **Virtual-hosted style only.** OSS refuses path-style requests
//!    (`SecondLevelDomainForbidden`, "Please use virtual hosted style to access"). Set
//!    `virtual_hosted_style: true` and give an endpoint that **already names the bucket**:
//!    `https://<bucket>.oss-<region>.aliyuncs.com` (or the internal
//!    `https://<bucket>.oss-<region>-internal.aliyuncs.com` from an ECS instance in the same
//!    region — no traffic charge). `build_store` refuses a virtual-hosted endpoint whose host
//!    does not start with `<bucket>.`.
//! 2. **Region** is the OSS region id used in the signature's credential scope: Aliyun's page
//!    "使用 AWS SDK 访问 OSS" signs with `cn-hangzhou` for Hangzhou (older guides and tools
//!    write `oss-cn-hangzhou`). Use the form your endpoint's region id has, e.g. `cn-hangzhou`,
//!    `cn-beijing`, `cn-shanghai`.
//! 3. **No chunked signing.** The AWS SDKs upload with `Content-Encoding: aws-chunked`
//!    (streaming signatures) by default, which OSS does not take as they send it — Aliyun tells
//!    AWS SDK users to turn it off (`chunkedEncodingEnabled(false)`; error `0017-00000804`).
//!    object_store 0.12 never uses chunked encoding: each `PUT` and each multipart part is a
//!    whole in-memory body whose SHA-256 goes into `x-amz-content-sha256`. `build_store`
//!    keeps the payload signed (`with_unsigned_payload(false)`), disables conditional puts
//!    (`S3ConditionalPut::Disabled`: this module never needs them, because a content-addressed
//!    key is only ever written with the same bytes) and object tagging, and sends no
//!    `x-amz-checksum-*` headers. Deletions are single `DELETE`s (no `DeleteObjects` batch).
//!
//! Aliyun's page lists `https://s3.oss-<region>.aliyuncs.com` as the S3-compatible endpoint and
//! its Java example uses the regular `https://oss-<region>.aliyuncs.com`; with the bucket in
//! front, either is a virtual-hosted endpoint for `StoreSettings`. These settings follow Aliyun's
//! documentation and the S3 behaviour tested against moto; they have not been run against a
//! live OSS bucket from the development environment — check them once on the real bucket
//! (upload, download, sweep) before relying on them.
//!
//! Recommended production settings (Hangzhou, bucket `xiaobao-docs`):
//!
//! ```
//! # use xiaobao_storage::StoreSettings;
//! let oss = StoreSettings::S3 {
//!     endpoint: "https://xiaobao-docs.oss-cn-hangzhou-internal.aliyuncs.com".into(),
//!     bucket: "xiaobao-docs".into(),
//!     region: "cn-hangzhou".into(),
//!     access_key_id: "<RAM user AccessKey ID>".into(),
//!     secret_access_key: "<RAM user AccessKey secret>".into(),
//!     virtual_hosted_style: true,
//!     allow_http: false,
//! };
//! # xiaobao_storage::build_store(&oss).map(|_| ()).map_err(|e| e.to_string())?;
//! # Ok::<(), String>(())
//! ```
//!
//! On the OSS side: a **private** bucket (ACL 私有, "阻止公共访问" on); a RAM user limited to
//! `oss:PutObject`, `oss:GetObject`, `oss:DeleteObject`, `oss:ListObjects`,
//! `oss:AbortMultipartUpload`, `oss:ListParts` on `acs:oss:*:*:xiaobao-docs/*` and
//! `xiaobao-docs`; a lifecycle rule that deletes incomplete multipart uploads ("碎片") after one
//! day (a process killed mid-upload leaves parts that no listing shows); server-side encryption
//! (SSE-OSS) on the bucket if the programme requires encryption at rest. The S3 client uses the
//! machine's root certificates (the `ca-certificates` package).
//!
//! Locally and in the tests the same code runs against moto's S3 server on loopback
//! (path style, `allow_http: true`).

mod documents;
mod error;
mod kind;
mod names;
mod open;
mod settings;
pub mod sniff;
mod token;

pub use documents::{
    DEFAULT_PART_CONCURRENCY, DEFAULT_PART_SIZE, DocumentMeta, DocumentRow, Documents,
    StoredObject, SweepReport, get, list_for_owner, object_key,
};
pub use error::StorageError;
pub use kind::{DocumentKind, KindLimits, MediaType};
pub use names::{UNNAMED, content_disposition, sanitize_file_name};
pub use settings::{StoreSettings, build_store};
pub use token::{DownloadToken, MIN_KEY_BYTES, TokenError};

#[cfg(test)]
mod tests;
