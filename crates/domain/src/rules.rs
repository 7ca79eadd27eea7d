//! Programme rules (方案规则): what a tenant's programme fixes for one academic year — products
//! and rates, limits, deadlines, the mid-year headcount-change rule and the claim service
//! levels — as a TOML document that is parsed into typed structs and then validated.
//!
//! Every number a tender or notice fixes is configuration, not code, so one deployment can host
//! Henan, Liupanshui and Shanghai side by side. The functions here ([`ProgrammeRules::premium`],
//! [`ProgrammeRules::settle_due`], …) are pure and take the calendar as an argument.
//!
//! # Format
//!
//! Unknown keys are rejected (a misspelt key must not silently fall back to a default). Amounts
//! are integers in fen (分); a month-day (`"MM-DD"`) inside an academic year belongs to the
//! start year for September–December and to the end year for January–August. Validation errors
//! name the field path with 1-based positions (`products[1].rates[2].rate_fen`) and say what is
//! wrong, in Chinese.
//!
//! ```toml
//! academic_year = "2025-2026"
//! programme_name = "六盘水市校方责任保险"
//! broker_fee_permille = 230            # optional: broker fee, ‰ of premium received (23 %)
//!
//! [cover]
//! start_month_day = "09-01"            # 08-01..09-30, in the start year; cover ends where the
//!                                      # next academic year's cover starts
//!
//! [deadlines]                          # all five are required
//! school_enrolment = "09-30"           # schools submit enrolment
//! county_report = "10-10"              # county departments report to the city
//! insurer_policy_upload = "10-31"      # insurers upload policies
//! statistics_submission = "10-31"      # departments submit annual statistics
//! premium_payment = "12-30"            # premium paid
//!
//! [[products]]
//! code = "school_liability"            # [a-z_]+, unique
//! name = "校方责任险（含附加无过失责任险）"
//! insured = "student"                  # student | staff | intern
//! eligible_school_types = []           # optional; empty = every type (intern products:
//!                                      # vocational only)
//!
//! [[products.rates]]                   # first matching rule wins; every eligible
//! rate_fen = 1000                      # (nature, type) must be matched by some rule
//! # nature = "private"                 # optional: public | private (or 公办 | 民办)
//! # school_types = ["kindergarten"]    # optional: empty = any type
//!
//! [[products.limits]]                  # optional, informative
//! coverage = "校方责任险主险"
//! per_person_year_fen = 50000000       # at least one of the two amounts
//! per_school_accident_fen = 500000000
//!
//! [headcount_change]
//! public_schools = "no_change"         # no_change | same_as_others
//! private_band_percent = 5             # other schools: only the increase above 5 % is charged
//! refund_decrease = false              # true: decreases beyond the band are refunded
//! endorsement_working_days = 2         # endorsement and invoice after the school's request
//!
//! [claims]
//! report_answer_working_days = 1       # answer to a report or complaint
//! acceptance_decision_working_days = 1 # accept or refuse after receiving documents
//! # contact_hours = 12                 # optional: insurer contacts the school
//! # on_site_hours = 24                 # optional: insurer on site
//!
//! [claims.prepayment]                  # major cases with clear liability
//! percent = 50
//! working_days = 5
//!
//! [[claims.settle_tiers]]              # settle (结案) after complete documents; `up_to_fen`
//! up_to_fen = 300000                   # is inclusive and strictly increasing; exactly one
//! working_days = 5                     # last tier without it
//!
//! [[claims.settle_tiers]]
//! working_days = 15
//!
//! [[claims.payment_tiers]]             # pay after the settlement is agreed
//! up_to_fen = 5000000
//! working_days = 1
//!
//! [[claims.payment_tiers]]
//! working_days = 3
//!
//! [[claims.documents]]
//! code = "claim_notice"                # [a-z_]+, unique
//! name = "保险出险/索赔通知书"
//! kinds = ["injury", "hospitalised", "disability", "death"]
//!
//! [[claims.documents]]
//! code = "customer_notice"
//! name = "客户告知函"
//! kinds = ["injury", "hospitalised", "disability", "death"]
//! min_amount_exclusive_fen = 1000000   # only when the claim exceeds 10,000 CNY
//!
//! [[claims.documents]]
//! code = "payment_receipt"
//! name = "付款凭证或收据"
//! kinds = ["injury"]
//! only_if = "学校先行垫付情形"          # shown with the document: needed only in this case
//!
//! [[claims.compensation_items]]        # optional: absent = the standard catalogue below
//! code = "medical"                     # [a-z_]+, unique
//! name = "医疗费"
//! kinds = ["injury", "hospitalised", "disability", "death"]
//! # cap_fen = 5000000                  # optional: most paid for this item per claim
//!
//! [[claims.compensation_items]]
//! code = "scar_repair"
//! name = "疤痕修复费"
//! kinds = ["injury", "hospitalised", "disability"]
//! requires_confirmation = true         # paid within a reasonable range once confirmed
//! confirmed_by = "department"          # department | broker; required with the confirmation
//!
//! [enrolment]                          # optional
//! modification_reviewer = "department" # department | insurer
//! reminder_days_before = [7, 3, 1]
//!
//! [[enrolment.insurers]]               # optional: absent = every company with a branch
//! company = "中国人民财产保险股份有限公司"  # full registered name
//! regions = ["520203", "520281"]       # GB/T 2260 codes, each with everything below it
//! lot = "A标段"                         # optional: the tender lot (标段)
//! tender_years = "2025-2028"           # optional: first start year – last end year
//! ```
//!
//! # Admitted insurers and tender lots
//!
//! `[[enrolment.insurers]]` says which insurer companies schools of a region may choose. An
//! entry names one company and its regions; a tender lot (`lot`, e.g. `"A标段"`) groups the
//! entries of the companies that won it, and `tender_years` (`"2025-2028"`: the academic years
//! 2025-2026 to 2027-2028) is the period the tender fixed. The checks:
//!
//! - a company name is required; regions are 6-digit codes, at least one, none twice in an entry;
//! - a company is listed at most once for a region (also not in two entries of one lot);
//! - the regions of two different lots never overlap (the same region, or one inside the
//!   other by its code: `520200` contains `520201`), whatever the companies;
//! - `tender_years` is `YYYY-YYYY` with 1 to 6 academic years and must cover the document's
//!   academic year; all entries of a lot share one tender period;
//! - a lot name is at most 20 characters.
//!
//! **Carry-over.** The draft of a new academic year copies the previous year's rules; entries
//! whose `tender_years` still cover the new year are kept, entries whose tender has ended are
//! dropped, and the draft says which (see [`EnrolmentRules::carried_into`]). Entries without a
//! tender period are kept as they are.
//!
//! # Compensation items
//!
//! `[[claims.compensation_items]]` is the catalogue of what a claim may pay (赔偿项目): each item
//! has a code, a name, the claim kinds it applies to, an optional cap per claim (`cap_fen`) and,
//! for the extras bidders promise (疤痕修复, 牙齿, 无正式发票的中草药, 康复…), a confirmation step:
//! `requires_confirmation = true` with `confirmed_by` (`department` or `broker`) — paid within a
//! reasonable range once that party confirms. Codes are unique, at least one kind is given and
//! no kind twice, a cap is positive, and `confirmed_by` is given exactly when a confirmation is
//! required. Without the section the standard catalogue applies
//! ([`default_compensation_items`]): ordinary injury — 医疗费, 住院伙食补助费, 监护人误工费,
//! 护理费, 交通费; disability adds 残疾辅助器具费, 残疾生活补助费, 残疾护理补助; death adds
//! 丧葬费, 死亡补偿费, 诉讼及其他必要费用.
//!
//! The demo programmes in `programmes/` (see [`crate::programmes`]) are complete real-world
//! examples.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::academic_year::{AcademicYear, MonthDay};
use crate::calendar::{DueDate, WorkCalendar, line_of};
use crate::china_time;
use crate::money::Fen;
use crate::school::{SchoolNature, SchoolType};

