//! What education departments do for the schools of their region, and what schools ask of
//! them: the contact mobile, password resets, central schools and their assigned schools,
//! and change requests (rename, move to another region, deregistration).
//!
//! Every function takes the caller's [`SchoolScope`] and applies it in SQL: a school or a
//! request outside it reads as [`AdminProblem::NotFound`], which the edge answers with 404.
//! Every change is audited with the changed fields before and after (mobiles masked by the
//! audit trail itself), in the caller's transaction.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use xiaobao_audit::{Actor, Entry};
use xiaobao_domain::{OrgStatus, RequestStatus, Role};

use crate::IdentityError;
use crate::codes::{CodePurpose, Codes};
use crate::orgs::SchoolRow;
use crate::scope::SchoolScope;

/// A person's mistake or a state that forbids the change; `Display` is the Chinese message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminProblem {
    /// No such school (or request) in the caller's scope.
    #[error("学校不存在或不在管辖范围内")]
    NotFound,
    #[error("手机号格式不正确，应为 11 位中国大陆手机号")]
    BadMobile,
    #[error("该手机号已被其他学校使用")]
    MobileTaken,
    #[error("新手机号与原手机号相同")]
    SameMobile,
    /// The school is pending, refused or deregistered.
    #[error("该学校当前状态不能办理此项业务")]
    NotActive,
    #[error("该学校没有可用的登录账号")]
    NoAccount,
    #[error("学校名称应为 2–100 个字")]
    BadName,
    #[error("新名称与现名称相同")]
    SameName,
    #[error("该名称已被其他学校使用")]
    NameTaken,
    #[error("请选择本项目的县区（或市直）作为新区域")]
    BadRegion,
    #[error("新区域与现区域相同")]
    SameRegion,
    #[error("注销原因只能是学校合并或学校撤销")]
    BadCause,
    #[error("请填写理由（2–500 字）")]
    BadReason,
    #[error("请选择申请类型")]
    BadKind,
    /// One open request per kind: the message names the kind.
    #[error("已有一条待审核的{0}申请，请等待教育主管部门处理后再提交")]
    AlreadyOpen(&'static str),
    #[error("该申请已处理，不能重复审核")]
    AlreadyDecided,
    #[error("请填写不予通过的理由（2–500 字）")]
    RefusalReasonMissing,
    #[error("学校不能加入自己")]
    SelfAssignment,
    #[error("所选学校不是中心校")]
    NotCentral,
    #[error("中心校不能再加入其他中心校")]
    CentralCannotJoin,
    #[error("请输入联系人（明白人）姓名，最多 50 个字，不含换行等特殊字符")]
    BadContactName,
    #[error("请输入校长（园长）姓名，最多 50 个字，不含换行等特殊字符")]
    BadPrincipal,
    #[error("请输入学校地址，最多 200 个字，不含换行等特殊字符")]
    BadAddress,
}

impl AdminProblem {
    /// The input field the problem is about, for forms and the API's `field`.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::BadMobile | Self::MobileTaken | Self::SameMobile => Some("contact_mobile"),
            Self::BadName | Self::SameName | Self::NameTaken => Some("new_name"),
            Self::BadRegion | Self::SameRegion => Some("new_region_code"),
            Self::BadCause => Some("deregister_cause"),
            Self::BadReason | Self::RefusalReasonMissing => Some("reason"),
            Self::BadKind | Self::AlreadyOpen(_) => Some("kind"),
            Self::SelfAssignment | Self::NotCentral | Self::CentralCannotJoin => {
                Some("central_school_id")
            }
            Self::BadContactName => Some("contact_name"),
            Self::BadPrincipal => Some("principal"),
            Self::BadAddress => Some("address"),
            _ => None,
        }
    }
}

impl AdminProblem {
    /// A stable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::BadMobile => "bad_mobile",
            Self::MobileTaken => "mobile_taken",
            Self::SameMobile => "same_mobile",
            Self::NotActive => "school_not_active",
            Self::NoAccount => "no_account",
            Self::BadName => "bad_name",
            Self::SameName => "same_name",
            Self::NameTaken => "name_taken",
            Self::BadRegion => "bad_region",
            Self::SameRegion => "same_region",
            Self::BadCause => "bad_cause",
            Self::BadReason => "bad_reason",
            Self::BadKind => "bad_kind",
            Self::AlreadyOpen(_) => "request_open",
            Self::AlreadyDecided => "already_decided",
            Self::RefusalReasonMissing => "refusal_reason_missing",
            Self::SelfAssignment => "self_assignment",
            Self::NotCentral => "not_central",
            Self::CentralCannotJoin => "central_cannot_join",
            Self::BadContactName => "bad_contact_name",
            Self::BadPrincipal => "bad_principal",
            Self::BadAddress => "bad_address",
        }
    }
}

/// A decided request is a conflict with its state (409), as in every context; a miss is
/// not found; the rest is input to correct (422).
impl From<AdminProblem> for xiaobao_domain::Refusal {
    fn from(p: AdminProblem) -> Self {
        use xiaobao_domain::{Refusal, RefusalClass};
        let class = match p {
            AdminProblem::NotFound => RefusalClass::NotFound,
            AdminProblem::AlreadyDecided => RefusalClass::Conflict,
            _ => RefusalClass::Invalid,
        };
        let refusal = Refusal::new(class, p.code(), p.to_string());
        match p.field() {
            Some(field) => refusal.on(field),
            None => refusal,
        }
    }
}

/// The outcome of an administrative function: done, or refused with a problem.
pub type Outcome<T> = Result<Result<T, AdminProblem>, IdentityError>;

/// The actor of a central school (or a broker) acting for a school: the audit entry names the
/// school in `on_behalf_of_org_id`.
pub fn acting_for(actor: &Actor, school_org_id: i64) -> Actor {
    Actor {
        on_behalf_of_org_id: Some(school_org_id),
        ..actor.clone()
    }
}

