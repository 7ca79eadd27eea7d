use super::*;
use crate::programmes::{DEMO_SLUGS, demo_rules};

use SchoolNature::{Private, Public};
use SchoolType::{HigherEducation, JuniorHigh, Kindergarten, Primary, SeniorHigh, Vocational};

fn rules(slug: &str) -> ProgrammeRules {
    ProgrammeRules::from_toml_str(demo_rules(slug).unwrap())
        .unwrap_or_else(|e| panic!("{slug}: {e}"))
}

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn year() -> AcademicYear {
    AcademicYear::parse("2025-2026").unwrap()
}

/// An instant at `hour`:00 local time in China.
fn cst(date: &str, hour: i64) -> DateTime<Utc> {
    china_time::start_of_day(d(date)) + Duration::hours(hour)
}

fn cal() -> &'static WorkCalendar {
    WorkCalendar::china()
}

/// The Liupanshui file with `from` replaced by `to` (which must occur).
fn liupanshui_with(from: &str, to: &str) -> String {
    let src = demo_rules("liupanshui").unwrap();
    assert!(src.contains(from), "fixture does not contain {from:?}");
    src.replacen(from, to, 1)
}

fn problems_of(toml: &str) -> Vec<RuleProblem> {
    match ProgrammeRules::from_toml_str(toml) {
        Err(RulesError::Invalid { problems }) => problems,
        other => panic!("expected validation problems, got {other:?}"),
    }
}

fn has_problem(problems: &[RuleProblem], path: &str, needle: &str) -> bool {
    problems
        .iter()
        .any(|p| p.path == path && p.problem.contains(needle))
}

// --- demo programmes ---------------------------------------------------------------------------

#[test]
fn all_demo_programmes_parse() {
    for slug in DEMO_SLUGS {
        let r = rules(slug);
        assert_eq!(r.academic_year(), year(), "{slug}");
        assert_eq!(demo_rules(&format!("{slug}-2025-2026")), demo_rules(slug));
    }
    assert_eq!(demo_rules("beijing"), None);
    assert_eq!(rules("henan").programme_name(), "河南省教育保险");
    assert_eq!(rules("liupanshui").programme_name(), "六盘水市校方责任保险");
    assert_eq!(
        rules("shanghai").programme_name(),
        "上海市中小学校方责任保险"
    );
}

#[test]
fn shanghai_2016_premium_figures() {
    let sh = rules("shanghai");
    let students = sh
        .premium("school_liability", Public, Primary, 1_478_100)
        .unwrap();
    assert_eq!(students, Fen::from_yuan(7_390_500));
    let interns = sh
        .premium("student_internship", Public, Vocational, 37_100)
        .unwrap();
    assert_eq!(interns, Fen::from_yuan(556_500));
    assert_eq!(students + interns, Fen::from_yuan(7_947_000));
    assert_eq!((students + interns).to_string(), "¥7,947,000.00");
}

#[test]
fn shanghai_products_and_hours() {
    let sh = rules("shanghai");
    assert!(matches!(
        sh.premium("school_liability", Public, Kindergarten, 10),
        Err(RulesError::NotEligible { .. })
    ));
    assert!(matches!(
        sh.premium("student_internship", Public, SeniorHigh, 10),
        Err(RulesError::NotEligible { .. })
    ));
    let reported = cst("2025-10-01", 20);
    assert_eq!(
        sh.contact_due(reported),
        Some(reported + Duration::hours(12))
    );
    assert_eq!(
        sh.on_site_due(reported),
        Some(reported + Duration::hours(24))
    );
    assert_eq!(rules("liupanshui").on_site_due(reported), None);
    // Paid within 3 days of closing, whatever the amount.
    assert_eq!(sh.payment_working_days(Fen::from_yuan(100)), 3);
    assert_eq!(sh.payment_working_days(Fen::from_yuan(1_000_000)), 3);
    assert_eq!(sh.broker_fee(Fen::from_yuan(1000)), Fen::ZERO);
}

