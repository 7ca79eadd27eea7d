//! What a document is for ([`DocumentKind`]), what it may contain ([`MediaType`]) and how large
//! it may be ([`KindLimits`]).

use std::fmt;

/// One MiB.
const MIB: u64 = 1024 * 1024;

/// The business purpose of a document; decides its size limit and the accepted file types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    /// 花名册: the students of a school, uploaded for enrolment (xlsx or csv).
    Roster,
    /// 资质证书: a school's or broker's certificate (pdf, jpeg, png).
    Qualification,
    /// 理赔材料: evidence attached to a claim (pdf, images, spreadsheets, Word documents).
    ClaimEvidence,
    /// 保单: the policy document issued by the insurer (pdf).
    Policy,
    /// 批单: an endorsement changing a policy (pdf).
    Endorsement,
}

/// Upload limits of one [`DocumentKind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindLimits {
    /// Largest accepted file, in bytes.
    pub max_bytes: u64,
    /// File types accepted, told by content (magic bytes), never by extension alone.
    pub allowed: &'static [MediaType],
}

impl DocumentKind {
    pub const ALL: [DocumentKind; 5] = [
        Self::Roster,
        Self::Qualification,
        Self::ClaimEvidence,
        Self::Policy,
        Self::Endorsement,
    ];

    /// Size limit and accepted types.
    pub const fn limits(self) -> KindLimits {
        use MediaType::*;
        match self {
            Self::Roster => KindLimits {
                max_bytes: 20 * MIB,
                allowed: &[Xlsx, Csv],
            },
            Self::Qualification => KindLimits {
                max_bytes: 10 * MIB,
                allowed: &[Pdf, Jpeg, Png],
            },
            Self::ClaimEvidence => KindLimits {
                max_bytes: 20 * MIB,
                allowed: &[Pdf, Jpeg, Png, Xlsx, Docx],
            },
            Self::Policy | Self::Endorsement => KindLimits {
                max_bytes: 20 * MIB,
                allowed: &[Pdf],
            },
        }
    }

    /// The value stored in `documents.kind` (and used in the API).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Roster => "roster",
            Self::Qualification => "qualification",
            Self::ClaimEvidence => "claim_evidence",
            Self::Policy => "policy",
            Self::Endorsement => "endorsement",
        }
    }

    /// Parses the stored value.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The Chinese name shown to users.
    pub const fn label_zh(self) -> &'static str {
        match self {
            Self::Roster => "花名册",
            Self::Qualification => "资质证书",
            Self::ClaimEvidence => "理赔材料",
            Self::Policy => "保单",
            Self::Endorsement => "批单",
        }
    }

    /// The accepted types for a message, e.g. "Excel 表格（.xlsx）、CSV 文本（.csv）".
    pub fn allowed_zh(self) -> String {
        self.limits()
            .allowed
            .iter()
            .map(|m| m.label_zh())
            .collect::<Vec<_>>()
            .join("、")
    }
}

impl fmt::Display for DocumentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label_zh())
    }
}

/// A file type the documents module recognises by content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaType {
    Pdf,
    Png,
    Jpeg,
    /// Excel workbook (Office Open XML).
    Xlsx,
    /// Word document (Office Open XML).
    Docx,
    /// Comma-separated text, UTF-8 (with or without BOM) or GB18030.
    Csv,
}

impl MediaType {
    pub const ALL: [MediaType; 6] = [
        Self::Pdf,
        Self::Png,
        Self::Jpeg,
        Self::Xlsx,
        Self::Docx,
        Self::Csv,
    ];

