//! The academic year (学年) a programme is insured for.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::china_time;

/// An academic year such as `2025-2026`.
///
/// Its default cover runs from 1 September 00:00 to 31 August 24:00 China time — in instants,
/// from [`AcademicYear::cover_start`] (inclusive) to [`AcademicYear::cover_end`] (exclusive, the
/// next year's start), so consecutive years never leave a gap (不得断保). A programme may start
/// cover earlier (see the `cover` section of the programme rules). Serialised as `"2025-2026"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AcademicYear {
    start_year: i32,
}

/// Why an academic year was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcademicYearError {
    /// Not two four-digit years joined by a dash.
    #[error("学年格式不正确：“{input}”（应为“2025-2026”这样的两个年份）")]
    Format {
        /// The text as entered.
        input: String,
    },
    /// The second year is not the first plus one.
    #[error("学年的两个年份必须相邻：{first}-{second} 应为 {first}-{expected}")]
    NotConsecutive {
        /// The first year.
        first: i32,
        /// The second year as entered.
        second: i32,
        /// `first + 1`.
        expected: i32,
    },
    /// Outside 1900–9998.
    #[error("学年超出支持范围（1900–9999年）：{start_year}")]
    OutOfRange {
        /// The first year.
        start_year: i32,
    },
}

impl AcademicYear {
    /// The academic year starting in `start_year` (1900..=9998).
    pub fn from_start_year(start_year: i32) -> Result<AcademicYear, AcademicYearError> {
        if (1900..=9998).contains(&start_year) {
            Ok(AcademicYear { start_year })
        } else {
            Err(AcademicYearError::OutOfRange { start_year })
        }
    }

    /// A year a request asks for (a path segment or a query parameter): parsed as
    /// [`AcademicYear::parse`], refused as invalid input on field `year` with the parse
    /// error's Chinese message.
    pub fn asked(input: &str) -> Result<AcademicYear, crate::Failure> {
        AcademicYear::parse(input)
            .map_err(|e| crate::Refusal::invalid_field("year", e.to_string()).into())
    }

    /// Parses `"2025-2026"`. Also accepts the dashes found in official documents (`—`, `–`,
    /// `－`) and surrounding whitespace; the second year must be the first plus one.
    pub fn parse(input: &str) -> Result<AcademicYear, AcademicYearError> {
        let format = || AcademicYearError::Format {
            input: input.to_owned(),
        };
        let s = input.trim();
        let (a, b) = s.split_once(['-', '—', '–', '－']).ok_or_else(format)?;
        let (a, b) = (a.trim(), b.trim());
        let year = |t: &str| -> Option<i32> {
            if t.len() == 4 && t.bytes().all(|c| c.is_ascii_digit()) {
                t.parse().ok()
            } else {
                None
            }
        };
        let first = year(a).ok_or_else(format)?;
        let second = year(b).ok_or_else(format)?;
        if second != first + 1 {
            return Err(AcademicYearError::NotConsecutive {
                first,
                second,
                expected: first + 1,
            });
        }
        AcademicYear::from_start_year(first)
    }

    /// The academic year whose default cover (1 September to 31 August, China time) contains
    /// `at`.
    #[must_use]
    pub fn containing(at: DateTime<Utc>) -> AcademicYear {
        let date = china_time::local_date(at);
        let start_year = if date.month() >= 9 {
            date.year()
        } else {
            date.year() - 1
        };
        AcademicYear {
            start_year: start_year.clamp(1900, 9998),
        }
    }

    /// The academic year whose default cover contains the local date `date`.
    #[must_use]
    pub fn containing_date(date: NaiveDate) -> AcademicYear {
        let start_year = if date.month() >= 9 {
            date.year()
        } else {
            date.year() - 1
        };
        AcademicYear {
            start_year: start_year.clamp(1900, 9998),
        }
    }

    /// The first calendar year (2025 for 2025-2026).
    #[must_use]
    pub const fn start_year(self) -> i32 {
        self.start_year
    }

    /// The second calendar year (2026 for 2025-2026).
    #[must_use]
    pub const fn end_year(self) -> i32 {
        self.start_year + 1
    }

    /// The following academic year.
    #[must_use]
    pub const fn next(self) -> AcademicYear {
        AcademicYear {
            start_year: self.start_year + 1,
        }
    }

    /// The preceding academic year.
    #[must_use]
    pub const fn previous(self) -> AcademicYear {
        AcademicYear {
            start_year: self.start_year - 1,
        }
    }

