//! The school's own record and the change requests it makes.

use askama::Template;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use xiaobao_identity::SchoolScope;
use xiaobao_identity::orgs::{self, SchoolRow};
use xiaobao_identity::school_admin::{self, AdminProblem, ChangeRequestRow, NewChangeRequest};

use crate::AppState;
use crate::schools::{FormProblem, after_form, nature_label, request_detail, type_label};
use crate::web::auth::Current;
use crate::web::csrf::CsrfToken;
use crate::web::error::{PageError, internal};
use crate::web::layout::Layout;
use crate::web::nav::Section;
use crate::web::session::WebSession;
use crate::web::tenant::PageTenant;

/// The viewer's own school and its requests; `None` when the viewer is not a school.
pub(super) async fn load_profile(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
) -> Result<Option<(SchoolRow, Vec<ChangeRequestRow>)>, PageError> {
    let viewer = current.viewer();
    if viewer.org_kind != "school" {
        return Ok(None);
    }
    let own = SchoolScope::Own {
        org_id: viewer.org_id,
    };
    let mut tx = state.db.tenant_tx(tenant).await?;
    let school = orgs::get_school(&mut tx, &own, viewer.org_id)
        .await
        .map_err(internal)?;
    let requests = match &school {
        Some(_) => school_admin::list_requests(&mut tx, &own, false, 50)
            .await
            .map_err(internal)?,
        None => Vec::new(),
    };
    tx.commit().await?;
    Ok(school.map(|s| (s, requests)))
}

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
        status: school_admin::request_status_label(&r.status),
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
    state: &AppState,
    page: &PageTenant,
    session: &mut WebSession,
    current: &Current,
    done: bool,
    problem: FormProblem,
) -> Result<Html<String>, PageError> {
    let (school, requests) = load_profile(state, &page.tenant, current)
        .await?
        .ok_or(PageError::NotFound)?;
    let mut tx = state.db.tenant_tx(&page.tenant).await?;
    let regions = school_admin::school_regions(&mut tx)
        .await
        .map_err(internal)?;
    tx.commit().await?;
    let chosen = (problem.form == "move_region").then(|| problem.value.clone());
    let view = ProfilePage {
        layout: Layout::tenant(page, session, Section::Account, Some("学校信息")).await?,
        csrf: session.csrf_token().await?,
        status_label: school_admin::school_status_label(&school.status),
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
            .filter(|r| r.status == "pending")
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
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    query: Result<Query<DoneQuery>, QueryRejection>,
) -> Result<Html<String>, PageError> {
    let done = query.ok().and_then(|Query(q)| q.done).is_some();
    render_profile(
        &state,
        &page,
        &mut session,
        &current,
        done,
        FormProblem::default(),
    )
    .await
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
    fn to_new(&self) -> NewChangeRequest {
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

/// Submits a request for the school `org_id` of the viewer's scope: its own (a school), or one
/// of a central school's schools (on its behalf). Returns the new request's id.
pub(super) async fn submit_request(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
    org_id: i64,
    input: &RequestInput,
) -> Result<Result<i64, AdminProblem>, PageError> {
    let viewer = current.viewer();
    let (scope, actor, on_behalf) = if org_id == viewer.org_id {
        (SchoolScope::Own { org_id }, current.actor(), None)
    } else {
        (
            viewer.school_scope(),
            school_admin::acting_for(&current.actor(), org_id),
            Some(org_id),
        )
    };
    // Only a central school acts for other schools; any other scope finds nothing here.
    if on_behalf.is_some() && !matches!(scope, SchoolScope::Central { .. }) {
        return Ok(Err(AdminProblem::NotFound));
    }
    let mut tx = state.db.tenant_tx(tenant).await?;
    let outcome =
        school_admin::request_change(&mut tx, &actor, &scope, org_id, on_behalf, &input.to_new())
            .await
            .map_err(internal)?;
    if outcome.is_ok() {
        tx.commit().await?;
    }
    Ok(outcome)
}

pub(super) async fn submit_own(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    form: Result<Form<RequestInput>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    if current.viewer().org_kind != "school" {
        return Err(PageError::NotFound);
    }
    let org_id = current.viewer().org_id;
    match submit_request(&state, &page.tenant, &current, org_id, &form).await? {
        Ok(_) => Ok(Redirect::to(&page.href("school?done=1")).into_response()),
        Err(problem) => {
            let form_name = match form.kind.as_str() {
                "rename" => "rename",
                "move_region" => "move_region",
                "deregister" => "deregister",
                _ => "",
            };
            let html = render_profile(
                &state,
                &page,
                &mut session,
                &current,
                false,
                FormProblem {
                    form: form_name,
                    message: problem.to_string(),
                    value: form.shown_value(),
                },
            )
            .await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
    }
}

pub(super) async fn submit_on_behalf(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    Path((_, id)): Path<(String, String)>,
    form: Result<Form<RequestInput>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let outcome = match id.parse::<i64>() {
        Ok(org_id) => submit_request(&state, &page.tenant, &current, org_id, &form)
            .await?
            .map(|_| "requested"),
        Err(_) => Err(AdminProblem::NotFound),
    };
    after_form(
        &state,
        &page,
        &mut session,
        &current,
        &id,
        outcome,
        "request",
        form.shown_value(),
    )
    .await
}
