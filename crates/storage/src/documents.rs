//! The documents service: streaming upload to content-addressed keys, the database row that
//! refers to them, streaming download, and the cleanup of unreferenced objects.

use std::path::PathBuf;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::{BoxStream, Stream, StreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload, WriteMultipart};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use xiaobao_db::{Db, Tenant};

use crate::StorageError;
use crate::kind::{DocumentKind, MediaType, extension};
use crate::names::sanitize_file_name;
use crate::sniff::{SNIFF_LEN, sniff};

/// Parts of a multipart upload (S3's smallest part for all but the last is 5 MiB). Files up to
/// this size go up in one `PUT`.
pub const DEFAULT_PART_SIZE: usize = 5 * 1024 * 1024;
/// Parts in flight at once per upload.
pub const DEFAULT_PART_CONCURRENCY: usize = 2;
/// Read buffer for the temp file and the chunks handed to the store.
const READ_CHUNK: usize = 256 * 1024;
/// How many listed objects the cleanup checks against the database per query.
const SWEEP_BATCH: usize = 500;

/// The object key of a document: per tenant and content-addressed.
///
/// `tenants/{tenant_id}/sha256/{first two hex digits}/{sha256 hex}`. The database checks that
/// every row's key has exactly this form.
pub fn object_key(tenant_id: i64, sha256_hex: &str) -> String {
    let fan = sha256_hex.get(..2).unwrap_or("00");
    format!("tenants/{tenant_id}/sha256/{fan}/{sha256_hex}")
}

/// Bytes that are stored (or were already stored) in the object store, not yet referenced by a
/// row. Hand it to [`Documents::record`] inside the business transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub key: String,
    /// Lowercase hex SHA-256 of the content.
    pub sha256: String,
    pub size: u64,
    /// The type told by content (it also matched the name's extension).
    pub media_type: MediaType,
    /// The uploaded name, sanitised (see [`sanitize_file_name`]).
    pub original_name: String,
    /// The same bytes were already stored for this tenant; nothing was uploaded.
    pub deduplicated: bool,
}

/// What the caller knows about a document besides its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentMeta {
    pub kind: DocumentKind,
    /// What the document belongs to, e.g. `enrolment`, `claim`, `school`.
    pub owner_kind: String,
    /// The owner's id, as text (ids of several contexts share this column).
    pub owner_id: String,
    /// Who uploaded it (an account id or `system:<job>`), for the audit trail.
    pub uploaded_by: String,
}

/// One row of the tenant's `documents` table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DocumentRow {
    pub document_id: i64,
    pub tenant_id: i64,
    pub kind: DocumentKind,
    pub owner_kind: String,
    pub owner_id: String,
    pub original_name: String,
    pub media_type: MediaType,
    pub size_bytes: i64,
    pub sha256: String,
    pub object_key: String,
    pub uploaded_by: String,
    pub uploaded_at: DateTime<Utc>,
}

impl DocumentRow {
    /// `Content-Disposition` for downloading it under its original name.
    pub fn content_disposition(&self) -> http::HeaderValue {
        crate::content_disposition(&self.original_name)
    }
}

struct RawRow {
    document_id: i64,
    tenant_id: i64,
    kind: String,
    owner_kind: String,
    owner_id: String,
    original_name: String,
    media_type: String,
    size_bytes: i64,
    sha256: String,
    object_key: String,
    uploaded_by: String,
    uploaded_at: DateTime<Utc>,
}

impl TryFrom<RawRow> for DocumentRow {
    type Error = StorageError;
    fn try_from(r: RawRow) -> Result<Self, StorageError> {
        let bad = |what: &str, v: &str| {
            StorageError::Db(xiaobao_db::DbError::Invalid(format!(
                "documents 表中 {what} 的值 {v:?} 无法识别"
            )))
        };
        Ok(Self {
            kind: DocumentKind::parse(&r.kind).ok_or_else(|| bad("kind", &r.kind))?,
            media_type: MediaType::from_mime(&r.media_type)
                .ok_or_else(|| bad("media_type", &r.media_type))?,
            document_id: r.document_id,
            tenant_id: r.tenant_id,
            owner_kind: r.owner_kind,
            owner_id: r.owner_id,
            original_name: r.original_name,
            size_bytes: r.size_bytes,
            sha256: r.sha256,
            object_key: r.object_key,
            uploaded_by: r.uploaded_by,
            uploaded_at: r.uploaded_at,
        })
    }
}

