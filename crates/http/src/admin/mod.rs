//! The programme authority's administration pages: the audit trail (审计日志), notification
//! delivery attempts (消息发送记录) and background jobs (后台任务), with their API equivalents.
//!
//! Everything is shown as stored: audit details were masked when recorded, notification
//! recipients are masked by `xiaobao_notify::list_notifications`, and message contents and job
//! payloads are not shown at all. Putting a dead job back in the queue is audited.

use askama::Template;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use xiaobao_audit::{AuditFilter, AuditRow};
use xiaobao_authz::Permission;
use xiaobao_jobs::{JobId, JobRow, JobStatus};
use xiaobao_notify::{Channel, NotificationFilter, NotificationStatus, NotificationView};

use crate::AppState;
use crate::web::auth::{Current, Routes};
use crate::web::csrf::CsrfToken;
use crate::web::error::ApiError;
use crate::web::error::page_to_api;
use crate::web::error::{PageError, internal};
use crate::web::layout::Layout;
use crate::web::nav::Section;
use crate::web::session::WebSession;
use crate::web::tenant::{ApiTenant, PageTenant};

/// Notifications shown on one page.
const NOTIFICATION_LIMIT: i64 = 100;
/// Jobs shown on one page.
const JOB_LIMIT: i64 = 200;

pub fn routes() -> Routes {
    Routes::new()
        .guarded(
            Method::GET,
            "/t/{slug}/admin/audit",
            Permission::AUDIT_LOG_READ,
            get(show_audit),
        )
        .guarded(
            Method::GET,
            "/t/{slug}/admin/notifications",
            Permission::NOTIFICATIONS_READ,
            get(show_notifications),
        )
        .guarded(
            Method::GET,
            "/t/{slug}/admin/jobs",
            Permission::JOBS_READ,
            get(show_jobs),
        )
        .guarded(
            Method::POST,
            "/t/{slug}/admin/jobs/{id}/retry",
            Permission::JOBS_RETRY,
            post(submit_retry),
        )
        .guarded(
            Method::GET,
            "/api/v1/t/{slug}/audit",
            Permission::AUDIT_LOG_READ,
            get(api_audit),
        )
        .guarded(
            Method::GET,
            "/api/v1/t/{slug}/notifications",
            Permission::NOTIFICATIONS_READ,
            get(api_notifications),
        )
        .guarded(
            Method::GET,
            "/api/v1/t/{slug}/jobs",
            Permission::JOBS_READ,
            get(api_jobs),
        )
        .guarded(
            Method::POST,
            "/api/v1/t/{slug}/jobs/{id}/retry",
            Permission::JOBS_RETRY,
            post(api_retry_job),
        )
}

fn given(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

// ---------------------------------------------------------------------------------------------
// Audit trail

/// Filters of the audit search (query string of the page and the API).
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQuery {
    /// From (inclusive): a date `2025-09-01` or a time (`2025-09-01T08:00`, China time, or RFC
    /// 3339).
    from: Option<String>,
    /// To: a date (that whole day included) or a time (exclusive).
    to: Option<String>,
    /// Actions starting with this, e.g. `login.` or `branch.`.
    action: Option<String>,
    /// The kind of entity, e.g. `account`, `organisation`, `job`.
    entity: Option<String>,
    /// The entity's id (exact).
    entity_id: Option<String>,
    /// The acting account's id.
    actor: Option<String>,
    /// Part of the actor's label or of the entity id.
    text: Option<String>,
    /// Keyset paging: rows older than this `chain_seq` (the last row of the previous page).
    before_seq: Option<String>,
    /// Page size, 1–200 (default 50).
    limit: Option<String>,
}

/// A time filter: RFC 3339, or China time `YYYY-MM-DDTHH:MM` / `YYYY-MM-DD HH:MM`, or a China
/// date (its start; with `end_of_day`, the start of the next day).
fn parse_time(s: &str, end_of_day: bool) -> Option<DateTime<Utc>> {
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
fn audit_filter(q: &AuditQuery) -> Result<AuditFilter, (&'static str, String)> {
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
fn next_before_seq(rows: &[AuditRow], filter: &AuditFilter) -> Option<i64> {
    if rows.len() as i64 == filter.effective_limit() {
        rows.last().map(|r| r.chain_seq)
    } else {
        None
    }
}

async fn search_audit(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    filter: &AuditFilter,
) -> Result<Vec<AuditRow>, PageError> {
    let mut tx = state.db.tenant_tx(tenant).await?;
    let rows = xiaobao_audit::search(&mut tx, filter)
        .await
        .map_err(internal)?;
    tx.commit().await?;
    Ok(rows)
}

/// One row of the audit trail as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditEntryView {
    /// Place in the hash chain (use as `before_seq` for the next page).
    chain_seq: i64,
    occurred_at: DateTime<FixedOffset>,
    /// `account:17 金水区教育局`, `system`, `cli:…`.
    actor: String,
    actor_account_id: Option<i64>,
    actor_org_id: Option<i64>,
    on_behalf_of_org_id: Option<i64>,
    action: String,
    entity: String,
    entity_id: Option<String>,
    /// Details and changes, personal numbers masked as recorded.
    #[schema(value_type = Object)]
    detail: serde_json::Value,
    ip: Option<String>,
    user_agent: Option<String>,
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
            detail: r.detail,
            ip: r.ip,
            user_agent: r.user_agent,
        }
    }
}