#[test]
fn henan_has_three_products_and_its_deadlines() {
    let henan = rules("henan");
    let names: Vec<&str> = henan.products().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "校方责任保险（无过失责任险）",
            "教职工校方责任保险",
            "学生实习责任保险"
        ]
    );
    assert_eq!(
        henan
            .premium("school_liability", Public, Primary, 1000)
            .unwrap(),
        Fen::from_yuan(5000)
    );
    assert_eq!(
        henan.product("staff_liability").unwrap().insured,
        InsuredGroup::Staff
    );
    assert!(
        henan
            .premium("student_internship", Private, HigherEducation, 1)
            .is_ok()
    );
    assert!(matches!(
        henan.premium("student_internship", Public, Primary, 1),
        Err(RulesError::NotEligible { .. })
    ));
    let y = year();
    assert_eq!(
        henan.deadline(Deadline::SchoolEnrolment, y),
        d("2025-09-30")
    );
    assert_eq!(henan.deadline(Deadline::CountyReport, y), d("2025-10-10"));
    assert_eq!(
        henan.deadline(Deadline::InsurerPolicyUpload, y),
        d("2025-10-31")
    );
    assert_eq!(
        henan.deadline(Deadline::StatisticsSubmission, y),
        d("2025-10-31")
    );
    assert_eq!(
        henan.deadline_at(Deadline::SchoolEnrolment, y),
        china_time::start_of_day(d("2025-10-01"))
    );
}

#[test]
fn liupanshui_premium_limits_and_cover() {
    let lps = rules("liupanshui");
    assert_eq!(
        lps.premium("school_liability", Private, Kindergarten, 250)
            .unwrap(),
        Fen::from_yuan(2500)
    );
    assert_eq!(
        lps.premium("school_liability", Public, HigherEducation, 0)
            .unwrap(),
        Fen::ZERO
    );
    let limits = &lps.product("school_liability").unwrap().limits;
    assert_eq!(limits.len(), 2);
    assert_eq!(limits[0].per_person_year_fen, Some(Fen::from_yuan(500_000)));
    assert_eq!(
        limits[0].per_school_accident_fen,
        Some(Fen::from_yuan(5_000_000))
    );
    assert_eq!(limits[1].coverage, "附加无过失责任险");
    assert_eq!(limits[1].per_person_year_fen, Some(Fen::from_yuan(200_000)));
    assert_eq!(
        limits[1].per_school_accident_fen,
        Some(Fen::from_yuan(2_000_000))
    );
    assert_eq!(lps.cover_start(year()), year().cover_start());
    assert_eq!(lps.cover_end(year()), year().cover_end());
    assert_eq!(
        lps.deadline(Deadline::PremiumPayment, year()),
        d("2025-12-30")
    );
    assert!(matches!(
        lps.premium("staff_liability", Public, Primary, 1),
        Err(RulesError::UnknownProduct { .. })
    ));
    assert!(matches!(
        lps.premium("school_liability", Public, Primary, u32::MAX),
        Ok(Fen(4_294_967_295_000))
    ));
}

// --- headcount changes ------------------------------------------------------------------------

#[test]
fn headcount_change_follows_the_five_percent_band() {
    let lps = rules("liupanshui");
    let rate = Fen::from_yuan(10);
    let change = |nature, new| {
        lps.headcount_change_premium("school_liability", nature, Primary, 1000, new)
            .unwrap()
    };
    // −10 %, +3 %, +5 %, +12 % of 1,000 insured.
    for new in [900, 1030, 1050, 1120] {
        assert_eq!(change(Public, new), Fen::ZERO, "public {new}");
    }
    assert_eq!(change(Private, 900), Fen::ZERO);
    assert_eq!(change(Private, 1030), Fen::ZERO);
    assert_eq!(change(Private, 1050), Fen::ZERO);
    assert_eq!(change(Private, 1051), rate);
    assert_eq!(change(Private, 1120), rate * 70);
    assert_eq!(change(Private, 1000), Fen::ZERO);
}

#[test]
fn headcount_band_allowance_rounds_down() {
    let lps = rules("liupanshui");
    // 5 % of 39 = 1.95 → 1 person allowed; 39 → 42 charges 2 persons.
    assert_eq!(
        lps.headcount_change_premium("school_liability", Private, Primary, 39, 42)
            .unwrap(),
        Fen::from_yuan(20)
    );
    // From zero insured everything is charged.
    assert_eq!(
        lps.headcount_change_premium("school_liability", Private, Primary, 0, 7)
            .unwrap(),
        Fen::from_yuan(70)
    );
}

#[test]
fn shanghai_adjusts_both_ways_for_every_school() {
    let sh = rules("shanghai");
    let change = |nature, new| {
        sh.headcount_change_premium("school_liability", nature, Primary, 1000, new)
            .unwrap()
    };
    assert_eq!(change(Public, 1120), Fen::from_yuan(5) * 120);
    assert_eq!(change(Public, 900), -(Fen::from_yuan(5) * 100));
    assert_eq!(change(Private, 1000), Fen::ZERO);
}

