//! Ordinary workbooks read back exactly: rust_xlsxwriter's output, and hand-written parts
//! with inline strings and the other cell types.
#![allow(clippy::unwrap_used)]

mod common;

use common::{shared_xml, sheet_xml, xlsx, xlsx_parts};
use rust_xlsxwriter::{Format as XlsxFormat, Formula, Workbook as XlsxWorkbook};
use xiaobao_sheet::{Cell, Flow, Format, Limits, SheetError, Workbook, sniff};

type Rows = Vec<(u32, Vec<Cell<'static>>)>;

fn rows_of(book: &mut Workbook<'_>, sheet: usize) -> Rows {
    let mut rows = Vec::new();
    book.for_each_row(sheet, |line, cells| {
        rows.push((line, cells.iter().cloned().map(Cell::into_owned).collect()));
        Ok::<_, ()>(Flow::Continue)
    })
    .unwrap()
    .unwrap();
    rows
}

fn text(s: &str) -> Cell<'static> {
    Cell::Text(s.to_owned().into())
}

fn written() -> Vec<u8> {
    let mut book = XlsxWorkbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("学生名单").unwrap();
    for (col, header) in ["学生姓名", "性别", "班级", "身份证号", "学籍号", "备注"]
        .iter()
        .enumerate()
    {
        sheet.write_string(0, col as u16, *header).unwrap();
    }
    sheet.write_string(1, 0, "张三").unwrap();
    sheet.write_string(1, 1, "男").unwrap();
    sheet.write_string(1, 2, "一年级1班").unwrap();
    sheet.write_string(1, 3, "110101200001011234").unwrap();
    sheet.write_number(1, 4, 20_240_001).unwrap();
    // Row 3 (index 2) left empty; a gap of two columns in row 4.
    sheet.write_string(3, 0, "李四").unwrap();
    sheet.write_number(3, 3, 4.10105E+17).unwrap();
    sheet.write_string(3, 5, " 前后有空格 ").unwrap();
    sheet.write_string(4, 0, "a & b <c> \"d\" 'e'").unwrap();
    sheet.write_string(4, 1, "第一行\n第二行").unwrap();
    sheet.write_string(4, 2, "_x0041_ 原样").unwrap();
    sheet.write_boolean(4, 3, true).unwrap();
    sheet.write_number(4, 4, -0.5).unwrap();
    sheet
        .write_formula(4, 5, Formula::new("=1+1").set_result("2"))
        .unwrap();
    let bold = XlsxFormat::new().set_bold();
    let plain = XlsxFormat::new();
    sheet
        .write_rich_string(5, 0, &[(&bold, "粗体"), (&plain, "和普通")])
        .unwrap();
    sheet.write_string(5, 1, "").unwrap();
    // Far down, far right.
    sheet.write_string(99_999, 255, "最后").unwrap();

    let notes = book.add_worksheet();
    notes.set_name("备注").unwrap();
    notes.write_string(0, 0, "张三").unwrap();
    notes.write_number(2, 1, 3.25).unwrap();

    let hidden = book.add_worksheet();
    hidden.set_name("隐藏").unwrap();
    hidden.set_hidden(true);
    book.save_to_buffer().unwrap()
}

#[test]
fn rust_xlsxwriter_round_trip() {
    let bytes = written();
    assert_eq!(sniff(&bytes), Format::Xlsx);
    let mut book = Workbook::open(&bytes, &Limits::DEFAULT).unwrap();
    assert_eq!(book.sheet_names(), ["学生名单", "备注", "隐藏"]);
    let hidden: Vec<bool> = book.sheets().iter().map(|s| s.hidden).collect();
    assert_eq!(hidden, [false, false, true]);
    assert_eq!(book.sheet_index("备注"), Some(1));
    assert_eq!(book.sheet_index("无"), None);

    let rows = rows_of(&mut book, 0);
    let mut far = vec![Cell::Empty; 256];
    far[255] = text("最后");
    let expected: Rows = vec![
        (
            1,
            ["学生姓名", "性别", "班级", "身份证号", "学籍号", "备注"]
                .map(text)
                .to_vec(),
        ),
        (
            2,
            vec![
                text("张三"),
                text("男"),
                text("一年级1班"),
                text("110101200001011234"),
                Cell::Number(20_240_001.0),
            ],
        ),
        (
            4,
            vec![
                text("李四"),
                Cell::Empty,
                Cell::Empty,
                Cell::Number(410_105_000_000_000_000.0),
                Cell::Empty,
                text(" 前后有空格 "),
            ],
        ),
        (
            5,
            vec![
                text("a & b <c> \"d\" 'e'"),
                text("第一行\n第二行"),
                text("_x0041_ 原样"),
                Cell::Bool(true),
                Cell::Number(-0.5),
                Cell::Number(2.0),
            ],
        ),
        (6, vec![text("粗体和普通")]),
        (100_000, far),
    ];
    assert_eq!(rows, expected);

    assert_eq!(
        rows_of(&mut book, 1),
        vec![
            (1, vec![text("张三")]),
            (3, vec![Cell::Empty, Cell::Number(3.25)])
        ]
    );
    assert_eq!(rows_of(&mut book, 2), Vec::new());
    // A sheet can be read again.
    assert_eq!(rows_of(&mut book, 1).len(), 2);
}