/// A page of the audit search.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditPageView {
    /// Newest first.
    rows: Vec<AuditEntryView>,
    /// Pass as `before_seq` for the next page; absent on the last page.
    next_before_seq: Option<i64>,
}

struct AuditLine {
    seq: i64,
    at: String,
    actor: String,
    action: String,
    entity: String,
    detail: String,
    ip: String,
}

/// The filters as typed, to fill the form again.
#[derive(Default)]
struct AuditEcho {
    from: String,
    to: String,
    action: String,
    entity: String,
    entity_id: String,
    actor: String,
    text: String,
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AuditPage {
    layout: Layout,
    action: String,
    q: AuditEcho,
    error: Option<String>,
    rows: Vec<AuditLine>,
    next_href: Option<String>,
    first_href: Option<String>,
}

/// The page's query string with `before_seq` replaced.
fn audit_href(base: &str, q: &AuditQuery, before_seq: Option<i64>) -> String {
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

async fn show_audit(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
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
            let rows = search_audit(&state, &page.tenant, &filter).await?;
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
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<AuditPageView>, ApiError> {
    let Query(q) = query.map_err(|_| ApiError::invalid("query", "查询参数无效"))?;
    let filter = audit_filter(&q).map_err(|(field, message)| ApiError::invalid(field, message))?;
    let rows = search_audit(&state, &tenant.0, &filter)
        .await
        .map_err(page_to_api)?;
    let next_before_seq = next_before_seq(&rows, &filter);
    Ok(Json(AuditPageView {
        rows: rows.into_iter().map(AuditEntryView::from).collect(),
        next_before_seq,
    }))
}

// ---------------------------------------------------------------------------------------------
// Notifications

/// Filters of the notification list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct NotificationQuery {
    /// `pending`, `sent` or `failed`.
    status: Option<String>,
    /// `mail` or `sms`.
    channel: Option<String>,
    /// Template kind, e.g. `password_expiring`.
    template: Option<String>,
}

fn notification_filter(
    q: &NotificationQuery,
) -> Result<NotificationFilter, (&'static str, String)> {
    let status = match given(&q.status) {
        None => None,
        Some(s) => Some(
            NotificationStatus::parse(s)
                .ok_or(("status", "状态应为 pending、sent 或 failed".to_string()))?,
        ),
    };
    let channel = match given(&q.channel) {
        None => None,
        Some(s) => Some(Channel::parse(s).ok_or(("channel", "渠道应为 mail 或 sms".to_string()))?),
    };
    Ok(NotificationFilter {
        status,
        channel,
        template: given(&q.template).map(str::to_string),
    })
}

async fn load_notifications(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    filter: &NotificationFilter,
) -> Result<Vec<NotificationView>, PageError> {
    let mut tx = state.db.tenant_tx(tenant).await?;
    let rows = xiaobao_notify::list_notifications(&mut tx, filter, NOTIFICATION_LIMIT)
        .await
        .map_err(internal)?;
    tx.commit().await?;
    Ok(rows)
}

fn template_label(kind: &str) -> &str {
    match kind {
        "registration_approved" => "注册审核通过",
        "password_reset_code" => "密码重置验证码",
        "deadline_reminder" => "投保截止提醒",
        "claim_status_changed" => "理赔状态更新",
        "sla_about_to_breach" => "理赔即将超时",
        "account_opened" => "账号开通",
        "password_expiring" => "密码即将到期",
        "registration_refused" => "注册申请退回",
        "roster_conflicts_alert" => "花名册冲突提醒",
        other => other,
    }
}

fn notification_status_label(s: NotificationStatus) -> &'static str {
    match s {
        NotificationStatus::Pending => "待发送",
        NotificationStatus::Sent => "已发送",
        NotificationStatus::Failed => "发送失败",
    }
}

fn channel_label(c: Channel) -> &'static str {
    match c {
        Channel::Mail => "邮件",
        Channel::Sms => "短信",
    }
}

