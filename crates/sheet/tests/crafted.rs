//! Hostile files, built here: each must be refused with the right error, quickly and without
//! allocating what it asks for.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Cursor, Write};

use common::{
    CONTENT_TYPES, PACKAGE_RELS, deflated, patch_declared_size, rels_xml, shared_xml, sheet_xml,
    workbook_xml, xlsx, xlsx_parts, zip_of,
};
use xiaobao_sheet::{Cell, Flow, Format, Limits, SheetError, Workbook, sniff};
use zip::ZipWriter;
use zip::write::SimpleFileOptions;

type Rows = Vec<(u32, Vec<Cell<'static>>)>;

/// Every row of every sheet, or the first error.
fn read_all(bytes: &[u8], limits: &Limits) -> Result<Vec<Rows>, SheetError> {
    let mut book = Workbook::open(bytes, limits)?;
    let mut sheets = Vec::new();
    for sheet in 0..book.sheets().len() {
        let mut rows = Vec::new();
        book.for_each_row(sheet, |line, cells| {
            rows.push((line, cells.iter().cloned().map(Cell::into_owned).collect()));
            Ok::<_, ()>(Flow::Continue)
        })?
        .unwrap();
        sheets.push(rows);
    }
    Ok(sheets)
}

fn first_sheet(bytes: &[u8], limits: &Limits) -> Result<Rows, SheetError> {
    read_all(bytes, limits).map(|mut sheets| sheets.remove(0))
}

fn text(s: &str) -> Cell<'static> {
    Cell::Text(s.to_owned().into())
}

fn is_corrupt(result: &Result<impl std::fmt::Debug, SheetError>) -> bool {
    matches!(result, Err(SheetError::Corrupt(_)))
}

fn is_too_complex(result: &Result<impl std::fmt::Debug, SheetError>) -> bool {
    matches!(result, Err(SheetError::TooComplex(_)))
}

// (a) A shared-string table announcing 2.4 × 10^18 strings.
#[test]
fn shared_string_counts_are_not_trusted() {
    let shared = r#"<?xml version="1.0" encoding="UTF-8"?>
<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="18446744073709551615" uniqueCount="2400000000000000000"><si><t>只有一个</t></si></sst>"#;
    let bytes = xlsx_parts(
        &[sheet_xml(
            r#"<row r="1"><c r="A1" t="s"><v>0</v></c></row>"#,
        )],
        Some(shared),
    );
    let book = Workbook::open(&bytes, &Limits::DEFAULT).unwrap();
    assert_eq!(book.shared_string_count(), 1);
    assert_eq!(
        first_sheet(&bytes, &Limits::DEFAULT).unwrap(),
        vec![(1, vec![text("只有一个")])]
    );
    // Garbage counts are ignored as well.
    let shared = shared.replace("2400000000000000000", "-1e99x");
    let bytes = xlsx_parts(&[sheet_xml("")], Some(&shared));
    assert!(Workbook::open(&bytes, &Limits::DEFAULT).is_ok());
}

#[test]
fn shared_string_limits() {
    let many = format!(
        r#"<sst uniqueCount="1001">{}</sst>"#,
        "<si><t>x</t></si>".repeat(1_001)
    );
    let bytes = xlsx_parts(&[sheet_xml("")], Some(&many));
    let limits = Limits {
        max_shared_strings: 1_000,
        ..Limits::DEFAULT
    };
    let result = Workbook::open(&bytes, &limits);
    assert!(is_too_complex(&result), "{result:?}");
    assert!(Workbook::open(&bytes, &Limits::DEFAULT).is_ok());

    let long = format!("<sst><si><t>{}</t></si></sst>", "字".repeat(10_000));
    let bytes = xlsx_parts(&[sheet_xml("")], Some(&long));
    let limits = Limits {
        max_shared_string_bytes: 20_000,
        ..Limits::DEFAULT
    };
    let result = Workbook::open(&bytes, &limits);
    assert!(is_too_complex(&result), "{result:?}");
}

