//! Reading an uploaded roster row by row, with the line numbers Excel shows.
//!
//! XLSX goes through `xiaobao_sheet`: the zip is checked before anything is unpacked, shared
//! strings are kept in one capped arena and borrowed, rows stream one at a time (no grid in
//! memory), and every size, count and nesting depth is bounded, so no file can exhaust the
//! process. XLS, XLSB and ODS are refused with a request to save the file as .xlsx. Numbers
//! stay numbers, so an ID that a spreadsheet turned into a float can be told apart. CSV is
//! UTF-8 (with or without BOM), UTF-16 with BOM, or GB18030 (what Excel writes on a Chinese
//! Windows); fields are borrowed from the decoded text unless they hold `""`.

use std::borrow::Cow;

use xiaobao_sheet::{Cell, Format, Limits, SheetError, Workbook};

use crate::validate::{CellValue, Flow, MAX_COLUMNS, Val, Validator};
use crate::{MAX_ROWS, RosterError};

/// What the reader accepts of a roster workbook: the sheet crate's bounds, with rows up to
/// the roster's own limit (plus title and instruction rows) and its columns.
fn limits() -> Limits {
    let rows = u32::try_from(MAX_ROWS + 1_000).unwrap_or(u32::MAX);
    let columns = u32::try_from(MAX_COLUMNS).unwrap_or(256);
    Limits::DEFAULT
        .with_max_rows(rows)
        .with_max_columns(columns)
}

/// Feeds every row of the file to the validator.
pub(crate) fn read(bytes: &[u8], validator: &mut Validator<'_>) -> Result<(), RosterError> {
    match xiaobao_sheet::sniff(bytes) {
        Format::Empty => Err(RosterError::Unreadable("文件是空的".into())),
        Format::Text => {
            let text = decode_text(bytes);
            read_csv(&text, validator)
        }
        // A zip that is no complete workbook is opened anyway, for the precise reason.
        Format::Xlsx | Format::OtherZip => stream_xlsx(bytes, validator),
        other @ (Format::Xls | Format::Xlsb | Format::Ods) => {
            Err(from_sheet(SheetError::Legacy(other)))
        }
        Format::Pdf => Err(from_sheet(SheetError::NotSpreadsheet)),
    }
}

/// The roster error of a file the reader refused: 413 for limits, otherwise unreadable.
fn from_sheet(e: SheetError) -> RosterError {
    if e.is_limit() {
        RosterError::TooLarge(e.to_string())
    } else {
        RosterError::Unreadable(e.to_string())
    }
}

impl CellValue for Cell<'_> {
    fn val(&self) -> Val<'_> {
        match self {
            Cell::Empty | Cell::Error => Val::Empty,
            Cell::Text(s) => Val::Text(Cow::Borrowed(s)),
            Cell::Number(f) => Val::Number(*f),
            Cell::Bool(b) => Val::Text(Cow::Borrowed(if *b { "TRUE" } else { "FALSE" })),
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
fn stream_xlsx(bytes: &[u8], validator: &mut Validator<'_>) -> Result<(), RosterError> {
    let mut workbook = Workbook::open(bytes, &limits()).map_err(from_sheet)?;
    for sheet in 0..workbook.sheets().len() {
        validator.start_sheet();
        workbook
            .for_each_row(sheet, |line, cells| {
                Ok(match validator.row(line, cells, 0)? {
                    Flow::Continue => xiaobao_sheet::Flow::Continue,
                    Flow::NextSheet => xiaobao_sheet::Flow::Stop,
                })
            })
            .map_err(from_sheet)??;
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
