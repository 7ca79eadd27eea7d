//! Demo programme rules for the three tenants of the seed documents, embedded as TOML.
//!
//! The files live in `crates/domain/programmes/`; values the source documents do not give are
//! marked there as “配置值，由主管部门确认”.

/// Tenant slugs that have demo rules.
pub const DEMO_SLUGS: [&str; 3] = ["henan", "liupanshui", "shanghai"];

const HENAN: &str = include_str!("../programmes/henan-2025-2026.toml");
const LIUPANSHUI: &str = include_str!("../programmes/liupanshui-2025-2026.toml");
const SHANGHAI: &str = include_str!("../programmes/shanghai-2025-2026.toml");

/// The demo rules TOML (academic year 2025-2026) for a tenant slug. Accepts the bare slug
/// (`"henan"`, `"liupanshui"`, `"shanghai"`) or the file stem (`"henan-2025-2026"`); `None` for
/// anything else. Parse with [`ProgrammeRules::from_toml_str`](crate::rules::ProgrammeRules::from_toml_str).
#[must_use]
pub fn demo_rules(slug: &str) -> Option<&'static str> {
    match slug {
        "henan" | "henan-2025-2026" => Some(HENAN),
        "liupanshui" | "liupanshui-2025-2026" => Some(LIUPANSHUI),
        "shanghai" | "shanghai-2025-2026" => Some(SHANGHAI),
        _ => None,
    }
}

/// Days a visitor of the demo has to try enrolling: when the programme's school enrolment
/// deadline of the year containing today has passed, the demo moves it this far ahead.
pub const DEMO_ENROLMENT_DAYS: i64 = 30;

/// The demo rules of `slug` for `year`, as a visitor on `today` should find them: the
/// programme's own rules with the academic year set to `year`; in the year containing
/// `today`, when the school enrolment deadline has already passed, every deadline is moved by
/// the same number of days so that schools have [`DEMO_ENROLMENT_DAYS`] from today (no
/// deadline later than the year's 31 August). Other years keep the programme's dates. `None`
/// for a slug without demo rules.
#[must_use]
pub fn demo_rules_for(
    slug: &str,
    year: crate::AcademicYear,
    today: chrono::NaiveDate,
) -> Option<String> {
    use crate::rules::{Deadline, ProgrammeRules};
    let source = demo_rules(slug)?;
    let rules = ProgrammeRules::from_toml_str(source).ok()?;
    let shift = if crate::AcademicYear::containing_date(today) == year {
        let wanted = today + chrono::Duration::days(DEMO_ENROLMENT_DAYS);
        let deadline = rules.deadline(Deadline::SchoolEnrolment, year);
        (deadline < today).then(|| (wanted.min(year.last_day()) - deadline).num_days())
    } else {
        None
    };
    if rules.academic_year() == year && shift.is_none() {
        return Some(source.to_string());
    }
    let mut doc = rules.document().clone();
    doc.academic_year = year;
    // Admissions whose tender does not cover the year are not the year's.
    doc.enrolment.insurers.retain(|i| i.holds_in(year));
    if let Some(days) = shift {
        let moved = |md: crate::MonthDay| -> crate::MonthDay {
            use chrono::Datelike;
            let date =
                (md.in_academic_year(year) + chrono::Duration::days(days)).min(year.last_day());
            // A month-day is the same every year, so 29 February is written as the 28th.
            let day = if (date.month(), date.day()) == (2, 29) {
                28
            } else {
                date.day()
            };
            crate::MonthDay::new(date.month(), day).unwrap_or(md)
        };
        let d = &mut doc.deadlines;
        d.school_enrolment = moved(d.school_enrolment);
        d.county_report = moved(d.county_report);
        d.insurer_policy_upload = moved(d.insurer_policy_upload);
        d.statistics_submission = moved(d.statistics_submission);
        d.premium_payment = moved(d.premium_payment);
    }
    ProgrammeRules::validate(doc).ok()?.to_toml_string().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::AcademicYear;
    use crate::rules::{Deadline, ProgrammeRules};

    fn rules(slug: &str, year: &str, today: &str) -> ProgrammeRules {
        let year = AcademicYear::parse(year).unwrap();
        ProgrammeRules::from_toml_str(&demo_rules_for(slug, year, today.parse().unwrap()).unwrap())
            .unwrap()
    }

    #[test]
    fn the_programme_year_in_its_season_is_the_file_as_written() {
        let year = AcademicYear::parse("2025-2026").unwrap();
        let text = demo_rules_for("henan", year, "2025-09-15".parse().unwrap()).unwrap();
        assert_eq!(text, demo_rules("henan").unwrap());
    }

    #[test]
    fn a_passed_deadline_of_the_current_year_moves_thirty_days_ahead_with_the_others() {
        let r = rules("liupanshui", "2026-2027", "2026-12-04");
        let ay = r.academic_year();
        assert_eq!(ay.to_string(), "2026-2027");
        assert_eq!(
            r.deadline(Deadline::SchoolEnrolment, ay).to_string(),
            "2027-01-03"
        );
        // 09-30 → 01-03 is 95 days; the county report (10-10) moves as far.
        assert_eq!(
            r.deadline(Deadline::CountyReport, ay).to_string(),
            "2027-01-13"
        );
        // Nothing passes the year's last day.
        assert_eq!(
            r.deadline(Deadline::PremiumPayment, ay).to_string(),
            "2027-04-04"
        );
    }

    #[test]
    fn late_in_the_year_deadlines_stop_at_31_august() {
        let r = rules("henan", "2026-2027", "2027-08-20");
        let ay = r.academic_year();
        assert_eq!(
            r.deadline(Deadline::SchoolEnrolment, ay).to_string(),
            "2027-08-31"
        );
        assert_eq!(
            r.deadline(Deadline::PremiumPayment, ay).to_string(),
            "2027-08-31"
        );
    }

    #[test]
    fn the_previous_year_keeps_the_programme_dates() {
        let r = rules("shanghai", "2025-2026", "2026-12-04");
        let ay = r.academic_year();
        assert_eq!(
            r.deadline(Deadline::SchoolEnrolment, ay).to_string(),
            "2025-09-30"
        );
    }

    #[test]
    fn a_shifted_date_never_lands_on_29_february() {
        // 2028 is a leap year: 09-30 + 152 days = 2028-02-29, written as 02-28.
        let r = rules("henan", "2027-2028", "2028-01-30");
        let ay = r.academic_year();
        assert_eq!(
            r.deadline(Deadline::SchoolEnrolment, ay).to_string(),
            "2028-02-28"
        );
    }

    #[test]
    fn an_unknown_slug_has_no_demo_rules() {
        let year = AcademicYear::parse("2025-2026").unwrap();
        assert!(demo_rules_for("beijing", year, "2025-09-15".parse().unwrap()).is_none());
    }
}
