//! Bulk onboarding of a programme's education departments and schools from spreadsheets.
//!
//! The programme authority imports the county and city education bureaus (seed 004, 附件2);
//! a city or county department imports the schools of its region (附件3). The flow:
//!
//! 1. **Templates** — [`department_template`] and [`school_template`] are XLSX files with a
//!    title, instructions, the header row, an example row, text-formatted code and mobile
//!    columns and drop-down lists for 办学性质 / 学校类型.
//! 2. **Parsing** — [`parse_departments`] / [`parse_schools`] read XLSX (or XLS/ODS) and CSV
//!    (UTF-8 with or without BOM, GB18030), find the header row below title and blank rows,
//!    map columns by their header text, normalise every cell (full-width → half-width, spaces)
//!    and check each row on its own: required fields, vocabularies, mobile format, duplicates
//!    inside the file.
//! 3. **Import** — [`import_departments`] / [`import_schools`] check the rows against the
//!    tenant's data (regions inside the importer's subtree, live organisations, login names,
//!    central schools) and, only when no row has a problem, create the organisations, their
//!    accounts (no password: the contact sets one through a one-time code) and roles in bulk,
//!    plus one audit entry. Any problem: every problem is returned, nothing is written.
//! 4. **Problems** — every [`RowProblem`] names the spreadsheet line as Excel shows it, the
//!    column and a Chinese reason; [`problems_xlsx`] makes them a downloadable sheet.

mod departments;
mod normalise;
mod regions;
mod schools;
mod table;
mod xlsx;

use std::fmt;

use serde::Serialize;

pub use departments::{DepartmentRow, DepartmentSheet, import_departments, parse_departments};
pub use normalise::{is_mobile, mobile_from_number, mobile_from_text, name_key, normalise_text};
pub use schools::{SchoolRow, SchoolSheet, import_schools, parse_schools};
pub use table::MAX_ROWS;
pub use xiaobao_audit::Actor;
pub use xlsx::{department_template, problems_xlsx, school_template};

/// One problem of an uploaded file: where it is and why it cannot be imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RowProblem {
    /// The spreadsheet line as Excel shows it (1-based); 0 for the file as a whole.
    pub line: u32,
    /// The column's name (`联系人手机号`), when the problem is about one column.
    pub column: Option<String>,
    /// Why, in Chinese, e.g. `联系人手机号「1381234」不是 11 位手机号`.
    pub reason: String,
}

impl RowProblem {
    pub(crate) fn new(line: u32, column: Option<&str>, reason: impl Into<String>) -> Self {
        Self {
            line,
            column: column.map(str::to_string),
            reason: reason.into(),
        }
    }

    /// A problem of the whole file (no header row, a missing column).
    pub(crate) fn file(column: Option<&str>, reason: impl Into<String>) -> Self {
        Self::new(0, column, reason)
    }
}

impl fmt::Display for RowProblem {
    /// `第 7 行：联系人手机号「1381234」不是 11 位手机号`, or the bare reason for the whole file.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.reason)
        } else {
            write!(f, "第 {} 行：{}", self.line, self.reason)
        }
    }
}

/// The level of the importer's region (as in `regions.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RegionLevel {
    Province,
    City,
    County,
    /// A city's 市直 bucket.
    Direct,
}

impl RegionLevel {
    /// Parses `regions.level`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "province" => Some(Self::Province),
            "city" => Some(Self::City),
            "county" => Some(Self::County),
            "direct" => Some(Self::Direct),
            _ => None,
        }
    }

    /// The stored identifier.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Province => "province",
            Self::City => "city",
            Self::County => "county",
            Self::Direct => "direct",
        }
    }
}

/// Who imports: the audit actor and the region whose subtree the import may touch (the
/// programme authority's root region, or a department's city or county).
#[derive(Debug, Clone)]
pub struct Importer {
    /// Recorded in the audit entry; its `account_id` becomes `created_by` / `granted_by`.
    pub actor: Actor,
    /// `regions.path` of the importer's region, e.g. `410000.410100`.
    pub region_path: String,
    /// The level of that region.
    pub region_level: RegionLevel,
}

impl Importer {
    /// Whether a region path lies in the importer's subtree (the region itself included).
    pub fn covers(&self, path: &str) -> bool {
        path == self.region_path
            || path
                .strip_prefix(self.region_path.as_str())
                .is_some_and(|rest| rest.starts_with('.'))
    }
}

/// An organisation an import created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreatedOrganisation {
    /// The spreadsheet line it came from.
    pub line: u32,
    pub org_id: i64,
    pub account_id: i64,
    /// The organisation's name (school full name, 单位名称).
    pub name: String,
    /// The account's login name (the school's full name; the region's name for a department).
    pub login_name: String,
    pub region_code: String,
}

