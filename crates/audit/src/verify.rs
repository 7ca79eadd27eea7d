//! Verification of a tenant's hash chain: every row's hash is recomputed from its columns and
//! the previous row's hash, exactly as the insert trigger `audit_log_chain` computed it, and the
//! chain's end is compared with `audit_chain_head`.
//!
//! What the chain proves: a row changed after it was written, a row removed from the middle or
//! the end, or rows reordered, all show as a break at the first position affected. What it
//! cannot prove on its own: someone able to rewrite `audit_log` *and* `audit_chain_head` can
//! recompute every hash. The anchor (`xiaobao_db::anchor`) closes that gap: a keyed MAC over
//! every row's hash, kept outside the tenant's schema where the tenant's role cannot reach it,
//! is recomputed here from the stored hashes and must match.

use chrono::{DateTime, Datelike, Timelike, Utc};
use futures::TryStreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use xiaobao_db::{Db, Tenant, TenantStatus};

use crate::AuditError;

/// Separator between the fields of the canonical text (U+001F, the unit separator), as in the
/// SQL function `audit_log_canonical`.
const SEPARATOR: char = '\u{1f}';

/// Why the chain is broken at a position. The machine code is [`BreakCode::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakCode {
    /// A sequence number is missing: rows were removed from the middle, or a number changed.
    SeqGap,
    /// A row's `prev_hash` is not the previous row's hash.
    PrevHashMismatch,
    /// A row's content no longer gives its stored hash: the row was changed.
    RowHashMismatch,
    /// `audit_chain_head` has no row.
    HeadMissing,
    /// The head counts more rows than the table holds: rows were removed from the end.
    TailMissing,
    /// The last row's hash is not the one the head keeps.
    HeadHashMismatch,
    /// The tenant has no anchor outside its schema.
    AnchorMissing,
    /// The rows' hashes do not give the anchor's MAC: history was rewritten, hashes and head
    /// included.
    AnchorMismatch,
}

impl BreakCode {
    /// The machine code, e.g. `row_hash_mismatch`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SeqGap => "seq_gap",
            Self::PrevHashMismatch => "prev_hash_mismatch",
            Self::RowHashMismatch => "row_hash_mismatch",
            Self::HeadMissing => "head_missing",
            Self::TailMissing => "tail_missing",
            Self::HeadHashMismatch => "head_hash_mismatch",
            Self::AnchorMissing => "anchor_missing",
            Self::AnchorMismatch => "anchor_mismatch",
        }
    }
}

/// The first place where the chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainBreak {
    /// The first chain position that fails: the missing number for a gap, the row for a hash
    /// mismatch, the first removed number for a missing tail, the last row when its hash differs
    /// from the head's; 0 when the head itself is missing.
    pub chain_seq: i64,
    pub code: BreakCode,
    /// What is wrong, in Chinese, for the operator.
    pub message: String,
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Rows read, up to and including the first broken one.
    pub rows_checked: i64,
    /// The number of rows the head says the chain has (`audit_chain_head.seq`), when present.
    pub head_seq: Option<i64>,
    /// True when the whole chain holds.
    pub ok: bool,
    /// The first break, when the chain does not hold.
    pub broken: Option<ChainBreak>,
}

impl VerifyReport {
    /// One line for the operator: `1234 条记录，审计链完整` or where and why it breaks.
    pub fn summary(&self) -> String {
        match &self.broken {
            None => format!("{} 条记录，审计链完整", self.rows_checked),
            Some(b) => format!(
                "审计链在第 {} 条处断开（{}）：{}",
                b.chain_seq,
                b.code.as_str(),
                b.message
            ),
        }
    }

    fn intact(rows_checked: i64, head_seq: i64) -> Self {
        Self {
            rows_checked,
            head_seq: Some(head_seq),
            ok: true,
            broken: None,
        }
    }

