//! Reading an uploaded roster row by row, with the line numbers Excel shows.
//!
//! XLSX is streamed cell by cell (shared strings are borrowed, not copied), so a 100,000-row
//! workbook never becomes a grid in memory; XLS, XLSB and ODS go through calamine's ranges.
//! Numbers stay numbers, so an ID that a spreadsheet turned into a float can be told apart.
//! CSV is UTF-8 (with or without BOM), UTF-16 with BOM, or GB18030 (what Excel writes on a
//! Chinese Windows); fields are borrowed from the decoded text unless they hold `""`.

use std::borrow::Cow;
use std::io::{Cursor, Read, Seek};

use calamine::{Data, DataRef, Reader, Xlsx, open_workbook_auto_from_rs};

use crate::RosterError;
use crate::validate::{CellValue, Flow, MAX_COLUMNS, Val, Validator};

/// Feeds every row of the file to the validator.
pub(crate) fn read(bytes: &[u8], validator: &mut Validator<'_>) -> Result<(), RosterError> {
    if bytes.is_empty() {
        return Err(RosterError::Unreadable("文件是空的".into()));
    }
    if bytes.starts_with(b"PK\x03\x04") {
        // XLSX almost always; XLSB and ODS are zips too.
        if let Ok(mut workbook) = Xlsx::new(Cursor::new(bytes)) {
            return stream_xlsx(&mut workbook, validator);
        }
        return read_ranges(bytes, validator);
    }
    if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        return read_ranges(bytes, validator);
    }
    let text = decode_text(bytes);
    read_csv(&text, validator)
}

fn unreadable(e: impl std::fmt::Display) -> RosterError {
    RosterError::Unreadable(format!("不是可读取的 Excel 文件（{e}）"))
}

impl CellValue for DataRef<'_> {
    fn val(&self) -> Val<'_> {
        match self {
            DataRef::Empty | DataRef::Error(_) => Val::Empty,
            DataRef::SharedString(s) => Val::Text(Cow::Borrowed(s)),
            DataRef::String(s) | DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => {
                Val::Text(Cow::Borrowed(s))
            }
            DataRef::Float(f) => Val::Number(*f),
            #[expect(clippy::cast_precision_loss, reason = "judged like Excel's own floats")]
            DataRef::Int(i) => Val::Number(*i as f64),
            DataRef::Bool(b) => Val::Text(Cow::Borrowed(if *b { "TRUE" } else { "FALSE" })),
            DataRef::DateTime(d) => Val::Text(Cow::Owned(d.to_string())),
        }
    }
}

impl CellValue for Data {
    fn val(&self) -> Val<'_> {
        match self {
            Data::Empty | Data::Error(_) => Val::Empty,
            Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => {
                Val::Text(Cow::Borrowed(s))
            }
            Data::Float(f) => Val::Number(*f),
            #[expect(clippy::cast_precision_loss, reason = "judged like Excel's own floats")]
            Data::Int(i) => Val::Number(*i as f64),
            Data::Bool(b) => Val::Text(Cow::Borrowed(if *b { "TRUE" } else { "FALSE" })),
            Data::DateTime(d) => Val::Text(Cow::Owned(d.to_string())),
        }
    }
}

impl CellValue for Cow<'_, str> {
    fn val(&self) -> Val<'_> {
        if self.is_empty() {
            Val::Empty
        } else {
            Val::Text(Cow::Borrowed(self))
        }
    }
}

