//! One school: its page with the central-school settings and the change-request form.

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use xiaobao_authz::Permission;
use xiaobao_domain::ids::OrgId;
use xiaobao_domain::{Failure, Outcome};
use xiaobao_domain::{OrgStatus, RequestStatus};
use xiaobao_identity::SchoolScope;
use xiaobao_identity::orgs::SchoolRow;
use xiaobao_identity::school_admin::{self, ChangeRequestRow};
use xiaobao_identity::service::schools::{Detail, DetailWants};

use crate::web::call::{Called, PageCall, path_id};
use crate::web::csrf::CsrfToken;
use crate::web::error::{PageError, refusal_status};
use crate::web::layout::Layout;
use crate::web::session::WebSession;

use super::*;

/// The school `id` (a path segment) of the caller's scope. A central school reading one of
/// its schools leaves `school.viewed_on_behalf`.
pub(crate) async fn load_school(call: &impl Called, id: &str) -> Outcome<SchoolRow> {
    service(call).school(path_id::<OrgId>(id)?).await
}

/// A refused form on the detail page: which form, the message, the value typed.
#[derive(Debug, Default)]
pub(crate) struct FormProblem {
    pub form: &'static str,
    pub message: String,
    pub value: String,
}

pub(super) struct SchoolView {
    pub(super) name: String,
    pub(super) region_name: String,
    pub(super) region_code: String,
    pub(super) status: String,
    pub(super) status_label: &'static str,
    pub(super) nature: String,
    pub(super) school_type: String,
    pub(super) address: String,
    pub(super) principal: String,
    pub(super) contact_name: String,
    pub(super) contact_mobile: String,
    pub(super) is_central: bool,
    pub(super) central_school_name: String,
    pub(super) created_at: String,
}

pub(super) struct AssignedRow {
    pub(super) href: String,
    pub(super) name: String,
    pub(super) region_name: String,
    pub(super) status_label: &'static str,
}

pub(super) struct RequestRow {
    pub(super) href: Option<String>,
    pub(super) kind: &'static str,
    pub(super) detail: String,
    pub(super) reason: String,
    pub(super) status: &'static str,
    pub(super) created_at: String,
    pub(super) decision_reason: String,
}

pub(crate) fn request_detail(r: &ChangeRequestRow) -> String {
    match r.kind.as_str() {
        "rename" => format!("新名称：{}", r.new_name.as_deref().unwrap_or("")),
        "move_region" => format!(
            "新区域：{}",
            r.new_region_name
                .as_deref()
                .or(r.new_region_code.as_deref())
                .unwrap_or("")
        ),
        _ => format!(
            "注销原因：{}",
            school_admin::cause_label(r.deregister_cause.as_deref().unwrap_or(""))
        ),
    }
}

#[derive(Template)]
#[template(path = "school_detail.html")]
pub(super) struct DetailPage {
    pub(super) layout: Layout,
    pub(super) csrf: CsrfToken,
    pub(super) s: SchoolView,
    pub(super) done: Option<&'static str>,
    pub(super) problem: FormProblem,
    pub(super) list_href: String,
    /// Department forms (mobile, password).
    pub(super) manage: bool,
    pub(super) mobile_action: String,
    pub(super) reset_action: String,
    /// Central-school settings.
    pub(super) central: bool,
    pub(super) central_action: String,
    pub(super) assign_action: String,
    pub(super) central_options: Vec<Choice>,
    pub(super) assigned: Vec<AssignedRow>,
    /// A central school changing the contact mobile of its assigned school.
    pub(super) assigned_mobile_action: Option<String>,
    /// A central school asking for a change on the school's behalf.
    pub(super) request_action: Option<String>,
    pub(super) move_regions: Vec<Choice>,
    pub(super) requests: Vec<RequestRow>,
}

pub(super) fn done_message(done: &str) -> Option<&'static str> {
    Some(match done {
        "mobile" => "联系人手机号已修改，已通过短信告知原手机号和新手机号。",
        "reset" => {
            "密码已重置：设置新密码的链接已通过短信发送到联系人手机，学校设置新密码后方可登录。"
        }
        "central" => "已设置为中心校。该校账号需退出后重新登录，才能使用“所辖学校”等中心校功能。",
        "uncentral" => "已取消中心校设置，原所辖学校已解除划分。该校重新登录后不再具有中心校功能。",
        "assigned" => "已加入所选中心校。",
        "unassigned" => "已退出所属中心校。",
        "requested" => "申请已提交，请等待教育主管部门审核。",
        _ => return None,
    })
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct DoneQuery {
    pub(super) done: Option<String>,
}

