//! Throughput against calamine's streaming cell reader on the same bytes. Ignored by
//! default; run it optimised:
//!
//! ```text
//! cargo test -p xiaobao-sheet --release --test speed -- --ignored --nocapture
//! ```
#![allow(clippy::unwrap_used)]

use std::io::Cursor;
use std::time::{Duration, Instant};

use calamine::{DataRef, Reader, Xlsx};
use xiaobao_sheet::{Cell, Flow, Limits, Workbook};

const ROWS: u32 = 100_000;

/// 100,000 rows × 6 columns of text (one header row), as a roster looks.
fn roster() -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (col, header) in ["学生姓名", "性别", "班级", "身份证号", "学籍号", "备注"]
        .iter()
        .enumerate()
    {
        sheet.write_string(0, col as u16, *header).unwrap();
    }
    for row in 1..=ROWS {
        let n = row;
        sheet.write_string(row, 0, format!("学生{n}")).unwrap();
        sheet
            .write_string(row, 1, if n % 2 == 0 { "男" } else { "女" })
            .unwrap();
        sheet
            .write_string(row, 2, format!("{}年级{}班", n % 6 + 1, n % 10 + 1))
            .unwrap();
        sheet
            .write_string(
                row,
                3,
                format!("110101{:08}{:04}", 20_100_101 + n % 900, n % 10_000),
            )
            .unwrap();
        sheet.write_string(row, 4, format!("G{n:012}")).unwrap();
        sheet.write_string(row, 5, "无").unwrap();
    }
    book.save_to_buffer().unwrap()
}

fn ours(bytes: &[u8]) -> (usize, usize) {
    let mut book = Workbook::open(bytes, &Limits::DEFAULT).unwrap();
    let (mut rows, mut chars) = (0, 0);
    book.for_each_row(0, |_, cells| {
        rows += 1;
        for cell in cells {
            if let Cell::Text(text) = cell {
                chars += text.len();
            }
        }
        Ok::<_, ()>(Flow::Continue)
    })
    .unwrap()
    .unwrap();
    (rows, chars)
}

fn calamine(bytes: &[u8]) -> (usize, usize) {
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).unwrap();
    let mut cells = book.worksheet_cells_reader("Sheet1").unwrap();
    let (mut last, mut rows, mut chars) = (None, 0, 0);
    while let Some(cell) = cells.next_cell().unwrap() {
        let (row, _) = cell.get_position();
        if last != Some(row) {
            rows += 1;
            last = Some(row);
        }
        match cell.get_value() {
            DataRef::SharedString(text) => chars += text.len(),
            DataRef::String(text) => chars += text.len(),
            _ => {}
        }
    }
    (rows, chars)
}

fn best_of(runs: usize, f: impl Fn() -> (usize, usize)) -> (Duration, (usize, usize)) {
    let mut best = Duration::MAX;
    let mut result = (0, 0);
    for _ in 0..runs {
        let started = Instant::now();
        result = f();
        best = best.min(started.elapsed());
    }
    (best, result)
}

#[test]
#[ignore = "a measurement; run with --release --ignored --nocapture"]
fn against_calamine() {
    let bytes = roster();
    let (ours_time, ours_counts) = best_of(5, || ours(&bytes));
    let (calamine_time, calamine_counts) = best_of(5, || calamine(&bytes));
    assert_eq!(ours_counts, calamine_counts);
    let rate = |d: Duration| f64::from(ROWS + 1) / d.as_secs_f64();
    eprintln!(
        "{} KiB XLSX, {} rows x 6 shared strings: xiaobao-sheet {:?} ({:.0} rows/s, {:.2} µs/row); calamine worksheet_cells_reader {:?} ({:.0} rows/s, {:.2} µs/row)",
        bytes.len() / 1024,
        ROWS + 1,
        ours_time,
        rate(ours_time),
        ours_time.as_secs_f64() * 1e6 / f64::from(ROWS + 1),
        calamine_time,
        rate(calamine_time),
        calamine_time.as_secs_f64() * 1e6 / f64::from(ROWS + 1),
    );
}