// (b) Cells at A1 and XFD1048576: a dense reader would allocate 17 billion cells.
#[test]
fn far_corner_is_not_allocated() {
    let rows = r#"<row r="1"><c r="A1" t="s"><v>0</v></c></row><row r="1048576"><c r="XFD1048576"><v>1</v></c></row>"#;
    let sheet = sheet_xml(rows).replace(
        "<sheetData>",
        r#"<dimension ref="A1:XFD1048576"/><sheetData>"#,
    );
    let bytes = xlsx_parts(&[sheet], Some(&shared_xml(&["a"])));

    let limited = Limits::DEFAULT.with_max_rows(250_000);
    assert_eq!(
        first_sheet(&bytes, &limited),
        Err(SheetError::TooManyRows {
            line: 1_048_576,
            max: 250_000
        })
    );
    assert!(first_sheet(&bytes, &limited).unwrap_err().is_limit());

    // Default limits: the far cell is beyond max_columns, so its row has nothing kept.
    let mut seen = Vec::new();
    let mut book = Workbook::open(&bytes, &Limits::DEFAULT).unwrap();
    book.for_each_row(0, |line, cells| {
        seen.push((line, cells.len()));
        Ok::<_, ()>(Flow::Continue)
    })
    .unwrap()
    .unwrap();
    assert_eq!(seen, vec![(1, 1)]);

    // With every column kept, the far row is one row of 16,384 cells, no more.
    let wide = Limits::DEFAULT.with_max_columns(16_384);
    let rows = first_sheet(&bytes, &wide).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].0, 1_048_576);
    assert_eq!(rows[1].1.len(), 16_384);
    assert_eq!(rows[1].1[16_383], Cell::Number(1.0));
}

#[test]
fn empty_rows_beyond_the_limit_are_harmless() {
    let rows = r#"<row r="1"><c r="A1"><v>1</v></c></row><row r="900000" ht="20" customHeight="1"/><row r="900001"><c r="B900001" s="3"/></row>"#;
    let bytes = xlsx(rows, &[]);
    assert_eq!(
        first_sheet(&bytes, &Limits::DEFAULT.with_max_rows(10)).unwrap(),
        vec![(1, vec![Cell::Number(1.0)])]
    );
}

/// Streams a sheet of `rows` repetitions of `row` straight into a deflated zip entry, so the
/// uncompressed sheet never exists in memory.
fn bomb(row: &str, rows: usize, level: i64) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let workbook = workbook_xml(&["Sheet1"]);
    let rels = rels_xml(1);
    for (name, data) in [
        ("[Content_Types].xml", CONTENT_TYPES),
        ("_rels/.rels", PACKAGE_RELS),
        ("xl/workbook.xml", workbook.as_str()),
        ("xl/_rels/workbook.xml.rels", rels.as_str()),
    ] {
        zip.start_file(name, deflated()).unwrap();
        zip.write_all(data.as_bytes()).unwrap();
    }
    let options = deflated().compression_level(Some(level)).large_file(true);
    zip.start_file("xl/worksheets/sheet1.xml", options).unwrap();
    zip.write_all(br#"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#)
        .unwrap();
    let chunk = row.repeat(64 * 1024 / row.len().max(1));
    let per_chunk = chunk.len() / row.len().max(1);
    let mut written = 0;
    while written < rows {
        zip.write_all(chunk.as_bytes()).unwrap();
        written += per_chunk;
    }
    zip.write_all(b"</sheetData></worksheet>").unwrap();
    zip.finish().unwrap().into_inner()
}

