//! The department's side: the requests of its subtree and the decision on each.

use askama::Template;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use xiaobao_identity::school_admin::{self, AdminProblem, ChangeRequestRow, Decision};

use crate::AppState;
use crate::schools::request_detail;
use crate::web::auth::{Current, audit_out_of_scope};
use crate::web::csrf::CsrfToken;
use crate::web::error::{PageError, internal};
use crate::web::layout::Layout;
use crate::web::nav::Section;
use crate::web::session::WebSession;
use crate::web::tenant::PageTenant;

use super::*;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub(crate) struct ListQuery {
    /// `pending` (default) or `all` (the latest, decided ones included).
    pub(super) status: Option<String>,
}

pub(super) async fn load_list(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
    pending_only: bool,
) -> Result<Vec<ChangeRequestRow>, PageError> {
    let scope = current.viewer().school_scope();
    let mut tx = state.db.tenant_tx(tenant).await?;
    let rows = school_admin::list_requests(&mut tx, &scope, pending_only, LIST_LIMIT)
        .await
        .map_err(internal)?;
    tx.commit().await?;
    Ok(rows)
}

/// One request of the viewer's scope; a miss is audited.
pub(super) async fn load_one(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
    id: &str,
) -> Result<Option<ChangeRequestRow>, PageError> {
    let row = match id.parse::<i64>() {
        Ok(request_id) => {
            let scope = current.viewer().school_scope();
            let mut tx = state.db.tenant_tx(tenant).await?;
            let row = school_admin::get_request(&mut tx, &scope, request_id)
                .await
                .map_err(internal)?;
            tx.commit().await?;
            row
        }
        Err(_) => None,
    };
    if row.is_none() {
        audit_out_of_scope(state, tenant, current, "change_request", id).await;
    }
    Ok(row)
}

pub(super) struct ListRow {
    pub(super) href: String,
    pub(super) school_name: String,
    pub(super) region_name: String,
    pub(super) kind: &'static str,
    pub(super) detail: String,
    pub(super) reason: String,
    pub(super) status: &'static str,
    pub(super) created_at: String,
}

pub(super) struct Tab {
    pub(super) label: &'static str,
    pub(super) href: String,
    pub(super) current: bool,
}

#[derive(Template)]
#[template(path = "change_requests.html")]
pub(super) struct ListPage {
    pub(super) layout: Layout,
    pub(super) tabs: Vec<Tab>,
    pub(super) pending_only: bool,
    pub(super) rows: Vec<ListRow>,
    pub(super) schools_href: String,
}

