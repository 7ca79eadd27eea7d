//! Finding the header row and checking each data row as it streams past.
//!
//! Readers hand rows one at a time ([`Validator::row`]), so a 100,000-row workbook is never
//! held as a grid of cells: only the accepted rows and the problems are kept.

use std::borrow::Cow;
use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};
use xiaobao_domain::{Gender, InsuredGroup, ResidentId, ResidentIdError, SchoolType};

use crate::normalise::{Spaces, clean, header_key, is_blank, looks_scientific, number_text};
use crate::{MAX_ROWS, ParsedRoster, RosterError, RosterRow, RosterSpec, RowProblem};

/// How many non-blank rows from the top of a sheet are searched for the header.
const HEADER_SEARCH_ROWS: usize = 30;
/// A header cell longer than this is a title or an instruction, not a column name.
const MAX_HEADER_CHARS: usize = 24;
/// Columns beyond this are never part of a roster (formatting often reaches column XFD).
pub(crate) const MAX_COLUMNS: usize = 256;

const NAME_MAX_CHARS: usize = 30;
const CLASS_MAX_CHARS: usize = 30;
const STUDENT_NO_MAX_CHARS: usize = 40;
const POST_MAX_CHARS: usize = 30;
const NOTE_MAX_CHARS: usize = 200;

/// One cell's value as a reader sees it, its text not yet normalised.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val<'a> {
    Empty,
    Text(Cow<'a, str>),
    Number(f64),
}

impl Val<'_> {
    fn is_blank(&self) -> bool {
        match self {
            Val::Empty => true,
            Val::Text(t) => is_blank(t),
            Val::Number(_) => false,
        }
    }

    /// The cell as cleaned text; numbers as a person saw them.
    fn text(&self, spaces: Spaces) -> Cow<'_, str> {
        match self {
            Val::Empty => Cow::Borrowed(""),
            Val::Text(t) => clean(t, spaces),
            Val::Number(n) => Cow::Owned(number_text(*n)),
        }
    }
}

/// A cell of some reader's row type.
pub(crate) trait CellValue {
    fn val(&self) -> Val<'_>;
}

/// The columns a roster may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Name,
    Gender,
    Class,
    Id,
    StudentNo,
    Post,
    Note,
}

impl Field {
    fn classify(key: &str) -> Option<Field> {
        Some(match key {
            "学生姓名" | "姓名" | "幼儿姓名" | "学员姓名" | "教职工姓名" | "职工姓名"
            | "教师姓名" | "实习学生姓名" | "实习生姓名" | "被保险人姓名" => {
                Field::Name
            }
            "性别" => Field::Gender,
            "班级" | "班级名称" | "所在班级" | "所属班级" | "年级班级" | "年级及班级" => {
                Field::Class
            }
            "身份证号"
            | "身份证号码"
            | "身份证件号"
            | "身份证件号码"
            | "公民身份号码"
            | "公民身份证号"
            | "公民身份证号码"
            | "证件号码"
            | "证件号"
            | "身份证" => Field::Id,
            "学籍号" | "全国学籍号" | "学籍号码" | "学籍编号" => Field::StudentNo,
            "岗位" | "职务" | "岗位/职务" | "岗位职务" | "职位" | "岗位名称" => {
                Field::Post
            }
            "备注" => Field::Note,
            _ => return None,
        })
    }
}

/// Where each column of the roster sits (absolute column indexes).
#[derive(Debug, Clone, Copy)]
struct Columns {
    name: usize,
    gender: usize,
    id: usize,
    class: Option<usize>,
    student_no: Option<usize>,
    post: Option<usize>,
    note: Option<usize>,
}

/// What the reader should do after a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    /// No header near the top of this sheet: try the next one.
    NextSheet,
}

/// The column names problems are reported under.
struct Labels {
    name: &'static str,
    /// Who the roster lists, for the age reason: 初中学生, 教职工, 实习学生.
    who: &'static str,
    ages: (i32, i32),
}

