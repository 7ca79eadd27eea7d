//! A look at a zip's directory before any zip library is trusted with it.
//!
//! Reads the end-of-central-directory record (and its ZIP64 form) straight from the bytes,
//! refuses archives with too many entries or a directory outside the file, counts the
//! central-directory headers present anywhere in the file, and walks the directory once to
//! check every entry's declared sizes and to note the names that tell XLSX, XLSB and ODS
//! apart. Everything here is a bounded loop over the input; nothing is allocated from a
//! number in the file.

use crate::{Format, Limits, SheetError};

const LOCAL_SIG: &[u8; 4] = b"PK\x03\x04";
const CENTRAL_SIG: &[u8; 4] = b"PK\x01\x02";
const EOCD_SIG: &[u8; 4] = b"PK\x05\x06";
const ZIP64_LOCATOR_SIG: &[u8; 4] = b"PK\x06\x07";
const ZIP64_EOCD_SIG: &[u8; 4] = b"PK\x06\x06";

const EOCD_LEN: usize = 22;
/// The record and the longest comment it may carry.
const EOCD_SEARCH: usize = EOCD_LEN + 65_535;
const ZIP64_LOCATOR_LEN: usize = 20;
const ZIP64_EOCD_LEN: usize = 56;
const CENTRAL_LEN: usize = 46;
const LOCAL_LEN: usize = 30;

/// Slack above `max_ratio × compressed` that any entry may declare (tiny parts compress far).
const RATIO_SLACK: u64 = 1024 * 1024;

const ODS_MIME: &[u8] = b"application/vnd.oasis.opendocument.spreadsheet";

/// What the directory walk found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Directory {
    pub(crate) entries: u64,
    pub(crate) format: Format,
}

/// True when the bytes start like a zip (a local header, or the record of an empty zip).
pub(crate) fn looks_like_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(LOCAL_SIG) || bytes.starts_with(EOCD_SIG)
}

fn bytes_at<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?)?.try_into().ok()
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    bytes_at::<2>(bytes, at).map(u16::from_le_bytes)
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    bytes_at::<4>(bytes, at).map(u32::from_le_bytes)
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    bytes_at::<8>(bytes, at).map(u64::from_le_bytes)
}

fn to_usize(n: u64) -> Option<usize> {
    usize::try_from(n).ok()
}

fn incomplete() -> SheetError {
    SheetError::corrupt("找不到压缩包目录，文件可能不完整")
}

fn broken_directory() -> SheetError {
    SheetError::corrupt("压缩包目录损坏")
}

/// The fields of the end record that matter, widened to their ZIP64 sizes.
#[derive(Debug, Clone, Copy)]
struct End {
    disk: u32,
    directory_disk: u32,
    entries_on_disk: u64,
    entries: u64,
    directory_size: u64,
    directory_offset: u64,
    /// Where the directory must end at the latest: the record that describes it.
    limit: usize,
}

fn parse_end(bytes: &[u8], at: usize) -> Option<(End, usize)> {
    let comment = u16_at(bytes, at + 20)?;
    let end = End {
        disk: u32::from(u16_at(bytes, at + 4)?),
        directory_disk: u32::from(u16_at(bytes, at + 6)?),
        entries_on_disk: u64::from(u16_at(bytes, at + 8)?),
        entries: u64::from(u16_at(bytes, at + 10)?),
        directory_size: u64::from(u32_at(bytes, at + 12)?),
        directory_offset: u64::from(u32_at(bytes, at + 16)?),
        limit: at,
    };
    Some((end, usize::from(comment)))
}

/// Scans backwards over at most the last 65,557 bytes for the end record. A record whose
/// comment runs exactly to the end of the file wins; otherwise the last one found.
fn find_end(bytes: &[u8]) -> Result<End, SheetError> {
    let last = bytes.len().checked_sub(EOCD_LEN).ok_or_else(incomplete)?;
    let first = bytes.len().saturating_sub(EOCD_SEARCH);
    let mut fallback = None;
    for at in (first..=last).rev() {
        if bytes.get(at..at + 4) != Some(EOCD_SIG.as_slice()) {
            continue;
        }
        let Some((end, comment)) = parse_end(bytes, at) else {
            continue;
        };
        if at + EOCD_LEN + comment == bytes.len() {
            return Ok(end);
        }
        fallback.get_or_insert(end);
    }
    fallback.ok_or_else(incomplete)
}

