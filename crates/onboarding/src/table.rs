//! Reading an uploaded spreadsheet into rows of cells with the line numbers Excel shows, and
//! finding the header row among title, instruction and blank rows.
//!
//! XLSX is read through `xiaobao_sheet` (every size, count and nesting depth bounded, rows
//! streamed; XLS, XLSB and ODS refused with a request to save as .xlsx) and keeps numbers as
//! numbers, so a mobile that became a number can be judged; CSV is UTF-8 (with or without
//! BOM), UTF-16 with BOM, or GB18030 (what Excel writes on a Chinese Windows).

use xiaobao_sheet::{Format, Limits, SheetError, Workbook};

use crate::OnboardingError;
use crate::normalise::{excel_general, header_key, normalise_text};

/// The most data rows one file may carry.
pub const MAX_ROWS: usize = 20_000;

/// How many non-empty rows from the top are searched for the header.
const HEADER_SEARCH_ROWS: usize = 30;

/// One cell, its text already normalised.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Empty,
    Text(String),
    Number(f64),
}

impl Cell {
    /// The cell as text: numbers as a person saw them (`410105`, not `410105.0`).
    pub(crate) fn text(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(s) => s.clone(),
            Cell::Number(n) => excel_general(*n),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(s) => s.is_empty(),
            Cell::Number(_) => false,
        }
    }

    fn from_text(s: &str) -> Cell {
        let t = normalise_text(s);
        if t.is_empty() {
            Cell::Empty
        } else {
            Cell::Text(t)
        }
    }
}

/// A spreadsheet row with its line number as Excel shows it (1-based).
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) line: u32,
    pub(crate) cells: Vec<Cell>,
}

impl Row {
    fn is_blank(&self) -> bool {
        self.cells.iter().all(Cell::is_empty)
    }
}

/// One sheet: its non-blank rows in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Table {
    pub(crate) rows: Vec<Row>,
}

/// Columns read of an import file (the templates have ten); cells further right are ignored.
const MAX_COLUMNS: u32 = 32;

/// Reads every sheet of a workbook, or the one table of a CSV file.
pub(crate) fn read_tables(bytes: &[u8]) -> Result<Vec<Table>, OnboardingError> {
    match xiaobao_sheet::sniff(bytes) {
        Format::Empty => Err(OnboardingError::Unreadable("文件是空的".into())),
        Format::Text => Ok(vec![read_csv(&decode_text(bytes))?]),
        Format::Xlsx | Format::OtherZip => read_workbook(bytes),
        other @ (Format::Xls | Format::Xlsb | Format::Ods) => {
            Err(from_sheet(SheetError::Legacy(other)))
        }
        Format::Pdf => Err(from_sheet(SheetError::NotSpreadsheet)),
    }
}

/// The import error of a file the reader refused: 413 for limits, otherwise unreadable.
fn from_sheet(e: SheetError) -> OnboardingError {
    if e.is_limit() {
        OnboardingError::TooLarge(e.to_string())
    } else {
        OnboardingError::Unreadable(e.to_string())
    }
}

fn read_workbook(bytes: &[u8]) -> Result<Vec<Table>, OnboardingError> {
    let rows = u32::try_from(MAX_ROWS + HEADER_SEARCH_ROWS + 1_000).unwrap_or(u32::MAX);
    let limits = Limits::DEFAULT
        .with_max_rows(rows)
        .with_max_columns(MAX_COLUMNS);
    let mut workbook = Workbook::open(bytes, &limits).map_err(from_sheet)?;
    let mut tables = Vec::new();
    // All sheets together hold at most twice one file's rows.
    let mut budget = 2 * (MAX_ROWS + HEADER_SEARCH_ROWS);
    for sheet in 0..workbook.sheets().len() {
        let mut table = Table::default();
        workbook
            .for_each_row(sheet, |line, cells| {
                let row = Row {
                    line,
                    cells: cells.iter().map(cell_from_sheet).collect(),
                };
                if row.is_blank() {
                    return Ok(xiaobao_sheet::Flow::Continue);
                }
                if budget == 0 {
                    return Err(too_many_rows());
                }
                budget -= 1;
                push_row(&mut table, row)?;
                Ok(xiaobao_sheet::Flow::Continue)
            })
            .map_err(from_sheet)??;
        tables.push(table);
    }
    Ok(tables)
}

