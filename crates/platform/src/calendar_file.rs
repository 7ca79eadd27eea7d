//! An uploaded national holiday calendar: TOML in the format of `holidays-cn.toml`, or an XLSX
//! sheet with the columns 日期 and 类型 (休 = a weekday off, 班 = a weekend worked). Every
//! problem is reported with its line; what the file changes against the stored calendar is
//! computed per year, day by day.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Duration, NaiveDate};
use serde::Serialize;
use xiaobao_domain::calendar::{CalendarError, WorkCalendar};
use xiaobao_sheet::{Cell, Flow, Format, Limits, Workbook};

/// The largest calendar file accepted.
pub const MAX_FILE_BYTES: usize = 256 * 1024;

/// Why a calendar file is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileProblem {
    TooLarge,
    /// Not TOML text nor XLSX.
    Format(String),
    /// Problems, each a Chinese sentence starting with its line.
    Lines(Vec<String>),
}

impl FileProblem {
    pub fn message(&self) -> String {
        match self {
            Self::TooLarge => format!("文件过大，日历文件最多 {} KB", MAX_FILE_BYTES / 1024),
            Self::Format(m) => m.clone(),
            Self::Lines(lines) => {
                format!("日历文件有 {} 处错误：{}", lines.len(), lines.join("；"))
            }
        }
    }
}

/// Reads an uploaded file as a calendar.
pub fn parse(bytes: &[u8]) -> Result<WorkCalendar, FileProblem> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(FileProblem::TooLarge);
    }
    match xiaobao_sheet::sniff(bytes) {
        Format::Xlsx => parse_xlsx(bytes),
        Format::Text => {
            let text = std::str::from_utf8(bytes).map_err(|_| {
                FileProblem::Format(
                    "日历文件不是 UTF-8 编码的文本，请上传 TOML 或 XLSX 文件".into(),
                )
            })?;
            parse_toml(text)
        }
        Format::Empty => Err(FileProblem::Format("上传的文件是空的".into())),
        _ => Err(FileProblem::Format(
            "无法识别的文件，请上传 TOML（.toml）或 Excel（.xlsx）格式的日历".into(),
        )),
    }
}

/// The 1-based line of the `nth` (0-based) line containing `needle`.
fn line_with(text: &str, needle: &str, nth: usize) -> Option<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.contains(needle))
        .nth(nth)
        .map(|(i, _)| i + 1)
}

/// A TOML calendar, each problem with its line.
pub fn parse_toml(text: &str) -> Result<WorkCalendar, FileProblem> {
    let strip_bom = text.strip_prefix('\u{feff}').unwrap_or(text);
    WorkCalendar::from_toml_str(strip_bom).map_err(|e| {
        let quoted = |d: &str| format!("\"{d}\"");
        let line = match &e {
            CalendarError::Syntax { line, .. } => *line,
            CalendarError::BadYear { key } => line_with(strip_bom, &format!("[{key}]"), 0),
            CalendarError::BadDate { value, .. } => line_with(strip_bom, &quoted(value), 0),
            CalendarError::WrongYear { date, .. } | CalendarError::WorkNotWeekend { date } => {
                line_with(strip_bom, &quoted(&date.to_string()), 0)
            }
            CalendarError::Duplicate { date } | CalendarError::BothOffAndWork { date } => {
                let d = quoted(&date.to_string());
                line_with(strip_bom, &d, 1).or_else(|| line_with(strip_bom, &d, 0))
            }
        };
        let message = match &e {
            // The syntax message carries its own line.
            CalendarError::Syntax { .. } => e.to_string(),
            _ => match line {
                Some(l) => format!("第{l}行：{e}"),
                None => e.to_string(),
            },
        };
        FileProblem::Lines(vec![message])
    })
}

/// A date cell: `2027-01-01`, `2027/1/1`, or an Excel date serial.
fn date_of(cell: &Cell<'_>) -> Option<NaiveDate> {
    match cell {
        Cell::Text(t) => {
            let t = t.trim();
            NaiveDate::parse_from_str(t, "%Y-%m-%d")
                .or_else(|_| NaiveDate::parse_from_str(t, "%Y/%m/%d"))
                .or_else(|_| NaiveDate::parse_from_str(t, "%Y年%m月%d日"))
                .ok()
        }
        Cell::Number(n) if n.fract() == 0.0 && (1.0..2_958_466.0).contains(n) => {
            // Excel's day 1 is 1900-01-01, counting the 29th of February 1900 it believed in.
            #[expect(clippy::cast_possible_truncation, reason = "range checked above")]
            let days = *n as i64;
            NaiveDate::from_ymd_opt(1899, 12, 30).map(|base| base + Duration::days(days))
        }
        _ => None,
    }
}