    /// 1 September of the start year (a local date).
    #[must_use]
    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.start_year, 9, 1).unwrap_or(NaiveDate::MIN)
    }

    /// 31 August of the end year (a local date).
    #[must_use]
    pub fn last_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.end_year(), 8, 31).unwrap_or(NaiveDate::MAX)
    }

    /// Cover start: 1 September 00:00 China time of the start year.
    #[must_use]
    pub fn cover_start(self) -> DateTime<Utc> {
        china_time::start_of_day(self.first_day())
    }

    /// Cover end (exclusive): 31 August 24:00 China time of the end year, which is the same
    /// instant as the next year's [`cover_start`](Self::cover_start).
    #[must_use]
    pub fn cover_end(self) -> DateTime<Utc> {
        self.next().cover_start()
    }

    /// Whether `at` falls within `[cover_start, cover_end)`.
    #[must_use]
    pub fn contains(self, at: DateTime<Utc>) -> bool {
        self.cover_start() <= at && at < self.cover_end()
    }
}

impl fmt::Display for AcademicYear {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start_year, self.start_year + 1)
    }
}

impl FromStr for AcademicYear {
    type Err = AcademicYearError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AcademicYear::parse(s)
    }
}

impl TryFrom<String> for AcademicYear {
    type Error = AcademicYearError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        AcademicYear::parse(&s)
    }
}

// Stored as `text` such as `2025-2026`.
crate::status::text_column!(AcademicYear);

impl From<AcademicYear> for String {
    fn from(y: AcademicYear) -> String {
        y.to_string()
    }
}

/// A day of the year without the year, `"MM-DD"` — used for deadlines and cover start dates
/// that repeat every academic year. 29 February is not allowed (it does not exist every year).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MonthDay {
    month: u32,
    day: u32,
}

/// Why a month-day was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MonthDayError {
    /// Not `MM-DD` or not a real day.
    #[error("日期“{input}”无效（应为“09-30”这样的 月-日）")]
    Invalid {
        /// The text as entered.
        input: String,
    },
    /// 29 February.
    #[error("不能使用2月29日（并非每年都有），请改用2月28日或3月1日")]
    LeapDay,
}

impl MonthDay {
    /// The month-day `month`/`day`, if it exists in every year.
    pub fn new(month: u32, day: u32) -> Result<MonthDay, MonthDayError> {
        if month == 2 && day == 29 {
            return Err(MonthDayError::LeapDay);
        }
        // 2023 is not a leap year: every day valid there is valid in every year.
        if NaiveDate::from_ymd_opt(2023, month, day).is_none() {
            return Err(MonthDayError::Invalid {
                input: format!("{month:02}-{day:02}"),
            });
        }
        Ok(MonthDay { month, day })
    }

    /// Parses `"MM-DD"` (also `"M-D"`).
    pub fn parse(input: &str) -> Result<MonthDay, MonthDayError> {
        let invalid = || MonthDayError::Invalid {
            input: input.to_owned(),
        };
        let (m, d) = input.trim().split_once('-').ok_or_else(invalid)?;
        let num = |t: &str| -> Option<u32> {
            if (1..=2).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit()) {
                t.parse().ok()
            } else {
                None
            }
        };
        let (month, day) = (num(m).ok_or_else(invalid)?, num(d).ok_or_else(invalid)?);
        match MonthDay::new(month, day) {
            Err(MonthDayError::Invalid { .. }) => Err(invalid()),
            other => other,
        }
    }

    /// The month, 1–12.
    #[must_use]
    pub const fn month(self) -> u32 {
        self.month
    }

    /// The day of the month.
    #[must_use]
    pub const fn day(self) -> u32 {
        self.day
    }

    /// This day in the given calendar year.
    #[must_use]
    pub fn in_year(self, year: i32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, self.month, self.day).unwrap_or(NaiveDate::MIN)
    }

    /// This day within an academic year: September–December fall in the start year,
    /// January–August in the end year. `"10-31"` in 2025-2026 is 2025-10-31; `"03-31"` is
    /// 2026-03-31.
    #[must_use]
    pub fn in_academic_year(self, year: AcademicYear) -> NaiveDate {
        if self.month >= 9 {
            self.in_year(year.start_year())
        } else {
            self.in_year(year.end_year())
        }
    }
}

impl fmt::Display for MonthDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}-{:02}", self.month, self.day)
    }
}

impl FromStr for MonthDay {
    type Err = MonthDayError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MonthDay::parse(s)
    }
}

impl TryFrom<String> for MonthDay {
    type Error = MonthDayError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        MonthDay::parse(&s)
    }
}

