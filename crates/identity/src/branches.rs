//! Insurer branch accounts (分支账号管理, 县区账号管理): a province branch opens city and county
//! branches of its company inside its region, a city branch opens county branches inside its
//! city, a county branch opens nothing.
//!
//! Where a branch may be opened is decided here, in SQL, from the creator's organisation as
//! stored (its level, company and region path), never from what a form offered: the chosen
//! region must lie strictly below the creator's region path. A refusal for scope is audited
//! (`branch.create_refused`); the caller commits the transaction so the audit row stays.
//!
//! A new branch gets no password: the caller sends its contact a set-password link.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use xiaobao_audit::{Actor, Entry, mask_phone};
use xiaobao_domain::{AccountType, OrgStatus, Role};

use crate::IdentityError;
use crate::orgs::{self, NewOrganisation, OrgKind};

/// The level of an insurer branch (`organisations.branch_level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BranchLevel {
    Province,
    City,
    County,
}

impl BranchLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            BranchLevel::Province => "province",
            BranchLevel::City => "city",
            BranchLevel::County => "county",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "province" => Some(BranchLevel::Province),
            "city" => Some(BranchLevel::City),
            "county" => Some(BranchLevel::County),
            _ => None,
        }
    }

    /// The Chinese label (账号级别).
    pub fn label(self) -> &'static str {
        match self {
            BranchLevel::Province => "省级分公司",
            BranchLevel::City => "市级分公司",
            BranchLevel::County => "县区支公司",
        }
    }

    /// The role of a branch of this level.
    pub fn role(self) -> Role {
        match self {
            BranchLevel::Province => Role::InsurerProvince,
            BranchLevel::City => Role::InsurerCity,
            BranchLevel::County => Role::InsurerCounty,
        }
    }

    /// The levels of `regions.level` a branch of this level may be placed at.
    fn region_levels(self) -> &'static [&'static str] {
        match self {
            BranchLevel::Province => &["province"],
            BranchLevel::City => &["city"],
            // A city's 市直 bucket is served like a county.
            BranchLevel::County => &["county", "direct"],
        }
    }

    /// The levels a branch of this level may open.
    pub fn may_open(self) -> &'static [BranchLevel] {
        match self {
            BranchLevel::Province => &[BranchLevel::City, BranchLevel::County],
            BranchLevel::City => &[BranchLevel::County],
            BranchLevel::County => &[],
        }
    }
}

/// The organisation of the account that opens branches, as stored.
#[derive(Debug, Clone)]
pub struct Creator {
    pub org_id: i64,
    pub kind: String,
    pub status: OrgStatus,
    pub company_id: Option<i64>,
    pub company_name: Option<String>,
    pub branch_level: Option<String>,
    pub region_code: String,
    pub region_path: String,
}

impl Creator {
    /// The creator's level when it is an active insurer branch of a company.
    pub fn level(&self) -> Option<BranchLevel> {
        if self.kind != OrgKind::InsurerBranch.as_str()
            || self.status != OrgStatus::Active
            || self.company_id.is_none()
        {
            return None;
        }
        self.branch_level.as_deref().and_then(BranchLevel::parse)
    }

    /// The levels this organisation may open (none for anything but a province or city
    /// branch).
    pub fn may_open(&self) -> &'static [BranchLevel] {
        self.level().map(BranchLevel::may_open).unwrap_or(&[])
    }
}

/// The organisation `org_id` as a branch creator.
pub async fn creator(
    conn: &mut PgConnection,
    org_id: i64,
) -> Result<Option<Creator>, IdentityError> {
    Ok(sqlx::query_as!(
        Creator,
        r#"select org_id, kind, status as "status: OrgStatus", company_id, company_name,
             branch_level, region_code, region_path
           from organisations where org_id = $1"#,
        org_id,
    )
    .fetch_optional(conn)
    .await?)
}

/// What the creator enters for a new branch (the old system's 增加分支账号 form, less the
/// password: the contact sets it through a link).
#[derive(Debug, Clone, Default)]
pub struct NewBranch {
    /// `city` or `county`.
    pub branch_level: String,
    pub region_code: String,
    /// The branch's name (公司名称), e.g. 中国人寿保险股份有限公司郑州市分公司.
    pub name: String,
    pub login_name: String,
    pub contact_name: String,
    pub contact_mobile: String,
}