fn labels(spec: &RosterSpec) -> Labels {
    match spec.group {
        InsuredGroup::Staff => Labels {
            name: "姓名",
            who: "教职工",
            ages: (16, 75),
        },
        InsuredGroup::Intern => Labels {
            name: "学生姓名",
            who: "实习学生",
            ages: (15, 30),
        },
        InsuredGroup::Student => {
            let (who, ages) = match spec.school_type {
                SchoolType::Kindergarten => ("幼儿园幼儿", (2, 8)),
                SchoolType::Primary => ("小学学生", (5, 15)),
                SchoolType::JuniorHigh => ("初中学生", (10, 19)),
                SchoolType::SeniorHigh => ("高中学生", (13, 22)),
                SchoolType::Vocational => ("中职学生", (13, 30)),
                SchoolType::HigherEducation => ("高校学生", (15, 60)),
                SchoolType::Special => ("特殊教育学校学生", (3, 30)),
                SchoolType::NineYear => ("九年一贯制学校学生", (5, 19)),
                SchoolType::TwelveYear => ("十二年一贯制学校学生", (5, 22)),
            };
            Labels {
                name: "学生姓名",
                who,
                ages,
            }
        }
    }
}

const GENDER: &str = "性别";
const CLASS: &str = "班级";
const ID: &str = "身份证号";
const STUDENT_NO: &str = "学籍号";
const POST: &str = "岗位";
const NOTE: &str = "备注";

/// Full years between `birth` and `today`.
fn age_on(birth: NaiveDate, today: NaiveDate) -> i32 {
    let mut age = today.year() - birth.year();
    if (today.month(), today.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age
}

/// The ID as one number (17 digits, then the check character as 0–10) for duplicate checks.
fn id_key(id: &ResidentId) -> u64 {
    id.as_str().bytes().fold(0u64, |acc, b| match b {
        b'0'..=b'9' => acc * 11 + u64::from(b - b'0'),
        _ => acc * 11 + 10,
    })
}

/// A roster row's cells, each column looked up once.
struct RowCells<'a> {
    name: Val<'a>,
    gender: Val<'a>,
    id: Val<'a>,
    class: Val<'a>,
    student_no: Val<'a>,
    post: Val<'a>,
    note: Val<'a>,
}

impl RowCells<'_> {
    fn all(&self) -> [&Val<'_>; 7] {
        [
            &self.name,
            &self.gender,
            &self.id,
            &self.class,
            &self.student_no,
            &self.post,
            &self.note,
        ]
    }
}

/// Rows under a footer like this are signatures and totals, not people.
const FOOTER_PREFIXES: [&str; 16] = [
    "备注",
    "注:",
    "注意",
    "说明",
    "填写说明",
    "填表人",
    "制表人",
    "填报人",
    "审核人",
    "负责人",
    "校长",
    "联系人",
    "联系电话",
    "合计",
    "总计",
    "共计",
];

/// Rows of a template's example, never a real person.
const EXAMPLE_PREFIXES: [&str; 4] = ["示例", "(示例)", "例:", "样例"];

/// Validates rows as they are read.
pub(crate) struct Validator<'s> {
    spec: &'s RosterSpec,
    labels: Labels,
    header: Option<Columns>,
    /// Non-blank rows seen in the current sheet while looking for the header.
    searched: usize,
    data_rows: usize,
    rows: Vec<RosterRow>,
    problems: Vec<RowProblem>,
    /// ID key → first line.
    seen: HashMap<u64, u32>,
    /// The most data rows accepted, and the headcount that bound comes from (if any).
    max_rows: usize,
    declared: Option<u32>,
}

impl<'s> Validator<'s> {
    pub(crate) fn new(spec: &'s RosterSpec) -> Self {
        Self {
            spec,
            labels: labels(spec),
            header: None,
            searched: 0,
            data_rows: 0,
            rows: Vec::new(),
            problems: Vec::new(),
            seen: HashMap::new(),
            max_rows: MAX_ROWS,
            declared: None,
        }
    }

    /// Accepts at most `declared` data rows plus a small margin (the headcount the school
    /// entered with the upload), never more than [`MAX_ROWS`]: a file with far more rows is
    /// refused before they are checked.
    pub(crate) fn bounded_by(mut self, declared: u32) -> Self {
        let margin = (declared / 20).max(10);
        let bound = usize::try_from(declared.saturating_add(margin)).unwrap_or(MAX_ROWS);
        self.max_rows = bound.min(MAX_ROWS);
        self.declared = Some(declared);
        self
    }

    /// A new sheet begins: the header search starts over.
    pub(crate) fn start_sheet(&mut self) {
        self.searched = 0;
    }