/// Upper bound for any working-day figure, to catch typos such as `50` for `5`… almost: a
/// quarter of a year is generous for any service level.
const MAX_WORKING_DAYS: u32 = 90;
/// Upper bound for hour figures: 30 days.
const MAX_HOURS: u32 = 720;
/// Upper bound for a rate: 10,000 CNY per person-year. Real rates are 5–100 CNY; the bound also
/// keeps `headcount × rate` far from overflow.
const MAX_RATE_FEN: i64 = 1_000_000;

// ---------------------------------------------------------------------------------------------
// Document structs (the TOML shape)
// ---------------------------------------------------------------------------------------------

/// The rules document exactly as written in TOML, before validation. Build a
/// [`ProgrammeRules`] from it with [`ProgrammeRules::validate`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesDocument {
    /// The academic year these rules apply to.
    pub academic_year: AcademicYear,
    /// The programme's Chinese name, e.g. 六盘水市校方责任保险.
    pub programme_name: String,
    /// Broker fee in ‰ of the premium actually received including tax (230 = 23 %); `None`
    /// when the programme has no broker fee.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker_fee_permille: Option<u32>,
    /// When cover starts.
    pub cover: CoverRules,
    /// Yearly deadlines.
    pub deadlines: DeadlineRules,
    /// Insurance products (险种); at least one.
    pub products: Vec<Product>,
    /// Mid-year headcount changes (批改).
    pub headcount_change: HeadcountChangeRules,
    /// Claim service levels and documents.
    pub claims: ClaimsRules,
    /// Enrolment: who reviews modification requests, reminders, admitted insurers. Optional;
    /// the defaults are the department, reminders 7, 3 and 1 days ahead, and every insurer
    /// company with a branch in the programme admitted in its branch's region.
    #[serde(default, skip_serializing_if = "EnrolmentRules::is_default")]
    pub enrolment: EnrolmentRules,
}

impl RulesDocument {
    /// Parses a rules document without validating it (see [`ProgrammeRules::from_toml_str`]).
    pub fn from_toml_str(input: &str) -> Result<RulesDocument, RulesError> {
        toml::from_str(input).map_err(|e| RulesError::Syntax {
            line: e.span().map(|s| line_of(input, s.start)),
            message: translate_serde_message(e.message()),
        })
    }
}

/// Who reviews a school's modification request (申请修改).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModificationReviewer {
    /// The school's education department (the usual case).
    #[default]
    Department,
    /// The insurer the school chose.
    Insurer,
}

impl ModificationReviewer {
    /// `department` or `insurer`.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Self::Department => "department",
            Self::Insurer => "insurer",
        }
    }

    /// 教育主管部门 or 保险机构.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Department => "教育主管部门",
            Self::Insurer => "保险机构",
        }
    }
}

/// The `[enrolment]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolmentRules {
    /// Who reviews modification requests.
    #[serde(default)]
    pub modification_reviewer: ModificationReviewer,
    /// Days before the school enrolment deadline on which schools that have not submitted are
    /// reminded.
    #[serde(default = "default_reminder_days")]
    pub reminder_days_before: Vec<u32>,
    /// Insurers admitted per region; empty = every insurer company with a branch in the
    /// programme, in its branch's region.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub insurers: Vec<AdmittedInsurer>,
}

fn default_reminder_days() -> Vec<u32> {
    vec![7, 3, 1]
}

impl Default for EnrolmentRules {
    fn default() -> Self {
        Self {
            modification_reviewer: ModificationReviewer::Department,
            reminder_days_before: default_reminder_days(),
            insurers: Vec::new(),
        }
    }
}

impl EnrolmentRules {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// The admitted insurers carried into the draft of `year` (the year after these rules'):
    /// the entries that still hold there (no tender period, or one covering `year`), and the
    /// ones dropped because their tender ended.
    #[must_use]
    pub fn carried_into(&self, year: AcademicYear) -> (Vec<AdmittedInsurer>, Vec<AdmittedInsurer>) {
        self.insurers
            .iter()
            .cloned()
            .partition(|i| i.holds_in(year))
    }
}

/// An `[[enrolment.insurers]]` entry: a company (by its registered full name) and the region
/// codes (with everything below them) where schools may choose it, optionally as the winner of
/// a tender lot for a tender period (see the [module documentation](self)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdmittedInsurer {
    /// The company's full name, e.g. 中国人民财产保险股份有限公司.
    pub company: String,
    /// GB/T 2260 codes of the regions.
    pub regions: Vec<String>,
    /// The tender lot (标段), e.g. A标段.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lot: Option<String>,
    /// The tender period, `"2025-2028"`: from the academic year starting in 2025 to the one
    /// ending in 2028.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tender_years: Option<String>,
}

/// A tender period (`"2025-2028"`): the first academic year's start year and the last one's
/// end year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenderYears {
    /// Start year of the first academic year.
    pub first_start: i32,
    /// End year of the last academic year.
    pub last_end: i32,
}

/// Longest tender period, in academic years.
pub const MAX_TENDER_YEARS: i32 = 6;

impl TenderYears {
    /// Parses `YYYY-YYYY` with 1 to [`MAX_TENDER_YEARS`] academic years; the problem in Chinese.
    pub fn parse(input: &str) -> Result<TenderYears, String> {
        let bad = || format!("招标期限“{input}”应写作“起始年-结束年”，如“2025-2028”");
        let (a, b) = input.trim().split_once('-').ok_or_else(bad)?;
        let year = |t: &str| {
            (t.len() == 4 && t.bytes().all(|c| c.is_ascii_digit()))
                .then(|| t.parse::<i32>().ok())
                .flatten()
        };
        let (first_start, last_end) = (year(a).ok_or_else(bad)?, year(b).ok_or_else(bad)?);
        if last_end <= first_start {
            return Err(format!(
                "招标期限“{input}”的结束年应晚于起始年（一学年如“2025-2026”）"
            ));
        }
        if last_end - first_start > MAX_TENDER_YEARS {
            return Err(format!("招标期限“{input}”超过{MAX_TENDER_YEARS}个学年"));
        }
        Ok(TenderYears {
            first_start,
            last_end,
        })
    }

    /// Whether the period covers academic year `year`.
    #[must_use]
    pub fn covers(self, year: AcademicYear) -> bool {
        self.first_start <= year.start_year() && year.end_year() <= self.last_end
    }
}

impl AdmittedInsurer {
    /// The tender period, when one is given and well formed.
    #[must_use]
    pub fn tender(&self) -> Option<TenderYears> {
        self.tender_years
            .as_deref()
            .and_then(|t| TenderYears::parse(t).ok())
    }

    /// Whether the entry still holds in `year`: no tender period, or one covering the year.
    #[must_use]
    pub fn holds_in(&self, year: AcademicYear) -> bool {
        self.tender_years.is_none() || self.tender().is_some_and(|t| t.covers(year))
    }
}