/// Whether `s` is a mainland mobile number (`^1[3-9]\d{9}$`).
pub fn is_mobile(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 11
        && b[0] == b'1'
        && (b'3'..=b'9').contains(&b[1])
        && b.iter().all(u8::is_ascii_digit)
}

/// A school row locked for a change.
#[derive(Debug, Clone)]
struct Locked {
    org_id: i64,
    name: String,
    status: OrgStatus,
    region_code: String,
    contact_mobile: Option<String>,
    is_central: bool,
    central_school_id: Option<i64>,
}

/// The school `org_id` in `scope`, locked for update.
async fn lock_school(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    org_id: i64,
) -> Result<Option<Locked>, IdentityError> {
    let a = scope.args();
    Ok(sqlx::query_as!(
        Locked,
        r#"select o.org_id, o.name, o.status as "status: OrgStatus", o.region_code,
             o.contact_mobile, o.is_central, o.central_school_id
           from organisations o
           where o.kind = 'school'
             and (o.region_path like $1 || '%' or o.org_id = $2 or o.central_school_id = $3)
             and o.org_id = $4
           for update"#,
        a.region_prefix,
        a.org_id,
        a.central_school_id,
        org_id,
    )
    .fetch_optional(conn)
    .await?)
}

fn is_unique_violation(e: &sqlx::Error, constraint: &str) -> bool {
    matches!(e, sqlx::Error::Database(db)
        if db.code().as_deref() == Some("23505") && db.constraint() == Some(constraint))
}

/// A contact mobile as changed: who to tell.
#[derive(Clone)]
pub struct MobileChanged {
    pub school_name: String,
    pub old_mobile: Option<String>,
    pub new_mobile: String,
}

impl std::fmt::Debug for MobileChanged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MobileChanged")
            .field("school_name", &self.school_name)
            .finish_non_exhaustive()
    }
}

/// Whether a new contact mobile may be used by the school `org_id`: well formed, not its
/// current one, not another live school's. Nothing is changed.
pub async fn check_new_mobile(
    conn: &mut PgConnection,
    org_id: i64,
    new_mobile: &str,
) -> Outcome<()> {
    if !is_mobile(new_mobile) {
        return Ok(Err(AdminProblem::BadMobile));
    }
    let row = sqlx::query!(
        r#"select (o.contact_mobile = $2) as "same!",
             exists (select 1 from organisations x where x.kind = 'school'
               and x.status in ('pending', 'active') and x.contact_mobile = $2
               and x.org_id <> $1) as "taken!"
           from organisations o where o.org_id = $1"#,
        org_id,
        new_mobile,
    )
    .fetch_optional(conn)
    .await?;
    Ok(match row {
        None => Err(AdminProblem::NotFound),
        Some(r) if r.same => Err(AdminProblem::SameMobile),
        Some(r) if r.taken => Err(AdminProblem::MobileTaken),
        Some(_) => Ok(()),
    })
}

/// Changes a school's contact mobile (a login name of the school, so unique among live
/// schools). Audited with the numbers masked.
pub async fn change_contact_mobile(
    conn: &mut PgConnection,
    actor: &Actor,
    scope: &SchoolScope,
    org_id: i64,
    new_mobile: &str,
) -> Outcome<MobileChanged> {
    let mobile = new_mobile.trim();
    if !is_mobile(mobile) {
        return Ok(Err(AdminProblem::BadMobile));
    }
    let Some(school) = lock_school(conn, scope, org_id).await? else {
        return Ok(Err(AdminProblem::NotFound));
    };
    if !matches!(school.status.as_str(), "active" | "pending") {
        return Ok(Err(AdminProblem::NotActive));
    }
    if school.contact_mobile.as_deref() == Some(mobile) {
        return Ok(Err(AdminProblem::SameMobile));
    }
    let taken: bool = sqlx::query_scalar!(
        r#"select exists (select 1 from organisations where kind = 'school'
             and status in ('pending', 'active') and contact_mobile = $1 and org_id <> $2)
           as "taken!""#,
        mobile,
        org_id,
    )
    .fetch_one(&mut *conn)
    .await?;
    if taken {
        return Ok(Err(AdminProblem::MobileTaken));
    }
    let updated = sqlx::query!(
        "update organisations set contact_mobile = $2, updated_at = now() where org_id = $1",
        org_id,
        mobile,
    )
    .execute(&mut *conn)
    .await;
    match updated {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e, "organisations_school_mobile_key") => {
            return Ok(Err(AdminProblem::MobileTaken));
        }
        Err(e) => return Err(e.into()),
    }
    xiaobao_audit::record(
        conn,
        actor,
        Entry::new(
            "school.contact_mobile_changed",
            "organisation",
            Some(org_id),
        )
        .change("contact_mobile", &school.contact_mobile, mobile),
    )
    .await?;
    Ok(Ok(MobileChanged {
        school_name: school.name,
        old_mobile: school.contact_mobile,
        new_mobile: mobile.to_string(),
    }))
}

/// The fields a school changes itself (修改基本信息): its name and region change only
/// through a change request, its contact mobile with an SMS code to the new number.
#[derive(Debug, Clone, Default)]
pub struct BasicInfo {
    /// The contact person (明白人).
    pub contact_name: String,
    pub principal: String,
    pub address: String,
}

/// A required text of at most `max` characters, trimmed, without control characters (a NUL
/// cannot even be stored; line breaks and tabs have no place in these one-line fields).
fn text_ok(value: &str, max: usize) -> bool {
    !value.is_empty() && value.chars().count() <= max && !value.chars().any(char::is_control)
}

