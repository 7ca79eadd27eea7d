//! The `notify.deliver` job: sends one notification and records the attempt.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use xiaobao_db::DbResult;
use xiaobao_jobs::{JobContext, JobError, JobHandler};

use crate::store::{self, AttemptOutcome, Channel, NotificationId};
use crate::{DeliveryError, Mail, Mailer, Sms, SmsProvider, Template};

/// Kind of the delivery job [`crate::queue`] enqueues.
pub const DELIVER_KIND: &str = "notify.deliver";

#[derive(Deserialize)]
struct Payload {
    notification_id: i64,
}

/// Runs `notify.deliver` jobs: loads the notification; if it is already `sent`, does nothing
/// (a repeated job never sends twice once the send is recorded); otherwise renders it with the
/// tenant's name as signature, sends it through the mailer or the SMS provider, and records
/// the attempt (`sent`, or `failed` with a short reason). A failure returns an error so the
/// job is retried with backoff; on the last attempt, or a permanent failure (e.g. the server
/// refuses the address), the notification becomes `failed`.
///
/// Nothing personal is logged: ids, channel, template kind, provider and outcome only.
pub struct DeliverHandler {
    mailer: Arc<dyn Mailer>,
    sms: Arc<dyn SmsProvider>,
}

impl DeliverHandler {
    pub fn new(mailer: Arc<dyn Mailer>, sms: Arc<dyn SmsProvider>) -> Self {
        Self { mailer, sms }
    }
}

#[async_trait]
impl JobHandler for DeliverHandler {
    fn kind(&self) -> &'static str {
        DELIVER_KIND
    }

    async fn run(&self, ctx: JobContext) -> Result<(), JobError> {
        let payload: Payload = ctx.payload_as()?;
        let id = NotificationId(payload.notification_id);
        let stored = {
            let mut tx = ctx.db.tenant_tx(&ctx.tenant).await?;
            let stored = store::load(&mut tx, id).await?;
            tx.commit().await?;
            stored
        };
        let Some(stored) = stored else {
            return Err(JobError::permanent(format!("通知 {id} 不存在")));
        };
        if stored.status == "sent" {
            tracing::info!(notification.id = %id, "notification already sent; nothing to do");
            return Ok(());
        }
        let template = Template::from_parts(&stored.template, stored.params)
            .map_err(|e| JobError::permanent(format!("通知 {id} 的模板参数无效：{e}")))?;
        let channel = Channel::parse(&stored.channel)
            .ok_or_else(|| JobError::permanent(format!("通知 {id} 的渠道无效")))?;
        let programme = ctx.tenant.name_zh.clone();
        let idempotency_key = format!("{}-n{}", ctx.tenant.schema_name, id);
        let (provider, result) = match channel {
            Channel::Mail => {
                let rendered = template.render_mail(&programme);
                let mail = Mail {
                    to: stored.recipient,
                    subject: rendered.subject,
                    body: rendered.body,
                    idempotency_key,
                };
                (self.mailer.provider(), self.mailer.send(&mail).await)
            }
            Channel::Sms => {
                let sms = Sms {
                    to: stored.recipient,
                    text: template.render_sms(&programme),
                    template: template.kind(),
                    params: template.params(),
                    signature: programme,
                    idempotency_key,
                };
                (self.sms.provider(), self.sms.send(&sms).await)
            }
        };
        match result {
            Ok(()) => {
                record_sent(&ctx, id, provider, &template.redacted_params()).await?;
                tracing::info!(notification.id = %id, notification.channel = channel.as_str(),
                    notification.template = template.kind(), provider, outcome = "sent",
                    "notification delivered");
                Ok(())
            }
            Err(DeliveryError { permanent, detail }) => {
                let given_up = permanent || ctx.is_last_attempt();
                let mut tx = ctx.db.tenant_tx(&ctx.tenant).await?;
                store::record_attempt(&mut tx, id, AttemptOutcome::Failed, &detail, provider)
                    .await?;
                store::mark_failed_attempt(&mut tx, id, given_up).await?;
                tx.commit().await?;
                tracing::warn!(notification.id = %id, notification.channel = channel.as_str(),
                    notification.template = template.kind(), provider, outcome = "failed",
                    permanent, given_up, detail = %detail, "notification delivery failed");
                let message = format!("通知 {id} 发送失败：{detail}");
                Err(if permanent {
                    JobError::permanent(message)
                } else {
                    JobError::retry(message)
                })
            }
        }
    }
}

/// Records a successful send. Retried a few times on a database error, because a send that is
/// not recorded would be repeated by the job's retry.
async fn record_sent(
    ctx: &JobContext,
    id: NotificationId,
    provider: &str,
    redacted_params: &serde_json::Value,
) -> Result<(), JobError> {
    let mut last_error = None;
    for pause_ms in [0, 200, 1000, 3000] {
        tokio::time::sleep(Duration::from_millis(pause_ms)).await;
        let attempt: DbResult<()> = async {
            let mut tx = ctx.db.tenant_tx(&ctx.tenant).await?;
            if store::mark_sent(&mut tx, id, redacted_params).await? {
                store::record_attempt(&mut tx, id, AttemptOutcome::Sent, "", provider).await?;
            }
            tx.commit().await
        }
        .await;
        match attempt {
            Ok(()) => return Ok(()),
            Err(error) => {
                tracing::warn!(notification.id = %id, %error, "recording a sent notification failed");
                last_error = Some(error);
            }
        }
    }
    Err(last_error.map_or_else(|| JobError::retry("无法记录发送结果"), JobError::from))
}