/// What [`Documents::sweep_unreferenced`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    /// Objects listed under the tenant's prefix.
    pub scanned: u64,
    /// Objects a row refers to (kept).
    pub referenced: u64,
    /// Unreferenced objects younger than the cut-off (kept: an upload may be about to commit).
    pub too_recent: u64,
    /// Objects whose row was being written at that moment (kept; the next sweep looks again).
    pub busy: u64,
    /// Objects whose key is not a document key (kept, and logged).
    pub foreign: u64,
    /// Unreferenced objects deleted.
    pub deleted: u64,
}

/// The documents service. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Documents {
    store: Arc<dyn ObjectStore>,
    temp_dir: PathBuf,
    part_size: usize,
    part_concurrency: usize,
}

impl std::fmt::Debug for Documents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Documents")
            .field("store", &self.store.to_string())
            .field("temp_dir", &self.temp_dir)
            .finish()
    }
}

impl Documents {
    /// A service over `store`, spooling uploads to temporary files in `temp_dir` (created when
    /// needed). Put `temp_dir` on a disk, not a RAM disk: it holds whole uploads (up to the
    /// largest kind's limit per upload in progress); each file is removed when its upload ends.
    pub fn new(store: Arc<dyn ObjectStore>, temp_dir: impl Into<PathBuf>) -> Self {
        Self {
            store,
            temp_dir: temp_dir.into(),
            part_size: DEFAULT_PART_SIZE,
            part_concurrency: DEFAULT_PART_CONCURRENCY,
        }
    }

    /// Sets the multipart part size (at least 5 MiB for S3 and OSS; smaller only for tests
    /// against the in-memory store).
    pub fn with_part_size(mut self, bytes: usize) -> Self {
        self.part_size = bytes.max(1);
        self
    }

    /// The underlying object store (for health checks).
    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// Stores an uploaded file and returns where it went.
    ///
    /// 1. The name is sanitised and its extension must name a type the kind accepts — checked
    ///    before a byte is read, so a wrong file is refused at once.
    /// 2. The body is streamed to a temporary file while being hashed (SHA-256) and counted;
    ///    past the kind's size limit the upload stops with [`StorageError::TooLarge`].
    /// 3. The type is sniffed from the first 64 KiB and must be the type the extension claims.
    /// 4. Unless an object of that size already exists under the content-addressed key
    ///    (deduplication), the temporary file is uploaded: one `PUT` up to the part size, a
    ///    multipart upload beyond (aborted on failure). Memory stays bounded by the part size
    ///    times the parts in flight, whatever the file's size.
    ///
    /// Nothing is written to the database: call [`Documents::record`] next.
    #[tracing::instrument(skip_all, fields(tenant.id = tenant_id, document.kind = kind.as_str()))]
    pub async fn put_stream<S, E>(
        &self,
        tenant_id: i64,
        kind: DocumentKind,
        original_name: &str,
        body: S,
    ) -> Result<StoredObject, StorageError>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        let name = sanitize_file_name(original_name);
        let claimed = claimed_type(kind, &name)?;
        let limit = kind.limits().max_bytes;

