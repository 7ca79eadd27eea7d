//! The operators' audit trail (`control.operator_audit`): who did what to which platform
//! record, with a JSON detail; append-only (triggers refuse update, delete and truncate).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgExecutor;
use xiaobao_domain::Outcome;

use crate::db;

/// Who acts: an operator of the console, or someone at the command line.
#[derive(Debug, Clone, Default)]
pub struct OperatorActor {
    pub operator_id: Option<i64>,
    /// `operator:3 王运维`, `cli:root`, `anonymous`.
    pub label: String,
    pub ip: Option<String>,
}

impl OperatorActor {
    pub fn operator(operator_id: i64, display_name: &str, ip: Option<String>) -> Self {
        Self {
            operator_id: Some(operator_id),
            label: format!("operator:{operator_id} {display_name}"),
            ip,
        }
    }

    pub fn cli(who: &str) -> Self {
        Self {
            operator_id: None,
            label: format!("cli:{who}"),
            ip: None,
        }
    }

    /// A visitor of the sign-in page whose login name matched no operator.
    pub fn anonymous(ip: Option<String>) -> Self {
        Self {
            operator_id: None,
            label: "anonymous".into(),
            ip,
        }
    }
}

/// Appends one entry.
pub async fn record(
    executor: impl PgExecutor<'_>,
    actor: &OperatorActor,
    action: &str,
    entity: &str,
    entity_id: Option<&str>,
    detail: serde_json::Value,
) -> Outcome<()> {
    sqlx::query!(
        "insert into control.operator_audit (actor, operator_id, action, entity, entity_id, detail, ip) \
         values ($1, $2, $3, $4, $5, $6, $7)",
        actor.label.chars().take(200).collect::<String>(),
        actor.operator_id,
        action,
        entity,
        entity_id,
        detail,
        actor.ip,
    )
    .execute(executor)
    .await
    .map_err(db)?;
    Ok(())
}

/// One entry of the trail.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = OperatorAuditEntry)]
pub struct AuditRow {
    pub audit_id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub entity: String,
    pub entity_id: Option<String>,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    pub ip: Option<String>,
}

/// The newest entries first, at most `limit`, optionally of one action.
pub async fn list(
    executor: impl PgExecutor<'_>,
    action: Option<&str>,
    limit: i64,
) -> Outcome<Vec<AuditRow>> {
    sqlx::query_as!(
        AuditRow,
        "select audit_id, at, actor, action, entity, entity_id, detail, ip \
         from control.operator_audit where ($1::text is null or action = $1) \
         order by at desc, audit_id desc limit $2",
        action,
        limit,
    )
    .fetch_all(executor)
    .await
    .map_err(db)
}