    fn broken(rows_checked: i64, head_seq: Option<i64>, at: ChainBreak) -> Self {
        Self {
            rows_checked,
            head_seq,
            ok: false,
            broken: Some(at),
        }
    }
}

/// The columns a row's hash covers, as read for verification.
struct ChainRow {
    chain_seq: i64,
    audit_log_id: i64,
    /// `None` for a time PostgreSQL cannot give as a date (`infinity`): no trigger writes one.
    occurred_at: Option<DateTime<Utc>>,
    actor: String,
    action: String,
    entity: String,
    entity_id: Option<String>,
    /// `detail::text`: PostgreSQL's own text of the jsonb value, which is what the trigger hashed.
    detail: String,
    actor_account_id: Option<i64>,
    actor_org_id: Option<i64>,
    on_behalf_of_org_id: Option<i64>,
    ip: Option<String>,
    user_agent: Option<String>,
    prev_hash: Vec<u8>,
    row_hash: Vec<u8>,
}

/// `occurred_at` as `to_char(t at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')` writes it:
/// at least four year digits, the year counted without sign before the common era (as
/// PostgreSQL's `YYYY` does), six fractional digits.
pub fn format_occurred_at(t: &DateTime<Utc>) -> String {
    let year = t.year();
    let year = if year <= 0 { 1 - year } else { year };
    format!(
        "{year:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        // A leap second is never stored by PostgreSQL; keep within six digits regardless.
        (t.nanosecond() % 1_000_000_000) / 1_000,
    )
}

/// The columns the canonical text is built from; the same fields, in the same order, as the SQL
/// function `audit_log_canonical`.
#[derive(Debug, Clone)]
pub struct CanonicalFields<'a> {
    pub chain_seq: i64,
    pub audit_log_id: i64,
    pub occurred_at: &'a DateTime<Utc>,
    pub actor: &'a str,
    pub action: &'a str,
    pub entity: &'a str,
    pub entity_id: Option<&'a str>,
    /// The jsonb value's text as PostgreSQL gives it (`detail::text`).
    pub detail_text: &'a str,
    pub actor_account_id: Option<i64>,
    pub actor_org_id: Option<i64>,
    pub on_behalf_of_org_id: Option<i64>,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

/// Writes the canonical text of a row into `out` (cleared first): the fields joined by U+001F,
/// absent values as empty strings — what `audit_log_canonical` returns.
pub fn canonical_into(fields: &CanonicalFields<'_>, out: &mut String) {
    out.clear();
    let opt_i64 = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    let parts: [&str; 13] = [
        &fields.chain_seq.to_string(),
        &fields.audit_log_id.to_string(),
        &format_occurred_at(fields.occurred_at),
        fields.actor,
        fields.action,
        fields.entity,
        fields.entity_id.unwrap_or(""),
        fields.detail_text,
        &opt_i64(fields.actor_account_id),
        &opt_i64(fields.actor_org_id),
        &opt_i64(fields.on_behalf_of_org_id),
        fields.ip.unwrap_or(""),
        fields.user_agent.unwrap_or(""),
    ];
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push(SEPARATOR);
        }
        out.push_str(part);
    }
}

/// The canonical text of a row (see [`canonical_into`]).
pub fn canonical(fields: &CanonicalFields<'_>) -> String {
    let mut out = String::new();
    canonical_into(fields, &mut out);
    out
}

/// `sha256(prev_hash || utf8(canonical))`, the hash the trigger stores in `row_hash`.
pub fn chain_hash(prev_hash: &[u8], canonical: &str) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash);
    hasher.update(canonical.as_bytes());
    hasher.finalize().to_vec()
}

/// The first eight bytes of a hash in hex, enough to tell two hashes apart in a message.
fn short_hex(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "（空）".into();
    }
    hex::encode(&bytes[..bytes.len().min(8)])
}

