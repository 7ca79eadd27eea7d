//! The outbox tables: `notifications` and `notification_attempts`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use xiaobao_db::{DbError, DbResult};
use xiaobao_jobs::NewJob;

use crate::{DELIVER_KIND, NotifyError, Template, mask_recipient};

/// Attempts of a delivery job before the notification is `failed`: with the default backoff
/// (30 s doubling) the last one is about an hour after the first.
pub const DELIVER_MAX_ATTEMPTS: i32 = 8;

/// Key of a row of `notifications` (unique within its tenant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, sqlx::Type)]
#[sqlx(transparent)]
#[serde(transparent)]
pub struct NotificationId(pub i64);

impl std::fmt::Display for NotificationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// How a notification travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Mail,
    Sms,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mail => "mail",
            Self::Sms => "sms",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "mail" => Some(Self::Mail),
            "sms" => Some(Self::Sms),
            _ => None,
        }
    }
}

/// Where a notification is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NotificationStatus {
    /// Not sent yet (new, or retrying).
    Pending,
    Sent,
    /// Given up: the delivery job failed permanently or ran out of attempts.
    Failed,
}

impl NotificationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "sent" => Some(Self::Sent),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// Result of one delivery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AttemptOutcome {
    Sent,
    Failed,
}

impl AttemptOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }
}

/// A notification to queue. Its `Debug` masks the recipient and redacts secret parameters.
#[derive(Clone)]
pub struct Notification {
    pub channel: Channel,
    /// A mail address, or a mainland mobile number (spaces, dashes and a +86 prefix allowed).
    pub recipient: String,
    pub template: Template,
}

impl std::fmt::Debug for Notification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notification")
            .field("channel", &self.channel)
            .field("recipient", &mask_recipient(self.channel, &self.recipient))
            .field("template", &self.template)
            .finish()
    }
}

impl Notification {
    pub fn mail(to: impl Into<String>, template: Template) -> Self {
        Self {
            channel: Channel::Mail,
            recipient: to.into(),
            template,
        }
    }

    pub fn sms(to: impl Into<String>, template: Template) -> Self {
        Self {
            channel: Channel::Sms,
            recipient: to.into(),
            template,
        }
    }
}

/// The recipient in its stored form, or why it cannot be used.
pub fn normalize_recipient(channel: Channel, recipient: &str) -> Result<String, NotifyError> {
    match channel {
        Channel::Mail => {
            let address: lettre::Address = recipient
                .trim()
                .parse()
                .map_err(|_| NotifyError::InvalidRecipient(channel))?;
            Ok(address.to_string())
        }
        Channel::Sms => {
            let digits: String = recipient
                .chars()
                .filter(|c| !matches!(c, ' ' | '-' | '+'))
                .collect();
            let digits = match digits.strip_prefix("86") {
                Some(rest) if rest.len() == 11 => rest.to_string(),
                _ => digits,
            };
            let bytes = digits.as_bytes();
            let ok = bytes.len() == 11
                && bytes[0] == b'1'
                && (b'3'..=b'9').contains(&bytes[1])
                && bytes.iter().all(u8::is_ascii_digit);
            if ok {
                Ok(digits)
            } else {
                Err(NotifyError::InvalidRecipient(channel))
            }
        }
    }
}

/// Writes a notification to the outbox and enqueues its `notify.deliver` job (dedupe key
/// `notify:{id}`), both on the caller's connection — call it with the `TenantTx` of the
/// business change, so the message goes out if and only if the change commits.
#[tracing::instrument(skip_all, fields(notification.channel = notification.channel.as_str(),
    notification.template = notification.template.kind(), notification.id))]
