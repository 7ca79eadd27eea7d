//! Random and mutated input through every entry point: no panic, and every read stays within
//! its limits.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{rels_xml, shared_xml, sheet_xml, workbook_xml, zip_of};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use xiaobao_sheet::{Cell, Flow, Limits, Workbook, sniff};

/// Small limits, so that a mutation that happens to build something large is cut short fast.
const LIMITS: Limits = Limits {
    max_entries: 64,
    max_entry_bytes: 2 << 20,
    max_total_bytes: 4 << 20,
    max_ratio: 1_000,
    max_shared_strings: 10_000,
    max_shared_string_bytes: 1 << 20,
    max_rows: 100_000,
    max_columns: 64,
    max_cell_bytes: 32_767 * 4,
    max_depth: 32,
    max_sheets: 16,
    max_token_bytes: 256 << 10,
    max_cells: 1 << 20,
};

/// Runs `sniff`, `open` and `for_each_row` over every sheet, checking what is handed out.
fn exercise(bytes: &[u8]) {
    let started = Instant::now();
    let _ = sniff(bytes);
    let Ok(mut book) = Workbook::open(bytes, &LIMITS) else {
        return;
    };
    assert!(book.sheets().len() <= LIMITS.max_sheets);
    for sheet in 0..book.sheets().len() {
        let mut previous = 0;
        let _ = book.for_each_row(sheet, |line, cells| {
            assert!(line > previous && line <= LIMITS.max_rows);
            previous = line;
            assert!(!cells.is_empty() && cells.len() <= LIMITS.max_columns as usize);
            assert!(cells.last().is_some_and(|c| !c.is_empty()));
            for cell in cells {
                if let Cell::Text(text) = cell {
                    assert!(!text.is_empty() && text.len() <= LIMITS.max_cell_bytes);
                }
                if let Cell::Number(n) = cell {
                    assert!(n.is_finite());
                }
            }
            Ok::<_, ()>(Flow::Continue)
        });
    }
    assert!(book.bytes_read() <= LIMITS.max_total_bytes + (64 << 10));
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    FlipNearEnd(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
}

const SNIPPETS: &[&str] = &[
    "<",
    ">",
    "/>",
    "</",
    "\"",
    "=",
    "&amp;",
    "&#0;",
    "&#x110000;",
    "&#65;",
    "&nope;",
    "&",
    "_x0041_",
    "_xD800_",
    "_x",
    "<row>",
    r#"<row r="1048576">"#,
    r#"<row r="0">"#,
    "</row>",
    r#"<c r="XFD1" t="s"><v>0</v></c>"#,
    r#"<c r="A1" t="s"><v>4294967295</v></c>"#,
    r#"<c t="inlineStr"><is><t>x</t></is></c>"#,
    r#"<c t="b"><v>1</v></c>"#,
    "<c>",
    "</c>",
    "<v>1e308</v>",
    "<v>1e309</v>",
    "<v>-0</v>",
    "<si><t>y</t></si>",
    "<si/>",
    "<r><t>z</t></r>",
    "<rPh><t>p</t></rPh>",
    "<![CDATA[",
    "]]>",
    "<!--",
    "-->",
    r#"<?xml version="1.0"?>"#,
    r#"<!DOCTYPE x [<!ENTITY a "bbbbbbbbbb">]>"#,
    "&a;",
    r#" t="s""#,
    r#" r="A0""#,
    r#" r="B1""#,
    r#"<dimension ref="A1:XFE1"/>"#,
    "<sheetData>",
    "</sheetData>",
    "\u{FEFF}",
    "\u{0}",
    "中文",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    let insert = prop_oneof![
        vec(any::<u8>(), 1..8),
        select(SNIPPETS).prop_map(|s| s.as_bytes().to_vec()),
    ];
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Mutation::Flip(at, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Mutation::FlipNearEnd(at, b)),
        (any::<usize>(), insert).prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
        (any::<usize>(), 1usize..64).prop_map(|(at, n)| Mutation::Delete(at, n)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let len = bytes.len();
    match mutation {
        Mutation::Flip(at, b) => {
            if len > 0 {
                bytes[at % len] ^= b | 1;
            }
        }
        Mutation::FlipNearEnd(at, b) => {
            if len > 0 {
                let back = at % len.min(256);
                bytes[len - 1 - back] ^= b | 1;
            }
        }
        Mutation::Insert(at, piece) => {
            let at = at % (len + 1);
            bytes.splice(at..at, piece.iter().copied());
        }
        Mutation::Delete(at, n) => {
            let at = at % (len + 1);
            let end = (at + n).min(len);
            bytes.drain(at..end);
        }
        Mutation::Truncate(at) => bytes.truncate(at % (len + 1)),
    }
}

/// A small workbook as rust_xlsxwriter writes it.
fn written() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        sheet.write_string(0, 0, "姓名").unwrap();
        sheet.write_string(0, 1, "身份证号").unwrap();
        sheet.write_string(1, 0, "张三").unwrap();
        sheet.write_number(1, 1, 4.10105E+17).unwrap();
        sheet.write_boolean(3, 3, true).unwrap();
        book.add_worksheet().write_string(1, 1, "二").unwrap();
        book.save_to_buffer().unwrap()
    })
}

