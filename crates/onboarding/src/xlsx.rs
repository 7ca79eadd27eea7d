//! The XLSX files the service hands out: the two import templates and the list of problems of
//! a rejected file.

use rust_xlsxwriter::{
    Color, DataValidation, DataValidationErrorStyle, DataValidationRule, Format, FormatAlign,
    FormatBorder, Workbook, Worksheet, XlsxError,
};
use xiaobao_domain::{SchoolNature, SchoolType};

use crate::RowProblem;

/// Rows (after the header) that carry the drop-down lists and text formats.
const DATA_ROWS: u32 = 20_000;

/// The zero-based row of the header in both templates (line 3 in Excel).
const HEADER_ROW: u32 = 2;

/// One column of a template.
struct Column {
    header: &'static str,
    width: f64,
    /// Codes and mobiles: text, so Excel keeps every digit.
    text: bool,
    example: &'static str,
}

/// The department template (附件2 as this service reads it): 区域代码, 区域名称, 单位名称,
/// 联系人, 联系人手机号, with an example row that the import ignores.
pub fn department_template() -> Vec<u8> {
    let columns = [
        Column {
            header: "区域代码",
            width: 12.0,
            text: true,
            example: "410105",
        },
        Column {
            header: "区域名称",
            width: 14.0,
            text: false,
            example: "金水区",
        },
        Column {
            header: "*单位名称",
            width: 26.0,
            text: false,
            example: "示例：金水区教育局",
        },
        Column {
            header: "*联系人",
            width: 12.0,
            text: false,
            example: "张三",
        },
        Column {
            header: "*联系人手机号",
            width: 16.0,
            text: true,
            example: "13800138000",
        },
    ];
    let instructions = "填写说明：1. 每行一个县（市、区）或市教育局；带 * 的列必填。\n\
         2. 区域代码填 6 位行政区划代码（如 410105），区域名称填如「金水区」，两者至少填一项，都填时须一致。\n\
         3. 市直属学校由市教育局管理，不单独开通「市直」账号。\n\
         4. 联系人手机号用于接收设置密码的验证码，请填写 11 位手机号；账号不设默认密码。\n\
         5. 第 4 行是示例，导入时自动忽略；请从第 5 行起填写，不要修改表头。";
    build_template(
        "教育部门",
        "教育部门批量开通模板",
        instructions,
        &columns,
        |_, _| Ok(()),
    )
    .unwrap_or_else(|e| {
        tracing::error!(error = %e, "department template could not be built");
        Vec::new()
    })
}

/// The school template (附件3 as this service reads it): 学校全称, 所在区域代码 / 所在区域名称,
/// 办学性质 and 学校类型 with drop-down lists, 学校地址, 校长姓名, 联系人（明白人）, 联系人手机号
/// and the optional 中心校全称, with an example row that the import ignores.
pub fn school_template() -> Vec<u8> {
    let columns = [
        Column {
            header: "*学校全称",
            width: 30.0,
            text: false,
            example: "示例：郑州市金水区示例小学",
        },
        Column {
            header: "所在区域代码",
            width: 14.0,
            text: true,
            example: "410105",
        },
        Column {
            header: "所在区域名称",
            width: 14.0,
            text: false,
            example: "金水区",
        },
        Column {
            header: "*办学性质",
            width: 11.0,
            text: false,
            example: "公办",
        },
        Column {
            header: "*学校类型",
            width: 16.0,
            text: false,
            example: "小学",
        },
        Column {
            header: "学校地址",
            width: 32.0,
            text: false,
            example: "郑州市金水区示例路 1 号",
        },
        Column {
            header: "校长姓名",
            width: 11.0,
            text: false,
            example: "李四",
        },
        Column {
            header: "*联系人（明白人）",
            width: 16.0,
            text: false,
            example: "王五",
        },
        Column {
            header: "*联系人手机号",
            width: 16.0,
            text: true,
            example: "13800138000",
        },
        Column {
            header: "中心校全称（选填）",
            width: 30.0,
            text: false,
            example: "郑州市金水区示例中心校",
        },
    ];
    let instructions = "填写说明：1. 每行一所学校（教学点）；带 * 的列必填。学校全称即学校的登录名，须与公章一致。\n\
         2. 所在区域代码（6 位，如 410105）与所在区域名称（如 金水区）至少填一项；市直属学校的区域名称填「市直」。\n\
         3. 办学性质、学校类型请从下拉列表中选择。\n\
         4. 联系人（明白人）手机号用于接收设置密码的验证码，每所学校须不同，请填写 11 位手机号；账号不设默认密码。\n\
         5. 中心校全称选填：填本文件中或本区域已开通的中心校全称；填本校全称表示本校是中心校。\n\
         6. 第 4 行是示例，导入时自动忽略；请从第 5 行起填写，不要修改表头。";
    let natures: Vec<&str> = SchoolNature::ALL.iter().map(|n| n.label()).collect();
    let types: Vec<&str> = SchoolType::ALL.iter().map(|t| t.label()).collect();
    build_template(
        "学校",
        "学校批量开通模板",
        instructions,
        &columns,
        |ws, first| {
            let last = first + DATA_ROWS;
            let nature = DataValidation::new()
                .allow_list_strings(&natures)?
                .set_error_title("办学性质")?
                .set_error_message("请选择 公办 或 民办")?
                .set_error_style(DataValidationErrorStyle::Stop);
            ws.add_data_validation(first, 3, last, 3, &nature)?;
            let school_type = DataValidation::new()
                .allow_list_strings(&types)?
                .set_error_title("学校类型")?
                .set_error_message("请从下拉列表中选择学校类型")?
                .set_error_style(DataValidationErrorStyle::Stop);
            ws.add_data_validation(first, 4, last, 4, &school_type)?;
            Ok(())
        },
    )
    .unwrap_or_else(|e| {
        tracing::error!(error = %e, "school template could not be built");
        Vec::new()
    })
}