#[test]
fn headcount_change_matches_the_formula_everywhere() {
    let lps = rules("liupanshui");
    for insured in (0..400).step_by(7) {
        for new in (0..500).step_by(3) {
            let got = lps
                .headcount_change_premium("school_liability", Private, Primary, insured, new)
                .unwrap();
            let allowance = insured * 5 / 100;
            let persons = new.saturating_sub(insured).saturating_sub(allowance);
            assert_eq!(
                got,
                Fen::from_yuan(10) * i64::from(persons),
                "{insured} → {new}"
            );
            let public = lps
                .headcount_change_premium("school_liability", Public, Primary, insured, new)
                .unwrap();
            assert_eq!(public, Fen::ZERO);
        }
    }
}

#[test]
fn endorsement_due_in_two_working_days() {
    let lps = rules("liupanshui");
    let due = lps.endorsement_due(cst("2025-09-26", 10), cal());
    // Friday → Sunday 28 (worked) → Monday 29.
    assert_eq!(due.last_day, d("2025-09-29"));
}

// --- claims -------------------------------------------------------------------------------------

#[test]
fn settle_tiers_have_inclusive_bounds() {
    let lps = rules("liupanshui");
    let cases = [
        (Fen(0), 5),
        (Fen::from_yuan(3000), 5),
        (Fen::from_yuan(3000) + Fen(1), 7),
        (Fen::from_yuan(20_000), 7),
        (Fen::from_yuan(20_000) + Fen(1), 10),
        (Fen::from_yuan(100_000), 10),
        (Fen::from_yuan(100_000) + Fen(1), 15),
        (Fen::from_yuan(5_000_000), 15),
    ];
    for (amount, days) in cases {
        assert_eq!(lps.settle_working_days(amount), days, "{amount}");
    }
}

#[test]
fn settle_due_counts_working_days_after_complete_documents() {
    let lps = rules("liupanshui");
    // Documents complete Tuesday 2025-09-30; small case (5 days): 10-09, 10, 11 (Sat worked),
    // 13, 14.
    let due = lps.settle_due(Fen::from_yuan(2000), cst("2025-09-30", 16), cal());
    assert_eq!(due.last_day, d("2025-10-14"));
    assert_eq!(due.at, china_time::start_of_day(d("2025-10-15")));
    assert!(!due.beyond_known_calendar);
    // Major case (15 days) completed late in 2026 runs into 2027: flagged.
    let due = lps.settle_due(Fen::from_yuan(200_000), cst("2026-12-20", 10), cal());
    assert!(due.beyond_known_calendar);
}

#[test]
fn payment_tiers() {
    let lps = rules("liupanshui");
    assert_eq!(lps.payment_working_days(Fen::from_yuan(50_000)), 1);
    assert_eq!(lps.payment_working_days(Fen::from_yuan(50_000) + Fen(1)), 2);
    assert_eq!(lps.payment_working_days(Fen::from_yuan(300_000)), 2);
    assert_eq!(lps.payment_working_days(Fen::from_yuan(300_001)), 3);
    let due = lps.payment_due(Fen::from_yuan(60_000), cst("2026-02-13", 9), cal());
    assert_eq!(due.last_day, d("2026-02-24"));
}

#[test]
fn prepayment_is_half_within_five_working_days() {
    let lps = rules("liupanshui");
    assert_eq!(
        lps.prepayment(Fen::from_yuan(300_000)),
        Fen::from_yuan(150_000)
    );
    assert_eq!(lps.prepayment(Fen(1001)), Fen(501));
    let due = lps.prepayment_due(cst("2025-09-30", 9), cal());
    assert_eq!(due.last_day, d("2025-10-14"));
}

#[test]
fn answer_and_acceptance_deadlines() {
    let lps = rules("liupanshui");
    assert_eq!(
        lps.report_answer_due(cst("2025-09-26", 17), cal()).last_day,
        d("2025-09-28")
    );
    assert_eq!(
        lps.acceptance_decision_due(cst("2025-09-30", 9), cal())
            .last_day,
        d("2025-10-09")
    );
}

#[test]
fn customer_notice_only_above_ten_thousand() {
    let lps = rules("liupanshui");
    let codes = |kind, amount| -> Vec<String> {
        lps.required_documents(kind, amount)
            .into_iter()
            .map(|d| d.code.clone())
            .collect()
    };
    let small = codes(ClaimKind::Injury, Fen::from_yuan(10_000));
    assert!(!small.contains(&"customer_notice".to_owned()));
    let large = codes(ClaimKind::Injury, Fen::from_yuan(10_000) + Fen(1));
    assert!(large.contains(&"customer_notice".to_owned()));
    assert_eq!(large.len(), small.len() + 1);
}

