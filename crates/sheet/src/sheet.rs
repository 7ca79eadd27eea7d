//! Streaming a worksheet's `<sheetData>` row by row.

use std::borrow::Cow;
use std::io::Read;

use quick_xml::events::{BytesStart, Event};

use crate::cellref::{EXCEL_COLUMNS, EXCEL_ROWS, column_name, parse_ref, parse_row, valid_range};
use crate::shared::SharedStrings;
use crate::xml::{Xml, attributes, decode_excel_escapes, local_name, resolve_ref};
use crate::{Cell, Flow, Limits, SheetError};

/// Where in the worksheet the parser is. Only the path root → sheetData → row → c → v / is
/// is recognised; anything else is `Other`, and so is everything inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Root,
    SheetData,
    Row,
    Cell,
    Value,
    Inline,
    InlineRun,
    InlineText,
    Other,
}

/// A cell's `t` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Number,
    Shared,
    FormulaText,
    Inline,
    Bool,
    Error,
    Date,
}

/// A stored cell before the row is handed out: text is a byte range of the row's arena.
#[derive(Debug, Clone, Copy)]
enum Raw {
    Empty,
    Shared(u32),
    Text(usize, usize),
    Number(f64),
    Bool(bool),
    Error,
}

struct CellState {
    column: u32,
    kind: Kind,
    stored: bool,
    has_value: bool,
    start: usize,
}

/// What closing an element asks the loop to do.
enum Step {
    Nothing,
    RowDone,
    SheetDone,
}

struct Parser<'s> {
    strings: &'s SharedStrings,
    max_rows: u32,
    max_columns: u32,
    max_cell_bytes: usize,
    stack: Vec<Tag>,
    /// The last row handed out or skipped, 0 before the first.
    previous: u32,
    line: u32,
    /// Whether `line` is settled (from `r=`, or by a cell); a row without `r` takes its
    /// number from its first cell reference when it has one.
    line_settled: bool,
    next_column: u32,
    cell: Option<CellState>,
    raws: Vec<Raw>,
    arena: String,
    seen_root: bool,
}

fn bad(line: u32, what: &str) -> SheetError {
    SheetError::corrupt(format!("第 {line} 行{what}"))
}

fn bad_cell(line: u32, column: u32, what: &str) -> SheetError {
    SheetError::corrupt(format!(
        "第 {line} 行 {} 列{what}",
        column_name(column.saturating_add(1))
    ))
}

impl<'s> Parser<'s> {
    fn new(strings: &'s SharedStrings, limits: &Limits) -> Self {
        Self {
            strings,
            max_rows: limits.max_rows.min(EXCEL_ROWS),
            max_columns: limits.max_columns.min(EXCEL_COLUMNS),
            max_cell_bytes: limits.max_cell_bytes,
            stack: Vec::with_capacity(16),
            previous: 0,
            line: 0,
            line_settled: false,
            next_column: 0,
            cell: None,
            raws: Vec::with_capacity(16),
            arena: String::with_capacity(256),
            seen_root: false,
        }
    }

    fn open(&mut self, e: &BytesStart<'_>, empty: bool) -> Result<Step, SheetError> {
        let name = local_name(e);
        let tag = match (self.stack.last().copied(), name) {
            (None, _) => {
                self.seen_root = true;
                Tag::Root
            }
            (Some(Tag::Root), "sheetData") => Tag::SheetData,
            (Some(Tag::Root), "dimension") => {
                let [range] = attributes(e, ["ref"])?;
                if range.is_some_and(|r| !valid_range(&r)) {
                    return Err(SheetError::corrupt("工作表范围（dimension）无效"));
                }
                Tag::Other
            }
            (Some(Tag::SheetData), "row") => {
                self.start_row(e)?;
                Tag::Row
            }
            (Some(Tag::Row), "c") => {
                self.start_cell(e)?;
                Tag::Cell
            }
            (Some(Tag::Cell), "v") => {
                self.start_value(false)?;
                Tag::Value
            }
            (Some(Tag::Cell), "is") => {
                self.start_value(true)?;
                Tag::Inline
            }
            (Some(Tag::Inline), "t") | (Some(Tag::InlineRun), "t") => Tag::InlineText,
            (Some(Tag::Inline), "r") => Tag::InlineRun,
            _ => Tag::Other,
        };
        self.stack.push(tag);
        if empty {
            self.close(name)
        } else {
            Ok(Step::Nothing)
        }
    }

    /// An element ends. The end tag of every element that carries data must name it (the
    /// others are only counted, which is enough to catch a mismatch on the next one).
    fn close(&mut self, name: &str) -> Result<Step, SheetError> {
        let tag = self.stack.pop();
        let matches = match tag {
            Some(Tag::SheetData) => name == "sheetData",
            Some(Tag::Row) => name == "row",
            Some(Tag::Cell) => name == "c",
            Some(Tag::Value) => name == "v",
            Some(Tag::Inline) => name == "is",
            Some(Tag::InlineRun) => name == "r",
            Some(Tag::InlineText) => name == "t",
            Some(Tag::Root | Tag::Other) | None => true,
        };
        if !matches {
            return Err(SheetError::corrupt("工作表的 XML 格式错误"));
        }
        Ok(match tag {
            Some(Tag::Cell) => {
                self.finish_cell()?;
                Step::Nothing
            }
            Some(Tag::Row) => Step::RowDone,
            Some(Tag::SheetData) => Step::SheetDone,
            _ => Step::Nothing,
        })
    }