/// What a successful import did.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    /// In file order.
    pub created: Vec<CreatedOrganisation>,
    /// Schools now marked as central schools (new ones and existing ones named as 中心校).
    pub central_school_ids: Vec<i64>,
    /// The audit entry of the import.
    pub audit_id: i64,
}

/// Why an import did not happen.
#[derive(Debug, thiserror::Error)]
pub enum OnboardingError {
    /// The file has problems; nothing was written. Sorted by line.
    #[error("导入文件有 {} 处问题，未导入任何数据", .0.len())]
    Invalid(Vec<RowProblem>),
    /// Not a spreadsheet or CSV file we can read.
    #[error("无法读取导入文件：{0}")]
    Unreadable(String),
    /// The file is beyond a limit (rows, or a structure the reader refuses to unpack: see
    /// `xiaobao_sheet::Limits`); answered with 413.
    #[error("{0}")]
    TooLarge(String),
    /// The importer may not do this import (e.g. a county department importing departments).
    #[error("{0}")]
    NotPermitted(String),
    /// Someone created the same school, department or login name at the same time.
    #[error("导入期间数据已被其他操作修改（{0}），请重新导入")]
    Conflict(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Audit(#[from] xiaobao_audit::AuditError),
    #[error(transparent)]
    Tenant(#[from] xiaobao_db::DbError),
}

impl OnboardingError {
    /// The problems of an [`OnboardingError::Invalid`] file, empty otherwise.
    pub fn problems(&self) -> &[RowProblem] {
        match self {
            Self::Invalid(problems) => problems,
            _ => &[],
        }
    }

    /// A unique violation becomes a [`OnboardingError::Conflict`] naming the constraint.
    pub(crate) fn from_write(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e
            && db.code().as_deref() == Some("23505")
        {
            return Self::Conflict(db.constraint().unwrap_or("unique").to_string());
        }
        Self::Database(e)
    }
}

/// Sorts problems by line, keeping the order found within a line.
pub(crate) fn sort_problems(problems: &mut [RowProblem]) {
    problems.sort_by_key(|p| p.line);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_display() {
        let p = RowProblem::new(
            7,
            Some("联系人手机号"),
            "联系人手机号「1381234」不是 11 位手机号",
        );
        assert_eq!(
            p.to_string(),
            "第 7 行：联系人手机号「1381234」不是 11 位手机号"
        );
        assert_eq!(
            RowProblem::file(None, "未找到表头行").to_string(),
            "未找到表头行"
        );
    }

    #[test]
    fn importer_covers_its_subtree_only() {
        let importer = Importer {
            actor: Actor::system(),
            region_path: "410000.410100".into(),
            region_level: RegionLevel::City,
        };
        assert!(importer.covers("410000.410100"));
        assert!(importer.covers("410000.410100.410105"));
        assert!(!importer.covers("410000.410200.410202"));
        assert!(!importer.covers("410000.4101001"));
        assert!(!importer.covers("410000"));
    }
}

/// A parsed import file.
#[derive(Debug)]
pub enum Sheet {
    Schools(SchoolSheet),
    Departments(DepartmentSheet),
}

/// Onboarding for one signed-in department: an import runs in one tenant transaction,
/// committed only when every row was written.
#[derive(Clone, Debug)]
pub struct Onboarding {
    caller: xiaobao_identity::Caller,
}

impl Onboarding {
    #[must_use]
    pub fn new(caller: xiaobao_identity::Caller) -> Self {
        Self { caller }
    }

    /// Imports the sheet as the caller, in its region.
    pub async fn import(&self, sheet: &Sheet) -> Result<ImportReport, OnboardingError> {
        let caller = &self.caller;
        let mut tx = caller.db.tenant_tx(&caller.tenant).await?;
        let level: Option<String> = sqlx::query_scalar!(
            "select level from regions where region_code = $1",
            caller.viewer.region_code,
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(region_level) = level.as_deref().and_then(RegionLevel::parse) else {
            return Err(OnboardingError::NotPermitted(
                "本账号所属区域无效，无法导入".into(),
            ));
        };
        let importer = Importer {
            actor: caller.actor.clone(),
            region_path: caller.viewer.region_path.clone(),
            region_level,
        };
        let report = match sheet {
            Sheet::Schools(sheet) => import_schools(&mut tx, &importer, sheet).await?,
            Sheet::Departments(sheet) => import_departments(&mut tx, &importer, sheet).await?,
        };
        tx.commit().await?;
        Ok(report)
    }
}