/// Follows the ZIP64 locator just before the end record, when there is one.
fn follow_zip64(bytes: &[u8], mut end: End) -> Result<End, SheetError> {
    let Some(locator) = end.limit.checked_sub(ZIP64_LOCATOR_LEN) else {
        return Ok(end);
    };
    if bytes.get(locator..locator + 4) != Some(ZIP64_LOCATOR_SIG.as_slice()) {
        return Ok(end);
    }
    let record = u64_at(bytes, locator + 8)
        .and_then(to_usize)
        .ok_or_else(broken_directory)?;
    if record
        .checked_add(ZIP64_EOCD_LEN)
        .is_none_or(|e| e > locator)
        || bytes.get(record..record + 4) != Some(ZIP64_EOCD_SIG.as_slice())
    {
        return Err(broken_directory());
    }
    let field = |at: usize| u64_at(bytes, record + at).ok_or_else(broken_directory);
    let word = |at: usize| u32_at(bytes, record + at).ok_or_else(broken_directory);
    end.disk = word(16)?;
    end.directory_disk = word(20)?;
    end.entries_on_disk = field(24)?;
    end.entries = field(32)?;
    end.directory_size = field(40)?;
    end.directory_offset = field(48)?;
    end.limit = record;
    Ok(end)
}

/// Counts central-directory headers anywhere in the file. Any zip reader can only ever list
/// entries whose headers are really there, so this bounds the entries whichever end record
/// that reader settles on.
fn count_central_headers(bytes: &[u8]) -> usize {
    let mut count = 0;
    let mut rest = bytes;
    while let Some(at) = rest.iter().position(|&b| b == b'P') {
        let tail = rest.get(at..).unwrap_or_default();
        if tail.starts_with(CENTRAL_SIG) {
            count += 1;
        }
        rest = tail.get(1..).unwrap_or_default();
    }
    count
}

/// Whether the directory walk refuses entries by their declared sizes. [`crate::sniff`]
/// only wants to know what the file is, so that an oversized workbook is still called a
/// workbook (and [`crate::Workbook::open`] says what is wrong with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sizes {
    Check,
    Ignore,
}

/// Checks the archive's directory against `limits` and finds what kind of document it holds.
pub(crate) fn scan(bytes: &[u8], limits: &Limits, sizes: Sizes) -> Result<Directory, SheetError> {
    let end = follow_zip64(bytes, find_end(bytes)?)?;
    let too_many = || SheetError::too_complex("压缩包内文件过多");
    let max_entries = u64::try_from(limits.max_entries).unwrap_or(u64::MAX);
    if end.entries.max(end.entries_on_disk) > max_entries {
        return Err(too_many());
    }
    if end.disk != 0 || end.directory_disk != 0 {
        return Err(SheetError::corrupt("不支持分卷压缩包"));
    }
    let start = to_usize(end.directory_offset).ok_or_else(broken_directory)?;
    let size = to_usize(end.directory_size).ok_or_else(broken_directory)?;
    let directory_end = start
        .checked_add(size)
        .filter(|&e| e <= end.limit)
        .ok_or_else(|| SheetError::corrupt("压缩包目录位置超出文件范围"))?;
    if count_central_headers(bytes) > limits.max_entries {
        return Err(too_many());
    }
    walk(bytes, start, directory_end, end.entries, limits, sizes)
}

#[derive(Default)]
struct Names {
    workbook_xml: bool,
    workbook_bin: bool,
    ods: bool,
}

/// Reads `entries` central headers from `start`, checking each one's declared sizes.
fn walk(
    bytes: &[u8],
    start: usize,
    directory_end: usize,
    entries: u64,
    limits: &Limits,
    sizes: Sizes,
) -> Result<Directory, SheetError> {
    let mut names = Names::default();
    let mut at = start;
    for _ in 0..entries {
        let header_end = at
            .checked_add(CENTRAL_LEN)
            .filter(|&e| e <= directory_end)
            .ok_or_else(broken_directory)?;
        if bytes.get(at..at + 4) != Some(CENTRAL_SIG.as_slice()) {
            return Err(broken_directory());
        }
        let field16 = |off: usize| u16_at(bytes, at + off).map(usize::from);
        let (Some(method), Some(name_len), Some(extra_len), Some(comment_len)) =
            (field16(10), field16(28), field16(30), field16(32))
        else {
            return Err(broken_directory());
        };
        let mut compressed = u32_at(bytes, at + 20).map_or(0, u64::from);
        let mut uncompressed = u32_at(bytes, at + 24).map_or(0, u64::from);
        let mut local = u32_at(bytes, at + 42).map_or(0, u64::from);
        let name_end = header_end + name_len;
        let extra_end = name_end + extra_len;
        let next = extra_end + comment_len;
        if next > directory_end {
            return Err(broken_directory());
        }
        let name = bytes.get(header_end..name_end).unwrap_or_default();
        let extra = bytes.get(name_end..extra_end).unwrap_or_default();
        zip64_sizes(extra, &mut uncompressed, &mut compressed, &mut local);
        if sizes == Sizes::Check {
            check_declared(uncompressed, compressed, limits)?;
        }
        note_name(bytes, name, method, compressed, local, &mut names);
        at = next;
    }
    let format = if names.workbook_xml {
        Format::Xlsx
    } else if names.workbook_bin {
        Format::Xlsb
    } else if names.ods {
        Format::Ods
    } else {
        Format::OtherZip
    };
    Ok(Directory { entries, format })
}