#[test]
fn documents_by_claim_kind() {
    let lps = rules("liupanshui");
    let codes = |kind| -> Vec<String> {
        lps.required_documents(kind, Fen::from_yuan(500))
            .into_iter()
            .map(|d| d.code.clone())
            .collect()
    };
    let injury = codes(ClaimKind::Injury);
    assert_eq!(injury[0], "claim_notice");
    assert!(injury.contains(&"outpatient_records".to_owned()));
    assert!(!injury.contains(&"inpatient_records".to_owned()));
    assert!(!injury.contains(&"death_certificate".to_owned()));

    let inpatient = codes(ClaimKind::Hospitalised);
    assert!(inpatient.contains(&"inpatient_records".to_owned()));
    assert!(!inpatient.contains(&"outpatient_records".to_owned()));

    assert!(codes(ClaimKind::Disability).contains(&"disability_assessment".to_owned()));

    let death = codes(ClaimKind::Death);
    assert!(death.contains(&"death_certificate".to_owned()));
    assert!(death.contains(&"death_settlement_agreement".to_owned()));
    for medical in [
        "outpatient_records",
        "inpatient_records",
        "student_identity",
    ] {
        assert!(!death.contains(&medical.to_owned()), "{medical}");
    }
    // General case: 13 items in the tender, minus the customer notice below 10,000 CNY and
    // minus the inpatient records (item 10 is the alternative to item 9).
    assert_eq!(injury.len(), 11);
    // Death case: 10 items, minus the customer notice.
    assert_eq!(death.len(), 9);

    let receipt = lps
        .required_documents(ClaimKind::Injury, Fen(0))
        .into_iter()
        .find(|d| d.code == "payment_receipt")
        .unwrap();
    assert_eq!(receipt.only_if.as_deref(), Some("学校先行垫付情形"));
}

#[test]
fn broker_fee_is_23_percent_of_received_premium() {
    let lps = rules("liupanshui");
    assert_eq!(
        lps.broker_fee(Fen::from_yuan(100_000)),
        Fen::from_yuan(23_000)
    );
    assert_eq!(lps.broker_fee(Fen(1)), Fen(0));
    assert_eq!(lps.broker_fee(Fen(3)), Fen(1)); // 0.69 fen → 1
}

// --- rate rules ----------------------------------------------------------------------------------

#[test]
fn first_matching_rate_wins() {
    let toml = liupanshui_with(
        "[[products.rates]]\nrate_fen = 1000",
        "[[products.rates]]\nnature = \"民办\"\nschool_types = [\"kindergarten\"]\nrate_fen = 2000\n\n\
         [[products.rates]]\nschool_types = [\"kindergarten\"]\nrate_fen = 1500\n\n\
         [[products.rates]]\nrate_fen = 1000",
    );
    let r = ProgrammeRules::from_toml_str(&toml).unwrap();
    assert_eq!(
        r.rate("school_liability", Private, Kindergarten).unwrap(),
        Fen(2000)
    );
    assert_eq!(
        r.rate("school_liability", Public, Kindergarten).unwrap(),
        Fen(1500)
    );
    assert_eq!(
        r.rate("school_liability", Private, JuniorHigh).unwrap(),
        Fen(1000)
    );
}

#[test]
fn intern_products_default_to_vocational_schools() {
    let toml = liupanshui_with("insured = \"student\"", "insured = \"intern\"");
    let r = ProgrammeRules::from_toml_str(&toml).unwrap();
    let product = r.product("school_liability").unwrap();
    assert_eq!(product.effective_school_types(), vec![Vocational]);
    assert!(r.premium("school_liability", Public, Vocational, 1).is_ok());
    let err = r
        .premium("school_liability", Public, Primary, 1)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "险种“校方责任险（含附加无过失责任险）”不适用于小学学校"
    );
}

// --- validation ----------------------------------------------------------------------------------

#[test]
fn rejects_missing_rates_for_eligible_schools() {
    let toml = liupanshui_with(
        "[[products.rates]]\nrate_fen = 1000",
        "[[products.rates]]\nnature = \"public\"\nrate_fen = 1000",
    );
    let problems = problems_of(&toml);
    assert!(
        has_problem(&problems, "products[1].rates", "民办幼儿园"),
        "{problems:?}"
    );
}

#[test]
fn rejects_bad_rates_and_limits() {
    let toml = liupanshui_with("rate_fen = 1000", "rate_fen = 0");
    assert!(has_problem(
        &problems_of(&toml),
        "products[1].rates[1].rate_fen",
        "大于0"
    ));
    let toml = liupanshui_with("rate_fen = 1000", "rate_fen = 100000000");
    assert!(has_problem(
        &problems_of(&toml),
        "products[1].rates[1].rate_fen",
        "合理范围"
    ));
    let toml = liupanshui_with(
        "per_school_accident_fen = 500000000",
        "per_school_accident_fen = 100",
    );
    assert!(has_problem(
        &problems_of(&toml),
        "products[1].limits[1].per_school_accident_fen",
        "不应小于"
    ));
}

