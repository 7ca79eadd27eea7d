//! Mail: the [`Mailer`] trait, SMTP through lettre, and the outbox directory of the embedded
//! default.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::{DeliveryError, NotifyError};

/// A mail ready to send. Its `Debug` masks the address and leaves out subject and body, so
/// it can never put them in a log.
#[derive(Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
    /// Stable per notification (e.g. `t_henan-n42`); becomes the Message-ID, so a receiver can
    /// recognise a duplicate if a delivery is ever repeated.
    pub idempotency_key: String,
}

impl std::fmt::Debug for Mail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mail")
            .field("to", &crate::mask_email(&self.to))
            .field("idempotency_key", &self.idempotency_key)
            .finish_non_exhaustive()
    }
}

/// Sends mail. Errors carry a short detail without personal data.
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Recorded with every attempt, e.g. `smtp` or `outbox`.
    fn provider(&self) -> &'static str;
    async fn send(&self, mail: &Mail) -> Result<(), DeliveryError>;
}

/// Builds the RFC 5322 message: UTF-8 plain text, Chinese subject encoded per RFC 2047.
fn build_message(from: &Mailbox, mail: &Mail) -> Result<Message, DeliveryError> {
    let to: Address = mail
        .to
        .parse()
        .map_err(|_| DeliveryError::permanent("收件邮箱格式无效"))?;
    let domain = from.email.domain();
    let key: String = mail
        .idempotency_key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_') {
                c
            } else {
                '-'
            }
        })
        .collect();
    Message::builder()
        .from(from.clone())
        .to(Mailbox::new(None, to))
        .subject(mail.subject.clone())
        .message_id(Some(format!("<{key}@{domain}>")))
        .header(ContentType::TEXT_PLAIN)
        .body(mail.body.clone())
        .map_err(|e| DeliveryError::permanent(format!("邮件无法生成：{e}")))
}

fn parse_from(from: &str) -> Result<Mailbox, NotifyError> {
    from.parse()
        .map_err(|e| NotifyError::Config(format!("发件人地址 {from:?} 无效：{e}")))
}

/// Transport security of the SMTP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text; only for a relay on loopback or a trusted network.
    None,
    /// Plain connection upgraded with STARTTLS (required; usually port 587).
    StartTls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
}

/// Where and how to send mail over SMTP.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub tls: SmtpTls,
    /// Sender, e.g. `河南省教育保险管理系统 <noreply@example.cn>`.
    pub from: String,
    /// Limit of each SMTP command.
    pub timeout: Duration,
}

/// Mail over SMTP with lettre (a small connection pool, the Tokio runtime, rustls).
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    pub fn new(settings: &SmtpSettings) -> Result<Self, NotifyError> {
        let from = parse_from(&settings.from)?;
        let tls_parameters = || {
            TlsParameters::new(settings.host.clone())
                .map_err(|e| NotifyError::Config(format!("SMTP TLS 设置无效：{e}")))
        };
        let tls = match settings.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::StartTls => Tls::Required(tls_parameters()?),
            SmtpTls::Tls => Tls::Wrapper(tls_parameters()?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            .port(settings.port)
            .tls(tls)
            .timeout(Some(settings.timeout));
        if let Some(username) = &settings.username {
            let password = settings
                .password
                .as_ref()
                .map(|p| p.expose_secret().to_string())
                .unwrap_or_default();
            builder = builder.credentials(Credentials::new(username.clone(), password));
        }
        Ok(Self {
            transport: builder.build(),
            from,
        })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    fn provider(&self) -> &'static str {
        "smtp"
    }

    async fn send(&self, mail: &Mail) -> Result<(), DeliveryError> {
        let message = build_message(&self.from, mail)?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) => Err(smtp_error(&e)),
        }
    }
}

/// A short, personal-data-free account of an SMTP failure: the reply code, or the kind of
/// connection failure. The server's reply text is left out (it often repeats the address).
fn smtp_error(e: &lettre::transport::smtp::Error) -> DeliveryError {
    if let Some(code) = e.status() {
        let detail = format!("SMTP 服务器拒绝（{code}）");
        return if e.is_permanent() {
            DeliveryError::permanent(detail)
        } else {
            DeliveryError::transient(detail)
        };
    }
    if e.is_timeout() {
        return DeliveryError::transient("SMTP 超时");
    }
    if e.is_tls() {
        return DeliveryError::transient("SMTP TLS 握手失败");
    }
    let mut source = std::error::Error::source(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return DeliveryError::transient(format!("SMTP 连接失败（{}）", io.kind()));
        }
        source = err.source();
    }
    DeliveryError::transient("SMTP 发送失败")
}

/// The embedded default: every mail becomes an `.eml` file (the exact message SMTP would
/// carry) in `<outbox>/mail/`, named after the notification, so a repeated delivery
/// overwrites instead of duplicating. Open the files with any mail client.
pub struct OutboxMailer {
    dir: PathBuf,
    from: Mailbox,
}

impl OutboxMailer {
    /// `outbox` is the outbox root; `from` the sender address.
    pub fn new(outbox: impl Into<PathBuf>, from: &str) -> Result<Self, NotifyError> {
        Ok(Self {
            dir: outbox.into().join("mail"),
            from: parse_from(from)?,
        })
    }

    /// The directory the `.eml` files are written to.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

#[async_trait]
impl Mailer for OutboxMailer {
    fn provider(&self) -> &'static str {
        "outbox"
    }

    async fn send(&self, mail: &Mail) -> Result<(), DeliveryError> {
        let message = build_message(&self.from, mail)?;
        let name: String = mail
            .idempotency_key
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let io =
            |e: std::io::Error| DeliveryError::transient(format!("写入发件箱失败（{}）", e.kind()));
        crate::private_dir(&self.dir).await.map_err(io)?;
        let tmp = self
            .dir
            .join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
        let mut options = tokio::fs::OpenOptions::new();
        options.create_new(true).write(true);
        #[cfg(unix)]
        options.mode(0o600);
        let mut file = options.open(&tmp).await.map_err(io)?;
        tokio::io::AsyncWriteExt::write_all(&mut file, &message.formatted())
            .await
            .map_err(io)?;
        tokio::io::AsyncWriteExt::flush(&mut file)
            .await
            .map_err(io)?;
        drop(file);
        tokio::fs::rename(&tmp, self.dir.join(format!("{name}.eml")))
            .await
            .map_err(io)?;
        Ok(())
    }
}