/// The subtree prefix of a GB/T 2260 code: `520000` → `52`, `520200` → `5202`, `520201` →
/// `520201` (a 市直 bucket `520299` is its own county-level code).
fn code_prefix(code: &str) -> &str {
    if let Some(p) = code.strip_suffix("0000") {
        p
    } else if let Some(p) = code.strip_suffix("00") {
        p
    } else {
        code
    }
}

/// Whether two region codes overlap: equal, or one inside the other.
#[must_use]
pub fn regions_overlap(a: &str, b: &str) -> bool {
    let (pa, pb) = (code_prefix(a), code_prefix(b));
    pa.starts_with(pb) || pb.starts_with(pa)
}

/// The `[cover]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoverRules {
    /// First day of cover in the start year (00:00 China time), between 08-01 and 09-30.
    /// Cover ends (exclusive) at the next academic year's start, so years never leave a gap.
    pub start_month_day: MonthDay,
}

/// The `[deadlines]` section: month-days inside the academic year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadlineRules {
    /// Schools submit their enrolment (Henan: 09-30).
    pub school_enrolment: MonthDay,
    /// County departments report to the city (Henan: 10-10).
    pub county_report: MonthDay,
    /// Insurers upload policies (Henan: 10-31).
    pub insurer_policy_upload: MonthDay,
    /// Departments submit the annual statistics (Henan: 10-31).
    pub statistics_submission: MonthDay,
    /// Premium is paid (Liupanshui: 12-30).
    pub premium_payment: MonthDay,
}

/// One of the yearly deadlines of [`DeadlineRules`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Deadline {
    /// 学校投保
    SchoolEnrolment,
    /// 县区上报
    CountyReport,
    /// 保险机构上传保单
    InsurerPolicyUpload,
    /// 统计数据提交
    StatisticsSubmission,
    /// 保费缴纳
    PremiumPayment,
}

impl Deadline {
    /// All deadlines, in their usual order in the year.
    pub const ALL: [Deadline; 5] = [
        Deadline::SchoolEnrolment,
        Deadline::CountyReport,
        Deadline::InsurerPolicyUpload,
        Deadline::StatisticsSubmission,
        Deadline::PremiumPayment,
    ];

    /// The TOML key, e.g. `"school_enrolment"`.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Deadline::SchoolEnrolment => "school_enrolment",
            Deadline::CountyReport => "county_report",
            Deadline::InsurerPolicyUpload => "insurer_policy_upload",
            Deadline::StatisticsSubmission => "statistics_submission",
            Deadline::PremiumPayment => "premium_payment",
        }
    }

    /// Chinese label, e.g. 学校投保截止.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Deadline::SchoolEnrolment => "学校投保截止",
            Deadline::CountyReport => "县区上报截止",
            Deadline::InsurerPolicyUpload => "保险机构上传保单截止",
            Deadline::StatisticsSubmission => "统计数据提交截止",
            Deadline::PremiumPayment => "保费缴纳截止",
        }
    }
}

/// Who a product insures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InsuredGroup {
    /// 学生 — registered students.
    Student,
    /// 教职工 — staff.
    Staff,
    /// 实习学生 — vocational students on internship.
    Intern,
}

impl InsuredGroup {
    /// 学生, 教职工 or 实习学生.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            InsuredGroup::Student => "学生",
            InsuredGroup::Staff => "教职工",
            InsuredGroup::Intern => "实习学生",
        }
    }
}

/// A `[[products]]` entry: one insurance product (险种).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Product {
    /// Stable code, `[a-z_]+`, unique in the programme.
    pub code: String,
    /// Chinese name as on the forms.
    pub name: String,
    /// Who is insured.
    pub insured: InsuredGroup,
    /// School types that may enrol. Empty means every type — except for intern products, where
    /// empty means vocational schools only. Use [`Product::is_eligible`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub eligible_school_types: Vec<SchoolType>,
    /// Rates; the first matching rule wins.
    pub rates: Vec<RateRule>,
    /// Named coverages and their limits (informative).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub limits: Vec<CoverageLimit>,
}

impl Product {
    /// The school types that may enrol in this product.
    #[must_use]
    pub fn effective_school_types(&self) -> Vec<SchoolType> {
        if !self.eligible_school_types.is_empty() {
            self.eligible_school_types.clone()
        } else if self.insured == InsuredGroup::Intern {
            vec![SchoolType::Vocational]
        } else {
            SchoolType::ALL.to_vec()
        }
    }

    /// Whether schools of `school_type` may enrol in this product.
    #[must_use]
    pub fn is_eligible(&self, school_type: SchoolType) -> bool {
        self.effective_school_types().contains(&school_type)
    }

    /// The rate per person-year for a school, from the first matching rule.
    #[must_use]
    pub fn rate_for(&self, nature: SchoolNature, school_type: SchoolType) -> Option<Fen> {
        self.rates
            .iter()
            .find(|r| r.matches(nature, school_type))
            .map(|r| r.rate_fen)
    }
}

/// A `[[products.rates]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateRule {
    /// Applies only to schools of this nature; `None` = any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nature: Option<SchoolNature>,
    /// Applies only to these school types; empty = any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub school_types: Vec<SchoolType>,
    /// Premium per person-year, in fen.
    pub rate_fen: Fen,
}

impl RateRule {
    /// Whether this rule applies to a school.
    #[must_use]
    pub fn matches(&self, nature: SchoolNature, school_type: SchoolType) -> bool {
        self.nature.is_none_or(|n| n == nature)
            && (self.school_types.is_empty() || self.school_types.contains(&school_type))
    }
}

/// A `[[products.limits]]` entry: a named coverage and its limits of liability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoverageLimit {
    /// Name of the coverage, e.g. 校方责任险主险 or 附加无过失责任险.
    pub coverage: String,
    /// Limit per insured person per year (每人每年).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_person_year_fen: Option<Fen>,
    /// Limit per school per accident (每校每次事故).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_school_accident_fen: Option<Fen>,
}

/// How public schools are treated when their headcount changes mid-year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PublicSchoolChange {
    /// No premium added or refunded (Liupanshui).
    NoChange,
    /// The same band rule as other schools. Also accepted as `charge_increase`.
    #[serde(alias = "charge_increase")]
    SameAsOthers,
}

/// The `[headcount_change]` section: mid-year changes of the insured headcount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadcountChangeRules {
    /// Treatment of public schools.
    pub public_schools: PublicSchoolChange,
    /// Band in percent of the insured headcount within which a change costs nothing; only the
    /// part of an increase beyond it is charged. The allowance is `insured × band / 100`
    /// rounded down to whole persons.
    pub private_band_percent: u32,
    /// Whether the part of a decrease beyond the band is refunded (Liupanshui: never).
    #[serde(default)]
    pub refund_decrease: bool,
    /// Working days to issue the endorsement (批单) and invoice after the school's request.
    pub endorsement_working_days: u32,
}

