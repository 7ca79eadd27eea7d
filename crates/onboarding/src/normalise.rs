//! Cell normalisation: what people type into spreadsheets, made comparable.
//!
//! Full-width ASCII (digits, letters, punctuation typed with a Chinese input method) becomes
//! half-width, every kind of space becomes one ASCII space, invisible characters go, runs of
//! spaces collapse and the ends are trimmed. Mobiles get their own reading, because a
//! spreadsheet may have turned them into numbers.

/// Normalises a cell's text: full-width ASCII → half-width (`１３８` → `138`, `（` → `(`),
/// ideographic and other spaces → one space, zero-width characters removed, ends trimmed,
/// inner runs of spaces collapsed.
pub fn normalise_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.chars() {
        let c = match c {
            // Full-width forms of ASCII 0x21..=0x7E.
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' => continue,
            c if c.is_whitespace() => ' ',
            c if c.is_control() => continue,
            c => c,
        };
        if c == ' ' {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(c);
    }
    out
}

/// The key two names are compared by: the normalised text without any space, so
/// `郑州市 第一中学` and `郑州市第一中学` are the same school.
pub fn name_key(s: &str) -> String {
    normalise_text(s).chars().filter(|c| *c != ' ').collect()
}

/// A header cell reduced to its words: normalised, without spaces, required-markers (`*`),
/// colons and bracketed notes, so `* 联系人手机号（11位）` reads `联系人手机号`.
pub fn header_key(s: &str) -> String {
    let text = normalise_text(s);
    let mut out = String::with_capacity(text.len());
    let mut depth = 0u32;
    for c in text.chars() {
        match c {
            '(' | '[' | '【' | '〔' => depth += 1,
            ')' | ']' | '】' | '〕' => depth = depth.saturating_sub(1),
            _ if depth > 0 => {}
            ' ' | '*' | ':' | '：' | '\n' => {}
            c => out.push(c),
        }
    }
    out
}

