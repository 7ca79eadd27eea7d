//! 审计日志: the audit trail, searched, and its verification.

use askama::Template;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use xiaobao_audit::{AuditFilter, AuditRow};

use crate::AppState;
use crate::web::error::ApiError;
use crate::web::error::PageError;
use crate::web::error::page_to_api;
use crate::web::layout::Layout;
use crate::web::nav::Section;
use crate::web::session::WebSession;
use crate::web::tenant::{ApiTenant, PageTenant};

use super::*;

/// Filters of the audit search (query string of the page and the API).
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQuery {
    /// From (inclusive): a date `2025-09-01` or a time (`2025-09-01T08:00`, China time, or RFC
    /// 3339).
    pub(super) from: Option<String>,
    /// To: a date (that whole day included) or a time (exclusive).
    pub(super) to: Option<String>,
    /// Actions starting with this, e.g. `login.` or `branch.`.
    pub(super) action: Option<String>,
    /// The kind of entity, e.g. `account`, `organisation`, `job`.
    pub(super) entity: Option<String>,
    /// The entity's id (exact).
    pub(super) entity_id: Option<String>,
    /// The acting account's id.
    pub(super) actor: Option<String>,
    /// Part of the actor's label or of the entity id.
    pub(super) text: Option<String>,
    /// Keyset paging: rows older than this `chain_seq` (the last row of the previous page).
    pub(super) before_seq: Option<String>,
    /// Page size, 1–200 (default 50).
    pub(super) limit: Option<String>,
}

/// A time filter: RFC 3339, or China time `YYYY-MM-DDTHH:MM` / `YYYY-MM-DD HH:MM`, or a China
/// date (its start; with `end_of_day`, the start of the next day).
pub(super) fn parse_time(s: &str, end_of_day: bool) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Shanghai
                .from_local_datetime(&t)
                .earliest()
                .map(|t| t.with_timezone(&Utc));
        }
    }
    let date = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    let date = if end_of_day { date.succ_opt()? } else { date };
    Shanghai
        .from_local_datetime(&date.and_time(chrono::NaiveTime::MIN))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// The search filter of a query, or the field that is wrong and why.
pub(super) fn audit_filter(q: &AuditQuery) -> Result<AuditFilter, (&'static str, String)> {
    let mut filter = AuditFilter::default();
    if let Some(from) = given(&q.from) {
        filter.from = Some(parse_time(from, false).ok_or((
            "from",
            "开始时间格式错误，应为 2025-09-01 或 2025-09-01T08:00".to_string(),
        ))?);
    }
    if let Some(to) = given(&q.to) {
        filter.to = Some(parse_time(to, true).ok_or((
            "to",
            "结束时间格式错误，应为 2025-09-30 或 2025-09-30T18:00".to_string(),
        ))?);
    }
    if let (Some(from), Some(to)) = (filter.from, filter.to)
        && from >= to
    {
        return Err(("to", "结束时间应晚于开始时间".into()));
    }
    if let Some(actor) = given(&q.actor) {
        filter.actor_account_id = Some(
            actor
                .parse()
                .map_err(|_| ("actor", "操作账号应为账号编号（数字）".to_string()))?,
        );
    }
    if let Some(before) = given(&q.before_seq) {
        filter.before_seq = Some(
            before
                .parse()
                .map_err(|_| ("before_seq", "分页参数无效".to_string()))?,
        );
    }
    if let Some(limit) = given(&q.limit) {
        filter.limit = limit
            .parse()
            .map_err(|_| ("limit", "每页条数应为 1–200 的整数".to_string()))?;
    }
    filter.action_prefix = given(&q.action).map(str::to_string);
    filter.entity = given(&q.entity).map(str::to_string);
    filter.entity_id = given(&q.entity_id).map(str::to_string);
    filter.text = given(&q.text).map(str::to_string);
    Ok(filter)
}

/// The keyset of the next page, when this one was full.
pub(super) fn next_before_seq(rows: &[AuditRow], filter: &AuditFilter) -> Option<i64> {
    if rows.len() as i64 == filter.effective_limit() {
        rows.last().map(|r| r.chain_seq)
    } else {
        None
    }
}

pub(super) async fn search_audit(
    caller: Caller,
    filter: &AuditFilter,
) -> Result<Vec<AuditRow>, PageError> {
    Ok(Admin::new(caller).audit(filter).await?)
}

/// One row of the audit trail as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditEntryView {
    /// Place in the hash chain (use as `before_seq` for the next page).
    pub(super) chain_seq: i64,
    pub(super) occurred_at: DateTime<FixedOffset>,
    /// `account:17 金水区教育局`, `system`, `cli:…`.
    pub(super) actor: String,
    pub(super) actor_account_id: Option<i64>,
    pub(super) actor_org_id: Option<i64>,
    pub(super) on_behalf_of_org_id: Option<i64>,
    pub(super) action: String,
    pub(super) entity: String,
    pub(super) entity_id: Option<String>,
    /// Details and changes, personal numbers masked as recorded.
    pub(super) detail: AuditDetail,
    pub(super) ip: Option<String>,
    pub(super) user_agent: Option<String>,
}

/// What an audit entry records beside its action: each changed field's value before and after
/// under `changes`, and named details (a reason, a count, the ids concerned) beside it — the keys
/// depend on the action. Personal numbers are masked as recorded.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub(super) struct AuditDetail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    changes: Option<std::collections::BTreeMap<String, AuditChange>>,
    /// The action's named details.
    #[serde(flatten)]
    details: std::collections::BTreeMap<String, serde_json::Value>,
}