#[test]
fn rejects_bad_tiers() {
    // Not increasing.
    let toml = liupanshui_with(
        "up_to_fen = 2000000\nworking_days = 7",
        "up_to_fen = 300000\nworking_days = 7",
    );
    assert!(has_problem(
        &problems_of(&toml),
        "claims.settle_tiers[2].up_to_fen",
        "必须大于上一档"
    ));
    // Last tier with an upper bound.
    let toml = liupanshui_with(
        "[[claims.settle_tiers]]\nworking_days = 15",
        "[[claims.settle_tiers]]\nup_to_fen = 90000000\nworking_days = 15",
    );
    assert!(has_problem(
        &problems_of(&toml),
        "claims.settle_tiers[4].up_to_fen",
        "最后一档"
    ));
    // Open tier in the middle.
    let toml = liupanshui_with(
        "[[claims.payment_tiers]]\nup_to_fen = 5000000\nworking_days = 1",
        "[[claims.payment_tiers]]\nworking_days = 1",
    );
    assert!(has_problem(
        &problems_of(&toml),
        "claims.payment_tiers[1].up_to_fen",
        "只有最后一档"
    ));
}

#[test]
fn rejects_bad_percentages_and_codes() {
    let toml = liupanshui_with("percent = 50", "percent = 0");
    assert!(has_problem(
        &problems_of(&toml),
        "claims.prepayment.percent",
        "1到100"
    ));
    let toml = liupanshui_with("private_band_percent = 5", "private_band_percent = 105");
    assert!(has_problem(
        &problems_of(&toml),
        "headcount_change.private_band_percent",
        "0到100"
    ));
    let toml = liupanshui_with("broker_fee_permille = 230", "broker_fee_permille = 2300");
    assert!(has_problem(
        &problems_of(&toml),
        "broker_fee_permille",
        "1000‰"
    ));
    let toml = liupanshui_with("code = \"school_liability\"", "code = \"School-Liability\"");
    assert!(has_problem(
        &problems_of(&toml),
        "products[1].code",
        "小写英文字母"
    ));
    let toml = liupanshui_with(
        "code = \"transfer_authorisation\"",
        "code = \"claim_notice\"",
    );
    assert!(has_problem(
        &problems_of(&toml),
        "claims.documents[2].code",
        "重复"
    ));
    let toml = liupanshui_with("start_month_day = \"09-01\"", "start_month_day = \"03-01\"");
    assert!(has_problem(
        &problems_of(&toml),
        "cover.start_month_day",
        "08-01到09-30"
    ));
    let toml = liupanshui_with(
        "endorsement_working_days = 2",
        "endorsement_working_days = 200",
    );
    assert!(has_problem(
        &problems_of(&toml),
        "headcount_change.endorsement_working_days",
        "不应超过"
    ));
}

#[test]
fn reports_every_problem_at_once() {
    let toml = liupanshui_with("percent = 50", "percent = 0").replacen(
        "programme_name = \"六盘水市校方责任保险\"",
        "programme_name = \" \"",
        1,
    );
    let err = ProgrammeRules::from_toml_str(&toml).unwrap_err();
    let RulesError::Invalid { problems } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(problems.len(), 2);
    assert_eq!(
        err.to_string(),
        "方案规则有2处错误：programme_name：方案名称不能为空；claims.prepayment.percent：预付比例为0%，应在1到100之间"
    );
}

#[test]
fn rejects_no_products() {
    let src = demo_rules("liupanshui").unwrap();
    let mut doc: RulesDocument = toml::from_str(src).unwrap();
    doc.products.clear();
    let err = ProgrammeRules::validate(doc).unwrap_err();
    assert!(
        err.to_string().contains("products：至少需要配置一个险种"),
        "{err}"
    );
}

