//! 分支账号管理 (province branches) and 县区账号管理 (city branches): the branches of one's
//! company below one's own, and the form that opens a new one.
//!
//! A new branch gets no password: its contact receives by SMS a set-password link
//! (`/t/{slug}/activate?token=…`), queued in the same transaction as the branch. Where a branch
//! may be opened is decided by `xiaobao_identity::branches` from the creator's stored region
//! path; the form only offers what that check would accept.

use askama::Template;
use axum::Json;
use axum::extract::rejection::{FormRejection, JsonRejection, QueryRejection};
use axum::extract::{Form, Query};
use axum::http::{Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use utoipa_axum::routes;
use xiaobao_authz::Permission;
use xiaobao_domain::Role;
use xiaobao_domain::{Failure, Outcome, Refusal};
use xiaobao_identity::branches::{BranchLevel, BranchRow, NewBranch, RegionChoice};
use xiaobao_identity::service::branches::BranchOverview;
use xiaobao_identity::service::{Branches, SetPasswordLink};

use crate::AppState;
use crate::web::auth::{Current, Routes};
use crate::web::call::{ApiCall, Called, PageCall};
use crate::web::csrf::CsrfToken;
use crate::web::error::{ApiError, PageError, refusal_status};
use crate::web::layout::Layout;
use crate::web::nav::Section;
use crate::web::session::WebSession;

pub fn routes() -> Routes {
    Routes::new()
        .page(
            Method::GET,
            "/t/{slug}/branches",
            Permission::BRANCH_ACCOUNTS_LIST,
            show_branches,
        )
        .page(
            Method::POST,
            "/t/{slug}/branches",
            Permission::BRANCH_ACCOUNTS_CREATE,
            submit_branch,
        )
        .api(Permission::BRANCH_ACCOUNTS_LIST, routes!(api_list_branches))
        .api(
            Permission::BRANCH_ACCOUNTS_CREATE,
            routes!(api_create_branch),
        )
}

/// A branch as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct BranchView {
    org_id: i64,
    /// The branch's name (公司名称).
    name: String,
    /// `city` or `county`.
    branch_level: String,
    /// 市级分公司 / 县区支公司.
    branch_level_label: String,
    region_code: String,
    region_name: String,
    company_name: Option<String>,
    parent_org_id: Option<i64>,
    parent_name: Option<String>,
    contact_name: Option<String>,
    /// Masked: `138****5678`.
    contact_mobile: Option<String>,
    status: String,
    account_id: Option<i64>,
    login_name: Option<String>,
    /// Whether the contact has set the password through the link.
    has_password: bool,
    created_at: DateTime<FixedOffset>,
}

fn level_label(level: &str) -> String {
    BranchLevel::parse(level)
        .map(|l| l.label().to_string())
        .unwrap_or_else(|| level.to_string())
}

impl From<BranchRow> for BranchView {
    fn from(r: BranchRow) -> Self {
        Self {
            org_id: r.org_id,
            branch_level_label: level_label(&r.branch_level),
            name: r.name,
            branch_level: r.branch_level,
            region_code: r.region_code,
            region_name: match r.parent_region_name {
                Some(city) if r.region_name != city => format!("{city} · {}", r.region_name),
                _ => r.region_name,
            },
            company_name: r.company_name,
            parent_org_id: r.parent_org_id,
            parent_name: r.parent_name,
            contact_name: r.contact_name,
            contact_mobile: r.contact_mobile,
            status: r.status.to_string(),
            account_id: r.account_id,
            login_name: r.login_name,
            has_password: r.has_password,
            created_at: crate::web::time::to_cst(r.created_at),
        }
    }
}

/// What the creator enters (form fields and JSON body alike).
#[derive(Debug, Default, Clone, Deserialize, utoipa::ToSchema)]
pub(crate) struct BranchInput {
    /// `city` or `county`; a city branch may leave it out (it opens county branches only).
    #[serde(default)]
    branch_level: Option<String>,
    /// The region the branch is responsible for (6 digits), strictly inside one's own.
    #[serde(default)]
    region_code: Option<String>,
    /// The branch's name (公司名称).
    #[serde(default)]
    name: Option<String>,
    /// 4–40 letters, digits, `-`, `_` or Chinese characters; unique among insurer accounts.
    #[serde(default)]
    login_name: Option<String>,
    #[serde(default)]
    contact_name: Option<String>,
    /// The contact's mobile: the set-password link is sent there.
    #[serde(default)]
    contact_mobile: Option<String>,
}