/// Streams the sheets of an XLSX workbook in order until one has the header.
fn stream_xlsx<RS: Read + Seek>(
    workbook: &mut Xlsx<RS>,
    validator: &mut Validator<'_>,
) -> Result<(), RosterError> {
    for name in workbook.sheet_names() {
        validator.start_sheet();
        let mut cells = workbook
            .worksheet_cells_reader(&name)
            .map_err(|e| RosterError::Unreadable(format!("无法读取工作表「{name}」（{e}）")))?;
        let mut row: Vec<DataRef<'_>> = Vec::with_capacity(16);
        let mut current: Option<u32> = None;
        let mut flow = Flow::Continue;
        while let Some(cell) = cells.next_cell().map_err(unreadable)? {
            let (r, c) = cell.get_position();
            if current != Some(r) {
                if let Some(done) = current {
                    flow = validator.row(done.saturating_add(1), &row, 0)?;
                    if flow == Flow::NextSheet {
                        break;
                    }
                    row.clear();
                }
                current = Some(r);
            }
            let value = cell.get_value();
            let c = c as usize;
            if matches!(value, DataRef::Empty) || c >= MAX_COLUMNS {
                continue;
            }
            if row.len() <= c {
                row.resize(c + 1, DataRef::Empty);
            }
            row[c] = value.clone();
        }
        if flow == Flow::Continue
            && let Some(done) = current
        {
            validator.row(done.saturating_add(1), &row, 0)?;
        }
        if validator.has_header() {
            break;
        }
    }
    Ok(())
}

/// XLS, XLSB and ODS: whole sheets through calamine's ranges.
fn read_ranges(bytes: &[u8], validator: &mut Validator<'_>) -> Result<(), RosterError> {
    let mut workbook = open_workbook_auto_from_rs(Cursor::new(bytes)).map_err(unreadable)?;
    for name in workbook.sheet_names() {
        validator.start_sheet();
        let range = workbook
            .worksheet_range(&name)
            .map_err(|e| RosterError::Unreadable(format!("无法读取工作表「{name}」（{e}）")))?;
        let (first_row, first_col) = range.start().unwrap_or((0, 0));
        for (i, cells) in range.rows().enumerate() {
            let line = first_row
                .saturating_add(u32::try_from(i).unwrap_or(u32::MAX))
                .saturating_add(1);
            if validator.row(line, cells, first_col as usize)? == Flow::NextSheet {
                break;
            }
        }
        if validator.has_header() {
            break;
        }
    }
    Ok(())
}

/// Decodes CSV bytes: UTF-8 (BOM or not), UTF-16 with BOM, otherwise GB18030. Valid UTF-8
/// is borrowed.
pub(crate) fn decode_text(bytes: &[u8]) -> Cow<'_, str> {
    if let Some((encoding, bom_len)) = encoding_rs::Encoding::for_bom(bytes) {
        let rest = &bytes[bom_len..];
        if encoding == encoding_rs::UTF_8
            && let Ok(text) = std::str::from_utf8(rest)
        {
            return Cow::Borrowed(text);
        }
        let (text, _) = encoding.decode_without_bom_handling(rest);
        return text;
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => {
            let (text, _, _) = encoding_rs::GB18030.decode(bytes);
            text
        }
    }
}

/// The field delimiter: comma, or tab / semicolon, judged by the first line (among the top
/// ones, titles included) that has any of them.
fn delimiter(text: &str) -> u8 {
    for line in text.lines().take(30) {
        for d in [b',', b'\t', b';'] {
            if line.as_bytes().contains(&d) {
                return d;
            }
        }
    }
    b','
}

/// Parses CSV text (RFC 4180 quoting) and feeds each record to the validator. A record
/// spanning lines inside quotes is one row, as in Excel, so lines count records.
pub(crate) fn read_csv(text: &str, validator: &mut Validator<'_>) -> Result<(), RosterError> {
    let mut text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    // Excel's delimiter hint line.
    if let Some((_, rest)) = text.strip_prefix("sep=").and_then(|r| r.split_once('\n')) {
        text = rest;
    }
    let delim = delimiter(text);
    validator.start_sheet();
    let mut i = 0;
    let mut line: u32 = 0;
    let mut fields: Vec<Cow<'_, str>> = Vec::with_capacity(16);
    while i < text.len() {
        line = line.saturating_add(1);
        i = csv_record(text, i, delim, &mut fields);
        if validator.row(line, &fields, 0)? == Flow::NextSheet {
            break;
        }
    }
    Ok(())
}

