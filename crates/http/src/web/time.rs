//! Times are stored in UTC and shown in China Standard Time.

use chrono::{DateTime, Utc};
use chrono_tz::Asia::Shanghai;

/// `2025-09-30 18:00` in Asia/Shanghai.
pub fn cst(at: DateTime<Utc>) -> String {
    at.with_timezone(&Shanghai)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// RFC 3339 with the +08:00 offset, for the API.
pub fn cst_rfc3339(at: DateTime<Utc>) -> String {
    at.with_timezone(&Shanghai).to_rfc3339()
}

/// The instant with the +08:00 offset (serialised as RFC 3339 by serde).
pub fn to_cst(at: DateTime<Utc>) -> DateTime<chrono::FixedOffset> {
    at.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| unreachable!()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn utc_midnight_is_eight_in_the_morning_in_beijing() {
        let at = Utc.with_ymd_and_hms(2025, 9, 30, 16, 0, 0).single();
        assert_eq!(at.map(cst).as_deref(), Some("2025-10-01 00:00"));
        assert_eq!(
            at.map(cst_rfc3339).as_deref(),
            Some("2025-10-01T00:00:00+08:00")
        );
    }
}