/// One delivery attempt.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AttemptApiView {
    attempted_at: DateTime<FixedOffset>,
    /// `sent` or `failed`.
    outcome: String,
    /// Short technical reason (no personal data).
    detail: String,
    provider: String,
}

/// A notification with its attempts; the recipient masked, the message not included.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NotificationApiView {
    notification_id: i64,
    /// `mail` or `sms`.
    channel: String,
    /// `138****1234` or `a***@example.cn`.
    recipient_masked: String,
    /// Template kind.
    template: String,
    /// `pending`, `sent` or `failed`.
    status: String,
    created_at: DateTime<FixedOffset>,
    sent_at: Option<DateTime<FixedOffset>>,
    /// Oldest first.
    attempts: Vec<AttemptApiView>,
}

impl From<NotificationView> for NotificationApiView {
    fn from(n: NotificationView) -> Self {
        Self {
            notification_id: n.notification_id.0,
            channel: n.channel.as_str().to_string(),
            recipient_masked: n.recipient_masked,
            template: n.template,
            status: n.status.as_str().to_string(),
            created_at: crate::web::time::to_cst(n.created_at),
            sent_at: n.sent_at.map(crate::web::time::to_cst),
            attempts: n
                .attempts
                .into_iter()
                .map(|a| AttemptApiView {
                    attempted_at: crate::web::time::to_cst(a.attempted_at),
                    outcome: a.outcome.as_str().to_string(),
                    detail: a.detail,
                    provider: a.provider,
                })
                .collect(),
        }
    }
}

struct NotificationLine {
    id: i64,
    channel: &'static str,
    recipient: String,
    template: String,
    status: &'static str,
    failed: bool,
    created_at: String,
    sent_at: String,
    attempts: Vec<String>,
}

#[derive(Template)]
#[template(path = "admin_notifications.html")]
struct NotificationsPage {
    layout: Layout,
    action: String,
    status: String,
    channel: String,
    template: String,
    error: Option<String>,
    rows: Vec<NotificationLine>,
    limit: i64,
}