/// Why a branch was not opened; `Display` is the Chinese message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BranchRefusal {
    /// A field is missing or malformed, or the login name is taken.
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// The creator's level may not open a branch of this level (audited).
    #[error("当前账号不能开设{0}账号")]
    LevelNotAllowed(&'static str),
    /// The region lies outside the creator's own region (audited).
    #[error("只能在本机构负责的区域内开设分支账号，所选区域不在本机构负责范围内")]
    OutsideSubtree,
}

impl BranchRefusal {
    fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        BranchRefusal::Invalid {
            field,
            message: message.into(),
        }
    }

    /// The form field the refusal is about.
    pub fn field(&self) -> &'static str {
        match self {
            BranchRefusal::Invalid { field, .. } => field,
            BranchRefusal::LevelNotAllowed(_) => "branch_level",
            BranchRefusal::OutsideSubtree => "region_code",
        }
    }
}

/// Whether a login name of an insurer account is well-formed: 4–40 characters, each a letter,
/// a digit, `-`, `_` or a Chinese character.
pub fn check_login_name(login_name: &str) -> Result<(), String> {
    let n = login_name.chars().count();
    if !(4..=40).contains(&n) {
        return Err("登录账号应为 4–40 个字符".into());
    }
    let ok = login_name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || is_chinese(c));
    if ok {
        Ok(())
    } else {
        Err("登录账号只能包含字母、数字、“-”、“_”或汉字".into())
    }
}

fn is_chinese(c: char) -> bool {
    matches!(c, '\u{4e00}'..='\u{9fff}' | '\u{3400}'..='\u{4dbf}' | '\u{20000}'..='\u{2a6df}')
}

fn is_mobile(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 11
        && b[0] == b'1'
        && (b'3'..=b'9').contains(&b[1])
        && b.iter().all(u8::is_ascii_digit)
}

/// The input trimmed and checked field by field (no database): the level, or the first
/// problem found, in form order.
pub fn validate(input: &NewBranch) -> Result<(BranchLevel, NewBranch), BranchRefusal> {
    let t = NewBranch {
        branch_level: input.branch_level.trim().to_string(),
        region_code: input.region_code.trim().to_string(),
        name: input.name.trim().to_string(),
        login_name: input.login_name.trim().to_string(),
        contact_name: input.contact_name.trim().to_string(),
        contact_mobile: input
            .contact_mobile
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect(),
    };
    let level = match BranchLevel::parse(&t.branch_level) {
        Some(level @ (BranchLevel::City | BranchLevel::County)) => level,
        _ => {
            return Err(BranchRefusal::invalid(
                "branch_level",
                "请选择账号级别（市级分公司或县区支公司）",
            ));
        }
    };
    if t.region_code.is_empty() {
        return Err(BranchRefusal::invalid("region_code", "请选择负责区域"));
    }
    if t.region_code.len() != 6 || !t.region_code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BranchRefusal::invalid(
            "region_code",
            "负责区域代码应为 6 位数字",
        ));
    }
    let name_len = t.name.chars().count();
    if name_len == 0 {
        return Err(BranchRefusal::invalid("name", "请填写机构名称"));
    }
    if !(2..=100).contains(&name_len) {
        return Err(BranchRefusal::invalid("name", "机构名称应为 2–100 个字"));
    }
    if t.login_name.is_empty() {
        return Err(BranchRefusal::invalid("login_name", "请填写登录账号"));
    }
    check_login_name(&t.login_name).map_err(|m| BranchRefusal::invalid("login_name", m))?;
    let contact_len = t.contact_name.chars().count();
    if contact_len == 0 {
        return Err(BranchRefusal::invalid("contact_name", "请填写联系人"));
    }
    if contact_len > 50 {
        return Err(BranchRefusal::invalid(
            "contact_name",
            "联系人不能超过 50 个字",
        ));
    }
    if t.contact_mobile.is_empty() {
        return Err(BranchRefusal::invalid("contact_mobile", "请填写联系人手机"));
    }
    if !is_mobile(&t.contact_mobile) {
        return Err(BranchRefusal::invalid(
            "contact_mobile",
            "联系人手机应为 11 位手机号码",
        ));
    }
    Ok((level, t))
}

/// A branch just opened.
#[derive(Debug, Clone)]
pub struct CreatedBranch {
    pub org_id: i64,
    pub account_id: i64,
    pub level: BranchLevel,
    pub name: String,
    pub login_name: String,
    /// Where the set-password link goes.
    pub contact_mobile: String,
}