/// Checks the basic information (trimmed); the first problem in form order.
pub fn check_basic_info(info: &BasicInfo) -> Result<BasicInfo, AdminProblem> {
    let info = BasicInfo {
        contact_name: info.contact_name.trim().to_string(),
        principal: info.principal.trim().to_string(),
        address: info.address.trim().to_string(),
    };
    if !text_ok(&info.contact_name, 50) {
        return Err(AdminProblem::BadContactName);
    }
    if !text_ok(&info.principal, 50) {
        return Err(AdminProblem::BadPrincipal);
    }
    if !text_ok(&info.address, 200) {
        return Err(AdminProblem::BadAddress);
    }
    Ok(info)
}

/// Changes the basic information of the school `org_id` (the caller's own, an active
/// school), audited as `school.basic_info_changed` with the fields that changed. Answers
/// whether anything changed.
pub async fn update_basic_info(
    conn: &mut PgConnection,
    actor: &Actor,
    org_id: i64,
    info: &BasicInfo,
) -> Outcome<bool> {
    let info = match check_basic_info(info) {
        Ok(info) => info,
        Err(p) => return Ok(Err(p)),
    };
    let before = sqlx::query!(
        "select status, contact_name, principal, address from organisations \
         where org_id = $1 and kind = 'school' for update",
        org_id,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(before) = before else {
        return Ok(Err(AdminProblem::NotFound));
    };
    if before.status != "active" {
        return Ok(Err(AdminProblem::NotActive));
    }
    let mut entry = Entry::new("school.basic_info_changed", "organisation", Some(org_id));
    let mut changed = false;
    for (field, old, new) in [
        ("contact_name", &before.contact_name, &info.contact_name),
        ("principal", &before.principal, &info.principal),
        ("address", &before.address, &info.address),
    ] {
        if old.as_deref() != Some(new.as_str()) {
            entry = entry.change(field, old, new);
            changed = true;
        }
    }
    if !changed {
        return Ok(Ok(false));
    }
    sqlx::query!(
        "update organisations set contact_name = $2, principal = $3, address = $4, \
         updated_at = now() where org_id = $1",
        org_id,
        info.contact_name,
        info.principal,
        info.address,
    )
    .execute(&mut *conn)
    .await?;
    xiaobao_audit::record(conn, actor, entry).await?;
    Ok(Ok(true))
}

/// What a password reset produced: the account, where to send the set-password link, and the
/// link's token (a secret: only ever put into the notification).
#[derive(Clone)]
pub struct PasswordReset {
    pub account_id: i64,
    pub login_name: String,
    pub school_name: String,
    pub contact_mobile: String,
    pub token: String,
}

impl std::fmt::Debug for PasswordReset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordReset")
            .field("account_id", &self.account_id)
            .finish_non_exhaustive()
    }
}

/// Clears the password of the school's account and issues a set-password link token; the
/// caller sends the link to the contact mobile in the same transaction. Until the school sets
/// a new password through the link it cannot sign in.
pub async fn reset_password(
    conn: &mut PgConnection,
    actor: &Actor,
    scope: &SchoolScope,
    codes: &Codes,
    link_ttl: Duration,
    org_id: i64,
) -> Outcome<PasswordReset> {
    let Some(school) = lock_school(conn, scope, org_id).await? else {
        return Ok(Err(AdminProblem::NotFound));
    };
    if school.status != OrgStatus::Active {
        return Ok(Err(AdminProblem::NotActive));
    }
    let Some(mobile) = school.contact_mobile.clone() else {
        return Ok(Err(AdminProblem::NoAccount));
    };
    // A school has one account; the oldest active one is it.
    let account: Option<(i64, String)> = sqlx::query!(
        "select account_id, login_name from accounts where org_id = $1 \
         and account_type = 'school' and status = 'active' order by account_id limit 1 \
         for update",
        org_id,
    )
    .fetch_optional(&mut *conn)
    .await?
    .map(|r| (r.account_id, r.login_name));
    let Some((account_id, login_name)) = account else {
        return Ok(Err(AdminProblem::NoAccount));
    };
    crate::accounts::clear_password(conn, actor, account_id, "reset_by_department").await?;
    let token = codes
        .issue_link_token(conn, account_id, CodePurpose::SetPassword, link_ttl)
        .await?;
    Ok(Ok(PasswordReset {
        account_id,
        login_name,
        school_name: school.name,
        contact_mobile: mobile,
        token,
    }))
}

/// The accounts of a school organisation.
async fn school_accounts(conn: &mut PgConnection, org_id: i64) -> Result<Vec<i64>, IdentityError> {
    Ok(sqlx::query_scalar!(
        "select account_id from accounts where org_id = $1 and account_type = 'school' \
         order by account_id",
        org_id,
    )
    .fetch_all(conn)
    .await?)
}