/// An XLSX calendar: a header row naming 日期 and 类型, then one day per row.
pub fn parse_xlsx(bytes: &[u8]) -> Result<WorkCalendar, FileProblem> {
    let limits = Limits::DEFAULT.with_max_rows(5_000);
    let mut book =
        Workbook::open(bytes, &limits).map_err(|e| FileProblem::Format(e.to_string()))?;
    let mut problems = Vec::new();
    let mut columns: Option<(usize, usize)> = None;
    // date → (line, off?)
    let mut days: BTreeMap<NaiveDate, (u32, bool)> = BTreeMap::new();
    let read = book
        .for_each_row(0, |line, cells| {
            let text = |i: usize| {
                cells
                    .get(i)
                    .and_then(Cell::as_text)
                    .map(str::trim)
                    .unwrap_or("")
            };
            let Some((date_col, kind_col)) = columns else {
                let find = |name: &str| (0..cells.len()).find(|i| text(*i).contains(name));
                if let (Some(d), Some(k)) = (find("日期"), find("类型")) {
                    columns = Some((d, k));
                }
                return Ok::<_, String>(Flow::Continue);
            };
            let date_cell = cells.get(date_col).cloned().unwrap_or(Cell::Empty);
            let Some(date) = date_of(&date_cell) else {
                problems.push(format!(
                    "第{line}行：日期无法识别，应为 2027-01-01 这样的日期"
                ));
                return Ok(Flow::Continue);
            };
            let off = match text(kind_col) {
                "休" | "放假" | "休息" => true,
                "班" | "上班" | "调休上班" => false,
                _ => {
                    problems.push(format!(
                        "第{line}行：类型应为“休”（放假）或“班”（调休上班）"
                    ));
                    return Ok(Flow::Continue);
                }
            };
            if let Some((first, _)) = days.get(&date) {
                problems.push(format!("第{line}行：日期 {date} 与第{first}行重复"));
                return Ok(Flow::Continue);
            }
            days.insert(date, (line, off));
            Ok(Flow::Continue)
        })
        .map_err(|e| FileProblem::Format(e.to_string()))?;
    if let Err(e) = read {
        problems.push(e);
    }
    if columns.is_none() {
        return Err(FileProblem::Format(
            "表格中找不到表头“日期”和“类型”，请使用两列：日期、类型（休/班）".into(),
        ));
    }
    for (date, (line, off)) in &days {
        let weekend = date.weekday().number_from_monday() >= 6;
        if !*off && !weekend {
            problems.push(format!(
                "第{line}行：调休上班日 {date} 不是周末，只有周六、周日才需要标为“班”"
            ));
        }
    }
    if !problems.is_empty() {
        return Err(FileProblem::Lines(problems));
    }
    if days.is_empty() {
        return Err(FileProblem::Format("表格中没有任何日期".into()));
    }
    let years: BTreeSet<i32> = days.keys().map(Datelike::year).collect();
    let calendar = WorkCalendar::from_years(years.into_iter().map(|y| {
        let of = |want_off: bool| {
            days.iter()
                .filter(|(d, (_, off))| d.year() == y && *off == want_off)
                .map(|(d, _)| *d)
                .collect::<Vec<_>>()
        };
        (y, of(true), of(false))
    }))
    .map_err(|e| FileProblem::Lines(vec![e.to_string()]))?;
    Ok(calendar)
}