/// Verifies the hash chain of the tenant whose transaction `conn` is (a [`xiaobao_db::TenantTx`]).
///
/// The head is read first and only rows up to its number are checked, so rows that concurrent
/// writers append while the rows stream (visible under read committed) are left for the next
/// run instead of being reported as extra. Rows are streamed in chain order, never loaded
/// together. The check stops at the first break.
pub async fn verify(conn: &mut PgConnection) -> Result<VerifyReport, AuditError> {
    verify_with_anchor(conn, None).await
}

/// Like [`verify`], and the rows' hashes from the anchor's start to its last position must
/// give the anchor's MAC (read by the caller with the service's own role, before the head).
pub async fn verify_with_anchor(
    conn: &mut PgConnection,
    anchor: Option<&xiaobao_db::anchor::Anchor>,
) -> Result<VerifyReport, AuditError> {
    let head = sqlx::query!("select seq, last_hash from audit_chain_head where only_row")
        .fetch_optional(&mut *conn)
        .await?
        .map(|h| (h.seq, h.last_hash));
    let head_seq = head.as_ref().map(|(seq, _)| *seq);

    let mut rows = sqlx::query_as!(
        ChainRow,
        "select chain_seq as \"chain_seq!\", audit_log_id, \
                case when isfinite(occurred_at) then occurred_at end as \"occurred_at?\", \
                actor, action, entity, entity_id, detail::text as \"detail!\", actor_account_id, \
                actor_org_id, on_behalf_of_org_id, ip, user_agent, prev_hash as \"prev_hash!\", \
                row_hash as \"row_hash!\" \
           from audit_log \
          where $1::bigint is null or chain_seq <= $1 \
          order by chain_seq",
        head_seq,
    )
    .fetch(&mut *conn);

    let mut checked: i64 = 0;
    let mut prev: Vec<u8> = Vec::new();
    let mut text = String::new();
    // The anchor's MAC as the rows give it; an anchor started on an empty chain starts here.
    let mut mac: Option<Vec<u8>> = anchor.filter(|a| a.start_seq == 0).map(|a| a.start(&[]));
    while let Some(row) = rows.try_next().await? {
        checked += 1;
        let expected = checked;
        let fail = |code: BreakCode, chain_seq: i64, message: String| {
            VerifyReport::broken(
                checked,
                head_seq,
                ChainBreak {
                    chain_seq,
                    code,
                    message,
                },
            )
        };
        if row.chain_seq != expected {
            return Ok(fail(
                BreakCode::SeqGap,
                expected,
                format!(
                    "应为第 {expected} 条，读到的是第 {} 条：中间的记录被删除，或序号被改动",
                    row.chain_seq
                ),
            ));
        }
        if row.prev_hash != prev {
            let message = if expected == 1 {
                format!(
                    "第 1 条记录的前一哈希应为空，实际为 {}",
                    short_hex(&row.prev_hash)
                )
            } else {
                format!(
                    "第 {expected} 条记录的前一哈希 {} 与第 {} 条记录的哈希 {} 不符",
                    short_hex(&row.prev_hash),
                    expected - 1,
                    short_hex(&prev)
                )
            };
            return Ok(fail(BreakCode::PrevHashMismatch, expected, message));
        }
        let Some(occurred_at) = row.occurred_at.as_ref() else {
            return Ok(fail(
                BreakCode::RowHashMismatch,
                expected,
                format!("第 {expected} 条记录的发生时间不是有效时间：记录在写入后被改动"),
            ));
        };
        canonical_into(
            &CanonicalFields {
                chain_seq: row.chain_seq,
                audit_log_id: row.audit_log_id,
                occurred_at,
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
            },
            &mut text,
        );
        if chain_hash(&row.prev_hash, &text) != row.row_hash {
            return Ok(fail(
                BreakCode::RowHashMismatch,
                expected,
                format!("第 {expected} 条记录的内容与其哈希不符：记录在写入后被改动"),
            ));
        }
        if let Some(a) = anchor {
            if row.chain_seq == a.start_seq {
                mac = Some(a.start(&row.row_hash));
            } else if row.chain_seq > a.start_seq && row.chain_seq <= a.seq {
                mac = mac.map(|m| a.fold(&m, &row.row_hash));
            }
        }
        prev = row.row_hash;
    }
    drop(rows);
    let Some((seq, last_hash)) = head else {
        return Ok(VerifyReport::broken(
            checked,
            None,
            ChainBreak {
                chain_seq: 0,
                code: BreakCode::HeadMissing,
                message: format!(
                    "链头（audit_chain_head）缺失，无法确认 {checked} 条记录之后是否被删除"
                ),
            },
        ));
    };
    if seq != checked {
        return Ok(VerifyReport::broken(
            checked,
            Some(seq),
            ChainBreak {
                chain_seq: checked + 1,
                code: BreakCode::TailMissing,
                message: format!("链头记录共有 {seq} 条，表中只有 {checked} 条：末尾的记录被删除"),
            },
        ));
    }
    if last_hash != prev {
        return Ok(VerifyReport::broken(
            checked,
            Some(seq),
            ChainBreak {
                chain_seq: checked,
                code: BreakCode::HeadHashMismatch,
                message: format!(
                    "最后一条记录（第 {checked} 条）的哈希 {} 与链头保存的 {} 不符",
                    short_hex(&prev),
                    short_hex(&last_hash)
                ),
            },
        ));
    }
    if let Some(a) = anchor {
        let reached = checked >= a.seq;
        if !reached || mac.as_deref() != Some(a.mac.as_slice()) {
            return Ok(VerifyReport::broken(
                checked,
                head_seq,
                ChainBreak {
                    chain_seq: a.seq,
                    code: BreakCode::AnchorMismatch,
                    message: format!(
                        "第 {} 至 {} 条记录的哈希与库外锚点不符：审计记录连同哈希和链头被改写或删除",
                        a.start_seq.max(1),
                        a.seq
                    ),
                },
            ));
        }
    }

    Ok(VerifyReport::intact(checked, seq))
}

