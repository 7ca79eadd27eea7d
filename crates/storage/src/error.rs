//! Errors of the documents module: a Chinese message for people ([`std::fmt::Display`]) and a
//! stable code for the API ([`StorageError::code`]).

use crate::kind::{DocumentKind, MediaType};

/// Everything that can go wrong storing or reading a document.
///
/// The variants a user can cause (size, type, name) say what to do about it; the others are
/// infrastructure failures that the HTTP layer should answer as an opaque 500/503 and log.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{kind}文件不能超过 {} MB，请压缩或拆分后再上传", limit_bytes / (1024 * 1024))]
    TooLarge {
        kind: DocumentKind,
        limit_bytes: u64,
    },

    #[error("上传的文件是空的，请重新选择文件")]
    Empty,

    #[error("{kind}只接受{}；“{name}”不是这些类型的文件", kind.allowed_zh())]
    TypeNotAllowed { kind: DocumentKind, name: String },

    #[error("旧版 {ext} 格式不受支持，请在 Excel、Word 或 WPS 中另存为 .{new_ext} 后上传")]
    LegacyFormat { ext: String, new_ext: &'static str },

    #[error("文件内容不是 {}，{}", claimed.label_zh(), claimed.mismatch_hint_zh())]
    ContentMismatch {
        claimed: MediaType,
        detected: Option<MediaType>,
    },

    #[error("上传中断，请重新上传：{0}")]
    BodyRead(String),

    #[error("文件（编号 {0}）不存在")]
    NotFound(i64),

    /// The row exists (or is about to) but the bytes do not; `key` is for the log.
    #[error("文件内容缺失，请重新上传；如仍有问题请联系管理员")]
    ObjectMissing { key: String },

    /// The stored bytes differ from the row's size or hash; `key` is for the log.
    #[error("文件内容与登记的校验值不符，请联系管理员")]
    Corrupt { key: String },

    #[error("文件不属于当前项目")]
    WrongTenant,

    #[error("文件存储配置无效：{0}")]
    Config(String),

    #[error("文件存储服务出错，请稍后再试")]
    Store(#[from] object_store::Error),

    #[error("临时文件读写失败：{0}")]
    Io(#[from] std::io::Error),

    #[error("数据库出错，请稍后再试")]
    Db(#[from] xiaobao_db::DbError),
}

impl From<sqlx::Error> for StorageError {
    fn from(e: sqlx::Error) -> Self {
        Self::Db(e.into())
    }
}

impl StorageError {
    /// Stable machine-readable code for the API's `{"error": {"code": …}}`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "document_too_large",
            Self::Empty => "document_empty",
            Self::TypeNotAllowed { .. } => "document_type_not_allowed",
            Self::LegacyFormat { .. } => "document_legacy_format",
            Self::ContentMismatch { .. } => "document_content_mismatch",
            Self::BodyRead(_) => "upload_interrupted",
            Self::NotFound(_) => "document_not_found",
            Self::ObjectMissing { .. } => "document_object_missing",
            Self::Corrupt { .. } => "document_corrupt",
            Self::WrongTenant => "document_wrong_tenant",
            Self::Config(_) => "storage_config",
            Self::Store(_) => "storage_unavailable",
            Self::Io(_) => "storage_io",
            Self::Db(_) => "database",
        }
    }

    /// Whether the user caused it (a 4xx) rather than the system (a 5xx).
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            Self::TooLarge { .. }
                | Self::Empty
                | Self::TypeNotAllowed { .. }
                | Self::LegacyFormat { .. }
                | Self::ContentMismatch { .. }
                | Self::BodyRead(_)
                | Self::NotFound(_)
                | Self::WrongTenant
        )
    }

    /// The HTTP status the API should answer with.
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            Self::TooLarge { .. } => S::PAYLOAD_TOO_LARGE,
            Self::Empty | Self::BodyRead(_) => S::BAD_REQUEST,
            Self::TypeNotAllowed { .. } | Self::LegacyFormat { .. } => S::UNSUPPORTED_MEDIA_TYPE,
            Self::ContentMismatch { .. } => S::UNPROCESSABLE_ENTITY,
            Self::NotFound(_) | Self::WrongTenant => S::NOT_FOUND,
            Self::Store(_) => S::SERVICE_UNAVAILABLE,
            Self::ObjectMissing { .. }
            | Self::Corrupt { .. }
            | Self::Config(_)
            | Self::Io(_)
            | Self::Db(_) => S::INTERNAL_SERVER_ERROR,
        }
    }
}

impl StorageError {
    /// Whether the uploader can fix it (size, emptiness, type, an interrupted upload).
    pub fn is_user_caused(&self) -> bool {
        matches!(
            self,
            Self::TooLarge { .. }
                | Self::Empty
                | Self::TypeNotAllowed { .. }
                | Self::LegacyFormat { .. }
                | Self::ContentMismatch { .. }
                | Self::BodyRead(_)
        )
    }
}

/// An upload refused for its size answers 413, one the uploader can fix otherwise 422 on
/// `file`; the rest are failures of the service.
impl From<StorageError> for xiaobao_domain::Failure {
    fn from(e: StorageError) -> Self {
        use xiaobao_domain::{Failure, Refusal};
        match e {
            StorageError::TooLarge { .. } => Refusal::too_large(e.to_string()).into(),
            e if e.is_user_caused() => Refusal::invalid_field("file", e.to_string()).into(),
            StorageError::Db(e) => e.into(),
            other => Failure::Internal(Box::new(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_xlsx_mismatch_message_tells_the_user_what_to_do() {
        let e = StorageError::ContentMismatch {
            claimed: MediaType::Xlsx,
            detected: None,
        };
        assert_eq!(
            e.to_string(),
            "文件内容不是 Excel 表格（.xlsx），请上传从 Excel 或 WPS 另存的 .xlsx 文件"
        );
        assert_eq!(e.code(), "document_content_mismatch");
    }

    #[test]
    fn size_messages_name_the_kind_and_the_limit_in_megabytes() {
        let e = StorageError::TooLarge {
            kind: DocumentKind::Qualification,
            limit_bytes: DocumentKind::Qualification.limits().max_bytes,
        };
        assert_eq!(
            e.to_string(),
            "资质证书文件不能超过 10 MB，请压缩或拆分后再上传"
        );
        assert_eq!(e.status(), http::StatusCode::PAYLOAD_TOO_LARGE);
        assert!(e.is_client_error());
    }

    #[test]
    fn infrastructure_errors_do_not_leak_detail_in_their_message() {
        let e = StorageError::Store(object_store::Error::Generic {
            store: "S3",
            source: "secret endpoint http://10.0.0.1 refused".into(),
        });
        assert_eq!(e.to_string(), "文件存储服务出错，请稍后再试");
        assert!(!e.is_client_error());
        assert_eq!(e.code(), "storage_unavailable");
    }
}
