//! The programme authority's administration pages: the audit trail (审计日志), notification
//! delivery attempts (消息发送记录) and background jobs (后台任务), with their API equivalents.
//!
//! Everything is shown as stored: audit details were masked when recorded, notification
//! recipients are masked by `xiaobao_notify::list_notifications`, and message contents and job
//! payloads are not shown at all. Putting a dead job back in the queue is audited.

mod audit;
mod jobs;
mod notifications;

pub(crate) use audit::*;
pub(crate) use jobs::*;
pub(crate) use notifications::*;

use axum::http::Method;
use utoipa_axum::routes;
use xiaobao_authz::Permission;
use xiaobao_domain::Failure;
use xiaobao_identity::Caller;
use xiaobao_identity::service::Admin;
pub(super) use xiaobao_identity::service::admin::{JOB_LIMIT, NOTIFICATION_LIMIT};

use crate::web::auth::{Current, Routes};
use crate::web::call::{ApiCall, Called, caller, path_id};

pub fn routes() -> Routes {
    Routes::new()
        .page(
            Method::GET,
            "/t/{slug}/admin/audit",
            Permission::AUDIT_LOG_READ,
            show_audit,
        )
        .page(
            Method::GET,
            "/t/{slug}/admin/notifications",
            Permission::NOTIFICATIONS_READ,
            show_notifications,
        )
        .page(
            Method::GET,
            "/t/{slug}/admin/jobs",
            Permission::JOBS_READ,
            show_jobs,
        )
        .page(
            Method::POST,
            "/t/{slug}/admin/jobs/{id}/retry",
            Permission::JOBS_RETRY,
            submit_retry,
        )
        .api(Permission::AUDIT_LOG_READ, routes!(api_audit))
        .api(Permission::NOTIFICATIONS_READ, routes!(api_notifications))
        .api(Permission::JOBS_READ, routes!(api_jobs))
        .api(Permission::JOBS_RETRY, routes!(api_retry_job))
}

pub(super) fn given(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}
