//! The school's own record and the change requests it makes.

use askama::Template;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Path, Query};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use xiaobao_domain::Failure;
use xiaobao_domain::RequestStatus;
use xiaobao_domain::ids::OrgId;
use xiaobao_identity::orgs::SchoolRow;
use xiaobao_identity::school_admin::{self, ChangeRequestRow, NewChangeRequest};
use xiaobao_identity::service::schools::Profile;

use crate::schools::{FormProblem, after_form, nature_label, request_detail, service, type_label};
use crate::web::call::{PageCall, path_id};
use crate::web::csrf::CsrfToken;
use crate::web::error::{PageError, refusal_status};
use crate::web::layout::Layout;
use crate::web::nav::Section;
use crate::web::session::WebSession;

pub(super) struct Choice {
    pub(super) value: String,
    pub(super) label: String,
    pub(super) selected: bool,
}

pub(super) struct RequestRow {
    pub(super) kind: &'static str,
    pub(super) detail: String,
    pub(super) reason: String,
    pub(super) status: &'static str,
    pub(super) created_at: String,
    pub(super) decided_at: String,
    pub(super) decision_reason: String,
}

pub(super) fn request_row(r: &ChangeRequestRow) -> RequestRow {
    RequestRow {
        kind: school_admin::kind_label(&r.kind),
        detail: request_detail(r),
        reason: r.reason.clone(),
        status: school_admin::request_status_label(r.status),
        created_at: crate::web::time::cst(r.created_at),
        decided_at: r.decided_at.map(crate::web::time::cst).unwrap_or_default(),
        decision_reason: r.decision_reason.clone().unwrap_or_default(),
    }
}

#[derive(Template)]
#[template(path = "school_profile.html")]
pub(super) struct ProfilePage {
    pub(super) layout: Layout,
    pub(super) csrf: CsrfToken,
    pub(super) s: SchoolRow,
    pub(super) status_label: &'static str,
    pub(super) nature: String,
    pub(super) school_type: String,
    pub(super) created_at: String,
    pub(super) action: String,
    pub(super) regions: Vec<Choice>,
    pub(super) requests: Vec<RequestRow>,
    /// Kinds with an open request: their forms are replaced by a note.
    pub(super) open_kinds: Vec<String>,
    pub(super) done: bool,
    pub(super) problem: FormProblem,
}

impl ProfilePage {
    fn is_open(&self, kind: &str) -> bool {
        self.open_kinds.iter().any(|k| k == kind)
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct DoneQuery {
    pub(super) done: Option<String>,
}

pub(super) async fn render_profile(
    call: &PageCall,
    session: &mut WebSession,
    done: bool,
    problem: FormProblem,
) -> Result<Html<String>, PageError> {
    let page = &call.page;
    let Profile {
        school,
        requests,
        regions,
    } = call.take(service(call).profile().await).await?;
    let chosen = (problem.form == "move_region").then(|| problem.value.clone());
    let view = ProfilePage {
        layout: Layout::tenant(page, session, Section::Account, Some("学校信息")).await?,
        csrf: session.csrf_token().await?,
        status_label: school_admin::school_status_label(school.status),
        nature: nature_label(school.nature.as_deref()),
        school_type: type_label(school.school_type.as_deref()),
        created_at: crate::web::time::cst(school.created_at),
        action: page.href("school/change-requests"),
        regions: regions
            .into_iter()
            .filter(|r| r.region_code != school.region_code)
            .map(|r| Choice {
                selected: chosen.as_deref() == Some(r.region_code.as_str()),
                value: r.region_code,
                label: r.name,
            })
            .collect(),
        open_kinds: requests
            .iter()
            .filter(|r| r.status == RequestStatus::Pending)
            .map(|r| r.kind.clone())
            .collect(),
        requests: requests.iter().map(request_row).collect(),
        done,
        problem,
        s: school,
    };
    Ok(Html(view.render()?))
}

pub(super) async fn show_profile(
    call: PageCall,
    mut session: WebSession,
    query: Result<Query<DoneQuery>, QueryRejection>,
) -> Result<Html<String>, PageError> {
    let done = query.ok().and_then(|Query(q)| q.done).is_some();
    render_profile(&call, &mut session, done, FormProblem::default()).await
}

/// A change request as a form or the API sends it.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct RequestInput {
    /// `rename`, `move_region` or `deregister`.
    #[serde(default)]
    pub(super) kind: String,
    /// The new full name (`rename`).
    #[serde(default)]
    pub(super) new_name: Option<String>,
    /// The new region: a county or 市直 code of the programme (`move_region`).
    #[serde(default)]
    pub(super) new_region_code: Option<String>,
    /// `merger` or `closure` (`deregister`).
    #[serde(default)]
    pub(super) deregister_cause: Option<String>,
    /// Why (2–500 characters).
    #[serde(default)]
    pub(super) reason: String,
}

impl RequestInput {
    pub(super) fn to_new(&self) -> NewChangeRequest {
        NewChangeRequest {
            kind: self.kind.clone(),
            new_name: self.new_name.clone(),
            new_region_code: self.new_region_code.clone(),
            deregister_cause: self.deregister_cause.clone(),
            reason: self.reason.clone(),
        }
    }

    /// The value to show again in the refused form.
    fn shown_value(&self) -> String {
        match self.kind.as_str() {
            "rename" => self.new_name.clone().unwrap_or_default(),
            "move_region" => self.new_region_code.clone().unwrap_or_default(),
            _ => self.deregister_cause.clone().unwrap_or_default(),
        }
    }
}

pub(super) async fn submit_own(
    call: PageCall,
    mut session: WebSession,
    form: Result<Form<RequestInput>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let refusal = match service(&call).request_own(&form.to_new()).await {
        Ok(_) => return Ok(Redirect::to(&call.page.href("school?done=1")).into_response()),
        Err(Failure::Refused(r)) if !r.is_not_found() => r,
        Err(f) => return Err(call.fail(f).await),
    };
    let form_name = match form.kind.as_str() {
        "rename" => "rename",
        "move_region" => "move_region",
        "deregister" => "deregister",
        _ => "",
    };
    let problem = FormProblem {
        form: form_name,
        message: refusal.message.clone(),
        value: form.shown_value(),
    };
    let html = render_profile(&call, &mut session, false, problem).await?;
    Ok((refusal_status(refusal.class), html).into_response())
}

pub(super) async fn submit_on_behalf(
    call: PageCall,
    mut session: WebSession,
    Path((_, id)): Path<(String, String)>,
    form: Result<Form<RequestInput>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let outcome = match path_id::<OrgId>(&id) {
        Ok(org_id) => service(&call)
            .request_change(org_id, &form.to_new())
            .await
            .map(|_| "requested"),
        Err(f) => Err(f),
    };
    after_form(
        &call,
        &mut session,
        &id,
        outcome,
        "request",
        form.shown_value(),
    )
    .await
}