    fn start_row(&mut self, e: &BytesStart<'_>) -> Result<(), SheetError> {
        let [r] = attributes(e, ["r"])?;
        self.next_column = 0;
        self.raws.clear();
        self.arena.clear();
        match r {
            Some(r) => {
                let line = parse_row(&r)
                    .ok_or_else(|| bad(self.previous.saturating_add(1), "附近有无效的行号"))?;
                self.settle(line)?;
            }
            None => {
                self.line = self.previous.saturating_add(1);
                self.line_settled = false;
            }
        }
        Ok(())
    }

    /// Fixes the row's number; rows must come in increasing order.
    fn settle(&mut self, line: u32) -> Result<(), SheetError> {
        if line <= self.previous {
            let previous = self.previous;
            return Err(bad(
                line,
                &format!("出现在第 {previous} 行之后，行的顺序错误"),
            ));
        }
        self.line = line;
        self.line_settled = true;
        Ok(())
    }

    fn start_cell(&mut self, e: &BytesStart<'_>) -> Result<(), SheetError> {
        let [r, t] = attributes(e, ["r", "t"])?;
        let column = match r {
            Some(r) => {
                let (column, row) =
                    parse_ref(&r).ok_or_else(|| bad(self.line, "有无效的单元格位置"))?;
                if !self.line_settled {
                    self.settle(row)?;
                } else if row != self.line {
                    return Err(bad(self.line, "的单元格位置与行号不符"));
                }
                if column < self.next_column {
                    return Err(bad(self.line, "的单元格顺序错误"));
                }
                column
            }
            None => {
                self.line_settled = true;
                if self.next_column >= EXCEL_COLUMNS {
                    return Err(bad(self.line, "的单元格超过 16384 列"));
                }
                self.next_column
            }
        };
        self.next_column = column + 1;
        let kind = match t.as_deref() {
            None | Some("n") => Kind::Number,
            Some("s") => Kind::Shared,
            Some("str") => Kind::FormulaText,
            Some("inlineStr") => Kind::Inline,
            Some("b") => Kind::Bool,
            Some("e") => Kind::Error,
            Some("d") => Kind::Date,
            Some(_) => return Err(bad_cell(self.line, column, "的单元格类型无效")),
        };
        self.cell = Some(CellState {
            column,
            kind,
            stored: column < self.max_columns,
            has_value: false,
            start: self.arena.len(),
        });
        Ok(())
    }

    /// A `<v>` or `<is>` begins: the cell has a value, so its row must be within the limit.
    fn start_value(&mut self, inline: bool) -> Result<(), SheetError> {
        if self.line > self.max_rows {
            return Err(SheetError::TooManyRows {
                line: self.line,
                max: self.max_rows,
            });
        }
        if let Some(cell) = &mut self.cell
            && (cell.kind == Kind::Inline) == inline
        {
            cell.has_value = true;
        }
        Ok(())
    }

    /// Whether text events now belong to the current cell's value.
    fn capturing(&self) -> bool {
        let Some(cell) = &self.cell else {
            return false;
        };
        let wanted = if cell.kind == Kind::Inline {
            Tag::InlineText
        } else {
            Tag::Value
        };
        cell.stored && self.stack.last() == Some(&wanted)
    }

    fn text(&mut self, piece: &str) -> Result<(), SheetError> {
        if !self.capturing() {
            return Ok(());
        }
        let Some(cell) = &self.cell else {
            return Ok(());
        };
        let length = self.arena.len().saturating_sub(cell.start) + piece.len();
        if length > self.max_cell_bytes {
            return Err(SheetError::CellTooLong {
                line: self.line,
                column: cell.column + 1,
            });
        }
        self.arena.push_str(piece);
        Ok(())
    }

    fn finish_cell(&mut self) -> Result<(), SheetError> {
        let Some(cell) = self.cell.take() else {
            return Ok(());
        };
        if !cell.stored {
            return Ok(());
        }
        let (line, column) = (self.line, cell.column);
        let raw = if cell.has_value {
            self.value(&cell)?
        } else {
            Raw::Empty
        };
        if !matches!(raw, Raw::Text(..)) {
            self.arena.truncate(cell.start);
        }
        if matches!(raw, Raw::Empty) {
            return Ok(());
        }
        let Ok(index) = usize::try_from(column) else {
            return Ok(());
        };
        if self.raws.len() == index {
            self.raws.push(raw);
            return Ok(());
        }
        if self.raws.len() < index {
            self.raws.resize(index + 1, Raw::Empty);
        }
        match self.raws.get_mut(index) {
            Some(slot) => *slot = raw,
            None => return Err(bad_cell(line, column, "无法读取")),
        }
        Ok(())
    }

