//! What can go wrong, in sentences a user can act on.

use crate::Format;
use crate::cellref::column_name;

/// Why an upload could not be read.
///
/// `Display` is a complete Chinese sentence meant for the person who uploaded the file. It
/// never quotes text from the file: reasons are fixed phrases, with at most a line number or
/// column letter. [`SheetError::is_limit`] tells a limit breach (answer 413) from a file that
/// is unreadable or of the wrong kind (answer 422).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SheetError {
    /// Zero bytes.
    #[error("文件是空的，请重新选择要上传的 Excel 文件")]
    EmptyFile,
    /// Not a workbook at all (PDF, image, text, an unrelated zip…).
    #[error("文件不是 Excel 工作簿（.xlsx），请使用下载的模板")]
    NotSpreadsheet,
    /// A spreadsheet in a format this crate does not read: `Xls`, `Xlsb` or `Ods`.
    #[error("{}", legacy_message(*.0))]
    Legacy(Format),
    /// A workbook that is damaged, truncated or not well formed.
    #[error("文件已损坏或不完整，无法作为 Excel 工作簿读取（{0}），请重新保存后上传")]
    Corrupt(String),
    /// A structural limit was crossed (see [`crate::Limits`]); the reason names which.
    #[error("文件结构超出允许范围（{0}），请另存为普通 .xlsx 后重试")]
    TooComplex(String),
    /// A row that holds a value lies below [`crate::Limits::max_rows`].
    #[error("第 {line} 行超出上限：最多 {max} 行")]
    TooManyRows {
        /// The row as Excel numbers it.
        line: u32,
        /// The limit in force.
        max: u32,
    },
    /// A cell's text is longer than [`crate::Limits::max_cell_bytes`].
    #[error(
        "第 {line} 行 {} 列的内容过长（一个单元格最多 32767 个字符），请精简后重试",
        column_name(*.column)
    )]
    CellTooLong {
        /// The row as Excel numbers it.
        line: u32,
        /// The column, 1 for A.
        column: u32,
    },
    /// [`crate::Workbook::for_each_row`] was asked for a sheet index the workbook lacks.
    #[error("工作簿中没有所选的工作表（共 {count} 个工作表）")]
    NoSuchSheet {
        /// The index asked for (0-based).
        index: usize,
        /// How many sheets the workbook has.
        count: usize,
    },
}

impl From<Box<Self>> for SheetError {
    fn from(error: Box<Self>) -> Self {
        *error
    }
}

impl SheetError {
    /// True when the file was refused because it crossed a limit rather than because it is
    /// broken or of the wrong kind: callers may answer 413 for these and 422 for the rest.
    #[must_use]
    pub const fn is_limit(&self) -> bool {
        matches!(
            self,
            Self::TooComplex(_) | Self::TooManyRows { .. } | Self::CellTooLong { .. }
        )
    }

    pub(crate) fn corrupt(reason: impl Into<String>) -> Self {
        Self::Corrupt(reason.into())
    }

    pub(crate) fn too_complex(reason: impl Into<String>) -> Self {
        Self::TooComplex(reason.into())
    }
}

const fn legacy_message(format: Format) -> &'static str {
    match format {
        Format::Xls => {
            "不支持 .xls 旧格式（或设置了打开密码的工作簿），请在 Excel 或 WPS 中另存为不加密的 .xlsx 后上传"
        }
        Format::Xlsb => "不支持 .xlsb 二进制工作簿，请在 Excel 或 WPS 中另存为 .xlsx 后上传",
        Format::Ods => {
            "不支持 .ods（OpenDocument）表格，请在 Excel、WPS 或 LibreOffice 中另存为 .xlsx 后上传"
        }
        Format::Xlsx | Format::OtherZip | Format::Pdf | Format::Empty | Format::Text => {
            "文件不是 Excel 工作簿（.xlsx），请使用下载的模板"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_user_facing() {
        assert_eq!(
            SheetError::TooManyRows {
                line: 250_001,
                max: 250_000
            }
            .to_string(),
            "第 250001 行超出上限：最多 250000 行"
        );
        assert_eq!(
            SheetError::CellTooLong {
                line: 3,
                column: 28
            }
            .to_string(),
            "第 3 行 AB 列的内容过长（一个单元格最多 32767 个字符），请精简后重试"
        );
        assert!(SheetError::Legacy(Format::Xls).to_string().contains(".xls"));
        assert!(SheetError::Legacy(Format::Ods).to_string().contains(".ods"));
        assert!(
            SheetError::corrupt("压缩包目录损坏")
                .to_string()
                .contains("Excel 工作簿读取（压缩包目录损坏）")
        );
    }

    #[test]
    fn limits_are_told_apart() {
        assert!(SheetError::too_complex("x").is_limit());
        assert!(SheetError::TooManyRows { line: 2, max: 1 }.is_limit());
        assert!(SheetError::CellTooLong { line: 1, column: 1 }.is_limit());
        assert!(!SheetError::corrupt("x").is_limit());
        assert!(!SheetError::NotSpreadsheet.is_limit());
        assert!(!SheetError::Legacy(Format::Xlsb).is_limit());
        assert!(!SheetError::EmptyFile.is_limit());
    }
}
