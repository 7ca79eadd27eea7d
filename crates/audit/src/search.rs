//! Searching the trail: newest first, filtered by time, actor, action, entity or free text, a
//! page at a time by keyset on `chain_seq` (the chain order is the order rows were appended).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgConnection;

use crate::AuditError;

/// The most rows one page may hold.
pub const MAX_LIMIT: i64 = 200;
/// The page size when none is asked for.
pub const DEFAULT_LIMIT: i64 = 50;

/// What to look for. Every filter given must hold; `None` filters nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditFilter {
    /// Rows that occurred at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Rows that occurred strictly before this time.
    pub to: Option<DateTime<Utc>>,
    /// Rows of this signed-in account.
    pub actor_account_id: Option<i64>,
    /// Rows whose action starts with this, e.g. `school.registration.`.
    pub action_prefix: Option<String>,
    /// Rows on this kind of entity, e.g. `organisation`.
    pub entity: Option<String>,
    /// Rows on this entity (exact), usually with `entity`.
    pub entity_id: Option<String>,
    /// Rows whose actor label or entity id contains this (case-insensitive).
    pub text: Option<String>,
    /// Keyset pagination: rows strictly older in the chain than this `chain_seq` (the last row
    /// of the previous page).
    pub before_seq: Option<i64>,
    /// Page size, clamped to `1..=200`.
    pub limit: i64,
}

impl Default for AuditFilter {
    fn default() -> Self {
        Self {
            from: None,
            to: None,
            actor_account_id: None,
            action_prefix: None,
            entity: None,
            entity_id: None,
            text: None,
            before_seq: None,
            limit: DEFAULT_LIMIT,
        }
    }
}

impl AuditFilter {
    /// The page size actually used.
    pub fn effective_limit(&self) -> i64 {
        self.limit.clamp(1, MAX_LIMIT)
    }
}

/// One row of the trail as the search returns it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct AuditRow {
    pub chain_seq: i64,
    pub occurred_at: DateTime<Utc>,
    /// The actor's readable label (`account:17 金水区教育局`, `system`, `cli:…`).
    pub actor: String,
    pub actor_account_id: Option<i64>,
    pub actor_org_id: Option<i64>,
    pub on_behalf_of_org_id: Option<i64>,
    pub action: String,
    pub entity: String,
    pub entity_id: Option<String>,
    /// Details and `changes` (personal numbers already masked when recorded).
    pub detail: Value,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// `s` with blanks trimmed, or `None` when nothing is left.
fn given(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Rows of the trail matching `filter`, newest first (by `chain_seq`), at most
/// [`AuditFilter::effective_limit`] of them. The next page is asked for with `before_seq` set to
/// the last row's `chain_seq`.
///
/// The chain order is walked backwards on its unique index and the filters are checked along
/// the way; an actor or entity filter lets the planner start from `audit_log_actor_idx` or
/// `audit_log_entity_idx` instead.
pub async fn search(
    conn: &mut PgConnection,
    filter: &AuditFilter,
) -> Result<Vec<AuditRow>, AuditError> {
    // Every filter is a parameter, `null` when not given: one statement for every combination.
    let rows = sqlx::query_as!(
        AuditRow,
        "select chain_seq, occurred_at, actor, actor_account_id, actor_org_id, \
         on_behalf_of_org_id, action, entity, entity_id, detail, ip, user_agent \
         from audit_log \
         where ($1::timestamptz is null or occurred_at >= $1) \
           and ($2::timestamptz is null or occurred_at < $2) \
           and ($3::bigint is null or actor_account_id = $3) \
           and ($4::text is null or starts_with(action, $4)) \
           and ($5::text is null or entity = $5) \
           and ($6::text is null or entity_id = $6) \
           and ($7::text is null or actor ilike $7 or entity_id ilike $7) \
           and ($8::bigint is null or chain_seq < $8) \
         order by chain_seq desc limit $9",
        filter.from,
        filter.to,
        filter.actor_account_id,
        given(&filter.action_prefix),
        given(&filter.entity),
        given(&filter.entity_id),
        given(&filter.text).map(xiaobao_db::like_contains),
        filter.before_seq,
        filter.effective_limit(),
    )
    .fetch_all(conn)
    .await?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_is_clamped() {
        let mut f = AuditFilter::default();
        assert_eq!(f.effective_limit(), DEFAULT_LIMIT);
        f.limit = 0;
        assert_eq!(f.effective_limit(), 1);
        f.limit = -5;
        assert_eq!(f.effective_limit(), 1);
        f.limit = 10_000;
        assert_eq!(f.effective_limit(), MAX_LIMIT);
    }

    #[test]
    fn like_wildcards_in_the_text_match_themselves() {
        assert_eq!(xiaobao_db::like_contains("金水"), "%金水%");
        assert_eq!(xiaobao_db::like_contains("a%b_c\\"), "%a\\%b\\_c\\\\%");
    }

    #[test]
    fn blank_filters_filter_nothing() {
        assert_eq!(given(&Some("  ".into())), None);
        assert_eq!(given(&Some(" 17 ".into())), Some("17"));
        assert_eq!(given(&None), None);
    }
}
