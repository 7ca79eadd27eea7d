//! Working days (工作日) under China's public-holiday calendar.
//!
//! The State Council publishes each year's holidays and the weekend days that are worked in
//! exchange (调休), so the calendar is data: [`WorkCalendar::from_toml_str`] reads the format of
//! `data/holidays-cn.toml`, and [`WorkCalendar::china`] is that file embedded in the binary.
//!
//! # Deadline semantics
//!
//! Service levels say "within *n* working days". [`WorkCalendar::add_working_days`] reads that as:
//! take the local date in China of the starting instant; count *n* working days strictly after
//! that date; the deadline is the **end** of the *n*-th working day, i.e. 00:00 China time of the
//! following day. So a report made on Friday afternoon with a one-working-day answer is due by
//! the end of Monday (or of an adjusted working Sunday), and a report on a holiday counts from the
//! first working day after it. With `n = 0` the deadline is the end of the starting day itself.
//!
//! Years missing from the data fall back to plain Monday–Friday rules, and the result says so
//! ([`DueDate::beyond_known_calendar`]) so that callers can show the date as provisional.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use chrono::{DateTime, Datelike, NaiveDate, Utc, Weekday};
use serde::{Deserialize, Serialize};

use crate::china_time;

/// The embedded national calendar.
const CHINA_TOML: &str = include_str!("../data/holidays-cn.toml");

static CHINA: LazyLock<WorkCalendar> = LazyLock::new(|| {
    WorkCalendar::from_toml_str(CHINA_TOML)
        .expect("data/holidays-cn.toml is embedded at build time and checked by unit tests")
});

/// A working-day calendar: per known year, the weekday holidays and the worked weekend days.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WorkCalendar {
    years: BTreeSet<i32>,
    off: BTreeSet<NaiveDate>,
    work: BTreeSet<NaiveDate>,
}

/// A deadline computed in working days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DueDate {
    /// The instant the deadline passes: 00:00 China time after `last_day` (exclusive).
    pub at: DateTime<Utc>,
    /// The last working day (a local date in China) on which the obligation can still be met.
    pub last_day: NaiveDate,
    /// True when a day that was counted lies in a year the calendar does not cover, so plain
    /// Monday–Friday rules were used and the date may move once that year's holidays are known.
    pub beyond_known_calendar: bool,
}

impl DueDate {
    /// Whether the deadline has passed at `now`.
    #[must_use]
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        now >= self.at
    }
}