/// Marks (`central = true`) or unmarks a school of the scope as a central school. Marking
/// gives the school's accounts the role `central_school` (effective at their next sign-in)
/// and takes the school out of any central school it belonged to; unmarking takes the role
/// away and releases the schools assigned to it. Returns whether anything changed.
pub async fn set_central(
    conn: &mut PgConnection,
    actor: &Actor,
    scope: &SchoolScope,
    org_id: i64,
    central: bool,
) -> Outcome<bool> {
    let Some(school) = lock_school(conn, scope, org_id).await? else {
        return Ok(Err(AdminProblem::NotFound));
    };
    if school.status != OrgStatus::Active {
        return Ok(Err(AdminProblem::NotActive));
    }
    if school.is_central == central {
        return Ok(Ok(false));
    }
    let accounts = school_accounts(conn, org_id).await?;
    let mut entry = Entry::new(
        if central {
            "school.central_marked"
        } else {
            "school.central_unmarked"
        },
        "organisation",
        Some(org_id),
    )
    .change("is_central", school.is_central, central)
    .detail("account_ids", &accounts);
    if central {
        sqlx::query!(
            "update organisations set is_central = true, central_school_id = null, \
             updated_at = now() where org_id = $1",
            org_id,
        )
        .execute(&mut *conn)
        .await?;
        entry = entry.change("central_school_id", school.central_school_id, None::<i64>);
        for account_id in &accounts {
            sqlx::query!(
                "insert into account_roles (account_id, role, granted_by) values ($1, $2, $3) \
                 on conflict do nothing",
                account_id,
                Role::CentralSchool.as_str(),
                actor.account_id,
            )
            .execute(&mut *conn)
            .await?;
        }
    } else {
        sqlx::query!(
            "update organisations set is_central = false, updated_at = now() where org_id = $1",
            org_id,
        )
        .execute(&mut *conn)
        .await?;
        let released: Vec<i64> = sqlx::query_scalar!(
            "update organisations set central_school_id = null, updated_at = now() \
             where central_school_id = $1 returning org_id",
            org_id,
        )
        .fetch_all(&mut *conn)
        .await?;
        sqlx::query!(
            "delete from account_roles where role = $2 and account_id = any($1)",
            &accounts[..],
            Role::CentralSchool.as_str(),
        )
        .execute(&mut *conn)
        .await?;
        entry = entry.detail("released_school_ids", released);
    }
    xiaobao_audit::record(conn, actor, entry).await?;
    Ok(Ok(true))
}

/// Assigns a school of the scope to a central school of the scope (`Some`), or takes it out
/// of its central school (`None`).
pub async fn assign_central(
    conn: &mut PgConnection,
    actor: &Actor,
    scope: &SchoolScope,
    org_id: i64,
    central_id: Option<i64>,
) -> Outcome<()> {
    let Some(school) = lock_school(conn, scope, org_id).await? else {
        return Ok(Err(AdminProblem::NotFound));
    };
    if !matches!(school.status.as_str(), "active" | "pending") {
        return Ok(Err(AdminProblem::NotActive));
    }
    if let Some(central_id) = central_id {
        if central_id == org_id {
            return Ok(Err(AdminProblem::SelfAssignment));
        }
        if school.is_central {
            return Ok(Err(AdminProblem::CentralCannotJoin));
        }
        // The central school must be in the same scope: one outside reads as absent.
        let Some(central) = lock_school(conn, scope, central_id).await? else {
            return Ok(Err(AdminProblem::NotFound));
        };
        if !central.is_central {
            return Ok(Err(AdminProblem::NotCentral));
        }
        if central.status != OrgStatus::Active {
            return Ok(Err(AdminProblem::NotActive));
        }
    }
    if school.central_school_id == central_id {
        return Ok(Ok(()));
    }
    sqlx::query!(
        "update organisations set central_school_id = $2, updated_at = now() where org_id = $1",
        org_id,
        central_id,
    )
    .execute(&mut *conn)
    .await?;
    xiaobao_audit::record(
        conn,
        actor,
        Entry::new(
            if central_id.is_some() {
                "school.central_assigned"
            } else {
                "school.central_unassigned"
            },
            "organisation",
            Some(org_id),
        )
        .change("central_school_id", school.central_school_id, central_id),
    )
    .await?;
    Ok(Ok(()))
}

/// A central school with the number of live schools assigned to it.
#[derive(Debug, Clone, Serialize)]
pub struct CentralSchoolRow {
    pub org_id: i64,
    pub name: String,
    pub region_code: String,
    pub region_name: String,
    pub status: OrgStatus,
    pub assigned: i64,
}

/// The central schools in the scope, with their assigned counts.
pub async fn central_schools(
    conn: &mut PgConnection,
    scope: &SchoolScope,
) -> Result<Vec<CentralSchoolRow>, IdentityError> {
    let a = scope.args();
    Ok(sqlx::query_as!(
        CentralSchoolRow,
        r#"select o.org_id, o.name, o.region_code, r.name as region_name,
             o.status as "status: OrgStatus",
             (select count(*) from organisations s where s.central_school_id = o.org_id
                and s.kind = 'school' and s.status in ('pending', 'active')) as "assigned!"
           from organisations o join regions r on r.region_code = o.region_code
           where o.kind = 'school' and o.is_central and o.status = 'active'
             and (o.region_path like $1 || '%' or o.org_id = $2 or o.central_school_id = $3)
           order by o.region_path, o.name"#,
        a.region_prefix,
        a.org_id,
        a.central_school_id,
    )
    .fetch_all(conn)
    .await?)
}

/// The schools assigned to the central school `central_org_id` (every status), if it lies in
/// `scope`: a central school's own scope, or a department's.
pub async fn assigned_schools(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    central_org_id: i64,
) -> Result<Vec<SchoolRow>, IdentityError> {
    let a = scope.args();
    Ok(sqlx::query_as!(
        SchoolRow,
        r#"select o.org_id, o.name, o.region_code, r.name as region_name,
             o.status as "status: OrgStatus", o.nature, o.school_type, o.address, o.principal,
             o.contact_name, o.contact_mobile, o.is_central, o.central_school_id,
             c.name as "central_school_name?", o.created_at
           from organisations o
           join regions r on r.region_code = o.region_code
           left join organisations c on c.org_id = o.central_school_id
           where o.kind = 'school'
             and (o.region_path like $1 || '%' or o.org_id = $2 or o.central_school_id = $3)
             and o.central_school_id = $4 and o.org_id <> $4
           order by o.status = 'deregistered', o.region_path, o.name"#,
        a.region_prefix,
        a.org_id,
        a.central_school_id,
        central_org_id,
    )
    .fetch_all(conn)
    .await?)
}

/// A region offered in a select: the viewer's subtree, or the regions a school may move to.
#[derive(Debug, Clone, Serialize)]
pub struct RegionOption {
    pub region_code: String,
    pub name: String,
    pub level: String,
    pub path: String,
}