fn build_template(
    sheet_name: &str,
    title: &str,
    instructions: &str,
    columns: &[Column],
    extra: impl FnOnce(&mut Worksheet, u32) -> Result<(), XlsxError>,
) -> Result<Vec<u8>, XlsxError> {
    let mut workbook = Workbook::new();
    let ws = workbook.add_worksheet();
    ws.set_name(sheet_name)?;
    let last_col = u16::try_from(columns.len().saturating_sub(1)).unwrap_or(0);

    let title_format = Format::new()
        .set_bold()
        .set_font_size(16)
        .set_align(FormatAlign::Center)
        .set_align(FormatAlign::VerticalCenter);
    ws.merge_range(0, 0, 0, last_col, title, &title_format)?;
    ws.set_row_height(0, 30)?;

    let note_format = Format::new()
        .set_text_wrap()
        .set_align(FormatAlign::Top)
        .set_font_color(Color::RGB(0x0060_6060));
    ws.merge_range(1, 0, 1, last_col, instructions, &note_format)?;
    let lines = u32::try_from(instructions.lines().count()).unwrap_or(6);
    ws.set_row_height(1, f64::from(lines * 18 + 6))?;

    let header_format = Format::new()
        .set_bold()
        .set_background_color(Color::RGB(0x00DD_EBF7))
        .set_border(FormatBorder::Thin)
        .set_align(FormatAlign::Center)
        .set_align(FormatAlign::VerticalCenter);
    let example_format = Format::new()
        .set_italic()
        .set_font_color(Color::RGB(0x0080_8080));
    let example_text_format = example_format.clone().set_num_format("@");
    let text_format = Format::new().set_num_format("@");

    let example_row = HEADER_ROW + 1;
    for (i, column) in columns.iter().enumerate() {
        let col = u16::try_from(i).unwrap_or(u16::MAX);
        ws.write_string_with_format(HEADER_ROW, col, column.header, &header_format)?;
        if column.text {
            ws.set_column_format(col, &text_format)?;
            ws.write_string_with_format(example_row, col, column.example, &example_text_format)?;
        } else {
            ws.write_string_with_format(example_row, col, column.example, &example_format)?;
        }
        ws.set_column_width(col, column.width)?;
    }
    ws.set_row_height(HEADER_ROW, 22)?;
    // Mobiles: exactly 11 characters (a warning, so a pasted +86 number still goes in).
    for (i, column) in columns.iter().enumerate() {
        if column.header.contains("手机") {
            let col = u16::try_from(i).unwrap_or(u16::MAX);
            let mobile = DataValidation::new()
                .allow_text_length(DataValidationRule::EqualTo(11))
                .set_error_title("联系人手机号")?
                .set_error_message("请填写 11 位手机号")?
                .set_error_style(DataValidationErrorStyle::Warning);
            ws.add_data_validation(example_row + 1, col, example_row + DATA_ROWS, col, &mobile)?;
        }
    }
    ws.set_freeze_panes(HEADER_ROW + 1, 0)?;
    extra(ws, example_row + 1)?;
    workbook.save_to_buffer()
}

/// The problems of a rejected file as an XLSX sheet: 行号, 列, 问题 (line 0 — the file as a
/// whole — is shown as 整个文件).
pub fn problems_xlsx(problems: &[RowProblem]) -> Vec<u8> {
    build_problems(problems).unwrap_or_else(|e| {
        tracing::error!(error = %e, "problems sheet could not be built");
        Vec::new()
    })
}