/// The XML parts of a small hand-written workbook, to be mutated before compressing.
fn parts() -> Vec<(&'static str, Vec<u8>)> {
    let rows = concat!(
        r#"<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>"#,
        r#"<row r="2"><c r="A2" t="inlineStr"><is><t>行内</t></is></c><c r="B2"><v>4.10105E+17</v></c><c r="C2" t="b"><v>1</v></c></row>"#,
        r#"<row><c><v>3</v></c><c t="str"><v>a&amp;b</v></c><c t="e"><v>#N/A</v></c></row>"#,
    );
    vec![
        ("xl/workbook.xml", workbook_xml(&["一", "二"]).into_bytes()),
        ("xl/_rels/workbook.xml.rels", rels_xml(2).into_bytes()),
        ("xl/worksheets/sheet1.xml", sheet_xml(rows).into_bytes()),
        (
            "xl/worksheets/sheet2.xml",
            sheet_xml(r#"<row r="5"><c r="E5" t="s"><v>2</v></c></row>"#).into_bytes(),
        ),
        (
            "xl/sharedStrings.xml",
            shared_xml(&["姓名", "身份证号", "a_x000D_b"]).into_bytes(),
        ),
    ]
}

/// 256 cases per property; `SHEET_FUZZ_CASES` asks for more in a longer, deliberate run.
fn config() -> ProptestConfig {
    let cases = std::env::var("SHEET_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes(bytes in vec(any::<u8>(), 0..2048)) {
        exercise(&bytes);
    }

    #[test]
    fn arbitrary_bytes_behind_zip_magic(tail in vec(any::<u8>(), 0..2048), empty in any::<bool>()) {
        let mut bytes = if empty { b"PK\x05\x06".to_vec() } else { b"PK\x03\x04".to_vec() };
        bytes.extend_from_slice(&tail);
        exercise(&bytes);
    }

    #[test]
    fn mutated_workbook(mutations in vec(mutation(), 1..6)) {
        let mut bytes = written().to_vec();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        exercise(&bytes);
    }

    #[test]
    fn mutated_parts(
        part in prop_oneof![1 => Just(0usize), 1 => Just(1), 4 => Just(2), 1 => Just(3), 2 => Just(4)],
        mutations in vec(mutation(), 1..8),
    ) {
        let mut parts = parts();
        if let Some((_, xml)) = parts.get_mut(part) {
            for m in &mutations {
                apply(xml, m);
            }
        }
        let refs: Vec<(&str, &[u8])> = parts.iter().map(|(n, d)| (*n, d.as_slice())).collect();
        exercise(&zip_of(&refs));
    }
}

#[test]
fn unmutated_inputs_read() {
    let mut book = Workbook::open(written(), &LIMITS).unwrap();
    assert_eq!(book.sheets().len(), 2);
    let mut lines = Vec::new();
    book.for_each_row(0, |line, _| {
        lines.push(line);
        Ok::<_, ()>(Flow::Continue)
    })
    .unwrap()
    .unwrap();
    assert_eq!(lines, [1, 2, 4]);

    let parts = parts();
    let refs: Vec<(&str, &[u8])> = parts.iter().map(|(n, d)| (*n, d.as_slice())).collect();
    let bytes = zip_of(&refs);
    let mut book = Workbook::open(&bytes, &LIMITS).unwrap();
    let mut count = 0;
    for sheet in 0..2 {
        book.for_each_row(sheet, |_, _| {
            count += 1;
            Ok::<_, ()>(Flow::Continue)
        })
        .unwrap()
        .unwrap();
    }
    assert_eq!(count, 4);
}
