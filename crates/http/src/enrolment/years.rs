//! 学年管理: the academic years with their rules, and opening one.

use std::sync::Arc;

use askama::Template;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use xiaobao_db::Tenant;
use xiaobao_domain::{AcademicYear, Failure};
use xiaobao_enrolment::years::{self, YearView};

use crate::AppState;
use crate::web::auth::Current;
use crate::web::call::Reply;
use crate::web::csrf::CsrfToken;
use crate::web::error::PageError;
use crate::web::layout::Layout;
use crate::web::nav::Section;
use crate::web::session::WebSession;
use crate::web::tenant::{ApiTenant, PageTenant};

use super::admin::*;

pub(super) async fn load_years(
    state: &AppState,
    tenant: &Arc<Tenant>,
    current: &Current,
) -> Result<Vec<YearView>, Failure> {
    enrolments(state, tenant, current).years().await
}

pub(super) struct YearLine {
    v: YearView,
    products: String,
    deadlines: String,
    cover: String,
    admissions: String,
    opened: String,
    action: String,
}

#[derive(Template)]
#[template(path = "enrolment_admin_years.html")]
pub(super) struct YearsPage {
    layout: Layout,
    csrf: CsrfToken,
    years: Vec<YearLine>,
    done: bool,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct DoneQuery {
    pub done: Option<String>,
}

pub(super) async fn show_years(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    _current: Current,
    query: Result<Query<DoneQuery>, QueryRejection>,
) -> Response {
    let result = async {
        let list = load_years(&state, &page.tenant, &_current).await?;
        let view = YearsPage {
            layout: Layout::tenant(
                &page,
                &mut session,
                Section::EnrolmentYears,
                Some("学年管理"),
            )
            .await?,
            csrf: session.csrf_token().await?,
            done: query.ok().and_then(|Query(q)| q.done).is_some(),
            years: list
                .into_iter()
                .map(|v| YearLine {
                    products: v
                        .products
                        .iter()
                        .map(|p| format!("{}（{}）", p.name, p.insured))
                        .collect::<Vec<_>>()
                        .join("、"),
                    deadlines: v
                        .deadlines
                        .iter()
                        .map(|(l, d)| format!("{l}：{d}"))
                        .collect::<Vec<_>>()
                        .join("；"),
                    cover: format!("{} 至 {}", v.cover_start, v.cover_end),
                    admissions: v
                        .admissions
                        .iter()
                        .map(|a| format!("{}（{}）", a.company_name, a.region_name))
                        .collect::<Vec<_>>()
                        .join("、"),
                    opened: v
                        .opened
                        .as_ref()
                        .map(|o| {
                            format!(
                                "已开放（{}，{}）",
                                o.opened_by,
                                crate::web::time::cst(o.opened_at)
                            )
                        })
                        .unwrap_or_default(),
                    action: page.href(&format!("enrolment/years/{}/open", v.academic_year)),
                    v,
                })
                .collect(),
        };
        Ok::<_, Failure>(Html(view.render().map_err(PageError::from)?).into_response())
    }
    .await;
    result.unwrap_or_else(|f| f.page(&page))
}

pub(super) async fn open_year(
    state: &AppState,
    tenant: &Arc<Tenant>,
    current: &Current,
    year: &str,
) -> Result<years::YearRow, Failure> {
    let year = AcademicYear::asked(year)?;
    enrolments(state, tenant, current).open_year(year).await
}

pub(super) async fn submit_open(
    State(state): State<AppState>,
    page: PageTenant,
    current: Current,
    Path((_, year)): Path<(String, String)>,
) -> Response {
    match open_year(&state, &page.tenant, &current, &year).await {
        Ok(_) => Redirect::to(&page.href("enrolment/years?done=opened")).into_response(),
        Err(f) => f.page(&page),
    }
}

/// The academic years with their rules: products, deadlines, cover and whether opened.
#[utoipa::path(get, path = "/api/v1/t/{slug}/enrolment/years", tag = "enrolment",
    params(("slug" = String, Path, description = "租户标识")),
    responses((status = 200, body = Vec<YearView>, description = "学年列表"),
        (status = 403, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_years(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    _current: Current,
) -> Response {
    match load_years(&state, &tenant, &_current).await {
        Ok(v) => Json(v).into_response(),
        Err(f) => f.api(),
    }
}

/// Opens an academic year for enrolment.
#[utoipa::path(post, path = "/api/v1/t/{slug}/enrolment/years/{year}/open", tag = "enrolment",
    params(("slug" = String, Path, description = "租户标识"), ("year" = String, Path, description = "学年，如 2025-2026")),
    responses((status = 201, body = years::YearRow, description = "已开放的学年"),
        (status = 403, body = crate::web::error::ErrorBody), (status = 404, body = crate::web::error::ErrorBody),
        (status = 409, body = crate::web::error::ErrorBody), (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_open(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
    Path((_slug, year)): Path<(String, String)>,
) -> Response {
    match open_year(&state, &tenant, &current, &year).await {
        Ok(row) => (StatusCode::CREATED, Json(row)).into_response(),
        Err(f) => f.api(),
    }
}
