//! The roster template and the accepted roster as XLSX files.
//!
//! Every column is formatted as text (`@`): Excel then keeps an 18-digit ID number and a
//! 学籍号 as typed instead of turning them into `4.10105E+17`.

use rust_xlsxwriter::{
    Color, DataValidation, Format, FormatAlign, FormatBorder, Workbook, Worksheet, XlsxError,
};
use xiaobao_domain::InsuredGroup;

/// The columns of a roster, in template order.
pub fn roster_columns(group: InsuredGroup) -> &'static [&'static str] {
    match group {
        InsuredGroup::Student | InsuredGroup::Intern => {
            &["学生姓名", "性别", "班级", "身份证号", "学籍号", "备注"]
        }
        InsuredGroup::Staff => &["姓名", "性别", "身份证号", "岗位", "备注"],
    }
}

/// The template's file name: `学生花名册模板.xlsx`, `教职工花名册模板.xlsx`,
/// `实习学生花名册模板.xlsx`.
pub fn template_file_name(group: InsuredGroup) -> String {
    format!("{}花名册模板.xlsx", group.label())
}

/// Column widths in characters, by column name.
fn width(column: &str) -> f64 {
    match column {
        "身份证号" => 22.0,
        "学籍号" => 24.0,
        "班级" | "岗位" => 16.0,
        "备注" => 24.0,
        "性别" => 8.0,
        _ => 14.0,
    }
}

fn header_format() -> Format {
    Format::new()
        .set_bold()
        .set_align(FormatAlign::Center)
        .set_background_color(Color::RGB(0x00DD_EBF7))
        .set_border(FormatBorder::Thin)
        .set_num_format("@")
}

fn text_format() -> Format {
    Format::new().set_num_format("@")
}

fn title_format() -> Format {
    Format::new()
        .set_bold()
        .set_font_size(16)
        .set_align(FormatAlign::Center)
        .set_align(FormatAlign::VerticalCenter)
}

/// Column widths and the text format over every column of the roster.
fn set_columns(ws: &mut Worksheet, columns: &[&str]) -> Result<(), XlsxError> {
    let text = text_format();
    for (i, name) in (0u16..).zip(columns) {
        ws.set_column_width(i, width(name))?;
        ws.set_column_format(i, &text)?;
    }
    Ok(())
}

/// A title merged over all the roster's columns.
fn write_title(ws: &mut Worksheet, row: u32, columns: usize, title: &str) -> Result<(), XlsxError> {
    let last = u16::try_from(columns.saturating_sub(1)).unwrap_or(0);
    // Excel keeps at most 32,767 characters in a cell.
    let title: String = title.chars().take(1_000).collect();
    if last == 0 {
        ws.write_string_with_format(row, 0, &title, &title_format())?;
    } else {
        ws.merge_range(row, 0, row, last, &title, &title_format())?;
    }
    ws.set_row_height(row, 30)?;
    Ok(())
}

fn write_header(ws: &mut Worksheet, row: u32, columns: &[&str]) -> Result<(), XlsxError> {
    let header = header_format();
    for (i, name) in (0u16..).zip(columns) {
        ws.write_string_with_format(row, i, *name, &header)?;
    }
    Ok(())
}

/// What the template's 填写说明 says, line by line.
fn instructions(group: InsuredGroup) -> Vec<String> {
    let mut lines = vec![
        format!("{}花名册填写说明", group.label()),
        format!(
            "1. 请在“花名册”工作表第 3 行表头下方逐行填写，每人一行，所有{}合并在一个表中；不要修改、删除或调换表头。",
            match group {
                InsuredGroup::Staff => "教职工",
                InsuredGroup::Student | InsuredGroup::Intern => "班级",
            }
        ),
        "2. 身份证号填写18位居民身份证号码，末位可以是X；该列已设为“文本”格式，请勿改成数字格式，否则会变成 4.10105E+17 这样的科学计数法而丢失后几位。".to_string(),
        "3. 性别填写“男”或“女”，须与身份证号第17位一致（奇数为男，偶数为女）。".to_string(),
    ];
    match group {
        InsuredGroup::Student | InsuredGroup::Intern => {
            lines.push("4. 学生姓名、性别、班级、身份证号为必填；学籍号、备注可以不填。".into());
            lines.push(
                "5. 班级写成“XX年级XX班”，如“三年级2班”“七年级(3)班”“高一1班”“2024级3班”；幼儿园可写“大班”“中一班”。"
                    .into(),
            );
        }
        InsuredGroup::Staff => {
            lines.push("4. 姓名、性别、身份证号为必填；岗位、备注可以不填。".into());
        }
    }
    lines.push(
        "6. 同一身份证号只能出现一次。上传后系统逐行检查，有问题的行会连同行号和原因一并列出，修改后重新上传即可。"
            .into(),
    );
    lines
}