async fn show_notifications(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    query: Result<Query<NotificationQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let (rows, error) = match notification_filter(&q) {
        Ok(filter) => (
            load_notifications(&state, &page.tenant, &filter).await?,
            None,
        ),
        Err((_, message)) => (Vec::new(), Some(message)),
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let view = NotificationsPage {
        layout: Layout::tenant(
            &page,
            &mut session,
            Section::NotificationLog,
            Some("消息发送记录"),
        )
        .await?,
        action: page.href("admin/notifications"),
        status: q.status.clone().unwrap_or_default(),
        channel: q.channel.clone().unwrap_or_default(),
        template: q.template.clone().unwrap_or_default(),
        error,
        limit: NOTIFICATION_LIMIT,
        rows: rows
            .into_iter()
            .map(|n| NotificationLine {
                id: n.notification_id.0,
                channel: channel_label(n.channel),
                recipient: n.recipient_masked,
                template: template_label(&n.template).to_string(),
                status: notification_status_label(n.status),
                failed: n.status == NotificationStatus::Failed,
                created_at: crate::web::time::cst(n.created_at),
                sent_at: n.sent_at.map(crate::web::time::cst).unwrap_or_default(),
                attempts: n
                    .attempts
                    .iter()
                    .map(|a| {
                        let outcome = if a.outcome.as_str() == "sent" {
                            "成功"
                        } else {
                            "失败"
                        };
                        let mut line = format!(
                            "{} {} {outcome}",
                            crate::web::time::cst(a.attempted_at),
                            a.provider
                        );
                        if !a.detail.is_empty() {
                            line.push('：');
                            line.push_str(&a.detail);
                        }
                        line
                    })
                    .collect(),
            })
            .collect(),
    };
    Ok((status, Html(view.render()?)).into_response())
}

/// The latest notifications with their delivery attempts (recipients masked).
#[utoipa::path(get, path = "/api/v1/t/{slug}/notifications", tag = "administration",
    params(("slug" = String, Path, description = "租户标识"), NotificationQuery),
    responses((status = 200, body = Vec<NotificationApiView>),
        (status = 403, body = crate::web::error::ErrorBody), (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_notifications(
    State(state): State<AppState>,
    tenant: ApiTenant,
    query: Result<Query<NotificationQuery>, QueryRejection>,
) -> Result<Json<Vec<NotificationApiView>>, ApiError> {
    let Query(q) = query.map_err(|_| ApiError::invalid("query", "查询参数无效"))?;
    let filter =
        notification_filter(&q).map_err(|(field, message)| ApiError::invalid(field, message))?;
    let rows = load_notifications(&state, &tenant.0, &filter)
        .await
        .map_err(page_to_api)?;
    Ok(Json(
        rows.into_iter().map(NotificationApiView::from).collect(),
    ))
}

// ---------------------------------------------------------------------------------------------
// Jobs

/// Filter of the job list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct JobQuery {
    /// `queued`, `running`, `done` or `dead`.
    status: Option<String>,
    /// Page only: the job just put back in the queue.
    #[param(ignore)]
    retried: Option<i64>,
    /// Page only: a job that could not be retried because it is not dead.
    #[param(ignore)]
    not_dead: Option<i64>,
}

fn job_status(q: &JobQuery) -> Result<Option<JobStatus>, (&'static str, String)> {
    match given(&q.status) {
        None => Ok(None),
        Some(s) => JobStatus::parse(s).map(Some).ok_or((
            "status",
            "状态应为 queued、running、done 或 dead".to_string(),
        )),
    }
}

async fn load_jobs(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    status: Option<JobStatus>,
) -> Result<Vec<JobRow>, PageError> {
    let mut tx = state.db.tenant_tx(tenant).await?;
    let rows = xiaobao_jobs::list_jobs(&mut tx, status, JOB_LIMIT)
        .await
        .map_err(internal)?;
    tx.commit().await?;
    Ok(rows)
}

fn job_kind_label(kind: &str) -> &str {
    match kind {
        "notify.deliver" => "发送通知",
        "jobs.cleanup" => "清理已完成任务",
        "documents.sweep" => "清理未引用文件",
        "accounts.password_expiry" => "密码到期提醒",
        other => other,
    }
}

fn job_status_label(s: JobStatus) -> &'static str {
    match s {
        JobStatus::Queued => "排队中",
        JobStatus::Running => "执行中",
        JobStatus::Done => "已完成",
        JobStatus::Dead => "已失败",
    }
}

/// A background job (its payload is not shown).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct JobView {
    job_id: i64,
    kind: String,
    /// `queued`, `running`, `done` or `dead`.
    status: String,
    attempts: i32,
    max_attempts: i32,
    run_at: DateTime<FixedOffset>,
    /// The error of the last failed attempt.
    last_error: Option<String>,
    created_at: DateTime<FixedOffset>,
    updated_at: DateTime<FixedOffset>,
    finished_at: Option<DateTime<FixedOffset>>,
}

impl From<JobRow> for JobView {
    fn from(j: JobRow) -> Self {
        Self {
            job_id: j.job_id.0,
            kind: j.kind,
            status: j.status.as_str().to_string(),
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            run_at: crate::web::time::to_cst(j.run_at),
            last_error: j.last_error,
            created_at: crate::web::time::to_cst(j.created_at),
            updated_at: crate::web::time::to_cst(j.updated_at),
            finished_at: j.finished_at.map(crate::web::time::to_cst),
        }
    }
}

