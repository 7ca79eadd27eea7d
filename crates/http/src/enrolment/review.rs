//! 修改审核: the requests schools make after submitting, decided by the reviewer the rules
//! name.

use std::sync::Arc;
use xiaobao_domain::ids::EnrolmentRequestId;

use askama::Template;
use axum::Json;
use axum::extract::rejection::{FormRejection, JsonRejection, QueryRejection};
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use xiaobao_db::Tenant;
use xiaobao_domain::Failure;
use xiaobao_enrolment::requests::{Decision, RequestRow};

use crate::AppState;
use crate::web::auth::Current;
use crate::web::call::{Reply, audited};
use crate::web::csrf::CsrfToken;
use crate::web::error::ApiError;
use crate::web::error::PageError;
use crate::web::layout::Layout;
use crate::web::nav::Section;
use crate::web::session::WebSession;
use crate::web::tenant::{ApiTenant, PageTenant};

use super::admin::*;
use super::years::DoneQuery;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RequestsQuery {
    /// `pending` (default) or `all`.
    status: Option<String>,
}

pub(super) async fn load_requests(
    state: &AppState,
    tenant: &Arc<Tenant>,
    current: &Current,
    pending_only: bool,
) -> Result<Vec<RequestRow>, Failure> {
    enrolments(state, tenant, current)
        .requests_to_review(pending_only)
        .await
}

/// A request as the API and the pages show it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = EnrolmentRequestView)]
pub(super) struct RequestView {
    /// The request's fields.
    #[serde(flatten)]
    row: RequestRow,
    /// Kind, in Chinese.
    kind_label: &'static str,
    /// Status, in Chinese.
    status_label: &'static str,
    /// Premium change in yuan, when the headcount changes.
    premium_change_yuan: Option<String>,
}

impl From<RequestRow> for RequestView {
    fn from(row: RequestRow) -> Self {
        Self {
            kind_label: row.kind_label(),
            status_label: row.status_label(),
            premium_change_yuan: row.premium_change_yuan(),
            row,
        }
    }
}

pub(super) struct RequestLine {
    r: RequestView,
    detail: String,
    requested_at: String,
    href: String,
}

pub(super) fn request_detail(r: &RequestRow) -> String {
    let mut parts = Vec::new();
    if let Some(n) = r.new_headcount {
        parts.push(format!("人数 {} → {}", r.headcount, n));
    }
    if let Some(c) = &r.new_company_name {
        parts.push(format!(
            "保险机构 {} → {}",
            r.company_name.clone().unwrap_or_default(),
            c
        ));
    }
    if r.new_roster_id.is_some() {
        parts.push("新花名册".to_string());
    }
    parts.join("；")
}

pub(super) fn request_line(page: &PageTenant, r: RequestRow) -> RequestLine {
    RequestLine {
        detail: request_detail(&r),
        requested_at: crate::web::time::cst(r.requested_at),
        href: page.href(&format!("enrolment/requests/{}", r.request_id)),
        r: r.into(),
    }
}

#[derive(Template)]
#[template(path = "enrolment_admin_requests.html")]
pub(super) struct RequestsPage {
    layout: Layout,
    tabs: Vec<Tab>,
    rows: Vec<RequestLine>,
    /// Instead of the list, when no year is open.
    notice: Option<&'static str>,
}

/// Whether an academic year is open.
pub(super) async fn show_requests(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    query: Result<Query<RequestsQuery>, QueryRejection>,
) -> Response {
    let pending_only = query.ok().and_then(|Query(q)| q.status).as_deref() != Some("all");
    let result = async {
        let rows = load_requests(&state, &page.tenant, &current, pending_only).await?;
        let notice = (rows.is_empty()
            && !enrolments(&state, &page.tenant, &current)
                .year_open()
                .await?)
            .then_some(NO_YEAR_NOTICE);
        let view = RequestsPage {
            layout: Layout::tenant(
                &page,
                &mut session,
                Section::EnrolmentRequests,
                Some("修改审核"),
            )
            .await?,
            tabs: vec![
                Tab {
                    label: "待审核".into(),
                    href: page.href("enrolment/requests"),
                    current: pending_only,
                },
                Tab {
                    label: "全部".into(),
                    href: page.href("enrolment/requests?status=all"),
                    current: !pending_only,
                },
            ],
            rows: rows.into_iter().map(|r| request_line(&page, r)).collect(),
            notice,
        };
        Ok::<_, Failure>(Html(view.render().map_err(PageError::from)?).into_response())
    }
    .await;
    result.unwrap_or_else(|f| f.page(&page))
}

#[derive(Template)]
#[template(path = "enrolment_admin_request.html")]
pub(super) struct RequestPage {
    layout: Layout,
    /// Why the decision just sent was not taken.
    error: Option<String>,
    csrf: CsrfToken,
    line: RequestLine,
    action: String,
    list_href: String,
    done: bool,
}

pub(super) async fn show_request(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    Path((_, id)): Path<(String, String)>,
    query: Result<Query<DoneQuery>, QueryRejection>,
) -> Response {
    let done = query.ok().and_then(|Query(q)| q.done).is_some();
    render_request(&state, &page, &mut session, &current, &id, done, None).await
}