/// The calendar as TOML in the format of `holidays-cn.toml` (what an import stores).
pub fn to_toml(calendar: &WorkCalendar) -> String {
    let mut out = String::new();
    let list = |days: &[NaiveDate]| {
        days.iter()
            .map(|d| format!("\"{d}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for year in calendar.known_years() {
        let (off, work) = calendar.year_days(year);
        out.push_str(&format!(
            "[{year}]\noff = [{}]\nwork = [{}]\n\n",
            list(&off),
            list(&work)
        ));
    }
    out
}

/// What a file changes in one year.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct YearChange {
    pub year: i32,
    /// The year is not stored yet (plain Monday–Friday rules applied to it so far).
    pub new_year: bool,
    /// Days that were working days and become days off.
    #[schema(value_type = Vec<String>)]
    pub to_off: Vec<NaiveDate>,
    /// Days that were off and become working days.
    #[schema(value_type = Vec<String>)]
    pub to_work: Vec<NaiveDate>,
}

/// Per year of `new`, the days whose status differs from `stored`.
pub fn changes(stored: &WorkCalendar, new: &WorkCalendar) -> Vec<YearChange> {
    let stored_years = stored.known_years();
    new.known_years()
        .into_iter()
        .map(|year| {
            let (old_off, old_work) = stored.year_days(year);
            let (new_off, new_work) = new.year_days(year);
            let touched: BTreeSet<NaiveDate> = old_off
                .into_iter()
                .chain(old_work)
                .chain(new_off)
                .chain(new_work)
                .collect();
            let mut to_off = Vec::new();
            let mut to_work = Vec::new();
            for day in touched {
                match (stored.is_working_day(day), new.is_working_day(day)) {
                    (true, false) => to_off.push(day),
                    (false, true) => to_work.push(day),
                    _ => {}
                }
            }
            YearChange {
                year,
                new_year: !stored_years.contains(&year),
                to_off,
                to_work,
            }
        })
        .collect()
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    const Y2027: &str = "[2027]\noff = [\"2027-10-01\", \"2027-10-04\"]\nwork = [\"2027-09-26\"]\n";

    #[test]
    fn a_toml_year_and_its_changes() {
        let cal = parse(Y2027.as_bytes()).unwrap();
        assert_eq!(cal.known_years(), [2027]);
        let c = changes(WorkCalendar::china(), &cal);
        assert_eq!(c.len(), 1);
        assert!(c[0].new_year);
        assert_eq!(c[0].to_off.len(), 2);
        assert_eq!(
            c[0].to_work,
            [NaiveDate::from_ymd_opt(2027, 9, 26).unwrap()]
        );
        let again = parse(to_toml(&cal).as_bytes()).unwrap();
        assert_eq!(again, cal);
        assert!(
            changes(&cal, &again)
                .iter()
                .all(|y| y.to_off.is_empty() && y.to_work.is_empty())
        );
    }

    #[test]
    fn toml_problems_name_their_line() {
        let bad = "[2027]\noff = [\"2027-10-01\",\n  \"2027-13-01\"]\n";
        let FileProblem::Lines(lines) = parse(bad.as_bytes()).unwrap_err() else {
            panic!("lines expected");
        };
        assert!(lines[0].starts_with("第3行："), "{lines:?}");
        let weekday = "[2027]\nwork = [\"2027-10-08\"]\n";
        let FileProblem::Lines(lines) = parse(weekday.as_bytes()).unwrap_err() else {
            panic!("lines expected");
        };
        assert!(
            lines[0].starts_with("第2行：") && lines[0].contains("不是周末"),
            "{lines:?}"
        );
        assert!(matches!(
            parse(b"\x89PNG\r\n\x1a\n\0\0"),
            Err(FileProblem::Format(_)) | Err(FileProblem::Lines(_))
        ));
        assert_eq!(
            parse(&vec![b'#'; MAX_FILE_BYTES + 1]),
            Err(FileProblem::TooLarge)
        );
    }

    fn xlsx(rows: &[(&str, &str)]) -> Vec<u8> {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        sheet.write_string(0, 0, "日期").unwrap();
        sheet.write_string(0, 1, "类型").unwrap();
        for (i, (date, kind)) in rows.iter().enumerate() {
            let row = u32::try_from(i).unwrap() + 1;
            sheet.write_string(row, 0, *date).unwrap();
            sheet.write_string(row, 1, *kind).unwrap();
        }
        book.save_to_buffer().unwrap()
    }

    #[test]
    fn an_xlsx_calendar_with_its_problems_by_line() {
        let good = xlsx(&[("2027-10-01", "休"), ("2027-09-26", "班")]);
        let cal = parse(&good).unwrap();
        assert_eq!(cal.year_days(2027).0.len(), 1);
        let bad = xlsx(&[
            ("2027-10-01", "休"),
            ("2027-09-26", "班"),
            ("明天", "休"),
            ("2027-10-08", "班"),
        ]);
        let FileProblem::Lines(lines) = parse(&bad).unwrap_err() else {
            panic!("lines expected");
        };
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].starts_with("第4行："));
        assert!(lines[1].starts_with("第5行："));
    }
}
