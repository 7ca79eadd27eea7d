//! Programme administration: the programme's rules for each academic year, changed only by a
//! proposal of one authority account approved by another (maker-checker).
//!
//! - [`edit`]: a rules document edited field by field, and the field difference of two.
//! - [`store`]: the queries on `rules_proposals` (versions are `xiaobao_db::rules`).
//! - [`service`]: the [`Rules`] handle, one method per action, each owning its transaction.
//!
//! What a change means for what is recorded: a version applies from its approval on. An
//! enrolment keeps the premium computed when it was saved — submitted enrolments are not
//! repriced; a draft saved again is priced by the rules then in force. Deadlines, reminders and
//! working-day clocks read the version in force when they are computed, so a claim's clocks use
//! the tiers in force when each clock starts.

pub mod admissions;
pub mod edit;
pub mod service;
pub mod store;

use xiaobao_domain::rules::RuleProblem;
use xiaobao_domain::{Failure, Refusal, RefusalClass, RequestStatus};

pub use admissions::{AdmissionInput, InsurersView};
pub use service::{
    Draft, ProposalDetail, ProposalView, Proposed, Rules, RulesYear, VersionMeta, VersionView,
    YearSummary, approve_as_operator, check_document,
};

/// Longest reason of a proposal or a refusal.
pub const MAX_REASON_CHARS: usize = 500;

/// Why an action on the rules is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("{}", problems_message(.0))]
    Invalid(Vec<RuleProblem>),
    #[error("{0}")]
    Syntax(String),
    #[error("方案规则文件超过{}KB", edit::MAX_DOCUMENT_BYTES / 1024)]
    TooLarge,
    #[error("文件中的学年为{found}，与所修改的学年{year}不一致")]
    WrongYear { year: String, found: String },
    #[error("该学年还没有方案规则，请提交完整的方案规则文件")]
    NoBase,
    #[error("提交的方案规则与现行版本相同，没有需要审核的修改")]
    Unchanged,
    #[error("请填写修改原因")]
    ReasonMissing,
    #[error("修改原因不能超过{MAX_REASON_CHARS}字")]
    ReasonTooLong,
    #[error("请填写不予通过的理由")]
    RefusalReasonMissing,
    #[error("{year}学年已有一项待审核的修改（编号{proposal_id}），请待其审核或撤回后再提出")]
    Pending { year: String, proposal_id: i64 },
    #[error("该修改已{}，不能再处理", status_word(*.0))]
    Decided(RequestStatus),
    #[error("该修改基于第{}版提出，现行版本已是第{current}版；请撤回后按现行版本重新提出", base.map_or_else(|| "0".to_string(), |b| b.to_string()))]
    Stale { base: Option<i32>, current: i32 },
    #[error("不能审核自己提出的修改，请由另一位主管部门账号审核")]
    SelfDecision,
    #[error("只有提出人可以撤回该修改")]
    NotProposer,
    #[error("本项目有两个以上主管部门账号，应由提出人以外的主管部门账号审核，平台运营方不代为审核")]
    OperatorNotNeeded,
    #[error("平台上没有名为“{0}”的保险公司，请从保险公司列表中选择")]
    UnknownCompany(String),
    #[error("本项目没有区域代码为“{0}”的区域")]
    UnknownRegion(String),
    #[error(
        "{year}学年已有学校选择“{company}”在{region}投保，不能取消其在{region}的准入（已投保的学校保留其保险公司）"
    )]
    AdmissionInUse {
        year: String,
        company: String,
        region: String,
    },
}

fn status_word(s: RequestStatus) -> &'static str {
    match s {
        RequestStatus::Pending => "待审核",
        RequestStatus::Approved => "通过并生效",
        RequestStatus::Refused => "不予通过",
        RequestStatus::Withdrawn => "撤回",
    }
}

/// The Chinese word of a proposal's status.
#[must_use]
pub fn status_label(s: RequestStatus) -> &'static str {
    match s {
        RequestStatus::Pending => "待审核",
        RequestStatus::Approved => "已生效",
        RequestStatus::Refused => "未通过",
        RequestStatus::Withdrawn => "已撤回",
    }
}

fn problems_message(problems: &[RuleProblem]) -> String {
    format!(
        "方案规则有{}处错误：{}",
        problems.len(),
        problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("；")
    )
}

impl Problem {
    /// The stable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Problem::Invalid(_) => "rules_invalid",
            Problem::Syntax(_) => "rules_syntax",
            Problem::TooLarge => "too_large",
            Problem::WrongYear { .. } => "rules_wrong_year",
            Problem::Unchanged => "rules_unchanged",
            Problem::NoBase => "rules_missing",
            Problem::ReasonMissing | Problem::RefusalReasonMissing => "reason_required",
            Problem::ReasonTooLong => "reason_too_long",
            Problem::Pending { .. } => "proposal_pending",
            Problem::Decided(_) => "proposal_decided",
            Problem::Stale { .. } => "proposal_stale",
            Problem::SelfDecision => "self_decision",
            Problem::NotProposer => "not_proposer",
            Problem::OperatorNotNeeded => "operator_not_needed",
            Problem::UnknownCompany(_) => "unknown_company",
            Problem::UnknownRegion(_) => "unknown_region",
            Problem::AdmissionInUse { .. } => "admission_in_use",
        }
    }

    fn class(&self) -> RefusalClass {
        match self {
            Problem::TooLarge => RefusalClass::TooLarge,
            Problem::Pending { .. }
            | Problem::Decided(_)
            | Problem::Stale { .. }
            | Problem::OperatorNotNeeded
            | Problem::AdmissionInUse { .. } => RefusalClass::Conflict,
            Problem::SelfDecision | Problem::NotProposer => RefusalClass::Forbidden,
            _ => RefusalClass::Invalid,
        }
    }

    fn field(&self) -> Option<String> {
        match self {
            Problem::Invalid(problems) => problems.first().map(|p| p.path.clone()),
            Problem::Syntax(_) | Problem::TooLarge | Problem::Unchanged | Problem::NoBase => {
                Some("document".into())
            }
            Problem::WrongYear { .. } => Some("academic_year".into()),
            Problem::UnknownCompany(_) => Some("company".into()),
            Problem::UnknownRegion(_) => Some("regions".into()),
            Problem::AdmissionInUse { .. } => Some("entries".into()),
            Problem::ReasonMissing | Problem::ReasonTooLong | Problem::RefusalReasonMissing => {
                Some("reason".into())
            }
            _ => None,
        }
    }
}

impl From<Problem> for Refusal {
    fn from(p: Problem) -> Self {
        let refusal = Refusal::new(p.class(), p.code(), p.to_string());
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
