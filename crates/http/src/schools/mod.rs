//! 学校数据: the schools of one's region for departments, the authority, brokers and central
//! schools — the list (`/t/{slug}/schools`: sub-region, status and name filters, counts per
//! region and status, paging) and one school (`/t/{slug}/schools/{id}`). A department manages
//! the schools of its subtree there: the contact mobile (a login name of the school, unique
//! among live schools) and the password reset (the password is cleared and a set-password
//! link goes to the contact mobile by SMS, in the same transaction). The page also carries the
//! central-school settings (`crate::central`) and, for a central school looking at one of its
//! schools, the change-request form it submits on the school's behalf
//! (`crate::change_requests`).
//!
//! Region scope is applied in SQL to every list and read (`Viewer::school_scope`); a school
//! outside it answers 404 and the attempt is audited (`access.out_of_scope`). Contact mobiles
//! are masked (`138****1234`) except on the detail page for a department managing the school.
//!
//! API: `GET /api/v1/t/{slug}/schools`, `GET …/schools/{id}`,
//! `PUT …/schools/{id}/contact-mobile`, `POST …/schools/{id}/password-reset`.

pub(crate) mod central;
pub(crate) mod change_requests;

use askama::Template;
use axum::Json;
use axum::extract::rejection::{FormRejection, JsonRejection, QueryRejection};
use axum::extract::{Form, Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post, put};
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use xiaobao_authz::Permission;
use xiaobao_domain::school::{SchoolNature, SchoolType};
use xiaobao_identity::orgs::{self, SchoolFilter, SchoolRow};
use xiaobao_identity::school_admin::{
    self, AdminProblem, CentralSchoolRow, ChangeRequestRow, RegionCount, RegionOption,
};
use xiaobao_identity::{SchoolScope, Viewer};
use xiaobao_notify::{Notification, Template as Message};

use crate::AppState;
use crate::web::auth::{Current, Routes, audit_out_of_scope};
use crate::web::csrf::CsrfToken;
use crate::web::error::ApiError;
use crate::web::error::{PageError, internal};
use crate::web::layout::Layout;
use crate::web::nav::Section;
use crate::web::session::WebSession;
use crate::web::tenant::{ApiTenant, PageTenant};

/// Rows of one page of the list.
const PER_PAGE: i64 = 20;
/// The API's largest page.
const MAX_PER_PAGE: i64 = 100;

pub fn routes() -> Routes {
    Routes::new()
        .guarded(
            Method::GET,
            "/t/{slug}/schools",
            Permission::SCHOOLS_LIST,
            get(show_list),
        )
        .guarded(
            Method::GET,
            "/t/{slug}/schools/{id}",
            Permission::SCHOOLS_READ,
            get(show_one),
        )
        .guarded(
            Method::POST,
            "/t/{slug}/schools/{id}/contact-mobile",
            Permission::SCHOOLS_MANAGE,
            post(submit_mobile),
        )
        .guarded(
            Method::POST,
            "/t/{slug}/schools/{id}/password-reset",
            Permission::SCHOOLS_MANAGE,
            post(submit_reset),
        )
        .guarded(
            Method::GET,
            "/api/v1/t/{slug}/schools",
            Permission::SCHOOLS_LIST,
            get(api_list),
        )
        .guarded(
            Method::GET,
            "/api/v1/t/{slug}/schools/{id}",
            Permission::SCHOOLS_READ,
            get(api_get),
        )
        .guarded(
            Method::PUT,
            "/api/v1/t/{slug}/schools/{id}/contact-mobile",
            Permission::SCHOOLS_MANAGE,
            put(api_change_mobile),
        )
        .guarded(
            Method::POST,
            "/api/v1/t/{slug}/schools/{id}/password-reset",
            Permission::SCHOOLS_MANAGE,
            post(api_reset_password),
        )
}