fn too_many_rows() -> OnboardingError {
    OnboardingError::TooLarge(format!(
        "文件行数超过上限：一次最多导入 {MAX_ROWS} 行，请分批导入"
    ))
}

fn cell_from_sheet(cell: &xiaobao_sheet::Cell<'_>) -> Cell {
    match cell {
        xiaobao_sheet::Cell::Empty | xiaobao_sheet::Cell::Error => Cell::Empty,
        xiaobao_sheet::Cell::Text(s) => Cell::from_text(s),
        xiaobao_sheet::Cell::Number(f) => Cell::Number(*f),
        xiaobao_sheet::Cell::Bool(b) => Cell::Text(if *b { "TRUE" } else { "FALSE" }.into()),
    }
}

fn push_row(table: &mut Table, row: Row) -> Result<(), OnboardingError> {
    if row.is_blank() {
        return Ok(());
    }
    if table.rows.len() >= MAX_ROWS + HEADER_SEARCH_ROWS {
        return Err(too_many_rows());
    }
    table.rows.push(row);
    Ok(())
}

/// Decodes CSV bytes: UTF-8 (BOM or not), UTF-16 with BOM, otherwise GB18030.
pub(crate) fn decode_text(bytes: &[u8]) -> String {
    if let Some((encoding, bom_len)) = encoding_rs::Encoding::for_bom(bytes) {
        let (text, _) = encoding.decode_without_bom_handling(&bytes[bom_len..]);
        return text.into_owned();
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => {
            let (text, _, _) = encoding_rs::GB18030.decode(bytes);
            text.into_owned()
        }
    }
}

/// Parses CSV text (RFC 4180 quoting; comma, or tab / semicolon when the first line has
/// those and no comma). A record spanning lines inside quotes is one row, as in Excel. Fields
/// right of [`MAX_COLUMNS`] are ignored; more non-blank rows than one import may hold is
/// [`OnboardingError::TooLarge`] (never a silently shortened file).
pub(crate) fn read_csv(text: &str) -> Result<Table, OnboardingError> {
    let mut text = text;
    // Excel's delimiter hint line.
    if let Some(rest) = text.strip_prefix("sep=").and_then(|r| r.split_once('\n')) {
        text = rest.1;
    }
    let first_line = text.lines().next().unwrap_or("");
    let delimiter = if first_line.contains(',') {
        ','
    } else if first_line.contains('\t') {
        '\t'
    } else if first_line.contains(';') {
        ';'
    } else {
        ','
    };
    let max_fields = MAX_COLUMNS as usize;
    let mut table = Table::default();
    let mut record: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    let mut line: u32 = 0;
    let mut end_record = |record: &mut Vec<String>, table: &mut Table| {
        line = line.saturating_add(1);
        let row = Row {
            line,
            cells: record.drain(..).map(|f| Cell::from_text(&f)).collect(),
        };
        push_row(table, row)
    };
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_quotes {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    field.push('"');
                    chars.next();
                } else {
                    in_quotes = false;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => in_quotes = true,
            c if c == delimiter => {
                let f = std::mem::take(&mut field);
                if record.len() < max_fields {
                    record.push(f);
                }
            }
            '\r' | '\n' => {
                if c == '\r' && chars.peek() == Some(&'\n') {
                    chars.next();
                }
                let f = std::mem::take(&mut field);
                if record.len() < max_fields {
                    record.push(f);
                }
                end_record(&mut record, &mut table)?;
            }
            c => field.push(c),
        }
    }
    if !field.is_empty() || !record.is_empty() {
        if record.len() < max_fields {
            record.push(field);
        }
        end_record(&mut record, &mut table)?;
    }
    Ok(table)
}

