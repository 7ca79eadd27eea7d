//! Organisations of a programme and the region-scoped queries over schools.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use xiaobao_audit::{Actor, Entry};

use xiaobao_domain::OrgStatus;

use crate::IdentityError;
use crate::scope::SchoolScope;

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
    let id: Option<i64> = sqlx::query_scalar!(
        "insert into organisations (kind, name, region_code, region_path, status, nature, \
         school_type, address, principal, contact_name, contact_mobile, \
         qualification_document_id, company_id, company_name, branch_level, parent_org_id) \
         select $1, $2, r.region_code, r.path, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15 \
         from regions r where r.region_code = $3 returning org_id",
        org.kind.as_str(),
        org.name,
        org.region_code,
        org.status,
        org.nature.as_deref(),
        org.school_type.as_deref(),
        org.address.as_deref(),
        org.principal.as_deref(),
        org.contact_name.as_deref(),
        org.contact_mobile.as_deref(),
        org.qualification_document_id,
        org.company_id,
        org.company_name.as_deref(),
        org.branch_level,
        org.parent_org_id,
    )
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
#[derive(Debug, Clone, Serialize)]
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

/// Schools in the viewer's scope, filtered; with the total count for paging.
pub async fn list_schools(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    filter: &SchoolFilter,
) -> Result<(Vec<SchoolRow>, i64), IdentityError> {
    let a = scope.args();
    // A status filter picks that status; without one, the live schools (pending and active).
    let rows = sqlx::query!(
        r#"select o.org_id, o.name, o.region_code, r.name as region_name,
             o.status as "status: OrgStatus", o.nature, o.school_type, o.address, o.principal,
             o.contact_name, o.contact_mobile, o.is_central, o.central_school_id,
             c.name as "central_school_name?", o.created_at, count(*) over () as "total!"
           from organisations o join regions r on r.region_code = o.region_code
           left join organisations c on c.org_id = o.central_school_id
           where o.kind = 'school'
             and (o.region_path like $1 || '%' or o.org_id = $2 or o.central_school_id = $3)
             and (($4::text is null and o.status in ('pending', 'active')) or o.status = $4)
             and ($5::text is null or o.region_path like
                  (select path from regions where region_code = $5) || '%')
             and ($6::text is null or o.name like $6 escape '\')
           order by o.region_path, o.name limit $7 offset $8"#,
        a.region_prefix,
        a.org_id,
        a.central_school_id,
        filter.status.as_deref(),
        filter.region_code.as_deref(),
        filter.name.as_deref().map(xiaobao_db::like_contains),
        filter.limit.clamp(1, 500),
        filter.offset.max(0),
    )
    .fetch_all(conn)
    .await?;
    let total = rows.first().map(|r| r.total).unwrap_or(0);
    let rows = rows
        .into_iter()
        .map(|r| SchoolRow {
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
            contact_mobile: r.contact_mobile,
            is_central: r.is_central,
            central_school_id: r.central_school_id,
            central_school_name: r.central_school_name,
            created_at: r.created_at,
        })
        .collect();
    Ok((rows, total))
}

/// One school by id, if it lies in the viewer's scope (otherwise `None`: answer 404).
pub async fn get_school(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    org_id: i64,
) -> Result<Option<SchoolRow>, IdentityError> {
    let a = scope.args();
    Ok(sqlx::query_as!(
        SchoolRow,
        r#"select o.org_id, o.name, o.region_code, r.name as region_name,
             o.status as "status: OrgStatus", o.nature, o.school_type, o.address, o.principal,
             o.contact_name, o.contact_mobile, o.is_central, o.central_school_id,
             c.name as "central_school_name?", o.created_at
           from organisations o join regions r on r.region_code = o.region_code
           left join organisations c on c.org_id = o.central_school_id
           where o.kind = 'school'
             and (o.region_path like $1 || '%' or o.org_id = $2 or o.central_school_id = $3)
             and o.org_id = $4"#,
        a.region_prefix,
        a.org_id,
        a.central_school_id,
        org_id,
    )
    .fetch_optional(conn)
    .await?)
}
