//! The application's clock: the one place that reads the wall clock.
//!
//! Every decision that depends on time — the current academic year, a deadline, a working-day
//! due date, a schedule's occurrence, a link's expiry — asks a [`Clock`]. Production runs on
//! [`Clock::system`]; tests run on [`Clock::fixed`] at a chosen China-time moment and move it
//! with [`Clock::set`] / [`Clock::advance`], so the suite passes on any day of the year.
//! The test command fails when `Utc::now()` or `Local::now()` appears anywhere else.
//!
//! Times the database records as facts (`created_at`, `decided_at`, …) are the database's own
//! `now()`: they say when something was written, not what the rules decide.
//!
//! ```
//! use xiaobao_domain::{AcademicYear, Clock};
//!
//! let clock = Clock::at_china("2025-08-31 23:59:59").unwrap();
//! assert_eq!(clock.academic_year().to_string(), "2024-2025");
//! clock.advance(chrono::Duration::seconds(1));
//! assert_eq!(clock.academic_year().to_string(), "2025-2026");
//! assert_eq!(clock.today().to_string(), "2025-09-01");
//! ```

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;

use crate::{AcademicYear, china_time};

/// A source of the current instant; cheap to clone (clones share the same time).
#[derive(Clone)]
pub struct Clock(Arc<Source>);

enum Source {
    System,
    Manual(Mutex<DateTime<Utc>>),
}

impl Clock {
    /// The wall clock.
    #[must_use]
    pub fn system() -> Clock {
        Clock(Arc::new(Source::System))
    }

    /// A clock standing at `at` until it is set or advanced.
    #[must_use]
    pub fn fixed(at: DateTime<Utc>) -> Clock {
        Clock(Arc::new(Source::Manual(Mutex::new(at))))
    }

    /// A fixed clock at a China-time moment written `YYYY-MM-DD HH:MM:SS` (or `YYYY-MM-DD`,
    /// meaning 00:00); `None` when the text is not such a moment.
    #[must_use]
    pub fn at_china(local: &str) -> Option<Clock> {
        china_moment(local).map(Clock::fixed)
    }

    /// The current instant.
    #[must_use]
    pub fn now(&self) -> DateTime<Utc> {
        match &*self.0 {
            Source::System => wall(),
            Source::Manual(at) => *at.lock().unwrap_or_else(PoisonError::into_inner),
        }
    }

    /// Today's date in China.
    #[must_use]
    pub fn today(&self) -> NaiveDate {
        china_time::local_date(self.now())
    }

    /// The academic year containing now (China time: it turns at 1 September 00:00).
    #[must_use]
    pub fn academic_year(&self) -> AcademicYear {
        AcademicYear::containing(self.now())
    }

    /// Moves a fixed clock to `at`. The wall clock cannot be set: `false`, nothing changes.
    pub fn set(&self, at: DateTime<Utc>) -> bool {
        match &*self.0 {
            Source::System => false,
            Source::Manual(current) => {
                *current.lock().unwrap_or_else(PoisonError::into_inner) = at;
                true
            }
        }
    }

    /// Moves a fixed clock to a China-time moment (as [`Clock::at_china`]); `false` for the
    /// wall clock or text that is not a moment.
    pub fn set_china(&self, local: &str) -> bool {
        china_moment(local).is_some_and(|at| self.set(at))
    }

    /// Moves a fixed clock forward by `by` (backward when negative); `false` for the wall
    /// clock.
    pub fn advance(&self, by: Duration) -> bool {
        match &*self.0 {
            Source::System => false,
            Source::Manual(current) => {
                let mut at = current.lock().unwrap_or_else(PoisonError::into_inner);
                *at += by;
                true
            }
        }
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.0 {
            Source::System => f.write_str("Clock::system"),
            Source::Manual(_) => write!(f, "Clock::fixed({})", self.now()),
        }
    }
}

/// The one read of the wall clock.
fn wall() -> DateTime<Utc> {
    Utc::now()
}

fn china_moment(local: &str) -> Option<DateTime<Utc>> {
    let s = local.trim();
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M"))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .map(|d| d.and_time(chrono::NaiveTime::MIN))
        })?;
    Shanghai
        .from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_clock_moves_only_when_told() {
        let clock = Clock::at_china("2025-09-30 23:59").expect("moment");
        let copy = clock.clone();
        assert_eq!(clock.today().to_string(), "2025-09-30");
        assert!(copy.advance(Duration::minutes(1)));
        assert_eq!(clock.today().to_string(), "2025-10-01");
        assert!(clock.set_china("2026-09-01"));
        assert_eq!(copy.academic_year().to_string(), "2026-2027");
        assert!(!clock.set_china("not a date"));
        assert_eq!(copy.academic_year().to_string(), "2026-2027");
    }

    #[test]
    fn the_year_turns_at_china_midnight_not_utc() {
        // 2026-08-31 16:00 UTC is 2026-09-01 00:00 in China.
        let before = Clock::fixed(Utc.with_ymd_and_hms(2026, 8, 31, 15, 59, 59).unwrap());
        assert_eq!(before.academic_year().to_string(), "2025-2026");
        before.advance(Duration::seconds(1));
        assert_eq!(before.academic_year().to_string(), "2026-2027");
    }

    #[test]
    fn the_system_clock_cannot_be_set() {
        let clock = Clock::system();
        assert!(!clock.set(Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap()));
        assert!(clock.now().timestamp() > 1_700_000_000);
    }
}