/// An administrative refusal as the API answers it.
pub(crate) fn problem_to_api(problem: AdminProblem) -> ApiError {
    match problem {
        AdminProblem::NotFound => ApiError::NotFound("学校不存在".into()),
        other => ApiError::InvalidInput {
            field: other.field().map(str::to_string),
            message: other.to_string(),
        },
    }
}

/// A JSON body the API could not read.
pub(crate) fn bad_json(e: &JsonRejection) -> ApiError {
    ApiError::InvalidInput {
        field: None,
        message: format!("请求体不是有效的 JSON：{}", e.body_text()),
    }
}

/// 公办 / 民办 from the stored code.
pub(crate) fn nature_label(code: Option<&str>) -> String {
    code.and_then(|c| c.parse::<SchoolNature>().ok())
        .map(|n| n.label().to_string())
        .unwrap_or_default()
}

/// 小学, 初中（含完中）… from the stored code.
pub(crate) fn type_label(code: Option<&str>) -> String {
    code.and_then(|c| c.parse::<SchoolType>().ok())
        .map(|t| t.label().to_string())
        .unwrap_or_default()
}

/// A contact mobile as lists show it (`138****1234`).
pub(crate) fn masked(mobile: Option<&str>) -> String {
    mobile.map(xiaobao_audit::mask_phone).unwrap_or_default()
}

/// Whether the viewer manages the schools of its scope (departments): the full contact mobile
/// and the management forms.
fn manages(state: &AppState, viewer: &Viewer) -> bool {
    state
        .auth
        .authz
        .allows(&viewer.roles, Permission::SCHOOLS_MANAGE)
}

/// The section a school page belongs to in the viewer's navigation.
pub(crate) fn section_of(viewer: &Viewer) -> Section {
    match viewer.school_scope() {
        SchoolScope::Central { .. } => Section::AssignedSchools,
        _ => Section::Schools,
    }
}

// ---------------------------------------------------------------------------------------------
// The list.

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub(crate) struct ListQuery {
    /// A region of one's subtree: only its schools.
    region_code: Option<String>,
    /// `active`, `pending`, `deregistered` or `refused`; live schools (active and pending)
    /// when absent.
    status: Option<String>,
    /// Part of the school's name.
    name: Option<String>,
    /// Page number, from 1.
    page: Option<i64>,
    /// Rows per page (API only; 1–100, default 20).
    per_page: Option<i64>,
}

const STATUSES: [(&str, &str); 4] = [
    ("active", "已通过审核"),
    ("pending", "待审核"),
    ("deregistered", "已注销"),
    ("refused", "未通过审核"),
];

