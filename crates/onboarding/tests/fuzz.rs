//! The import parsers on hostile bytes: arbitrary bytes and real import files (the templates
//! filled in, XLSX and CSV) with random mutations never panic and always answer with rows or
//! a reason. A bounded number of cases runs with the test suite; `ONBOARDING_FUZZ_CASES` asks
//! for more in a deliberate run.

#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use proptest::prelude::*;
use xiaobao_onboarding::{OnboardingError, parse_departments, parse_schools};

fn schools_xlsx() -> Vec<u8> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    let header = [
        "学校全称",
        "所在区域代码",
        "办学性质",
        "学校类型",
        "联系人",
        "联系人手机号",
    ];
    for (c, h) in header.iter().enumerate() {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    for r in 1..10u32 {
        let name = format!("郑州市金水区第{r}小学");
        let mobile = format!("139000000{r:02}");
        for (c, v) in [
            name.as_str(),
            "410105",
            "公办",
            "小学",
            "王五",
            mobile.as_str(),
        ]
        .iter()
        .enumerate()
        {
            ws.write_string(r, c as u16, *v).unwrap();
        }
    }
    ws.write_number(10, 5, 13_900_000_011.0).unwrap();
    wb.save_to_buffer().unwrap()
}

fn departments_csv() -> Vec<u8> {
    let mut text = String::from("区域代码,区域名称,单位名称,联系人,联系人手机号\n");
    for (code, name) in [("410105", "金水区"), ("410122", "中牟县")] {
        text.push_str(&format!(
            "{code},{name},\"{name}教育局\",张三,13800138000\n"
        ));
    }
    text.into_bytes()
}

fn parse_ok(bytes: &[u8]) {
    for result in [
        parse_schools(bytes).map(|_| ()),
        parse_departments(bytes).map(|_| ()),
    ] {
        match result {
            Ok(()) => {}
            Err(OnboardingError::Invalid(p)) => assert!(!p.is_empty()),
            Err(OnboardingError::Unreadable(m) | OnboardingError::TooLarge(m)) => {
                assert!(!m.is_empty())
            }
            Err(other) => panic!("a parser answered {other:?}"),
        }
    }
}

fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8, bool)]) -> Vec<u8> {
    for (at, byte, cut) in edits {
        if bytes.is_empty() {
            break;
        }
        let at = at % bytes.len();
        if *cut {
            bytes.truncate(at);
        } else {
            bytes[at] ^= byte | 1;
        }
    }
    bytes
}

fn config() -> ProptestConfig {
    let cases = std::env::var("ONBOARDING_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(128);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        parse_ok(&bytes);
    }

    #[test]
    fn mutated_xlsx(edits in proptest::collection::vec((any::<usize>(), any::<u8>(), proptest::bool::weighted(0.1)), 1..8)) {
        parse_ok(&mutate(schools_xlsx(), &edits));
    }

    #[test]
    fn mutated_csv(edits in proptest::collection::vec((any::<usize>(), any::<u8>(), proptest::bool::weighted(0.1)), 1..8)) {
        parse_ok(&mutate(departments_csv(), &edits));
    }
}

#[test]
fn the_unmutated_files_parse() {
    let sheet = parse_schools(&schools_xlsx()).unwrap();
    // Nine complete rows; the tenth has only a mobile that became a number.
    assert_eq!(sheet.rows().len(), 10, "{:?}", sheet.problems());
    assert!(
        sheet.problems().iter().all(|p| p.line == 11),
        "{:?}",
        sheet.problems()
    );
    let sheet = parse_departments(&departments_csv()).unwrap();
    assert_eq!(sheet.rows().len(), 2, "{:?}", sheet.problems());
}
