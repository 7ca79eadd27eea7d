//! The console's pages: tenants, clusters, holiday calendars, the operators' audit trail.

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, Request};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use xiaobao_domain::{Failure, Refusal};
use xiaobao_platform::calendar_file::MAX_FILE_BYTES;
use xiaobao_platform::console::{
    CalendarPreview, CalendarYearView, ClusterView, RulesSource, TenantInput, TenantView,
};

use super::{MultipartProblem, OperatorCall, layout, read_multipart};
use crate::web::csrf::CsrfToken;
use crate::web::error::{PageError, refusal_status};
use crate::web::layout::Layout;
use crate::web::session::WebSession;
use crate::web::time::cst;

/// The largest rules file accepted on the page (the rules context's own limit).
const MAX_RULES_BYTES: usize = 256 * 1024;

/// A refusal shown on its page, with its status; anything else is the failure's page.
fn refusal_of(f: Failure) -> Result<(StatusCode, String), PageError> {
    match f {
        Failure::Refused(r) if !r.is_not_found() => Ok((refusal_status(r.class), r.message)),
        f => Err(f.into()),
    }
}

fn multipart_refusal(p: MultipartProblem) -> Failure {
    match p {
        MultipartProblem::TooLarge => Refusal::too_large("文件过大，本次提交未被处理").into(),
        MultipartProblem::Unreadable(m) => Refusal::invalid_field("file", m).into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Tenants
// ---------------------------------------------------------------------------------------------

struct TenantRow {
    slug: String,
    name_zh: String,
    root_region_code: String,
    cluster: String,
    status: &'static str,
    active: bool,
    created_at: String,
}

fn tenant_row(t: TenantView) -> TenantRow {
    TenantRow {
        status: match t.status.as_str() {
            "active" => "在用",
            "archived" => "已归档",
            _ => "开通中",
        },
        active: t.status == "active",
        created_at: cst(t.created_at),
        slug: t.slug,
        name_zh: t.name_zh,
        root_region_code: t.root_region_code,
        cluster: t.cluster,
    }
}

#[derive(Default)]
struct TenantForm {
    slug: String,
    name_zh: String,
    root_region_code: String,
    cluster: String,
    academic_year: String,
    copy_from: String,
}

#[derive(Template)]
#[template(path = "platform_tenants.html")]
struct TenantsPage {
    layout: Layout,
    csrf: CsrfToken,
    tenants: Vec<TenantRow>,
    clusters: Vec<String>,
    form: TenantForm,
    notice: Option<String>,
    refusal: Option<String>,
}

async fn tenants_page(
    call: &OperatorCall,
    session: &mut WebSession,
    status: StatusCode,
    form: TenantForm,
    notice: Option<String>,
    refusal: Option<String>,
) -> Result<Response, PageError> {
    let console = call.console();
    let page = TenantsPage {
        layout: layout(call, session, "tenants", "租户").await?,
        csrf: session.csrf_token().await?,
        tenants: console
            .tenants()
            .await?
            .into_iter()
            .map(tenant_row)
            .collect(),
        clusters: console.cluster_names(),
        form,
        notice,
        refusal,
    };
    Ok((status, Html(page.render()?)).into_response())
}

pub(crate) async fn tenants(
    call: OperatorCall,
    mut session: WebSession,
) -> Result<Response, PageError> {
    let form = TenantForm {
        cluster: xiaobao_config::MAIN_CLUSTER.into(),
        academic_year: call.state.clock.academic_year().next().to_string(),
        ..TenantForm::default()
    };
    tenants_page(&call, &mut session, StatusCode::OK, form, None, None).await
}

pub(crate) async fn create_tenant(
    call: OperatorCall,
    mut session: WebSession,
    request: Request,
) -> Result<Response, PageError> {
    let mut form = TenantForm::default();
    let outcome = async {
        let mut parts = read_multipart(request, MAX_RULES_BYTES)
            .await
            .map_err(multipart_refusal)?;
        let mut take = |k: &str| {
            parts
                .fields
                .remove(k)
                .unwrap_or_default()
                .trim()
                .to_string()
        };
        form = TenantForm {
            slug: take("slug"),
            name_zh: take("name_zh"),
            root_region_code: take("root_region_code"),
            cluster: take("cluster"),
            academic_year: take("academic_year"),
            copy_from: take("copy_from"),
        };
        let rules = match (parts.files.remove("rules_file"), form.copy_from.is_empty()) {
            (Some(_), false) => {
                return Err(Refusal::invalid_field(
                    "rules_file",
                    "请在上传规则文件和从已有项目复制中二选一",
                )
                .into());
            }
            (Some(bytes), true) => Some(RulesSource::Document(String::from_utf8(bytes).map_err(
                |_| Refusal::invalid_field("rules_file", "规则文件应为 UTF-8 编码的 TOML 文本"),
            )?)),
            (None, false) => Some(RulesSource::CopyFrom(form.copy_from.clone())),
            (None, true) => None,
        };
        call.console()
            .create_tenant(TenantInput {
                slug: form.slug.clone(),
                name_zh: form.name_zh.clone(),
                root_region_code: form.root_region_code.clone(),
                cluster: form.cluster.clone(),
                academic_year: form.academic_year.clone(),
                rules,
            })
            .await
    }
    .await;
    match outcome {
        Ok(t) => {
            let notice = format!(
                "已开通租户 {}（{}），访问地址 /t/{}/",
                t.name_zh, t.slug, t.slug
            );
            tenants_page(
                &call,
                &mut session,
                StatusCode::OK,
                TenantForm::default(),
                Some(notice),
                None,
            )
            .await
        }
        Err(f) => {
            let (status, message) = refusal_of(f)?;
            tenants_page(&call, &mut session, status, form, None, Some(message)).await
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ArchiveForm {
    #[serde(default)]
    confirm: String,
}

pub(crate) async fn archive_tenant(
    call: OperatorCall,
    mut session: WebSession,
    Path(slug): Path<String>,
    form: Result<Form<ArchiveForm>, FormRejection>,
) -> Result<Response, PageError> {
    let confirm = form.map(|Form(f)| f.confirm).unwrap_or_default();
    match call.console().archive_tenant(&slug, &confirm).await {
        Ok(t) => {
            let notice = format!("租户 {} 已归档，数据已保留", t.slug);
            tenants_page(
                &call,
                &mut session,
                StatusCode::OK,
                TenantForm::default(),
                Some(notice),
                None,
            )
            .await
        }
        Err(f) => {
            let (status, message) = refusal_of(f)?;
            tenants_page(
                &call,
                &mut session,
                status,
                TenantForm::default(),
                None,
                Some(message),
            )
            .await
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Clusters
// ---------------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "platform_clusters.html")]
struct ClustersPage {
    layout: Layout,
    clusters: Vec<ClusterView>,
}

pub(crate) async fn clusters(
    call: OperatorCall,
    mut session: WebSession,
) -> Result<Html<String>, PageError> {
    let page = ClustersPage {
        layout: layout(&call, &mut session, "clusters", "数据库集群").await?,
        clusters: call.console().clusters().await?,
    };
    Ok(Html(page.render()?))
}

// ---------------------------------------------------------------------------------------------
// Holiday calendars
// ---------------------------------------------------------------------------------------------

struct YearRow {
    y: CalendarYearView,
    updated_at: String,
}

#[derive(Template)]
#[template(path = "platform_calendars.html")]
struct CalendarsPage {
    layout: Layout,
    csrf: CsrfToken,
    years: Vec<YearRow>,
    preview: Option<CalendarPreview>,
    source: String,
    notice: Option<String>,
    refusal: Option<String>,
}

async fn calendars_page(
    call: &OperatorCall,
    session: &mut WebSession,
    status: StatusCode,
    preview: Option<CalendarPreview>,
    source: String,
    notice: Option<String>,
    refusal: Option<String>,
) -> Result<Response, PageError> {
    let years = call
        .console()
        .calendar_years()
        .await?
        .into_iter()
        .map(|y| YearRow {
            updated_at: cst(y.updated_at),
            y,
        })
        .collect();
    let page = CalendarsPage {
        layout: layout(call, session, "calendars", "节假日日历").await?,
        csrf: session.csrf_token().await?,
        years,
        preview,
        source,
        notice,
        refusal,
    };
    Ok((status, Html(page.render()?)).into_response())
}

pub(crate) async fn calendars(
    call: OperatorCall,
    mut session: WebSession,
) -> Result<Response, PageError> {
    calendars_page(
        &call,
        &mut session,
        StatusCode::OK,
        None,
        String::new(),
        None,
        None,
    )
    .await
}

pub(crate) async fn preview_calendar(
    call: OperatorCall,
    mut session: WebSession,
    request: Request,
) -> Result<Response, PageError> {
    let mut source = String::new();
    let outcome = async {
        let mut parts = read_multipart(request, MAX_FILE_BYTES)
            .await
            .map_err(|p| match p {
                MultipartProblem::TooLarge => Failure::from(Refusal::too_large(format!(
                    "文件过大，日历文件最多 {} KB",
                    MAX_FILE_BYTES / 1024
                ))),
                other => multipart_refusal(other),
            })?;
        source = parts.fields.remove("source").unwrap_or_default();
        let bytes = parts
            .files
            .remove("file")
            .ok_or_else(|| Refusal::invalid_field("file", "请选择要上传的日历文件"))?;
        call.console().preview_calendar(bytes).await
    }
    .await;
    match outcome {
        Ok(preview) => {
            calendars_page(
                &call,
                &mut session,
                StatusCode::OK,
                Some(preview),
                source,
                None,
                None,
            )
            .await
        }
        Err(f) => {
            let (status, message) = refusal_of(f)?;
            calendars_page(
                &call,
                &mut session,
                status,
                None,
                source,
                None,
                Some(message),
            )
            .await
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ImportForm {
    #[serde(default)]
    document: String,
    #[serde(default)]
    source: String,
}

pub(crate) async fn import_calendar(
    call: OperatorCall,
    mut session: WebSession,
    form: Result<Form<ImportForm>, FormRejection>,
) -> Result<Response, PageError> {
    let f = form.map(|Form(f)| f).unwrap_or_default();
    match call.console().import_calendar(&f.document, &f.source).await {
        Ok(done) => {
            let years: Vec<String> = done.years.iter().map(|y| y.year.to_string()).collect();
            let notice = format!(
                "已导入 {} 年的节假日安排，工作日计算即时生效",
                years.join("、")
            );
            calendars_page(
                &call,
                &mut session,
                StatusCode::OK,
                None,
                String::new(),
                Some(notice),
                None,
            )
            .await
        }
        Err(e) => {
            let (status, message) = refusal_of(e)?;
            calendars_page(
                &call,
                &mut session,
                status,
                None,
                f.source,
                None,
                Some(message),
            )
            .await
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The audit trail
// ---------------------------------------------------------------------------------------------

struct AuditLine {
    at: String,
    actor: String,
    action: String,
    entity: String,
    entity_id: Option<String>,
    detail: String,
    ip: Option<String>,
}

#[derive(Template)]
#[template(path = "platform_audit.html")]
struct AuditPage {
    layout: Layout,
    rows: Vec<AuditLine>,
}

pub(crate) async fn audit(
    call: OperatorCall,
    mut session: WebSession,
) -> Result<Html<String>, PageError> {
    let rows = call
        .console()
        .audit_trail(None)
        .await?
        .into_iter()
        .map(|r| AuditLine {
            at: cst(r.at),
            actor: r.actor,
            action: r.action,
            entity: r.entity,
            entity_id: r.entity_id,
            detail: r.detail.to_string(),
            ip: r.ip,
        })
        .collect();
    let page = AuditPage {
        layout: layout(&call, &mut session, "audit", "运营操作日志").await?,
        rows,
    };
    Ok(Html(page.render()?))
}