#[test]
fn text_is_borrowed_from_the_shared_strings() {
    let bytes = xlsx(
        r#"<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="inlineStr"><is><t>行内</t></is></c></row>"#,
        &["共享"],
    );
    let mut book = Workbook::open(&bytes, &Limits::DEFAULT).unwrap();
    book.for_each_row(0, |_, cells| {
        assert!(matches!(
            &cells[0],
            Cell::Text(std::borrow::Cow::Borrowed("共享"))
        ));
        assert!(matches!(
            &cells[1],
            Cell::Text(std::borrow::Cow::Borrowed("行内"))
        ));
        Ok::<_, ()>(Flow::Continue)
    })
    .unwrap()
    .unwrap();
}

#[test]
fn inline_strings_and_cell_types() {
    let rows = concat!(
        r#"<row r="1" spans="1:8">"#,
        r#"<c r="A1" t="inlineStr"><is><t>行内</t></is></c>"#,
        r#"<c r="B1" t="inlineStr"><is><r><rPr><b/></rPr><t>富</t></r><r><t xml:space="preserve"> 文本</t></r><rPh sb="0" eb="1"><t>フ</t></rPh></is></c>"#,
        r#"<c r="C1" t="str"><f>A1&amp;"x"</f><v>公式&amp;结果</v></c>"#,
        r#"<c r="D1" t="b"><v>0</v></c>"#,
        r#"<c r="E1" t="e"><v>#N/A</v></c>"#,
        r#"<c r="F1" t="d"><v>2024-09-01T00:00:00</v></c>"#,
        r#"<c r="G1" s="2"><v> 1.5e3 </v></c>"#,
        r#"<c r="H1" t="n"><v>-7</v></c>"#,
        r#"</row>"#,
        // Without r: rows count on, cells take the next column.
        r#"<row><c><v>1</v></c><c/><c t="s"><v>1</v></c></row>"#,
        r#"<row><c r="C3"><v>3</v></c><c><v>4</v></c></row>"#,
        // A row without r takes its number from its cells.
        r#"<row><c r="A9"><v>9</v></c></row>"#,
        r#"<row r="10"><c r="A10" t="inlineStr"><is><t>&#x4E2D;&#25991;&lt;&gt;</t></is></c><c r="B10" t="inlineStr"><is><t/></is></c><c r="C10"/><c r="D10" t="s"><v>2</v></c></row>"#,
        r#"<row r="11"><c r="A11" t="inlineStr"><is><t>a_x000D_b_x005F_x0041_</t></is></c></row>"#,
        r#"<row r="12"><c r="a12"><v>12</v></c></row>"#,
    );
    let bytes = xlsx(rows, &["零", "一", ""]);
    let mut book = Workbook::open(&bytes, &Limits::DEFAULT).unwrap();
    let expected: Rows = vec![
        (
            1,
            vec![
                text("行内"),
                text("富 文本"),
                text("公式&结果"),
                Cell::Bool(false),
                Cell::Error,
                text("2024-09-01T00:00:00"),
                Cell::Number(1500.0),
                Cell::Number(-7.0),
            ],
        ),
        (2, vec![Cell::Number(1.0), Cell::Empty, text("一")]),
        (
            3,
            vec![
                Cell::Empty,
                Cell::Empty,
                Cell::Number(3.0),
                Cell::Number(4.0),
            ],
        ),
        (9, vec![Cell::Number(9.0)]),
        (10, vec![text("中文<>")]),
        (11, vec![text("a\rb_x0041_")]),
        (12, vec![Cell::Number(12.0)]),
    ];
    assert_eq!(rows_of(&mut book, 0), expected);
}

