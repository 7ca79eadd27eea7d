//! Notifications end to end: outbox rows written with the business transaction, delivered by
//! the job worker to a real SMTP server on loopback (aiosmtpd, started by
//! `infra/test/services.sh`) and to the outbox files.

#![expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mailparse::MailHeaderMap;
use serde_json::json;
use xiaobao_db::{Db, Tenant};
use xiaobao_jobs::{Backoff, JobStatus, NewJob, Worker, enqueue, list_jobs};
use xiaobao_notify::{
    AttemptOutcome, Channel, DELIVER_KIND, DeliverHandler, Mailer, Notification,
    NotificationFilter, NotificationStatus, NotificationView, OutboxMailer, OutboxSms, SmtpMailer,
    SmtpSettings, SmtpTls, Template, list_notifications, queue,
};
use xiaobao_test_support::TestApp;

/// The test SMTP server: host, port and the maildir it delivers into.
fn smtp_server() -> (String, u16, PathBuf) {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!(
                "{name} is not set: run the suite with infra/test/run.sh, which starts an SMTP \
                 server (aiosmtpd) on loopback and exports XIAOBAO_TEST_SMTP_HOST, \
                 XIAOBAO_TEST_SMTP_PORT and XIAOBAO_TEST_SMTP_MAILDIR"
            )
        })
    };
    let host = var("XIAOBAO_TEST_SMTP_HOST");
    let port = var("XIAOBAO_TEST_SMTP_PORT").parse().unwrap();
    (host, port, PathBuf::from(var("XIAOBAO_TEST_SMTP_MAILDIR")))
}

fn smtp_mailer(host: &str, port: u16) -> SmtpMailer {
    SmtpMailer::new(&SmtpSettings {
        host: host.into(),
        port,
        username: None,
        password: None,
        tls: SmtpTls::None,
        from: "校保测试 <noreply@xiaobao.example.cn>".into(),
        timeout: Duration::from_secs(5),
    })
    .unwrap()
}

/// A recipient no other test uses, so the shared maildir can be searched for it.
fn unique_recipient(prefix: &str) -> String {
    format!(
        "{prefix}-{}@school.example.cn",
        uuid::Uuid::new_v4().simple()
    )
}

/// The raw messages in the maildir addressed to `recipient`.
fn mails_to(maildir: &Path, recipient: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(maildir.join(sub)) else {
            continue;
        };
        for entry in entries {
            let raw = std::fs::read(entry.unwrap().path()).unwrap();
            let parsed = mailparse::parse_mail(&raw).unwrap();
            if parsed.headers.get_first_value("To").as_deref() == Some(recipient) {
                out.push(raw);
            }
        }
    }
    out
}

async fn app_with_tenant() -> (TestApp, Arc<Tenant>) {
    let app = TestApp::init().await;
    app.tenant("alpha", "520200", "main").await;
    let tenant = app.db().active_tenant("alpha").unwrap();
    (app, tenant)
}

fn delivery_worker(db: &Db, mailer: Arc<dyn Mailer>, outbox: &Path) -> Worker {
    Worker::new(db.clone())
        .with_lease(Duration::from_secs(10))
        .with_backoff(Backoff {
            base: Duration::from_millis(200),
            max: Duration::from_millis(300),
        })
        .with_handler(DeliverHandler::new(
            mailer,
            Arc::new(OutboxSms::new(outbox)),
        ))
}

async fn queue_committed(
    db: &Db,
    tenant: &Tenant,
    n: Notification,
) -> xiaobao_notify::NotificationId {
    let mut tx = db.tenant_tx(tenant).await.unwrap();
    let id = queue(&mut tx, &n).await.unwrap();
    tx.commit().await.unwrap();
    id
}

async fn notifications(
    db: &Db,
    tenant: &Tenant,
    filter: NotificationFilter,
) -> Vec<NotificationView> {
    let mut tx = db.tenant_tx(tenant).await.unwrap();
    list_notifications(&mut tx, &filter, 100).await.unwrap()
}

fn approved() -> Template {
    Template::RegistrationApproved {
        school_name: "六盘水市第三中学".into(),
        set_password_url: "https://lps.example.cn/set-password?token=8f3a".into(),
    }
}