/// Every region whose path starts with `path_prefix` (the viewer's subtree), in tree order.
pub async fn subtree_regions(
    conn: &mut PgConnection,
    path_prefix: &str,
) -> Result<Vec<RegionOption>, IdentityError> {
    Ok(sqlx::query_as!(
        RegionOption,
        "select region_code, name, level, path from regions where path like $1 || '%' \
         order by path",
        path_prefix,
    )
    .fetch_all(conn)
    .await?)
}

/// The regions a school may belong to: the counties and 市直 buckets of the programme.
pub async fn school_regions(conn: &mut PgConnection) -> Result<Vec<RegionOption>, IdentityError> {
    Ok(sqlx::query_as!(
        RegionOption,
        "select region_code, name, level, path from regions where level in ('county', 'direct') \
         order by path",
    )
    .fetch_all(conn)
    .await?)
}

/// Live schools per region: one row per child of `region_code` (or the region itself when it
/// has no children), counted inside `scope`.
#[derive(Debug, Clone, Serialize)]
pub struct RegionCount {
    pub region_code: String,
    pub name: String,
    pub active: i64,
    pub pending: i64,
    pub central: i64,
}

/// The per-region counts of the school list's header.
pub async fn region_counts(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    region_code: &str,
) -> Result<Vec<RegionCount>, IdentityError> {
    let has_children: bool = sqlx::query_scalar!(
        r#"select exists (select 1 from regions where parent_code = $1) as "exists!""#,
        region_code,
    )
    .fetch_one(&mut *conn)
    .await?;
    // The children of the region when it has any, else the region itself.
    let a = scope.args();
    Ok(sqlx::query_as!(
        RegionCount,
        r#"select r.region_code, r.name,
             count(o.org_id) filter (where o.status = 'active') as "active!",
             count(o.org_id) filter (where o.status = 'pending') as "pending!",
             count(o.org_id) filter (where o.status = 'active' and o.is_central) as "central!"
           from regions r left join organisations o on o.kind = 'school'
             and o.status in ('pending', 'active') and o.region_path like r.path || '%'
             and (o.region_path like $1 || '%' or o.org_id = $2 or o.central_school_id = $3)
           where case when $5::boolean then r.parent_code = $4 else r.region_code = $4 end
           group by r.region_code, r.name, r.sort_order
           order by r.sort_order, r.region_code"#,
        a.region_prefix,
        a.org_id,
        a.central_school_id,
        region_code,
        has_children,
    )
    .fetch_all(conn)
    .await?)
}

/// Schools per status in the scope (every status), for the list's counts.
pub async fn status_counts(
    conn: &mut PgConnection,
    scope: &SchoolScope,
) -> Result<Vec<(OrgStatus, i64)>, IdentityError> {
    let a = scope.args();
    Ok(sqlx::query!(
        r#"select o.status as "status: OrgStatus", count(*) as "count!"
           from organisations o where o.kind = 'school'
             and (o.region_path like $1 || '%' or o.org_id = $2 or o.central_school_id = $3)
           group by o.status order by o.status"#,
        a.region_prefix,
        a.org_id,
        a.central_school_id,
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|r| (r.status, r.count))
    .collect())
}

/// What a school may ask its department to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Rename,
    MoveRegion,
    Deregister,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rename => "rename",
            Self::MoveRegion => "move_region",
            Self::Deregister => "deregister",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "rename" => Some(Self::Rename),
            "move_region" => Some(Self::MoveRegion),
            "deregister" => Some(Self::Deregister),
            _ => None,
        }
    }

    /// 更名 / 变更区域 / 注销.
    pub fn label(self) -> &'static str {
        match self {
            Self::Rename => "更名",
            Self::MoveRegion => "变更区域",
            Self::Deregister => "注销",
        }
    }
}

/// The Chinese label of a stored request kind.
pub fn kind_label(kind: &str) -> &'static str {
    ChangeKind::parse(kind).map_or("其他", ChangeKind::label)
}

/// The Chinese label of a deregistration cause.
pub fn cause_label(cause: &str) -> &'static str {
    match cause {
        "merger" => "学校合并",
        "closure" => "学校撤销",
        _ => "其他",
    }
}

/// The Chinese label of a request status.
pub fn request_status_label(status: RequestStatus) -> &'static str {
    match status {
        RequestStatus::Pending => "待审核",
        RequestStatus::Approved => "已通过",
        RequestStatus::Refused => "未通过",
        RequestStatus::Withdrawn => "已撤回",
    }
}

/// The Chinese label of a school's status.
pub fn school_status_label(status: OrgStatus) -> &'static str {
    match status {
        OrgStatus::Pending => "待审核",
        OrgStatus::Active => "已通过审核",
        OrgStatus::Refused => "未通过审核",
        OrgStatus::Deregistered => "已注销",
    }
}

/// A change request as a school submits it (fields that do not apply to the kind are ignored).
#[derive(Debug, Clone, Default)]
pub struct NewChangeRequest {
    pub kind: String,
    pub new_name: Option<String>,
    pub new_region_code: Option<String>,
    pub deregister_cause: Option<String>,
    pub reason: String,
}

fn reason_ok(reason: &str) -> bool {
    (2..=500).contains(&reason.chars().count())
}

