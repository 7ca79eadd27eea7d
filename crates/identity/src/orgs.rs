//! Organisations of a programme and the region-scoped queries over schools.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use xiaobao_audit::{Actor, Entry};

use xiaobao_domain::OrgStatus;

use crate::IdentityError;
use crate::scope::{SchoolScope, ScopeParam};

/// Kinds of organisation (`organisations.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgKind {
    Authority,
    Department,
    School,
    InsurerBranch,
    BrokerOffice,
}

impl OrgKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OrgKind::Authority => "authority",
            OrgKind::Department => "department",
            OrgKind::School => "school",
            OrgKind::InsurerBranch => "insurer_branch",
            OrgKind::BrokerOffice => "broker_office",
        }
    }
}

/// A new organisation; fields that do not apply to its kind stay `None`.
#[derive(Debug, Clone)]
pub struct NewOrganisation {
    pub kind: OrgKind,
    pub name: String,
    pub region_code: String,
    /// `active`, or `pending` for a school's self-registration.
    pub status: &'static str,
    pub nature: Option<String>,
    pub school_type: Option<String>,
    pub address: Option<String>,
    pub principal: Option<String>,
    pub contact_name: Option<String>,
    pub contact_mobile: Option<String>,
    pub qualification_document_id: Option<i64>,
    pub company_id: Option<i64>,
    pub company_name: Option<String>,
    pub branch_level: Option<&'static str>,
    pub parent_org_id: Option<i64>,
}

impl NewOrganisation {
    /// An active organisation of `kind` with only a name and a region.
    pub fn basic(kind: OrgKind, name: &str, region_code: &str) -> Self {
        Self {
            kind,
            name: name.to_string(),
            region_code: region_code.to_string(),
            status: "active",
            nature: None,
            school_type: None,
            address: None,
            principal: None,
            contact_name: None,
            contact_mobile: None,
            qualification_document_id: None,
            company_id: None,
            company_name: None,
            branch_level: None,
            parent_org_id: None,
        }
    }
}

/// Creates an organisation (its region path copied from the region tree); audited.
/// `Ok(None)` when the region does not exist.
pub async fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    org: &NewOrganisation,
) -> Result<Option<i64>, IdentityError> {
    let id: Option<i64> = sqlx::query_scalar(
        "insert into organisations (kind, name, region_code, region_path, status, nature, \
         school_type, address, principal, contact_name, contact_mobile, \
         qualification_document_id, company_id, company_name, branch_level, parent_org_id) \
         select $1, $2, r.region_code, r.path, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15 \
         from regions r where r.region_code = $3 returning org_id",
    )
    .bind(org.kind.as_str())
    .bind(&org.name)
    .bind(&org.region_code)
    .bind(org.status)
    .bind(&org.nature)
    .bind(&org.school_type)
    .bind(&org.address)
    .bind(&org.principal)
    .bind(&org.contact_name)
    .bind(&org.contact_mobile)
    .bind(org.qualification_document_id)
    .bind(org.company_id)
    .bind(&org.company_name)
    .bind(org.branch_level)
    .bind(org.parent_org_id)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(id) = id {
        xiaobao_audit::record(
            conn,
            actor,
            Entry::new("organisation.created", "organisation", Some(id))
                .detail("kind", org.kind.as_str())
                .detail("name", &org.name)
                .detail("region_code", &org.region_code)
                .detail("status", org.status)
                .detail("contact_mobile", &org.contact_mobile),
        )
        .await?;
    }
    Ok(id)
}

/// A school as listed to departments and the authority.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct SchoolRow {
    pub org_id: i64,
    pub name: String,
    pub region_code: String,
    pub region_name: String,
    pub status: OrgStatus,
    pub nature: Option<String>,
    pub school_type: Option<String>,
    pub address: Option<String>,
    pub principal: Option<String>,
    pub contact_name: Option<String>,
    /// Masked unless the caller asks for the full number (departments managing the school).
    pub contact_mobile: Option<String>,
    pub is_central: bool,
    pub central_school_id: Option<i64>,
    pub central_school_name: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Filters of the school list.
#[derive(Debug, Clone, Default)]
pub struct SchoolFilter {
    /// Only schools whose region path starts with this one's path (a sub-region).
    pub region_code: Option<String>,
    /// `pending`, `active`, `refused`, `deregistered`; all live (`pending`, `active`) when `None`.
    pub status: Option<String>,
    /// Part of the name.
    pub name: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

const SCHOOL_COLUMNS: &str = "o.org_id, o.name, o.region_code, r.name as region_name, o.status, \
    o.nature, o.school_type, o.address, o.principal, o.contact_name, o.contact_mobile, \
    o.is_central, o.central_school_id, c.name as central_school_name, o.created_at";

fn bind_scope<'q>(
    q: sqlx::query::QueryAs<'q, sqlx::Postgres, SchoolRow, sqlx::postgres::PgArguments>,
    scope: &SchoolScope,
) -> sqlx::query::QueryAs<'q, sqlx::Postgres, SchoolRow, sqlx::postgres::PgArguments> {
    match scope.param() {
        ScopeParam::Text(t) => q.bind(t),
        ScopeParam::Id(id) => q.bind(id),
    }
}

/// Schools in the viewer's scope, filtered; with the total count for paging.
pub async fn list_schools(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    filter: &SchoolFilter,
) -> Result<(Vec<SchoolRow>, i64), IdentityError> {
    let status_cond = if filter.status.is_some() {
        "o.status = $2"
    } else {
        "o.status in ('pending', 'active') and $2::text is null"
    };
    let sql = format!(
        "select {SCHOOL_COLUMNS}, count(*) over () as total \
         from organisations o join regions r on r.region_code = o.region_code \
         left join organisations c on c.org_id = o.central_school_id \
         where o.kind = 'school' and {scope} and {status_cond} \
           and ($3::text is null or o.region_path like \
                (select path from regions where region_code = $3) || '%') \
           and ($4::text is null or o.name like $4 escape '\\') \
         order by o.region_path, o.name limit $5 offset $6",
        scope = scope.condition(1),
    );
    #[derive(sqlx::FromRow)]
    struct WithTotal {
        #[sqlx(flatten)]
        row: SchoolRow,
        total: i64,
    }
    let q = sqlx::query_as::<_, WithTotal>(&sql);
    let q = match scope.param() {
        ScopeParam::Text(t) => q.bind(t),
        ScopeParam::Id(id) => q.bind(id),
    };
    let rows = q
        .bind(&filter.status)
        .bind(&filter.region_code)
        .bind(filter.name.as_deref().map(xiaobao_db::like_contains))
        .bind(filter.limit.clamp(1, 500))
        .bind(filter.offset.max(0))
        .fetch_all(conn)
        .await?;
    let total = rows.first().map(|r| r.total).unwrap_or(0);
    Ok((rows.into_iter().map(|r| r.row).collect(), total))
}

/// One school by id, if it lies in the viewer's scope (otherwise `None`: answer 404).
pub async fn get_school(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    org_id: i64,
) -> Result<Option<SchoolRow>, IdentityError> {
    let sql = format!(
        "select {SCHOOL_COLUMNS} from organisations o join regions r on r.region_code = o.region_code \
         left join organisations c on c.org_id = o.central_school_id \
         where o.kind = 'school' and {scope} and o.org_id = $2",
        scope = scope.condition(1),
    );
    let q = bind_scope(sqlx::query_as::<_, SchoolRow>(&sql), scope);
    Ok(q.bind(org_id).fetch_optional(conn).await?)
}