impl BranchInput {
    fn to_new(&self, viewer_role: Option<Role>) -> NewBranch {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        let mut branch_level = text(&self.branch_level);
        if branch_level.trim().is_empty() && viewer_role == Some(Role::InsurerCity) {
            branch_level = BranchLevel::County.as_str().to_string();
        }
        NewBranch {
            branch_level,
            region_code: text(&self.region_code),
            name: text(&self.name),
            login_name: text(&self.login_name),
            contact_name: text(&self.contact_name),
            contact_mobile: text(&self.contact_mobile),
        }
    }
}

fn service(call: &impl Called) -> Branches {
    Branches::new(call.caller())
}

/// Opens the branch (its set-password link goes to the contact by SMS).
async fn create_branch(
    call: &impl Called,
    state: &AppState,
    slug: &str,
    input: &BranchInput,
) -> Outcome<BranchRow> {
    let new = input.to_new(call.caller().viewer.primary_role());
    let link = SetPasswordLink {
        activate_url: format!("{}/t/{slug}/activate", state.config.public_url()),
        ttl: chrono::Duration::hours(i64::from(state.config.auth.link_ttl_hours)),
    };
    service(call).create(&new, &state.auth.codes, &link).await
}

/// One line of the list page.
struct BranchLine {
    name: String,
    level: String,
    region: String,
    login_name: String,
    contact: String,
    parent_name: String,
    state: &'static str,
    created_at: String,
}

impl From<BranchRow> for BranchLine {
    fn from(r: BranchRow) -> Self {
        let v = BranchView::from(r);
        Self {
            name: v.name,
            level: v.branch_level_label,
            region: v.region_name,
            login_name: v.login_name.unwrap_or_default(),
            contact: match (v.contact_name, v.contact_mobile) {
                (Some(n), Some(m)) => format!("{n} {m}"),
                (Some(n), None) => n,
                (None, Some(m)) => m,
                (None, None) => String::new(),
            },
            parent_name: v.parent_name.unwrap_or_default(),
            state: if v.status != "active" {
                "已停用"
            } else if v.has_password {
                "正常"
            } else {
                "待设置密码"
            },
            created_at: v.created_at.format("%Y-%m-%d %H:%M").to_string(),
        }
    }
}

/// A choice of a select.
struct Choice {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Default)]
struct FieldErrors {
    form: Option<String>,
    branch_level: Option<String>,
    region_code: Option<String>,
    name: Option<String>,
    login_name: Option<String>,
    contact_name: Option<String>,
    contact_mobile: Option<String>,
}

impl FieldErrors {
    fn of(refusal: &Refusal) -> Self {
        let mut e = FieldErrors::default();
        let message = Some(refusal.message.clone());
        if refusal.code != "invalid_input" {
            // The level or region of the creator's own: about the whole form.
            e.form = message;
            return e;
        }
        match refusal.field.as_deref().unwrap_or_default() {
            "branch_level" => e.branch_level = message,
            "region_code" => e.region_code = message,
            "name" => e.name = message,
            "login_name" => e.login_name = message,
            "contact_name" => e.contact_name = message,
            _ => e.contact_mobile = message,
        }
        e
    }
}

#[derive(Template)]
#[template(path = "branches.html")]
struct BranchesPage {
    layout: Layout,
    heading: &'static str,
    company_name: String,
    rows: Vec<BranchLine>,
    can_create: bool,
    /// Only a province branch chooses the level; a city branch opens county branches.
    choose_level: bool,
    levels: Vec<Choice>,
    regions: Vec<Choice>,
    input: BranchInput,
    errors: FieldErrors,
    created: Option<String>,
    action: String,
    csrf: CsrfToken,
}

fn heading_of(current: &Current) -> (&'static str, Section) {
    if current.viewer().has(Role::InsurerProvince) {
        ("分支账号管理", Section::BranchAccounts)
    } else {
        ("县区账号管理", Section::CountyAccounts)
    }
}

fn region_label(r: &RegionChoice) -> String {
    match (&r.parent_name, r.level.as_str()) {
        (Some(city), "county" | "direct") => format!("{city} · {}", r.name),
        _ => r.name.clone(),
    }
}