/// Replaces saturated 32-bit sizes with those of the ZIP64 extra field, in its fixed order.
fn zip64_sizes(extra: &[u8], uncompressed: &mut u64, compressed: &mut u64, local: &mut u64) {
    let mut rest = extra;
    while let (Some(id), Some(len)) = (u16_at(rest, 0), u16_at(rest, 2)) {
        let len = usize::from(len);
        let Some(data) = rest.get(4..4 + len) else {
            return;
        };
        if id == 0x0001 {
            let mut off = 0;
            for value in [uncompressed, compressed, local] {
                if *value == u64::from(u32::MAX)
                    && let Some(wide) = u64_at(data, off)
                {
                    *value = wide;
                    off += 8;
                }
            }
            return;
        }
        rest = rest.get(4 + len..).unwrap_or_default();
    }
}

/// Refuses an entry whose declared size alone is over the limits.
pub(crate) fn check_declared(
    uncompressed: u64,
    compressed: u64,
    limits: &Limits,
) -> Result<(), SheetError> {
    if uncompressed > limits.max_entry_bytes {
        return Err(SheetError::too_complex("压缩包内单个文件解压后过大"));
    }
    let allowed = limits
        .max_ratio
        .saturating_mul(compressed)
        .saturating_add(RATIO_SLACK);
    if uncompressed > allowed {
        return Err(SheetError::too_complex("压缩比异常"));
    }
    Ok(())
}

