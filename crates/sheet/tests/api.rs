//! The crate as a caller sees it: route an upload by its kind, read the first sheet with
//! rows into records, and turn errors into an HTTP status and a message.
#![allow(clippy::unwrap_used)]

use xiaobao_sheet::{Cell, Flow, Format, Limits, SheetError, Workbook, sniff};

/// What an upload handler would do with the bytes it received.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// CSV goes to the text reader.
    Csv,
    /// Header and data rows of the first sheet that has any, as text.
    Rows(Vec<String>, Vec<(u32, Vec<String>)>),
    /// HTTP status and the sentence to show.
    Refused(u16, String),
}

fn status(error: &SheetError) -> u16 {
    if error.is_limit() { 413 } else { 422 }
}

fn text(cell: &Cell<'_>) -> String {
    match cell {
        Cell::Empty | Cell::Error => String::new(),
        Cell::Text(text) => text.trim().to_owned(),
        Cell::Number(n) => n.to_string(),
        Cell::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_owned(),
    }
}

fn handle(bytes: &[u8]) -> Outcome {
    if sniff(bytes) == Format::Text {
        return Outcome::Csv;
    }
    let limits = Limits::DEFAULT.with_max_rows(250_000).with_max_columns(32);
    let mut book = match Workbook::open(bytes, &limits) {
        Ok(book) => book,
        Err(e) => return Outcome::Refused(status(&e), e.to_string()),
    };
    for sheet in 0..book.sheets().len() {
        if book.sheets()[sheet].hidden {
            continue;
        }
        let mut header: Option<Vec<String>> = None;
        let mut rows = Vec::new();
        let read = book.for_each_row(sheet, |line, cells| {
            let values: Vec<String> = cells.iter().map(text).collect();
            match &header {
                None => header = Some(values),
                Some(header) if values.len() > header.len() => {
                    return Err(format!("第 {line} 行的列数多于表头"));
                }
                Some(_) => rows.push((line, values)),
            }
            Ok(if rows.len() >= 10_000 {
                Flow::Stop
            } else {
                Flow::Continue
            })
        });
        match read {
            Err(e) => return Outcome::Refused(status(&e), e.to_string()),
            Ok(Err(problem)) => return Outcome::Refused(422, problem),
            Ok(Ok(())) => {}
        }
        if let Some(header) = header {
            return Outcome::Rows(header, rows);
        }
    }
    Outcome::Refused(422, "工作簿中没有数据".to_owned())
}

fn workbook(build: impl FnOnce(&mut rust_xlsxwriter::Workbook)) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    build(&mut book);
    book.save_to_buffer().unwrap()
}

#[test]
fn first_sheet_with_rows() {
    let bytes = workbook(|book| {
        book.add_worksheet().set_name("说明").unwrap();
        let hidden = book.add_worksheet();
        hidden.set_hidden(true);
        hidden.write_string(0, 0, "隐藏").unwrap();
        let sheet = book.add_worksheet();
        sheet.write_string(2, 0, "姓名").unwrap();
        sheet.write_string(2, 1, "身份证号").unwrap();
        sheet.write_string(3, 0, " 张三 ").unwrap();
        sheet.write_string(3, 1, "110101200001011234").unwrap();
        sheet.write_string(5, 0, "李四").unwrap();
        sheet.write_number(5, 1, 4.10105E+17).unwrap();
    });
    assert_eq!(
        handle(&bytes),
        Outcome::Rows(
            vec!["姓名".into(), "身份证号".into()],
            vec![
                (4, vec!["张三".into(), "110101200001011234".into()]),
                (6, vec!["李四".into(), "410105000000000000".into()]),
            ]
        )
    );
}

#[test]
fn callers_error_and_limits() {
    let bytes = workbook(|book| {
        let sheet = book.add_worksheet();
        sheet.write_string(0, 0, "姓名").unwrap();
        sheet.write_string(1, 0, "张三").unwrap();
        sheet.write_string(1, 3, "多余").unwrap();
    });
    assert_eq!(
        handle(&bytes),
        Outcome::Refused(422, "第 2 行的列数多于表头".into())
    );

    let bytes = workbook(|book| {
        let sheet = book.add_worksheet();
        sheet.write_string(0, 0, "姓名").unwrap();
        sheet.write_string(300_000, 0, "太远").unwrap();
    });
    assert_eq!(
        handle(&bytes),
        Outcome::Refused(413, "第 300001 行超出上限：最多 250000 行".into())
    );

    assert_eq!(handle("姓名,身份证号\n".as_bytes()), Outcome::Csv);
    let Outcome::Refused(422, message) = handle(b"%PDF-1.7") else {
        panic!("a PDF is refused");
    };
    assert!(message.contains(".xlsx"));
}