/// Whether a region code is well-formed: six digits.
pub(crate) fn is_region_code(s: &str) -> bool {
    s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Whether a mobile number is well-formed: `^1[3-9]\d{9}$`.
pub fn is_mobile(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 11
        && b[0] == b'1'
        && (b'3'..=b'9').contains(&b[1])
        && b.iter().all(u8::is_ascii_digit)
}

/// Excel's General format shows an 11-digit number as `1.38123E+10`: six significant digits.
/// A value that has no more than that was most likely typed back (or re-imported) from that
/// display, so its last digits are gone.
const EXCEL_GENERAL_SIGNIFICANT_DIGITS: usize = 6;

/// Reads a mobile from a text cell (already normalised). Accepts `13812345678`,
/// `138 1234 5678`, `138-1234-5678`, `+86 13812345678`, `13812345678.0` and an exact
/// scientific form (`1.3812345678E+10`); rejects a scientific form that lost digits.
/// The error is the reason, without the column name.
pub fn mobile_from_text(text: &str) -> Result<String, String> {
    let compact: String = text.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    let compact = compact
        .strip_prefix("+86")
        .or_else(|| compact.strip_prefix("0086"))
        .unwrap_or(&compact)
        .to_string();
    if let Some(scientific) = parse_scientific(&compact) {
        return match scientific {
            Scientific::Exact(digits) => check_mobile(&digits, text),
            Scientific::Lost => Err(lost_digits(text)),
        };
    }
    let digits = match compact.split_once('.') {
        Some((int, frac))
            if !int.is_empty() && !frac.is_empty() && frac.bytes().all(|b| b == b'0') =>
        {
            int.to_string()
        }
        _ => compact,
    };
    check_mobile(&digits, text)
}

/// Reads a mobile from a numeric cell. An integral value is exact unless it carries no more
/// than six significant digits (the trace of Excel's `1.38123E+10` display, see above).
pub fn mobile_from_number(value: f64) -> Result<String, String> {
    let shown = excel_general(value);
    if !value.is_finite() || value < 0.0 || value.fract() != 0.0 || value >= 1e15 {
        return Err(format!("「{shown}」不是 11 位手机号"));
    }
    let digits = format!("{value:.0}");
    let significant = digits.trim_end_matches('0').len();
    if digits.len() == 11 && significant <= EXCEL_GENERAL_SIGNIFICANT_DIGITS {
        return Err(lost_digits(&shown));
    }
    check_mobile(&digits, &shown)
}

fn lost_digits(shown: &str) -> String {
    format!(
        "「{shown}」已被表格转成科学计数法，号码后几位已丢失；请把该列设为文本格式后重新填写完整的 11 位手机号"
    )
}

fn check_mobile(digits: &str, shown: &str) -> Result<String, String> {
    if is_mobile(digits) {
        Ok(digits.to_string())
    } else if digits.len() == 11 && digits.bytes().all(|b| b.is_ascii_digit()) {
        Err(format!("「{shown}」不是有效的手机号（应以 13–19 开头）"))
    } else {
        Err(format!("「{shown}」不是 11 位手机号"))
    }
}

enum Scientific {
    /// Every digit is there: the integer's digits.
    Exact(String),
    /// Fewer significant digits than the integer has.
    Lost,
}

/// `1.38123E+10`, `1.3812345678e10`: `None` when the text is not in that form.
fn parse_scientific(s: &str) -> Option<Scientific> {
    let (mantissa, exponent) = s.split_once(['e', 'E'])?;
    let exponent: usize = exponent
        .strip_prefix('+')
        .unwrap_or(exponent)
        .parse()
        .ok()?;
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let frac = frac.trim_end_matches('0');
    if frac.len() > exponent {
        // Not an integer at all.
        return Some(Scientific::Lost);
    }
    let mut digits = format!("{int}{frac}");
    let total = int.len() + exponent;
    while digits.len() < total {
        digits.push('0');
    }
    let digits = digits.trim_start_matches('0').to_string();
    let significant = format!("{int}{frac}").trim_start_matches('0').len();
    // A mantissa shorter than the number is what Excel prints for a long number it rounded.
    if significant < digits.len() {
        Some(Scientific::Lost)
    } else {
        Some(Scientific::Exact(digits))
    }
}

/// A number as a person saw it: integers as their digits, except a long integer with no more
/// than six significant digits, which is shown the way Excel showed it (`1.38123E+10`).
pub fn excel_general(value: f64) -> String {
    if !value.is_finite() || value.fract() != 0.0 || value.abs() >= 1e15 {
        return format!("{value}");
    }
    let digits = format!("{:.0}", value.abs());
    let significant = digits.trim_end_matches('0');
    if digits.len() < 11 || significant.len() > EXCEL_GENERAL_SIGNIFICANT_DIGITS {
        return format!("{value:.0}");
    }
    let sign = if value < 0.0 { "-" } else { "" };
    let (first, rest) = significant.split_at(1);
    let mantissa = if rest.is_empty() {
        first.to_string()
    } else {
        format!("{first}.{rest}")
    };
    format!("{sign}{mantissa}E+{}", digits.len() - 1)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    #[test]
    fn full_width_becomes_half_width_and_spaces_collapse() {
        assert_eq!(normalise_text("１３８１２３４５６７８"), "13812345678");
        assert_eq!(
            normalise_text("　金水区 \u{00A0} 教育局\t"),
            "金水区 教育局"
        );
        assert_eq!(normalise_text("初中（含完中）"), "初中(含完中)");
        assert_eq!(normalise_text("ＡＢＣ，ａｂｃ！"), "ABC,abc!");
        assert_eq!(normalise_text("\u{FEFF}学校\u{200B}全称"), "学校全称");
        assert_eq!(normalise_text("   "), "");
        assert_eq!(normalise_text("a\r\nb"), "a b");
    }

    #[test]
    fn name_key_ignores_spaces() {
        assert_eq!(name_key(" 郑州市  第一中学 "), name_key("郑州市第一中学"));
        assert_ne!(name_key("郑州市第一中学"), name_key("郑州市第二中学"));
    }

    #[test]
    fn header_key_drops_markers_and_notes() {
        assert_eq!(header_key("* 联系人手机号（11位）"), "联系人手机号");
        assert_eq!(header_key("联系人（明白人）"), "联系人");
        assert_eq!(header_key(" 学 校 全 称 "), "学校全称");
        assert_eq!(header_key("县（区、市）"), "县");
        assert_eq!(header_key("【必填】办学性质："), "办学性质");
    }

    #[test]
    fn mobile_format() {
        assert!(is_mobile("13812345678"));
        assert!(is_mobile("19912345678"));
        assert!(!is_mobile("12812345678"));
        assert!(!is_mobile("1381234567"));
        assert!(!is_mobile("1381234567a"));
    }

    #[test]
    fn mobiles_from_text() {
        assert_eq!(
            mobile_from_text("13812345678").as_deref(),
            Ok("13812345678")
        );
        assert_eq!(
            mobile_from_text("138 1234 5678").as_deref(),
            Ok("13812345678")
        );
        assert_eq!(
            mobile_from_text("138-1234-5678").as_deref(),
            Ok("13812345678")
        );
        assert_eq!(
            mobile_from_text("+8613812345678").as_deref(),
            Ok("13812345678")
        );
        assert_eq!(
            mobile_from_text("13812345678.0").as_deref(),
            Ok("13812345678")
        );
        assert_eq!(
            mobile_from_text("1.3812345678E+10").as_deref(),
            Ok("13812345678")
        );
        let lost = mobile_from_text("1.38123E+10").unwrap_err();
        assert!(lost.contains("科学计数法"), "{lost}");
        assert!(lost.contains("「1.38123E+10」"), "{lost}");
        assert_eq!(
            mobile_from_text("1381234").unwrap_err(),
            "「1381234」不是 11 位手机号"
        );
        assert!(
            mobile_from_text("12812345678")
                .unwrap_err()
                .contains("13–19")
        );
        assert!(mobile_from_text("13812345678.5").is_err());
    }

    #[test]
    fn mobiles_from_numbers() {
        assert_eq!(
            mobile_from_number(13_812_345_678.0).as_deref(),
            Ok("13812345678")
        );
        let lost = mobile_from_number(13_812_300_000.0).unwrap_err();
        assert!(lost.contains("「1.38123E+10」"), "{lost}");
        assert!(lost.contains("科学计数法"), "{lost}");
        assert_eq!(
            mobile_from_number(1_381_234.0).unwrap_err(),
            "「1381234」不是 11 位手机号"
        );
        assert!(mobile_from_number(13_812_345_678.5).is_err());
    }

    #[test]
    fn excel_general_display() {
        assert_eq!(excel_general(410_105.0), "410105");
        assert_eq!(excel_general(13_812_300_000.0), "1.38123E+10");
        assert_eq!(excel_general(1.5), "1.5");
    }
}
