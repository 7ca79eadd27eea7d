//! Enrolment (投保), the programme's main yearly job: the authority opens an academic year from
//! the rules; every school enters, per product, its headcount, its insurer and its roster
//! (花名册), or a central school or broker does it on its behalf; departments follow progress,
//! reopen schools after the deadline and review the requests schools make after submitting;
//! insurer branches receive the enrolments of the schools in their subtree that chose their
//! company, download rosters and owe endorsements (批单).
//!
//! Functions take the caller's tenant transaction, so a change, its audit entry and its
//! notifications commit together. Every read applies the caller's [`EnrolmentScope`] in SQL, as
//! the parameters of one static condition ([`ScopeArgs`]); a row outside it reads as absent
//! ([`Problem::NotFound`], answered with 404).

pub mod conflicts;
pub mod ingest;
pub mod progress;
pub mod requests;
pub mod school;
pub mod service;
pub mod underwriting;
pub mod years;

use serde::Serialize;
use xiaobao_domain::AcademicYear;
use xiaobao_domain::{EnrolmentStage, Failure, Refusal, RefusalClass, Role};
use xiaobao_identity::{SchoolScope, Viewer};

pub use service::{Enrolments, RosterUpload};
pub use xiaobao_roster::{IdSealer, RowProblem};

/// Failures that are not a person's mistake.
#[derive(Debug, thiserror::Error)]
pub enum EnrolmentError {
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error(transparent)]
    Db(#[from] xiaobao_db::DbError),
    #[error(transparent)]
    Audit(#[from] xiaobao_audit::AuditError),
    #[error(transparent)]
    Notify(#[from] xiaobao_notify::NotifyError),
    #[error("stored rules of {0} are not valid: {1}")]
    Rules(String, String),
    #[error("a sealed ID number could not be opened")]
    Seal,
}

/// A person's mistake, or a state that forbids the action. `Display` is the Chinese message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("记录不存在或不在管辖范围内")]
    NotFound,
    #[error("{0}学年尚未配置方案规则，请先配置规则")]
    NoRules(String),
    #[error("{0}学年已经开放")]
    YearAlreadyOpen(String),
    #[error("{0}学年尚未开放投保")]
    YearNotOpen(String),
    #[error("规则中的保险公司“{0}”在平台上不存在，请核对名称")]
    UnknownCompany(String),
    #[error("规则中的区域代码“{0}”不属于本项目")]
    UnknownRegion(String),
    #[error("本方案没有该险种")]
    UnknownProduct,
    #[error("该险种不适用于本校的学校类型")]
    NotEligible,
    #[error("本方案没有适用于本校的费率，请联系主管部门")]
    NoRate,
    #[error("请选择本区域准入的保险机构")]
    InsurerNotAdmitted,
    #[error("投保人数应在 1 到 1000000 之间")]
    BadHeadcount,
    #[error("提前起保日期应在 8 月 1 日至方案起保日之间")]
    BadCoverStart,
    #[error("投保截止日期（{0}）已过，请联系教育主管部门重新开放")]
    DeadlinePassed(String),
    #[error("已提交的投保不能直接修改，请通过“申请修改”办理")]
    AlreadySubmitted,
    #[error("尚未提交投保，可直接修改")]
    NotSubmitted,
    #[error("请先选择保险机构")]
    NoInsurer,
    #[error("请先上传花名册")]
    NoRoster,
    #[error("投保人数（{headcount}）与花名册有效行数（{rows}）不一致")]
    HeadcountMismatch { headcount: u32, rows: u32 },
    #[error("请填写理由（2–500 字）")]
    BadReason,
    #[error("申请没有任何变更：请填写新的人数、保险机构或上传新的花名册")]
    NothingToChange,
    #[error("人数变更须同时上传新的花名册")]
    RosterRequired,
    #[error("已有一条待审核的申请，请等待审核后再提交")]
    RequestOpen,
    #[error("该申请已处理，不能重复审核")]
    AlreadyDecided,
    #[error("请填写不予通过的理由（2–500 字）")]
    RefusalReasonMissing,
    #[error("本方案的修改申请由{0}审核")]
    NotReviewer(&'static str),
    #[error("第二家保险机构不能与第一家相同")]
    SameInsurer,
    #[error("本险种已有第二家保险机构的投保记录")]
    SecondExists,
    #[error("该投保已标记为已承保")]
    AlreadyReceived,
    #[error("该批单已出具")]
    AlreadyIssued,
    #[error("重新开放的截止日期应在今天之后、本学年之内")]
    BadReopenDate,
    #[error("该学校状态不能办理投保")]
    SchoolNotActive,
}

impl Problem {
    /// The input field a problem is about, for forms and the API's `field`.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::InsurerNotAdmitted | Self::NoInsurer | Self::SameInsurer => Some("company_id"),
            Self::BadHeadcount | Self::HeadcountMismatch { .. } => Some("headcount"),
            Self::BadCoverStart => Some("cover_start"),
            Self::NoRoster | Self::RosterRequired => Some("roster"),
            Self::BadReason | Self::RefusalReasonMissing => Some("reason"),
            Self::BadReopenDate => Some("until"),
            Self::UnknownProduct | Self::NotEligible => Some("product"),
            _ => None,
        }
    }

    /// A stable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::NoRules(_) => "no_rules",
            Self::YearAlreadyOpen(_) => "year_already_open",
            Self::YearNotOpen(_) => "year_not_open",
            Self::UnknownCompany(_) => "unknown_company",
            Self::UnknownRegion(_) => "unknown_region",
            Self::UnknownProduct => "unknown_product",
            Self::NotEligible => "not_eligible",
            Self::NoRate => "no_rate",
            Self::InsurerNotAdmitted => "insurer_not_admitted",
            Self::BadHeadcount => "bad_headcount",
            Self::BadCoverStart => "bad_cover_start",
            Self::DeadlinePassed(_) => "deadline_passed",
            Self::AlreadySubmitted => "already_submitted",
            Self::NotSubmitted => "not_submitted",
            Self::NoInsurer => "no_insurer",
            Self::NoRoster => "no_roster",
            Self::HeadcountMismatch { .. } => "headcount_mismatch",
            Self::BadReason => "bad_reason",
            Self::NothingToChange => "nothing_to_change",
            Self::RosterRequired => "roster_required",
            Self::RequestOpen => "request_open",
            Self::AlreadyDecided => "already_decided",
            Self::RefusalReasonMissing => "refusal_reason_missing",
            Self::NotReviewer(_) => "not_reviewer",
            Self::SameInsurer => "same_insurer",
            Self::SecondExists => "second_exists",
            Self::AlreadyReceived => "already_received",
            Self::AlreadyIssued => "already_issued",
            Self::BadReopenDate => "bad_reopen_date",
            Self::SchoolNotActive => "school_not_active",
        }
    }

    /// Whether the HTTP answer is 404 rather than 422/409.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound)
    }

    /// Whether the problem is a conflict with the current state (409) rather than bad input.
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            Self::YearAlreadyOpen(_)
                | Self::AlreadySubmitted
                | Self::NotSubmitted
                | Self::RequestOpen
                | Self::AlreadyDecided
                | Self::SecondExists
                | Self::AlreadyReceived
                | Self::AlreadyIssued
                | Self::DeadlinePassed(_)
                | Self::NotReviewer(_)
        )
    }
}