/// The request page; `error` (a refused decision) is shown above the decision form.
pub(super) async fn render_request(
    state: &AppState,
    page: &PageTenant,
    session: &mut WebSession,
    current: &Current,
    id: &str,
    done: bool,
    error: Option<(StatusCode, String)>,
) -> Response {
    let (status, error) = match error {
        Some((status, message)) => (status, Some(message)),
        None => (StatusCode::OK, None),
    };
    let result = async {
        let request_id = path_id::<EnrolmentRequestId>(id)?;
        let row = enrolments(state, &page.tenant, current)
            .request(request_id)
            .await?;
        let view = RequestPage {
            layout: Layout::tenant(page, session, Section::EnrolmentRequests, Some("修改审核"))
                .await?,
            csrf: session.csrf_token().await?,
            action: page.href(&format!("enrolment/requests/{request_id}/decision")),
            list_href: page.href("enrolment/requests"),
            done,
            error,
            line: request_line(page, row),
        };
        Ok::<_, Failure>((status, Html(view.render().map_err(PageError::from)?)).into_response())
    }
    .await;
    match result {
        Ok(r) => r,
        Err(f) => audited(state, &page.tenant, current, f).await.page(page),
    }
}

/// A decision as a form or the API sends it.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(as = EnrolmentDecisionInput)]
pub(crate) struct DecisionInput {
    /// `approve` or `refuse`.
    #[serde(default)]
    decision: String,
    /// Why (when refusing).
    #[serde(default)]
    reason: Option<String>,
}

pub(super) async fn decide_request(
    state: &AppState,
    tenant: &Arc<Tenant>,
    current: &Current,
    id: &str,
    input: &DecisionInput,
) -> Result<RequestRow, Failure> {
    let approve = match input.decision.as_str() {
        "approve" => true,
        "refuse" => false,
        _ => return Err(Failure::internal("decision must be approve or refuse")),
    };
    let result = async {
        let request_id = path_id::<EnrolmentRequestId>(id)?;
        let decision = Decision {
            approve,
            reason: input.reason.clone().unwrap_or_default(),
        };
        enrolments(state, tenant, current)
            .decide(request_id, &decision)
            .await
    }
    .await;
    match result {
        Ok(r) => Ok(r),
        Err(f) => Err(audited(state, tenant, current, f).await),
    }
}

pub(super) async fn submit_decision(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    Path((_, id)): Path<(String, String)>,
    form: Result<Form<DecisionInput>, FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    // A refused decision is shown on the request page, above its form.
    let error = if form.decision != "approve" && form.decision != "refuse" {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "请选择通过或不予通过".to_string(),
        )
    } else {
        match decide_request(&state, &page.tenant, &current, &id, &form).await {
            Ok(_) => {
                return Redirect::to(&page.href(&format!("enrolment/requests/{id}?done=1")))
                    .into_response();
            }
            Err(Failure::Refused(r)) if !r.is_not_found() => {
                (crate::web::error::refusal_status(r.class), r.message)
            }
            Err(f) => return f.page(&page),
        }
    };
    render_request(
        &state,
        &page,
        &mut session,
        &current,
        &id,
        false,
        Some(error),
    )
    .await
}

/// The requests schools made after submitting, for the viewer to decide.
#[utoipa::path(get, path = "/api/v1/t/{slug}/enrolment/requests", tag = "enrolment",
    params(("slug" = String, Path, description = "租户标识"), RequestsQuery),
    responses((status = 200, body = Vec<RequestView>), (status = 403, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_requests(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
    query: Result<Query<RequestsQuery>, QueryRejection>,
) -> Response {
    let pending_only = query.ok().and_then(|Query(q)| q.status).as_deref() != Some("all");
    match load_requests(&state, &tenant, &current, pending_only).await {
        Ok(rows) => {
            Json(rows.into_iter().map(RequestView::from).collect::<Vec<_>>()).into_response()
        }
        Err(f) => f.api(),
    }
}

/// Approves or refuses a request.
#[utoipa::path(post, path = "/api/v1/t/{slug}/enrolment/requests/{id}/decision", operation_id = "decide_enrolment_request", tag = "enrolment",
    params(("slug" = String, Path, description = "租户标识"), ("id" = i64, Path, description = "申请编号")),
    request_body = DecisionInput,
    responses((status = 200, body = RequestView),
        (status = 403, body = crate::web::error::ErrorBody), (status = 404, body = crate::web::error::ErrorBody),
        (status = 409, body = crate::web::error::ErrorBody), (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_decide(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
    Path((_slug, id)): Path<(String, String)>,
    body: Result<Json<DecisionInput>, JsonRejection>,
) -> Response {
    let Ok(Json(body)) = body else {
        return ApiError::invalid("decision", "请求体不是有效的 JSON").into_response();
    };
    if body.decision != "approve" && body.decision != "refuse" {
        return ApiError::invalid("decision", "decision 应为 approve 或 refuse").into_response();
    }
    match decide_request(&state, &tenant, &current, &id, &body).await {
        Ok(row) => Json(RequestView::from(row)).into_response(),
        Err(f) => f.api(),
    }
}
