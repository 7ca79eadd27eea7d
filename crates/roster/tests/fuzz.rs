//! The roster parser on hostile bytes: arbitrary bytes, and real rosters (XLSX and CSV) with
//! random mutations, never panic and always answer with rows or a reason. A bounded number of
//! cases runs with the test suite; `ROSTER_FUZZ_CASES` asks for more in a deliberate run.

#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use chrono::NaiveDate;
use proptest::prelude::*;
use xiaobao_domain::resident_id::check_char;
use xiaobao_domain::{InsuredGroup, SchoolType};
use xiaobao_roster::{RosterError, RosterSpec, parse_roster, parse_roster_for_headcount};

fn spec() -> RosterSpec {
    RosterSpec {
        group: InsuredGroup::Student,
        school_type: SchoolType::Primary,
        today: NaiveDate::from_ymd_opt(2025, 9, 1).unwrap(),
    }
}

fn id(seq: u32) -> String {
    let first17 = format!("41010520160312{seq:03}");
    format!("{first17}{}", check_char(&first17))
}

fn xlsx() -> Vec<u8> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in ["学生姓名", "性别", "班级", "身份证号", "学籍号"]
        .iter()
        .enumerate()
    {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    for r in 1..20u32 {
        let values = ["张三", "男", "三年级2班", &id(2 * r + 1), ""];
        for (c, v) in values.iter().enumerate() {
            ws.write_string(r, c as u16, *v).unwrap();
        }
    }
    ws.write_number(20, 3, 4.10105e17).unwrap();
    wb.save_to_buffer().unwrap()
}

fn csv() -> Vec<u8> {
    let mut text = String::from("学生姓名,性别,班级,身份证号,学籍号\n");
    for r in 1..20u32 {
        text.push_str(&format!("\"张,三\",男,三年级2班,{},\n", id(2 * r + 1)));
    }
    text.into_bytes()
}

/// Parses and checks the answer is coherent: rows without problems, or a reason.
fn parse_ok(bytes: &[u8]) {
    match parse_roster(bytes, &spec()) {
        Ok(parsed) => assert!(parsed.rows.len() <= xiaobao_roster::MAX_ROWS),
        Err(RosterError::Problems(p)) => assert!(!p.is_empty()),
        Err(RosterError::Unreadable(m) | RosterError::TooLarge(m)) => assert!(!m.is_empty()),
    }
    let _ = parse_roster_for_headcount(bytes, &spec(), 5);
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
}

fn apply(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len().max(1);
        match m {
            Mutation::Flip(at, bits) => {
                if let Some(b) = bytes.get_mut(at % len) {
                    *b ^= bits | 1;
                }
            }
            Mutation::Insert(at, more) => {
                let at = (at % len).min(bytes.len());
                bytes.splice(at..at, more.iter().copied());
            }
            Mutation::Delete(at, n) => {
                let at = (at % len).min(bytes.len());
                let end = (at + n % 64).min(bytes.len());
                bytes.drain(at..end);
            }
            Mutation::Truncate(at) => bytes.truncate(at % len),
        }
    }
    bytes
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(a, b)| Mutation::Flip(a, b)),
        (
            any::<usize>(),
            proptest::collection::vec(any::<u8>(), 1..16)
        )
            .prop_map(|(a, v)| Mutation::Insert(a, v)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, n)| Mutation::Delete(a, n)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn config() -> ProptestConfig {
    let cases = std::env::var("ROSTER_FUZZ_CASES")
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
    fn arbitrary_bytes_behind_a_zip_signature(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let mut v = b"PK\x03\x04".to_vec();
        v.extend(bytes);
        parse_ok(&v);
    }

    #[test]
    fn mutated_xlsx(mutations in proptest::collection::vec(mutation(), 1..6)) {
        parse_ok(&apply(xlsx(), &mutations));
    }

    #[test]
    fn mutated_csv(mutations in proptest::collection::vec(mutation(), 1..6)) {
        parse_ok(&apply(csv(), &mutations));
    }
}

#[test]
fn the_unmutated_files_parse() {
    for bytes in [xlsx(), csv()] {
        match parse_roster(&bytes, &spec()) {
            // The XLSX's last row is an ID that became 4.10105E+17 in an otherwise empty row.
            Err(RosterError::Problems(p)) => {
                assert!(p.iter().all(|p| p.line == 21), "{p:?}");
                assert!(p.iter().any(|p| p.reason.contains("科学计数法")), "{p:?}");
            }
            Ok(parsed) => assert_eq!(parsed.rows.len(), 19),
            other => panic!("{other:?}"),
        }
    }
}