/// Renders the detail page of a school already known to be in scope.
pub(crate) async fn render_detail(
    call: &PageCall,
    session: &mut WebSession,
    school: SchoolRow,
    done: Option<&'static str>,
    problem: FormProblem,
) -> Result<Html<String>, PageError> {
    let (state, page, current) = (&call.state, &call.page, &call.current);
    let viewer = current.viewer();
    let scope = viewer.school_scope();
    let manage = manages(state, viewer);
    let central = state
        .auth
        .authz
        .allows(&viewer.roles, Permission::CENTRAL_SCHOOLS_MANAGE);
    let on_behalf = matches!(scope, SchoolScope::Central { .. })
        && school.org_id != viewer.org_id
        && school.status == OrgStatus::Active
        && state
            .auth
            .authz
            .allows(&viewer.roles, Permission::SCHOOL_PROFILE_REQUEST_CHANGE);
    let assigned_manage = matches!(scope, SchoolScope::Central { .. })
        && school.org_id != viewer.org_id
        && matches!(school.status, OrgStatus::Active | OrgStatus::Pending)
        && state
            .auth
            .authz
            .allows(&viewer.roles, Permission::ASSIGNED_SCHOOLS_MANAGE);
    let wants = DetailWants {
        central_schools: central,
        move_regions: on_behalf,
    };
    let detail = call
        .take(service(call).detail(&school, wants).await)
        .await?;
    let Detail {
        central_schools: central_rows,
        assigned,
        move_regions,
        requests,
    } = detail;
    let may_decide = state
        .auth
        .authz
        .allows(&viewer.roles, Permission::CHANGE_REQUESTS_DECIDE);
    let id = school.org_id;
    let view = DetailPage {
        layout: Layout::tenant(page, session, section_of(viewer), Some(&school.name)).await?,
        csrf: session.csrf_token().await?,
        done,
        problem,
        list_href: page.href(match scope {
            SchoolScope::Central { .. } => "assigned-schools",
            _ => "schools",
        }),
        manage,
        mobile_action: page.href(&format!("schools/{id}/contact-mobile")),
        reset_action: page.href(&format!("schools/{id}/password-reset")),
        central,
        central_action: page.href(&format!("schools/{id}/central")),
        assign_action: page.href(&format!("schools/{id}/central-school")),
        central_options: std::iter::once(Choice {
            value: String::new(),
            label: "不属于任何中心校".into(),
            selected: school.central_school_id.is_none(),
        })
        .chain(
            central_rows
                .into_iter()
                .filter(|c| c.org_id != id)
                .map(|c| Choice {
                    selected: school.central_school_id == Some(c.org_id),
                    value: c.org_id.to_string(),
                    label: format!("{}（{}）", c.name, c.region_name),
                }),
        )
        .collect(),
        assigned: assigned
            .into_iter()
            .map(|a| AssignedRow {
                href: page.href(&format!("schools/{}", a.org_id)),
                status_label: school_admin::school_status_label(a.status),
                name: a.name,
                region_name: a.region_name,
            })
            .collect(),
        assigned_mobile_action: assigned_manage
            .then(|| page.href(&format!("assigned-schools/{id}/contact-mobile"))),
        request_action: on_behalf.then(|| page.href(&format!("schools/{id}/change-requests"))),
        move_regions: move_regions
            .into_iter()
            .filter(|r| r.region_code != school.region_code)
            .map(|r| Choice {
                value: r.region_code,
                label: r.name,
                selected: false,
            })
            .collect(),
        requests: requests
            .iter()
            .map(|r| RequestRow {
                href: (may_decide && r.status == RequestStatus::Pending)
                    .then(|| page.href(&format!("change-requests/{}", r.change_request_id))),
                kind: school_admin::kind_label(&r.kind),
                detail: request_detail(r),
                reason: r.reason.clone(),
                status: school_admin::request_status_label(r.status),
                created_at: crate::web::time::cst(r.created_at),
                decision_reason: r.decision_reason.clone().unwrap_or_default(),
            })
            .collect(),
        s: SchoolView {
            region_code: school.region_code.clone(),
            status_label: school_admin::school_status_label(school.status),
            nature: nature_label(school.nature.as_deref()),
            school_type: type_label(school.school_type.as_deref()),
            address: school.address.clone().unwrap_or_default(),
            principal: school.principal.clone().unwrap_or_default(),
            contact_name: school.contact_name.clone().unwrap_or_default(),
            contact_mobile: if manage {
                school.contact_mobile.clone().unwrap_or_default()
            } else {
                masked(school.contact_mobile.as_deref())
            },
            is_central: school.is_central,
            central_school_name: school.central_school_name.clone().unwrap_or_default(),
            created_at: crate::web::time::cst(school.created_at),
            status: school.status.to_string(),
            name: school.name.clone(),
            region_name: school.region_name.clone(),
        },
    };
    Ok(Html(view.render()?))
}

pub(super) async fn show_one(
    call: PageCall,
    mut session: WebSession,
    Path((_, id)): Path<(String, String)>,
    query: Result<Query<DoneQuery>, QueryRejection>,
) -> Result<Html<String>, PageError> {
    let school = call.take(load_school(&call, &id).await).await?;
    let done = query
        .ok()
        .and_then(|Query(q)| q.done)
        .and_then(|d| done_message(&d));
    render_detail(&call, &mut session, school, done, FormProblem::default()).await
}

/// After a management form: back to the school with a note, 404 (audited) outside the scope,
/// or the page again with the problem beside its form (the refusal's status).
pub(crate) async fn after_form(
    call: &PageCall,
    session: &mut WebSession,
    id: &str,
    outcome: Outcome<&'static str>,
    form: &'static str,
    value: String,
) -> Result<Response, PageError> {
    let refusal = match outcome {
        Ok(done) => {
            return Ok(
                Redirect::to(&call.page.href(&format!("schools/{id}?done={done}"))).into_response(),
            );
        }
        Err(Failure::Refused(r)) if !r.is_not_found() => r,
        Err(f) => return Err(call.fail(f).await),
    };
    let school = call.take(load_school(call, id).await).await?;
    let status = refusal_status(refusal.class);
    let problem = FormProblem {
        form,
        message: refusal.message,
        value,
    };
    let html = render_detail(call, session, school, None, problem).await?;
    Ok((status, html).into_response())
}