async fn render_page(
    call: &PageCall,
    session: &mut WebSession,
    input: BranchInput,
    errors: FieldErrors,
    created: Option<i64>,
) -> Result<Html<String>, PageError> {
    let (state, page, current) = (&call.state, &call.page, &call.current);
    let BranchOverview {
        creator,
        rows,
        choices,
    } = call.take(service(call).overview().await).await?;
    let created = created
        .and_then(|id| rows.iter().find(|r| r.org_id == id))
        .map(|r| {
            format!(
                "已开设分支账号“{}”（登录账号 {}），设置密码的链接已通过短信发送至联系人手机 {}。",
                r.name,
                r.login_name.clone().unwrap_or_default(),
                r.contact_mobile.clone().unwrap_or_default()
            )
        });
    let can_create = !creator.may_open().is_empty()
        && state
            .auth
            .authz
            .allows(&current.viewer().roles, Permission::BRANCH_ACCOUNTS_CREATE);
    let chosen_level = input.branch_level.clone().unwrap_or_default();
    let levels = creator
        .may_open()
        .iter()
        .map(|l| Choice {
            value: l.as_str().to_string(),
            label: l.label().to_string(),
            selected: chosen_level == l.as_str(),
        })
        .collect();
    let chosen_region = input.region_code.clone().unwrap_or_default();
    let regions = choices
        .iter()
        .map(|r| Choice {
            value: r.region_code.clone(),
            label: format!("{}（{}）", region_label(r), r.branch_level().label()),
            selected: chosen_region == r.region_code,
        })
        .collect();
    let (heading, section) = heading_of(current);
    let view = BranchesPage {
        layout: Layout::tenant(page, session, section, Some(heading)).await?,
        heading,
        company_name: creator.company_name.clone().unwrap_or_default(),
        rows: rows.into_iter().map(BranchLine::from).collect(),
        can_create,
        choose_level: creator.may_open().len() > 1,
        levels,
        regions,
        input,
        errors,
        created,
        action: page.href("branches"),
        csrf: session.csrf_token().await?,
    };
    Ok(Html(view.render()?))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    created: Option<i64>,
}

async fn show_branches(
    call: PageCall,
    mut session: WebSession,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Html<String>, PageError> {
    let created = query.ok().and_then(|q| q.0.created);
    let (input, errors) = (BranchInput::default(), FieldErrors::default());
    render_page(&call, &mut session, input, errors, created).await
}

async fn submit_branch(
    call: PageCall,
    mut session: WebSession,
    form: Result<Form<BranchInput>, FormRejection>,
) -> Result<Response, PageError> {
    let input = form.map(|Form(f)| f).unwrap_or_default();
    let refusal = match create_branch(&call, &call.state, &call.page.tenant.slug, &input).await {
        Ok(created) => {
            let to = call
                .page
                .href(&format!("branches?created={}", created.org_id));
            return Ok(Redirect::to(&to).into_response());
        }
        Err(Failure::Refused(r)) if !r.is_not_found() => r,
        Err(f) => return Err(call.fail(f).await),
    };
    let errors = FieldErrors::of(&refusal);
    let html = render_page(&call, &mut session, input, errors, None).await?;
    Ok((refusal_status(refusal.class), html).into_response())
}

/// The branches of one's company below one's own branch (contact mobiles masked).
#[utoipa::path(get, path = "/api/v1/t/{slug}/branches", tag = "branches",
    params(("slug" = String, Path, description = "租户标识")),
    responses((status = 200, body = Vec<BranchView>), (status = 403, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_list_branches(call: ApiCall) -> Result<Json<Vec<BranchView>>, ApiError> {
    let rows = call.answer(service(&call).list().await).await?.0;
    Ok(Json(rows.into_iter().map(BranchView::from).collect()))
}

/// Opens a city or county branch below one's own; its contact gets a set-password link by SMS.
#[utoipa::path(post, path = "/api/v1/t/{slug}/branches", tag = "branches",
    params(("slug" = String, Path, description = "租户标识")),
    request_body = BranchInput,
    responses((status = 201, body = BranchView), (status = 403, body = crate::web::error::ErrorBody),
        (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_create_branch(
    call: ApiCall,
    body: Result<Json<BranchInput>, JsonRejection>,
) -> Result<(StatusCode, Json<BranchView>), ApiError> {
    let Json(input) = body.map_err(|e| crate::web::error::bad_json(&e))?;
    let created = create_branch(&call, &call.state, &call.tenant.slug, &input).await;
    let row = call.answer(created).await?.0;
    Ok((StatusCode::CREATED, Json(BranchView::from(row))))
}
