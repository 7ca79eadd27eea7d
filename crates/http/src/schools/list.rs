//! The school list: filters, counts per region and status, paging.

use askama::Template;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::response::Html;
use serde::Deserialize;
use xiaobao_authz::Permission;
use xiaobao_domain::{Failure, RefusalClass};
use xiaobao_identity::SchoolScope;
use xiaobao_identity::school_admin::{self, RegionOption};
use xiaobao_identity::service::schools::{ListExtras, STATUSES, SchoolQuery};

use crate::web::call::PageCall;
use crate::web::error::PageError;
use crate::web::layout::Layout;
use crate::web::session::WebSession;

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

impl From<ListQuery> for SchoolQuery {
    fn from(q: ListQuery) -> Self {
        SchoolQuery {
            region_code: q.region_code,
            status: q.status,
            name: q.name,
            page: q.page,
            per_page: q.per_page,
        }
    }
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
    pub(super) notice: Option<String>,
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
    call: PageCall,
    mut session: WebSession,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Html<String>, PageError> {
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let (state, page, current) = (&call.state, &call.page, &call.current);
    let extras = ListExtras {
        counts: true,
        pending_requests: state
            .auth
            .authz
            .allows(&current.viewer().roles, Permission::CHANGE_REQUESTS_DECIDE),
    };
    let schools = service(&call);
    let (listing, notice) = match schools.listing(query.into(), extras).await {
        Ok(l) => (l, None),
        // A filter outside the scope: the unfiltered list, with a note.
        Err(Failure::Refused(r)) if r.class == RefusalClass::Invalid => {
            let l = schools.listing(SchoolQuery::default(), extras).await;
            let l = l.map_err(PageError::from)?;
            (l, Some(r.message))
        }
        Err(f) => return Err(call.fail(f).await),
    };
    let filters = listing.filters.clone();
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
        .map(|(s, n)| format!("{} {n} 所", school_admin::school_status_label(*s)))
        .collect::<Vec<_>>()
        .join("，");
    let may_decide = extras.pending_requests;
    let may_central = state
        .auth
        .authz
        .allows(&viewer.roles, Permission::CENTRAL_SCHOOLS_MANAGE);
    let view = ListPage {
        layout: Layout::tenant(page, &mut session, section_of(viewer), Some("学校数据")).await?,
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
                status_label: school_admin::school_status_label(r.status),
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