/// The `[claims]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimsRules {
    /// Working days to answer a report or complaint.
    pub report_answer_working_days: u32,
    /// Working days to decide acceptance (立案) after receiving the claim documents.
    pub acceptance_decision_working_days: u32,
    /// Hours within which the insurer contacts the school after a report (Shanghai: 12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_hours: Option<u32>,
    /// Hours within which the insurer is on site when needed (Shanghai: 24).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_site_hours: Option<u32>,
    /// Prepayment for major cases with clear liability but an uncertain amount.
    pub prepayment: PrepaymentRule,
    /// Working days to settle (结案) after complete documents, by amount.
    pub settle_tiers: Vec<Tier>,
    /// Working days to pay, by amount.
    pub payment_tiers: Vec<Tier>,
    /// The documents a claim may require. Insurers may not ask for more.
    #[serde(default)]
    pub documents: Vec<DocumentRule>,
    /// What a claim may pay (赔偿项目); absent = [`default_compensation_items`].
    #[serde(
        default = "default_compensation_items",
        skip_serializing_if = "is_default_compensation_items"
    )]
    pub compensation_items: Vec<CompensationItem>,
}

/// Who confirms a compensation item before it is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confirmer {
    /// The education department (教育主管部门).
    Department,
    /// The broker (保险经纪机构).
    Broker,
}

impl Confirmer {
    /// `department` or `broker`.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Self::Department => "department",
            Self::Broker => "broker",
        }
    }

    /// 教育主管部门 or 保险经纪机构.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Department => "教育主管部门",
            Self::Broker => "保险经纪机构",
        }
    }
}

/// A `[[claims.compensation_items]]` entry: one item a claim may pay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompensationItem {
    /// Stable code, `[a-z_]+`, unique in the programme.
    pub code: String,
    /// Chinese name, e.g. 医疗费.
    pub name: String,
    /// Claim kinds the item applies to.
    pub kinds: Vec<ClaimKind>,
    /// Paid only within a reasonable range once [`confirmed_by`](Self::confirmed_by) confirms.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub requires_confirmation: bool,
    /// Who confirms; given exactly when a confirmation is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_by: Option<Confirmer>,
    /// Most paid for this item per claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap_fen: Option<Fen>,
}

impl CompensationItem {
    fn standard(code: &str, name: &str, kinds: &[ClaimKind]) -> Self {
        Self {
            code: code.to_string(),
            name: name.to_string(),
            kinds: kinds.to_vec(),
            requires_confirmation: false,
            confirmed_by: None,
            cap_fen: None,
        }
    }
}

/// The standard catalogue (claims rules when a programme lists none): ordinary injury —
/// 医疗费, 住院伙食补助费 (stays in hospital), 监护人误工费, 护理费, 交通费; disability adds
/// 残疾辅助器具费, 残疾生活补助费, 残疾护理补助; death adds 丧葬费, 死亡补偿费,
/// 诉讼及其他必要费用. None needs a confirmation or has a cap.
#[must_use]
pub fn default_compensation_items() -> Vec<CompensationItem> {
    use ClaimKind::{Death, Disability, Hospitalised, Injury};
    let all = [Injury, Hospitalised, Disability, Death];
    let stay = [Hospitalised, Disability, Death];
    [
        ("medical", "医疗费", &all[..]),
        ("hospital_meals", "住院伙食补助费", &stay[..]),
        ("guardian_lost_income", "监护人误工费", &all[..]),
        ("nursing", "护理费", &all[..]),
        ("transport", "交通费", &all[..]),
        ("disability_aids", "残疾辅助器具费", &[Disability][..]),
        ("disability_living", "残疾生活补助费", &[Disability][..]),
        ("disability_nursing", "残疾护理补助", &[Disability][..]),
        ("funeral", "丧葬费", &[Death][..]),
        ("death_compensation", "死亡补偿费", &[Death][..]),
        ("litigation", "诉讼及其他必要费用", &[Death][..]),
    ]
    .into_iter()
    .map(|(code, name, kinds)| CompensationItem::standard(code, name, kinds))
    .collect()
}

fn is_default_compensation_items(items: &[CompensationItem]) -> bool {
    items == default_compensation_items().as_slice()
}

/// The `[claims.prepayment]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrepaymentRule {
    /// Share of the agreed or estimated amount paid in advance, 1–100.
    pub percent: u32,
    /// Working days to pay it.
    pub working_days: u32,
}

/// An amount tier: amounts up to and including `up_to_fen` take `working_days`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// Inclusive upper bound; `None` on the last, open-ended tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up_to_fen: Option<Fen>,
    /// Working days allowed.
    pub working_days: u32,
}

/// The kind of claim, deciding which documents are needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimKind {
    /// 一般伤害（门急诊）: ordinary injury treated as an outpatient.
    Injury,
    /// 一般伤害（住院）: ordinary injury with hospital stay.
    Hospitalised,
    /// 伤残: injury resulting in disability.
    Disability,
    /// 死亡: death.
    Death,
}

impl ClaimKind {
    /// All kinds.
    pub const ALL: [ClaimKind; 4] = [
        ClaimKind::Injury,
        ClaimKind::Hospitalised,
        ClaimKind::Disability,
        ClaimKind::Death,
    ];

    /// Chinese label.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            ClaimKind::Injury => "一般伤害（门急诊）",
            ClaimKind::Hospitalised => "一般伤害（住院）",
            ClaimKind::Disability => "伤残",
            ClaimKind::Death => "死亡",
        }
    }
}

/// A `[[claims.documents]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentRule {
    /// Stable code, `[a-z_]+`, unique in the programme.
    pub code: String,
    /// Chinese name as shown to schools.
    pub name: String,
    /// Claim kinds that need this document.
    pub kinds: Vec<ClaimKind>,
    /// Needed only when the claim amount exceeds this (e.g. 客户告知函 above 10,000 CNY).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_amount_exclusive_fen: Option<Fen>,
    /// A condition shown with the document when it is needed only in some cases
    /// (e.g. 学校先行垫付情形); the system cannot decide it, the school does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only_if: Option<String>,
}

impl DocumentRule {
    /// Whether the document applies to a claim of `kind` and `amount`.
    #[must_use]
    pub fn applies_to(&self, kind: ClaimKind, amount: Fen) -> bool {
        self.kinds.contains(&kind) && self.min_amount_exclusive_fen.is_none_or(|min| amount > min)
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// One validation problem: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleProblem {
    /// Field path with 1-based positions, e.g. `products[1].rates[2].rate_fen`.
    pub path: String,
    /// What is wrong, in Chinese.
    pub problem: String,
}

impl fmt::Display for RuleProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}：{}", self.path, self.problem)
    }
}

/// Why rules could not be loaded or applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    /// The TOML does not parse or does not have the expected shape.
    #[error("方案规则文件格式错误{}：{message}", line.map(|l| format!("（第{l}行）")).unwrap_or_default())]
    Syntax {
        /// 1-based line, when known.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// The document parsed but breaks one or more rules.
    #[error("方案规则有{}处错误：{}", problems.len(), join_problems(problems))]
    Invalid {
        /// Every problem found.
        problems: Vec<RuleProblem>,
    },
    /// No product with this code.
    #[error("本方案没有代码为“{code}”的险种")]
    UnknownProduct {
        /// The code asked for.
        code: String,
    },
    /// The product is not open to this school type.
    #[error("险种“{product}”不适用于{}学校", school_type.label())]
    NotEligible {
        /// Product name.
        product: String,
        /// The school's type.
        school_type: SchoolType,
    },
    /// No rate rule matches the school.
    #[error("险种“{product}”没有适用于{}{}的费率", nature.label(), school_type.label())]
    NoRate {
        /// Product name.
        product: String,
        /// The school's nature.
        nature: SchoolNature,
        /// The school's type.
        school_type: SchoolType,
    },
    /// An amount is too large to compute.
    #[error("金额超出可计算范围，请核对人数和费率")]
    Overflow,
    /// The rules could not be written as TOML.
    #[error("方案规则无法导出为TOML：{message}")]
    Serialize {
        /// Serializer message.
        message: String,
    },
}