fn clean(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// The list's filters after checking them against the viewer's scope.
struct Filters {
    region_code: Option<String>,
    status: Option<String>,
    name: Option<String>,
    page: i64,
    per_page: i64,
}

/// One page of the list with everything the page shows around it.
struct Listing {
    rows: Vec<SchoolRow>,
    total: i64,
    /// The regions of the viewer's subtree (Region scope only).
    regions: Vec<RegionOption>,
    region_counts: Vec<RegionCount>,
    status_counts: Vec<(String, i64)>,
    pending_requests: usize,
}

/// Checks the filters: a region outside the viewer's subtree or an unknown status is the
/// field's problem.
fn check_filters(
    q: ListQuery,
    regions: &[RegionOption],
    scope: &SchoolScope,
) -> Result<Filters, (&'static str, &'static str)> {
    let region_code = clean(q.region_code);
    if let Some(code) = &region_code
        && matches!(scope, SchoolScope::Region { .. })
        && !regions.iter().any(|r| &r.region_code == code)
    {
        return Err(("region_code", "所选区域不在管辖范围内"));
    }
    let status = clean(q.status);
    if let Some(s) = &status
        && !STATUSES.iter().any(|(code, _)| code == s)
    {
        return Err((
            "status",
            "学校状态应为 active、pending、deregistered 或 refused",
        ));
    }
    let per_page = q.per_page.unwrap_or(PER_PAGE).clamp(1, MAX_PER_PAGE);
    Ok(Filters {
        region_code,
        status,
        name: clean(q.name).map(|n| n.chars().take(50).collect()),
        page: q.page.unwrap_or(1).max(1),
        per_page,
    })
}

async fn subtree(
    conn: &mut sqlx::PgConnection,
    scope: &SchoolScope,
) -> Result<Vec<RegionOption>, PageError> {
    match scope {
        SchoolScope::Region { path_prefix } => school_admin::subtree_regions(conn, path_prefix)
            .await
            .map_err(internal),
        _ => Ok(Vec::new()),
    }
}

async fn load_listing(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
    query: ListQuery,
    with_counts: bool,
) -> Result<Result<(Filters, Listing), (&'static str, &'static str)>, PageError> {
    let viewer = current.viewer();
    let scope = viewer.school_scope();
    let mut tx = state.db.tenant_tx(tenant).await?;
    // The subtree's regions fill the page's region filter and check a requested region; an API
    // call without a region filter needs neither (one query fewer on the hot path).
    let need_regions = with_counts
        || query
            .region_code
            .as_deref()
            .is_some_and(|c| !c.trim().is_empty());
    let regions = if need_regions {
        subtree(&mut tx, &scope).await?
    } else {
        Vec::new()
    };
    let filters = match check_filters(query, &regions, &scope) {
        Ok(f) => f,
        Err(problem) => return Ok(Err(problem)),
    };
    let (rows, total) = orgs::list_schools(
        &mut tx,
        &scope,
        &SchoolFilter {
            region_code: filters.region_code.clone(),
            status: filters.status.clone(),
            name: filters.name.clone(),
            limit: filters.per_page,
            offset: (filters.page - 1).saturating_mul(filters.per_page),
        },
    )
    .await
    .map_err(internal)?;
    let mut listing = Listing {
        rows,
        total,
        regions,
        region_counts: Vec::new(),
        status_counts: Vec::new(),
        pending_requests: 0,
    };
    if with_counts {
        let root = filters
            .region_code
            .clone()
            .unwrap_or_else(|| viewer.region_code.clone());
        if matches!(scope, SchoolScope::Region { .. }) {
            listing.region_counts = school_admin::region_counts(&mut tx, &scope, &root)
                .await
                .map_err(internal)?;
        }
        listing.status_counts = school_admin::status_counts(&mut tx, &scope)
            .await
            .map_err(internal)?;
        if state
            .auth
            .authz
            .allows(&viewer.roles, Permission::CHANGE_REQUESTS_DECIDE)
        {
            listing.pending_requests = school_admin::list_requests(&mut tx, &scope, true, 500)
                .await
                .map_err(internal)?
                .len();
        }
    }
    tx.commit().await?;
    Ok(Ok((filters, listing)))
}

struct Choice {
    value: String,
    label: String,
    selected: bool,
}

struct ListRow {
    href: String,
    name: String,
    region_name: String,
    status_label: &'static str,
    nature: String,
    school_type: String,
    contact_name: String,
    contact_mobile: String,
    central: String,
}

struct CountRow {
    name: String,
    href: String,
    active: i64,
    pending: i64,
    central: i64,
}

/// Links to the previous and next pages, keeping the filters.
pub(crate) struct Pager {
    pub page: i64,
    pub pages: i64,
    pub prev: Option<String>,
    pub next: Option<String>,
}

#[derive(Template)]
#[template(path = "schools.html")]
struct ListPage {
    layout: Layout,
    action: String,
    name: String,
    show_regions: bool,
    regions: Vec<Choice>,
    statuses: Vec<Choice>,
    notice: Option<&'static str>,
    counts: Vec<CountRow>,
    status_counts: String,
    total: i64,
    rows: Vec<ListRow>,
    pager: Pager,
    requests_href: Option<String>,
    pending_requests: usize,
    central_href: Option<String>,
}

fn query_string(pairs: &[(&str, Option<&str>)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if let Some(v) = v {
            s.append_pair(k, v);
        }
    }
    s.finish()
}

fn region_label(r: &RegionOption, depth_of_root: usize) -> String {
    let depth = r.path.matches('.').count().saturating_sub(depth_of_root);
    format!("{}{}", "　".repeat(depth), r.name)
}

async fn show_list(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Html<String>, PageError> {
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let (filters, listing, notice) = match load_listing(&state, &page.tenant, &current, query, true)
        .await?
    {
        Ok((f, l)) => (f, l, None),
        // A filter outside the scope: the unfiltered list, with a note.
        Err((_, message)) => {
            let (f, l) = load_listing(&state, &page.tenant, &current, ListQuery::default(), true)
                .await?
                .map_err(|_| PageError::Internal("unfiltered list refused".into()))?;
            (f, l, Some(message))
        }
    };
    let viewer = current.viewer();
    let root_depth = viewer.region_path.matches('.').count();
    let regions = std::iter::once(Choice {
        value: String::new(),
        label: "全部".into(),
        selected: filters.region_code.is_none(),
    })
    .chain(listing.regions.iter().map(|r| Choice {
        value: r.region_code.clone(),
        label: region_label(r, root_depth),
        selected: filters.region_code.as_deref() == Some(r.region_code.as_str()),
    }))
    .collect();
    let statuses = std::iter::once(Choice {
        value: String::new(),
        label: "在册（已通过及待审核）".into(),
        selected: filters.status.is_none(),
    })
    .chain(STATUSES.iter().map(|(code, label)| Choice {
        value: (*code).to_string(),
        label: (*label).to_string(),
        selected: filters.status.as_deref() == Some(*code),
    }))
    .collect();
    let pages = ((listing.total + PER_PAGE - 1) / PER_PAGE).max(1);
    let link = |n: i64| {
        let n = n.to_string();
        format!(
            "{}?{}",
            page.href("schools"),
            query_string(&[
                ("region_code", filters.region_code.as_deref()),
                ("status", filters.status.as_deref()),
                ("name", filters.name.as_deref()),
                ("page", Some(&n)),
            ])
        )
    };
    let pager = Pager {
        page: filters.page,
        pages,
        prev: (filters.page > 1).then(|| link(filters.page - 1)),
        next: (filters.page < pages).then(|| link(filters.page + 1)),
    };
    let counts = listing
        .region_counts
        .iter()
        .map(|c| CountRow {
            href: format!(
                "{}?{}",
                page.href("schools"),
                query_string(&[("region_code", Some(&c.region_code))])
            ),
            name: c.name.clone(),
            active: c.active,
            pending: c.pending,
            central: c.central,
        })
        .collect();
    let status_counts = listing
        .status_counts
        .iter()
        .map(|(s, n)| format!("{} {n} 所", school_admin::school_status_label(s)))
        .collect::<Vec<_>>()
        .join("，");
    let may_decide = state
        .auth
        .authz
        .allows(&viewer.roles, Permission::CHANGE_REQUESTS_DECIDE);
    let may_central = state
        .auth
        .authz
        .allows(&viewer.roles, Permission::CENTRAL_SCHOOLS_MANAGE);
    let view = ListPage {
        layout: Layout::tenant(&page, &mut session, section_of(viewer), Some("学校数据")).await?,
        action: page.href("schools"),
        name: filters.name.clone().unwrap_or_default(),
        show_regions: matches!(viewer.school_scope(), SchoolScope::Region { .. }),
        regions,
        statuses,
        notice,
        counts,
        status_counts,
        total: listing.total,
        rows: listing
            .rows
            .into_iter()
            .map(|r| ListRow {
                href: page.href(&format!("schools/{}", r.org_id)),
                status_label: school_admin::school_status_label(&r.status),
                nature: nature_label(r.nature.as_deref()),
                school_type: type_label(r.school_type.as_deref()),
                contact_name: r.contact_name.unwrap_or_default(),
                contact_mobile: masked(r.contact_mobile.as_deref()),
                central: if r.is_central {
                    "中心校".into()
                } else {
                    r.central_school_name.unwrap_or_default()
                },
                name: r.name,
                region_name: r.region_name,
            })
            .collect(),
        pager,
        requests_href: may_decide.then(|| page.href("change-requests")),
        pending_requests: listing.pending_requests,
        central_href: may_central.then(|| page.href("central-schools")),
    };
    Ok(Html(view.render()?))
}

// ---------------------------------------------------------------------------------------------
// One school.

/// The school `id` in the viewer's scope; a miss is audited. A central school reading one of
/// its schools leaves `school.viewed_on_behalf`.
pub(crate) async fn load_school(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
    id: &str,
) -> Result<Option<SchoolRow>, PageError> {
    let Ok(org_id) = id.parse::<i64>() else {
        audit_out_of_scope(state, tenant, current, "organisation", id).await;
        return Ok(None);
    };
    let viewer = current.viewer();
    let scope = viewer.school_scope();
    let mut tx = state.db.tenant_tx(tenant).await?;
    let row = orgs::get_school(&mut tx, &scope, org_id)
        .await
        .map_err(internal)?;
    if row.is_some() && matches!(scope, SchoolScope::Central { .. }) && org_id != viewer.org_id {
        xiaobao_audit::record(
            &mut tx,
            &school_admin::acting_for(&current.actor(), org_id),
            xiaobao_audit::Entry::new("school.viewed_on_behalf", "organisation", Some(org_id)),
        )
        .await
        .map_err(internal)?;
    }
    tx.commit().await?;
    if row.is_none() {
        audit_out_of_scope(state, tenant, current, "organisation", id).await;
    }
    Ok(row)
}

/// A refused form on the detail page: which form, the message, the value typed.
#[derive(Debug, Default)]
pub(crate) struct FormProblem {
    pub form: &'static str,
    pub message: String,
    pub value: String,
}

struct SchoolView {
    name: String,
    region_name: String,
    region_code: String,
    status: String,
    status_label: &'static str,
    nature: String,
    school_type: String,
    address: String,
    principal: String,
    contact_name: String,
    contact_mobile: String,
    is_central: bool,
    central_school_name: String,
    created_at: String,
}

struct AssignedRow {
    href: String,
    name: String,
    region_name: String,
    status_label: &'static str,
}

struct RequestRow {
    href: Option<String>,
    kind: &'static str,
    detail: String,
    reason: String,
    status: &'static str,
    created_at: String,
    decision_reason: String,
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
struct DetailPage {
    layout: Layout,
    csrf: CsrfToken,
    s: SchoolView,
    done: Option<&'static str>,
    problem: FormProblem,
    list_href: String,
    /// Department forms (mobile, password).
    manage: bool,
    mobile_action: String,
    reset_action: String,
    /// Central-school settings.
    central: bool,
    central_action: String,
    assign_action: String,
    central_options: Vec<Choice>,
    assigned: Vec<AssignedRow>,
    /// A central school asking for a change on the school's behalf.
    request_action: Option<String>,
    move_regions: Vec<Choice>,
    requests: Vec<RequestRow>,
}

fn done_message(done: &str) -> Option<&'static str> {
    Some(match done {
        "mobile" => "联系人手机号已修改。",
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
struct DoneQuery {
    done: Option<String>,
}

/// Renders the detail page of a school already known to be in scope.
pub(crate) async fn render_detail(
    state: &AppState,
    page: &PageTenant,
    session: &mut WebSession,
    current: &Current,
    school: SchoolRow,
    done: Option<&'static str>,
    problem: FormProblem,
) -> Result<Html<String>, PageError> {
    let viewer = current.viewer();
    let scope = viewer.school_scope();
    let manage = manages(state, viewer);
    let central = state
        .auth
        .authz
        .allows(&viewer.roles, Permission::CENTRAL_SCHOOLS_MANAGE);
    let on_behalf = matches!(scope, SchoolScope::Central { .. })
        && school.org_id != viewer.org_id
        && school.status == "active"
        && state
            .auth
            .authz
            .allows(&viewer.roles, Permission::SCHOOL_PROFILE_REQUEST_CHANGE);
    let mut tx = state.db.tenant_tx(&page.tenant).await?;
    let central_rows: Vec<CentralSchoolRow> = if central {
        school_admin::central_schools(&mut tx, &scope)
            .await
            .map_err(internal)?
    } else {
        Vec::new()
    };
    let assigned = if school.is_central {
        school_admin::assigned_schools(&mut tx, &scope, school.org_id)
            .await
            .map_err(internal)?
    } else {
        Vec::new()
    };
    let move_regions = if on_behalf {
        school_admin::school_regions(&mut tx)
            .await
            .map_err(internal)?
    } else {
        Vec::new()
    };
    let requests = school_admin::list_requests(
        &mut tx,
        &SchoolScope::Own {
            org_id: school.org_id,
        },
        false,
        50,
    )
    .await
    .map_err(internal)?;
    tx.commit().await?;
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
                status_label: school_admin::school_status_label(&a.status),
                name: a.name,
                region_name: a.region_name,
            })
            .collect(),
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
                href: (may_decide && r.status == "pending")
                    .then(|| page.href(&format!("change-requests/{}", r.change_request_id))),
                kind: school_admin::kind_label(&r.kind),
                detail: request_detail(r),
                reason: r.reason.clone(),
                status: school_admin::request_status_label(&r.status),
                created_at: crate::web::time::cst(r.created_at),
                decision_reason: r.decision_reason.clone().unwrap_or_default(),
            })
            .collect(),
        s: SchoolView {
            region_code: school.region_code.clone(),
            status_label: school_admin::school_status_label(&school.status),
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
            status: school.status.clone(),
            name: school.name.clone(),
            region_name: school.region_name.clone(),
        },
    };
    Ok(Html(view.render()?))
}