#[test]
fn far_columns_do_not_multiply_work() {
    let rows: String = (1..=100)
        .map(|i| format!(r#"<row r="{i}"><c r="IV{i}"><v>1</v></c></row>"#))
        .collect();
    let bytes = xlsx(&rows, &[]);
    let limits = Limits {
        max_cells: 10_000,
        ..Limits::DEFAULT
    };
    assert_eq!(
        first_sheet(&bytes, &limits),
        Err(SheetError::TooComplex("单元格过多".into()))
    );
    let rows = first_sheet(&bytes, &Limits::DEFAULT).unwrap();
    assert_eq!(rows.len(), 100);
    assert!(rows.iter().all(|(_, cells)| cells.len() == 256));
}

// (c) About 1 GiB of sheet XML in a few megabytes.
#[test]
fn gigabyte_sheet_is_refused() {
    let row = "<row><c><v>1</v></c></row>";
    let bytes = bomb(row, (1 << 30) / row.len(), 9);
    assert!(bytes.len() < 8 << 20, "{} bytes", bytes.len());
    assert_eq!(sniff(&bytes), Format::Xlsx);
    let result = Workbook::open(&bytes, &Limits::DEFAULT)
        .and_then(|mut book| book.for_each_row(0, |_, _| Ok::<_, ()>(Flow::Continue)));
    assert!(is_too_complex(&result), "{result:?}");
    assert!(result.unwrap_err().is_limit());

    // With the up-front checks relaxed, the bytes really produced are what stops it.
    let relaxed = Limits {
        max_entry_bytes: 4 << 30,
        max_total_bytes: 16 << 20,
        max_ratio: 1 << 20,
        ..Limits::DEFAULT
    };
    let mut rows = 0u64;
    let result = Workbook::open(&bytes, &relaxed).and_then(|mut book| {
        let result = book.for_each_row(0, |_, _| {
            rows += 1;
            Ok::<_, ()>(Flow::Continue)
        });
        assert!(book.bytes_read() <= (16 << 20) + (64 << 10));
        result
    });
    assert_eq!(result, Err(SheetError::TooComplex("解压后总量过大".into())));
    assert!(rows < (16 << 20) / row.len() as u64);

    // Declaring a small size in front of the same stream.
    let mut lying = bytes;
    patch_declared_size(&mut lying, "xl/worksheets/sheet1.xml", 1 << 20);
    let result = Workbook::open(&lying, &Limits::DEFAULT)
        .and_then(|mut book| book.for_each_row(0, |_, _| Ok::<_, ()>(Flow::Continue)));
    assert!(is_corrupt(&result) || is_too_complex(&result), "{result:?}");
}

#[test]
fn byte_limits_are_counted() {
    // Declared honestly, but over a small per-part limit.
    let row = "<row><c><v>1</v></c></row>";
    let bytes = bomb(row, 100_000, 6);
    let limits = Limits::DEFAULT.with_max_bytes(1 << 20, 400 << 20);
    let result = first_sheet(&bytes, &limits);
    assert!(is_too_complex(&result), "{result:?}");
    assert!(first_sheet(&bytes, &Limits::DEFAULT).unwrap().len() >= 100_000);

    // Two sheets that each fit, but not together: the total is counted as bytes come out.
    let sheet = sheet_xml(&row.repeat(40_000));
    let bytes = xlsx_parts(&[sheet.clone(), sheet], None);
    let limits = Limits::DEFAULT.with_max_bytes(1 << 20, (1 << 20) + (1 << 19));
    let mut book = Workbook::open(&bytes, &limits).unwrap();
    let first = book.for_each_row(0, |_, _| Ok::<_, ()>(Flow::Continue));
    assert_eq!(first, Ok(Ok(())));
    let second = book.for_each_row(1, |_, _| Ok::<_, ()>(Flow::Continue));
    assert_eq!(second, Err(SheetError::TooComplex("解压后总量过大".into())));
    assert!(book.bytes_read() <= (1 << 20) + (1 << 19) + (64 << 10));
}

// (d) 100,000 entries: refused from the end record, before any zip library reads them.
#[test]
fn hundred_thousand_entries() {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let stored = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("xl/workbook.xml", stored).unwrap();
    for i in 0..100_000 {
        zip.start_file(format!("{i}"), stored).unwrap();
    }
    let bytes = zip.finish().unwrap().into_inner();
    let result = Workbook::open(&bytes, &Limits::DEFAULT);
    assert_eq!(
        result.unwrap_err(),
        SheetError::TooComplex("压缩包内文件过多".into())
    );
    assert_eq!(sniff(&bytes), Format::OtherZip);
}

#[test]
fn entry_count_that_lies_is_caught_by_counting_headers() {
    let names: Vec<String> = (0..1_500).map(|i| format!("{i}")).collect();
    let mut parts: Vec<(&str, &[u8])> = vec![("xl/workbook.xml", b"<workbook/>")];
    parts.extend(names.iter().map(|n| (n.as_str(), b"".as_slice())));
    let mut bytes = zip_of(&parts);
    let eocd = bytes.windows(4).rposition(|w| w == b"PK\x05\x06").unwrap();
    bytes[eocd + 8..eocd + 12].copy_from_slice(&[3, 0, 3, 0]);
    let result = Workbook::open(&bytes, &Limits::DEFAULT);
    assert_eq!(
        result.unwrap_err(),
        SheetError::TooComplex("压缩包内文件过多".into())
    );
}

// (e) 100,000 nested elements, in a sheet and in the shared strings.
#[test]
fn deep_nesting() {
    let deep = format!("{}{}", "<x>".repeat(100_000), "</x>".repeat(100_000));
    let sheet = format!(
        r#"<worksheet><sheetData><row r="1"><c r="A1"><v>{deep}</v></c></row></sheetData></worksheet>"#
    );
    let bytes = xlsx_parts(&[sheet], None);
    let result = first_sheet(&bytes, &Limits::DEFAULT);
    assert_eq!(
        result,
        Err(SheetError::TooComplex("XML 嵌套层级过深".into()))
    );

    let shared = format!("<sst><si>{}</si></sst>", deep.replace('x', "r"));
    let bytes = xlsx_parts(&[sheet_xml("")], Some(&shared));
    let result = Workbook::open(&bytes, &Limits::DEFAULT);
    assert!(is_too_complex(&result), "{result:?}");

    // Unclosed nesting is also refused (not only deep nesting).
    let bytes = xlsx_parts(&[format!("<worksheet>{}", "<x>".repeat(10))], None);
    assert!(is_corrupt(&first_sheet(&bytes, &Limits::DEFAULT)));
}

#[test]
fn huge_tokens() {
    let comment = format!("<!--{}-->", "-x".repeat(3 << 20));
    let bytes = xlsx_parts(&[sheet_xml(&comment)], None);
    let result = first_sheet(&bytes, &Limits::DEFAULT);
    assert_eq!(
        result,
        Err(SheetError::TooComplex("单个 XML 片段过大".into()))
    );

    let attributes: String = (0..200_000).map(|i| format!(" a{i}=\"\"")).collect();
    let bytes = xlsx_parts(&[sheet_xml(&format!("<row{attributes}/>"))], None);
    let limits = Limits {
        max_token_bytes: 64 * 1024,
        ..Limits::DEFAULT
    };
    assert!(is_too_complex(&first_sheet(&bytes, &limits)));
    // Within the token limit, many attributes cost one linear pass.
    assert_eq!(first_sheet(&bytes, &Limits::DEFAULT), Ok(Vec::new()));
}

// (f) A valid workbook cut short anywhere.
#[test]
fn truncated_workbook() {
    let bytes = xlsx(
        r#"<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1"><v>2</v></c></row>"#,
        &["名字"],
    );
    assert!(read_all(&bytes, &Limits::DEFAULT).is_ok());
    let step = (bytes.len() / 97).max(1);
    let cuts = (1..bytes.len())
        .step_by(step)
        .chain(bytes.len() - 30..bytes.len());
    for cut in cuts {
        let result = read_all(&bytes[..cut], &Limits::DEFAULT);
        assert!(
            matches!(
                result,
                Err(SheetError::Corrupt(_) | SheetError::NotSpreadsheet)
            ),
            "cut at {cut}: {result:?}"
        );
    }
}

// (g), (h) Other kinds of file.
#[test]
fn other_formats() {
    let pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n";
    assert_eq!(sniff(pdf), Format::Pdf);
    assert_eq!(
        Workbook::open(pdf, &Limits::DEFAULT).unwrap_err(),
        SheetError::NotSpreadsheet
    );

    let mut ole = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    ole.resize(4096, 0);
    assert_eq!(sniff(&ole), Format::Xls);
    assert_eq!(
        Workbook::open(&ole, &Limits::DEFAULT).unwrap_err(),
        SheetError::Legacy(Format::Xls)
    );

    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let stored = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("mimetype", stored).unwrap();
    zip.write_all(b"application/vnd.oasis.opendocument.spreadsheet")
        .unwrap();
    zip.start_file("content.xml", deflated()).unwrap();
    zip.write_all(b"<office:document-content/>").unwrap();
    let ods = zip.finish().unwrap().into_inner();
    assert_eq!(sniff(&ods), Format::Ods);
    assert_eq!(
        Workbook::open(&ods, &Limits::DEFAULT).unwrap_err(),
        SheetError::Legacy(Format::Ods)
    );

    let odt = zip_of(&[
        ("mimetype", b"application/vnd.oasis.opendocument.text"),
        ("content.xml", b"<x/>"),
    ]);
    assert_eq!(sniff(&odt), Format::OtherZip);

    let xlsb = zip_of(&[("xl/workbook.bin", b"\x83\x01\x00")]);
    assert_eq!(sniff(&xlsb), Format::Xlsb);
    assert_eq!(
        Workbook::open(&xlsb, &Limits::DEFAULT).unwrap_err(),
        SheetError::Legacy(Format::Xlsb)
    );

    let docx = zip_of(&[("word/document.xml", b"<w:document/>")]);
    assert_eq!(sniff(&docx), Format::OtherZip);
    assert_eq!(
        Workbook::open(&docx, &Limits::DEFAULT).unwrap_err(),
        SheetError::NotSpreadsheet
    );

    let csv = "姓名,身份证号\n张三,110101200001011234\n".as_bytes();
    assert_eq!(sniff(csv), Format::Text);
    assert_eq!(
        Workbook::open(csv, &Limits::DEFAULT).unwrap_err(),
        SheetError::NotSpreadsheet
    );

    assert_eq!(sniff(b""), Format::Empty);
    assert_eq!(
        Workbook::open(b"", &Limits::DEFAULT).unwrap_err(),
        SheetError::EmptyFile
    );

    let empty_zip = zip_of(&[]);
    assert_eq!(sniff(&empty_zip), Format::OtherZip);
    assert_eq!(
        Workbook::open(&empty_zip, &Limits::DEFAULT).unwrap_err(),
        SheetError::NotSpreadsheet
    );
}

// (i) Headers that declare a small size in front of a deflate stream that expands far more.
#[test]
fn declared_sizes_that_lie() {
    let row = "<row><c><v>1</v></c></row>";
    let mut bytes = bomb(row, 200_000, 6);
    patch_declared_size(&mut bytes, "xl/worksheets/sheet1.xml", 1_000);
    let mut delivered = 0;
    let result = Workbook::open(&bytes, &Limits::DEFAULT).and_then(|mut book| {
        book.for_each_row(0, |_, _| {
            delivered += 1;
            Ok::<_, ()>(Flow::Continue)
        })
    });
    assert!(is_corrupt(&result) || is_too_complex(&result), "{result:?}");
    assert!(delivered <= 1_000 / row.len(), "{delivered} rows");

    let shared = format!("<sst>{}</sst>", "<si><t>abc</t></si>".repeat(100_000));
    let mut bytes = xlsx_parts(&[sheet_xml("")], Some(&shared));
    patch_declared_size(&mut bytes, "xl/sharedStrings.xml", 100);
    let result = Workbook::open(&bytes, &Limits::DEFAULT);
    assert!(is_corrupt(&result) || is_too_complex(&result), "{result:?}");

    // Declaring far more than the compressed size allows is refused before reading.
    let mut bytes = xlsx(r#"<row r="1"><c r="A1"><v>1</v></c></row>"#, &[]);
    patch_declared_size(&mut bytes, "xl/worksheets/sheet1.xml", 150 << 20);
    let result = Workbook::open(&bytes, &Limits::DEFAULT);
    assert_eq!(
        result.unwrap_err(),
        SheetError::TooComplex("压缩比异常".into())
    );
}

// (j) References and indexes that do not hold.
#[test]
fn bad_references() {
    let cases = [
        r#"<row r="1"><c r="A1" t="s"><v>1</v></c></row>"#,
        r#"<row r="1"><c r="A1" t="s"><v>-1</v></c></row>"#,
        r#"<row r="1"><c r="A1" t="s"><v>x</v></c></row>"#,
        r#"<row r="1"><c r="A0"><v>1</v></c></row>"#,
        r#"<row r="1"><c r="XFE1"><v>1</v></c></row>"#,
        r#"<row r="1"><c r="A2"><v>1</v></c></row>"#,
        r#"<row r="1"><c r="B1"><v>1</v></c><c r="A1"><v>1</v></c></row>"#,
        r#"<row r="1"><c r="A1"><v>1</v></c><c r="A1"><v>1</v></c></row>"#,
        r#"<row r="3"><c r="A3"><v>1</v></c></row><row r="2"><c r="A2"><v>1</v></c></row>"#,
        r#"<row r="3"/><row r="3"/>"#,
        r#"<row r="0"/>"#,
        r#"<row r="1048577"/>"#,
        r#"<row r="1"><c r="A1"><v>abc</v></c></row>"#,
        r#"<row r="1"><c r="A1"><v>inf</v></c></row>"#,
        r#"<row r="1"><c r="A1" t="b"><v>2</v></c></row>"#,
        r#"<row r="1"><c r="A1" t="zz"><v>1</v></c></row>"#,
        r#"<row r="1"><c r="A1" t="str"><v>&bogus;</v></c></row>"#,
    ];
    for rows in cases {
        let bytes = xlsx(rows, &["only"]);
        let result = first_sheet(&bytes, &Limits::DEFAULT);
        assert!(is_corrupt(&result), "{rows}: {result:?}");
        assert!(!result.unwrap_err().is_limit());
    }
    let sheet = sheet_xml("").replace("<sheetData>", r#"<dimension ref="A1:XFE9"/><sheetData>"#);
    let bytes = xlsx_parts(&[sheet], None);
    assert!(is_corrupt(&first_sheet(&bytes, &Limits::DEFAULT)));

    // Out-of-range references name the place in the message.
    let bytes = xlsx(
        r#"<row r="7"><c r="C7" t="s"><v>9</v></c></row>"#,
        &["only"],
    );
    let message = first_sheet(&bytes, &Limits::DEFAULT)
        .unwrap_err()
        .to_string();
    assert!(message.contains("第 7 行 C 列"), "{message}");
    assert!(!message.contains("only"));
}

#[test]
fn long_cells() {
    let long = "长".repeat(50_000);
    let rows = format!(r#"<row r="4"><c r="B4" t="inlineStr"><is><t>{long}</t></is></c></row>"#);
    let bytes = xlsx(&rows, &[]);
    assert_eq!(
        first_sheet(&bytes, &Limits::DEFAULT),
        Err(SheetError::CellTooLong { line: 4, column: 2 })
    );
    let bytes = xlsx(r#"<row r="2"><c r="C2" t="s"><v>0</v></c></row>"#, &[&long]);
    assert_eq!(
        first_sheet(&bytes, &Limits::DEFAULT),
        Err(SheetError::CellTooLong { line: 2, column: 3 })
    );
    // An unused long shared string is harmless.
    let bytes = xlsx(
        r#"<row r="2"><c r="C2" t="s"><v>1</v></c></row>"#,
        &[&long, "ok"],
    );
    assert_eq!(
        first_sheet(&bytes, &Limits::DEFAULT),
        Ok(vec![(2, vec![Cell::Empty, Cell::Empty, text("ok")])])
    );
}

#[test]
fn broken_structure() {
    // Workbook without relationships, sheet relation pointing nowhere, too many sheets.
    let workbook = workbook_xml(&["A"]);
    let no_rels = zip_of(&[("xl/workbook.xml", workbook.as_bytes())]);
    assert!(is_corrupt(&Workbook::open(&no_rels, &Limits::DEFAULT)));

    let rels = rels_xml(1);
    let no_sheet = zip_of(&[
        ("xl/workbook.xml", workbook.as_bytes()),
        ("xl/_rels/workbook.xml.rels", rels.as_bytes()),
    ]);
    assert!(is_corrupt(&Workbook::open(&no_sheet, &Limits::DEFAULT)));

    let sheets: Vec<String> = (0..3).map(|_| sheet_xml("")).collect();
    let bytes = xlsx_parts(&sheets, None);
    let limits = Limits {
        max_sheets: 2,
        ..Limits::DEFAULT
    };
    assert!(is_too_complex(&Workbook::open(&bytes, &limits)));
    let mut book = Workbook::open(&bytes, &Limits::DEFAULT).unwrap();
    assert_eq!(
        book.for_each_row(3, |_, _| Ok::<_, ()>(Flow::Continue)),
        Err(SheetError::NoSuchSheet { index: 3, count: 3 })
    );

    // Thousands of relationships, and element names longer than any real one.
    let many = format!(
        "<Relationships>{}</Relationships>",
        r#"<Relationship Id="x" Type="t" Target="a.xml"/>"#.repeat(10_001)
    );
    let bytes = zip_of(&[
        ("xl/workbook.xml", workbook.as_bytes()),
        ("xl/_rels/workbook.xml.rels", many.as_bytes()),
    ]);
    assert!(is_too_complex(&Workbook::open(&bytes, &Limits::DEFAULT)));
    let long = format!("<worksheet><{0}></{0}></worksheet>", "n".repeat(300));
    let bytes = xlsx_parts(&[long], None);
    assert!(is_corrupt(&first_sheet(&bytes, &Limits::DEFAULT)));

    // End tags that do not match.
    for rows in [
        r#"<row r="1"><c r="A1"><v>1</c></v></row>"#,
        r#"<row r="1"><c r="A1"><v>1</v></c></rows>"#,
        r#"<row r="1"><x><c r="A1"><v>1</v></c></row></x>"#,
        r#"<row r="1"><c r="A1" t="inlineStr"><is><t>a</is></t></c></row>"#,
    ] {
        let bytes = xlsx(rows, &[]);
        assert!(is_corrupt(&first_sheet(&bytes, &Limits::DEFAULT)), "{rows}");
    }

    // Not XML at all.
    let bytes = xlsx_parts(
        &["<worksheet><sheetData><row></sheetData>".to_owned()],
        None,
    );
    assert!(is_corrupt(&first_sheet(&bytes, &Limits::DEFAULT)));
    let bytes = xlsx_parts(&["\u{0}\u{1}garbage".to_owned()], None);
    assert!(is_corrupt(&first_sheet(&bytes, &Limits::DEFAULT)));
    let bytes = xlsx_parts(&[String::new()], None);
    assert!(is_corrupt(&first_sheet(&bytes, &Limits::DEFAULT)));
    let workbook = zip_of(&[("xl/workbook.xml", b"<workbook><sheets/></workbook>")]);
    assert!(is_corrupt(&Workbook::open(&workbook, &Limits::DEFAULT)));
}