    fn value(&mut self, cell: &CellState) -> Result<Raw, SheetError> {
        let (line, column) = (self.line, cell.column);
        let text = self.arena.get(cell.start..).unwrap_or_default();
        Ok(match cell.kind {
            Kind::Shared => {
                let index = text
                    .trim()
                    .parse::<u32>()
                    .map_err(|_| bad_cell(line, column, "的共享字符串编号无效"))?;
                let shared = self
                    .strings
                    .get(index)
                    .ok_or_else(|| bad_cell(line, column, "引用了不存在的共享字符串"))?;
                if shared.len() > self.max_cell_bytes {
                    return Err(SheetError::CellTooLong {
                        line,
                        column: column + 1,
                    });
                }
                if shared.is_empty() {
                    Raw::Empty
                } else {
                    Raw::Shared(index)
                }
            }
            Kind::Number => {
                let text = text.trim();
                if text.is_empty() {
                    Raw::Empty
                } else {
                    match text.parse::<f64>() {
                        Ok(n) if n.is_finite() => Raw::Number(n),
                        _ => return Err(bad_cell(line, column, "的数字无效")),
                    }
                }
            }
            Kind::Bool => match text.trim() {
                "1" | "true" | "TRUE" => Raw::Bool(true),
                "0" | "false" | "FALSE" => Raw::Bool(false),
                "" => Raw::Empty,
                _ => return Err(bad_cell(line, column, "的逻辑值无效")),
            },
            Kind::Error => Raw::Error,
            Kind::FormulaText | Kind::Inline | Kind::Date => {
                decode_excel_escapes(&mut self.arena, cell.start);
                if self.arena.len() == cell.start {
                    Raw::Empty
                } else {
                    Raw::Text(cell.start, self.arena.len())
                }
            }
        })
    }
}

/// Gives a vector of cells borrowing from one row a new lifetime, keeping its allocation
/// (the vector is emptied first, so no cell outlives what it borrowed).
fn recycle<'x, 'y>(mut cells: Vec<Cell<'x>>) -> Vec<Cell<'y>> {
    cells.clear();
    cells.into_iter().map(|_| Cell::Empty).collect()
}

/// Streams the rows of one worksheet part into `f`.
pub(crate) fn stream<R, F, E>(
    xml: &mut Xml<R>,
    strings: &SharedStrings,
    limits: &Limits,
    delivered: &mut u64,
    f: &mut F,
) -> Result<Result<(), E>, SheetError>
where
    R: Read,
    F: FnMut(u32, &[Cell<'_>]) -> Result<Flow, E>,
{
    // The parser checks the end tags of the elements it reads itself, more cheaply.
    xml.check_end_names(false);
    let mut parser = Parser::new(strings, limits);
    let mut spare: Vec<Cell<'static>> = Vec::with_capacity(16);
    let mut scratch = [0u8; 4];
    loop {
        let step = match xml.next()? {
            Event::Start(e) => parser.open(&e, false)?,
            Event::Empty(e) => parser.open(&e, true)?,
            Event::End(e) => parser.close(e.local_name().into_inner())?,
            Event::Text(t) => {
                if parser.capturing() {
                    parser.text(&t.xml10_content())?;
                }
                Step::Nothing
            }
            Event::CData(t) => {
                parser.text(&t.xml10_content())?;
                Step::Nothing
            }
            Event::GeneralRef(r) => {
                if parser.capturing() {
                    let c = resolve_ref(&r)?;
                    parser.text(c.encode_utf8(&mut scratch))?;
                }
                Step::Nothing
            }
            Event::Eof if parser.seen_root => return Ok(Ok(())),
            Event::Eof => return Err(SheetError::corrupt("工作表的 XML 格式错误")),
            _ => Step::Nothing,
        };
        match step {
            Step::Nothing => {}
            Step::SheetDone => return Ok(Ok(())),
            Step::RowDone => {
                parser.previous = parser.line;
                if parser.raws.is_empty() {
                    continue;
                }
                *delivered = delivered.saturating_add(parser.raws.len() as u64);
                if *delivered > limits.max_cells {
                    return Err(SheetError::too_complex("单元格过多"));
                }
                let mut cells = recycle(std::mem::take(&mut spare));
                let arena = parser.arena.as_str();
                cells.extend(parser.raws.iter().map(|raw| {
                    match *raw {
                        Raw::Empty => Cell::Empty,
                        Raw::Shared(i) => strings
                            .get(i)
                            .map_or(Cell::Empty, |s| Cell::Text(Cow::Borrowed(s))),
                        Raw::Text(from, to) => arena
                            .get(from..to)
                            .map_or(Cell::Empty, |s| Cell::Text(Cow::Borrowed(s))),
                        Raw::Number(n) => Cell::Number(n),
                        Raw::Bool(b) => Cell::Bool(b),
                        Raw::Error => Cell::Error,
                    }
                }));
                let flow = f(parser.line, &cells);
                spare = recycle(cells);
                match flow {
                    Ok(Flow::Continue) => {}
                    Ok(Flow::Stop) => return Ok(Ok(())),
                    Err(e) => return Ok(Err(e)),
                }
            }
        }
    }
}