    /// The MIME type stored in `documents.media_type` and sent as `Content-Type`.
    pub const fn mime(self) -> &'static str {
        match self {
            Self::Pdf => "application/pdf",
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Self::Docx => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            Self::Csv => "text/csv",
        }
    }

    /// Parses a stored MIME type.
    pub fn from_mime(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.mime() == s)
    }

    /// The type a file name claims by its extension (case-insensitive), if it is one we know.
    pub fn from_file_name(name: &str) -> Option<Self> {
        let ext = extension(name)?;
        match ext.as_str() {
            "pdf" => Some(Self::Pdf),
            "png" => Some(Self::Png),
            "jpg" | "jpeg" => Some(Self::Jpeg),
            "xlsx" => Some(Self::Xlsx),
            "docx" => Some(Self::Docx),
            "csv" => Some(Self::Csv),
            _ => None,
        }
    }

    /// The usual extension, without the dot.
    pub const fn extension(self) -> &'static str {
        match self {
            Self::Pdf => "pdf",
            Self::Png => "png",
            Self::Jpeg => "jpg",
            Self::Xlsx => "xlsx",
            Self::Docx => "docx",
            Self::Csv => "csv",
        }
    }

    /// Chinese label with the extension, for messages.
    pub const fn label_zh(self) -> &'static str {
        match self {
            Self::Pdf => "PDF 文件（.pdf）",
            Self::Png => "PNG 图片（.png）",
            Self::Jpeg => "JPEG 图片（.jpg）",
            Self::Xlsx => "Excel 表格（.xlsx）",
            Self::Docx => "Word 文档（.docx）",
            Self::Csv => "CSV 文本（.csv）",
        }
    }

    /// What to tell a user whose file claims to be `self` but is not.
    pub const fn mismatch_hint_zh(self) -> &'static str {
        match self {
            Self::Pdf => {
                "请上传真正的 PDF 文件（可在 WPS 或 Word 中“导出为 PDF”），不要只修改扩展名"
            }
            Self::Png | Self::Jpeg => "请上传手机或扫描仪直接生成的照片或扫描件，不要只修改扩展名",
            Self::Xlsx => "请上传从 Excel 或 WPS 另存的 .xlsx 文件",
            Self::Docx => "请上传从 Word 或 WPS 另存的 .docx 文件",
            Self::Csv => {
                "请在 Excel 或 WPS 中“另存为 CSV（逗号分隔）”后上传，或直接上传 .xlsx 文件"
            }
        }
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.mime())
    }
}

/// The lowercased extension of a file name (after the last dot of the last path part).
pub(crate) fn extension(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let (stem, ext) = base.rsplit_once('.')?;
    if stem.is_empty() || ext.is_empty() {
        return None;
    }
    Some(ext.trim().to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_stored_names() {
        for kind in DocumentKind::ALL {
            assert_eq!(DocumentKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(DocumentKind::parse("roster "), None);
    }

    #[test]
    fn limits_follow_the_issue() {
        assert_eq!(DocumentKind::Roster.limits().max_bytes, 20 * MIB);
        assert_eq!(DocumentKind::Qualification.limits().max_bytes, 10 * MIB);
        assert_eq!(
            DocumentKind::Roster.limits().allowed,
            &[MediaType::Xlsx, MediaType::Csv]
        );
        assert_eq!(DocumentKind::Policy.limits().allowed, &[MediaType::Pdf]);
        assert_eq!(
            DocumentKind::ClaimEvidence.allowed_zh(),
            "PDF 文件（.pdf）、JPEG 图片（.jpg）、PNG 图片（.png）、Excel 表格（.xlsx）、Word 文档（.docx）"
        );
    }

    #[test]
    fn extensions_are_read_from_the_last_path_part_case_insensitively() {
        assert_eq!(
            MediaType::from_file_name("学生花名册（2025）.XLSX"),
            Some(MediaType::Xlsx)
        );
        assert_eq!(
            MediaType::from_file_name("C:\\扫描\\证书.JPeG"),
            Some(MediaType::Jpeg)
        );
        assert_eq!(MediaType::from_file_name("a.tar/pdf"), None);
        assert_eq!(MediaType::from_file_name(".pdf"), None);
        assert_eq!(MediaType::from_file_name("名册.xls"), None);
        for m in MediaType::ALL {
            assert_eq!(MediaType::from_mime(m.mime()), Some(m));
        }
    }
}
