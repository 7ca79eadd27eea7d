//! School self-registration (学校注册) and its review by the education department of the
//! school's region.
//!
//! A registration is an organisation of kind `school` with status `pending` and one school
//! account without a password. The department whose region contains the school approves it
//! (status `active`; the contact then sets the first password through a one-time link) or
//! refuses it with a reason (status `refused`; the account is disabled and its login name
//! freed, so the school may register again). Every read and decision is filtered by the
//! department's [`SchoolScope`] in SQL: a registration outside it does not exist for them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use xiaobao_audit::{Actor, Entry};
use xiaobao_domain::school::{SchoolNature, SchoolType};
use xiaobao_domain::{AccountType, OrgStatus, Role};

use crate::IdentityError;
use crate::accounts;
use crate::orgs::{self, NewOrganisation, OrgKind};
use crate::scope::SchoolScope;

/// A school's self-registration, validated by the caller.
#[derive(Debug, Clone)]
pub struct NewRegistration {
    /// The full legal name: also the school's login name.
    pub name: String,
    /// A county-level region or a city's 市直 bucket.
    pub region_code: String,
    pub nature: SchoolNature,
    pub school_type: SchoolType,
    pub address: String,
    pub principal: String,
    /// The contact person (明白人).
    pub contact_name: String,
    /// The contact's mobile (`1[3-9]` and nine digits): the other login name.
    pub contact_mobile: String,
}

/// Why a registration cannot be recorded; `Display` is the Chinese message for the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterProblem {
    #[error("该学校名称已注册或正在审核中；如忘记登录账号，请使用“忘记账号”找回")]
    NameTaken,
    #[error("该手机号已被其他学校注册，请更换联系人手机号")]
    MobileTaken,
    #[error("请选择本项目内的县（市、区）或市直")]
    RegionInvalid,
    /// A central school registering a school outside its own county (or no longer a
    /// central school).
    #[error("中心校只能为本县（区）的学校代为注册")]
    OutsideCentral,
}

impl RegisterProblem {
    /// The form field the problem belongs to.
    pub fn field(&self) -> &'static str {
        match self {
            RegisterProblem::NameTaken => "name",
            RegisterProblem::MobileTaken => "contact_mobile",
            RegisterProblem::RegionInvalid | RegisterProblem::OutsideCentral => "region_code",
        }
    }
}

/// A recorded registration.
#[derive(Debug, Clone)]
pub struct Registered {
    pub org_id: i64,
    pub account_id: i64,
    pub region_name: String,
    /// Who decides: the nearest education department above the school's region, or
    /// `"{region}教育局"` when none has an account yet.
    pub reviewer: String,
}

/// A region a school may register in.
#[derive(Debug, Clone, Serialize)]
pub struct RegistrationRegion {
    pub region_code: String,
    pub name: String,
    /// The city (or the root) the region belongs to, for grouping the select.
    pub parent_name: String,
    /// `county` or `direct` (市直).
    pub level: String,
}

/// The regions a school may choose: every county-level region and every 市直 bucket of the
/// tenant's tree, in tree order.
pub async fn regions(conn: &mut PgConnection) -> Result<Vec<RegistrationRegion>, IdentityError> {
    Ok(sqlx::query_as!(
        RegistrationRegion,
        r#"select r.region_code, r.name, coalesce(p.name, '') as "parent_name!", r.level
           from regions r left join regions p on p.region_code = r.parent_code
           where r.level in ('county', 'direct')
           order by coalesce(p.path, ''), p.sort_order, r.sort_order, r.region_code"#,
    )
    .fetch_all(conn)
    .await?)
}

fn is_unique_violation(e: &IdentityError, constraint: &str) -> bool {
    match e {
        IdentityError::Sqlx(sqlx::Error::Database(db)) => db.constraint() == Some(constraint),
        _ => false,
    }
}

/// Whether a live school (pending or active) already has this name or mobile. Checked by the
/// form before anything is stored; the unique indexes decide races.
pub async fn taken(
    conn: &mut PgConnection,
    name: &str,
    mobile: &str,
) -> Result<(bool, bool), IdentityError> {
    let row = sqlx::query!(
        r#"select (exists (select 1 from organisations where kind = 'school'
                  and status in ('pending', 'active') and name = $1)
             or exists (select 1 from accounts where account_type = 'school'
                  and login_name = $1)) as "name_taken!",
           exists (select 1 from organisations where kind = 'school'
                  and status in ('pending', 'active') and contact_mobile = $2)
             as "mobile_taken!""#,
        name,
        mobile,
    )
    .fetch_one(conn)
    .await?;
    Ok((row.name_taken, row.mobile_taken))
}