/// Why a holiday calendar file was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// The file is not valid TOML of the expected shape.
    #[error("节假日日历文件格式错误{}：{message}", line.map(|l| format!("（第{l}行）")).unwrap_or_default())]
    Syntax {
        /// 1-based line of the problem, when known.
        line: Option<usize>,
        /// Parser message.
        message: String,
    },
    /// A table name is not a year.
    #[error("节假日日历中的“[{key}]”不是年份（应为如 [2026] 的四位年份）")]
    BadYear {
        /// The table name.
        key: String,
    },
    /// A date does not parse.
    #[error("节假日日历 {year} 年中的“{value}”不是有效日期（应为 YYYY-MM-DD）")]
    BadDate {
        /// The year table.
        year: i32,
        /// The text found.
        value: String,
    },
    /// A date is filed under the wrong year.
    #[error("日期 {date} 不属于 {year} 年，请放到对应年份下")]
    WrongYear {
        /// The year table.
        year: i32,
        /// The misplaced date.
        date: NaiveDate,
    },
    /// A date is listed twice.
    #[error("日期 {date} 重复出现")]
    Duplicate {
        /// The repeated date.
        date: NaiveDate,
    },
    /// A date is both a holiday and a working day.
    #[error("日期 {date} 同时出现在放假（off）和调休上班（work）中")]
    BothOffAndWork {
        /// The contradictory date.
        date: NaiveDate,
    },
    /// A listed working day is a weekday anyway.
    #[error("调休上班日 {date} 不是周末，只有周六、周日才需要列在 work 中")]
    WorkNotWeekend {
        /// The weekday.
        date: NaiveDate,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YearTable {
    #[serde(default)]
    off: Vec<String>,
    #[serde(default)]
    work: Vec<String>,
}

impl WorkCalendar {
    /// Parses and validates a calendar in the format of `data/holidays-cn.toml`:
    ///
    /// ```toml
    /// [2026]
    /// off = ["2026-01-01", "2026-01-02", "2026-01-03"]
    /// work = ["2026-01-04"]
    /// ```
    ///
    /// Every date must parse, belong to its table's year, appear once, and not be both `off`
    /// and `work`; `work` days must fall on a weekend.
    pub fn from_toml_str(input: &str) -> Result<WorkCalendar, CalendarError> {
        let tables: BTreeMap<String, YearTable> =
            toml::from_str(input).map_err(|e| CalendarError::Syntax {
                line: e.span().map(|s| line_of(input, s.start)),
                message: e.message().to_owned(),
            })?;
        let mut cal = WorkCalendar::default();
        for (key, table) in tables {
            let year: i32 = key
                .parse()
                .ok()
                .filter(|y| (1900..=9999).contains(y) && key.len() == 4)
                .ok_or_else(|| CalendarError::BadYear { key: key.clone() })?;
            let parse = |value: &String| -> Result<NaiveDate, CalendarError> {
                NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").map_err(|_| {
                    CalendarError::BadDate {
                        year,
                        value: value.clone(),
                    }
                })
            };
            let off = table.off.iter().map(parse).collect::<Result<Vec<_>, _>>()?;
            let work = table
                .work
                .iter()
                .map(parse)
                .collect::<Result<Vec<_>, _>>()?;
            cal.add_year(year, off, work)?;
        }
        Ok(cal)
    }

    /// Builds a calendar from per-year lists (as stored in the database), with the same checks
    /// as [`from_toml_str`](Self::from_toml_str).
    pub fn from_years(
        years: impl IntoIterator<Item = (i32, Vec<NaiveDate>, Vec<NaiveDate>)>,
    ) -> Result<WorkCalendar, CalendarError> {
        let mut cal = WorkCalendar::default();
        for (year, off, work) in years {
            cal.add_year(year, off, work)?;
        }
        Ok(cal)
    }

    fn add_year(
        &mut self,
        year: i32,
        off: Vec<NaiveDate>,
        work: Vec<NaiveDate>,
    ) -> Result<(), CalendarError> {
        if !(1900..=9999).contains(&year) {
            return Err(CalendarError::BadYear {
                key: year.to_string(),
            });
        }
        self.years.insert(year);
        for date in off {
            if date.year() != year {
                return Err(CalendarError::WrongYear { year, date });
            }
            if !self.off.insert(date) {
                return Err(CalendarError::Duplicate { date });
            }
        }
        for date in work {
            if date.year() != year {
                return Err(CalendarError::WrongYear { year, date });
            }
            if self.off.contains(&date) {
                return Err(CalendarError::BothOffAndWork { date });
            }
            if !is_weekend(date) {
                return Err(CalendarError::WorkNotWeekend { date });
            }
            if !self.work.insert(date) {
                return Err(CalendarError::Duplicate { date });
            }
        }
        Ok(())
    }

    /// One year's holidays (`off`) and worked weekend days (`work`), ascending.
    #[must_use]
    pub fn year_days(&self, year: i32) -> (Vec<NaiveDate>, Vec<NaiveDate>) {
        let in_year = |d: &&NaiveDate| d.year() == year;
        (
            self.off.iter().filter(in_year).copied().collect(),
            self.work.iter().filter(in_year).copied().collect(),
        )
    }

    /// The national calendar embedded from `data/holidays-cn.toml` (2025 and 2026 at the time
    /// of writing).
    #[must_use]
    pub fn china() -> &'static WorkCalendar {
        &CHINA
    }

    /// The years whose holidays are known, ascending.
    #[must_use]
    pub fn known_years(&self) -> Vec<i32> {
        self.years.iter().copied().collect()
    }

    /// Whether `date`'s year is covered by the data. Outside, [`is_working_day`](Self::is_working_day)
    /// applies plain Monday–Friday rules.
    #[must_use]
    pub fn is_known(&self, date: NaiveDate) -> bool {
        self.years.contains(&date.year())
    }

    /// A working day is Monday–Friday and not a holiday, or an adjusted working weekend day.
    #[must_use]
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        if self.work.contains(&date) {
            return true;
        }
        !is_weekend(date) && !self.off.contains(&date)
    }

    /// The `n`-th working day strictly after `date` (`n = 0` gives `date`), and whether any day
    /// examined lies outside the known years.
    #[must_use]
    pub fn nth_working_day_after(&self, date: NaiveDate, n: u32) -> (NaiveDate, bool) {
        let mut day = date;
        let mut beyond = false;
        let mut remaining = n;
        while remaining > 0 {
            let Some(next) = day.succ_opt() else {
                return (day, true);
            };
            day = next;
            beyond |= !self.is_known(day);
            if self.is_working_day(day) {
                remaining -= 1;
            }
        }
        (day, beyond)
    }

    /// The deadline `n` working days after `start`; see the [module documentation](self) for
    /// the exact rule.
    ///
    /// Example: Friday 2025-09-26 + 1 → end of Sunday 2025-09-28 (an adjusted working day);
    /// Tuesday 2025-09-30 + 1 → end of Thursday 2025-10-09 (after the National Day holiday).
    #[must_use]
    pub fn add_working_days(&self, start: DateTime<Utc>, n: u32) -> DueDate {
        let local = china_time::local_date(start);
        let (last_day, beyond_known_calendar) = self.nth_working_day_after(local, n);
        DueDate {
            at: china_time::end_of_day(last_day),
            last_day,
            beyond_known_calendar,
        }
    }
}

fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

/// 1-based line number of a byte offset.
pub(crate) fn line_of(input: &str, offset: usize) -> usize {
    input
        .get(..offset.min(input.len()))
        .map_or(1, |before| before.matches('\n').count() + 1)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// An instant at the given local time in China.
    fn cst(date: &str, hour: u32) -> DateTime<Utc> {
        china_time::start_of_day(d(date)) + chrono::Duration::hours(i64::from(hour))
    }

    fn due(start: DateTime<Utc>, n: u32) -> DueDate {
        WorkCalendar::china().add_working_days(start, n)
    }

    #[test]
    fn embedded_calendar_loads() {
        let cal = WorkCalendar::china();
        assert_eq!(cal.known_years(), vec![2025, 2026]);
        assert!(cal.is_known(d("2025-01-01")));
        assert!(!cal.is_known(d("2027-01-01")));
    }

    #[test]
    fn working_day_rules() {
        let cal = WorkCalendar::china();
        assert!(cal.is_working_day(d("2025-09-26"))); // Friday
        assert!(!cal.is_working_day(d("2025-09-27"))); // Saturday
        assert!(cal.is_working_day(d("2025-09-28"))); // Sunday worked (调休)
        assert!(!cal.is_working_day(d("2025-10-01"))); // National Day
        assert!(!cal.is_working_day(d("2025-10-08"))); // Wednesday, holiday
        assert!(cal.is_working_day(d("2025-10-11"))); // Saturday worked
        assert!(!cal.is_working_day(d("2026-02-16"))); // Spring Festival
        assert!(cal.is_working_day(d("2026-02-14"))); // Saturday worked
        assert!(cal.is_working_day(d("2027-01-04"))); // Monday, unknown year
        assert!(!cal.is_working_day(d("2027-01-02"))); // Saturday, unknown year
    }

    #[test]
    fn friday_plus_one_is_the_adjusted_working_sunday() {
        let result = due(cst("2025-09-26", 15), 1);
        assert_eq!(result.last_day, d("2025-09-28"));
        assert_eq!(result.at, china_time::start_of_day(d("2025-09-29")));
        assert_eq!(result.at.to_rfc3339(), "2025-09-28T16:00:00+00:00");
        assert!(!result.beyond_known_calendar);
    }

    #[test]
    fn national_day_2025_is_skipped() {
        let result = due(cst("2025-09-30", 9), 1);
        assert_eq!(result.last_day, d("2025-10-09"));
        assert_eq!(due(cst("2025-09-30", 9), 2).last_day, d("2025-10-10"));
        assert_eq!(due(cst("2025-09-30", 9), 3).last_day, d("2025-10-11")); // worked Saturday
        assert_eq!(due(cst("2025-09-30", 9), 4).last_day, d("2025-10-13"));
        // Reported during the holiday: counting starts after the reporting day.
        assert_eq!(due(cst("2025-10-03", 10), 1).last_day, d("2025-10-09"));
    }

    #[test]
    fn spring_festival_2026() {
        // Friday 2026-02-13 + 1 → Saturday 2026-02-14 (worked); + 2 → Tuesday 2026-02-24.
        assert_eq!(due(cst("2026-02-13", 10), 1).last_day, d("2026-02-14"));
        assert_eq!(due(cst("2026-02-13", 10), 2).last_day, d("2026-02-24"));
        // Settling 5 working days after documents complete on 2026-02-12 (Thursday):
        // 13, 14 (Sat worked), 24, 25, 26.
        assert_eq!(due(cst("2026-02-12", 10), 5).last_day, d("2026-02-26"));
        // 2026-02-28 is a worked Saturday.
        assert_eq!(due(cst("2026-02-27", 10), 1).last_day, d("2026-02-28"));
    }

    #[test]
    fn local_date_decides_not_utc_date() {
        // 2025-09-26 23:30 in China is still 15:30 UTC on the 26th; 2025-09-27 00:30 China is
        // 16:30 UTC on the 26th but already Saturday locally.
        assert_eq!(due(cst("2025-09-26", 23), 1).last_day, d("2025-09-28"));
        let saturday_early =
            china_time::start_of_day(d("2025-09-27")) + chrono::Duration::minutes(30);
        assert_eq!(due(saturday_early, 1).last_day, d("2025-09-28"));
        assert_eq!(due(saturday_early, 2).last_day, d("2025-09-29"));
    }

    #[test]
    fn zero_days_means_end_of_the_same_day() {
        let result = due(cst("2025-10-03", 10), 0);
        assert_eq!(result.last_day, d("2025-10-03"));
        assert_eq!(result.at, china_time::start_of_day(d("2025-10-04")));
        assert!(!result.beyond_known_calendar);
    }

    #[test]
    fn unknown_years_are_flagged() {
        let result = due(cst("2027-03-01", 10), 1);
        assert!(result.beyond_known_calendar);
        assert_eq!(result.last_day, d("2027-03-02"));
        // Crossing from a known into an unknown year also flags.
        let result = due(cst("2026-12-30", 10), 5);
        assert!(result.beyond_known_calendar);
        assert!(!due(cst("2026-12-21", 10), 3).beyond_known_calendar);
        assert!(result.is_overdue(result.at));
        assert!(!result.is_overdue(result.at - chrono::Duration::seconds(1)));
    }

    #[test]
    fn counting_is_monotonic_and_lands_on_working_days() {
        let cal = WorkCalendar::china();
        let mut start = d("2025-01-01");
        while start <= d("2026-12-01") {
            let mut previous = start;
            for n in 1..=15 {
                let (day, _) = cal.nth_working_day_after(start, n);
                assert!(day > previous, "{start} + {n}");
                assert!(cal.is_working_day(day), "{start} + {n} = {day}");
                previous = day;
            }
            start = start.succ_opt().unwrap();
        }
    }

    #[test]
    fn validation_errors() {
        let err = |s: &str| WorkCalendar::from_toml_str(s).unwrap_err();
        assert!(matches!(
            err("[2025]\noff = [\"2025-13-01\"]"),
            CalendarError::BadDate { .. }
        ));
        assert!(matches!(
            err("[2025]\noff = [\"2026-01-01\"]"),
            CalendarError::WrongYear { .. }
        ));
        assert!(matches!(
            err("[2025]\noff = [\"2025-01-01\", \"2025-01-01\"]"),
            CalendarError::Duplicate { .. }
        ));
        assert!(matches!(
            err("[2025]\noff = [\"2025-09-28\"]\nwork = [\"2025-09-28\"]"),
            CalendarError::BothOffAndWork { .. }
        ));
        assert!(matches!(
            err("[2025]\nwork = [\"2025-09-29\"]"),
            CalendarError::WorkNotWeekend { .. }
        ));
        assert!(matches!(
            err("[abcd]\noff = []"),
            CalendarError::BadYear { .. }
        ));
        let syntax = err("[2025]\noff = [\"2025-01-01\"]\nholidays = []");
        assert!(
            matches!(syntax, CalendarError::Syntax { line: Some(3), .. }),
            "{syntax:?}"
        );
        assert!(
            syntax
                .to_string()
                .starts_with("节假日日历文件格式错误（第3行）")
        );
        assert_eq!(
            err("[2025]\nwork = [\"2025-09-29\"]").to_string(),
            "调休上班日 2025-09-29 不是周末，只有周六、周日才需要列在 work 中"
        );
    }
}
