//! Recurring jobs per tenant.

use std::time::Duration;

use chrono::{DateTime, Days, NaiveTime, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;

use crate::NewJob;

/// How often a [`Schedule`] recurs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Every {
    /// Once a day at `hour:minute` China time (Asia/Shanghai), e.g. daily reminders.
    Daily { hour: u32, minute: u32 },
    /// At every multiple of this interval since the Unix epoch (so every worker computes the
    /// same occurrences), e.g. SLA checks every five minutes. At least one second.
    Interval(Duration),
}

/// A job the worker enqueues for every active tenant at each occurrence.
///
/// The occurrence's dedupe key is `"{kind}:{occurrence}"` (the China-time date for
/// [`Every::Daily`], the UTC instant for [`Every::Interval`]), so several workers create each
/// occurrence once. Only the latest occurrence that is due is created: missed occurrences
/// (the worker was down) collapse into one. Use one schedule per kind.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub kind: String,
    pub payload: serde_json::Value,
    pub every: Every,
    /// `max_attempts` of each occurrence; `None` = the default.
    pub max_attempts: Option<i32>,
}

impl Schedule {
    pub fn new(kind: impl Into<String>, payload: serde_json::Value, every: Every) -> Self {
        Self {
            kind: kind.into(),
            payload,
            every,
            max_attempts: None,
        }
    }

    /// Daily at `hour:minute` China time.
    pub fn daily(kind: impl Into<String>, hour: u32, minute: u32) -> Self {
        Self::new(kind, serde_json::json!({}), Every::Daily { hour, minute })
    }

    /// Every `interval`.
    pub fn every(kind: impl Into<String>, interval: Duration) -> Self {
        Self::new(kind, serde_json::json!({}), Every::Interval(interval))
    }

    /// The latest occurrence at or before `now`: its key (without the kind) and instant.
    pub fn latest_occurrence(&self, now: DateTime<Utc>) -> (String, DateTime<Utc>) {
        match self.every {
            Every::Daily { hour, minute } => {
                let time = NaiveTime::from_hms_opt(hour.min(23), minute.min(59), 0)
                    .unwrap_or(NaiveTime::MIN);
                let today = now.with_timezone(&Shanghai).date_naive();
                let at = |date: chrono::NaiveDate| {
                    Shanghai
                        .from_local_datetime(&date.and_time(time))
                        .earliest()
                        .map(|t| t.with_timezone(&Utc))
                };
                match at(today) {
                    Some(t) if t <= now => (today.to_string(), t),
                    _ => {
                        let yesterday = today.checked_sub_days(Days::new(1)).unwrap_or(today);
                        (yesterday.to_string(), at(yesterday).unwrap_or(now))
                    }
                }
            }
            Every::Interval(interval) => {
                let secs = i64::try_from(interval.as_secs()).unwrap_or(i64::MAX).max(1);
                let start = now.timestamp().div_euclid(secs) * secs;
                let at = DateTime::<Utc>::from_timestamp(start, 0).unwrap_or(now);
                (at.format("%Y-%m-%dT%H:%M:%SZ").to_string(), at)
            }
        }
    }

    /// The job of the latest occurrence at or before `now`.
    pub fn occurrence_job(&self, now: DateTime<Utc>) -> NewJob {
        let (key, at) = self.latest_occurrence(now);
        let mut job = NewJob::new(self.kind.clone(), self.payload.clone())
            .with_run_at(at)
            .with_dedupe_key(format!("{}:{key}", self.kind));
        job.max_attempts = self.max_attempts;
        job
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_daily_schedule_uses_the_china_date_of_its_last_occurrence() {
        let s = Schedule::daily("reminders.daily", 8, 30);
        // 08:30 China time is 00:30 UTC.
        let (key, at) = s.latest_occurrence(t("2025-06-01T00:29:00Z"));
        assert_eq!(key, "2025-05-31");
        assert_eq!(at, t("2025-05-31T00:30:00Z"));
        let (key, at) = s.latest_occurrence(t("2025-06-01T00:30:00Z"));
        assert_eq!(key, "2025-06-01");
        assert_eq!(at, t("2025-06-01T00:30:00Z"));
        // 23:00 UTC on 1 June is 07:00 on 2 June in China: past a 06:00 schedule.
        let early = Schedule::daily("reminders.daily", 6, 0);
        let (key, at) = early.latest_occurrence(t("2025-06-01T23:00:00Z"));
        assert_eq!(key, "2025-06-02");
        assert_eq!(at, t("2025-06-01T22:00:00Z"));
        assert_eq!(
            early
                .occurrence_job(t("2025-06-01T23:00:00Z"))
                .dedupe_key
                .as_deref(),
            Some("reminders.daily:2025-06-02")
        );
    }

    #[test]
    fn an_interval_schedule_is_aligned_on_the_epoch() {
        let s = Schedule::every("sla.check", Duration::from_secs(300));
        let (key, at) = s.latest_occurrence(t("2025-06-01T10:07:59Z"));
        assert_eq!(key, "2025-06-01T10:05:00Z");
        assert_eq!(at, t("2025-06-01T10:05:00Z"));
        let (same, _) = s.latest_occurrence(t("2025-06-01T10:09:59Z"));
        assert_eq!(same, key);
    }
}
