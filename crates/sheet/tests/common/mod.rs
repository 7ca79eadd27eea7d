//! Builders for the workbooks and crafted zips the tests read.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{Cursor, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

pub const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/></Types>"#;

pub const PACKAGE_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;

pub fn deflated() -> SimpleFileOptions {
    SimpleFileOptions::default().compression_method(CompressionMethod::Deflated)
}

/// A zip of the given parts, deflated.
pub fn zip_of(parts: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in parts {
        zip.start_file(*name, deflated()).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

pub fn workbook_xml(sheets: &[&str]) -> String {
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>"#,
    );
    for (i, name) in sheets.iter().enumerate() {
        xml.push_str(&format!(
            r#"<sheet name="{name}" sheetId="{}" r:id="rId{}"/>"#,
            i + 1,
            i + 1
        ));
    }
    xml.push_str("</sheets></workbook>");
    xml
}

pub fn rels_xml(sheets: usize) -> String {
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">"#,
    );
    for i in 1..=sheets {
        xml.push_str(&format!(
            r#"<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{i}.xml"/>"#
        ));
    }
    xml.push_str(r#"<Relationship Id="rIdS" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>"#);
    xml.push_str("</Relationships>");
    xml
}

/// A worksheet around `rows` (the inside of `<sheetData>`).
pub fn sheet_xml(rows: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{rows}</sheetData></worksheet>"#
    )
}

/// A shared-string table of plain strings.
pub fn shared_xml(strings: &[&str]) -> String {
    let mut xml = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="{0}" uniqueCount="{0}">"#,
        strings.len()
    );
    for s in strings {
        xml.push_str(&format!("<si><t>{s}</t></si>"));
    }
    xml.push_str("</sst>");
    xml
}

/// An XLSX with one sheet per entry of `sheets` (whole worksheet XML) and, when given, a
/// shared-string table (whole XML).
pub fn xlsx_parts(sheets: &[String], shared: Option<&str>) -> Vec<u8> {
    let names: Vec<String> = (1..=sheets.len()).map(|i| format!("Sheet{i}")).collect();
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let workbook = workbook_xml(&name_refs);
    let rels = rels_xml(sheets.len());
    let paths: Vec<String> = (1..=sheets.len())
        .map(|i| format!("xl/worksheets/sheet{i}.xml"))
        .collect();
    let mut parts: Vec<(&str, &[u8])> = vec![
        ("[Content_Types].xml", CONTENT_TYPES.as_bytes()),
        ("_rels/.rels", PACKAGE_RELS.as_bytes()),
        ("xl/workbook.xml", workbook.as_bytes()),
        ("xl/_rels/workbook.xml.rels", rels.as_bytes()),
    ];
    for (path, xml) in paths.iter().zip(sheets) {
        parts.push((path, xml.as_bytes()));
    }
    if let Some(shared) = shared {
        parts.push(("xl/sharedStrings.xml", shared.as_bytes()));
    }
    zip_of(&parts)
}

/// An XLSX with one sheet holding `rows` and a table of plain shared strings.
pub fn xlsx(rows: &str, strings: &[&str]) -> Vec<u8> {
    xlsx_parts(&[sheet_xml(rows)], Some(&shared_xml(strings)))
}

/// Offsets of the central-directory headers, read from the end record.
fn central_headers(zip: &[u8]) -> Vec<usize> {
    let eocd = zip
        .windows(4)
        .rposition(|w| w == b"PK\x05\x06")
        .expect("end record");
    let le16 = |at: usize| usize::from(u16::from_le_bytes([zip[at], zip[at + 1]]));
    let le32 =
        |at: usize| u32::from_le_bytes([zip[at], zip[at + 1], zip[at + 2], zip[at + 3]]) as usize;
    let entries = le16(eocd + 10);
    let mut at = le32(eocd + 16);
    let mut out = Vec::new();
    for _ in 0..entries {
        out.push(at);
        at += 46 + le16(at + 28) + le16(at + 30) + le16(at + 32);
    }
    out
}

/// Rewrites the uncompressed size that the local and central headers of `name` declare.
pub fn patch_declared_size(zip: &mut [u8], name: &str, uncompressed: u32) {
    for at in central_headers(zip) {
        let name_len = usize::from(u16::from_le_bytes([zip[at + 28], zip[at + 29]]));
        if &zip[at + 46..at + 46 + name_len] != name.as_bytes() {
            continue;
        }
        zip[at + 24..at + 28].copy_from_slice(&uncompressed.to_le_bytes());
        let local =
            u32::from_le_bytes([zip[at + 42], zip[at + 43], zip[at + 44], zip[at + 45]]) as usize;
        zip[local + 22..local + 26].copy_from_slice(&uncompressed.to_le_bytes());
        return;
    }
    panic!("no entry {name}");
}