/// Done, or refused with a [`Problem`].
pub type Outcome<T> = Result<Result<T, Problem>, EnrolmentError>;

impl From<Problem> for Refusal {
    fn from(p: Problem) -> Self {
        let class = if p.is_not_found() {
            RefusalClass::NotFound
        } else if p.is_conflict() {
            RefusalClass::Conflict
        } else {
            RefusalClass::Invalid
        };
        let refusal = Refusal::new(class, p.code(), p.to_string());
        match p.field() {
            Some(field) => refusal.on(field),
            None => refusal,
        }
    }
}

impl From<Problem> for Failure {
    fn from(p: Problem) -> Self {
        Refusal::from(p).into()
    }
}

impl From<EnrolmentError> for Failure {
    fn from(e: EnrolmentError) -> Self {
        match e {
            EnrolmentError::Sqlx(sqlx::Error::PoolTimedOut)
            | EnrolmentError::Db(xiaobao_db::DbError::Sqlx(sqlx::Error::PoolTimedOut)) => {
                Failure::Unavailable(Box::new(e))
            }
            other => Failure::Internal(Box::new(other)),
        }
    }
}

/// Which enrolments a viewer may see: the schools of its [`SchoolScope`] (joined as `o`), and
/// for an insurer branch only those that chose its company (`e.company_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolmentScope {
    pub schools: SchoolScope,
    pub company_id: Option<i64>,
}

