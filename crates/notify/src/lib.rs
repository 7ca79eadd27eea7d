//! Notifications: mail and SMS through an outbox.
//!
//! - **Outbox.** [`queue`] writes a `notifications` row (migration `0005_notifications.sql`)
//!   and enqueues its `notify.deliver` job (`xiaobao-jobs`, dedupe key `notify:{id}`) on the
//!   caller's connection — the `TenantTx` of the business change that causes the message — so
//!   a rolled-back change sends nothing.
//! - **Delivery.** The worker runs [`DeliverHandler`]: it renders the [`Template`] in Chinese
//!   with the tenant's name as signature (【河南省教育保险管理系统】), sends it through a
//!   [`Mailer`] ([`SmtpMailer`] with lettre, or [`OutboxMailer`] writing `.eml` files) or an
//!   [`SmsProvider`] ([`OutboxSms`] writing JSON lines; an Aliyun provider may follow, see
//!   [`sms`]), and records every attempt in `notification_attempts`. Failures are retried with
//!   the job queue's backoff; once a notification is marked `sent`, a repeated job sends
//!   nothing (the Message-ID is stable per notification too).
//! - **Viewing.** [`list_notifications`] returns notifications with their attempts and the
//!   recipient masked (`138****1234`, `a***@example.cn`) for the tenant's administrators.
//! - **Privacy.** Recipients, phone numbers, codes and message bodies are never logged; attempt
//!   details are short technical reasons; secret parameters (codes, set-password links) are
//!   removed from the row once sent.

mod deliver;
mod mail;
mod mask;
pub mod sms;
mod store;
mod template;

pub use deliver::{DELIVER_KIND, DeliverHandler};
pub use mail::{Mail, Mailer, OutboxMailer, SmtpMailer, SmtpSettings, SmtpTls};
pub use mask::{mask_email, mask_phone, mask_recipient};
pub use sms::{OutboxSms, Sms, SmsProvider};
pub use store::{
    AttemptOutcome, AttemptView, Channel, DELIVER_MAX_ATTEMPTS, Notification, NotificationFilter,
    NotificationId, NotificationStatus, NotificationView, list_notifications, normalize_recipient,
    queue,
};
pub use template::{RenderedMail, Template};

/// Errors of queueing notifications and of building mailers.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Db(#[from] xiaobao_db::DbError),
    #[error("收件人格式无效（{}）", match .0 { Channel::Mail => "邮箱地址", Channel::Sms => "手机号码" })]
    InvalidRecipient(Channel),
    #[error("通知配置无效：{0}")]
    Config(String),
}

/// A failed send, as a [`Mailer`] or [`SmsProvider`] reports it. `detail` is short and free of
/// personal data: it is stored with the attempt and shown to administrators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryError {
    /// Retrying will not help (e.g. the server refuses the address).
    pub permanent: bool,
    pub detail: String,
}

impl DeliveryError {
    pub fn transient(detail: impl Into<String>) -> Self {
        Self {
            permanent: false,
            detail: detail.into(),
        }
    }

    pub fn permanent(detail: impl Into<String>) -> Self {
        Self {
            permanent: true,
            detail: detail.into(),
        }
    }
}

impl std::fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

impl std::error::Error for DeliveryError {}

/// Creates `dir` (and its parents) and makes it accessible to the owner only: outbox files
/// carry one-time codes and set-password links.
pub(crate) async fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    tokio::fs::create_dir_all(dir).await?;
    owner_only_mode(dir, 0o700).await
}

/// Makes a file readable and writable by its owner only.
pub(crate) async fn owner_only(path: &std::path::Path) -> std::io::Result<()> {
    owner_only_mode(path, 0o600).await
}

#[cfg(unix)]
async fn owner_only_mode(path: &std::path::Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let current = tokio::fs::metadata(path).await?.permissions().mode() & 0o777;
    if current != mode {
        tokio::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).await?;
    }
    Ok(())
}

#[cfg(not(unix))]
async fn owner_only_mode(_: &std::path::Path, _: u32) -> std::io::Result<()> {
    Ok(())
}