/// Reads the record starting at byte `start` into `fields` (cleared first); returns where
/// the next record starts.
fn csv_record<'t>(text: &'t str, start: usize, delim: u8, fields: &mut Vec<Cow<'t, str>>) -> usize {
    let bytes = text.as_bytes();
    fields.clear();
    let mut i = start;
    loop {
        let field;
        (field, i) = csv_field(text, i, delim);
        if fields.len() < MAX_COLUMNS {
            fields.push(field);
        }
        match bytes.get(i) {
            Some(&b) if b == delim => i += 1,
            Some(b'\r') => {
                i += 1;
                if bytes.get(i) == Some(&b'\n') {
                    i += 1;
                }
                return i;
            }
            Some(b'\n') => return i + 1,
            _ => return i,
        }
    }
}

/// One field starting at byte `start`: the field and the index of the byte that ends it (a
/// delimiter, a line break or the end).
fn csv_field(text: &str, start: usize, delim: u8) -> (Cow<'_, str>, usize) {
    let bytes = text.as_bytes();
    let n = bytes.len();
    let is_end = |b: u8| b == delim || b == b'\n' || b == b'\r';
    if bytes.get(start) != Some(&b'"') {
        let end = bytes[start..]
            .iter()
            .position(|&b| is_end(b))
            .map_or(n, |p| start + p);
        return (Cow::Borrowed(&text[start..end]), end);
    }
    // Quoted: `""` is a quote; the field ends at the lone closing quote.
    let open = start + 1;
    let mut owned: Option<String> = None;
    let mut segment = open;
    let mut i = open;
    let close = loop {
        match bytes[i..].iter().position(|&b| b == b'"') {
            None => break n,
            Some(p) => {
                let q = i + p;
                if bytes.get(q + 1) == Some(&b'"') {
                    owned
                        .get_or_insert_with(String::new)
                        .push_str(&text[segment..=q]);
                    i = q + 2;
                    segment = i;
                } else {
                    break q;
                }
            }
        }
    };
    let mut field = match owned {
        Some(mut s) => {
            s.push_str(&text[segment..close]);
            Cow::Owned(s)
        }
        None => Cow::Borrowed(&text[open..close]),
    };
    // Text after the closing quote belongs to the field, as Excel reads it.
    let after = (close + 1).min(n);
    let end = bytes[after..]
        .iter()
        .position(|&b| is_end(b))
        .map_or(n, |p| after + p);
    if end > after {
        field.to_mut().push_str(&text[after..end]);
    }
    (field, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(text: &str) -> Vec<Vec<String>> {
        let delim = delimiter(text);
        let mut out = Vec::new();
        let mut record = Vec::new();
        let mut i = 0;
        while i < text.len() {
            i = csv_record(text, i, delim, &mut record);
            out.push(record.iter().map(|f| f.to_string()).collect());
        }
        out
    }

    #[test]
    fn csv_quotes_and_line_breaks() {
        let f = fields("a,b\r\n\"x, y\",\"say \"\"hi\"\"\"\n\"multi\nline\",2\n,\n");
        assert_eq!(f[0], ["a", "b"]);
        assert_eq!(f[1], ["x, y", "say \"hi\""]);
        assert_eq!(f[2], ["multi\nline", "2"]);
        assert_eq!(f[3], ["", ""]);
        assert_eq!(f.len(), 4);
    }

    #[test]
    fn csv_tabs_trailing_text_and_unclosed_quote() {
        assert_eq!(fields("a\tb\n1\t2"), [["a", "b"], ["1", "2"]]);
        assert_eq!(fields("\"ab\"c,d"), [["abc", "d"]]);
        assert_eq!(fields("\"abc"), [["abc"]]);
    }

    #[test]
    fn decodes_utf8_bom_utf16_and_gb18030() {
        let text = "学生姓名,性别\n张三,男\n";
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend_from_slice(text.as_bytes());
        assert_eq!(decode_text(&bom), text);
        assert!(matches!(decode_text(text.as_bytes()), Cow::Borrowed(_)));
        let (gb, _, _) = encoding_rs::GB18030.encode(text);
        assert!(std::str::from_utf8(&gb).is_err());
        assert_eq!(decode_text(&gb), text);
        let mut utf16 = vec![0xFF, 0xFE];
        for unit in text.encode_utf16() {
            utf16.extend_from_slice(&unit.to_le_bytes());
        }
        assert_eq!(decode_text(&utf16), text);
        assert!(decode_text(b"").is_empty());
    }
}