#[tokio::test]
async fn a_committed_notification_arrives_over_smtp_with_its_chinese_subject_and_body() {
    let (host, port, maildir) = smtp_server();
    let (app, alpha) = app_with_tenant().await;
    let outbox = std::env::temp_dir().join(&app.name).join("outbox");
    let worker = delivery_worker(app.db(), Arc::new(smtp_mailer(&host, port)), &outbox);
    let to = unique_recipient("principal");
    let never = unique_recipient("rolled-back");

    // Written with the business change…
    let id = queue_committed(app.db(), &alpha, Notification::mail(&to, approved())).await;
    // …and one whose business change is rolled back.
    let mut tx = app.db().tenant_tx(&alpha).await.unwrap();
    queue(&mut tx, &Notification::mail(&never, approved()))
        .await
        .unwrap();
    tx.rollback().await.unwrap();

    assert_eq!(worker.run_once().await, 1);
    assert_eq!(worker.run_once().await, 0);

    let mails = mails_to(&maildir, &to);
    assert_eq!(mails.len(), 1);
    let mail = mailparse::parse_mail(&mails[0]).unwrap();
    assert_eq!(
        mail.headers.get_first_value("Subject").unwrap(),
        "【alpha 测试项目】六盘水市第三中学注册申请已审核通过"
    );
    assert_eq!(mail.ctype.mimetype, "text/plain");
    assert_eq!(mail.ctype.charset.to_lowercase(), "utf-8");
    // MIME text travels with CRLF line ends.
    let body = mail.get_body().unwrap().replace("\r\n", "\n");
    assert!(body.starts_with("六盘水市第三中学：\n"), "{body}");
    assert!(body.contains("您单位在alpha 测试项目提交的注册申请已审核通过。"));
    assert!(body.contains("https://lps.example.cn/set-password?token=8f3a"));
    assert!(body.contains("（本邮件由系统自动发送，请勿直接回复。）"));
    let message_id = mail.headers.get_first_value("Message-ID").unwrap();
    assert_eq!(message_id, format!("<t_alpha-n{id}@xiaobao.example.cn>"));
    assert!(mails_to(&maildir, &never).is_empty());

    // One row (the rolled-back one never existed), sent, one `sent` attempt, masked.
    let list = notifications(app.db(), &alpha, NotificationFilter::default()).await;
    assert_eq!(list.len(), 1);
    let n = &list[0];
    assert_eq!(n.notification_id, id);
    assert_eq!(n.status, NotificationStatus::Sent);
    assert!(n.sent_at.is_some());
    assert_eq!(n.recipient_masked, "p***@school.example.cn");
    assert_eq!(n.template, "registration_approved");
    assert_eq!(n.attempts.len(), 1);
    assert_eq!(n.attempts[0].outcome, AttemptOutcome::Sent);
    assert_eq!(n.attempts[0].provider, "smtp");

    // The set-password link is not kept once sent.
    let mut tx = app.db().tenant_tx(&alpha).await.unwrap();
    let params = sqlx::query_scalar!(
        "select params from notifications where notification_id = $1",
        id.0
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    assert_eq!(params["set_password_url"], "******");
    let jobs = list_jobs(&mut tx, None, 10).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].status, JobStatus::Done);
    drop(tx);
}

