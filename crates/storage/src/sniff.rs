//! Telling a file's type from its first bytes ("magic bytes"), never from its name alone.
//!
//! - PDF: `%PDF-` within the first 1024 bytes (as PDF readers accept);
//! - PNG: the 8-byte PNG signature; JPEG: `FF D8 FF`;
//! - Office Open XML: a ZIP (`PK\x03\x04`) whose local file headers in the sniffed prefix name
//!   an entry under `xl/` (xlsx) or `word/` (docx). Excel and WPS write `[Content_Types].xml`,
//!   `_rels/.rels` and then the `xl/…` or `word/…` parts, all within the first few KiB;
//! - CSV: only when the name ends in `.csv` (text has no magic bytes): no NUL byte, no control
//!   character other than tab and line breaks, and the prefix decodes as UTF-8 (with or without
//!   BOM) or GB18030 (what Excel and WPS write on Chinese Windows).

use encoding_rs::{DecoderResult, GB18030};

use crate::kind::{MediaType, extension};

/// How many leading bytes the sniffer looks at.
pub const SNIFF_LEN: usize = 64 * 1024;

const ZIP_LOCAL_HEADER: &[u8; 4] = b"PK\x03\x04";

/// The type of a file from its first bytes. `truncated` says whether `head` is only a prefix
/// of the file (then a multi-byte character cut at its end is not an error). `file_name` is
/// consulted only for CSV, which has no magic bytes.
pub fn sniff(head: &[u8], truncated: bool, file_name: &str) -> Option<MediaType> {
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some(MediaType::Png);
    }
    if head.starts_with(b"\xff\xd8\xff") {
        return Some(MediaType::Jpeg);
    }
    let pdf_window = &head[..head.len().min(1024)];
    if pdf_window.windows(5).any(|w| w == b"%PDF-") {
        return Some(MediaType::Pdf);
    }
    if head.starts_with(ZIP_LOCAL_HEADER) {
        return sniff_ooxml(head);
    }
    if extension(file_name).as_deref() == Some("csv") && looks_like_csv_text(head, truncated) {
        return Some(MediaType::Csv);
    }
    None
}