#[test]
fn syntax_errors_name_the_line_in_chinese() {
    let toml = liupanshui_with(
        "private_band_percent = 5",
        "private_band_percent = 5\nband = 5",
    );
    let err = ProgrammeRules::from_toml_str(&toml).unwrap_err();
    let line = toml.lines().position(|l| l == "band = 5").unwrap() + 1;
    match &err {
        RulesError::Syntax {
            line: Some(l),
            message,
        } => {
            assert_eq!(*l, line);
            assert!(message.starts_with("未知字段 `band`"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string()
            .starts_with(&format!("方案规则文件格式错误（第{line}行）"))
    );

    let toml = liupanshui_with(
        "school_enrolment = \"09-30\"",
        "school_enrolment = \"09-31\"",
    );
    let err = ProgrammeRules::from_toml_str(&toml).unwrap_err();
    assert!(err.to_string().contains("日期“09-31”无效"), "{err}");

    let toml = liupanshui_with(
        "academic_year = \"2025-2026\"",
        "academic_year = \"2025-2027\"",
    );
    let err = ProgrammeRules::from_toml_str(&toml).unwrap_err();
    assert!(err.to_string().contains("学年的两个年份必须相邻"), "{err}");

    let toml = liupanshui_with("insured = \"student\"", "insured = \"teacher\"");
    let err = ProgrammeRules::from_toml_str(&toml).unwrap_err();
    assert!(
        err.to_string().contains("无法识别的取值 `teacher`"),
        "{err}"
    );

    let toml = liupanshui_with("[headcount_change]\n", "[headcount_change]\n# nothing\n").replacen(
        "endorsement_working_days = 2\n",
        "",
        1,
    );
    let err = ProgrammeRules::from_toml_str(&toml).unwrap_err();
    assert!(
        err.to_string()
            .contains("缺少必填字段 `endorsement_working_days`"),
        "{err}"
    );
}

// --- round trips ----------------------------------------------------------------------------------

#[test]
fn toml_round_trip_preserves_rules() {
    for slug in DEMO_SLUGS {
        let r = rules(slug);
        let text = r.to_toml_string().unwrap();
        let back =
            ProgrammeRules::from_toml_str(&text).unwrap_or_else(|e| panic!("{slug}: {e}\n{text}"));
        assert_eq!(back, r, "{slug}");
    }
}

#[test]
fn json_deserialisation_validates() {
    let r = rules("liupanshui");
    let json = serde_json::to_string(&r).unwrap();
    assert_eq!(serde_json::from_str::<ProgrammeRules>(&json).unwrap(), r);
    let broken = json.replace("\"percent\":50", "\"percent\":500");
    assert_ne!(broken, json);
    let err = serde_json::from_str::<ProgrammeRules>(&broken).unwrap_err();
    assert!(err.to_string().contains("预付比例"), "{err}");
}

#[test]
fn the_module_documentation_example_is_valid() {
    let source = include_str!("../rules.rs");
    let mut in_block = false;
    let mut example = String::new();
    for line in source.lines() {
        let Some(doc) = line.strip_prefix("//!") else {
            continue;
        };
        let doc = doc.strip_prefix(' ').unwrap_or(doc);
        if doc.starts_with("```toml") {
            in_block = true;
        } else if in_block && doc.starts_with("```") {
            break;
        } else if in_block {
            example.push_str(doc);
            example.push('\n');
        }
    }
    assert!(example.contains("[[claims.documents]]"));
    let r = ProgrammeRules::from_toml_str(&example).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.settle_working_days(Fen::from_yuan(3000)), 5);
    assert_eq!(r.settle_working_days(Fen::from_yuan(3001)), 15);
    assert_eq!(r.required_documents(ClaimKind::Death, Fen(0)).len(), 1);
}

// --- admitted insurers and tender lots --------------------------------------------------------

#[test]
fn liupanshui_lists_two_tender_lots_for_three_years() {
    let r = rules("liupanshui");
    let insurers = &r.enrolment().insurers;
    assert_eq!(insurers.len(), 2);
    assert_eq!(insurers[0].lot.as_deref(), Some("A标段"));
    assert_eq!(insurers[0].regions, ["520203", "520281"]);
    assert_eq!(insurers[1].lot.as_deref(), Some("B标段"));
    assert_eq!(insurers[1].regions, ["520204", "520201", "520299"]);
    assert_ne!(insurers[0].company, insurers[1].company);
    let tender = insurers[0].tender().unwrap();
    assert_eq!((tender.first_start, tender.last_end), (2025, 2028));
    for y in ["2025-2026", "2026-2027", "2027-2028"] {
        assert!(tender.covers(AcademicYear::parse(y).unwrap()), "{y}");
    }
    assert!(!tender.covers(AcademicYear::parse("2028-2029").unwrap()));
    assert!(!tender.covers(AcademicYear::parse("2024-2025").unwrap()));
}

const LOT_B_ENTRY: &str = "[[enrolment.insurers]]
company = \"中国太平洋财产保险股份有限公司\"
regions = [\"520204\", \"520201\", \"520299\"]
lot = \"B标段\"
tender_years = \"2025-2028\"";

#[test]
fn lots_must_not_overlap_and_a_company_is_listed_once_per_region() {
    // Lot B reaching into 盘州市 (lot A).
    let overlap = liupanshui_with(
        "regions = [\"520204\", \"520201\", \"520299\"]",
        "regions = [\"520204\", \"520281\"]",
    );
    let problems = problems_of(&overlap);
    assert!(
        has_problem(
            &problems,
            "enrolment.insurers[2].regions",
            "不同标段的区域不能重叠"
        ),
        "{problems:?}"
    );
    // The whole city in lot B overlaps every county of lot A.
    let city = liupanshui_with(
        "regions = [\"520204\", \"520201\", \"520299\"]",
        "regions = [\"520200\"]",
    );
    assert!(has_problem(
        &problems_of(&city),
        "enrolment.insurers[2].regions",
        "520203"
    ));
    // The same company twice for a region.
    let twice = liupanshui_with(
        LOT_B_ENTRY,
        &format!(
            "{LOT_B_ENTRY}\n\n[[enrolment.insurers]]\ncompany = \"中国太平洋财产保险股份有限公司\"\n\
             regions = [\"520201\"]\nlot = \"B标段\"\ntender_years = \"2025-2028\""
        ),
    );
    assert!(has_problem(
        &problems_of(&twice),
        "enrolment.insurers[3].regions",
        "不能重复"
    ));
    // A second company in the same lot is fine (co-insurers of a lot).
    let co = liupanshui_with(
        LOT_B_ENTRY,
        &format!(
            "{LOT_B_ENTRY}\n\n[[enrolment.insurers]]\ncompany = \"中国平安财产保险股份有限公司\"\n\
             regions = [\"520201\"]\nlot = \"B标段\"\ntender_years = \"2025-2028\""
        ),
    );
    ProgrammeRules::from_toml_str(&co).unwrap();
}

#[test]
fn tender_years_are_checked_with_chinese_messages() {
    for (bad, needle) in [
        ("2025/2028", "应写作"),
        ("2028-2025", "结束年应晚于起始年"),
        ("2025-2035", "超过6个学年"),
        ("2026-2028", "不包括本规则的学年2025-2026"),
    ] {
        let doc = liupanshui_with(
            "lot = \"A标段\"\ntender_years = \"2025-2028\"",
            &format!("lot = \"A标段\"\ntender_years = \"{bad}\""),
        );
        let problems = problems_of(&doc);
        assert!(
            has_problem(&problems, "enrolment.insurers[1].tender_years", needle),
            "{bad}: {problems:?}"
        );
    }
    // One lot, one period.
    let doc = liupanshui_with(
        LOT_B_ENTRY,
        &format!(
            "{LOT_B_ENTRY}\n\n[[enrolment.insurers]]\ncompany = \"中国平安财产保险股份有限公司\"\n\
             regions = [\"520201\"]\nlot = \"B标段\"\ntender_years = \"2025-2026\""
        ),
    );
    assert!(has_problem(
        &problems_of(&doc),
        "enrolment.insurers[3].tender_years",
        "同一标段（B标段）的招标期限应一致"
    ));
    let doc = liupanshui_with("lot = \"A标段\"", "lot = \" \"");
    assert!(has_problem(
        &problems_of(&doc),
        "enrolment.insurers[1].lot",
        "标段名称不能为空"
    ));
}

#[test]
fn a_tender_carries_into_the_years_it_covers_and_ends() {
    let mut insurers = rules("liupanshui").enrolment().clone();
    insurers.insurers.push(AdmittedInsurer {
        company: "中国平安财产保险股份有限公司".into(),
        regions: vec!["520299".into()],
        lot: Some("C标段".into()),
        tender_years: Some("2025-2026".into()),
    });
    insurers.insurers.push(AdmittedInsurer {
        company: "某保险公司".into(),
        regions: vec!["520201".into()],
        lot: None,
        tender_years: None,
    });
    let (kept, dropped) = insurers.carried_into(AcademicYear::parse("2026-2027").unwrap());
    assert_eq!(kept.len(), 3, "{kept:?}");
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0].lot.as_deref(), Some("C标段"));
    let (kept, dropped) = insurers.carried_into(AcademicYear::parse("2028-2029").unwrap());
    assert_eq!(kept.len(), 1, "only the entry without a tender period");
    assert_eq!(dropped.len(), 3);
}

#[test]
fn region_codes_overlap_by_subtree() {
    assert!(regions_overlap("520200", "520201"));
    assert!(regions_overlap("520201", "520200"));
    assert!(regions_overlap("520000", "520299"));
    assert!(regions_overlap("520201", "520201"));
    assert!(!regions_overlap("520201", "520203"));
    assert!(!regions_overlap("520299", "520281"));
    assert!(!regions_overlap("410100", "520200"));
}

// --- compensation items -------------------------------------------------------------------------

#[test]
fn the_standard_compensation_catalogue_applies_when_none_is_listed() {
    let items = default_compensation_items();
    let names: Vec<&str> = items.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "医疗费",
            "住院伙食补助费",
            "监护人误工费",
            "护理费",
            "交通费",
            "残疾辅助器具费",
            "残疾生活补助费",
            "残疾护理补助",
            "丧葬费",
            "死亡补偿费",
            "诉讼及其他必要费用"
        ]
    );
    assert!(items.iter().all(|i| !i.requires_confirmation));
    // The module example lists its own; a document without the section gets the standard list.
    let src = demo_rules("henan").unwrap();
    let start = src.find("\n# 赔偿项目").unwrap();
    let without = &src[..start];
    let r = ProgrammeRules::from_toml_str(without).unwrap();
    assert_eq!(r.claims().compensation_items, items);
    // Henan lists exactly the standard catalogue; written back, the section is left out.
    assert_eq!(rules("henan").claims().compensation_items, items);
    assert!(
        !rules("henan")
            .to_toml_string()
            .unwrap()
            .contains("compensation_items")
    );
    let death: Vec<&str> = items
        .iter()
        .filter(|i| i.kinds.contains(&ClaimKind::Death))
        .map(|i| i.code.as_str())
        .collect();
    assert!(death.contains(&"funeral") && death.contains(&"medical"));
    assert!(
        !items
            .iter()
            .any(|i| i.code == "funeral" && i.kinds.contains(&ClaimKind::Injury))
    );
}

