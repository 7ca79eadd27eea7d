//! 消息发送记录: notifications and their delivery attempts, recipients masked.

use askama::Template;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use xiaobao_notify::{Channel, NotificationFilter, NotificationStatus, NotificationView};

use crate::AppState;
use crate::web::error::ApiError;
use crate::web::error::PageError;
use crate::web::error::page_to_api;
use crate::web::layout::Layout;
use crate::web::nav::Section;
use crate::web::session::WebSession;
use crate::web::tenant::{ApiTenant, PageTenant};

use super::*;

/// Filters of the notification list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct NotificationQuery {
    /// `pending`, `sent` or `failed`.
    pub(super) status: Option<String>,
    /// `mail` or `sms`.
    pub(super) channel: Option<String>,
    /// Template kind, e.g. `password_expiring`.
    pub(super) template: Option<String>,
}

pub(super) fn notification_filter(
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

pub(super) async fn load_notifications(
    caller: Caller,
    filter: &NotificationFilter,
) -> Result<Vec<NotificationView>, PageError> {
    Ok(Admin::new(caller).notifications(filter).await?)
}

pub(super) fn template_label(kind: &str) -> &str {
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

pub(super) fn notification_status_label(s: NotificationStatus) -> &'static str {
    match s {
        NotificationStatus::Pending => "待发送",
        NotificationStatus::Sent => "已发送",
        NotificationStatus::Failed => "发送失败",
    }
}

pub(super) fn channel_label(c: Channel) -> &'static str {
    match c {
        Channel::Mail => "邮件",
        Channel::Sms => "短信",
    }
}

/// One delivery attempt.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AttemptApiView {
    pub(super) attempted_at: DateTime<FixedOffset>,
    /// `sent` or `failed`.
    pub(super) outcome: String,
    /// Short technical reason (no personal data).
    pub(super) detail: String,
    pub(super) provider: String,
}

/// A notification with its attempts; the recipient masked, the message not included.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NotificationApiView {
    pub(super) notification_id: i64,
    /// `mail` or `sms`.
    pub(super) channel: String,
    /// `138****1234` or `a***@example.cn`.
    pub(super) recipient_masked: String,
    /// Template kind.
    pub(super) template: String,
    /// `pending`, `sent` or `failed`.
    pub(super) status: String,
    pub(super) created_at: DateTime<FixedOffset>,
    pub(super) sent_at: Option<DateTime<FixedOffset>>,
    /// Oldest first.
    pub(super) attempts: Vec<AttemptApiView>,
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

pub(super) struct NotificationLine {
    pub(super) id: i64,
    pub(super) channel: &'static str,
    pub(super) recipient: String,
    pub(super) template: String,
    pub(super) status: &'static str,
    pub(super) failed: bool,
    pub(super) created_at: String,
    pub(super) sent_at: String,
    pub(super) attempts: Vec<String>,
}

#[derive(Template)]
#[template(path = "admin_notifications.html")]
pub(super) struct NotificationsPage {
    pub(super) layout: Layout,
    pub(super) action: String,
    pub(super) status: String,
    pub(super) channel: String,
    pub(super) template: String,
    pub(super) error: Option<String>,
    pub(super) rows: Vec<NotificationLine>,
    pub(super) limit: i64,
}

pub(super) async fn show_notifications(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    query: Result<Query<NotificationQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let (rows, error) = match notification_filter(&q) {
        Ok(filter) => (
            load_notifications(caller(&state, &page.tenant, &current), &filter).await?,
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
    current: Current,
    query: Result<Query<NotificationQuery>, QueryRejection>,
) -> Result<Json<Vec<NotificationApiView>>, ApiError> {
    let Query(q) = query.map_err(|_| ApiError::invalid("query", "查询参数无效"))?;
    let filter =
        notification_filter(&q).map_err(|(field, message)| ApiError::invalid(field, message))?;
    let rows = load_notifications(caller(&state, &tenant.0, &current), &filter)
        .await
        .map_err(page_to_api)?;
    Ok(Json(
        rows.into_iter().map(NotificationApiView::from).collect(),
    ))
}