struct JobLine {
    id: i64,
    kind: String,
    status: &'static str,
    dead: bool,
    attempts: String,
    run_at: String,
    updated_at: String,
    last_error: String,
    retry_action: String,
}

#[derive(Template)]
#[template(path = "admin_jobs.html")]
struct JobsPage {
    layout: Layout,
    action: String,
    status: String,
    error: Option<String>,
    notice: Option<String>,
    rows: Vec<JobLine>,
    can_retry: bool,
    csrf: CsrfToken,
    limit: i64,
}

async fn show_jobs(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    query: Result<Query<JobQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let (rows, error) = match job_status(&q) {
        Ok(status) => (load_jobs(&state, &page.tenant, status).await?, None),
        Err((_, message)) => (Vec::new(), Some(message)),
    };
    let notice = match (q.retried, q.not_dead) {
        (Some(id), _) => Some(format!("任务 #{id} 已重新加入队列，将尽快执行。")),
        (None, Some(id)) => Some(format!("任务 #{id} 不是失败状态，无需重试。")),
        (None, None) => None,
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let view = JobsPage {
        layout: Layout::tenant(&page, &mut session, Section::Jobs, Some("后台任务")).await?,
        action: page.href("admin/jobs"),
        status: q.status.clone().unwrap_or_default(),
        error,
        notice,
        can_retry: state
            .auth
            .authz
            .allows(&current.viewer().roles, Permission::JOBS_RETRY),
        csrf: session.csrf_token().await?,
        limit: JOB_LIMIT,
        rows: rows
            .into_iter()
            .map(|j| JobLine {
                id: j.job_id.0,
                kind: job_kind_label(&j.kind).to_string(),
                status: job_status_label(j.status),
                dead: j.status == JobStatus::Dead,
                attempts: format!("{}/{}", j.attempts, j.max_attempts),
                run_at: crate::web::time::cst(j.run_at),
                updated_at: crate::web::time::cst(j.updated_at),
                last_error: j.last_error.unwrap_or_default(),
                retry_action: page.href(&format!("admin/jobs/{}/retry", j.job_id.0)),
            })
            .collect(),
    };
    Ok((status, Html(view.render()?)).into_response())
}

/// What a retry request came to.
enum Retry {
    Done,
    NotDead,
}

/// Puts a dead job back in the queue, audited (`job.retried`). `NotFound` when no such job.
async fn retry_job(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
    job_id: i64,
) -> Result<Retry, PageError> {
    let mut tx = state.db.tenant_tx(tenant).await?;
    let job = xiaobao_jobs::get_job(&mut tx, JobId(job_id))
        .await
        .map_err(internal)?
        .ok_or(PageError::NotFound)?;
    if !xiaobao_jobs::retry_dead(&mut tx, JobId(job_id))
        .await
        .map_err(internal)?
    {
        return Ok(Retry::NotDead);
    }
    xiaobao_audit::record(
        &mut tx,
        &current.actor(),
        xiaobao_audit::Entry::new("job.retried", "job", Some(job_id))
            .detail("kind", &job.kind)
            .detail("attempts", job.attempts),
    )
    .await
    .map_err(internal)?;
    tx.commit().await?;
    Ok(Retry::Done)
}

async fn submit_retry(
    State(state): State<AppState>,
    page: PageTenant,
    current: Current,
    Path((_slug, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let id: i64 = id.parse().map_err(|_| PageError::NotFound)?;
    let target = match retry_job(&state, &page.tenant, &current, id).await? {
        Retry::Done => format!("admin/jobs?retried={id}"),
        Retry::NotDead => format!("admin/jobs?not_dead={id}"),
    };
    Ok(Redirect::to(&page.href(&target)).into_response())
}

/// The tenant's jobs, most recently changed first (dead ones with their error).
#[utoipa::path(get, path = "/api/v1/t/{slug}/jobs", tag = "administration",
    params(("slug" = String, Path, description = "租户标识"), JobQuery),
    responses((status = 200, body = Vec<JobView>), (status = 403, body = crate::web::error::ErrorBody),
        (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_jobs(
    State(state): State<AppState>,
    tenant: ApiTenant,
    query: Result<Query<JobQuery>, QueryRejection>,
) -> Result<Json<Vec<JobView>>, ApiError> {
    let Query(q) = query.map_err(|_| ApiError::invalid("query", "查询参数无效"))?;
    let status = job_status(&q).map_err(|(field, message)| ApiError::invalid(field, message))?;
    let rows = load_jobs(&state, &tenant.0, status)
        .await
        .map_err(page_to_api)?;
    Ok(Json(rows.into_iter().map(JobView::from).collect()))
}

/// Puts a dead job back in the queue with a fresh set of attempts (audited).
#[utoipa::path(post, path = "/api/v1/t/{slug}/jobs/{id}/retry", tag = "administration",
    params(("slug" = String, Path, description = "租户标识"), ("id" = i64, Path, description = "任务编号")),
    responses((status = 204, description = "已重新加入队列"), (status = 403, body = crate::web::error::ErrorBody),
        (status = 404, body = crate::web::error::ErrorBody), (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_retry_job(
    State(state): State<AppState>,
    tenant: ApiTenant,
    current: Current,
    Path((_slug, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::NotFound(format!("任务 {id} 不存在")))?;
    match retry_job(&state, &tenant.0, &current, id).await {
        Ok(Retry::Done) => Ok(StatusCode::NO_CONTENT),
        Ok(Retry::NotDead) => Err(ApiError::invalid(
            "id",
            "只有已失败的任务可以重试，该任务不是失败状态",
        )),
        Err(PageError::NotFound) => Err(ApiError::NotFound(format!("任务 {id} 不存在"))),
        Err(e) => Err(page_to_api(e)),
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    #[test]
    fn dates_are_china_days_and_the_end_day_is_included() {
        let from = parse_time("2025-09-01", false).unwrap();
        assert_eq!(from.to_rfc3339(), "2025-08-31T16:00:00+00:00");
        let to = parse_time("2025-09-01", true).unwrap();
        assert_eq!(to.to_rfc3339(), "2025-09-01T16:00:00+00:00");
        let t = parse_time("2025-09-01T08:30", true).unwrap();
        assert_eq!(t.to_rfc3339(), "2025-09-01T00:30:00+00:00");
        let r = parse_time("2025-09-01T08:30:00+08:00", false).unwrap();
        assert_eq!(r, t);
        assert!(parse_time("2025-13-01", false).is_none());
        assert!(parse_time("昨天", false).is_none());
    }

    #[test]
    fn the_query_becomes_a_filter_or_names_the_wrong_field() {
        let q = AuditQuery {
            action: Some(" login. ".into()),
            actor: Some("17".into()),
            before_seq: Some("120".into()),
            entity: Some("".into()),
            ..AuditQuery::default()
        };
        let f = audit_filter(&q).unwrap();
        assert_eq!(f.action_prefix.as_deref(), Some("login."));
        assert_eq!(f.actor_account_id, Some(17));
        assert_eq!(f.before_seq, Some(120));
        assert_eq!(f.entity, None);
        let bad = AuditQuery {
            actor: Some("张三".into()),
            ..AuditQuery::default()
        };
        assert_eq!(audit_filter(&bad).unwrap_err().0, "actor");
        let reversed = AuditQuery {
            from: Some("2025-09-02".into()),
            to: Some("2025-09-01".into()),
            ..AuditQuery::default()
        };
        assert_eq!(audit_filter(&reversed).unwrap_err().0, "to");
    }

    #[test]
    fn paging_links_keep_the_filters() {
        let q = AuditQuery {
            action: Some("login.".into()),
            before_seq: Some("99".into()),
            ..AuditQuery::default()
        };
        assert_eq!(
            audit_href("/t/henan/admin/audit", &q, Some(40)),
            "/t/henan/admin/audit?action=login.&before_seq=40"
        );
        assert_eq!(
            audit_href("/t/henan/admin/audit", &q, None),
            "/t/henan/admin/audit?action=login."
        );
    }
}