    /// Whether a sheet had the header (later sheets are then not read).
    pub(crate) fn has_header(&self) -> bool {
        self.header.is_some()
    }

    /// One spreadsheet row: `cells[0]` is the cell of column `offset`.
    pub(crate) fn row<C: CellValue>(
        &mut self,
        line: u32,
        cells: &[C],
        offset: usize,
    ) -> Result<Flow, RosterError> {
        match self.header {
            Some(columns) => {
                self.data_row(line, cells, offset, columns)?;
                Ok(Flow::Continue)
            }
            None => {
                if cells.iter().all(|c| c.val().is_blank()) {
                    return Ok(Flow::Continue);
                }
                self.searched += 1;
                if let Some(columns) = self.detect_header(cells, offset)? {
                    self.header = Some(columns);
                    return Ok(Flow::Continue);
                }
                if self.searched >= HEADER_SEARCH_ROWS {
                    Ok(Flow::NextSheet)
                } else {
                    Ok(Flow::Continue)
                }
            }
        }
    }

    /// The header is the first row naming at least two roster columns; it must then name all
    /// the required ones.
    fn detect_header<C: CellValue>(
        &self,
        cells: &[C],
        offset: usize,
    ) -> Result<Option<Columns>, RosterError> {
        let mut found: Vec<(Field, usize)> = Vec::new();
        for (i, cell) in cells.iter().enumerate() {
            let Val::Text(text) = cell.val() else {
                continue;
            };
            if text.chars().count() > MAX_HEADER_CHARS {
                continue;
            }
            if let Some(field) = Field::classify(&header_key(&text))
                && !found.iter().any(|(f, _)| *f == field)
            {
                found.push((field, offset + i));
            }
        }
        let core = found.iter().filter(|(f, _)| *f != Field::Note).count();
        if core < 2 {
            return Ok(None);
        }
        let column = |field: Field| found.iter().find(|(f, _)| *f == field).map(|(_, i)| *i);
        let students = self.spec.group != InsuredGroup::Staff;
        let mut missing: Vec<&str> = Vec::new();
        let name = column(Field::Name);
        let gender = column(Field::Gender);
        let id = column(Field::Id);
        let class = if students { column(Field::Class) } else { None };
        if name.is_none() {
            missing.push(self.labels.name);
        }
        if gender.is_none() {
            missing.push(GENDER);
        }
        if students && class.is_none() {
            missing.push(CLASS);
        }
        if id.is_none() {
            missing.push(ID);
        }
        match (name, gender, id) {
            (Some(name), Some(gender), Some(id)) if missing.is_empty() => Ok(Some(Columns {
                name,
                gender,
                id,
                class,
                student_no: if students {
                    column(Field::StudentNo)
                } else {
                    None
                },
                post: if students { None } else { column(Field::Post) },
                note: column(Field::Note),
            })),
            _ => {
                let names: String = missing.iter().map(|m| format!("“{m}”")).collect();
                Err(RosterError::Unreadable(format!(
                    "花名册缺少{names}列：请使用{}花名册模板的列名",
                    self.spec.group.label()
                )))
            }
        }
    }

    fn problem(&mut self, line: u32, column: &str, reason: String) {
        self.problems.push(RowProblem {
            line,
            column: Some(column.to_string()),
            reason,
        });
    }