        tokio::fs::create_dir_all(&self.temp_dir).await?;
        let temp = tempfile::Builder::new()
            .prefix(".upload-")
            .tempfile_in(&self.temp_dir)?;
        let mut writer =
            BufWriter::with_capacity(READ_CHUNK, tokio::fs::File::from_std(temp.reopen()?));
        let mut hasher = Sha256::new();
        let mut head: Vec<u8> = Vec::with_capacity(SNIFF_LEN);
        let mut size: u64 = 0;
        let mut body = pin!(body);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| StorageError::BodyRead(e.to_string()))?;
            size += chunk.len() as u64;
            if size > limit {
                return Err(StorageError::TooLarge {
                    kind,
                    limit_bytes: limit,
                });
            }
            hasher.update(&chunk);
            if head.len() < SNIFF_LEN {
                let take = chunk.len().min(SNIFF_LEN - head.len());
                head.extend_from_slice(&chunk[..take]);
            }
            writer.write_all(&chunk).await?;
        }
        writer.flush().await?;
        drop(writer);
        if size == 0 {
            return Err(StorageError::Empty);
        }
        let detected = sniff(&head, size > head.len() as u64, &name);
        if detected != Some(claimed) {
            return Err(StorageError::ContentMismatch { claimed, detected });
        }

        let sha256 = hex::encode(hasher.finalize());
        let key = object_key(tenant_id, &sha256);
        let path = Path::from(key.as_str());
        let deduplicated = match self.store.head(&path).await {
            Ok(meta) if meta.size == size => true,
            Ok(meta) => {
                // Same hash, other size: a damaged object. Writing it again repairs it.
                tracing::warn!(object.key = %key, stored = meta.size, size, "stored object has the wrong size; uploading again");
                false
            }
            Err(object_store::Error::NotFound { .. }) => false,
            Err(e) => return Err(e.into()),
        };
        if !deduplicated {
            let file = tokio::fs::File::from_std(temp.reopen()?);
            self.upload(&path, file, size).await?;
        }
        tracing::info!(object.key = %key, size, deduplicated, "document bytes stored");
        Ok(StoredObject {
            key,
            sha256,
            size,
            media_type: claimed,
            original_name: name,
            deduplicated,
        })
    }

    async fn upload(
        &self,
        path: &Path,
        mut file: tokio::fs::File,
        size: u64,
    ) -> Result<(), StorageError> {
        if size <= self.part_size as u64 {
            let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(self.part_size));
            file.read_to_end(&mut buf).await?;
            self.store
                .put(path, PutPayload::from_bytes(Bytes::from(buf)))
                .await?;
            return Ok(());
        }
        let upload = self.store.put_multipart(path).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, self.part_size);
        let copied = async {
            let mut buf = vec![0u8; READ_CHUNK];
            loop {
                let n = file.read(&mut buf).await?;
                if n == 0 {
                    return Ok::<(), StorageError>(());
                }
                // Back-pressure: at most `part_concurrency` parts in flight.
                writer.wait_for_capacity(self.part_concurrency).await?;
                writer.write(&buf[..n]);
            }
        }
        .await;
        match copied {
            Ok(()) => {
                writer.finish().await?;
                Ok(())
            }
            Err(e) => {
                if let Err(abort) = writer.abort().await {
                    tracing::warn!(object.key = %path, error = %abort, "could not abort the multipart upload");
                }
                Err(e)
            }
        }
    }

    /// Inserts the row for stored bytes, on the caller's connection — normally inside the
    /// business [`xiaobao_db::TenantTx`], so the row commits together with the business write,
    /// and only after the bytes are stored.
    ///
    /// Takes a shared advisory lock on the object key for the rest of the transaction and then
    /// checks that the object is still there: the cleanup job deletes only under the exclusive
    /// lock and only objects no committed row refers to, so a row never outlives its bytes.
    #[tracing::instrument(skip_all, fields(tenant.slug = %tenant.slug, object.key = %obj.key))]
    pub async fn record(
        &self,
        conn: &mut PgConnection,
        tenant: &Tenant,
        obj: &StoredObject,
        meta: &DocumentMeta,
    ) -> Result<DocumentRow, StorageError> {
        if obj.key != object_key(tenant.tenant_id, &obj.sha256) {
            return Err(StorageError::WrongTenant);
        }
        if !meta.kind.limits().allowed.contains(&obj.media_type) {
            return Err(StorageError::TypeNotAllowed {
                kind: meta.kind,
                name: obj.original_name.clone(),
            });
        }
        sqlx::query!(
            "select pg_advisory_xact_lock_shared(hashtextextended($1, 0))",
            lock_name(&obj.key)
        )
        .fetch_one(&mut *conn)
        .await?;
        match self.store.head(&Path::from(obj.key.as_str())).await {
            Ok(m) if m.size == obj.size => {}
            Ok(_) | Err(object_store::Error::NotFound { .. }) => {
                tracing::error!("document bytes vanished before their row was written");
                return Err(StorageError::ObjectMissing {
                    key: obj.key.clone(),
                });
            }
            Err(e) => return Err(e.into()),
        }
        let size = i64::try_from(obj.size).map_err(|_| StorageError::TooLarge {
            kind: meta.kind,
            limit_bytes: meta.kind.limits().max_bytes,
        })?;
        let raw = sqlx::query_as!(
            RawRow,
            "insert into documents (tenant_id, kind, owner_kind, owner_id, original_name, \
             media_type, size_bytes, sha256, object_key, uploaded_by) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) returning document_id, tenant_id, kind, owner_kind, owner_id, original_name, \
         media_type, size_bytes, sha256, object_key, uploaded_by, uploaded_at",
            tenant.tenant_id,
            meta.kind.as_str(),
            meta.owner_kind,
            meta.owner_id,
            obj.original_name,
            obj.media_type.mime(),
            size,
            obj.sha256,
            obj.key,
            meta.uploaded_by,
        )
        .fetch_one(&mut *conn)
        .await?;
        raw.try_into()
    }

    /// [`Documents::put_stream`] then [`Documents::record`] in a transaction of its own, for
    /// uploads that are not part of a larger business write.
    pub async fn store<S, E>(
        &self,
        db: &Db,
        tenant: &Tenant,
        meta: &DocumentMeta,
        original_name: &str,
        body: S,
    ) -> Result<DocumentRow, StorageError>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        let obj = self
            .put_stream(tenant.tenant_id, meta.kind, original_name, body)
            .await?;
        let mut tx = db.tenant_tx(tenant).await?;
        let row = self.record(&mut tx, tenant, &obj, meta).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// The row of a document and a stream of its bytes.
    ///
    /// A row whose object is missing (or has another size) is an error, logged, before a byte
    /// is sent. The stream checks the size and SHA-256 as it goes and ends with
    /// [`StorageError::Corrupt`] instead of finishing normally if they do not match, so an HTTP
    /// response built from it is cut off rather than completed with wrong bytes.
    #[tracing::instrument(skip_all, fields(document.id = document_id))]
    pub async fn open(
        &self,
        conn: &mut PgConnection,
        document_id: i64,
    ) -> Result<(DocumentRow, BoxStream<'static, Result<Bytes, StorageError>>), StorageError> {
        let row = get(conn, document_id)
            .await?
            .ok_or(StorageError::NotFound(document_id))?;
        let result = match self.store.get(&Path::from(row.object_key.as_str())).await {
            Ok(r) => r,
            Err(object_store::Error::NotFound { .. }) => {
                tracing::error!(object.key = %row.object_key, "document row without bytes");
                return Err(StorageError::ObjectMissing {
                    key: row.object_key,
                });
            }
            Err(e) => return Err(e.into()),
        };
        let expected_size = u64::try_from(row.size_bytes).unwrap_or(0);
        if result.meta.size != expected_size {
            tracing::error!(object.key = %row.object_key, stored = result.meta.size, expected_size, "stored object has the wrong size");
            return Err(StorageError::Corrupt {
                key: row.object_key,
            });
        }
        let stream = verified(
            result.into_stream(),
            row.object_key.clone(),
            expected_size,
            row.sha256.clone(),
        );
        Ok((row, stream))
    }

    /// Deletes the tenant's objects that no row refers to and that are older than
    /// `older_than` — leftovers of uploads whose transaction never committed (a crash, a
    /// refused business write). Uploads in flight are safe: their objects are younger than the
    /// cut-off (pick `older_than` well above the longest upload-to-commit time, e.g. a day).
    ///
    /// Each deletion holds the key's exclusive advisory lock and re-checks the database under
    /// it, so it cannot race with [`Documents::record`]. Listing is streamed; memory holds one
    /// batch of keys.
    #[tracing::instrument(skip_all, fields(tenant.slug = %tenant.slug))]
    pub async fn sweep_unreferenced(
        &self,
        db: &Db,
        tenant: &Tenant,
        older_than: Duration,
        now: DateTime<Utc>,
    ) -> Result<SweepReport, StorageError> {
        let older_than = chrono::Duration::from_std(older_than)
            .map_err(|_| StorageError::Config(format!("清理时限无效：{older_than:?}")))?;
        let cutoff = now - older_than;
        let prefix = Path::from(format!("tenants/{}", tenant.tenant_id));
        let mut report = SweepReport::default();
        let mut batch = Vec::with_capacity(SWEEP_BATCH);
        let mut listing = self.store.list(Some(&prefix));
        while let Some(meta) = listing.next().await {
            let meta = meta?;
            report.scanned += 1;
            let key = meta.location.to_string();
            if !is_document_key(tenant.tenant_id, &key) {
                tracing::warn!(object.key = %key, "object under a tenant prefix that is not a document key; left alone");
                report.foreign += 1;
                continue;
            }
            if meta.last_modified > cutoff {
                report.too_recent += 1;
                continue;
            }
            batch.push(key);
            if batch.len() >= SWEEP_BATCH {
                self.sweep_batch(db, tenant, &mut batch, cutoff, &mut report)
                    .await?;
            }
        }
        self.sweep_batch(db, tenant, &mut batch, cutoff, &mut report)
            .await?;
        tracing::info!(?report, "unreferenced documents swept");
        Ok(report)
    }

    async fn sweep_batch(
        &self,
        db: &Db,
        tenant: &Tenant,
        batch: &mut Vec<String>,
        cutoff: DateTime<Utc>,
        report: &mut SweepReport,
    ) -> Result<(), StorageError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut tx = db.tenant_tx(tenant).await?;
        let referenced: Vec<String> = sqlx::query_scalar!(
            "select distinct object_key from documents where object_key = any($1)",
            &batch[..],
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        for key in batch.drain(..) {
            if referenced.contains(&key) {
                report.referenced += 1;
                continue;
            }
            let mut tx = db.tenant_tx(tenant).await?;
            let locked = sqlx::query_scalar!(
                r#"select pg_try_advisory_xact_lock(hashtextextended($1, 0)) as "locked!""#,
                lock_name(&key)
            )
            .fetch_one(&mut *tx)
            .await?;
            if !locked {
                report.busy += 1;
                continue;
            }
            let now_referenced = sqlx::query_scalar!(
                r#"select exists (select 1 from documents where object_key = $1) as "exists!""#,
                key
            )
            .fetch_one(&mut *tx)
            .await?;
            if now_referenced {
                report.referenced += 1;
                continue;
            }
            let path = Path::from(key.as_str());
            match self.store.head(&path).await {
                // Written again since it was listed (the same file uploaded anew).
                Ok(meta) if meta.last_modified > cutoff => {
                    report.too_recent += 1;
                    continue;
                }
                Ok(_) => {}
                Err(object_store::Error::NotFound { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
            match self.store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            // Commit only releases the lock; nothing was written.
            tx.commit().await?;
            tracing::info!(object.key = %key, "unreferenced object deleted");
            report.deleted += 1;
        }
        Ok(())
    }
}

/// A document row by id.
pub async fn get(
    conn: &mut PgConnection,
    document_id: i64,
) -> Result<Option<DocumentRow>, StorageError> {
    sqlx::query_as!(
        RawRow,
        "select document_id, tenant_id, kind, owner_kind, owner_id, original_name, \
         media_type, size_bytes, sha256, object_key, uploaded_by, uploaded_at from documents where document_id = $1",
        document_id,
    )
    .fetch_optional(conn)
    .await?
    .map(DocumentRow::try_from)
    .transpose()
}

/// The documents of one owner, oldest first.
pub async fn list_for_owner(
    conn: &mut PgConnection,
    owner_kind: &str,
    owner_id: &str,
) -> Result<Vec<DocumentRow>, StorageError> {
    sqlx::query_as!(
        RawRow,
        "select document_id, tenant_id, kind, owner_kind, owner_id, original_name, \
         media_type, size_bytes, sha256, object_key, uploaded_by, uploaded_at from documents where owner_kind = $1 and owner_id = $2 \
         order by uploaded_at, document_id",
        owner_kind,
        owner_id,
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(DocumentRow::try_from)
    .collect()
}

/// The type the name's extension claims, which the kind must accept.
fn claimed_type(kind: DocumentKind, name: &str) -> Result<MediaType, StorageError> {
    let allowed = kind.limits().allowed;
    if let Some(claimed) = MediaType::from_file_name(name)
        && allowed.contains(&claimed)
    {
        return Ok(claimed);
    }
    let legacy = match extension(name).as_deref() {
        Some(ext @ ("xls" | "et")) => Some((ext.to_string(), MediaType::Xlsx)),
        Some(ext @ ("doc" | "wps")) => Some((ext.to_string(), MediaType::Docx)),
        _ => None,
    };
    match legacy {
        Some((ext, new)) if allowed.contains(&new) => Err(StorageError::LegacyFormat {
            ext: format!(".{ext}"),
            new_ext: new.extension(),
        }),
        _ => Err(StorageError::TypeNotAllowed {
            kind,
            name: name.to_string(),
        }),
    }
}

fn is_document_key(tenant_id: i64, key: &str) -> bool {
    let Some(rest) = key.strip_prefix(&format!("tenants/{tenant_id}/sha256/")) else {
        return false;
    };
    let Some((fan, hash)) = rest.split_once('/') else {
        return false;
    };
    hash.len() == 64
        && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && hash.starts_with(fan)
        && fan.len() == 2
}

fn lock_name(key: &str) -> String {
    format!("xiaobao-document:{key}")
}

struct Verify {
    inner: BoxStream<'static, object_store::Result<Bytes>>,
    key: String,
    hasher: Sha256,
    seen: u64,
    expected_size: u64,
    expected_sha256: String,
}

/// Passes the bytes through, hashing and counting them; ends with an error instead of a normal
/// end when the content is not what the row says.
pub(crate) fn verified(
    inner: BoxStream<'static, object_store::Result<Bytes>>,
    key: String,
    expected_size: u64,
    expected_sha256: String,
) -> BoxStream<'static, Result<Bytes, StorageError>> {
    let state = Verify {
        inner,
        key,
        hasher: Sha256::new(),
        seen: 0,
        expected_size,
        expected_sha256,
    };
    futures::stream::unfold(Some(state), |state| async move {
        let mut st = state?;
        match st.inner.next().await {
            Some(Ok(bytes)) => {
                st.seen += bytes.len() as u64;
                if st.seen > st.expected_size {
                    tracing::error!(object.key = %st.key, "stored object is longer than its row says");
                    return Some((Err(StorageError::Corrupt { key: st.key }), None));
                }
                st.hasher.update(&bytes);
                Some((Ok(bytes), Some(st)))
            }
            Some(Err(e)) => Some((Err(e.into()), None)),
            None => {
                let digest = hex::encode(std::mem::take(&mut st.hasher).finalize());
                if st.seen == st.expected_size && digest == st.expected_sha256 {
                    None
                } else {
                    tracing::error!(object.key = %st.key, "stored object does not match its hash");
                    Some((Err(StorageError::Corrupt { key: st.key }), None))
                }
            }
        }
    })
    .boxed()
}