impl From<MonthDay> for String {
    fn from(md: MonthDay) -> String {
        md.to_string()
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn a_year_asked_for_is_parsed_or_refused_on_the_year_field() {
        assert_eq!(
            AcademicYear::asked(" 2026-2027 ").unwrap().to_string(),
            "2026-2027"
        );
        for bad in ["2026", "2026-2028", "abcd-efgh", ""] {
            let failure = AcademicYear::asked(bad).unwrap_err();
            let refusal = failure
                .refusal()
                .expect("a refusal, not an internal failure");
            assert_eq!(
                refusal.class,
                crate::refusal::RefusalClass::Invalid,
                "{bad}"
            );
            assert_eq!(refusal.field.as_deref(), Some("year"), "{bad}");
            assert!(
                refusal.message.contains("学年"),
                "{bad}: {}",
                refusal.message
            );
        }
    }

    #[test]
    fn month_day_places_itself_in_the_academic_year() {
        let y = AcademicYear::parse("2025-2026").unwrap();
        let md = MonthDay::parse("10-31").unwrap();
        assert_eq!(md.to_string(), "10-31");
        assert_eq!(
            md.in_academic_year(y),
            NaiveDate::from_ymd_opt(2025, 10, 31).unwrap()
        );
        let md = MonthDay::parse("3-1").unwrap();
        assert_eq!(md.to_string(), "03-01");
        assert_eq!(
            md.in_academic_year(y),
            NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()
        );
        assert_eq!(
            MonthDay::parse("12-30").unwrap().in_academic_year(y),
            NaiveDate::from_ymd_opt(2025, 12, 30).unwrap()
        );
        assert_eq!(MonthDay::parse("02-29"), Err(MonthDayError::LeapDay));
        for bad in [
            "09-31", "13-01", "00-10", "0930", "09/30", "", "a-b", "009-01",
        ] {
            assert!(
                matches!(MonthDay::parse(bad), Err(MonthDayError::Invalid { .. })),
                "{bad}"
            );
        }
        assert_eq!(
            serde_json::to_string(&MonthDay::parse("09-01").unwrap()).unwrap(),
            "\"09-01\""
        );
    }

    #[test]
    fn parses_and_displays() {
        let y = AcademicYear::parse("2025-2026").unwrap();
        assert_eq!(y.start_year(), 2025);
        assert_eq!(y.end_year(), 2026);
        assert_eq!(y.to_string(), "2025-2026");
        assert_eq!(y.next().to_string(), "2026-2027");
        assert_eq!(y.previous().to_string(), "2024-2025");
        assert_eq!(AcademicYear::parse(" 2025—2026 ").unwrap(), y);
        assert_eq!(serde_json::to_string(&y).unwrap(), "\"2025-2026\"");
        assert_eq!(
            serde_json::from_str::<AcademicYear>("\"2025-2026\"").unwrap(),
            y
        );
    }

    #[test]
    fn rejects_bad_years() {
        assert_eq!(
            AcademicYear::parse("2025-2027"),
            Err(AcademicYearError::NotConsecutive {
                first: 2025,
                second: 2027,
                expected: 2026
            })
        );
        assert_eq!(
            AcademicYear::parse("2025-2027").unwrap_err().to_string(),
            "学年的两个年份必须相邻：2025-2027 应为 2025-2026"
        );
        for bad in ["2025", "25-26", "2025-26", "abcd-efgh", "", "2025/2026"] {
            assert!(
                matches!(
                    AcademicYear::parse(bad),
                    Err(AcademicYearError::Format { .. })
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            AcademicYear::parse("1899-1900"),
            Err(AcademicYearError::OutOfRange { .. })
        ));
    }

    #[test]
    fn cover_runs_from_1_september_to_31_august_24_00_china_time() {
        let y = AcademicYear::parse("2025-2026").unwrap();
        assert_eq!(y.cover_start().to_rfc3339(), "2025-08-31T16:00:00+00:00");
        assert_eq!(y.cover_end().to_rfc3339(), "2026-08-31T16:00:00+00:00");
        assert!(y.contains(y.cover_start()));
        assert!(!y.contains(y.cover_start() - Duration::seconds(1)));
        assert!(y.contains(y.cover_end() - Duration::seconds(1)));
        assert!(!y.contains(y.cover_end()));
        assert!(y.next().contains(y.cover_end()));
        assert_eq!(AcademicYear::containing(y.cover_start()), y);
        assert_eq!(
            AcademicYear::containing(y.cover_end() - Duration::seconds(1)),
            y
        );
        assert_eq!(AcademicYear::containing(y.cover_end()), y.next());
    }
}