/// Submits a change request for the school `org_id`. `on_behalf_of` is set when a central
/// school submits it for one of its schools (the actor then carries it too). One open request
/// per kind and school.
pub async fn request_change(
    conn: &mut PgConnection,
    actor: &Actor,
    scope: &SchoolScope,
    org_id: i64,
    on_behalf_of: Option<i64>,
    input: &NewChangeRequest,
) -> Outcome<i64> {
    let Some(kind) = ChangeKind::parse(input.kind.trim()) else {
        return Ok(Err(AdminProblem::BadKind));
    };
    let reason = input.reason.trim();
    if !reason_ok(reason) {
        return Ok(Err(AdminProblem::BadReason));
    }
    let Some(school) = lock_school(conn, scope, org_id).await? else {
        return Ok(Err(AdminProblem::NotFound));
    };
    if school.status != OrgStatus::Active {
        return Ok(Err(AdminProblem::NotActive));
    }
    let (mut new_name, mut new_region, mut cause) = (None, None, None);
    match kind {
        ChangeKind::Rename => {
            let name = input.new_name.as_deref().unwrap_or("").trim().to_string();
            if !(2..=100).contains(&name.chars().count()) {
                return Ok(Err(AdminProblem::BadName));
            }
            if name == school.name {
                return Ok(Err(AdminProblem::SameName));
            }
            if name_taken(conn, &name, org_id).await? {
                return Ok(Err(AdminProblem::NameTaken));
            }
            new_name = Some(name);
        }
        ChangeKind::MoveRegion => {
            let code = input
                .new_region_code
                .as_deref()
                .unwrap_or("")
                .trim()
                .to_string();
            if !school_region_exists(conn, &code).await? {
                return Ok(Err(AdminProblem::BadRegion));
            }
            if code == school.region_code {
                return Ok(Err(AdminProblem::SameRegion));
            }
            new_region = Some(code);
        }
        ChangeKind::Deregister => {
            let c = input.deregister_cause.as_deref().unwrap_or("").trim();
            if !matches!(c, "merger" | "closure") {
                return Ok(Err(AdminProblem::BadCause));
            }
            cause = Some(c.to_string());
        }
    }
    let inserted: Result<i64, sqlx::Error> = sqlx::query_scalar!(
        "insert into change_requests (org_id, kind, new_name, new_region_code, \
         deregister_cause, reason, requested_by, on_behalf_of) \
         values ($1, $2, $3, $4, $5, $6, $7, $8) returning change_request_id",
        org_id,
        kind.as_str(),
        new_name.as_deref(),
        new_region.as_deref(),
        cause.as_deref(),
        reason,
        actor.account_id,
        on_behalf_of,
    )
    .fetch_one(&mut *conn)
    .await;
    let id = match inserted {
        Ok(id) => id,
        Err(e) if is_unique_violation(&e, "change_requests_open_key") => {
            return Ok(Err(AdminProblem::AlreadyOpen(kind.label())));
        }
        Err(e) => return Err(e.into()),
    };
    xiaobao_audit::record(
        conn,
        actor,
        Entry::new("change_request.created", "change_request", Some(id))
            .detail("org_id", org_id)
            .detail("kind", kind.as_str())
            .detail("new_name", &new_name)
            .detail("new_region_code", &new_region)
            .detail("deregister_cause", &cause)
            .detail("reason", reason),
    )
    .await?;
    Ok(Ok(id))
}

async fn name_taken(
    conn: &mut PgConnection,
    name: &str,
    except_org: i64,
) -> Result<bool, IdentityError> {
    Ok(sqlx::query_scalar!(
        r#"select (exists (select 1 from organisations where kind = 'school'
             and status in ('pending', 'active') and name = $1 and org_id <> $2)
           or exists (select 1 from accounts where account_type = 'school' and login_name = $1
             and org_id <> $2)) as "taken!""#,
        name,
        except_org,
    )
    .fetch_one(conn)
    .await?)
}

/// Whether `code` is a region a school may be in (a county or a city's 市直).
pub(crate) async fn school_region_exists(
    conn: &mut PgConnection,
    code: &str,
) -> Result<bool, IdentityError> {
    Ok(sqlx::query_scalar!(
        r#"select exists (select 1 from regions where region_code = $1
             and level in ('county', 'direct')) as "exists!""#,
        code,
    )
    .fetch_one(conn)
    .await?)
}

/// A change request with its school's name and region.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeRequestRow {
    pub change_request_id: i64,
    pub org_id: i64,
    pub school_name: String,
    pub region_code: String,
    pub region_name: String,
    pub kind: String,
    pub new_name: Option<String>,
    pub new_region_code: Option<String>,
    pub new_region_name: Option<String>,
    pub deregister_cause: Option<String>,
    pub reason: String,
    pub status: RequestStatus,
    pub requested_by: i64,
    pub on_behalf_of: Option<i64>,
    pub decided_by: Option<i64>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The requests of the schools in `scope` (a school's own, or a department's region), newest
/// first; only pending ones when `pending_only`.
pub async fn list_requests(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    pending_only: bool,
    limit: i64,
) -> Result<Vec<ChangeRequestRow>, IdentityError> {
    let a = scope.args();
    Ok(sqlx::query_as!(
        ChangeRequestRow,
        r#"select cr.change_request_id, cr.org_id, o.name as school_name, o.region_code,
             r.name as region_name, cr.kind, cr.new_name, cr.new_region_code,
             nr.name as "new_region_name?", cr.deregister_cause, cr.reason,
             cr.status as "status: RequestStatus", cr.requested_by, cr.on_behalf_of,
             cr.decided_by, cr.decided_at, cr.decision_reason, cr.created_at
           from change_requests cr join organisations o on o.org_id = cr.org_id
           join regions r on r.region_code = o.region_code
           left join regions nr on nr.region_code = cr.new_region_code
           where o.kind = 'school'
             and (o.region_path like $1 || '%' or o.org_id = $2 or o.central_school_id = $3)
             and ($4 = false or cr.status = 'pending')
           order by cr.created_at desc, cr.change_request_id desc limit $5"#,
        a.region_prefix,
        a.org_id,
        a.central_school_id,
        pending_only,
        limit.clamp(1, 500),
    )
    .fetch_all(conn)
    .await?)
}