fn join_problems(problems: &[RuleProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("；")
}

/// Puts the common serde messages into Chinese; unknown ones pass through.
fn translate_serde_message(message: &str) -> String {
    let message = message.trim();
    let rest_after = |prefix: &str| message.strip_prefix(prefix).map(str::trim);
    if let Some(rest) = rest_after("unknown field") {
        let (field, expected) = rest.split_once(", expected").unwrap_or((rest, ""));
        let expected = expected.trim().trim_start_matches("one of").trim();
        return if expected.is_empty() {
            format!("未知字段 {field}")
        } else {
            format!("未知字段 {field}（可用字段：{expected}）")
        };
    }
    if let Some(rest) = rest_after("missing field") {
        return format!("缺少必填字段 {rest}");
    }
    if let Some(rest) = rest_after("unknown variant") {
        let (value, expected) = rest.split_once(", expected").unwrap_or((rest, ""));
        let expected = expected.trim().trim_start_matches("one of").trim();
        return format!("无法识别的取值 {value}（可选：{expected}）");
    }
    if let Some(rest) = rest_after("invalid type:") {
        let (found, expected) = rest.split_once(", expected").unwrap_or((rest, ""));
        return format!("类型不正确：实际为 {found}，应为 {}", expected.trim());
    }
    if let Some(rest) = rest_after("duplicate key") {
        return format!("重复的键 {rest}");
    }
    message.to_owned()
}

// ---------------------------------------------------------------------------------------------
// Validated rules
// ---------------------------------------------------------------------------------------------

/// Validated programme rules for one tenant and academic year.
///
/// Only obtainable through [`ProgrammeRules::from_toml_str`], [`ProgrammeRules::validate`] or
/// deserialisation (which validates), so every method can rely on the invariants: at least one
/// product, every eligible school has a rate, tiers end with an open tier, and so on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RulesDocument", into = "RulesDocument")]
pub struct ProgrammeRules {
    doc: RulesDocument,
}

impl TryFrom<RulesDocument> for ProgrammeRules {
    type Error = RulesError;
    fn try_from(doc: RulesDocument) -> Result<Self, Self::Error> {
        ProgrammeRules::validate(doc)
    }
}

impl From<ProgrammeRules> for RulesDocument {
    fn from(rules: ProgrammeRules) -> RulesDocument {
        rules.doc
    }
}

impl ProgrammeRules {
    /// Parses and validates a rules document (format in the [module documentation](self)).
    pub fn from_toml_str(input: &str) -> Result<ProgrammeRules, RulesError> {
        ProgrammeRules::validate(RulesDocument::from_toml_str(input)?)
    }

    /// Writes the rules back as TOML; [`from_toml_str`](Self::from_toml_str) reads it back to
    /// equal rules. Comments of the original file are not kept.
    pub fn to_toml_string(&self) -> Result<String, RulesError> {
        toml::to_string(&self.doc).map_err(|e| RulesError::Serialize {
            message: e.to_string(),
        })
    }

    /// Checks a document and reports every problem found.
    pub fn validate(doc: RulesDocument) -> Result<ProgrammeRules, RulesError> {
        let problems = validation::check(&doc);
        if problems.is_empty() {
            Ok(ProgrammeRules { doc })
        } else {
            Err(RulesError::Invalid { problems })
        }
    }

    /// The underlying document.
    #[must_use]
    pub fn document(&self) -> &RulesDocument {
        &self.doc
    }

    /// The academic year the rules were written for.
    #[must_use]
    pub fn academic_year(&self) -> AcademicYear {
        self.doc.academic_year
    }

    /// The programme's Chinese name.
    #[must_use]
    pub fn programme_name(&self) -> &str {
        &self.doc.programme_name
    }

    /// All products, in document order.
    #[must_use]
    pub fn products(&self) -> &[Product] {
        &self.doc.products
    }

    /// The product with this code.
    #[must_use]
    pub fn product(&self, code: &str) -> Option<&Product> {
        self.doc.products.iter().find(|p| p.code == code)
    }

    /// Deadline month-days.
    #[must_use]
    pub fn deadlines(&self) -> &DeadlineRules {
        &self.doc.deadlines
    }

    /// Headcount-change rules.
    #[must_use]
    pub fn headcount_change(&self) -> &HeadcountChangeRules {
        &self.doc.headcount_change
    }

    /// Claim rules.
    #[must_use]
    pub fn claims(&self) -> &ClaimsRules {
        &self.doc.claims
    }

    /// The first day of cover in `year` (a local date, from `[cover]`).
    #[must_use]
    pub fn cover_start_date(&self, year: AcademicYear) -> NaiveDate {
        self.doc.cover.start_month_day.in_year(year.start_year())
    }

    /// Broker fee in ‰, if any.
    #[must_use]
    pub fn broker_fee_permille(&self) -> Option<u32> {
        self.doc.broker_fee_permille
    }

    // --- cover and deadlines -----------------------------------------------------------------

    /// Cover start of `year`: 00:00 China time of the configured start day in the start year.
    #[must_use]
    pub fn cover_start(&self, year: AcademicYear) -> DateTime<Utc> {
        china_time::start_of_day(self.doc.cover.start_month_day.in_year(year.start_year()))
    }

    /// Cover end of `year` (exclusive): the next academic year's cover start, so there is never
    /// a gap. With the default 09-01 this is 31 August 24:00 China time.
    #[must_use]
    pub fn cover_end(&self, year: AcademicYear) -> DateTime<Utc> {
        self.cover_start(year.next())
    }

    /// The date of a yearly deadline in `year` (the last day on which it can be met).
    #[must_use]
    pub fn deadline(&self, which: Deadline, year: AcademicYear) -> NaiveDate {
        let d = &self.doc.deadlines;
        let md = match which {
            Deadline::SchoolEnrolment => d.school_enrolment,
            Deadline::CountyReport => d.county_report,
            Deadline::InsurerPolicyUpload => d.insurer_policy_upload,
            Deadline::StatisticsSubmission => d.statistics_submission,
            Deadline::PremiumPayment => d.premium_payment,
        };
        md.in_academic_year(year)
    }

    /// The instant a yearly deadline passes: the end of [`deadline`](Self::deadline)'s day,
    /// China time.
    #[must_use]
    pub fn deadline_at(&self, which: Deadline, year: AcademicYear) -> DateTime<Utc> {
        china_time::end_of_day(self.deadline(which, year))
    }

    // --- premium -----------------------------------------------------------------------------

    /// The rate per person-year of `product_code` for a school.
    pub fn rate(
        &self,
        product_code: &str,
        nature: SchoolNature,
        school_type: SchoolType,
    ) -> Result<Fen, RulesError> {
        let product = self
            .product(product_code)
            .ok_or_else(|| RulesError::UnknownProduct {
                code: product_code.to_owned(),
            })?;
        if !product.is_eligible(school_type) {
            return Err(RulesError::NotEligible {
                product: product.name.clone(),
                school_type,
            });
        }
        product
            .rate_for(nature, school_type)
            .ok_or_else(|| RulesError::NoRate {
                product: product.name.clone(),
                nature,
                school_type,
            })
    }

    /// Annual premium: `headcount × rate`.
    pub fn premium(
        &self,
        product_code: &str,
        nature: SchoolNature,
        school_type: SchoolType,
        headcount: u32,
    ) -> Result<Fen, RulesError> {
        let rate = self.rate(product_code, nature, school_type)?;
        rate.checked_mul(i64::from(headcount))
            .ok_or(RulesError::Overflow)
    }

    /// Premium due (positive) or refunded (negative) for a mid-year change from
    /// `insured_headcount` to `new_headcount`:
    ///
    /// - public schools with `public_schools = "no_change"`: always zero;
    /// - otherwise `allowance = ⌊insured × band / 100⌋` persons (integer division, rounded
    ///   down); an increase charges `max(0, new − insured − allowance) × rate`;
    /// - a decrease is never refunded (zero) unless `refund_decrease = true`, in which case
    ///   `max(0, insured − new − allowance) × rate` is returned as a negative amount.
    ///
    /// With band 5 % and 1,000 insured: 1,120 → 70 × rate; 1,050 → 0; 1,030 → 0; 900 → 0.
    pub fn headcount_change_premium(
        &self,
        product_code: &str,
        nature: SchoolNature,
        school_type: SchoolType,
        insured_headcount: u32,
        new_headcount: u32,
    ) -> Result<Fen, RulesError> {
        let rate = self.rate(product_code, nature, school_type)?;
        let rules = &self.doc.headcount_change;
        if nature == SchoolNature::Public && rules.public_schools == PublicSchoolChange::NoChange {
            return Ok(Fen::ZERO);
        }
        let insured = i64::from(insured_headcount);
        let new = i64::from(new_headcount);
        let allowance = insured * i64::from(rules.private_band_percent) / 100;
        let persons = if new > insured {
            (new - insured - allowance).max(0)
        } else if rules.refund_decrease {
            -(insured - new - allowance).max(0)
        } else {
            0
        };
        rate.checked_mul(persons).ok_or(RulesError::Overflow)
    }

    /// The `[enrolment]` section.
    #[must_use]
    pub fn enrolment(&self) -> &EnrolmentRules {
        &self.doc.enrolment
    }

    /// Deadline for the endorsement and invoice after a school's change request.
    #[must_use]
    pub fn endorsement_due(&self, requested_at: DateTime<Utc>, cal: &WorkCalendar) -> DueDate {
        cal.add_working_days(
            requested_at,
            self.doc.headcount_change.endorsement_working_days,
        )
    }

    /// Broker fee on premium actually received: `received × ‰ / 1000`, rounded to the nearest
    /// fen (halves away from zero). Zero when the programme has no broker fee.
    #[must_use]
    pub fn broker_fee(&self, received_premium: Fen) -> Fen {
        self.doc
            .broker_fee_permille
            .map_or(Fen::ZERO, |p| received_premium.share(p, 1000))
    }

    // --- claims ------------------------------------------------------------------------------

    /// Deadline to answer a report or complaint.
    #[must_use]
    pub fn report_answer_due(&self, reported_at: DateTime<Utc>, cal: &WorkCalendar) -> DueDate {
        cal.add_working_days(reported_at, self.doc.claims.report_answer_working_days)
    }

    /// Deadline to accept or refuse a claim after its documents are received.
    #[must_use]
    pub fn acceptance_decision_due(
        &self,
        documents_received_at: DateTime<Utc>,
        cal: &WorkCalendar,
    ) -> DueDate {
        cal.add_working_days(
            documents_received_at,
            self.doc.claims.acceptance_decision_working_days,
        )
    }

    /// When the insurer must have contacted the school, if the programme sets it (clock hours).
    #[must_use]
    pub fn contact_due(&self, reported_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.doc
            .claims
            .contact_hours
            .map(|h| reported_at + Duration::hours(i64::from(h)))
    }

    /// When the insurer must be on site, if the programme sets it (clock hours).
    #[must_use]
    pub fn on_site_due(&self, reported_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.doc
            .claims
            .on_site_hours
            .map(|h| reported_at + Duration::hours(i64::from(h)))
    }

    /// Working days to settle a claim of `amount` (tier bounds inclusive).
    #[must_use]
    pub fn settle_working_days(&self, amount: Fen) -> u32 {
        tier_days(&self.doc.claims.settle_tiers, amount)
    }

    /// Deadline to settle (结案) a claim of `amount` whose documents were complete at
    /// `documents_complete_at`. Liupanshui: ≤ 3,000 → 5; ≤ 20,000 → 7; ≤ 100,000 → 10;
    /// above → 15 working days.
    #[must_use]
    pub fn settle_due(
        &self,
        claim_amount: Fen,
        documents_complete_at: DateTime<Utc>,
        cal: &WorkCalendar,
    ) -> DueDate {
        cal.add_working_days(
            documents_complete_at,
            self.settle_working_days(claim_amount),
        )
    }

    /// Working days to pay `amount` (tier bounds inclusive).
    #[must_use]
    pub fn payment_working_days(&self, amount: Fen) -> u32 {
        tier_days(&self.doc.claims.payment_tiers, amount)
    }

    /// Deadline to pay `amount` once agreed at `agreed_at`. Liupanshui: ≤ 50,000 → 1;
    /// ≤ 300,000 → 2; above → 3 working days.
    #[must_use]
    pub fn payment_due(
        &self,
        amount: Fen,
        agreed_at: DateTime<Utc>,
        cal: &WorkCalendar,
    ) -> DueDate {
        cal.add_working_days(agreed_at, self.payment_working_days(amount))
    }

    /// The prepayment on an estimated amount: `estimated × percent / 100`, rounded to the
    /// nearest fen (halves away from zero).
    #[must_use]
    pub fn prepayment(&self, estimated: Fen) -> Fen {
        estimated.share(self.doc.claims.prepayment.percent, 100)
    }

    /// Deadline to make the prepayment once agreed.
    #[must_use]
    pub fn prepayment_due(&self, agreed_at: DateTime<Utc>, cal: &WorkCalendar) -> DueDate {
        cal.add_working_days(agreed_at, self.doc.claims.prepayment.working_days)
    }

    /// The documents a claim of `kind` and `amount` may require, in document order. Entries
    /// with [`DocumentRule::only_if`] are included; their condition is for the school to judge.
    #[must_use]
    pub fn required_documents(&self, kind: ClaimKind, amount: Fen) -> Vec<&DocumentRule> {
        self.doc
            .claims
            .documents
            .iter()
            .filter(|d| d.applies_to(kind, amount))
            .collect()
    }
}

fn tier_days(tiers: &[Tier], amount: Fen) -> u32 {
    tiers
        .iter()
        .find(|t| t.up_to_fen.is_none_or(|max| amount <= max))
        .or(tiers.last())
        .map_or(0, |t| t.working_days)
}

mod validation {
    //! The checks behind [`ProgrammeRules::validate`](super::ProgrammeRules::validate).

    use super::*;

    struct Problems(Vec<RuleProblem>);

    impl Problems {
        fn add(&mut self, path: impl Into<String>, problem: impl Into<String>) {
            self.0.push(RuleProblem {
                path: path.into(),
                problem: problem.into(),
            });
        }

        fn working_days(&mut self, path: &str, days: u32) {
            if days > MAX_WORKING_DAYS {
                self.add(
                    path,
                    format!("工作日数为{days}，不应超过{MAX_WORKING_DAYS}"),
                );
            }
        }

        fn hours(&mut self, path: &str, hours: Option<u32>) {
            if let Some(h) = hours.filter(|h| !(1..=MAX_HOURS).contains(h)) {
                self.add(path, format!("小时数为{h}，应在1到{MAX_HOURS}之间"));
            }
        }

        fn code(&mut self, path: &str, code: &str, seen: &mut BTreeSet<String>) {
            if code.is_empty() || !code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                self.add(path, format!("代码“{code}”只能由小写英文字母和下划线组成"));
            } else if !seen.insert(code.to_owned()) {
                self.add(path, format!("代码“{code}”重复"));
            }
        }

        fn non_empty(&mut self, path: &str, text: &str, what: &str) {
            if text.trim().is_empty() {
                self.add(path, format!("{what}不能为空"));
            }
        }
    }

    pub(super) fn check(doc: &RulesDocument) -> Vec<RuleProblem> {
        let mut p = Problems(Vec::new());
        p.non_empty("programme_name", &doc.programme_name, "方案名称");
        if let Some(permille) = doc.broker_fee_permille.filter(|p| *p > 1000) {
            p.add(
                "broker_fee_permille",
                format!("经纪费比例为{permille}‰，不能超过1000‰"),
            );
        }
        let start = doc.cover.start_month_day;
        if !(8..=9).contains(&start.month()) {
            p.add(
                "cover.start_month_day",
                format!("起保日期为{start}，应在08-01到09-30之间"),
            );
        }
        check_products(&mut p, &doc.products);
        check_headcount_change(&mut p, &doc.headcount_change);
        check_claims(&mut p, &doc.claims);
        check_enrolment(&mut p, &doc.enrolment, doc.academic_year);
        p.0
    }

    fn check_enrolment(p: &mut Problems, rules: &EnrolmentRules, year: AcademicYear) {
        for (i, days) in rules.reminder_days_before.iter().enumerate() {
            if !(1..=60).contains(days) {
                p.add(
                    format!("enrolment.reminder_days_before[{}]", i + 1),
                    format!("提前天数为{days}，应在1到60之间"),
                );
            }
        }
        for (i, insurer) in rules.insurers.iter().enumerate() {
            let at = format!("enrolment.insurers[{}]", i + 1);
            p.non_empty(&format!("{at}.company"), &insurer.company, "保险公司名称");
            if insurer.regions.is_empty() {
                p.add(format!("{at}.regions"), "至少需要一个区域代码");
            }
            let mut seen = BTreeSet::new();
            for (j, code) in insurer.regions.iter().enumerate() {
                if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
                    p.add(
                        format!("{at}.regions[{}]", j + 1),
                        format!("区域代码“{code}”应为6位数字"),
                    );
                } else if !seen.insert(code.as_str()) {
                    p.add(
                        format!("{at}.regions[{}]", j + 1),
                        format!("区域代码“{code}”重复"),
                    );
                }
            }
            if let Some(lot) = &insurer.lot {
                if lot.trim().is_empty() {
                    p.add(format!("{at}.lot"), "标段名称不能为空（不分标段时请删除）");
                } else if lot.chars().count() > 20 {
                    p.add(format!("{at}.lot"), "标段名称不能超过20字");
                }
            }
            if let Some(text) = &insurer.tender_years {
                match TenderYears::parse(text) {
                    Err(message) => p.add(format!("{at}.tender_years"), message),
                    Ok(t) if !t.covers(year) => p.add(
                        format!("{at}.tender_years"),
                        format!("招标期限“{text}”不包括本规则的学年{year}"),
                    ),
                    Ok(_) => {}
                }
            }
        }
        check_lots(p, &rules.insurers);
    }

    /// Across entries: a company once per region, lots apart, one tender period per lot.
    fn check_lots(p: &mut Problems, insurers: &[AdmittedInsurer]) {
        fn lot_of(i: &AdmittedInsurer) -> &str {
            i.lot.as_deref().map_or("", str::trim)
        }
        for (i, a) in insurers.iter().enumerate() {
            for (j, b) in insurers.iter().enumerate().skip(i + 1) {
                let at = format!("enrolment.insurers[{}]", j + 1);
                let same_company = a.company.trim() == b.company.trim();
                let (lot_a, lot_b) = (lot_of(a), lot_of(b));
                let different_lots = !lot_a.is_empty() && !lot_b.is_empty() && lot_a != lot_b;
                for code in &b.regions {
                    if same_company && a.regions.contains(code) {
                        p.add(
                            format!("{at}.regions"),
                            format!(
                                "“{}”在区域{code}已准入（第{}项），不能重复",
                                b.company,
                                i + 1
                            ),
                        );
                    } else if different_lots
                        && let Some(other) = a.regions.iter().find(|o| regions_overlap(o, code))
                    {
                        p.add(
                            format!("{at}.regions"),
                            format!(
                                "{lot_b}的区域{code}与{lot_a}的区域{other}重叠（第{}项），不同标段的区域不能重叠",
                                i + 1
                            ),
                        );
                    }
                }
                if !lot_a.is_empty() && lot_a == lot_b && a.tender_years != b.tender_years {
                    p.add(
                        format!("{at}.tender_years"),
                        format!("同一标段（{lot_b}）的招标期限应一致（第{}项）", i + 1),
                    );
                }
            }
        }
    }

    fn check_products(p: &mut Problems, products: &[Product]) {
        if products.is_empty() {
            p.add("products", "至少需要配置一个险种");
        }
        let mut codes = BTreeSet::new();
        let mut names = BTreeSet::new();
        for (i, product) in products.iter().enumerate() {
            let at = format!("products[{}]", i + 1);
            p.code(&format!("{at}.code"), &product.code, &mut codes);
            p.non_empty(&format!("{at}.name"), &product.name, "险种名称");
            if !product.name.trim().is_empty() && !names.insert(product.name.trim().to_owned()) {
                p.add(
                    format!("{at}.name"),
                    format!("险种名称“{}”重复", product.name),
                );
            }
            if let Some(dup) = first_duplicate(&product.eligible_school_types) {
                p.add(
                    format!("{at}.eligible_school_types"),
                    format!("学校类型“{}”重复", dup.label()),
                );
            }
            check_rates(p, &at, product);
            check_limits(p, &at, &product.limits);
        }
    }

    fn check_rates(p: &mut Problems, at: &str, product: &Product) {
        if product.rates.is_empty() {
            p.add(format!("{at}.rates"), "至少需要配置一条费率");
        }
        let eligible = product.effective_school_types();
        for (j, rate) in product.rates.iter().enumerate() {
            let rat = format!("{at}.rates[{}]", j + 1);
            if rate.rate_fen.fen() <= 0 {
                p.add(format!("{rat}.rate_fen"), "费率必须大于0");
            } else if rate.rate_fen.fen() > MAX_RATE_FEN {
                p.add(
                    format!("{rat}.rate_fen"),
                    format!(
                        "费率{}超出合理范围（每人每年不超过{}）",
                        rate.rate_fen,
                        Fen(MAX_RATE_FEN)
                    ),
                );
            }
            if let Some(dup) = first_duplicate(&rate.school_types) {
                p.add(
                    format!("{rat}.school_types"),
                    format!("学校类型“{}”重复", dup.label()),
                );
            }
            for ty in &rate.school_types {
                if !eligible.contains(ty) {
                    p.add(
                        format!("{rat}.school_types"),
                        format!("“{}”不在本险种可投保的学校类型中", ty.label()),
                    );
                }
            }
        }
        if product.rates.is_empty() {
            return;
        }
        let missing: Vec<String> = SchoolNature::ALL
            .into_iter()
            .flat_map(|n| eligible.iter().map(move |t| (n, *t)))
            .filter(|(n, t)| product.rate_for(*n, *t).is_none())
            .map(|(n, t)| format!("{}{}", n.label(), t.label()))
            .collect();
        if !missing.is_empty() {
            p.add(
                format!("{at}.rates"),
                format!("没有适用于以下学校的费率：{}", missing.join("、")),
            );
        }
    }

    fn check_limits(p: &mut Problems, at: &str, limits: &[CoverageLimit]) {
        let mut names = BTreeSet::new();
        for (j, limit) in limits.iter().enumerate() {
            let lat = format!("{at}.limits[{}]", j + 1);
            p.non_empty(&format!("{lat}.coverage"), &limit.coverage, "保障项目名称");
            if !limit.coverage.trim().is_empty() && !names.insert(limit.coverage.trim().to_owned())
            {
                p.add(
                    format!("{lat}.coverage"),
                    format!("保障项目“{}”重复", limit.coverage),
                );
            }
            if limit.per_person_year_fen.is_none() && limit.per_school_accident_fen.is_none() {
                p.add(
                    lat.clone(),
                    "至少需要填写每人每年限额或每校每次事故限额之一",
                );
            }
            for (field, value) in [
                ("per_person_year_fen", limit.per_person_year_fen),
                ("per_school_accident_fen", limit.per_school_accident_fen),
            ] {
                if value.is_some_and(|v| v.fen() <= 0) {
                    p.add(format!("{lat}.{field}"), "限额必须大于0");
                }
            }
            if let (Some(person), Some(school)) =
                (limit.per_person_year_fen, limit.per_school_accident_fen)
                && school < person
            {
                p.add(
                    format!("{lat}.per_school_accident_fen"),
                    format!("每校每次事故限额（{school}）不应小于每人每年限额（{person}）"),
                );
            }
        }
    }

    fn check_headcount_change(p: &mut Problems, rules: &HeadcountChangeRules) {
        if rules.private_band_percent > 100 {
            p.add(
                "headcount_change.private_band_percent",
                format!("浮动比例为{}%，应在0到100之间", rules.private_band_percent),
            );
        }
        p.working_days(
            "headcount_change.endorsement_working_days",
            rules.endorsement_working_days,
        );
    }

    fn check_claims(p: &mut Problems, claims: &ClaimsRules) {
        p.working_days(
            "claims.report_answer_working_days",
            claims.report_answer_working_days,
        );
        p.working_days(
            "claims.acceptance_decision_working_days",
            claims.acceptance_decision_working_days,
        );
        p.hours("claims.contact_hours", claims.contact_hours);
        p.hours("claims.on_site_hours", claims.on_site_hours);
        if !(1..=100).contains(&claims.prepayment.percent) {
            p.add(
                "claims.prepayment.percent",
                format!("预付比例为{}%，应在1到100之间", claims.prepayment.percent),
            );
        }
        p.working_days(
            "claims.prepayment.working_days",
            claims.prepayment.working_days,
        );
        check_tiers(p, "claims.settle_tiers", &claims.settle_tiers);
        check_tiers(p, "claims.payment_tiers", &claims.payment_tiers);
        check_compensation_items(p, &claims.compensation_items);
        let mut codes = BTreeSet::new();
        for (i, doc) in claims.documents.iter().enumerate() {
            let at = format!("claims.documents[{}]", i + 1);
            p.code(&format!("{at}.code"), &doc.code, &mut codes);
            p.non_empty(&format!("{at}.name"), &doc.name, "材料名称");
            if doc.kinds.is_empty() {
                p.add(format!("{at}.kinds"), "至少需要指定一种案件类型");
            }
            if let Some(dup) = first_duplicate(&doc.kinds) {
                p.add(
                    format!("{at}.kinds"),
                    format!("案件类型“{}”重复", dup.label()),
                );
            }
            if doc.min_amount_exclusive_fen.is_some_and(|m| m.fen() < 0) {
                p.add(format!("{at}.min_amount_exclusive_fen"), "金额不能为负数");
            }
            if let Some(cond) = &doc.only_if {
                p.non_empty(&format!("{at}.only_if"), cond, "适用条件");
            }
        }
    }

    fn check_compensation_items(p: &mut Problems, items: &[CompensationItem]) {
        if items.is_empty() {
            p.add(
                "claims.compensation_items",
                "至少需要一个赔偿项目（删除本节则使用标准赔偿项目）",
            );
        }
        let mut codes = BTreeSet::new();
        let mut names = BTreeSet::new();
        for (i, item) in items.iter().enumerate() {
            let at = format!("claims.compensation_items[{}]", i + 1);
            p.code(&format!("{at}.code"), &item.code, &mut codes);
            p.non_empty(&format!("{at}.name"), &item.name, "赔偿项目名称");
            if !item.name.trim().is_empty() && !names.insert(item.name.trim().to_owned()) {
                p.add(format!("{at}.name"), format!("赔偿项目“{}”重复", item.name));
            }
            if item.kinds.is_empty() {
                p.add(format!("{at}.kinds"), "至少需要指定一种案件类型");
            }
            if let Some(dup) = first_duplicate(&item.kinds) {
                p.add(
                    format!("{at}.kinds"),
                    format!("案件类型“{}”重复", dup.label()),
                );
            }
            if item.cap_fen.is_some_and(|c| c.fen() <= 0) {
                p.add(format!("{at}.cap_fen"), "单项赔偿上限必须大于0");
            }
            match (item.requires_confirmation, item.confirmed_by) {
                (true, None) => p.add(
                    format!("{at}.confirmed_by"),
                    "需确认的赔偿项目应写明确认方（教育主管部门或保险经纪机构）",
                ),
                (false, Some(_)) => p.add(
                    format!("{at}.confirmed_by"),
                    "该赔偿项目无需确认，不应填写确认方",
                ),
                _ => {}
            }
        }
    }

    fn check_tiers(p: &mut Problems, at: &str, tiers: &[Tier]) {
        if tiers.is_empty() {
            p.add(at, "至少需要一档（最后一档不填 up_to_fen）");
            return;
        }
        let mut previous: Option<Fen> = None;
        let last = tiers.len() - 1;
        for (i, tier) in tiers.iter().enumerate() {
            let tat = format!("{at}[{}]", i + 1);
            p.working_days(&format!("{tat}.working_days"), tier.working_days);
            match tier.up_to_fen {
                None if i != last => p.add(
                    format!("{tat}.up_to_fen"),
                    "只有最后一档可以不填金额上限，其余各档必须填写",
                ),
                None => {}
                Some(_) if i == last => p.add(
                    format!("{tat}.up_to_fen"),
                    "最后一档不能填写金额上限（应覆盖所有更大的金额）",
                ),
                Some(max) => {
                    if max.fen() <= 0 {
                        p.add(format!("{tat}.up_to_fen"), "金额上限必须大于0");
                    }
                    if let Some(prev) = previous.filter(|prev| max <= *prev) {
                        p.add(
                            format!("{tat}.up_to_fen"),
                            format!("金额上限（{max}）必须大于上一档（{prev}）"),
                        );
                    }
                    previous = Some(max);
                }
            }
        }
    }

    fn first_duplicate<T: Ord + Copy>(items: &[T]) -> Option<T> {
        let mut seen = BTreeSet::new();
        items.iter().copied().find(|x| !seen.insert(*x))
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests;