pub(super) async fn show_list(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Html<String>, PageError> {
    let pending_only = query.ok().and_then(|Query(q)| q.status).as_deref() != Some("all");
    let rows = load_list(&state, &page.tenant, &current, pending_only).await?;
    let view = ListPage {
        layout: Layout::tenant(&page, &mut session, Section::Schools, Some("变更申请")).await?,
        tabs: vec![
            Tab {
                label: "待审核",
                href: page.href("change-requests"),
                current: pending_only,
            },
            Tab {
                label: "全部",
                href: page.href("change-requests?status=all"),
                current: !pending_only,
            },
        ],
        pending_only,
        rows: rows
            .iter()
            .map(|r| ListRow {
                href: page.href(&format!("change-requests/{}", r.change_request_id)),
                school_name: r.school_name.clone(),
                region_name: r.region_name.clone(),
                kind: school_admin::kind_label(&r.kind),
                detail: request_detail(r),
                reason: r.reason.clone(),
                status: school_admin::request_status_label(&r.status),
                created_at: crate::web::time::cst(r.created_at),
            })
            .collect(),
        schools_href: page.href("schools"),
    };
    Ok(Html(view.render()?))
}

#[derive(Template)]
#[template(path = "change_request_detail.html")]
pub(super) struct DetailPage {
    pub(super) layout: Layout,
    pub(super) csrf: CsrfToken,
    pub(super) r: ChangeRequestRow,
    pub(super) kind: &'static str,
    pub(super) detail: String,
    pub(super) status: &'static str,
    pub(super) created_at: String,
    pub(super) decided_at: String,
    pub(super) school_href: String,
    pub(super) list_href: String,
    pub(super) action: String,
    pub(super) done: Option<&'static str>,
    pub(super) error: Option<String>,
    pub(super) reason: String,
}

pub(super) async fn render_one(
    page: &PageTenant,
    session: &mut WebSession,
    r: ChangeRequestRow,
    done: Option<&'static str>,
    error: Option<String>,
    reason: String,
) -> Result<Html<String>, PageError> {
    let id = r.change_request_id;
    let view = DetailPage {
        layout: Layout::tenant(page, session, Section::Schools, Some("变更申请")).await?,
        csrf: session.csrf_token().await?,
        kind: school_admin::kind_label(&r.kind),
        detail: request_detail(&r),
        status: school_admin::request_status_label(&r.status),
        created_at: crate::web::time::cst(r.created_at),
        decided_at: r.decided_at.map(crate::web::time::cst).unwrap_or_default(),
        school_href: page.href(&format!("schools/{}", r.org_id)),
        list_href: page.href("change-requests"),
        action: page.href(&format!("change-requests/{id}/decision")),
        done,
        error,
        reason,
        r,
    };
    Ok(Html(view.render()?))
}

pub(super) async fn show_one(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    Path((_, id)): Path<(String, String)>,
    query: Result<Query<DoneQuery>, QueryRejection>,
) -> Result<Html<String>, PageError> {
    let r = load_one(&state, &page.tenant, &current, &id)
        .await?
        .ok_or(PageError::NotFound)?;
    let done = match query.ok().and_then(|Query(q)| q.done).as_deref() {
        Some("approved") => Some("已批准，变更已生效。"),
        Some("refused") => Some("已驳回该申请，学校可在学校信息中查看驳回理由。"),
        _ => None,
    };
    render_one(&page, &mut session, r, done, None, String::new()).await
}

/// A decision as a form or the API sends it.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct DecisionInput {
    /// `approve` or `refuse`.
    #[serde(default)]
    pub(super) decision: String,
    /// Required when refusing (2–500 characters); shown to the school.
    #[serde(default)]
    pub(super) reason: Option<String>,
}

impl DecisionInput {
    pub(super) fn decision(&self) -> Option<Decision> {
        match self.decision.as_str() {
            "approve" => Some(Decision::Approve),
            "refuse" => Some(Decision::Refuse(self.reason.clone().unwrap_or_default())),
            _ => None,
        }
    }
}

/// Decides in one transaction; `Ok(None)` outside the scope (audited by the caller).
pub(super) async fn decide(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
    id: &str,
    decision: &Decision,
) -> Result<Result<ChangeRequestRow, AdminProblem>, PageError> {
    let Ok(request_id) = id.parse::<i64>() else {
        return Ok(Err(AdminProblem::NotFound));
    };
    let scope = current.viewer().school_scope();
    let mut tx = state.db.tenant_tx(tenant).await?;
    let outcome =
        school_admin::decide_request(&mut tx, &current.actor(), &scope, request_id, decision)
            .await
            .map_err(internal)?;
    if outcome.is_ok() {
        tx.commit().await?;
    }
    Ok(outcome)
}

pub(super) async fn submit_decision(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    Path((_, id)): Path<(String, String)>,
    form: Result<Form<DecisionInput>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let outcome = match form.decision() {
        Some(decision) => decide(&state, &page.tenant, &current, &id, &decision).await?,
        None => Err(AdminProblem::BadKind),
    };
    match outcome {
        Ok(decided) => {
            let done = if decided.status == "approved" {
                "approved"
            } else {
                "refused"
            };
            Ok(
                Redirect::to(&page.href(&format!("change-requests/{id}?done={done}")))
                    .into_response(),
            )
        }
        Err(AdminProblem::NotFound) => {
            audit_out_of_scope(&state, &page.tenant, &current, "change_request", &id).await;
            Err(PageError::NotFound)
        }
        Err(problem) => {
            let r = load_one(&state, &page.tenant, &current, &id)
                .await?
                .ok_or(PageError::NotFound)?;
            let status = crate::web::error::refusal_status(
                xiaobao_domain::Refusal::from(problem.clone()).class,
            );
            let message = if problem == AdminProblem::BadKind {
                "请选择批准或驳回".to_string()
            } else {
                problem.to_string()
            };
            let html = render_one(
                &page,
                &mut session,
                r,
                None,
                Some(message),
                form.reason.unwrap_or_default(),
            )
            .await?;
            Ok((status, html).into_response())
        }
    }
}
