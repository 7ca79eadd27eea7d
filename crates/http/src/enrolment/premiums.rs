//! 保费统计: premium totals by region, insurer or school, with a total per product.

use std::sync::Arc;

use askama::Template;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use xiaobao_db::Tenant;
use xiaobao_domain::{AcademicYear, Failure};
use xiaobao_enrolment::progress::{TotalLine, TotalsBy};

use crate::AppState;
use crate::web::auth::Current;
use crate::web::call::Reply;
use crate::web::error::ApiError;
use crate::web::error::PageError;
use crate::web::layout::Layout;
use crate::web::nav::Section;
use crate::web::session::WebSession;
use crate::web::tenant::{ApiTenant, PageTenant};

use super::admin::*;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PremiumsQuery {
    /// `county` (default), `city`, `insurer`, `school` or `programme`.
    #[param(value_type = Option<String>)]
    by: Option<TotalsBy>,
}

/// Premium totals and the grand total per product.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct PremiumsView {
    #[schema(value_type = String)]
    academic_year: AcademicYear,
    /// `county`, `city`, `insurer`, `school` or `programme`.
    #[schema(value_type = String)]
    by: TotalsBy,
    /// One line per group (region, insurer or school) and product.
    lines: Vec<TotalLine>,
    /// The total per product.
    totals: Vec<TotalLine>,
}

pub(super) async fn load_premiums(
    state: &AppState,
    tenant: &Arc<Tenant>,
    current: &Current,
    by: TotalsBy,
) -> Result<(PremiumsView, Vec<(String, String)>), Failure> {
    let (academic_year, lines, totals, names) =
        enrolments(state, tenant, current).premiums(by).await?;
    Ok((
        PremiumsView {
            academic_year,
            by,
            lines,
            totals,
        },
        names,
    ))
}

pub(super) struct TotalRow {
    label: String,
    product: String,
    enrolments: i64,
    headcount: i64,
    premium: String,
}

#[derive(Template)]
#[template(path = "enrolment_admin_premiums.html")]
pub(super) struct PremiumsPage {
    layout: Layout,
    year: String,
    by_label: &'static str,
    tabs: Vec<Tab>,
    lines: Vec<TotalRow>,
    totals: Vec<TotalRow>,
    /// Instead of the totals, when no year is open.
    notice: Option<&'static str>,
}

pub(super) async fn show_premiums(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    query: Result<Query<PremiumsQuery>, QueryRejection>,
) -> Response {
    let by = query
        .ok()
        .and_then(|Query(q)| q.by)
        .unwrap_or(TotalsBy::County);
    let result = async {
        let (v, names) = match load_premiums(&state, &page.tenant, &current, by).await {
            Ok(loaded) => loaded,
            Err(f) if no_year_open(&f) => {
                let view = PremiumsPage {
                    layout: Layout::tenant(
                        &page,
                        &mut session,
                        Section::Premiums,
                        Some("保费统计"),
                    )
                    .await?,
                    year: String::new(),
                    by_label: by.label(),
                    tabs: Vec::new(),
                    lines: Vec::new(),
                    totals: Vec::new(),
                    notice: Some(NO_YEAR_NOTICE),
                };
                return Ok::<_, Failure>(
                    Html(view.render().map_err(PageError::from)?).into_response(),
                );
            }
            Err(f) => return Err(f),
        };
        let product_name = |code: &str| {
            names
                .iter()
                .find(|(c, _)| c == code)
                .map_or(code.to_string(), |(_, n)| n.clone())
        };
        let row = |l: &TotalLine| TotalRow {
            label: l.label.clone(),
            product: product_name(&l.product_code),
            enrolments: l.enrolments,
            headcount: l.headcount,
            premium: yuan(l.premium_fen),
        };
        let tabs = [
            ("county", TotalsBy::County),
            ("city", TotalsBy::City),
            ("insurer", TotalsBy::Insurer),
            ("school", TotalsBy::School),
            ("programme", TotalsBy::Programme),
        ]
        .iter()
        .map(|(code, b)| Tab {
            label: format!("按{}", b.label()),
            href: page.href(&format!("enrolment/premiums?by={code}")),
            current: *b == by,
        })
        .collect();
        let view = PremiumsPage {
            layout: Layout::tenant(&page, &mut session, Section::Premiums, Some("保费统计"))
                .await?,
            year: v.academic_year.to_string(),
            by_label: by.label(),
            tabs,
            lines: v.lines.iter().map(row).collect(),
            totals: v.totals.iter().map(row).collect(),
            notice: None,
        };
        Ok(Html(view.render().map_err(PageError::from)?).into_response())
    }
    .await;
    result.unwrap_or_else(|f| f.page(&page))
}

/// Premium totals of the current year in the viewer's subtree.
#[utoipa::path(get, path = "/api/v1/t/{slug}/enrolment/premiums", tag = "enrolment",
    params(("slug" = String, Path, description = "租户标识"), PremiumsQuery),
    responses((status = 200, body = PremiumsView),
        (status = 403, body = crate::web::error::ErrorBody), (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_premiums(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
    query: Result<Query<PremiumsQuery>, QueryRejection>,
) -> Response {
    let by = match query {
        Ok(Query(q)) => q.by.unwrap_or(TotalsBy::County),
        Err(_) => {
            return ApiError::invalid("by", "by 应为 county、city、insurer、school 或 programme")
                .into_response();
        }
    };
    match load_premiums(&state, &tenant, &current, by).await {
        Ok((v, _)) => Json(v).into_response(),
        Err(f) => f.api(),
    }
}