/// Whether `org_id` is an active central school whose region is `region_code` (locked, so it
/// stays one while the registration is recorded).
async fn central_of_region(
    conn: &mut PgConnection,
    org_id: i64,
    region_code: &str,
) -> Result<bool, IdentityError> {
    Ok(sqlx::query_scalar!(
        "select org_id from organisations where org_id = $1 and kind = 'school' \
         and status = 'active' and is_central and region_code = $2 for share",
        org_id,
        region_code,
    )
    .fetch_optional(conn)
    .await?
    .is_some())
}

/// Records a registration: the pending organisation and its school account (no password),
/// audited as `school.registration.submitted`. The qualification document is attached with
/// [`attach_qualification`] in the same transaction. A problem leaves the transaction unusable
/// when it came from a unique index: the caller rolls back.
///
/// `registered_by` is the central school filing it on the school's behalf (增加所辖学校): it
/// must be an active central school of the same county-level region; the registration
/// records it and its approval assigns the school to it.
pub async fn register(
    conn: &mut PgConnection,
    actor: &Actor,
    reg: &NewRegistration,
    registered_by: Option<i64>,
) -> Result<Result<Registered, RegisterProblem>, IdentityError> {
    if let Some(central) = registered_by
        && !central_of_region(conn, central, &reg.region_code).await?
    {
        return Ok(Err(RegisterProblem::OutsideCentral));
    }
    let region: Option<(String, String)> = sqlx::query!(
        "select name, path from regions where region_code = $1 and level in ('county', 'direct')",
        reg.region_code,
    )
    .fetch_optional(&mut *conn)
    .await?
    .map(|r| (r.name, r.path));
    let Some((region_name, region_path)) = region else {
        return Ok(Err(RegisterProblem::RegionInvalid));
    };
    match taken(conn, &reg.name, &reg.contact_mobile).await? {
        (true, _) => return Ok(Err(RegisterProblem::NameTaken)),
        (_, true) => return Ok(Err(RegisterProblem::MobileTaken)),
        _ => {}
    }
    let org = NewOrganisation {
        status: "pending",
        nature: Some(reg.nature.code().to_string()),
        school_type: Some(reg.school_type.code().to_string()),
        address: Some(reg.address.clone()),
        principal: Some(reg.principal.clone()),
        contact_name: Some(reg.contact_name.clone()),
        contact_mobile: Some(reg.contact_mobile.clone()),
        ..NewOrganisation::basic(OrgKind::School, &reg.name, &reg.region_code)
    };
    let org_id = match orgs::create(conn, actor, &org).await {
        Ok(Some(id)) => id,
        Ok(None) => return Ok(Err(RegisterProblem::RegionInvalid)),
        Err(e) if is_unique_violation(&e, "organisations_school_name_key") => {
            return Ok(Err(RegisterProblem::NameTaken));
        }
        Err(e) if is_unique_violation(&e, "organisations_school_mobile_key") => {
            return Ok(Err(RegisterProblem::MobileTaken));
        }
        Err(e) => return Err(e),
    };
    let account_id = match accounts::create(
        conn,
        actor,
        org_id,
        AccountType::School,
        &reg.name,
        &reg.name,
        &[Role::School],
    )
    .await
    {
        Ok(id) => id,
        Err(e) if is_unique_violation(&e, "accounts_account_type_login_name_key") => {
            return Ok(Err(RegisterProblem::NameTaken));
        }
        Err(e) => return Err(e),
    };
    if registered_by.is_some() {
        sqlx::query!(
            "update organisations set registered_by_org_id = $2 where org_id = $1",
            org_id,
            registered_by,
        )
        .execute(&mut *conn)
        .await?;
    }
    let reviewer = reviewer_name(conn, &region_path, &region_name).await?;
    xiaobao_audit::record(
        conn,
        actor,
        Entry::new(
            "school.registration.submitted",
            "organisation",
            Some(org_id),
        )
        .detail("name", &reg.name)
        .detail("region_code", &reg.region_code)
        .detail("account_id", account_id)
        .detail("contact_mobile", &reg.contact_mobile)
        .detail("registered_by_org_id", registered_by),
    )
    .await?;
    Ok(Ok(Registered {
        org_id,
        account_id,
        region_name,
        reviewer,
    }))
}