fn build_problems(problems: &[RowProblem]) -> Result<Vec<u8>, XlsxError> {
    /// Excel's last row, less the header.
    const MAX: usize = 1_048_575;
    let mut workbook = Workbook::new();
    let ws = workbook.add_worksheet();
    ws.set_name("导入问题")?;
    let header = Format::new()
        .set_bold()
        .set_background_color(Color::RGB(0x00FC_E4D6))
        .set_border(FormatBorder::Thin);
    let wrap = Format::new().set_text_wrap().set_align(FormatAlign::Top);
    let centre = Format::new()
        .set_align(FormatAlign::Center)
        .set_align(FormatAlign::Top);
    ws.write_string_with_format(0, 0, "行号", &header)?;
    ws.write_string_with_format(0, 1, "列", &header)?;
    ws.write_string_with_format(0, 2, "问题", &header)?;
    ws.set_column_width(0, 8)?;
    ws.set_column_width(1, 18)?;
    ws.set_column_width(2, 90)?;
    for (i, p) in problems.iter().take(MAX).enumerate() {
        let row = u32::try_from(i + 1).unwrap_or(u32::MAX);
        if p.line == 0 {
            ws.write_string_with_format(row, 0, "整个文件", &centre)?;
        } else {
            ws.write_number_with_format(row, 0, f64::from(p.line), &centre)?;
        }
        ws.write_string_with_format(row, 1, p.column.as_deref().unwrap_or(""), &wrap)?;
        let reason: String = p.reason.chars().take(32_000).collect();
        ws.write_string_with_format(row, 2, &reason, &wrap)?;
    }
    ws.set_freeze_panes(1, 0)?;
    workbook.save_to_buffer()
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use calamine::{Data, Reader, open_workbook_auto_from_rs};

    use super::*;

    fn first_sheet(bytes: &[u8]) -> calamine::Range<Data> {
        let mut wb = open_workbook_auto_from_rs(std::io::Cursor::new(bytes)).unwrap();
        wb.worksheet_range_at(0).unwrap().unwrap()
    }

    fn row_text(range: &calamine::Range<Data>, row: u32) -> Vec<String> {
        (0..range.width())
            .map(|c| {
                range
                    .get_value((row, u32::try_from(c).unwrap()))
                    .map(ToString::to_string)
                    .unwrap_or_default()
            })
            .collect()
    }

    #[test]
    fn school_template_has_title_header_and_example() {
        let bytes = school_template();
        assert!(bytes.starts_with(b"PK"));
        let range = first_sheet(&bytes);
        assert_eq!(row_text(&range, 0)[0], "学校批量开通模板");
        assert!(row_text(&range, 1)[0].starts_with("填写说明"));
        assert_eq!(
            row_text(&range, 2),
            vec![
                "*学校全称",
                "所在区域代码",
                "所在区域名称",
                "*办学性质",
                "*学校类型",
                "学校地址",
                "校长姓名",
                "*联系人（明白人）",
                "*联系人手机号",
                "中心校全称（选填）",
            ]
        );
        let example = row_text(&range, 3);
        assert!(example[0].starts_with("示例"));
        // Stored as text, not as a number.
        assert_eq!(
            range.get_value((3, 8)),
            Some(&Data::String("13800138000".into()))
        );
        assert_eq!(
            range.get_value((3, 1)),
            Some(&Data::String("410105".into()))
        );
    }

    #[test]
    fn school_template_carries_drop_downs_and_text_columns() {
        let bytes = school_template();
        let zip = zip_entry(&bytes, "xl/worksheets/sheet1.xml");
        assert!(zip.contains("<dataValidation"), "no data validation");
        assert!(zip.contains("公办,民办"));
        assert!(zip.contains("初中（含完中）"));
        assert!(zip.contains("<mergeCell "));
        // Code and mobile columns are text (number format 49, "@").
        assert!(zip.contains("<cols>"));
    }

    /// The XML of one part of an XLSX (stored or deflated), found by a plain scan.
    fn zip_entry(bytes: &[u8], name: &str) -> String {
        // rust_xlsxwriter deflates its parts; calamine can only give cell values, so the
        // sheet XML is read through the zip reader calamine depends on.
        let reader = std::io::Cursor::new(bytes);
        let mut archive = zip::ZipArchive::new(reader).unwrap();
        let mut part = archive.by_name(name).unwrap();
        let mut xml = String::new();
        std::io::Read::read_to_string(&mut part, &mut xml).unwrap();
        xml
    }

    #[test]
    fn department_template_header() {
        let range = first_sheet(&department_template());
        assert_eq!(
            row_text(&range, 2),
            vec![
                "区域代码",
                "区域名称",
                "*单位名称",
                "*联系人",
                "*联系人手机号"
            ]
        );
    }

    #[test]
    fn problems_sheet_lists_line_column_reason() {
        let problems = vec![
            RowProblem::file(None, "未找到表头行"),
            RowProblem::new(
                7,
                Some("联系人手机号"),
                "联系人手机号「1381234」不是 11 位手机号",
            ),
        ];
        let range = first_sheet(&problems_xlsx(&problems));
        assert_eq!(row_text(&range, 0), vec!["行号", "列", "问题"]);
        assert_eq!(row_text(&range, 1), vec!["整个文件", "", "未找到表头行"]);
        assert_eq!(range.get_value((2, 0)), Some(&Data::Float(7.0)));
        assert_eq!(
            row_text(&range, 2)[1..],
            ["联系人手机号", "联系人手机号「1381234」不是 11 位手机号"]
        );
    }
}