/// The header row of a sheet and the column each known field sits in.
#[derive(Debug, Clone)]
pub(crate) struct Header<F> {
    /// Index into [`Table::rows`].
    pub(crate) index: usize,
    pub(crate) line: u32,
    /// (cell index, field), the first column of each field.
    pub(crate) columns: Vec<(usize, F)>,
}

impl<F: Copy + PartialEq> Header<F> {
    pub(crate) fn has(&self, field: F) -> bool {
        self.columns.iter().any(|(_, f)| *f == field)
    }

    /// The cell of `field` in `row`, `Empty` when the column is absent or the row short.
    pub(crate) fn cell<'r>(&self, row: &'r Row, field: F) -> &'r Cell {
        static EMPTY: Cell = Cell::Empty;
        self.columns
            .iter()
            .find(|(_, f)| *f == field)
            .and_then(|(i, _)| row.cells.get(*i))
            .unwrap_or(&EMPTY)
    }
}

/// Finds the header among the first rows: the row naming the most distinct known fields
/// (at least `min_fields`; the earliest wins a tie). `classify` maps a header key
/// ([`header_key`]) to a field; `counts` says whether a field counts towards the score (a
/// sequence-number column does not).
pub(crate) fn find_header<F: Copy + PartialEq>(
    table: &Table,
    classify: impl Fn(&str) -> Option<F>,
    counts: impl Fn(F) -> bool,
    min_fields: usize,
) -> Option<Header<F>> {
    let mut best: Option<(usize, Header<F>)> = None;
    for (index, row) in table.rows.iter().enumerate().take(HEADER_SEARCH_ROWS) {
        let mut columns: Vec<(usize, F)> = Vec::new();
        for (i, cell) in row.cells.iter().enumerate() {
            let Cell::Text(text) = cell else { continue };
            // Titles and instructions are sentences; headers are short.
            if text.chars().count() > 24 {
                continue;
            }
            if let Some(field) = classify(&header_key(text))
                && !columns.iter().any(|(_, f)| *f == field)
            {
                columns.push((i, field));
            }
        }
        let score = columns.iter().filter(|(_, f)| counts(*f)).count();
        if score >= min_fields && best.as_ref().is_none_or(|(s, _)| score > *s) {
            best = Some((
                score,
                Header {
                    index,
                    line: row.line,
                    columns,
                },
            ));
        }
    }
    best.map(|(_, header)| header)
}

/// Whether a row is the template's example row: a cell starting with 示例 / (示例) / 例: .
pub(crate) fn is_example_row(row: &Row) -> bool {
    row.cells.iter().any(|cell| match cell {
        Cell::Text(t) => {
            let t = t.trim_start_matches(['(', '[', '【', '〔']);
            t.starts_with("示例") || t.starts_with("例:") || t.starts_with("样例")
        }
        _ => false,
    })
}

