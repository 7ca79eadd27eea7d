//! SMS: the [`SmsProvider`] trait and the outbox file of the embedded default.
//!
//! A production provider (Aliyun SMS, `dysmsapi` `SendSms`) may follow: it would map
//! [`Sms::template`] to an approved template code, send [`Sms::params`] as `TemplateParam`,
//! [`Sms::signature`] as `SignName` and [`Sms::idempotency_key`] as `OutId` — Aliyun sends
//! only pre-approved templates, which is why the provider gets the kind and parameters and
//! not only the rendered text.

use std::path::PathBuf;

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;

use crate::DeliveryError;

/// A text message ready to send. Its `Debug` masks the number and leaves out the text and
/// parameters.
#[derive(Clone)]
pub struct Sms {
    /// Mainland mobile number, 11 digits.
    pub to: String,
    /// The rendered text, starting with 【signature】.
    pub text: String,
    /// Template kind, e.g. `password_reset_code`.
    pub template: &'static str,
    /// The template's parameters.
    pub params: serde_json::Value,
    /// The programme name used as signature (without the brackets).
    pub signature: String,
    /// Stable per notification, e.g. `t_henan-n42`.
    pub idempotency_key: String,
}

impl std::fmt::Debug for Sms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sms")
            .field("to", &crate::mask_phone(&self.to))
            .field("template", &self.template)
            .field("idempotency_key", &self.idempotency_key)
            .finish_non_exhaustive()
    }
}

/// Sends SMS. Errors carry a short detail without personal data.
#[async_trait]
pub trait SmsProvider: Send + Sync {
    /// Recorded with every attempt, e.g. `outbox`.
    fn provider(&self) -> &'static str;
    async fn send(&self, sms: &Sms) -> Result<(), DeliveryError>;
}

/// The embedded default, used only while no SMS gateway is configured: every message is
/// appended as one JSON line to `<outbox>/sms.jsonl` (`{"at", "key", "to", "template",
/// "text"}`), a file of mode 0600 in a directory of mode 0700 (the lines carry one-time codes).
pub struct OutboxSms {
    path: PathBuf,
    lock: tokio::sync::Mutex<()>,
    clock: xiaobao_domain::Clock,
}

impl OutboxSms {
    /// `outbox` is the outbox root.
    pub fn new(outbox: impl Into<PathBuf>) -> Self {
        Self {
            path: outbox.into().join("sms.jsonl"),
            lock: tokio::sync::Mutex::new(()),
            clock: xiaobao_domain::Clock::system(),
        }
    }

    /// The same outbox stamping lines with the time of `clock`.
    #[must_use]
    pub fn with_clock(self, clock: xiaobao_domain::Clock) -> Self {
        Self { clock, ..self }
    }

    /// The file the messages are appended to.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

#[async_trait]
impl SmsProvider for OutboxSms {
    fn provider(&self) -> &'static str {
        "outbox"
    }

    async fn send(&self, sms: &Sms) -> Result<(), DeliveryError> {
        let mut line = serde_json::to_string(&serde_json::json!({
            "at": self.clock.now(),
            "key": sms.idempotency_key,
            "to": sms.to,
            "template": sms.template,
            "text": sms.text,
        }))
        .map_err(|e| DeliveryError::permanent(format!("短信无法生成：{e}")))?;
        line.push('\n');
        let io =
            |e: std::io::Error| DeliveryError::transient(format!("写入发件箱失败（{}）", e.kind()));
        // One write per line, appended, under a lock: lines of concurrent deliveries of this
        // process never interleave.
        let _guard = self.lock.lock().await;
        if let Some(dir) = self.path.parent() {
            crate::private_dir(dir).await.map_err(io)?;
        }
        // Codes and set-password links are in there: readable by the service's user only.
        let mut options = tokio::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        options.mode(0o600);
        let mut file = options.open(&self.path).await.map_err(io)?;
        crate::owner_only(&self.path).await.map_err(io)?;
        file.write_all(line.as_bytes()).await.map_err(io)?;
        file.flush().await.map_err(io)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_outbox_file_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("xb-sms-{}", uuid::Uuid::new_v4().simple()));
        let outbox = OutboxSms::new(dir.join("outbox"));
        let sms = Sms {
            to: "13800138000".into(),
            text: "【测试】验证码 123456".into(),
            template: "password_reset_code",
            params: serde_json::json!({}),
            signature: "测试".into(),
            idempotency_key: "t-1".into(),
        };
        outbox.send(&sms).await.expect("sent");
        let mode = |p: &std::path::Path| {
            std::fs::metadata(p).expect("exists").permissions().mode() & 0o777
        };
        assert_eq!(mode(outbox.path()), 0o600);
        assert_eq!(mode(&dir.join("outbox")), 0o700);
        // A file left readable by an older version is closed on the next message.
        std::fs::set_permissions(outbox.path(), std::fs::Permissions::from_mode(0o644))
            .expect("chmod");
        outbox.send(&sms).await.expect("sent");
        assert_eq!(mode(outbox.path()), 0o600);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
