//! What people type into roster cells, made comparable.
//!
//! Full-width ASCII typed with a Chinese input method (`１３８`, `（３）`, `Ｘ`) becomes half-width,
//! every kind of space is either collapsed to one ASCII space or removed, invisible characters
//! go. Most cells are already clean, so the clean text is borrowed rather than copied: a
//! 100,000-row roster should not allocate for every cell it merely checks.

use std::borrow::Cow;

/// What happens to spaces inside a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Spaces {
    /// Runs of spaces become one ASCII space, the ends are trimmed (notes, posts).
    Collapse,
    /// Every space goes (names, ID numbers, classes, 学籍号).
    Remove,
}

/// Characters that never belong in a cell's text.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}'
    ) || (c.is_control() && !c.is_whitespace())
}

/// Full-width forms of ASCII 0x21..=0x7E.
fn is_full_width(c: char) -> bool {
    ('\u{FF01}'..='\u{FF5E}').contains(&c)
}

/// Whether `s` is already what [`clean`] would make of it.
fn is_clean(s: &str, spaces: Spaces) -> bool {
    // ID numbers, 学籍号 and most classes: printable ASCII without spaces.
    if s.bytes().all(|b| (0x21..0x7F).contains(&b)) {
        return true;
    }
    // At the start a space would be a leading one.
    let mut after_space = true;
    for c in s.chars() {
        if c == ' ' {
            if spaces == Spaces::Remove || after_space {
                return false;
            }
            after_space = true;
            continue;
        }
        if c.is_whitespace() || is_full_width(c) || is_invisible(c) {
            return false;
        }
        after_space = false;
    }
    s.is_empty() || !after_space
}

/// Normalises a cell's text: full-width ASCII → half-width (`（` → `(`), ideographic and
/// other spaces → one space or none (see [`Spaces`]), zero-width and control characters
/// removed, ends trimmed. Borrows when the text is already clean.
pub(crate) fn clean(s: &str, spaces: Spaces) -> Cow<'_, str> {
    if is_clean(s, spaces) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.chars() {
        let c = if is_full_width(c) {
            char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c)
        } else if c.is_whitespace() {
            ' '
        } else if is_invisible(c) {
            continue;
        } else {
            c
        };
        if c == ' ' {
            pending_space = spaces == Spaces::Collapse && !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(c);
    }
    Cow::Owned(out)
}

/// Whether the text is blank once cleaned.
pub(crate) fn is_blank(s: &str) -> bool {
    s.chars().all(|c| c.is_whitespace() || is_invisible(c))
}

/// A header cell reduced to its words: cleaned without spaces, without required-markers
/// (`*`), colons and bracketed notes, so `* 身份证号（18位）` reads `身份证号`.
pub(crate) fn header_key(s: &str) -> String {
    let text = clean(s, Spaces::Remove);
    let mut out = String::with_capacity(text.len());
    let mut depth = 0u32;
    for c in text.chars() {
        match c {
            '(' | '[' | '【' | '〔' => depth += 1,
            ')' | ']' | '】' | '〕' => depth = depth.saturating_sub(1),
            _ if depth > 0 => {}
            '*' | ':' | '：' | '※' => {}
            c => out.push(c),
        }
    }
    out
}

/// A number cell as a person saw it: an integer as its digits (`410105`, not `410105.0`),
/// anything else as Rust prints it.
pub(crate) fn number_text(value: f64) -> String {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value}")
    }
}

/// `4.10105E+17`, `4.10105e17`, `410105E12`: what a spreadsheet shows for a long number it
/// turned into a floating-point one.
pub(crate) fn looks_scientific(s: &str) -> bool {
    let Some((mantissa, exponent)) = s.split_once(['e', 'E']) else {
        return false;
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, "0"));
    let exponent = exponent.strip_prefix('+').unwrap_or(exponent);
    let all_digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    all_digits(int_part) && all_digits(frac_part) && all_digits(exponent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_text_is_borrowed() {
        assert!(matches!(
            clean("410105201503121235", Spaces::Remove),
            Cow::Borrowed(_)
        ));
        assert!(matches!(clean("张三", Spaces::Remove), Cow::Borrowed(_)));
        assert!(matches!(
            clean("体育 教师", Spaces::Collapse),
            Cow::Borrowed(_)
        ));
        assert!(matches!(clean("", Spaces::Collapse), Cow::Borrowed(_)));
    }

    #[test]
    fn full_width_and_spaces_are_normalised() {
        assert_eq!(clean("七年级（３）班", Spaces::Remove), "七年级(3)班");
        assert_eq!(clean(" 张\u{3000}三 ", Spaces::Remove), "张三");
        assert_eq!(clean("  体育  教师\t", Spaces::Collapse), "体育 教师");
        assert_eq!(
            clean("\u{FEFF}学生\u{200B}姓名", Spaces::Remove),
            "学生姓名"
        );
        assert_eq!(clean("ａｂ ｃ", Spaces::Collapse), "ab c");
        assert_eq!(clean("a\r\nb", Spaces::Collapse), "a b");
        assert_eq!(clean("张三 ", Spaces::Collapse), "张三");
    }

    #[test]
    fn blank_cells() {
        assert!(is_blank(""));
        assert!(is_blank(" \u{3000}\t\u{200B}"));
        assert!(!is_blank(" a "));
    }

    #[test]
    fn header_keys() {
        assert_eq!(header_key("* 身份证号（18位）"), "身份证号");
        assert_eq!(header_key(" 学 生 姓 名 "), "学生姓名");
        assert_eq!(header_key("【必填】性别："), "性别");
    }

    #[test]
    fn numbers_and_scientific_forms() {
        assert_eq!(number_text(410_105.0), "410105");
        assert_eq!(number_text(1.5), "1.5");
        assert!(looks_scientific("4.10105E+17"));
        assert!(looks_scientific("4.10105e17"));
        assert!(!looks_scientific("410105201503121235"));
        assert!(!looks_scientific("G410105201503121235"));
    }
}
