//! File names: cleaning what a browser sends, and sending it back in `Content-Disposition`.

use http::HeaderValue;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Longest kept name, in characters (the extension is kept when shortening).
const MAX_NAME_CHARS: usize = 200;

/// Used when nothing usable is left of a name.
pub const UNNAMED: &str = "未命名文件";

/// RFC 5987 `attr-char`: everything else is percent-encoded in `filename*`.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// Cleans an uploaded file's name for storage and display: keeps only the last path part
/// (browsers on Windows may send `C:\…\名册.xlsx`), drops control characters and the invisible
/// bidirectional/zero-width marks that can disguise an extension, trims spaces and leading dots,
/// and shortens it to 200 characters keeping the extension. Chinese is kept as it is.
pub fn sanitize_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|&c| !c.is_control() && !is_invisible_format(c))
        .collect();
    let trimmed = cleaned.trim().trim_start_matches('.').trim();
    if trimmed.is_empty() {
        return UNNAMED.to_string();
    }
    if trimmed.chars().count() <= MAX_NAME_CHARS {
        return trimmed.to_string();
    }
    let (stem, ext) = match trimmed.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && ext.chars().count() <= 10 => (stem, ext),
        _ => (trimmed, ""),
    };
    let keep = MAX_NAME_CHARS
        - if ext.is_empty() {
            0
        } else {
            ext.chars().count() + 1
        };
    let mut out: String = stem.chars().take(keep).collect();
    if !ext.is_empty() {
        out.push('.');
        out.push_str(ext);
    }
    out
}

fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{200b}'..='\u{200f}' // zero-width space/joiners, LRM, RLM
        | '\u{202a}'..='\u{202e}' // bidi embeddings and overrides
        | '\u{2066}'..='\u{2069}' // bidi isolates
        | '\u{feff}')
}

/// `Content-Disposition` for downloading a document under its original name (RFC 6266 with the
/// RFC 5987 `filename*` parameter): `attachment; filename="<ASCII fallback>";
/// filename*=UTF-8''<percent-encoded UTF-8>`. Current browsers use `filename*` and so show the
/// Chinese name; the fallback keeps the name's ASCII letters, digits and extension.
pub fn content_disposition(original_name: &str) -> HeaderValue {
    let name = sanitize_file_name(original_name);
    let value = format!(
        "attachment; filename=\"{}\"; filename*=UTF-8''{}",
        ascii_fallback(&name),
        utf8_percent_encode(&name, ATTR_CHAR)
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

/// The name with every run of characters that cannot stand in a quoted ASCII parameter
/// replaced by one `_`; a stem with no ASCII letter or digit left becomes `document`.
fn ascii_fallback(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let keep = c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '%') || c == ' ';
        if keep {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let (stem, ext) = match out.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem.to_string(), format!(".{ext}")),
        _ => (out.clone(), String::new()),
    };
    if stem.chars().any(|c| c.is_ascii_alphanumeric()) {
        out
    } else {
        format!("document{ext}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_disposition_carries_the_chinese_name_per_rfc_5987() {
        let value = content_disposition("学生花名册（2025）.xlsx");
        assert_eq!(
            value.to_str().ok(),
            Some(
                "attachment; filename=\"_2025_.xlsx\"; \
                 filename*=UTF-8''%E5%AD%A6%E7%94%9F%E8%8A%B1%E5%90%8D%E5%86%8C%EF%BC%882025%EF%BC%89.xlsx"
            )
        );
        // The encoded part decodes back to exactly the name.
        let encoded = value
            .to_str()
            .ok()
            .and_then(|v| v.split("UTF-8''").nth(1))
            .map(|e| {
                percent_encoding::percent_decode_str(e)
                    .decode_utf8_lossy()
                    .into_owned()
            });
        assert_eq!(encoded.as_deref(), Some("学生花名册（2025）.xlsx"));
    }

    #[test]
    fn a_name_without_ascii_letters_falls_back_to_document_with_its_extension() {
        let value = content_disposition("保单.pdf");
        let v = value.to_str().unwrap_or_default();
        assert!(
            v.starts_with("attachment; filename=\"document.pdf\"; "),
            "{v}"
        );
    }

    #[test]
    fn quotes_backslashes_and_percent_cannot_break_the_quoted_fallback() {
        let value = content_disposition("a\"b%41;c.pdf");
        let v = value.to_str().unwrap_or_default();
        assert!(
            v.starts_with(
                "attachment; filename=\"a_b_41;c.pdf\"; filename*=UTF-8''a%22b%2541%3Bc.pdf"
            ),
            "{v}"
        );
    }

    #[test]
    fn sanitising_keeps_chinese_and_drops_paths_controls_and_bidi_tricks() {
        assert_eq!(
            sanitize_file_name("C:\\Users\\张老师\\桌面\\学生花名册（2025）.xlsx"),
            "学生花名册（2025）.xlsx"
        );
        assert_eq!(sanitize_file_name("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_file_name("名册\r\n\u{0}.csv"), "名册.csv");
        // "invoice<U+202E>fdp.exe" would display as "invoiceexe.pdf".
        assert_eq!(
            sanitize_file_name("invoice\u{202e}fdp.exe"),
            "invoicefdp.exe"
        );
        assert_eq!(sanitize_file_name("  .hidden.pdf "), "hidden.pdf");
        assert_eq!(sanitize_file_name("dir/"), UNNAMED);
        assert_eq!(sanitize_file_name(".."), UNNAMED);
    }

    #[test]
    fn long_names_are_shortened_keeping_the_extension() {
        let long = format!("{}.xlsx", "花".repeat(300));
        let s = sanitize_file_name(&long);
        assert_eq!(s.chars().count(), MAX_NAME_CHARS);
        assert!(s.ends_with("花.xlsx"));
    }
}