#[test]
fn shared_strings_rich_text_and_escapes() {
    let shared = concat!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#,
        r#"<x:sst xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="4" uniqueCount="4">"#,
        r#"<x:si><x:t>前缀的</x:t></x:si>"#,
        r#"<x:si><x:r><x:rPr><x:b/></x:rPr><x:t>富</x:t></x:r><x:r><x:t>文本</x:t></x:r><x:rPh sb="0" eb="1"><x:t>ふ</x:t></x:rPh><x:phoneticPr fontId="1"/></x:si>"#,
        r#"<x:si/>"#,
        r#"<x:si><x:t>&amp;_x0009_<![CDATA[<raw>]]></x:t></x:si>"#,
        r#"</x:sst>"#
    );
    let sheet = concat!(
        r#"<x:worksheet xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><x:sheetData>"#,
        r#"<x:row r="1"><x:c r="A1" t="s"><x:v>0</x:v></x:c><x:c r="B1" t="s"><x:v>1</x:v></x:c><x:c r="C1" t="s"><x:v>2</x:v></x:c><x:c r="D1" t="s"><x:v>3</x:v></x:c></x:row>"#,
        r#"</x:sheetData></x:worksheet>"#
    );
    let bytes = xlsx_parts(&[sheet.to_owned()], Some(shared));
    let mut book = Workbook::open(&bytes, &Limits::DEFAULT).unwrap();
    assert_eq!(book.shared_string_count(), 4);
    assert_eq!(
        rows_of(&mut book, 0),
        vec![(
            1,
            vec![
                text("前缀的"),
                text("富文本"),
                Cell::Empty,
                text("&\t<raw>")
            ]
        )]
    );
}

#[test]
fn callback_stops_and_fails() {
    let rows: String = (1..=100)
        .map(|i| format!(r#"<row r="{i}"><c r="A{i}"><v>{i}</v></c></row>"#))
        .collect();
    let bytes = xlsx(&rows, &[]);
    let mut book = Workbook::open(&bytes, &Limits::DEFAULT).unwrap();
    let mut seen = Vec::new();
    let outcome = book.for_each_row(0, |line, _| {
        seen.push(line);
        Ok::<_, ()>(if line == 3 {
            Flow::Stop
        } else {
            Flow::Continue
        })
    });
    assert_eq!(outcome, Ok(Ok(())));
    assert_eq!(seen, [1, 2, 3]);

    let outcome = book.for_each_row(0, |line, cells| {
        if cells[0] == Cell::Number(5.0) {
            Err(format!("第 {line} 行不对"))
        } else {
            Ok(Flow::Continue)
        }
    });
    assert_eq!(outcome, Ok(Err("第 5 行不对".to_owned())));
}

#[test]
fn relationship_targets_and_sheet_states() {
    let workbook = r#"<workbook xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="A &amp; B" sheetId="1" state="veryHidden" r:id="rId7"/><sheet name="第二" sheetId="2" state="visible" r:id="rId8"/></sheets></workbook>"#;
    let rels = r#"<Relationships><Relationship Id="rId7" Type="x/worksheet" Target="/xl/worksheets/a.xml"/><Relationship Id="rId8" Type="x/worksheet" Target="worksheets/../worksheets/b.xml"/><Relationship Id="rId9" Type="x/hyperlink" Target="http://example.invalid/" TargetMode="External"/><Relationship Id="rIdS" Type="x/sharedStrings" Target="strings/table.xml"/></Relationships>"#;
    let a = sheet_xml(r#"<row r="1"><c r="A1" t="s"><v>0</v></c></row>"#);
    let b = sheet_xml(r#"<row r="2"><c r="B2"><v>2</v></c></row>"#);
    let strings = shared_xml(&["表A"]);
    let bytes = common::zip_of(&[
        ("xl/workbook.xml", workbook.as_bytes()),
        ("xl/_rels/workbook.xml.rels", rels.as_bytes()),
        ("xl/worksheets/a.xml", a.as_bytes()),
        ("XL/Worksheets/B.xml", b.as_bytes()),
        ("xl/strings/table.xml", strings.as_bytes()),
    ]);
    let mut book = Workbook::open(&bytes, &Limits::DEFAULT).unwrap();
    assert_eq!(book.sheet_names(), ["A & B", "第二"]);
    assert!(book.sheets()[0].hidden);
    assert!(!book.sheets()[1].hidden);
    assert_eq!(rows_of(&mut book, 0), vec![(1, vec![text("表A")])]);
    assert_eq!(
        rows_of(&mut book, 1),
        vec![(2, vec![Cell::Empty, Cell::Number(2.0)])]
    );
}

#[test]
fn empty_and_odd_sheets() {
    let bytes = xlsx_parts(
        &[
            sheet_xml(""),
            "<worksheet><sheetData/></worksheet>".to_owned(),
            "<chartsheet><sheetPr/></chartsheet>".to_owned(),
            sheet_xml(r#"<row r="5"/><row r="6"><c r="A6"/></row>"#),
        ],
        None,
    );
    let mut book = Workbook::open(&bytes, &Limits::DEFAULT).unwrap();
    for sheet in 0..4 {
        assert_eq!(rows_of(&mut book, sheet), Vec::new(), "sheet {sheet}");
    }
    assert_eq!(book.shared_string_count(), 0);
    assert!(format!("{book:?}").contains("Sheet1"));
    let err = book
        .for_each_row(4, |_, _| Ok::<_, ()>(Flow::Continue))
        .unwrap_err();
    assert!(matches!(err, SheetError::NoSuchSheet { .. }));
}