/// The blank roster template: a title, a short note, the header row (line 3) with every
/// column formatted as text, a 男/女 drop-down, and a 填写说明 sheet. No data rows.
pub fn roster_template(group: InsuredGroup) -> Vec<u8> {
    build_template(group).unwrap_or_else(|e| {
        tracing::error!(error = %e, "roster template could not be built");
        Vec::new()
    })
}

fn build_template(group: InsuredGroup) -> Result<Vec<u8>, XlsxError> {
    let columns = roster_columns(group);
    let last = u16::try_from(columns.len() - 1).unwrap_or(0);
    let mut workbook = Workbook::new();
    let ws = workbook.add_worksheet();
    ws.set_name("花名册")?;
    set_columns(ws, columns)?;
    write_title(ws, 0, columns.len(), &format!("{}花名册", group.label()))?;
    let note = Format::new()
        .set_text_wrap()
        .set_font_color(Color::RGB(0x00C0_0000))
        .set_align(FormatAlign::VerticalCenter);
    ws.merge_range(
        1,
        0,
        1,
        last,
        "填写说明：每人一行；身份证号填18位（末位可为X），该列为文本格式，请勿改为数字；详见“填写说明”工作表。",
        &note,
    )?;
    ws.set_row_height(1, 36)?;
    write_header(ws, 2, columns)?;
    if let Some(gender) = columns.iter().position(|c| *c == "性别") {
        let gender = u16::try_from(gender).unwrap_or(1);
        let list = DataValidation::new()
            .allow_list_strings(&["男", "女"])?
            .set_error_message("性别请填写“男”或“女”")?;
        let last_row = 3 + u32::try_from(crate::MAX_ROWS).unwrap_or(u32::MAX - 3);
        ws.add_data_validation(3, gender, last_row, gender, &list)?;
    }
    ws.set_freeze_panes(3, 0)?;

    let help = workbook.add_worksheet();
    help.set_name("填写说明")?;
    help.set_column_width(0, 110)?;
    let wrap = Format::new().set_text_wrap();
    for (row, line) in (0u32..).zip(instructions(group)) {
        if row == 0 {
            help.write_string_with_format(row, 0, &line, &Format::new().set_bold())?;
        } else {
            help.write_string_with_format(row, 0, &line, &wrap)?;
        }
    }
    workbook.save_to_buffer()
}

/// An optional text, empty when absent.
fn opt(v: Option<&String>) -> &str {
    v.map_or("", String::as_str)
}

/// A row as stored, for export: the ID already either unmasked or masked by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRow {
    pub name: String,
    pub gender: xiaobao_domain::Gender,
    pub class_name: Option<String>,
    pub id_text: String,
    pub student_no: Option<String>,
    pub post: Option<String>,
    pub note: Option<String>,
}

/// The accepted roster as an XLSX with the template's columns (all as text), `title` in a
/// merged title row above the header, e.g. `某某小学 2025-2026学年 校方责任险 花名册`.
pub fn roster_xlsx(group: InsuredGroup, title: &str, rows: &[ExportRow]) -> Vec<u8> {
    build_roster(group, title, rows).unwrap_or_else(|e| {
        tracing::error!(error = %e, "roster workbook could not be built");
        Vec::new()
    })
}

fn build_roster(
    group: InsuredGroup,
    title: &str,
    rows: &[ExportRow],
) -> Result<Vec<u8>, XlsxError> {
    /// Excel's last row, less the title and header.
    const MAX: usize = 1_048_574;
    let columns = roster_columns(group);
    let mut workbook = Workbook::new();
    let ws = workbook.add_worksheet();
    ws.set_name("花名册")?;
    set_columns(ws, columns)?;
    write_title(ws, 0, columns.len(), title)?;
    write_header(ws, 1, columns)?;
    let text = text_format();
    for (r, row) in (2u32..).zip(rows.iter().take(MAX)) {
        let students: [&str; 6];
        let staff: [&str; 5];
        let values: &[&str] = match group {
            InsuredGroup::Student | InsuredGroup::Intern => {
                students = [
                    &row.name,
                    row.gender.label(),
                    opt(row.class_name.as_ref()),
                    &row.id_text,
                    opt(row.student_no.as_ref()),
                    opt(row.note.as_ref()),
                ];
                &students
            }
            InsuredGroup::Staff => {
                staff = [
                    &row.name,
                    row.gender.label(),
                    &row.id_text,
                    opt(row.post.as_ref()),
                    opt(row.note.as_ref()),
                ];
                &staff
            }
        };
        for (c, value) in (0u16..).zip(values) {
            if !value.is_empty() {
                ws.write_string_with_format(r, c, *value, &text)?;
            }
        }
    }
    ws.set_freeze_panes(2, 0)?;
    workbook.save_to_buffer()
}