/// Links the stored qualification document to the registration.
pub async fn attach_qualification(
    conn: &mut PgConnection,
    org_id: i64,
    document_id: i64,
) -> Result<(), IdentityError> {
    sqlx::query!(
        "update organisations set qualification_document_id = $2, updated_at = now() \
         where org_id = $1",
        org_id,
        document_id,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The education department deciding for a region: the active department nearest above it
/// (the county's, else the city's…), or `"{region}教育局"` when none exists yet.
async fn reviewer_name(
    conn: &mut PgConnection,
    region_path: &str,
    region_name: &str,
) -> Result<String, IdentityError> {
    let name: Option<String> = sqlx::query_scalar!(
        "select name from organisations where kind = 'department' and status = 'active' \
         and $1 like region_path || '%' order by length(region_path) desc limit 1",
        region_path,
    )
    .fetch_optional(conn)
    .await?;
    Ok(name.unwrap_or_else(|| format!("{region_name}教育局")))
}

/// A registration as its reviewer sees it.
#[derive(Debug, Clone, Serialize)]
pub struct Registration {
    pub org_id: i64,
    pub name: String,
    pub region_code: String,
    pub region_name: String,
    /// `pending`, `active` (approved) or `refused`.
    pub status: OrgStatus,
    pub nature: Option<String>,
    pub school_type: Option<String>,
    pub address: Option<String>,
    pub principal: Option<String>,
    pub contact_name: Option<String>,
    /// In full: the reviewer calls the contact.
    pub contact_mobile: Option<String>,
    pub qualification_document_id: Option<i64>,
    pub qualification_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    pub refusal_reason: Option<String>,
    /// The central school that registered it on the school's behalf (增加所辖学校).
    pub registered_by_org_id: Option<i64>,
    pub registered_by_name: Option<String>,
}

/// Registrations of one status (`pending` unless told) in the reviewer's scope, oldest first.
pub async fn list(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    status: OrgStatus,
    limit: i64,
) -> Result<Vec<Registration>, IdentityError> {
    let a = scope.args();
    Ok(sqlx::query_as!(
        Registration,
        r#"select o.org_id, o.name, o.region_code, r.name as region_name,
             o.status as "status: OrgStatus", o.nature, o.school_type, o.address, o.principal,
             o.contact_name, o.contact_mobile, o.qualification_document_id,
             d.original_name as "qualification_name?", o.created_at, o.decided_at,
             o.refusal_reason, o.registered_by_org_id, rb.name as "registered_by_name?"
           from organisations o
           join regions r on r.region_code = o.region_code
           left join documents d on d.document_id = o.qualification_document_id
           left join organisations rb on rb.org_id = o.registered_by_org_id
           where o.kind = 'school'
             and (o.region_path like $1 || '%' or o.org_id = $2 or o.central_school_id = $3)
             and o.status = $4
             and (o.status = 'pending' or o.decided_at is not null)
           order by o.created_at, o.org_id limit $5"#,
        a.region_prefix,
        a.org_id,
        a.central_school_id,
        status as _,
        limit.clamp(1, 500),
    )
    .fetch_all(conn)
    .await?)
}

/// One registration in the reviewer's scope (`None`: absent or outside the scope).
pub async fn get(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    org_id: i64,
) -> Result<Option<Registration>, IdentityError> {
    let a = scope.args();
    Ok(sqlx::query_as!(
        Registration,
        r#"select o.org_id, o.name, o.region_code, r.name as region_name,
             o.status as "status: OrgStatus", o.nature, o.school_type, o.address, o.principal,
             o.contact_name, o.contact_mobile, o.qualification_document_id,
             d.original_name as "qualification_name?", o.created_at, o.decided_at,
             o.refusal_reason, o.registered_by_org_id, rb.name as "registered_by_name?"
           from organisations o
           join regions r on r.region_code = o.region_code
           left join documents d on d.document_id = o.qualification_document_id
           left join organisations rb on rb.org_id = o.registered_by_org_id
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

/// Why a decision was not made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecideProblem {
    /// No such registration in the reviewer's scope: answer 404.
    NotFound,
    /// Already decided (its status now).
    AlreadyDecided(OrgStatus),
}

/// An approved registration: what the set-password message needs.
#[derive(Debug, Clone)]
pub struct Approved {
    pub org_id: i64,
    pub account_id: i64,
    pub school_name: String,
    pub contact_mobile: String,
}

/// Locks a pending registration of the scope for a decision.
async fn lock_pending(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    org_id: i64,
) -> Result<Result<(OrgStatus, Option<String>), DecideProblem>, IdentityError> {
    let a = scope.args();
    let row = sqlx::query!(
        r#"select o.status as "status: OrgStatus", o.contact_mobile from organisations o
           where o.kind = 'school'
             and (o.region_path like $1 || '%' or o.org_id = $2 or o.central_school_id = $3)
             and o.org_id = $4
           for update"#,
        a.region_prefix,
        a.org_id,
        a.central_school_id,
        org_id,
    )
    .fetch_optional(&mut *conn)
    .await?
    .map(|r| (r.status, r.contact_mobile));
    Ok(match row {
        None => Err(DecideProblem::NotFound),
        Some((status, _)) if status != OrgStatus::Pending => {
            Err(DecideProblem::AlreadyDecided(status))
        }
        Some(row) => Ok(row),
    })
}

/// Approves a pending registration of the scope: the school becomes active, the decision is
/// recorded and audited (`school.registration.approved`). The caller sends the set-password
/// link in the same transaction.
pub async fn approve(
    conn: &mut PgConnection,
    actor: &Actor,
    scope: &SchoolScope,
    org_id: i64,
) -> Result<Result<Approved, DecideProblem>, IdentityError> {
    let (_, mobile) = match lock_pending(conn, scope, org_id).await? {
        Ok(row) => row,
        Err(problem) => return Ok(Err(problem)),
    };
    let school_name: String = sqlx::query_scalar!(
        "update organisations set status = 'active', decided_by = $2, decided_at = now(), \
         refusal_reason = null, updated_at = now() where org_id = $1 returning name",
        org_id,
        actor.account_id,
    )
    .fetch_one(&mut *conn)
    .await?;
    let account_id: i64 = sqlx::query_scalar!(
        "select account_id from accounts where org_id = $1 and account_type = 'school' \
         order by account_id limit 1",
        org_id,
    )
    .fetch_one(&mut *conn)
    .await?;
    // Registered by a central school: the school is assigned to it, if it still is one of
    // the same region.
    let assigned: Option<i64> = sqlx::query_scalar!(
        "update organisations o set central_school_id = c.org_id, updated_at = now() \
         from organisations c where o.org_id = $1 and c.org_id = o.registered_by_org_id \
         and c.kind = 'school' and c.status = 'active' and c.is_central \
         and c.region_code = o.region_code returning c.org_id",
        org_id,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let mut entry = Entry::new("school.registration.approved", "organisation", Some(org_id))
        .change("status", "pending", "active")
        .detail("account_id", account_id);
    if let Some(central) = assigned {
        entry = entry.change("central_school_id", None::<i64>, central);
    }
    xiaobao_audit::record(conn, actor, entry).await?;
    Ok(Ok(Approved {
        org_id,
        account_id,
        school_name,
        contact_mobile: mobile.unwrap_or_default(),
    }))
}

/// Refuses a pending registration of the scope with a reason: the school is `refused`, its
/// account disabled and its login name freed (the school may register again); audited as
/// `school.registration.refused`.
pub async fn refuse(
    conn: &mut PgConnection,
    actor: &Actor,
    scope: &SchoolScope,
    org_id: i64,
    reason: &str,
) -> Result<Result<(), DecideProblem>, IdentityError> {
    if let Err(problem) = lock_pending(conn, scope, org_id).await? {
        return Ok(Err(problem));
    }
    sqlx::query!(
        "update organisations set status = 'refused', decided_by = $2, decided_at = now(), \
         refusal_reason = $3, updated_at = now() where org_id = $1",
        org_id,
        actor.account_id,
        reason,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "update accounts set status = 'disabled', login_name = '已退回#' || account_id, \
         updated_at = now() where org_id = $1 and account_type = 'school'",
        org_id,
    )
    .execute(&mut *conn)
    .await?;
    xiaobao_audit::record(
        conn,
        actor,
        Entry::new("school.registration.refused", "organisation", Some(org_id))
            .change("status", "pending", "refused")
            .detail("reason", reason),
    )
    .await?;
    Ok(Ok(()))
}

/// A school's name and its contact mobile (for the SMS of a decision).
pub async fn contact_of(
    conn: &mut PgConnection,
    org_id: i64,
) -> Result<Option<(String, Option<String>)>, IdentityError> {
    Ok(sqlx::query!(
        "select name, contact_mobile from organisations where org_id = $1",
        org_id,
    )
    .fetch_optional(conn)
    .await?
    .map(|r| (r.name, r.contact_mobile)))
}