pub async fn queue(
    conn: &mut PgConnection,
    notification: &Notification,
) -> Result<NotificationId, NotifyError> {
    let recipient = normalize_recipient(notification.channel, &notification.recipient)?;
    let id = sqlx::query_scalar!(
        "insert into notifications (channel, recipient, template, params) \
         values ($1, $2, $3, $4) returning notification_id as \"notification_id: NotificationId\"",
        notification.channel.as_str(),
        recipient,
        notification.template.kind(),
        notification.template.params(),
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(DbError::from)?;
    tracing::Span::current().record("notification.id", id.0);
    xiaobao_jobs::enqueue(
        conn,
        NewJob::new(DELIVER_KIND, serde_json::json!({ "notification_id": id.0 }))
            .with_dedupe_key(format!("notify:{id}"))
            .with_max_attempts(DELIVER_MAX_ATTEMPTS),
    )
    .await?;
    tracing::info!("notification queued");
    Ok(id)
}

/// A stored notification, as the delivery job reads it.
pub(crate) struct StoredNotification {
    pub channel: String,
    pub recipient: String,
    pub template: String,
    pub params: serde_json::Value,
    pub status: String,
}

pub(crate) async fn load(
    conn: &mut PgConnection,
    id: NotificationId,
) -> DbResult<Option<StoredNotification>> {
    Ok(sqlx::query_as!(
        StoredNotification,
        "select channel, recipient, template, params, status from notifications \
         where notification_id = $1",
        id.0,
    )
    .fetch_optional(conn)
    .await?)
}

pub(crate) async fn record_attempt(
    conn: &mut PgConnection,
    id: NotificationId,
    outcome: AttemptOutcome,
    detail: &str,
    provider: &str,
) -> DbResult<()> {
    let detail: String = detail.chars().take(500).collect();
    sqlx::query!(
        "insert into notification_attempts (notification_id, outcome, detail, provider) \
         values ($1, $2, $3, $4)",
        id.0,
        outcome.as_str(),
        detail,
        provider,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks the notification sent and drops the secrets from its parameters. `false`: it was
/// already sent.
pub(crate) async fn mark_sent(
    conn: &mut PgConnection,
    id: NotificationId,
    redacted_params: &serde_json::Value,
) -> DbResult<bool> {
    let n = sqlx::query!(
        "update notifications set status = 'sent', sent_at = now(), updated_at = now(), \
         params = $2 where notification_id = $1 and status <> 'sent'",
        id.0,
        redacted_params,
    )
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// After a failed attempt: `failed` when given up, else still `pending`.
pub(crate) async fn mark_failed_attempt(
    conn: &mut PgConnection,
    id: NotificationId,
    given_up: bool,
) -> DbResult<()> {
    sqlx::query!(
        "update notifications set updated_at = now(), \
         status = case when $2 then 'failed' else 'pending' end \
         where notification_id = $1 and status <> 'sent'",
        id.0,
        given_up,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Narrows [`list_notifications`]; the default lists everything.
#[derive(Debug, Clone, Default)]
pub struct NotificationFilter {
    pub status: Option<NotificationStatus>,
    pub channel: Option<Channel>,
    /// Template kind, e.g. `password_reset_code`.
    pub template: Option<String>,
}

/// One delivery attempt, for the administrators' view.
#[derive(Debug, Clone, Serialize)]
pub struct AttemptView {
    pub notification_attempt_id: i64,
    pub attempted_at: DateTime<Utc>,
    pub outcome: AttemptOutcome,
    /// Short technical reason (no personal data).
    pub detail: String,
    pub provider: String,
}

/// One notification with its attempts, for the tenant's administrators: the recipient is
/// masked and the message itself (parameters, body) is not included.
#[derive(Debug, Clone, Serialize)]
pub struct NotificationView {
    pub notification_id: NotificationId,
    pub channel: Channel,
    /// `138****1234` or `a***@example.cn`.
    pub recipient_masked: String,
    /// Template kind.
    pub template: String,
    pub status: NotificationStatus,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// Oldest first.
    pub attempts: Vec<AttemptView>,
}

struct NotificationRow {
    notification_id: NotificationId,
    channel: String,
    recipient: String,
    template: String,
    status: String,
    created_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
}

struct AttemptRow {
    notification_attempt_id: i64,
    notification_id: NotificationId,
    attempted_at: DateTime<Utc>,
    outcome: String,
    detail: String,
    provider: String,
}

/// The tenant's notifications, newest first, each with its attempts and its recipient masked.
/// `limit` is clamped to 1–500.
pub async fn list_notifications(
    conn: &mut PgConnection,
    filter: &NotificationFilter,
    limit: i64,
) -> DbResult<Vec<NotificationView>> {
    let rows = sqlx::query_as!(
        NotificationRow,
        "select notification_id as \"notification_id: NotificationId\", channel, recipient, \
         template, status, created_at, sent_at, updated_at from notifications \
         where ($1::text is null or status = $1) \
           and ($2::text is null or channel = $2) \
           and ($3::text is null or template = $3) \
         order by created_at desc, notification_id desc limit $4",
        filter.status.map(NotificationStatus::as_str),
        filter.channel.map(Channel::as_str),
        filter.template.as_deref(),
        limit.clamp(1, 500),
    )
    .fetch_all(&mut *conn)
    .await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.notification_id.0).collect();
    let attempts = sqlx::query_as!(
        AttemptRow,
        "select notification_attempt_id, notification_id as \"notification_id: NotificationId\", \
         attempted_at, outcome, detail, provider from notification_attempts \
         where notification_id = any($1) \
         order by attempted_at, notification_attempt_id",
        &ids,
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let channel = Channel::parse(&row.channel)
            .ok_or_else(|| DbError::Invalid(format!("未知的通知渠道 {}", row.channel)))?;
        let status = NotificationStatus::parse(&row.status)
            .ok_or_else(|| DbError::Invalid(format!("未知的通知状态 {}", row.status)))?;
        let attempts = attempts
            .iter()
            .filter(|a| a.notification_id == row.notification_id)
            .map(|a| AttemptView {
                notification_attempt_id: a.notification_attempt_id,
                attempted_at: a.attempted_at,
                outcome: if a.outcome == "sent" {
                    AttemptOutcome::Sent
                } else {
                    AttemptOutcome::Failed
                },
                detail: a.detail.clone(),
                provider: a.provider.clone(),
            })
            .collect();
        out.push(NotificationView {
            notification_id: row.notification_id,
            channel,
            recipient_masked: mask_recipient(channel, &row.recipient),
            template: row.template,
            status,
            created_at: row.created_at,
            sent_at: row.sent_at,
            updated_at: row.updated_at,
            attempts,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mobile_numbers_are_normalised_and_checked() {
        for ok in [
            "13812341234",
            "138 1234 1234",
            "+86 138-1234-1234",
            "8613812341234",
        ] {
            assert_eq!(
                normalize_recipient(Channel::Sms, ok).ok().as_deref(),
                Some("13812341234"),
                "{ok}"
            );
        }
        for bad in ["12812341234", "1381234123", "1381234123x", ""] {
            assert!(normalize_recipient(Channel::Sms, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn debug_output_hides_the_recipient_and_the_code() {
        let n = Notification::sms(
            "13812341234",
            crate::Template::PasswordResetCode {
                code: "482913".into(),
                minutes_valid: 10,
            },
        );
        let shown = format!("{n:?}");
        assert!(shown.contains("138****1234"), "{shown}");
        assert!(
            !shown.contains("13812341234") && !shown.contains("482913"),
            "{shown}"
        );
    }

    #[test]
    fn mail_addresses_are_checked() {
        assert_eq!(
            normalize_recipient(Channel::Mail, " a@example.cn ")
                .ok()
                .as_deref(),
            Some("a@example.cn")
        );
        assert!(normalize_recipient(Channel::Mail, "not an address").is_err());
    }
}