async fn audit_refusal(
    conn: &mut PgConnection,
    actor: &Actor,
    creator_org_id: i64,
    cause: &str,
    input: &NewBranch,
) -> Result<(), IdentityError> {
    xiaobao_audit::record(
        conn,
        actor,
        Entry::new(
            "branch.create_refused",
            "organisation",
            Some(creator_org_id),
        )
        .detail("cause", cause)
        .detail("branch_level", &input.branch_level)
        .detail("region_code", &input.region_code)
        .detail("login_name", &input.login_name),
    )
    .await?;
    Ok(())
}

/// Opens a branch below the organisation `creator_org_id`: its organisation (the creator's
/// company, `parent_org_id` = the creator) and its account (type `insurer`, role by level, no
/// password), audited. `Ok(Err(_))` is a refusal; refusals of scope are audited, so the caller
/// commits the transaction in either case.
pub async fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    creator_org_id: i64,
    input: &NewBranch,
) -> Result<Result<CreatedBranch, BranchRefusal>, IdentityError> {
    let (level, input) = match validate(input) {
        Ok(v) => v,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let Some(creator) = creator(conn, creator_org_id).await? else {
        return Ok(Err(BranchRefusal::LevelNotAllowed(level.label())));
    };
    if !creator.may_open().contains(&level) {
        audit_refusal(conn, actor, creator_org_id, "level_not_allowed", &input).await?;
        return Ok(Err(BranchRefusal::LevelNotAllowed(level.label())));
    }
    // The region, and whether it lies strictly below the creator's region: decided here from
    // the stored path, whatever the form offered.
    let region: Option<(String, bool)> = sqlx::query!(
        r#"select level, path like $2 || '.%' as "inside!" from regions where region_code = $1"#,
        input.region_code,
        creator.region_path,
    )
    .fetch_optional(&mut *conn)
    .await?
    .map(|r| (r.level, r.inside));
    let Some((region_level, inside)) = region else {
        return Ok(Err(BranchRefusal::invalid(
            "region_code",
            "所选负责区域不存在",
        )));
    };
    if !inside {
        audit_refusal(conn, actor, creator_org_id, "outside_subtree", &input).await?;
        return Ok(Err(BranchRefusal::OutsideSubtree));
    }
    if !level.region_levels().contains(&region_level.as_str()) {
        let message = match level {
            BranchLevel::City => "市级分公司的负责区域应选择地市",
            _ => "县区支公司的负责区域应选择县区",
        };
        return Ok(Err(BranchRefusal::invalid("region_code", message)));
    }
    let taken: bool = sqlx::query_scalar!(
        r#"select exists (select 1 from accounts where account_type = $1 and login_name = $2)
             as "taken!""#,
        AccountType::Insurer.as_str(),
        input.login_name,
    )
    .fetch_one(&mut *conn)
    .await?;
    if taken {
        return Ok(Err(login_taken()));
    }
    let mut org = NewOrganisation::basic(OrgKind::InsurerBranch, &input.name, &input.region_code);
    org.company_id = creator.company_id;
    org.company_name = creator.company_name.clone();
    org.branch_level = Some(level.as_str());
    org.parent_org_id = Some(creator.org_id);
    org.contact_name = Some(input.contact_name.clone());
    org.contact_mobile = Some(input.contact_mobile.clone());
    let Some(org_id) = orgs::create(conn, actor, &org).await? else {
        return Ok(Err(BranchRefusal::invalid(
            "region_code",
            "所选负责区域不存在",
        )));
    };
    let account_id = match crate::accounts::create(
        conn,
        actor,
        org_id,
        AccountType::Insurer,
        &input.login_name,
        &input.name,
        &[level.role()],
    )
    .await
    {
        Ok(id) => id,
        // Taken between the check and the insert.
        Err(IdentityError::Sqlx(sqlx::Error::Database(e))) if e.is_unique_violation() => {
            return Ok(Err(login_taken()));
        }
        Err(e) => return Err(e),
    };
    xiaobao_audit::record(
        conn,
        actor,
        Entry::new("branch.created", "organisation", Some(org_id))
            .detail("branch_level", level.as_str())
            .detail("region_code", &input.region_code)
            .detail("parent_org_id", creator.org_id)
            .detail("company_id", creator.company_id)
            .detail("account_id", account_id)
            .detail("login_name", &input.login_name)
            .detail("contact_mobile", &input.contact_mobile),
    )
    .await?;
    Ok(Ok(CreatedBranch {
        org_id,
        account_id,
        level,
        name: input.name,
        login_name: input.login_name,
        contact_mobile: input.contact_mobile,
    }))
}

fn login_taken() -> BranchRefusal {
    BranchRefusal::invalid("login_name", "该登录账号已被使用，请换一个")
}

/// A region a creator may open a branch in (the form's 负责区域 choices).
#[derive(Debug, Clone, Serialize)]
pub struct RegionChoice {
    pub region_code: String,
    pub name: String,
    /// `city`, `county` or `direct`.
    pub level: String,
    /// The city of a county, for labels like 郑州市 · 金水区.
    pub parent_name: Option<String>,
}

impl RegionChoice {
    /// The branch level a branch here has.
    pub fn branch_level(&self) -> BranchLevel {
        if self.level == "city" {
            BranchLevel::City
        } else {
            BranchLevel::County
        }
    }
}

/// The regions strictly below the creator's region where it may open a branch, in tree order.
pub async fn region_choices(
    conn: &mut PgConnection,
    creator: &Creator,
) -> Result<Vec<RegionChoice>, IdentityError> {
    let levels: Vec<&str> = creator
        .may_open()
        .iter()
        .flat_map(|l| l.region_levels().iter().copied())
        .collect();
    if levels.is_empty() {
        return Ok(Vec::new());
    }
    Ok(sqlx::query_as!(
        RegionChoice,
        r#"select r.region_code, r.name, r.level, p.name as "parent_name?"
           from regions r left join regions p on p.region_code = r.parent_code
           where r.path like $1 || '.%' and r.level = any($2)
           order by r.path"#,
        creator.region_path,
        &levels[..] as &[&str],
    )
    .fetch_all(conn)
    .await?)
}

/// A branch as listed to the branches above it (contact mobile masked).
#[derive(Debug, Clone, Serialize)]
pub struct BranchRow {
    pub org_id: i64,
    pub name: String,
    pub branch_level: String,
    pub region_code: String,
    pub region_name: String,
    /// The city of a county branch's region.
    pub parent_region_name: Option<String>,
    pub company_name: Option<String>,
    pub parent_org_id: Option<i64>,
    pub parent_name: Option<String>,
    pub contact_name: Option<String>,
    /// `138****1234`.
    pub contact_mobile: Option<String>,
    pub status: OrgStatus,
    pub account_id: Option<i64>,
    pub login_name: Option<String>,
    /// Whether the contact has set the password yet.
    pub has_password: bool,
    pub created_at: DateTime<Utc>,
}

fn masked(mut rows: Vec<BranchRow>) -> Vec<BranchRow> {
    for row in &mut rows {
        row.contact_mobile = row.contact_mobile.as_deref().map(mask_phone);
    }
    rows
}

/// The branches of the creator's company strictly below its region, in tree order.
pub async fn list_below(
    conn: &mut PgConnection,
    creator: &Creator,
) -> Result<Vec<BranchRow>, IdentityError> {
    let Some(company_id) = creator.company_id else {
        return Ok(Vec::new());
    };
    let rows = sqlx::query_as!(
        BranchRow,
        r#"select o.org_id, o.name, o.branch_level as "branch_level!", o.region_code,
             r.name as region_name, pr.name as "parent_region_name?", o.company_name,
             o.parent_org_id, p.name as "parent_name?", o.contact_name, o.contact_mobile,
             o.status as "status: OrgStatus", a.account_id as "account_id?",
             a.login_name as "login_name?",
             coalesce(a.password_hash is not null, false) as "has_password!", o.created_at
           from organisations o join regions r on r.region_code = o.region_code
           left join regions pr on pr.region_code = r.parent_code
           left join organisations p on p.org_id = o.parent_org_id
           left join lateral (select account_id, login_name, password_hash from accounts
             where org_id = o.org_id order by account_id limit 1) a on true
           where o.kind = 'insurer_branch' and o.company_id = $1
             and o.region_path like $2 || '.%'
           order by o.region_path, o.org_id"#,
        company_id,
        creator.region_path,
    )
    .fetch_all(conn)
    .await?;
    Ok(masked(rows))
}

/// One branch of the creator's company below its region (`None` outside it).
pub async fn get_below(
    conn: &mut PgConnection,
    creator: &Creator,
    org_id: i64,
) -> Result<Option<BranchRow>, IdentityError> {
    let Some(company_id) = creator.company_id else {
        return Ok(None);
    };
    let rows = sqlx::query_as!(
        BranchRow,
        r#"select o.org_id, o.name, o.branch_level as "branch_level!", o.region_code,
             r.name as region_name, pr.name as "parent_region_name?", o.company_name,
             o.parent_org_id, p.name as "parent_name?", o.contact_name, o.contact_mobile,
             o.status as "status: OrgStatus", a.account_id as "account_id?",
             a.login_name as "login_name?",
             coalesce(a.password_hash is not null, false) as "has_password!", o.created_at
           from organisations o join regions r on r.region_code = o.region_code
           left join regions pr on pr.region_code = r.parent_code
           left join organisations p on p.org_id = o.parent_org_id
           left join lateral (select account_id, login_name, password_hash from accounts
             where org_id = o.org_id order by account_id limit 1) a on true
           where o.kind = 'insurer_branch' and o.company_id = $1
             and o.region_path like $2 || '.%'
             and o.org_id = $3"#,
        company_id,
        creator.region_path,
        org_id,
    )
    .fetch_all(conn)
    .await?;
    Ok(masked(rows).into_iter().next())
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    fn input() -> NewBranch {
        NewBranch {
            branch_level: "city".into(),
            region_code: "410100".into(),
            name: "测试保险郑州市分公司".into(),
            login_name: "zz-branch_01".into(),
            contact_name: "王经理".into(),
            contact_mobile: "138 1234 5678".into(),
        }
    }

    #[test]
    fn login_names_are_letters_digits_dashes_or_chinese() {
        assert!(check_login_name("zz-branch_01").is_ok());
        assert!(check_login_name("郑州分公司").is_ok());
        assert!(check_login_name("abc").is_err());
        assert!(check_login_name(&"a".repeat(41)).is_err());
        assert!(check_login_name(&"a".repeat(40)).is_ok());
        assert!(check_login_name("zz branch").is_err());
        assert!(check_login_name("zz@branch").is_err());
        assert!(check_login_name("分公司！").is_err());
    }

    #[test]
    fn input_is_trimmed_and_checked_in_form_order() {
        let (level, t) = validate(&input()).expect("valid");
        assert_eq!(level, BranchLevel::City);
        assert_eq!(t.contact_mobile, "13812345678");
        let mut i = input();
        i.branch_level = "province".into();
        assert_eq!(
            validate(&i).map(|_| ()).unwrap_err().field(),
            "branch_level"
        );
        let mut i = input();
        i.region_code = "4101".into();
        assert_eq!(validate(&i).map(|_| ()).unwrap_err().field(), "region_code");
        let mut i = input();
        i.login_name = " ab ".into();
        assert_eq!(validate(&i).map(|_| ()).unwrap_err().field(), "login_name");
        let mut i = input();
        i.contact_mobile = "12812345678".into();
        let err = validate(&i).map(|_| ()).unwrap_err();
        assert_eq!(err.field(), "contact_mobile");
        assert_eq!(err.to_string(), "联系人手机应为 11 位手机号码");
    }

    #[test]
    fn provinces_open_cities_and_counties_cities_counties_counties_nothing() {
        assert_eq!(
            BranchLevel::Province.may_open(),
            [BranchLevel::City, BranchLevel::County]
        );
        assert_eq!(BranchLevel::City.may_open(), [BranchLevel::County]);
        assert!(BranchLevel::County.may_open().is_empty());
        let creator = Creator {
            org_id: 1,
            kind: "insurer_branch".into(),
            status: OrgStatus::Active,
            company_id: Some(3),
            company_name: Some("测试保险".into()),
            branch_level: Some("city".into()),
            region_code: "410100".into(),
            region_path: "410000.410100".into(),
        };
        assert_eq!(creator.may_open(), [BranchLevel::County]);
        let department = Creator {
            kind: "department".into(),
            ..creator.clone()
        };
        assert!(department.may_open().is_empty());
        let no_company = Creator {
            company_id: None,
            ..creator
        };
        assert!(no_company.may_open().is_empty());
    }
}