/// One request, if its school lies in `scope`.
pub async fn get_request(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    id: i64,
) -> Result<Option<ChangeRequestRow>, IdentityError> {
    let a = scope.args();
    Ok(sqlx::query_as!(
        ChangeRequestRow,
        r#"select cr.change_request_id, cr.org_id, o.name as school_name, o.region_code,
             r.name as region_name, cr.kind, cr.new_name, cr.new_region_code,
             nr.name as "new_region_name?", cr.deregister_cause, cr.reason,
             cr.status as "status: RequestStatus", cr.requested_by, cr.on_behalf_of,
             cr.decided_by, cr.decided_at, cr.decision_reason, cr.created_at
           from change_requests cr join organisations o on o.org_id = cr.org_id
           join regions r on r.region_code = o.region_code
           left join regions nr on nr.region_code = cr.new_region_code
           where o.kind = 'school'
             and (o.region_path like $1 || '%' or o.org_id = $2 or o.central_school_id = $3)
             and cr.change_request_id = $4"#,
        a.region_prefix,
        a.org_id,
        a.central_school_id,
        id,
    )
    .fetch_optional(conn)
    .await?)
}

/// A department's decision on a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Approve,
    /// Refused, with the reason the school will read.
    Refuse(String),
}

/// Decides a pending request of a school in `scope`. Approving applies it: a rename changes
/// the school's name and its account's login and display names; a move changes the region
/// (and takes the school out of its central school); a deregistration marks the school
/// deregistered, disables its accounts, withdraws a central school's role and assignments and
/// closes the school's other open requests. Returns the request as decided.
pub async fn decide_request(
    conn: &mut PgConnection,
    actor: &Actor,
    scope: &SchoolScope,
    id: i64,
    decision: &Decision,
) -> Outcome<ChangeRequestRow> {
    if let Decision::Refuse(reason) = decision
        && !reason_ok(reason.trim())
    {
        return Ok(Err(AdminProblem::RefusalReasonMissing));
    }
    let Some(request) = get_request(conn, scope, id).await? else {
        return Ok(Err(AdminProblem::NotFound));
    };
    // Lock the school, then the request: concurrent decisions run one after another.
    let Some(school) = lock_school(conn, scope, request.org_id).await? else {
        return Ok(Err(AdminProblem::NotFound));
    };
    let status: RequestStatus = sqlx::query_scalar!(
        r#"select status as "status: RequestStatus" from change_requests
           where change_request_id = $1 for update"#,
        id,
    )
    .fetch_one(&mut *conn)
    .await?;
    if status.is_decided() {
        return Ok(Err(AdminProblem::AlreadyDecided));
    }
    match decision {
        Decision::Refuse(reason) => {
            close_request(conn, actor, id, RequestStatus::Refused, Some(reason.trim())).await?;
        }
        Decision::Approve => {
            if school.status != OrgStatus::Active {
                return Ok(Err(AdminProblem::NotActive));
            }
            let applied = match ChangeKind::parse(&request.kind) {
                Some(ChangeKind::Rename) => apply_rename(conn, actor, &school, &request).await?,
                Some(ChangeKind::MoveRegion) => apply_move(conn, actor, &school, &request).await?,
                Some(ChangeKind::Deregister) => {
                    apply_deregister(conn, actor, &school, &request).await?
                }
                None => Err(AdminProblem::BadKind),
            };
            if let Err(problem) = applied {
                return Ok(Err(problem));
            }
            close_request(conn, actor, id, RequestStatus::Approved, None).await?;
        }
    }
    // A move may have taken the school out of the scope: read it back as its own.
    let own = SchoolScope::Own {
        org_id: request.org_id,
    };
    let decided = get_request(conn, &own, id).await?;
    Ok(decided.ok_or(AdminProblem::NotFound))
}

async fn close_request(
    conn: &mut PgConnection,
    actor: &Actor,
    id: i64,
    status: RequestStatus,
    reason: Option<&str>,
) -> Result<(), IdentityError> {
    sqlx::query!(
        "update change_requests set status = $2, decided_by = $3, decided_at = now(), \
         decision_reason = $4 where change_request_id = $1",
        id,
        status as _,
        actor.account_id,
        reason,
    )
    .execute(&mut *conn)
    .await?;
    xiaobao_audit::record(
        conn,
        actor,
        Entry::new(
            &format!("change_request.{status}"),
            "change_request",
            Some(id),
        )
        .change("status", "pending", status)
        .detail("decision_reason", reason),
    )
    .await?;
    Ok(())
}

async fn apply_rename(
    conn: &mut PgConnection,
    actor: &Actor,
    school: &Locked,
    request: &ChangeRequestRow,
) -> Outcome<()> {
    let Some(new_name) = request.new_name.clone() else {
        return Ok(Err(AdminProblem::BadName));
    };
    if name_taken(conn, &new_name, school.org_id).await? {
        return Ok(Err(AdminProblem::NameTaken));
    }
    let renamed = sqlx::query!(
        "update organisations set name = $2, updated_at = now() where org_id = $1",
        school.org_id,
        new_name,
    )
    .execute(&mut *conn)
    .await;
    match renamed {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e, "organisations_school_name_key") => {
            return Ok(Err(AdminProblem::NameTaken));
        }
        Err(e) => return Err(e.into()),
    }
    xiaobao_audit::record(
        conn,
        actor,
        Entry::new("school.renamed", "organisation", Some(school.org_id))
            .change("name", &school.name, &new_name)
            .detail("change_request_id", request.change_request_id),
    )
    .await?;
    // The school signs in by its full name: the account follows the new name.
    let accounts = sqlx::query!(
        "select account_id, login_name, display_name from accounts \
         where org_id = $1 and account_type = 'school' order by account_id for update",
        school.org_id,
    )
    .fetch_all(&mut *conn)
    .await?;
    for account in accounts {
        let (account_id, login_name, display_name) =
            (account.account_id, account.login_name, account.display_name);
        let new_login = if login_name == school.name {
            new_name.clone()
        } else {
            login_name.clone()
        };
        let updated = sqlx::query!(
            "update accounts set login_name = $2, display_name = $3, updated_at = now() \
             where account_id = $1",
            account_id,
            new_login,
            new_name,
        )
        .execute(&mut *conn)
        .await;
        match updated {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e, "accounts_account_type_login_name_key") => {
                return Ok(Err(AdminProblem::NameTaken));
            }
            Err(e) => return Err(e.into()),
        }
        xiaobao_audit::record(
            conn,
            actor,
            Entry::new("account.renamed", "account", Some(account_id))
                .change("login_name", &login_name, &new_login)
                .change("display_name", &display_name, &new_name),
        )
        .await?;
    }
    Ok(Ok(()))
}