async fn show_one(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    Path((_, id)): Path<(String, String)>,
    query: Result<Query<DoneQuery>, QueryRejection>,
) -> Result<Html<String>, PageError> {
    let school = load_school(&state, &page.tenant, &current, &id)
        .await?
        .ok_or(PageError::NotFound)?;
    let done = query
        .ok()
        .and_then(|Query(q)| q.done)
        .and_then(|d| done_message(&d));
    render_detail(
        &state,
        &page,
        &mut session,
        &current,
        school,
        done,
        FormProblem::default(),
    )
    .await
}

/// After a management form: back to the school with a note, 404 (audited) outside the scope,
/// or the page again with the problem (422).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn after_form(
    state: &AppState,
    page: &PageTenant,
    session: &mut WebSession,
    current: &Current,
    id: &str,
    outcome: Result<&'static str, AdminProblem>,
    form: &'static str,
    value: String,
) -> Result<Response, PageError> {
    match outcome {
        Ok(done) => {
            Ok(Redirect::to(&page.href(&format!("schools/{id}?done={done}"))).into_response())
        }
        Err(AdminProblem::NotFound) => {
            audit_out_of_scope(state, &page.tenant, current, "organisation", id).await;
            Err(PageError::NotFound)
        }
        Err(problem) => {
            let Some(school) = load_school(state, &page.tenant, current, id).await? else {
                return Err(PageError::NotFound);
            };
            let html = render_detail(
                state,
                page,
                session,
                current,
                school,
                None,
                FormProblem {
                    form,
                    message: problem.to_string(),
                    value,
                },
            )
            .await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Management.

async fn change_mobile(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
    id: &str,
    mobile: &str,
) -> Result<Result<(), AdminProblem>, PageError> {
    let Ok(org_id) = id.parse::<i64>() else {
        return Ok(Err(AdminProblem::NotFound));
    };
    let scope = current.viewer().school_scope();
    let mut tx = state.db.tenant_tx(tenant).await?;
    let outcome =
        school_admin::change_contact_mobile(&mut tx, &current.actor(), &scope, org_id, mobile)
            .await
            .map_err(internal)?;
    if outcome.is_ok() {
        tx.commit().await?;
    }
    Ok(outcome)
}

/// Resets the school's password and queues the set-password link by SMS, in one transaction.
async fn reset_password(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
    id: &str,
) -> Result<Result<(), AdminProblem>, PageError> {
    let Ok(org_id) = id.parse::<i64>() else {
        return Ok(Err(AdminProblem::NotFound));
    };
    let scope = current.viewer().school_scope();
    let ttl = chrono::Duration::hours(i64::from(state.config.auth.link_ttl_hours));
    let mut tx = state.db.tenant_tx(tenant).await?;
    let reset = match school_admin::reset_password(
        &mut tx,
        &current.actor(),
        &scope,
        &state.auth.codes,
        ttl,
        org_id,
    )
    .await
    .map_err(internal)?
    {
        Ok(r) => r,
        Err(problem) => return Ok(Err(problem)),
    };
    let url = format!(
        "{}/t/{}/activate?token={}",
        state.config.public_url(),
        tenant.slug,
        reset.token
    );
    xiaobao_notify::queue(
        &mut tx,
        &Notification::sms(
            reset.contact_mobile.clone(),
            Message::AccountOpened {
                org_name: reset.school_name.clone(),
                login_name: reset.login_name.clone(),
                set_password_url: url,
            },
        ),
    )
    .await
    .map_err(internal)?;
    tx.commit().await?;
    tracing::info!(tenant.slug = %tenant.slug, org.id = org_id, "school password reset");
    Ok(Ok(()))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct MobileInput {
    /// The new contact mobile (11 digits).
    #[serde(default)]
    contact_mobile: String,
}

async fn submit_mobile(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    Path((_, id)): Path<(String, String)>,
    form: Result<Form<MobileInput>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let outcome = change_mobile(&state, &page.tenant, &current, &id, &form.contact_mobile)
        .await?
        .map(|()| "mobile");
    after_form(
        &state,
        &page,
        &mut session,
        &current,
        &id,
        outcome,
        "mobile",
        form.contact_mobile,
    )
    .await
}

async fn submit_reset(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let outcome = reset_password(&state, &page.tenant, &current, &id)
        .await?
        .map(|()| "reset");
    after_form(
        &state,
        &page,
        &mut session,
        &current,
        &id,
        outcome,
        "reset",
        String::new(),
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// API.

/// A school as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct SchoolApiView {
    org_id: i64,
    name: String,
    region_code: String,
    region_name: String,
    /// `pending`, `active`, `refused` or `deregistered`.
    status: String,
    /// `public` or `private`.
    nature: Option<String>,
    school_type: Option<String>,
    address: Option<String>,
    principal: Option<String>,
    contact_name: Option<String>,
    /// Masked (`138****1234`) unless a department managing the school reads one school.
    contact_mobile: Option<String>,
    is_central: bool,
    central_school_id: Option<i64>,
    central_school_name: Option<String>,
    created_at: DateTime<FixedOffset>,
}

pub(crate) fn api_view(r: SchoolRow, full_mobile: bool) -> SchoolApiView {
    SchoolApiView {
        contact_mobile: if full_mobile {
            r.contact_mobile
        } else {
            r.contact_mobile.as_deref().map(xiaobao_audit::mask_phone)
        },
        org_id: r.org_id,
        name: r.name,
        region_code: r.region_code,
        region_name: r.region_name,
        status: r.status,
        nature: r.nature,
        school_type: r.school_type,
        address: r.address,
        principal: r.principal,
        contact_name: r.contact_name,
        is_central: r.is_central,
        central_school_id: r.central_school_id,
        central_school_name: r.central_school_name,
        created_at: crate::web::time::to_cst(r.created_at),
    }
}

/// One page of schools.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct SchoolPage {
    /// Schools matching the filters (every page).
    total: i64,
    page: i64,
    per_page: i64,
    items: Vec<SchoolApiView>,
}

/// The schools of one's scope, filtered and paged.
#[utoipa::path(get, path = "/api/v1/t/{slug}/schools", operation_id = "list_schools", tag = "schools",
    params(("slug" = String, Path, description = "租户标识"), ListQuery),
    responses((status = 200, body = SchoolPage), (status = 401, body = crate::web::error::ErrorBody),
        (status = 403, body = crate::web::error::ErrorBody), (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_list(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<SchoolPage>, ApiError> {
    let Query(query) = query
        .map_err(|_| ApiError::invalid("page", "查询参数格式错误：page 和 per_page 应为正整数"))?;
    let (filters, listing) = load_listing(&state, &tenant, &current, query, false)
        .await
        .map_err(crate::web::error::page_to_api)?
        .map_err(|(field, message)| ApiError::invalid(field, message))?;
    Ok(Json(SchoolPage {
        total: listing.total,
        page: filters.page,
        per_page: filters.per_page,
        items: listing
            .rows
            .into_iter()
            .map(|r| api_view(r, false))
            .collect(),
    }))
}

/// One school of one's scope.
#[utoipa::path(get, path = "/api/v1/t/{slug}/schools/{id}", operation_id = "get_school", tag = "schools",
    params(("slug" = String, Path, description = "租户标识"), ("id" = i64, Path, description = "学校（机构）编号")),
    responses((status = 200, body = SchoolApiView), (status = 404, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_get(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
    Path(path): Path<(String, String)>,
) -> Result<Json<SchoolApiView>, ApiError> {
    let id = path.1;
    let school = load_school(&state, &tenant, &current, &id)
        .await
        .map_err(crate::web::error::page_to_api)?
        .ok_or_else(|| problem_to_api(AdminProblem::NotFound))?;
    Ok(Json(api_view(school, manages(&state, current.viewer()))))
}

/// The API's answer to a management call: 204, 404 (audited) or 422.
pub(crate) async fn api_outcome(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
    id: &str,
    outcome: Result<(), AdminProblem>,
) -> Result<StatusCode, ApiError> {
    match outcome {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(AdminProblem::NotFound) => {
            audit_out_of_scope(state, tenant, current, "organisation", id).await;
            Err(problem_to_api(AdminProblem::NotFound))
        }
        Err(problem) => Err(problem_to_api(problem)),
    }
}

/// Changes a school's contact mobile (departments, own region).
#[utoipa::path(put, path = "/api/v1/t/{slug}/schools/{id}/contact-mobile", tag = "schools",
    params(("slug" = String, Path, description = "租户标识"), ("id" = i64, Path, description = "学校（机构）编号")),
    request_body = MobileInput,
    responses((status = 204, description = "已修改"), (status = 404, body = crate::web::error::ErrorBody),
        (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_change_mobile(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
    Path(path): Path<(String, String)>,
    body: Result<Json<MobileInput>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let id = path.1;
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    let outcome = change_mobile(&state, &tenant, &current, &id, &body.contact_mobile)
        .await
        .map_err(crate::web::error::page_to_api)?;
    api_outcome(&state, &tenant, &current, &id, outcome).await
}

/// Resets a school's password: it is cleared and a set-password link goes to the contact
/// mobile by SMS (departments, own region).
#[utoipa::path(post, path = "/api/v1/t/{slug}/schools/{id}/password-reset", tag = "schools",
    params(("slug" = String, Path, description = "租户标识"), ("id" = i64, Path, description = "学校（机构）编号")),
    responses((status = 204, description = "已重置，链接已发送"), (status = 404, body = crate::web::error::ErrorBody),
        (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_reset_password(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
    Path(path): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id = path.1;
    let outcome = reset_password(&state, &tenant, &current, &id)
        .await
        .map_err(crate::web::error::page_to_api)?;
    api_outcome(&state, &tenant, &current, &id, outcome).await
}
