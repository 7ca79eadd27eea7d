//! The school list: filters, counts per region and status, paging.

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Html;
use serde::Deserialize;
use xiaobao_authz::Permission;
use xiaobao_identity::SchoolScope;
use xiaobao_identity::orgs::{self, SchoolFilter, SchoolRow};
use xiaobao_identity::school_admin::{self, RegionCount, RegionOption};

use crate::AppState;
use crate::web::auth::Current;
use crate::web::error::{PageError, internal};
use crate::web::layout::Layout;
use crate::web::session::WebSession;
use crate::web::tenant::PageTenant;

use super::*;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub(crate) struct ListQuery {
    /// A region of one's subtree: only its schools.
    pub(super) region_code: Option<String>,
    /// `active`, `pending`, `deregistered` or `refused`; live schools (active and pending)
    /// when absent.
    pub(super) status: Option<String>,
    /// Part of the school's name.
    pub(super) name: Option<String>,
    /// Page number, from 1.
    pub(super) page: Option<i64>,
    /// Rows per page (API only; 1–100, default 20).
    pub(super) per_page: Option<i64>,
}

pub(super) const STATUSES: [(&str, &str); 4] = [
    ("active", "已通过审核"),
    ("pending", "待审核"),
    ("deregistered", "已注销"),
    ("refused", "未通过审核"),
];

pub(super) fn clean(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// The list's filters after checking them against the viewer's scope.
pub(super) struct Filters {
    pub(super) region_code: Option<String>,
    pub(super) status: Option<String>,
    pub(super) name: Option<String>,
    pub(super) page: i64,
    pub(super) per_page: i64,
}

/// One page of the list with everything the page shows around it.
pub(super) struct Listing {
    pub(super) rows: Vec<SchoolRow>,
    pub(super) total: i64,
    /// The regions of the viewer's subtree (Region scope only).
    pub(super) regions: Vec<RegionOption>,
    pub(super) region_counts: Vec<RegionCount>,
    pub(super) status_counts: Vec<(String, i64)>,
    pub(super) pending_requests: usize,
}

/// Checks the filters: a region outside the viewer's subtree or an unknown status is the
/// field's problem.
pub(super) fn check_filters(
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

pub(super) async fn subtree(
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

pub(super) async fn load_listing(
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

pub(super) struct Choice {
    pub(super) value: String,
    pub(super) label: String,
    pub(super) selected: bool,
}

pub(super) struct ListRow {
    pub(super) href: String,
    pub(super) name: String,
    pub(super) region_name: String,
    pub(super) status_label: &'static str,
    pub(super) nature: String,
    pub(super) school_type: String,
    pub(super) contact_name: String,
    pub(super) contact_mobile: String,
    pub(super) central: String,
}

pub(super) struct CountRow {
    pub(super) name: String,
    pub(super) href: String,
    pub(super) active: i64,
    pub(super) pending: i64,
    pub(super) central: i64,
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
pub(super) struct ListPage {
    pub(super) layout: Layout,
    pub(super) action: String,
    pub(super) name: String,
    pub(super) show_regions: bool,
    pub(super) regions: Vec<Choice>,
    pub(super) statuses: Vec<Choice>,
    pub(super) notice: Option<&'static str>,
    pub(super) counts: Vec<CountRow>,
    pub(super) status_counts: String,
    pub(super) total: i64,
    pub(super) rows: Vec<ListRow>,
    pub(super) pager: Pager,
    pub(super) requests_href: Option<String>,
    pub(super) pending_requests: usize,
    pub(super) central_href: Option<String>,
}

pub(super) fn query_string(pairs: &[(&str, Option<&str>)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if let Some(v) = v {
            s.append_pair(k, v);
        }
    }
    s.finish()
}

pub(super) fn region_label(r: &RegionOption, depth_of_root: usize) -> String {
    let depth = r.path.matches('.').count().saturating_sub(depth_of_root);
    format!("{}{}", "　".repeat(depth), r.name)
}

pub(super) async fn show_list(
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
