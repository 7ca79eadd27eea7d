//! 后台任务: background jobs, the dead ones put back.

use askama::Template;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use xiaobao_authz::Permission;
use xiaobao_jobs::JobId;
use xiaobao_jobs::{JobRow, JobStatus};

use crate::AppState;
use crate::web::auth::Current;
use crate::web::csrf::CsrfToken;
use crate::web::error::ApiError;
use crate::web::error::PageError;
use crate::web::error::page_to_api;
use crate::web::layout::Layout;
use crate::web::nav::Section;
use crate::web::session::WebSession;
use crate::web::tenant::{ApiTenant, PageTenant};

use super::*;

/// Filter of the job list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct JobQuery {
    /// `queued`, `running`, `done` or `dead`.
    pub(super) status: Option<String>,
    /// Page only: the job just put back in the queue.
    #[param(ignore)]
    pub(super) retried: Option<i64>,
    /// Page only: a job that could not be retried because it is not dead.
    #[param(ignore)]
    pub(super) not_dead: Option<i64>,
}

pub(super) fn job_status(q: &JobQuery) -> Result<Option<JobStatus>, (&'static str, String)> {
    match given(&q.status) {
        None => Ok(None),
        Some(s) => JobStatus::parse(s).map(Some).ok_or((
            "status",
            "状态应为 queued、running、done 或 dead".to_string(),
        )),
    }
}

pub(super) async fn load_jobs(
    caller: Caller,
    status: Option<JobStatus>,
) -> Result<Vec<JobRow>, PageError> {
    Ok(Admin::new(caller).jobs(status).await?)
}

pub(super) fn job_kind_label(kind: &str) -> &str {
    match kind {
        "notify.deliver" => "发送通知",
        "jobs.cleanup" => "清理已完成任务",
        "documents.sweep" => "清理未引用文件",
        "accounts.password_expiry" => "密码到期提醒",
        other => other,
    }
}

pub(super) fn job_status_label(s: JobStatus) -> &'static str {
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
    pub(super) job_id: i64,
    pub(super) kind: String,
    /// `queued`, `running`, `done` or `dead`.
    pub(super) status: String,
    pub(super) attempts: i32,
    pub(super) max_attempts: i32,
    pub(super) run_at: DateTime<FixedOffset>,
    /// The error of the last failed attempt.
    pub(super) last_error: Option<String>,
    pub(super) created_at: DateTime<FixedOffset>,
    pub(super) updated_at: DateTime<FixedOffset>,
    pub(super) finished_at: Option<DateTime<FixedOffset>>,
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

pub(super) struct JobLine {
    pub(super) id: i64,
    pub(super) kind: String,
    pub(super) status: &'static str,
    pub(super) dead: bool,
    pub(super) attempts: String,
    pub(super) run_at: String,
    pub(super) updated_at: String,
    pub(super) last_error: String,
    pub(super) retry_action: String,
}

#[derive(Template)]
#[template(path = "admin_jobs.html")]
pub(super) struct JobsPage {
    pub(super) layout: Layout,
    pub(super) action: String,
    pub(super) status: String,
    pub(super) error: Option<String>,
    pub(super) notice: Option<String>,
    pub(super) rows: Vec<JobLine>,
    pub(super) can_retry: bool,
    pub(super) csrf: CsrfToken,
    pub(super) limit: i64,
}

pub(super) async fn show_jobs(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    query: Result<Query<JobQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let (rows, error) = match job_status(&q) {
        Ok(status) => (
            load_jobs(caller(&state, &page.tenant, &current), status).await?,
            None,
        ),
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

pub(super) async fn submit_retry(
    State(state): State<AppState>,
    page: PageTenant,
    current: Current,
    Path((_slug, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let id: JobId = id.parse().map_err(|_| PageError::NotFound)?;
    let target = match Admin::new(caller(&state, &page.tenant, &current))
        .retry_job(id)
        .await
    {
        Ok(()) => format!("admin/jobs?retried={id}"),
        Err(Failure::Refused(r)) if r.code == "job_not_dead" => format!("admin/jobs?not_dead={id}"),
        Err(f) => return Err(f.into()),
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
    current: Current,
    query: Result<Query<JobQuery>, QueryRejection>,
) -> Result<Json<Vec<JobView>>, ApiError> {
    let Query(q) = query.map_err(|_| ApiError::invalid("query", "查询参数无效"))?;
    let status = job_status(&q).map_err(|(field, message)| ApiError::invalid(field, message))?;
    let rows = load_jobs(caller(&state, &tenant.0, &current), status)
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
    let call = ApiCall {
        state,
        tenant: tenant.0,
        current,
    };
    let outcome = match path_id::<JobId>(&id) {
        Ok(id) => Admin::new(call.caller()).retry_job(id).await,
        Err(f) => Err(f),
    };
    call.done(outcome).await
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