/// Verifies one tenant in its own read-only transaction. Large trails take longer than the
/// service's statement time-out, so it is lifted for this transaction only.
pub async fn verify_tenant(db: &Db, tenant: &Tenant) -> Result<VerifyReport, AuditError> {
    // The anchor first: the head read after it is at least as far along.
    let anchor = xiaobao_db::anchor::read(db, tenant).await?;
    let mut tx = db.tenant_tx(tenant).await?;
    sqlx::raw_sql("set transaction read only; set local statement_timeout = 0")
        .execute(&mut *tx)
        .await?;
    let Some(anchor) = anchor else {
        let report = verify(&mut tx).await?;
        tx.rollback().await?;
        return Ok(VerifyReport::broken(
            report.rows_checked,
            report.head_seq,
            ChainBreak {
                chain_seq: 0,
                code: BreakCode::AnchorMissing,
                message:
                    "该项目的审计链没有库外锚点，无法排除整条链被改写（请运行 tenant migrate）"
                        .into(),
            },
        ));
    };
    let report = verify_with_anchor(&mut tx, Some(&anchor)).await?;
    tx.rollback().await?;
    // Every row up to the head just verified must have reached the anchor: one that did not
    // was appended with the anchor's trigger removed or disabled.
    if report.ok
        && let Some(head) = report.head_seq
    {
        let after = xiaobao_db::anchor::read(db, tenant).await?;
        if after.as_ref().is_none_or(|a| a.seq < head) {
            let anchored = after.map_or(0, |a| a.seq);
            return Ok(VerifyReport::broken(
                report.rows_checked,
                report.head_seq,
                ChainBreak {
                    chain_seq: anchored + 1,
                    code: BreakCode::AnchorMismatch,
                    message: format!(
                        "库外锚点只记到第 {anchored} 条，审计链已有 {head} 条：锚点触发器被移除或停用"
                    ),
                },
            ));
        }
    }
    Ok(report)
}