/// Looks at the entry names of every ZIP local file header found in the prefix. Entries written
/// with a data descriptor carry no sizes in their header, so the headers are found by their
/// signature rather than by walking from one to the next.
fn sniff_ooxml(head: &[u8]) -> Option<MediaType> {
    let mut at = 0;
    while let Some(found) = find(&head[at..], ZIP_LOCAL_HEADER) {
        let p = at + found;
        at = p + ZIP_LOCAL_HEADER.len();
        let Some(fixed) = head.get(p..p + 30) else {
            break;
        };
        let name_len = usize::from(u16::from_le_bytes([fixed[26], fixed[27]]));
        let Some(name) = head.get(p + 30..p + 30 + name_len) else {
            continue;
        };
        if name.starts_with(b"xl/") {
            return Some(MediaType::Xlsx);
        }
        if name.starts_with(b"word/") {
            return Some(MediaType::Docx);
        }
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn looks_like_csv_text(head: &[u8], truncated: bool) -> bool {
    if head.is_empty() || head.contains(&0) {
        return false;
    }
    let body = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    let text = match std::str::from_utf8(body) {
        Ok(s) => Some(s.to_owned()),
        // A character cut by the end of the prefix is fine; anything else is not UTF-8.
        Err(e) if truncated && e.error_len().is_none() => {
            Some(String::from_utf8_lossy(&body[..e.valid_up_to()]).into_owned())
        }
        Err(_) => decode_gb18030(body, truncated),
    };
    text.is_some_and(|t| {
        t.chars()
            .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
    })
}

fn decode_gb18030(bytes: &[u8], truncated: bool) -> Option<String> {
    let mut decoder = GB18030.new_decoder_without_bom_handling();
    let capacity = decoder.max_utf8_buffer_length_without_replacement(bytes.len())?;
    let mut out = String::with_capacity(capacity);
    let (result, read) = decoder.decode_to_string_without_replacement(bytes, &mut out, !truncated);
    match result {
        DecoderResult::InputEmpty if read == bytes.len() => Some(out),
        _ => None,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal ZIP local file header for an entry named `name`, followed by `data` stored
    /// uncompressed (good enough for the sniffer, which reads only the headers).
    pub(crate) fn zip_entry(name: &str, data: &[u8], data_descriptor: bool) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(ZIP_LOCAL_HEADER);
        out.extend_from_slice(&20u16.to_le_bytes()); // version needed
        let flags: u16 = if data_descriptor { 0x0008 } else { 0 };
        out.extend_from_slice(&flags.to_le_bytes());
        out.extend_from_slice(&8u16.to_le_bytes()); // deflate (not really: fine for sniffing)
        out.extend_from_slice(&[0; 4]); // time, date
        out.extend_from_slice(&[0; 4]); // crc
        let size = if data_descriptor {
            0
        } else {
            data.len() as u32
        };
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        out
    }

    /// The start of an .xlsx as Excel writes it.
    pub(crate) fn xlsx_bytes() -> Vec<u8> {
        let mut v = zip_entry("[Content_Types].xml", &[0x8d; 1500], true);
        v.extend(zip_entry("_rels/.rels", &[0x5a; 300], true));
        v.extend(zip_entry("xl/workbook.xml", &[0x11; 900], true));
        v.extend(zip_entry("xl/worksheets/sheet1.xml", &[0x22; 4000], true));
        v
    }

    pub(crate) fn docx_bytes() -> Vec<u8> {
        let mut v = zip_entry("[Content_Types].xml", &[0x8d; 1200], false);
        v.extend(zip_entry("_rels/.rels", &[0x5a; 300], false));
        v.extend(zip_entry("word/document.xml", &[0x33; 2000], false));
        v
    }

    pub(crate) fn pdf_bytes() -> Vec<u8> {
        let mut v =
            b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n".to_vec();
        v.extend_from_slice(b"%%EOF\n");
        v
    }

    pub(crate) fn png_bytes() -> Vec<u8> {
        let mut v = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR".to_vec();
        v.extend_from_slice(&[0; 40]);
        v
    }

    pub(crate) fn jpeg_bytes() -> Vec<u8> {
        let mut v = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00".to_vec();
        v.extend_from_slice(&[0x42; 100]);
        v
    }

    #[test]
    fn every_binary_type_is_told_by_its_magic_bytes_whatever_the_name() {
        assert_eq!(sniff(&pdf_bytes(), false, "x.png"), Some(MediaType::Pdf));
        assert_eq!(sniff(&png_bytes(), false, "x"), Some(MediaType::Png));
        assert_eq!(sniff(&jpeg_bytes(), false, "x.pdf"), Some(MediaType::Jpeg));
        assert_eq!(sniff(&xlsx_bytes(), false, "x.docx"), Some(MediaType::Xlsx));
        assert_eq!(sniff(&docx_bytes(), false, "x.xlsx"), Some(MediaType::Docx));
    }

    #[test]
    fn a_pdf_with_a_short_preamble_is_still_a_pdf_but_not_one_past_1024_bytes() {
        let mut v = b"\r\n  ".to_vec();
        v.extend(pdf_bytes());
        assert_eq!(sniff(&v, false, "a.pdf"), Some(MediaType::Pdf));
        let mut far = vec![b' '; 2000];
        far.extend(pdf_bytes());
        assert_eq!(sniff(&far, false, "a.pdf"), None);
    }

    #[test]
    fn a_zip_that_is_not_office_is_nothing_we_accept() {
        let mut v = zip_entry("photos/a.jpg", &[1; 100], false);
        v.extend(zip_entry("readme.txt", &[2; 100], false));
        assert_eq!(sniff(&v, false, "a.xlsx"), None);
        // A header cut by the end of the prefix is not read past the end.
        let cut = &xlsx_bytes()[..40];
        assert_eq!(sniff(cut, true, "a.xlsx"), None);
    }

    #[test]
    fn csv_in_utf8_with_and_without_bom_and_in_gb18030_is_text() {
        let text = "姓名,身份证号,班级\n张三,110101201001011234,一年级1班\n";
        assert_eq!(
            sniff(text.as_bytes(), false, "名册.csv"),
            Some(MediaType::Csv)
        );
        let mut bom = b"\xef\xbb\xbf".to_vec();
        bom.extend_from_slice(text.as_bytes());
        assert_eq!(sniff(&bom, false, "名册.CSV"), Some(MediaType::Csv));
        let (gbk, _, had_errors) = GB18030.encode(text);
        assert!(!had_errors);
        assert!(std::str::from_utf8(&gbk).is_err(), "really not UTF-8");
        assert_eq!(sniff(&gbk, false, "名册.csv"), Some(MediaType::Csv));
    }

    #[test]
    fn a_character_cut_by_the_end_of_the_prefix_is_not_an_error() {
        let text = "姓名,班级\n张三,一年级\n".as_bytes();
        let cut = &text[..text.len() - 3]; // inside "级"
        assert_eq!(sniff(cut, true, "a.csv"), Some(MediaType::Csv));
        let (gbk, _, _) = GB18030.encode("姓名,班级\n张三,一年级\n");
        let cut = &gbk[..gbk.len() - 2]; // inside "级" + "\n" → first byte of "级" left over
        assert_eq!(sniff(cut, true, "a.csv"), Some(MediaType::Csv));
    }

    #[test]
    fn binary_or_utf16_content_named_csv_is_not_csv() {
        assert_eq!(sniff(b"a,b\n\x00\x01", false, "a.csv"), None);
        let utf16: Vec<u8> = "姓名,班级"
            .encode_utf16()
            .flat_map(|u| u.to_le_bytes())
            .collect();
        assert_eq!(sniff(&utf16, false, "a.csv"), None);
        assert_eq!(sniff(b"a,b\x07\n", false, "a.csv"), None);
        assert_eq!(sniff(b"\xff\xfe\xfd\x80", false, "a.csv"), None);
        // A text file not named .csv is nothing we accept.
        assert_eq!(sniff(b"a,b\n1,2\n", false, "a.txt"), None);
    }
}