#[tokio::test]
async fn an_unreachable_smtp_server_records_failed_attempts_and_the_mail_is_sent_once_it_answers() {
    let (host, port, maildir) = smtp_server();
    let (app, alpha) = app_with_tenant().await;
    let outbox = std::env::temp_dir().join(&app.name).join("outbox");
    // A loopback port with nothing listening.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let down = delivery_worker(
        app.db(),
        Arc::new(smtp_mailer("127.0.0.1", closed)),
        &outbox,
    );
    let to = unique_recipient("claims");
    let id = queue_committed(
        app.db(),
        &alpha,
        Notification::mail(
            &to,
            Template::ClaimStatusChanged {
                claim_no: "LP2025000123".into(),
                status_label: "已结案".into(),
            },
        ),
    )
    .await;

    assert_eq!(down.run_once().await, 1);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(down.run_once().await, 1);
    let pending = notifications(
        app.db(),
        &alpha,
        NotificationFilter {
            status: Some(NotificationStatus::Pending),
            ..NotificationFilter::default()
        },
    )
    .await;
    assert_eq!(pending.len(), 1);
    let attempts = &pending[0].attempts;
    assert_eq!(attempts.len(), 2);
    for a in attempts {
        assert_eq!(a.outcome, AttemptOutcome::Failed);
        assert!(a.detail.starts_with("SMTP 连接失败"), "{}", a.detail);
        assert!(!a.detail.contains("claims-"), "no recipient in details");
    }

    // The server is reachable again (the same deployment, now pointing at a live server).
    let up = delivery_worker(app.db(), Arc::new(smtp_mailer(&host, port)), &outbox);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(up.run_once().await, 1);
    assert_eq!(mails_to(&maildir, &to).len(), 1);
    let sent = notifications(app.db(), &alpha, NotificationFilter::default()).await;
    assert_eq!(sent[0].status, NotificationStatus::Sent);
    let outcomes: Vec<_> = sent[0].attempts.iter().map(|a| a.outcome).collect();
    assert_eq!(
        outcomes,
        [
            AttemptOutcome::Failed,
            AttemptOutcome::Failed,
            AttemptOutcome::Sent
        ]
    );

    // A repeated delivery job (e.g. re-run by hand) finds it sent and sends nothing.
    let mut tx = app.db().tenant_tx(&alpha).await.unwrap();
    enqueue(
        &mut tx,
        NewJob::new(DELIVER_KIND, json!({ "notification_id": id.0 })),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(up.run_once().await, 1);
    assert_eq!(mails_to(&maildir, &to).len(), 1);
    let again = notifications(app.db(), &alpha, NotificationFilter::default()).await;
    assert_eq!(again[0].attempts.len(), 3);
}

#[tokio::test]
async fn the_outbox_mailer_and_sms_provider_write_files() {
    let (app, alpha) = app_with_tenant().await;
    let outbox = std::env::temp_dir().join(&app.name).join("outbox");
    let mailer = OutboxMailer::new(&outbox, "校保 <noreply@xiaobao.example.cn>").unwrap();
    let worker = delivery_worker(app.db(), Arc::new(mailer), &outbox);
    let code = Template::PasswordResetCode {
        code: "482913".into(),
        minutes_valid: 10,
    };
    let mail_id = queue_committed(
        app.db(),
        &alpha,
        Notification::mail("teacher@school.example.cn", code.clone()),
    )
    .await;
    let sms_id = queue_committed(
        app.db(),
        &alpha,
        Notification::sms("+86 138-1234-1234", code),
    )
    .await;
    assert_eq!(worker.run_once().await, 2);

    let eml = std::fs::read(outbox.join("mail").join(format!("t_alpha-n{mail_id}.eml"))).unwrap();
    let mail = mailparse::parse_mail(&eml).unwrap();
    assert_eq!(
        mail.headers.get_first_value("Subject").unwrap(),
        "【alpha 测试项目】密码重置验证码"
    );
    assert_eq!(
        mail.headers.get_first_value("To").unwrap(),
        "teacher@school.example.cn"
    );
    assert!(mail.get_body().unwrap().contains("验证码为：482913"));

    let lines = std::fs::read_to_string(outbox.join("sms.jsonl")).unwrap();
    let sms: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(sms.len(), 1);
    assert_eq!(sms[0]["to"], "13812341234");
    assert_eq!(sms[0]["key"], format!("t_alpha-n{sms_id}"));
    assert_eq!(sms[0]["template"], "password_reset_code");
    assert_eq!(
        sms[0]["text"],
        "【alpha 测试项目】您的密码重置验证码为482913，10分钟内有效，请勿告诉他人。如非本人操作，请忽略本短信。"
    );

    let list = notifications(
        app.db(),
        &alpha,
        NotificationFilter {
            channel: Some(Channel::Sms),
            ..NotificationFilter::default()
        },
    )
    .await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].recipient_masked, "138****1234");
    assert_eq!(list[0].attempts[0].provider, "outbox");
}

#[tokio::test]
async fn an_invalid_recipient_is_refused_when_queued() {
    let (app, alpha) = app_with_tenant().await;
    let mut tx = app.db().tenant_tx(&alpha).await.unwrap();
    let err = queue(&mut tx, &Notification::sms("12345", approved()))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "收件人格式无效（手机号码）");
    let err = queue(&mut tx, &Notification::mail("not-a-mail", approved()))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "收件人格式无效（邮箱地址）");
    drop(tx);
}
