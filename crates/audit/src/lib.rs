//! The tenant's audit trail: who (account, organisation, on behalf of whom) did what (action,
//! entity, the changed fields before and after — personal numbers masked), when and from where.
//!
//! Rows are appended through [`record`] in the caller's business transaction, so an audit row
//! exists exactly when the change commits. The table is append-only and hash-chained by the
//! database itself (migration `0006_identity.sql`): a trigger gives each row its place in the
//! chain and its hash; [`verify`] recomputes the chain, [`search`] finds rows for the people
//! who read the trail.

mod alone;
mod mask;
mod search;
mod verify;

use serde::Serialize;
use serde_json::{Map, Value};
use sqlx::PgConnection;

pub use alone::record_alone;
pub use mask::{mask_id_number, mask_phone, mask_value};
pub use search::{AuditFilter, AuditRow, DEFAULT_LIMIT, MAX_LIMIT, search};
pub use verify::{
    BreakCode, CanonicalFields, ChainBreak, TenantVerification, VerifyReport, canonical,
    canonical_into, chain_hash, format_occurred_at, verify, verify_tenant, verify_tenants,
};

/// Who acts, and from where.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Actor {
    /// The signed-in account; `None` for the system itself or an anonymous visitor.
    pub account_id: Option<i64>,
    /// The account's organisation.
    pub org_id: Option<i64>,
    /// The organisation acted for (a central school or broker acting for a school).
    pub on_behalf_of_org_id: Option<i64>,
    /// A readable name: `account:17 金水区教育局`, `system`, `cli`, `anonymous`.
    pub label: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Actor {
    /// The service itself (jobs, start-up seeding).
    pub fn system() -> Self {
        Self {
            label: "system".into(),
            ..Self::default()
        }
    }

    /// An operator at the command line.
    pub fn cli(who: &str) -> Self {
        Self {
            label: format!("cli:{who}"),
            ..Self::default()
        }
    }
}

/// One change of one field, for the `changes` part of an entry.
#[derive(Debug, Clone, Serialize)]
pub struct FieldChange {
    pub before: Value,
    pub after: Value,
}

/// What happened: an action on an entity with its changed fields and other details.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Dotted verb: `login.succeeded`, `school.registration.approved`.
    pub action: String,
    /// The kind of thing acted on: `account`, `organisation`, `change_request`.
    pub entity: String,
    pub entity_id: Option<String>,
    changes: Map<String, Value>,
    detail: Map<String, Value>,
}

impl Entry {
    pub fn new(action: &str, entity: &str, entity_id: Option<impl ToString>) -> Self {
        Self {
            action: action.to_string(),
            entity: entity.to_string(),
            entity_id: entity_id.map(|id| id.to_string()),
            changes: Map::new(),
            detail: Map::new(),
        }
    }

    /// Records a field's value before and after, masked by the field's name (`*mobile*`,
    /// `*phone*`, `*id_number*` are masked; passwords, tokens and one-time codes are kept only
    /// as `"[redacted]"`, see [`mask_value`]). A field whose value did not change is left out.
    pub fn change(mut self, field: &str, before: impl Serialize, after: impl Serialize) -> Self {
        let before = serde_json::to_value(before).unwrap_or(Value::Null);
        let after = serde_json::to_value(after).unwrap_or(Value::Null);
        if before != after {
            self.changes.insert(
                field.to_string(),
                serde_json::json!({
                    "before": mask_value(field, &before),
                    "after": mask_value(field, &after),
                }),
            );
        }
        self
    }

    /// Adds a detail (a reason, a count), masked by its name like [`Entry::change`].
    pub fn detail(mut self, key: &str, value: impl Serialize) -> Self {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        self.detail.insert(key.to_string(), mask_value(key, &value));
        self
    }

    fn into_json(self) -> Value {
        let mut doc = self.detail;
        if !self.changes.is_empty() {
            doc.insert("changes".into(), Value::Object(self.changes));
        }
        Value::Object(doc)
    }
}

/// Errors of the audit trail.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    /// Opening a tenant's transaction or finding the tenant failed.
    #[error(transparent)]
    Db(#[from] xiaobao_db::DbError),
}

/// Appends an entry on the caller's tenant transaction; returns the row's id.
pub async fn record(
    conn: &mut PgConnection,
    actor: &Actor,
    entry: Entry,
) -> Result<i64, AuditError> {
    let action = entry.action.clone();
    let entity = entry.entity.clone();
    let entity_id = entry.entity_id.clone();
    let id = sqlx::query_scalar!(
        "insert into audit_log (actor, action, entity, entity_id, detail, actor_account_id, \
         actor_org_id, on_behalf_of_org_id, ip, user_agent) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) returning audit_log_id",
        actor.label,
        action,
        entity,
        entity_id,
        entry.into_json(),
        actor.account_id,
        actor.org_id,
        actor.on_behalf_of_org_id,
        actor.ip,
        truncate(actor.user_agent.as_deref(), 300),
    )
    .fetch_one(conn)
    .await?;
    Ok(id)
}

fn truncate(s: Option<&str>, max_chars: usize) -> Option<String> {
    s.map(|s| s.chars().take(max_chars).collect())
}
