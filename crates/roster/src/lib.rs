//! Rosters (花名册) of the people a school insures: students, staff and interns.
//!
//! Every academic year a school uploads one roster per product — one spreadsheet, all
//! classes merged, often 100,000 rows and more for a large district. This crate is the pure
//! part of that flow; it reads no database:
//!
//! 1. **Templates** — [`roster_template`] is a blank XLSX with the exact columns, the ID and
//!    学籍号 columns formatted as text so Excel keeps all 18 digits, and a 填写说明 sheet.
//! 2. **Parsing** — [`parse_roster`] reads XLSX (through `xiaobao_sheet`, every size and count
//!    bounded; XLS, XLSB and ODS are refused with a request to save as .xlsx) and CSV (UTF-8
//!    with or without BOM, UTF-16, GB18030), finds the header row below title and instruction rows, normalises
//!    every cell (full-width → half-width, spaces) and checks every row: required fields,
//!    gender against the ID's 17th digit, the GB 11643 check digit, IDs that a spreadsheet
//!    turned into `4.10105E+17`, a plausible age for the school type, the class format and
//!    duplicate IDs. All problems come back at once, each with its line and a Chinese reason.
//! 3. **Export** — [`roster_xlsx`] writes the accepted roster with the template's columns.
//! 4. **Sealing** — [`IdSealer`] encrypts ID numbers at rest with a per-tenant key and gives
//!    a keyed hash to find equal IDs without decrypting them.

mod normalise;
mod seal;
mod source;
mod validate;
mod xlsx;

use chrono::NaiveDate;
use xiaobao_domain::{Gender, InsuredGroup, ResidentId, SchoolType};

pub use seal::{IdSealer, MIN_MASTER_LEN, SealError, ShortSecretError, derived_keys};
pub use xiaobao_onboarding::{RowProblem, problems_xlsx};
pub use xlsx::{ExportRow, roster_columns, roster_template, roster_xlsx, template_file_name};

/// The most data rows one roster may carry.
pub const MAX_ROWS: usize = 200_000;

/// Which roster layout, and what is plausible in it.
///
/// Student and intern rosters have the columns 学生姓名, 性别, 班级, 身份证号, 学籍号, 备注
/// (班级 required; 学籍号 and 备注 may be left empty). Staff rosters have 姓名, 性别, 身份证号,
/// 岗位, 备注 (岗位 and 备注 may be left empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RosterSpec {
    pub group: InsuredGroup,
    pub school_type: SchoolType,
    /// Today's date in China (birth-date plausibility and future-date checks).
    pub today: NaiveDate,
}

/// One accepted row of a roster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterRow {
    /// The spreadsheet line as Excel shows it (1-based).
    pub line: u32,
    /// Without any whitespace.
    pub name: String,
    pub gender: Gender,
    /// Students and interns: `七年级(3)班`, half-width brackets, no spaces.
    pub class_name: Option<String>,
    pub id: ResidentId,
    /// Students and interns, when given.
    pub student_no: Option<String>,
    /// Staff, when given.
    pub post: Option<String>,
    pub note: Option<String>,
}

/// A roster without problems: its rows in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedRoster {
    pub group: InsuredGroup,
    pub rows: Vec<RosterRow>,
}

/// Why a roster was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum RosterError {
    /// The file as a whole cannot be read (not a spreadsheet, empty, no header row, missing
    /// column, too many rows); the message is Chinese, for the uploader.
    #[error("{0}")]
    Unreadable(String),
    /// One or more rows are wrong; every problem with its line and reason, in file order.
    #[error("花名册有 {} 处问题", .0.len())]
    Problems(Vec<RowProblem>),
    /// The file is beyond a limit (rows, or a structure the reader refuses to unpack: see
    /// `xiaobao_sheet::Limits`); answered with 413. The message is Chinese.
    #[error("{0}")]
    TooLarge(String),
}

impl RosterError {
    /// The problems of a [`RosterError::Problems`] roster, empty otherwise.
    pub fn problems(&self) -> &[RowProblem] {
        match self {
            Self::Problems(problems) => problems,
            Self::Unreadable(_) | Self::TooLarge(_) => &[],
        }
    }
}

/// Parses, normalises and validates every row of an uploaded roster.
///
/// Returns every problem (not just the first) in line order. A roster without any data row
/// is a [`RosterError::Problems`] with the whole-file problem `花名册没有数据行` (line 0).
pub fn parse_roster(bytes: &[u8], spec: &RosterSpec) -> Result<ParsedRoster, RosterError> {
    let mut validator = validate::Validator::new(spec);
    source::read(bytes, &mut validator)?;
    validator.finish()
}

/// Like [`parse_roster`], accepting at most `declared_headcount` data rows plus a small
/// margin (5 %, at least 10): a file with far more rows than the school said it insures is
/// refused ([`RosterError::TooLarge`]) before its rows are checked.
pub fn parse_roster_for_headcount(
    bytes: &[u8],
    spec: &RosterSpec,
    declared_headcount: u32,
) -> Result<ParsedRoster, RosterError> {
    let mut validator = validate::Validator::new(spec).bounded_by(declared_headcount);
    source::read(bytes, &mut validator)?;
    validator.finish()
}