    fn data_row<C: CellValue>(
        &mut self,
        line: u32,
        cells: &[C],
        offset: usize,
        columns: Columns,
    ) -> Result<(), RosterError> {
        let get = |col: Option<usize>| -> Val<'_> {
            col.and_then(|c| c.checked_sub(offset))
                .and_then(|c| cells.get(c))
                .map_or(Val::Empty, CellValue::val)
        };
        let row = RowCells {
            name: get(Some(columns.name)),
            gender: get(Some(columns.gender)),
            id: get(Some(columns.id)),
            class: get(columns.class),
            student_no: get(columns.student_no),
            post: get(columns.post),
            note: get(columns.note),
        };
        if skip_row(&row) {
            return Ok(());
        }
        self.data_rows += 1;
        if self.data_rows > self.max_rows {
            return Err(match self.declared {
                Some(n) if self.max_rows < MAX_ROWS => RosterError::TooLarge(format!(
                    "花名册的行数远多于填写的投保人数（{n} 人），请核对投保人数或花名册后重新上传"
                )),
                _ => RosterError::TooLarge(format!(
                    "花名册行数超过上限：一个花名册最多 {MAX_ROWS} 行"
                )),
            });
        }
        let before = self.problems.len();
        let name = self.check_name(line, &row.name);
        let gender = self.check_gender(line, &row.gender);
        let class_name = if columns.class.is_some() {
            self.check_class(line, &row.class)
        } else {
            None
        };
        let id = self.check_id(line, &row.id);
        if let (Some(gender), Some(id)) = (gender, &id) {
            let from_id = id.gender();
            if gender != from_id {
                self.problem(
                    line,
                    GENDER,
                    format!(
                        "性别「{}」与身份证号第17位（{}）不一致",
                        gender.label(),
                        from_id.label()
                    ),
                );
            }
        }
        let student_no = self.check_student_no(line, &row.student_no);
        let post = optional(&row.post, Spaces::Collapse);
        if let Some(post) = &post
            && post.chars().count() > POST_MAX_CHARS
        {
            self.problem(
                line,
                POST,
                format!("岗位「{post}」过长（最多{POST_MAX_CHARS}个字）"),
            );
        }
        let note = optional(&row.note, Spaces::Collapse);
        if let Some(note) = &note
            && note.chars().count() > NOTE_MAX_CHARS
        {
            self.problem(line, NOTE, format!("备注过长（最多{NOTE_MAX_CHARS}个字）"));
        }
        if self.problems.len() > before {
            // A row's problems in column order, whichever check found them.
            self.problems[before..].sort_by_key(|p| column_order(p.column.as_deref()));
            return Ok(());
        }
        if let (Some(name), Some(gender), Some(id)) = (name, gender, id) {
            self.rows.push(RosterRow {
                line,
                name,
                gender,
                class_name,
                id,
                student_no,
                post,
                note,
            });
        }
        Ok(())
    }

    fn check_name(&mut self, line: u32, val: &Val<'_>) -> Option<String> {
        let column = self.labels.name;
        let name = val.text(Spaces::Remove);
        let chars = name.chars().count();
        let reason = if chars == 0 {
            format!("{column}不能为空")
        } else if !(2..=NAME_MAX_CHARS).contains(&chars) {
            format!("{column}「{name}」长度不对，应为2–{NAME_MAX_CHARS}个字")
        } else if name.bytes().any(|b| b.is_ascii_digit()) {
            format!("{column}「{name}」不能含数字")
        } else {
            return Some(name.into_owned());
        };
        self.problem(line, column, reason);
        None
    }

    fn check_gender(&mut self, line: u32, val: &Val<'_>) -> Option<Gender> {
        let text = val.text(Spaces::Remove);
        let reason = match &*text {
            "男" | "男性" => return Some(Gender::Male),
            "女" | "女性" => return Some(Gender::Female),
            "" => "性别不能为空".to_string(),
            other => format!("性别「{other}」无法识别，应填“男”或“女”"),
        };
        self.problem(line, GENDER, reason);
        None
    }

    fn check_class(&mut self, line: u32, val: &Val<'_>) -> Option<String> {
        let class = val.text(Spaces::Remove);
        let chars = class.chars().count();
        let reason = if chars == 0 {
            "班级不能为空".to_string()
        } else if chars > CLASS_MAX_CHARS {
            format!("班级「{class}」过长（最多{CLASS_MAX_CHARS}个字）")
        } else if chars < 2 || !class.ends_with('班') {
            format!("班级「{class}」格式不对，应写成“XX年级XX班”")
        } else {
            return Some(class.into_owned());
        };
        self.problem(line, CLASS, reason);
        None
    }

    fn check_id(&mut self, line: u32, val: &Val<'_>) -> Option<ResidentId> {
        let today = self.spec.today;
        let parsed = match val {
            // A number this large has kept only 15–17 significant digits.
            Val::Number(n) if n.abs() >= 1e15 => Err(ResidentIdError::ScientificNotation),
            Val::Number(n) => ResidentId::parse_at(&number_text(*n), today),
            Val::Empty => Err(ResidentIdError::Empty),
            Val::Text(_) => {
                let text = val.text(Spaces::Remove);
                // An apostrophe typed to keep Excel from turning the number into a float.
                let text = text.trim_start_matches(['\'', '`']);
                ResidentId::parse_at(text, today)
            }
        };
        let id = match parsed {
            Ok(id) => id,
            Err(e) => {
                self.problem(line, ID, e.to_string());
                return None;
            }
        };
        let birth = id.birth_date();
        let age = age_on(birth, today);
        let (low, high) = self.labels.ages;
        if !(low..=high).contains(&age) {
            let who = self.labels.who;
            self.problem(
                line,
                ID,
                format!(
                    "出生日期{}（{age}岁）不符合{who}的年龄范围（{low}–{high}岁）",
                    birth.format("%Y-%m-%d")
                ),
            );
        }
        match self.seen.entry(id_key(&id)) {
            std::collections::hash_map::Entry::Occupied(first) => {
                let first = *first.get();
                self.problem(line, ID, format!("身份证号与第 {first} 行重复"));
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(line);
            }
        }
        Some(id)
    }

    fn check_student_no(&mut self, line: u32, val: &Val<'_>) -> Option<String> {
        let lost = match val {
            Val::Number(n) => n.abs() >= 1e15,
            Val::Text(t) => looks_scientific(&clean(t, Spaces::Remove)),
            Val::Empty => false,
        };
        if lost {
            self.problem(
                line,
                STUDENT_NO,
                "学籍号被表格软件转成了科学计数法，后几位已丢失：请把该列设置为“文本”格式后重新录入"
                    .to_string(),
            );
            return None;
        }
        let no = optional(val, Spaces::Remove)?;
        if no.chars().count() > STUDENT_NO_MAX_CHARS {
            self.problem(
                line,
                STUDENT_NO,
                format!("学籍号「{no}」过长（最多{STUDENT_NO_MAX_CHARS}个字符）"),
            );
            return None;
        }
        Some(no)
    }

    /// The roster, or every problem found.
    pub(crate) fn finish(mut self) -> Result<ParsedRoster, RosterError> {
        if self.header.is_none() {
            let columns = crate::roster_columns(self.spec.group).join("、");
            return Err(RosterError::Unreadable(format!(
                "未找到表头行：花名册应有“{columns}”等列"
            )));
        }
        if !self.problems.is_empty() {
            // Readers deliver rows in order; a workbook written out of order is sorted here.
            if !self.problems.is_sorted_by_key(|p| p.line) {
                self.problems.sort_by_key(|p| p.line);
            }
            return Err(RosterError::Problems(self.problems));
        }
        if self.rows.is_empty() {
            return Err(RosterError::Problems(vec![RowProblem {
                line: 0,
                column: None,
                reason: "花名册没有数据行".to_string(),
            }]));
        }
        if !self.rows.is_sorted_by_key(|r| r.line) {
            self.rows.sort_by_key(|r| r.line);
        }
        Ok(ParsedRoster {
            group: self.spec.group,
            rows: self.rows,
        })
    }
}