/// Whether a row is a note under the data (`备注：…`, `注：…`): one filled cell saying so.
pub(crate) fn is_note_row(row: &Row) -> bool {
    let mut filled = row.cells.iter().filter(|c| !c.is_empty());
    match (filled.next(), filled.next()) {
        (Some(Cell::Text(t)), None) => {
            let t = t.trim_start_matches('*');
            ["备注", "注:", "注意", "说明", "填写说明", "使用说明"]
                .iter()
                .any(|p| t.starts_with(p))
        }
        _ => false,
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum F {
        Seq,
        Name,
        Mobile,
        Nature,
    }

    fn classify(k: &str) -> Option<F> {
        match k {
            "序号" => Some(F::Seq),
            "学校全称" | "学校名称" => Some(F::Name),
            "联系人手机号" | "联系电话" => Some(F::Mobile),
            "办学性质" => Some(F::Nature),
            _ => None,
        }
    }

    #[test]
    fn csv_quotes_lines_and_blank_rows() {
        let t =
            read_csv("a,b\r\n\"x, y\",\"say \"\"hi\"\"\"\n\n,,\n\"multi\nline\",2\n").expect("csv");
        assert_eq!(t.rows.len(), 3);
        assert_eq!(t.rows[1].line, 2);
        assert_eq!(t.rows[1].cells[0], Cell::Text("x, y".into()));
        assert_eq!(t.rows[1].cells[1], Cell::Text("say \"hi\"".into()));
        // Rows 3 and 4 are blank; the quoted newline keeps record 5 on one row.
        assert_eq!(t.rows[2].line, 5);
        assert_eq!(t.rows[2].cells[0], Cell::Text("multi line".into()));
    }

    #[test]
    fn csv_tab_separated_and_no_trailing_newline() {
        let t = read_csv("学校全称\t办学性质\n一中\t公办").expect("csv");
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[1].cells[1], Cell::Text("公办".into()));
    }

    #[test]
    fn decodes_utf8_bom_utf16_and_gb18030() {
        let text = "学校全称,办学性质\n一中,公办\n";
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend_from_slice(text.as_bytes());
        assert_eq!(decode_text(&bom), text);
        assert_eq!(decode_text(text.as_bytes()), text);
        let (gb, _, _) = encoding_rs::GB18030.encode(text);
        assert!(std::str::from_utf8(&gb).is_err());
        assert_eq!(decode_text(&gb), text);
        let mut utf16 = vec![0xFF, 0xFE];
        for unit in text.encode_utf16() {
            utf16.extend_from_slice(&unit.to_le_bytes());
        }
        assert_eq!(decode_text(&utf16), text);
    }

    #[test]
    fn header_found_below_title_and_instructions() {
        let t = read_csv(
            "XXX市XXX县批量导入学校模板,,\n\
             使用说明：请从第4行开始填写学校全称、办学性质等,,\n\
             ,,\n\
             序号, 学 校 名 称 ,＊联系电话（11位）,办学性质\n\
             1,一中,13812345678,公办\n",
        )
        .expect("csv");
        let h = find_header(&t, classify, |f| f != F::Seq, 2).unwrap();
        assert_eq!(h.line, 4);
        assert_eq!(h.index, 2);
        assert!(h.has(F::Name) && h.has(F::Mobile) && h.has(F::Nature));
        let row = &t.rows[3];
        assert_eq!(h.cell(row, F::Mobile), &Cell::Text("13812345678".into()));
        assert_eq!(h.cell(row, F::Name), &Cell::Text("一中".into()));
    }

    #[test]
    fn no_header_when_too_few_known_columns() {
        let t = read_csv("标题\n序号,学校全称\n1,一中\n").expect("csv");
        assert!(find_header(&t, classify, |f| f != F::Seq, 2).is_none());
    }

    #[test]
    fn example_and_note_rows() {
        let t = read_csv("（示例）一中,公办\n例：二中,公办\n备注：请于4月9日前报送,,\n三中,公办\n")
            .expect("csv");
        assert!(is_example_row(&t.rows[0]));
        assert!(is_example_row(&t.rows[1]));
        assert!(is_note_row(&t.rows[2]));
        assert!(!is_example_row(&t.rows[3]) && !is_note_row(&t.rows[3]));
    }

    #[test]
    fn workbook_rows_keep_excel_line_numbers_and_numbers() {
        let mut wb = rust_xlsxwriter::Workbook::new();
        let ws = wb.add_worksheet();
        ws.merge_range(0, 0, 0, 2, "学校导入模板", &rust_xlsxwriter::Format::new())
            .unwrap();
        ws.write_string(2, 0, "学校全称").unwrap();
        ws.write_string(2, 1, "联系电话").unwrap();
        ws.write_string(4, 0, "一中").unwrap();
        ws.write_number(4, 1, 13_812_345_678.0).unwrap();
        let bytes = wb.save_to_buffer().unwrap();
        let tables = read_tables(&bytes).unwrap();
        assert_eq!(tables.len(), 1);
        let lines: Vec<u32> = tables[0].rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![1, 3, 5]);
        assert_eq!(tables[0].rows[2].cells[1], Cell::Number(13_812_345_678.0));
    }

    #[test]
    fn garbage_is_not_a_workbook() {
        let err = read_tables(b"PK\x03\x04garbage").unwrap_err();
        assert!(matches!(err, OnboardingError::Unreadable(_)), "{err}");
        assert!(read_tables(b"").is_err());
    }
}
