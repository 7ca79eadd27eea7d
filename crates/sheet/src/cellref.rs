//! A1-style cell references within Excel's grid.

/// Rows in an Excel sheet.
pub(crate) const EXCEL_ROWS: u32 = 1_048_576;
/// Columns in an Excel sheet (A..XFD).
pub(crate) const EXCEL_COLUMNS: u32 = 16_384;

/// Parses `"B12"` into `(1, 12)`: the 0-based column and the 1-based row. Letters may be
/// lower case; anything else (`$`, spaces, a row of 0, beyond XFD1048576) is refused.
#[inline]
pub(crate) fn parse_ref(text: &str) -> Option<(u32, u32)> {
    let (mut column, mut letters) = (0u32, 0u32);
    let (mut row, mut digits) = (0u32, 0u32);
    for &b in text.as_bytes() {
        if b.is_ascii_alphabetic() && digits == 0 {
            letters += 1;
            if letters > 3 {
                return None;
            }
            column = column * 26 + u32::from((b | 0x20) - b'a') + 1;
        } else if b.is_ascii_digit() && letters > 0 {
            digits += 1;
            if digits > 7 {
                return None;
            }
            row = row * 10 + u32::from(b - b'0');
        } else {
            return None;
        }
    }
    let valid = digits > 0 && column <= EXCEL_COLUMNS && (1..=EXCEL_ROWS).contains(&row);
    valid.then(|| (column - 1, row))
}

/// Parses a row number `1..=1_048_576`.
pub(crate) fn parse_row(text: &str) -> Option<u32> {
    parse_row_bytes(text.as_bytes())
}

fn parse_row_bytes(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() || bytes.len() > 7 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let row = bytes.iter().fold(0u32, |n, b| n * 10 + u32::from(b - b'0'));
    (1..=EXCEL_ROWS).contains(&row).then_some(row)
}

/// Checks a `<dimension ref="A1:C10">` value (a single cell or a range).
pub(crate) fn valid_range(text: &str) -> bool {
    match text.split_once(':') {
        Some((from, to)) => parse_ref(from).is_some() && parse_ref(to).is_some(),
        None => parse_ref(text).is_some(),
    }
}

/// The letters of a 1-based column: 1 → `A`, 28 → `AB`. Column 0 gives an empty string.
pub(crate) fn column_name(column: u32) -> String {
    let mut letters = [0u8; 8];
    let mut at = letters.len();
    let mut n = column;
    while n > 0 && at > 0 {
        n -= 1;
        at -= 1;
        if let Some(slot) = letters.get_mut(at) {
            *slot = b'A' + (n % 26) as u8;
        }
        n /= 26;
    }
    letters
        .get(at..)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        assert_eq!(parse_ref("A1"), Some((0, 1)));
        assert_eq!(parse_ref("b12"), Some((1, 12)));
        assert_eq!(parse_ref("Z9"), Some((25, 9)));
        assert_eq!(parse_ref("AA1"), Some((26, 1)));
        assert_eq!(parse_ref("XFD1048576"), Some((16_383, 1_048_576)));
        for bad in [
            "",
            "A",
            "1",
            "A0",
            "XFE1",
            "A1048577",
            "AAAA1",
            "$A$1",
            "A1 ",
            " A1",
            "A-1",
            "A1B",
            "A10000000",
            "é1",
        ] {
            assert_eq!(parse_ref(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn rows_and_ranges() {
        assert_eq!(parse_row("1"), Some(1));
        assert_eq!(parse_row("1048576"), Some(1_048_576));
        assert_eq!(parse_row("0"), None);
        assert_eq!(parse_row("-1"), None);
        assert_eq!(parse_row("99999999999"), None);
        assert!(valid_range("A1"));
        assert!(valid_range("A1:XFD1048576"));
        assert!(!valid_range("A1:XFE1"));
        assert!(!valid_range("A1:"));
        assert!(!valid_range("A1:B2:C3"));
    }

    #[test]
    fn names() {
        assert_eq!(column_name(1), "A");
        assert_eq!(column_name(26), "Z");
        assert_eq!(column_name(27), "AA");
        assert_eq!(column_name(16_384), "XFD");
        assert_eq!(column_name(0), "");
        assert_eq!(column_name(u32::MAX), "MWLQKWU");
    }
}
