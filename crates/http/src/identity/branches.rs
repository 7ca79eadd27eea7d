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
use axum::extract::{Form, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use xiaobao_authz::Permission;
use xiaobao_domain::Role;
use xiaobao_identity::CodePurpose;
use xiaobao_identity::branches::{
    self, BranchLevel, BranchRefusal, BranchRow, CreatedBranch, Creator, NewBranch, RegionChoice,
};
use xiaobao_notify::{Notification, Template as Message};

use crate::AppState;
use crate::web::auth::{Current, Routes};
use crate::web::csrf::CsrfToken;
use crate::web::error::ApiError;
use crate::web::error::page_to_api;
use crate::web::error::{PageError, internal};
use crate::web::layout::Layout;
use crate::web::nav::Section;
use crate::web::session::WebSession;
use crate::web::tenant::{ApiTenant, PageTenant};

pub fn routes() -> Routes {
    Routes::new()
        .guarded(
            Method::GET,
            "/t/{slug}/branches",
            Permission::BRANCH_ACCOUNTS_LIST,
            get(show_branches),
        )
        .guarded(
            Method::POST,
            "/t/{slug}/branches",
            Permission::BRANCH_ACCOUNTS_CREATE,
            post(submit_branch),
        )
        .guarded(
            Method::GET,
            "/api/v1/t/{slug}/branches",
            Permission::BRANCH_ACCOUNTS_LIST,
            get(api_list_branches),
        )
        .guarded(
            Method::POST,
            "/api/v1/t/{slug}/branches",
            Permission::BRANCH_ACCOUNTS_CREATE,
            post(api_create_branch),
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
            status: r.status,
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

async fn load_creator(
    conn: &mut sqlx::PgConnection,
    current: &Current,
) -> Result<Creator, PageError> {
    branches::creator(conn, current.viewer().org_id)
        .await
        .map_err(internal)?
        .ok_or(PageError::NotFound)
}

/// Opens the branch, issues its set-password link and queues the SMS, in one transaction.
async fn create_branch(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
    input: &BranchInput,
) -> Result<Result<CreatedBranch, BranchRefusal>, PageError> {
    let actor = current.actor();
    let new = input.to_new(current.viewer().primary_role());
    let mut tx = state.db.tenant_tx(tenant).await?;
    let created = match branches::create(&mut tx, &actor, current.viewer().org_id, &new)
        .await
        .map_err(internal)?
    {
        Ok(created) => created,
        Err(refusal) => {
            // A refusal of scope left its audit row.
            tx.commit().await?;
            return Ok(Err(refusal));
        }
    };
    let ttl = chrono::Duration::hours(i64::from(state.config.auth.link_ttl_hours));
    let token = state
        .auth
        .codes
        .issue_link_token(&mut tx, created.account_id, CodePurpose::SetPassword, ttl)
        .await
        .map_err(internal)?;
    let url = format!(
        "{}/t/{}/activate?token={token}",
        state.config.public_url(),
        tenant.slug
    );
    let notification_id = xiaobao_notify::queue(
        &mut tx,
        &Notification::sms(
            created.contact_mobile.clone(),
            Message::AccountOpened {
                org_name: created.name.clone(),
                login_name: created.login_name.clone(),
                set_password_url: url,
            },
        ),
    )
    .await
    .map_err(internal)?;
    xiaobao_audit::record(
        &mut tx,
        &actor,
        xiaobao_audit::Entry::new(
            "account.set_password_link_sent",
            "account",
            Some(created.account_id),
        )
        .detail("channel", "sms")
        .detail("contact_mobile", &created.contact_mobile)
        .detail("notification_id", notification_id.0),
    )
    .await
    .map_err(internal)?;
    tx.commit().await?;
    Ok(Ok(created))
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
    fn of(refusal: &BranchRefusal) -> Self {
        let mut e = FieldErrors::default();
        let message = Some(refusal.to_string());
        match refusal {
            BranchRefusal::OutsideSubtree | BranchRefusal::LevelNotAllowed(_) => {
                e.form = message;
            }
            BranchRefusal::Invalid { field, .. } => match *field {
                "branch_level" => e.branch_level = message,
                "region_code" => e.region_code = message,
                "name" => e.name = message,
                "login_name" => e.login_name = message,
                "contact_name" => e.contact_name = message,
                _ => e.contact_mobile = message,
            },
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
    state: &AppState,
    page: &PageTenant,
    session: &mut WebSession,
    current: &Current,
    input: BranchInput,
    errors: FieldErrors,
    created: Option<i64>,
) -> Result<Html<String>, PageError> {
    let mut tx = state.db.tenant_tx(&page.tenant).await?;
    let creator = load_creator(&mut tx, current).await?;
    let rows = branches::list_below(&mut tx, &creator)
        .await
        .map_err(internal)?;
    let choices = branches::region_choices(&mut tx, &creator)
        .await
        .map_err(internal)?;
    tx.commit().await?;
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
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Html<String>, PageError> {
    let created = query.ok().and_then(|q| q.0.created);
    render_page(
        &state,
        &page,
        &mut session,
        &current,
        BranchInput::default(),
        FieldErrors::default(),
        created,
    )
    .await
}

async fn submit_branch(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    form: Result<Form<BranchInput>, FormRejection>,
) -> Result<Response, PageError> {
    let input = form.map(|Form(f)| f).unwrap_or_default();
    match create_branch(&state, &page.tenant, &current, &input).await? {
        Ok(created) => Ok(Redirect::to(
            &page.href(&format!("branches?created={}", created.org_id)),
        )
        .into_response()),
        Err(refusal) => {
            let html = render_page(
                &state,
                &page,
                &mut session,
                &current,
                input,
                FieldErrors::of(&refusal),
                None,
            )
            .await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
    }
}

/// The branches of one's company below one's own branch (contact mobiles masked).
#[utoipa::path(get, path = "/api/v1/t/{slug}/branches", tag = "branches",
    params(("slug" = String, Path, description = "租户标识")),
    responses((status = 200, body = Vec<BranchView>), (status = 403, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_list_branches(
    State(state): State<AppState>,
    tenant: ApiTenant,
    current: Current,
) -> Result<Json<Vec<BranchView>>, ApiError> {
    let mut tx = state.db.tenant_tx(&tenant.0).await?;
    let creator = load_creator(&mut tx, &current).await.map_err(page_to_api)?;
    let rows = branches::list_below(&mut tx, &creator)
        .await
        .map_err(|e| ApiError::Internal(Box::new(e)))?;
    tx.commit().await?;
    Ok(Json(rows.into_iter().map(BranchView::from).collect()))
}

/// Opens a city or county branch below one's own; its contact gets a set-password link by SMS.
#[utoipa::path(post, path = "/api/v1/t/{slug}/branches", tag = "branches",
    params(("slug" = String, Path, description = "租户标识")),
    request_body = BranchInput,
    responses((status = 201, body = BranchView), (status = 403, body = crate::web::error::ErrorBody),
        (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_create_branch(
    State(state): State<AppState>,
    tenant: ApiTenant,
    current: Current,
    body: Result<Json<BranchInput>, JsonRejection>,
) -> Result<(StatusCode, Json<BranchView>), ApiError> {
    let Json(input) = body.map_err(|e| crate::web::error::bad_json(&e))?;
    let created = match create_branch(&state, &tenant.0, &current, &input)
        .await
        .map_err(page_to_api)?
    {
        Ok(created) => created,
        Err(refusal) => return Err(ApiError::invalid(refusal.field(), refusal.to_string())),
    };
    let mut tx = state.db.tenant_tx(&tenant.0).await?;
    let creator = load_creator(&mut tx, &current).await.map_err(page_to_api)?;
    let row = branches::get_below(&mut tx, &creator, created.org_id)
        .await
        .map_err(|e| ApiError::Internal(Box::new(e)))?
        .ok_or_else(|| ApiError::NotFound("分支账号不存在".into()))?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(BranchView::from(row))))
}
