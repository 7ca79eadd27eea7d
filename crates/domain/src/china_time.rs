//! China Standard Time (Asia/Shanghai) helpers.
//!
//! Instants are stored in UTC; every date a person sees (cover start, deadlines, working days)
//! is a local date in China. China has used UTC+8 without daylight saving since 1991, but the
//! conversion goes through the Asia/Shanghai zone so historical instants stay correct too.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;

/// The local calendar date in China of an instant.
#[must_use]
pub fn local_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&Shanghai).date_naive()
}

/// 00:00 China time of `date`, as an instant.
#[must_use]
pub fn start_of_day(date: NaiveDate) -> DateTime<Utc> {
    let naive = date.and_time(NaiveTime::MIN);
    match Shanghai.from_local_datetime(&naive).earliest() {
        Some(local) => local.with_timezone(&Utc),
        // Midnight always exists in Asia/Shanghai (its historical DST switched at 02:00); fall
        // back to plain UTC+8 rather than panic.
        None => cst_fixed(naive),
    }
}

/// The end of `date` in China time, i.e. 00:00 of the next day (exclusive bound). `24:00` on
/// official documents means this instant.
#[must_use]
pub fn end_of_day(date: NaiveDate) -> DateTime<Utc> {
    match date.succ_opt() {
        Some(next) => start_of_day(next),
        None => DateTime::<Utc>::MAX_UTC,
    }
}

fn cst_fixed(naive: chrono::NaiveDateTime) -> DateTime<Utc> {
    const EIGHT_HOURS: i32 = 8 * 3600;
    match FixedOffset::east_opt(EIGHT_HOURS).and_then(|o| o.from_local_datetime(&naive).single()) {
        Some(local) => local.with_timezone(&Utc),
        None => naive.and_utc(),
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn local_midnight_is_16_00_utc_of_the_previous_day() {
        let start = start_of_day(d("2025-09-01"));
        assert_eq!(start.to_rfc3339(), "2025-08-31T16:00:00+00:00");
        assert_eq!(local_date(start), d("2025-09-01"));
        assert_eq!(
            local_date(start - chrono::Duration::seconds(1)),
            d("2025-08-31")
        );
        assert_eq!(end_of_day(d("2026-08-31")), start_of_day(d("2026-09-01")));
    }
}