async fn apply_move(
    conn: &mut PgConnection,
    actor: &Actor,
    school: &Locked,
    request: &ChangeRequestRow,
) -> Outcome<()> {
    let Some(code) = request.new_region_code.clone() else {
        return Ok(Err(AdminProblem::BadRegion));
    };
    let before = sqlx::query!(
        "select region_code, region_path from organisations where org_id = $1",
        school.org_id,
    )
    .fetch_one(&mut *conn)
    .await?;
    let before = (before.region_code, before.region_path);
    let after: Option<(String, String)> = sqlx::query!(
        r#"update organisations o set region_code = r.region_code, region_path = r.path,
             central_school_id = null, updated_at = now() from regions r
           where o.org_id = $1 and r.region_code = $2 and r.level in ('county', 'direct')
           returning o.region_code as "region_code!", o.region_path as "region_path!""#,
        school.org_id,
        code,
    )
    .fetch_optional(&mut *conn)
    .await?
    .map(|r| (r.region_code, r.region_path));
    let Some(after) = after else {
        return Ok(Err(AdminProblem::BadRegion));
    };
    xiaobao_audit::record(
        conn,
        actor,
        Entry::new("school.moved", "organisation", Some(school.org_id))
            .change("region_code", &before.0, &after.0)
            .change("region_path", &before.1, &after.1)
            .change("central_school_id", school.central_school_id, None::<i64>)
            .detail("change_request_id", request.change_request_id),
    )
    .await?;
    Ok(Ok(()))
}

async fn apply_deregister(
    conn: &mut PgConnection,
    actor: &Actor,
    school: &Locked,
    request: &ChangeRequestRow,
) -> Outcome<()> {
    let accounts = school_accounts(conn, school.org_id).await?;
    let released: Vec<i64> = sqlx::query_scalar!(
        "update organisations set central_school_id = null, updated_at = now() \
         where central_school_id = $1 returning org_id",
        school.org_id,
    )
    .fetch_all(&mut *conn)
    .await?;
    sqlx::query!(
        "update organisations set status = 'deregistered', is_central = false, \
         updated_at = now() where org_id = $1",
        school.org_id,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "update accounts set status = 'disabled', updated_at = now() where account_id = any($1)",
        &accounts[..],
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "delete from account_roles where role = $2 and account_id = any($1)",
        &accounts[..],
        Role::CentralSchool.as_str(),
    )
    .execute(&mut *conn)
    .await?;
    xiaobao_audit::record(
        conn,
        actor,
        Entry::new("school.deregistered", "organisation", Some(school.org_id))
            .change("status", school.status, OrgStatus::Deregistered)
            .change("is_central", school.is_central, false)
            .detail("deregister_cause", &request.deregister_cause)
            .detail("disabled_account_ids", &accounts)
            .detail("released_school_ids", released)
            .detail("change_request_id", request.change_request_id),
    )
    .await?;
    // The school's other open requests have nothing left to change.
    let others: Vec<i64> = sqlx::query_scalar!(
        "select change_request_id from change_requests where org_id = $1 and status = 'pending' \
         and change_request_id <> $2 order by change_request_id for update",
        school.org_id,
        request.change_request_id,
    )
    .fetch_all(&mut *conn)
    .await?;
    for other in others {
        close_request(
            conn,
            actor,
            other,
            RequestStatus::Refused,
            Some("学校已注销，申请自动关闭"),
        )
        .await?;
    }
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mobiles_are_eleven_digits_starting_with_13_to_19() {
        assert!(is_mobile("13812341234"));
        assert!(is_mobile("19900001111"));
        assert!(!is_mobile("12812341234"));
        assert!(!is_mobile("1381234123"));
        assert!(!is_mobile("138123412345"));
        assert!(!is_mobile("1381234123a"));
    }

    #[test]
    fn acting_for_names_the_school_and_keeps_the_rest() {
        let actor = Actor {
            account_id: Some(7),
            org_id: Some(3),
            label: "account:7 中心校".into(),
            ..Actor::default()
        };
        let acting = acting_for(&actor, 42);
        assert_eq!(acting.on_behalf_of_org_id, Some(42));
        assert_eq!(acting.account_id, Some(7));
        assert_eq!(acting.org_id, Some(3));
        assert_eq!(acting.label, actor.label);
    }

    #[test]
    fn kinds_round_trip_and_problems_name_their_fields() {
        for kind in [
            ChangeKind::Rename,
            ChangeKind::MoveRegion,
            ChangeKind::Deregister,
        ] {
            assert_eq!(ChangeKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ChangeKind::parse("delete"), None);
        assert_eq!(AdminProblem::MobileTaken.field(), Some("contact_mobile"));
        assert_eq!(
            AdminProblem::AlreadyOpen("更名").to_string(),
            "已有一条待审核的更名申请，请等待教育主管部门处理后再提交"
        );
    }
}
