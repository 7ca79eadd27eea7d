//! The department's side: the requests of its subtree and the decision on each.

use askama::Template;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Path, Query};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use xiaobao_domain::RequestStatus;
use xiaobao_domain::ids::ChangeRequestId;
use xiaobao_domain::{Failure, Outcome, Refusal};
use xiaobao_identity::school_admin::{self, ChangeRequestRow, Decision};

use crate::schools::{request_detail, service};
use crate::web::call::{Called, PageCall, path_id};
use crate::web::csrf::CsrfToken;
use crate::web::error::{PageError, refusal_status};
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

/// One request (`id`, a path segment) of the caller's scope.
pub(super) async fn load_one(call: &impl Called, id: &str) -> Outcome<ChangeRequestRow> {
    service(call).request(path_id::<ChangeRequestId>(id)?).await
}

/// Whether a list asks for pending requests only (the default) or all of them.
pub(super) fn pending_only(query: Result<Query<ListQuery>, QueryRejection>) -> bool {
    query.ok().and_then(|Query(q)| q.status).as_deref() != Some("all")
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
    call: PageCall,
    mut session: WebSession,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Html<String>, PageError> {
    let pending_only = pending_only(query);
    let rows = call
        .take(service(&call).requests(pending_only).await)
        .await?;
    let page = &call.page;
    let view = ListPage {
        layout: Layout::tenant(page, &mut session, Section::Schools, Some("变更申请")).await?,
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
                status: school_admin::request_status_label(r.status),
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
        status: school_admin::request_status_label(r.status),
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
    call: PageCall,
    mut session: WebSession,
    Path((_, id)): Path<(String, String)>,
    query: Result<Query<DoneQuery>, QueryRejection>,
) -> Result<Html<String>, PageError> {
    let r = call.take(load_one(&call, &id).await).await?;
    let done = match query.ok().and_then(|Query(q)| q.done).as_deref() {
        Some("approved") => Some("已批准，变更已生效。"),
        Some("refused") => Some("已驳回该申请，学校可在学校信息中查看驳回理由。"),
        _ => None,
    };
    render_one(&call.page, &mut session, r, done, None, String::new()).await
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

/// Decides the request `id` (a path segment) of the caller's scope.
pub(super) async fn decide(
    call: &impl Called,
    id: &str,
    decision: &Decision,
) -> Outcome<ChangeRequestRow> {
    service(call)
        .decide(path_id::<ChangeRequestId>(id)?, decision)
        .await
}

pub(super) async fn submit_decision(
    call: PageCall,
    mut session: WebSession,
    Path((_, id)): Path<(String, String)>,
    form: Result<Form<DecisionInput>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let outcome = match form.decision() {
        Some(decision) => decide(&call, &id, &decision).await,
        None => Err(Refusal::invalid_field("decision", "请选择批准或驳回").into()),
    };
    let refusal = match outcome {
        Ok(decided) => {
            let done = if decided.status == RequestStatus::Approved {
                "approved"
            } else {
                "refused"
            };
            let to = call.page.href(&format!("change-requests/{id}?done={done}"));
            return Ok(Redirect::to(&to).into_response());
        }
        Err(Failure::Refused(r)) if !r.is_not_found() => r,
        Err(f) => return Err(call.fail(f).await),
    };
    let r = call.take(load_one(&call, &id).await).await?;
    let reason = form.reason.unwrap_or_default();
    let status = refusal_status(refusal.class);
    let html = render_one(
        &call.page,
        &mut session,
        r,
        None,
        Some(refusal.message),
        reason,
    )
    .await?;
    Ok((status, html).into_response())
}