#[test]
fn liupanshui_extras_need_a_confirmation() {
    let r = rules("liupanshui");
    let items = &r.claims().compensation_items;
    let scar = items.iter().find(|i| i.code == "scar_repair").unwrap();
    assert!(scar.requires_confirmation);
    assert_eq!(scar.confirmed_by, Some(Confirmer::Department));
    let herbal = items
        .iter()
        .find(|i| i.code == "herbal_no_invoice")
        .unwrap();
    assert_eq!(herbal.confirmed_by, Some(Confirmer::Broker));
    assert_eq!(items.len(), 15);
    assert!(r.to_toml_string().unwrap().contains("scar_repair"));
}

#[test]
fn rejects_bad_compensation_items() {
    let dup = liupanshui_with("code = \"dental\"", "code = \"scar_repair\"");
    let problems = problems_of(&dup);
    assert!(
        has_problem(
            &problems,
            "claims.compensation_items[13].code",
            "代码“scar_repair”重复"
        ),
        "{problems:?}"
    );
    let unconfirmed = liupanshui_with(
        "requires_confirmation = true\nconfirmed_by = \"department\"",
        "requires_confirmation = true",
    );
    assert!(has_problem(
        &problems_of(&unconfirmed),
        "claims.compensation_items[12].confirmed_by",
        "应写明确认方"
    ));
    let stray = liupanshui_with(
        "code = \"transport\"\nname = \"交通费\"",
        "code = \"transport\"\nname = \"交通费\"\nconfirmed_by = \"broker\"",
    );
    assert!(has_problem(
        &problems_of(&stray),
        "claims.compensation_items[5].confirmed_by",
        "无需确认"
    ));
    let capped = liupanshui_with(
        "code = \"transport\"\nname = \"交通费\"",
        "code = \"transport\"\nname = \"交通费\"\ncap_fen = 0",
    );
    assert!(has_problem(
        &problems_of(&capped),
        "claims.compensation_items[5].cap_fen",
        "必须大于0"
    ));
    let no_kinds = liupanshui_with(
        "code = \"funeral\"\nname = \"丧葬费\"\nkinds = [\"death\"]",
        "code = \"funeral\"\nname = \"丧葬费\"\nkinds = []",
    );
    assert!(has_problem(
        &problems_of(&no_kinds),
        "claims.compensation_items[9].kinds",
        "至少需要指定一种案件类型"
    ));
    // An unknown kind or confirmer does not parse, in Chinese.
    for (from, to) in [
        ("kinds = [\"death\"]", "kinds = [\"illness\"]"),
        ("confirmed_by = \"broker\"", "confirmed_by = \"school\""),
    ] {
        match ProgrammeRules::from_toml_str(&liupanshui_with(from, to)) {
            Err(e @ RulesError::Syntax { .. }) => {
                assert!(e.to_string().contains("无法识别的取值"), "{e}");
            }
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }
}