impl EnrolmentScope {
    /// The scope of a signed-in account. An insurer branch sees the schools of its own region
    /// subtree that chose its company; everyone else the schools of [`Viewer::school_scope`].
    pub fn of(viewer: &Viewer) -> Self {
        let insurer = viewer.has(Role::InsurerProvince)
            || viewer.has(Role::InsurerCity)
            || viewer.has(Role::InsurerCounty);
        match (insurer, viewer.company_id) {
            (true, Some(company_id)) => Self {
                schools: SchoolScope::Region {
                    path_prefix: viewer.region_path.clone(),
                },
                company_id: Some(company_id),
            },
            (true, None) => Self {
                schools: SchoolScope::None,
                company_id: None,
            },
            (false, _) => Self {
                schools: viewer.school_scope(),
                company_id: None,
            },
        }
    }

    /// Whether this is an insurer's scope.
    pub fn is_insurer(&self) -> bool {
        self.company_id.is_some()
    }

    /// The parameters of the scope's SQL condition (see [`ScopeArgs`]).
    pub fn args(&self) -> ScopeArgs {
        ScopeArgs {
            company_id: self.company_id,
            ..ScopeArgs::schools(&self.schools)
        }
    }
}

/// A scope as the parameters of one static SQL condition, so every kind of scope runs the same
/// checked statement. On `organisations o` (and `enrolments e`), with the parameters in this
/// order at `$a`…`$d`:
///
/// ```sql
/// (o.region_path like $a || '%' or o.org_id = $b or o.central_school_id = $c)
///   and ($d::bigint is null or e.company_id = $d)
/// ```
///
/// A parameter that is `null` makes its comparison `null`, so only the scope's own arm can hold:
/// a region scope sets only `region_prefix`, a central school `org_id` and `central_school_id`,
/// a school `org_id`, and [`SchoolScope::None`] nothing, which matches no row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeArgs {
    pub region_prefix: Option<String>,
    pub org_id: Option<i64>,
    pub central_school_id: Option<i64>,
    pub company_id: Option<i64>,
}

impl ScopeArgs {
    /// The parameters of a [`SchoolScope`] (`company_id` unset).
    pub fn schools(scope: &SchoolScope) -> Self {
        match scope {
            SchoolScope::Region { path_prefix } => Self {
                region_prefix: Some(path_prefix.clone()),
                ..Self::default()
            },
            SchoolScope::Central { org_id } => Self {
                org_id: Some(*org_id),
                central_school_id: Some(*org_id),
                ..Self::default()
            },
            SchoolScope::Own { org_id } => Self {
                org_id: Some(*org_id),
                ..Self::default()
            },
            SchoolScope::None => Self::default(),
        }
    }
}

/// The status a school sees per product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EnrolmentStatus {
    /// 未提交
    NotSubmitted,
    /// 已提交
    Submitted,
    /// 修改审核中
    UnderReview,
    /// 已承保
    Underwritten,
}

impl EnrolmentStatus {
    pub fn label(self) -> &'static str {
        match self {
            Self::NotSubmitted => "未提交",
            Self::Submitted => "已提交",
            Self::UnderReview => "修改审核中",
            Self::Underwritten => "已承保",
        }
    }

    /// From the stored status and whether a request is pending.
    pub fn derive(stored: EnrolmentStage, request_pending: bool) -> Self {
        match (stored, request_pending) {
            (EnrolmentStage::Draft, _) => Self::NotSubmitted,
            (_, true) => Self::UnderReview,
            (EnrolmentStage::Underwritten, false) => Self::Underwritten,
            (EnrolmentStage::Submitted, false) => Self::Submitted,
        }
    }
}

/// Loads the validated rules of a year.
pub async fn rules_for(
    conn: &mut sqlx::PgConnection,
    year: AcademicYear,
) -> Result<Option<(i32, xiaobao_domain::ProgrammeRules)>, EnrolmentError> {
    let Some(v) = xiaobao_db::rules::current(conn, &year.to_string()).await? else {
        return Ok(None);
    };
    let rules = xiaobao_domain::ProgrammeRules::from_toml_str(&v.document)
        .map_err(|e| EnrolmentError::Rules(year.to_string(), e.to_string()))?;
    Ok(Some((v.version, rules)))
}

/// Whether `reason` is 2–500 characters after trimming; the trimmed text.
pub(crate) fn reason_ok(reason: &str) -> Option<String> {
    let t = reason.trim();
    (2..=500)
        .contains(&t.chars().count())
        .then(|| t.to_string())
}