/// Where a column stands in the template, for ordering a row's problems.
fn column_order(column: Option<&str>) -> usize {
    [
        "学生姓名",
        "姓名",
        GENDER,
        CLASS,
        ID,
        STUDENT_NO,
        POST,
        NOTE,
    ]
    .iter()
    .position(|c| Some(*c) == column)
    .unwrap_or(usize::MAX)
}

/// An optional cell's cleaned text, `None` when empty.
fn optional(val: &Val<'_>, spaces: Spaces) -> Option<String> {
    let text = val.text(spaces);
    (!text.is_empty()).then(|| text.into_owned())
}

/// Rows that are not people: nothing in the roster's columns (a pre-numbered 序号 alone),
/// a footer (`填表人：…`), a template's example.
fn skip_row(row: &RowCells<'_>) -> bool {
    let mut filled = row.all().into_iter().filter(|v| !v.is_blank());
    let Some(first) = filled.next() else {
        return true;
    };
    if filled.next().is_none()
        && let Val::Text(t) = first
    {
        let t = clean(t, Spaces::Remove);
        if FOOTER_PREFIXES.iter().any(|p| t.starts_with(p)) {
            return true;
        }
    }
    match &row.name {
        Val::Text(t) => {
            let t = clean(t, Spaces::Remove);
            EXAMPLE_PREFIXES.iter().any(|p| t.starts_with(p))
        }
        _ => false,
    }
}