/// One tenant's verification, as `xiaobao audit verify` prints it.
#[derive(Debug)]
pub struct TenantVerification {
    pub slug: String,
    /// The report, or the error that stopped the verification (which counts as a failure).
    pub outcome: Result<VerifyReport, AuditError>,
}

impl TenantVerification {
    /// True when the chain was verified and holds.
    pub fn ok(&self) -> bool {
        matches!(&self.outcome, Ok(report) if report.ok)
    }

    /// The printed line: `henan: 1234 条记录，审计链完整`, the break, or the error.
    pub fn line(&self) -> String {
        match &self.outcome {
            Ok(report) => format!("{}: {}", self.slug, report.summary()),
            Err(e) => format!("{}: 无法校验审计链：{e}", self.slug),
        }
    }
}

/// Verifies one tenant (`Some(slug)`, which must be active) or every active tenant of the
/// catalog, in slug order. A tenant whose verification fails with an error does not stop the
/// others; an unknown or archived slug is an error.
pub async fn verify_tenants(
    db: &Db,
    slug: Option<&str>,
) -> Result<Vec<TenantVerification>, AuditError> {
    let tenants = match slug {
        Some(slug) => vec![db.active_tenant(slug)?],
        None => db
            .catalog
            .all()
            .into_iter()
            .filter(|t| t.status == TenantStatus::Active)
            .collect(),
    };
    let mut out = Vec::with_capacity(tenants.len());
    for tenant in tenants {
        let outcome = verify_tenant(db, &tenant).await;
        if let Ok(report) = &outcome
            && let Some(b) = &report.broken
        {
            tracing::warn!(
                tenant.slug = %tenant.slug,
                audit.chain_seq = b.chain_seq,
                audit.code = b.code.as_str(),
                "audit chain broken"
            );
        }
        out.push(TenantVerification {
            slug: tenant.slug.clone(),
            outcome,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn occurred_at_is_written_like_postgres_to_char() {
        let t = Utc
            .with_ymd_and_hms(2025, 3, 7, 1, 2, 3)
            .single()
            .expect("valid time");
        assert_eq!(format_occurred_at(&t), "2025-03-07T01:02:03.000000Z");
        let t = t + chrono::Duration::microseconds(45);
        assert_eq!(format_occurred_at(&t), "2025-03-07T01:02:03.000045Z");
        let early = Utc
            .with_ymd_and_hms(5, 1, 1, 0, 0, 0)
            .single()
            .expect("valid time");
        assert_eq!(format_occurred_at(&early), "0005-01-01T00:00:00.000000Z");
        // 44 BC is year -43 in chrono; PostgreSQL's YYYY writes 0044.
        let bc = Utc
            .with_ymd_and_hms(-43, 3, 15, 12, 0, 0)
            .single()
            .expect("valid time");
        assert_eq!(format_occurred_at(&bc), "0044-03-15T12:00:00.000000Z");
    }

    #[test]
    fn canonical_joins_fields_with_the_unit_separator() {
        let t = Utc
            .with_ymd_and_hms(2025, 9, 1, 8, 0, 0)
            .single()
            .expect("valid time");
        let text = canonical(&CanonicalFields {
            chain_seq: 3,
            audit_log_id: 7,
            occurred_at: &t,
            actor: "system",
            action: "rules.change",
            entity: "programme_rules",
            entity_id: None,
            detail_text: "{}",
            actor_account_id: Some(17),
            actor_org_id: None,
            on_behalf_of_org_id: None,
            ip: None,
            user_agent: Some("curl"),
        });
        assert_eq!(
            text,
            "3\u{1f}7\u{1f}2025-09-01T08:00:00.000000Z\u{1f}system\u{1f}rules.change\u{1f}programme_rules\u{1f}\u{1f}{}\u{1f}17\u{1f}\u{1f}\u{1f}\u{1f}curl"
        );
        // The hash of the first row covers an empty previous hash.
        assert_eq!(chain_hash(b"", "abc"), Sha256::digest(b"abc").to_vec());
    }
}
