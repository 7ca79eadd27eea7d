//! The pure domain of 校保 (xiaobao), a multi-tenant service for Chinese school liability
//! insurance programmes (校方责任保险).
//!
//! Nothing here performs I/O: values are parsed at the edge into the types below (parse, don't
//! validate), and the programme rules — premiums, headcount changes, claim deadlines, required
//! documents — are pure functions of those values, the rules document and a working-day
//! calendar. Error messages are in Chinese, addressed to the person who can fix the input.
//!
//! - [`money`]: [`Fen`], money as integer fen.
//! - [`region`]: [`RegionCode`] (GB/T 2260) and [`RegionLevel`].
//! - [`school`]: [`SchoolNature`] and [`SchoolType`].
//! - [`academic_year`]: [`AcademicYear`] and [`MonthDay`].
//! - [`resident_id`]: [`ResidentId`] (GB 11643-1999), masked in `Debug`.
//! - [`calendar`]: [`WorkCalendar`] and [`DueDate`]: working days with 调休.
//! - [`china_time`]: local dates and midnights in China time.
//! - [`clock`]: [`Clock`], the one reader of the wall clock (settable in tests).
//! - [`ids`]: typed ids ([`ids::EnrolmentId`], [`ids::OrgId`], …) of paths and service calls.
//! - [`refusal`]: [`Refusal`], the one shape of an expected failure of any action.
//! - [`rules`]: [`ProgrammeRules`], the per-tenant, per-year rules document.
//! - [`programmes`]: the demo rules of Henan, Liupanshui and Shanghai.
//! - [`role`]: [`Role`] of an account and the login page's [`AccountType`].
//!
//! ```
//! use xiaobao_domain::{
//!     ClaimKind, Fen, ProgrammeRules, ResidentId, SchoolNature, SchoolType, WorkCalendar,
//!     china_time, demo_rules,
//! };
//!
//! let rules = ProgrammeRules::from_toml_str(demo_rules("shanghai").expect("demo"))?;
//! let premium = rules.premium("school_liability", SchoolNature::Public, SchoolType::Primary, 1_478_100)?;
//! assert_eq!(premium.to_string(), "¥7,390,500.00");
//!
//! let lps = ProgrammeRules::from_toml_str(demo_rules("liupanshui").expect("demo"))?;
//! let complete = china_time::start_of_day("2025-09-30".parse()?);
//! let due = lps.settle_due(Fen::from_yuan(2_000), complete, WorkCalendar::china());
//! assert_eq!(due.last_day.to_string(), "2025-10-14"); // National Day skipped
//! assert_eq!(lps.required_documents(ClaimKind::Death, Fen::from_yuan(50_000)).len(), 10);
//!
//! let id = ResidentId::parse("11010519491231002x")?;
//! assert_eq!(id.masked(), "110105********002X");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod academic_year;
pub mod calendar;
pub mod china_time;
pub mod clock;
pub mod ids;
pub mod money;
pub mod programmes;
pub mod refusal;
pub mod region;
pub mod resident_id;
pub mod role;
pub mod rules;
pub mod school;
pub mod status;

pub use academic_year::{AcademicYear, AcademicYearError, MonthDay, MonthDayError};
pub use calendar::{CalendarError, DueDate, WorkCalendar};
pub use clock::Clock;
pub use money::{Fen, MoneyError};
pub use programmes::demo_rules;
pub use refusal::{Failure, Outcome, Refusal, RefusalClass};
pub use region::{RegionCode, RegionError, RegionLevel};
pub use resident_id::{Gender, GenderError, ResidentId, ResidentIdError};
pub use role::{AccountType, Role};
pub use rules::{
    AdmittedInsurer, ClaimKind, Deadline, DocumentRule, EnrolmentRules, InsuredGroup,
    ModificationReviewer, ProgrammeRules, RulesDocument, RulesError,
};
pub use school::{SchoolError, SchoolNature, SchoolType};
pub use status::{
    AccountStatus, EndorsementStatus, EnrolmentStage, OrgStatus, RequestStatus, UnknownStatus,
};