/// One changed field.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(super) struct AuditChange {
    before: serde_json::Value,
    after: serde_json::Value,
}

impl From<serde_json::Value> for AuditDetail {
    /// A stored detail document; one whose `changes` is not shaped as recorded keeps every key
    /// among the details.
    fn from(doc: serde_json::Value) -> AuditDetail {
        let serde_json::Value::Object(map) = doc else {
            return AuditDetail::default();
        };
        serde_json::from_value(serde_json::Value::Object(map.clone())).unwrap_or(AuditDetail {
            changes: None,
            details: map.into_iter().collect(),
        })
    }
}

impl From<AuditRow> for AuditEntryView {
    fn from(r: AuditRow) -> Self {
        Self {
            chain_seq: r.chain_seq,
            occurred_at: crate::web::time::to_cst(r.occurred_at),
            actor: r.actor,
            actor_account_id: r.actor_account_id,
            actor_org_id: r.actor_org_id,
            on_behalf_of_org_id: r.on_behalf_of_org_id,
            action: r.action,
            entity: r.entity,
            entity_id: r.entity_id,
            detail: AuditDetail::from(r.detail),
            ip: r.ip,
            user_agent: r.user_agent,
        }
    }
}

/// A page of the audit search.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditPageView {
    /// Newest first.
    pub(super) rows: Vec<AuditEntryView>,
    /// Pass as `before_seq` for the next page; absent on the last page.
    pub(super) next_before_seq: Option<i64>,
}

pub(super) struct AuditLine {
    pub(super) seq: i64,
    pub(super) at: String,
    pub(super) actor: String,
    pub(super) action: String,
    pub(super) entity: String,
    pub(super) detail: String,
    pub(super) ip: String,
}

/// The filters as typed, to fill the form again.
#[derive(Default)]
pub(super) struct AuditEcho {
    pub(super) from: String,
    pub(super) to: String,
    pub(super) action: String,
    pub(super) entity: String,
    pub(super) entity_id: String,
    pub(super) actor: String,
    pub(super) text: String,
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
pub(super) struct AuditPage {
    pub(super) layout: Layout,
    pub(super) action: String,
    pub(super) q: AuditEcho,
    pub(super) error: Option<String>,
    pub(super) rows: Vec<AuditLine>,
    pub(super) next_href: Option<String>,
    pub(super) first_href: Option<String>,
}

/// The page's query string with `before_seq` replaced.
pub(super) fn audit_href(base: &str, q: &AuditQuery, before_seq: Option<i64>) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (key, value) in [
        ("from", &q.from),
        ("to", &q.to),
        ("action", &q.action),
        ("entity", &q.entity),
        ("entity_id", &q.entity_id),
        ("actor", &q.actor),
        ("text", &q.text),
        ("limit", &q.limit),
    ] {
        if let Some(v) = given(value) {
            s.append_pair(key, v);
        }
    }
    if let Some(seq) = before_seq {
        s.append_pair("before_seq", &seq.to_string());
    }
    let query = s.finish();
    if query.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{query}")
    }
}

pub(super) async fn show_audit(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let echo = AuditEcho {
        from: text(&q.from),
        to: text(&q.to),
        action: text(&q.action),
        entity: text(&q.entity),
        entity_id: text(&q.entity_id),
        actor: text(&q.actor),
        text: text(&q.text),
    };
    let base = page.href("admin/audit");
    let (rows, error, next) = match audit_filter(&q) {
        Ok(filter) => {
            let rows = search_audit(caller(&state, &page.tenant, &current), &filter).await?;
            let next = next_before_seq(&rows, &filter);
            (rows, None, next)
        }
        Err((_, message)) => (Vec::new(), Some(message), None),
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let view = AuditPage {
        layout: Layout::tenant(&page, &mut session, Section::AuditLog, Some("审计日志")).await?,
        next_href: next.map(|seq| audit_href(&base, &q, Some(seq))),
        first_href: given(&q.before_seq).map(|_| audit_href(&base, &q, None)),
        action: base,
        q: echo,
        error,
        rows: rows
            .into_iter()
            .map(|r| AuditLine {
                seq: r.chain_seq,
                at: crate::web::time::cst(r.occurred_at),
                actor: r.actor,
                action: r.action,
                entity: match r.entity_id {
                    Some(id) => format!("{} #{id}", r.entity),
                    None => r.entity,
                },
                detail: if r.detail.as_object().is_some_and(|m| m.is_empty()) {
                    String::new()
                } else {
                    r.detail.to_string()
                },
                ip: r.ip.unwrap_or_default(),
            })
            .collect(),
    };
    Ok((status, Html(view.render()?)).into_response())
}

/// Searches the audit trail, newest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/t/{slug}/audit", tag = "administration",
    params(("slug" = String, Path, description = "租户标识"), AuditQuery),
    responses((status = 200, body = AuditPageView), (status = 403, body = crate::web::error::ErrorBody),
        (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_audit(
    State(state): State<AppState>,
    tenant: ApiTenant,
    current: Current,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<AuditPageView>, ApiError> {
    let Query(q) = query.map_err(|_| ApiError::invalid("query", "查询参数无效"))?;
    let filter = audit_filter(&q).map_err(|(field, message)| ApiError::invalid(field, message))?;
    let rows = search_audit(caller(&state, &tenant.0, &current), &filter)
        .await
        .map_err(page_to_api)?;
    let next_before_seq = next_before_seq(&rows, &filter);
    Ok(Json(AuditPageView {
        rows: rows.into_iter().map(AuditEntryView::from).collect(),
        next_before_seq,
    }))
}