fn note_name(
    bytes: &[u8],
    name: &[u8],
    method: usize,
    compressed: u64,
    local: u64,
    names: &mut Names,
) {
    if name.eq_ignore_ascii_case(b"xl/workbook.xml") {
        names.workbook_xml = true;
    } else if name.eq_ignore_ascii_case(b"xl/workbook.bin") {
        names.workbook_bin = true;
    } else if name == b"mimetype" && method == 0 {
        // OpenDocument stores its `mimetype` first and uncompressed.
        let content = to_usize(local).and_then(|local| {
            if bytes_at::<4>(bytes, local)? != *LOCAL_SIG {
                return None;
            }
            let name_len = usize::from(u16_at(bytes, local.checked_add(26)?)?);
            let extra_len = usize::from(u16_at(bytes, local.checked_add(28)?)?);
            let data = local.checked_add(LOCAL_LEN + name_len + extra_len)?;
            let len = to_usize(compressed)?.min(ODS_MIME.len());
            bytes.get(data..data.checked_add(len)?)
        });
        if content == Some(ODS_MIME) {
            names.ods = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end_record(entries: u16, size: u32, offset: u32) -> Vec<u8> {
        let mut v = EOCD_SIG.to_vec();
        v.extend_from_slice(&[0, 0, 0, 0]);
        v.extend_from_slice(&entries.to_le_bytes());
        v.extend_from_slice(&entries.to_le_bytes());
        v.extend_from_slice(&size.to_le_bytes());
        v.extend_from_slice(&offset.to_le_bytes());
        v.extend_from_slice(&0u16.to_le_bytes());
        v
    }

    #[test]
    fn empty_zip_is_other() {
        let bytes = end_record(0, 0, 0);
        assert!(looks_like_zip(&bytes));
        let dir = scan(&bytes, &Limits::DEFAULT, Sizes::Check).expect("empty zip");
        assert_eq!(dir.format, Format::OtherZip);
        assert_eq!(dir.entries, 0);
    }

    #[test]
    fn entry_count_is_checked_first() {
        let bytes = end_record(60_000, 0, 0);
        assert_eq!(
            scan(&bytes, &Limits::DEFAULT, Sizes::Check),
            Err(SheetError::too_complex("压缩包内文件过多"))
        );
    }

    #[test]
    fn directory_outside_the_file() {
        let bytes = end_record(1, 46, 1_000_000);
        assert!(matches!(
            scan(&bytes, &Limits::DEFAULT, Sizes::Check),
            Err(SheetError::Corrupt(_))
        ));
        let bytes = end_record(1, u32::MAX, 0);
        assert!(matches!(
            scan(&bytes, &Limits::DEFAULT, Sizes::Check),
            Err(SheetError::Corrupt(_))
        ));
    }

    #[test]
    fn zip64_counts_are_followed() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(ZIP64_EOCD_SIG);
        bytes.extend_from_slice(&44u64.to_le_bytes());
        bytes.extend_from_slice(&[45, 0, 45, 0]);
        bytes.extend_from_slice(&0u32.to_le_bytes());
        bytes.extend_from_slice(&0u32.to_le_bytes());
        bytes.extend_from_slice(&5_000_000_000u64.to_le_bytes());
        bytes.extend_from_slice(&5_000_000_000u64.to_le_bytes());
        bytes.extend_from_slice(&0u64.to_le_bytes());
        bytes.extend_from_slice(&0u64.to_le_bytes());
        bytes.extend_from_slice(ZIP64_LOCATOR_SIG);
        bytes.extend_from_slice(&0u32.to_le_bytes());
        bytes.extend_from_slice(&0u64.to_le_bytes());
        bytes.extend_from_slice(&1u32.to_le_bytes());
        bytes.extend_from_slice(&end_record(u16::MAX, u32::MAX, u32::MAX));
        assert_eq!(
            scan(&bytes, &Limits::DEFAULT, Sizes::Check),
            Err(SheetError::too_complex("压缩包内文件过多"))
        );
        // A locator pointing nowhere.
        let at = bytes.len() - EOCD_LEN - ZIP64_LOCATOR_LEN + 8;
        bytes.splice(at..at + 8, 7u64.to_le_bytes());
        assert!(matches!(
            scan(&bytes, &Limits::DEFAULT, Sizes::Check),
            Err(SheetError::Corrupt(_))
        ));
    }

    #[test]
    fn no_end_record() {
        assert!(matches!(
            scan(b"PK\x03\x04 truncated", &Limits::DEFAULT, Sizes::Check),
            Err(SheetError::Corrupt(_))
        ));
        assert!(matches!(
            scan(b"", &Limits::DEFAULT, Sizes::Check),
            Err(SheetError::Corrupt(_))
        ));
    }

    #[test]
    fn headers_are_counted_anywhere() {
        let mut bytes = CENTRAL_SIG.repeat(3);
        bytes.extend_from_slice(b"PPK\x01\x02P");
        assert_eq!(count_central_headers(&bytes), 4);
        assert_eq!(count_central_headers(b""), 0);
        assert_eq!(count_central_headers(b"PK\x01"), 0);
    }

    #[test]
    fn declared_sizes() {
        let limits = Limits::DEFAULT;
        assert!(check_declared(1_000, 10, &limits).is_ok());
        assert!(check_declared(RATIO_SLACK, 0, &limits).is_ok());
        assert!(check_declared(RATIO_SLACK + 1, 0, &limits).is_err());
        assert!(check_declared(2_000_000, 1_000, &limits).is_ok());
        assert!(check_declared(3_000_000, 1_000, &limits).is_err());
        assert!(check_declared(u64::MAX, u64::MAX, &limits).is_err());
    }

    #[test]
    fn zip64_extra_field() {
        let mut extra = vec![0x99, 0x99, 2, 0, 0, 0];
        extra.extend_from_slice(&[1, 0, 16, 0]);
        extra.extend_from_slice(&7u64.to_le_bytes());
        extra.extend_from_slice(&9u64.to_le_bytes());
        let (mut u, mut c, mut l) = (u64::from(u32::MAX), u64::from(u32::MAX), 5);
        zip64_sizes(&extra, &mut u, &mut c, &mut l);
        assert_eq!((u, c, l), (7, 9, 5));
        // Truncated fields are left alone.
        let (mut u, mut c, mut l) = (u64::from(u32::MAX), 1, 2);
        zip64_sizes(&[1, 0, 200, 0, 1], &mut u, &mut c, &mut l);
        assert_eq!(u, u64::from(u32::MAX));
    }
}
