//! Citizen identity numbers (公民身份号码) per GB 11643-1999.
//!
//! Rosters are typed or pasted from spreadsheets, so parsing is forgiving about presentation
//! (surrounding spaces including the ideographic space U+3000, full-width characters, lowercase
//! `x`) and strict about content (length, province, birth date, check character). Each failure
//! has its own variant with a message a school clerk can act on — including the classic
//! spreadsheet mishap where the number became `4.10105E+17`.
//!
//! The number is personal data of (mostly) minors: [`ResidentId`]'s `Debug` prints it masked and
//! it deliberately has no `Display`; use [`ResidentId::as_str`] where the full number is needed
//! and [`ResidentId::masked`] everywhere else.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

/// ISO 7064 MOD 11-2 weights of the first 17 digits.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character for each remainder 0..=10.
const CHECK_CHARS: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];
/// GB/T 2260 province-level codes (first two digits), plus 83 used by the residence permits
/// of Taiwan residents.
const PROVINCE_PREFIXES: [&str; 35] = [
    "11", "12", "13", "14", "15", // 北京 天津 河北 山西 内蒙古
    "21", "22", "23", // 辽宁 吉林 黑龙江
    "31", "32", "33", "34", "35", "36",
    "37", // 上海 江苏 浙江 安徽 福建 江西 山东
    "41", "42", "43", "44", "45", "46", // 河南 湖北 湖南 广东 广西 海南
    "50", "51", "52", "53", "54", // 重庆 四川 贵州 云南 西藏
    "61", "62", "63", "64", "65", // 陕西 甘肃 青海 宁夏 新疆
    "71", "81", "82", "83", // 台湾 香港 澳门 台湾居民居住证
];

/// A validated 18-character resident identity number, stored normalised (half-width, upper-case
/// `X`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ResidentId(String);

/// Gender as encoded in the 17th digit (odd = male).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gender {
    /// 男
    Male,
    /// 女
    Female,
}

/// Why a resident identity number was rejected. Messages are addressed to the person who typed
/// or uploaded it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResidentIdError {
    /// Nothing was entered.
    #[error("身份证号不能为空")]
    Empty,
    /// The spreadsheet turned the number into a floating-point number (e.g. `4.10105E+17`) and
    /// the last digits are lost.
    #[error(
        "身份证号被表格软件转成了科学计数法（如 4.10105E+17），后几位已丢失：请把该列设置为“文本”格式后重新录入完整的18位号码"
    )]
    ScientificNotation,
    /// An old 15-digit number.
    #[error("这是旧的15位身份证号，请填写18位的身份证号")]
    FifteenDigit,
    /// Not 18 characters.
    #[error("身份证号应为18位，实际为{len}位")]
    WrongLength {
        /// Number of characters after trimming.
        len: usize,
    },
    /// A character other than a digit (or `X` in the last position).
    #[error("身份证号第{position}位不是有效字符（前17位必须是数字，最后一位是数字或X）")]
    InvalidCharacter {
        /// 1-based position of the first offending character.
        position: usize,
    },
    /// The first two digits are not a province-level code.
    #[error("身份证号前两位“{prefix}”不是有效的省级行政区划代码")]
    BadRegion {
        /// The first two digits.
        prefix: String,
    },
    /// Digits 7–14 are not a valid date on or after 1900-01-01.
    #[error("身份证号第7–14位的出生日期无效")]
    BadBirthDate,
    /// The birth date lies after today.
    #[error("身份证号中的出生日期晚于今天")]
    FutureBirthDate,
    /// The check character does not match the first 17 digits.
    #[error("身份证号校验位错误：应为{expected}，实际为{actual}（请核对号码是否录入有误）")]
    BadCheckDigit {
        /// The check character computed from the first 17 digits.
        expected: char,
        /// The last character as entered.
        actual: char,
    },
}

impl ResidentId {
    /// Parses and validates without knowing today's date: the birth date must be a real date in
    /// 1900 or later, but may lie in the future. Prefer [`ResidentId::parse_at`] with today's
    /// date in China where the date is at hand.
    pub fn parse(input: &str) -> Result<ResidentId, ResidentIdError> {
        let (id, _) = Self::parse_inner(input)?;
        Ok(id)
    }

    /// Parses and validates, also rejecting birth dates after `today`.
    pub fn parse_at(input: &str, today: NaiveDate) -> Result<ResidentId, ResidentIdError> {
        let (id, birth) = Self::parse_inner(input)?;
        if birth > today {
            return Err(ResidentIdError::FutureBirthDate);
        }
        Ok(id)
    }

    fn parse_inner(input: &str) -> Result<(ResidentId, NaiveDate), ResidentIdError> {
        let normalised: String = input.trim().chars().map(to_half_width).collect();
        if normalised.is_empty() {
            return Err(ResidentIdError::Empty);
        }
        if looks_scientific(&normalised) {
            return Err(ResidentIdError::ScientificNotation);
        }
        let chars: Vec<char> = normalised.chars().collect();
        if chars.len() == 15 && chars.iter().all(char::is_ascii_digit) {
            return Err(ResidentIdError::FifteenDigit);
        }
        if chars.len() != 18 {
            return Err(ResidentIdError::WrongLength { len: chars.len() });
        }
        for (i, c) in chars.iter().enumerate() {
            let ok = c.is_ascii_digit() || (i == 17 && (*c == 'X' || *c == 'x'));
            if !ok {
                return Err(ResidentIdError::InvalidCharacter { position: i + 1 });
            }
        }
        let id: String = normalised.to_ascii_uppercase();
        let prefix = &id[..2];
        if !PROVINCE_PREFIXES.contains(&prefix) {
            return Err(ResidentIdError::BadRegion {
                prefix: prefix.to_owned(),
            });
        }
        let birth = birth_date_of(&id).ok_or(ResidentIdError::BadBirthDate)?;
        if birth.year() < 1900 {
            return Err(ResidentIdError::BadBirthDate);
        }
        let expected = check_char(&id[..17]);
        let actual = chars[17].to_ascii_uppercase();
        if expected != actual {
            return Err(ResidentIdError::BadCheckDigit { expected, actual });
        }
        Ok((ResidentId(id), birth))
    }

    /// The full, normalised number. Handle with care: personal data.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Birth date encoded in digits 7–14.
    #[must_use]
    pub fn birth_date(&self) -> NaiveDate {
        // Validated on construction; the fallback is unreachable.
        birth_date_of(&self.0).unwrap_or(NaiveDate::MIN)
    }

    /// Gender from the 17th digit: odd = male, even = female.
    #[must_use]
    pub fn gender(&self) -> Gender {
        let digit = self.0.as_bytes()[16] - b'0';
        if digit % 2 == 1 {
            Gender::Male
        } else {
            Gender::Female
        }
    }

    /// The six-digit region code of the place of first registration (GB/T 2260).
    #[must_use]
    pub fn region_prefix(&self) -> &str {
        &self.0[..6]
    }

    /// Masked for display and logs: first 6, eight `*`, last 4 — `410105********123X`.
    #[must_use]
    pub fn masked(&self) -> String {
        format!("{}********{}", &self.0[..6], &self.0[14..])
    }
}

impl fmt::Debug for ResidentId {
    /// Prints the masked number only: personal data must not reach logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ResidentId").field(&self.masked()).finish()
    }
}

impl FromStr for ResidentId {
    type Err = ResidentIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ResidentId::parse(s)
    }
}

impl TryFrom<String> for ResidentId {
    type Error = ResidentIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        ResidentId::parse(&s)
    }
}

impl From<ResidentId> for String {
    fn from(id: ResidentId) -> String {
        id.0
    }
}

/// The check character for 17 ASCII digits (ISO 7064 MOD 11-2). Non-digits count as zero;
/// callers pass validated digits.
#[must_use]
pub fn check_char(first17: &str) -> char {
    let sum: u32 = first17
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b.saturating_sub(b'0')) * w)
        .sum();
    CHECK_CHARS[(sum % 11) as usize]
}

fn birth_date_of(id: &str) -> Option<NaiveDate> {
    let digits = id.get(6..14)?;
    let year: i32 = digits.get(0..4)?.parse().ok()?;
    let month: u32 = digits.get(4..6)?.parse().ok()?;
    let day: u32 = digits.get(6..8)?.parse().ok()?;
    NaiveDate::from_ymd_opt(year, month, day)
}

/// Full-width ASCII variants (U+FF01..=U+FF5E) to their half-width forms.
fn to_half_width(c: char) -> char {
    let code = u32::from(c);
    if (0xFF01..=0xFF5E).contains(&code) {
        char::from_u32(code - 0xFEE0).unwrap_or(c)
    } else {
        c
    }
}

/// `4.10105E+17`, `4.10105e17`, `4.10105E17`, `410105E12`: mantissa digits with an optional
/// fraction, `e`/`E`, an optional sign and exponent digits.
fn looks_scientific(s: &str) -> bool {
    let Some((mantissa, exponent)) = s.split_once(['e', 'E']) else {
        return false;
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, "0"));
    let exponent = exponent.strip_prefix('+').unwrap_or(exponent);
    let all_digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    all_digits(int_part) && all_digits(frac_part) && all_digits(exponent)
}

impl Gender {
    /// 男 or 女.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Gender::Male => "男",
            Gender::Female => "女",
        }
    }
}

impl fmt::Display for Gender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// An unrecognised gender.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("无法识别的性别“{input}”（应为 男 或 女）")]
pub struct GenderError {
    /// The text as entered.
    pub input: String,
}

impl FromStr for Gender {
    type Err = GenderError;

    /// Accepts 男 / 女 (also `male` / `female`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "男" | "male" => Ok(Gender::Male),
            "女" | "female" => Ok(Gender::Female),
            _ => Err(GenderError {
                input: s.to_owned(),
            }),
        }
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    /// The specimen number printed in GB 11643-1999.
    const SPECIMEN: &str = "11010519491231002X";
    /// Computed for this test: 六盘水市钟山区, born 2015-03-12, sequence 123 (male).
    const COMPUTED: &str = "520201201503121235";
    /// Computed: 上海市, born 2009-01-01, sequence 234 (female).
    const COMPUTED_FEMALE: &str = "310104200901012341";

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn accepts_valid_numbers() {
        let id = ResidentId::parse(SPECIMEN).unwrap();
        assert_eq!(id.as_str(), SPECIMEN);
        assert_eq!(id.birth_date(), d("1949-12-31"));
        assert_eq!(id.gender(), Gender::Female);
        assert_eq!(id.region_prefix(), "110105");
        assert_eq!(id.masked(), "110105********002X");

        let id = ResidentId::parse_at(COMPUTED, d("2025-09-01")).unwrap();
        assert_eq!(id.birth_date(), d("2015-03-12"));
        assert_eq!(id.gender(), Gender::Male);
        assert_eq!(id.region_prefix(), "520201");

        assert_eq!(
            ResidentId::parse(COMPUTED_FEMALE).unwrap().gender(),
            Gender::Female
        );
    }

    #[test]
    fn normalises_presentation() {
        let expected = ResidentId::parse(SPECIMEN).unwrap();
        for variant in [
            "11010519491231002x",
            "  11010519491231002X\t",
            "\u{3000}11010519491231002X\u{3000}",
            "１１０１０５１９４９１２３１００２Ｘ",
            "１１０１０５１９４９１２３１００２ｘ",
        ] {
            assert_eq!(ResidentId::parse(variant).unwrap(), expected, "{variant:?}");
        }
    }

    #[test]
    fn check_char_matches_known_numbers() {
        assert_eq!(check_char("11010519491231002"), 'X');
        assert_eq!(check_char("52020120150312123"), '5');
        assert_eq!(check_char("31010420090101234"), '1');
    }

    #[test]
    fn every_single_digit_typo_is_caught() {
        // MOD 11-2 detects all single-character substitutions: change each of the first 17
        // digits to every other digit and expect a rejection (usually BadCheckDigit).
        for pos in 0..17 {
            for digit in b'0'..=b'9' {
                let mut bytes = COMPUTED.as_bytes().to_vec();
                if bytes[pos] == digit {
                    continue;
                }
                bytes[pos] = digit;
                let typo = String::from_utf8(bytes).unwrap();
                assert!(ResidentId::parse(&typo).is_err(), "{typo} accepted");
            }
        }
    }

    #[test]
    fn each_error_variant() {
        use ResidentIdError as E;
        let today = d("2025-09-01");
        let cases: Vec<(&str, E)> = vec![
            ("", E::Empty),
            ("\u{3000} ", E::Empty),
            ("4.10105E+17", E::ScientificNotation),
            ("4.10105e17", E::ScientificNotation),
            ("4.10105E17", E::ScientificNotation),
            ("410105491231002", E::FifteenDigit),
            ("4101051949123100", E::WrongLength { len: 16 }),
            ("11010519491231002X1", E::WrongLength { len: 19 }),
            ("1101051949123100X2", E::InvalidCharacter { position: 17 }),
            ("110105-9491231002X", E::InvalidCharacter { position: 7 }),
            (
                "99010519491231002X",
                E::BadRegion {
                    prefix: "99".into(),
                },
            ),
            ("110105194913310021", E::BadBirthDate),
            ("110105201502300021", E::BadBirthDate),
            ("110105189912310021", E::BadBirthDate),
            (
                "110105194912310021",
                E::BadCheckDigit {
                    expected: 'X',
                    actual: '1',
                },
            ),
            (
                "520201201503121233",
                E::BadCheckDigit {
                    expected: '5',
                    actual: '3',
                },
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                ResidentId::parse_at(input, today),
                Err(expected),
                "{input:?}"
            );
        }
        // A future birth date: valid in itself, rejected relative to today.
        let future = format!("{}{}", "52020120300101123", check_char("52020120300101123"));
        assert!(ResidentId::parse(&future).is_ok());
        assert_eq!(
            ResidentId::parse_at(&future, today),
            Err(E::FutureBirthDate)
        );
    }

    #[test]
    fn messages_are_actionable() {
        assert_eq!(
            ResidentId::parse("110105194912310021")
                .unwrap_err()
                .to_string(),
            "身份证号校验位错误：应为X，实际为1（请核对号码是否录入有误）"
        );
        assert!(
            ResidentId::parse("4.10105E+17")
                .unwrap_err()
                .to_string()
                .contains("科学计数法")
        );
        assert!(
            ResidentId::parse("410105491231002")
                .unwrap_err()
                .to_string()
                .contains("18位")
        );
    }

    #[test]
    fn debug_never_shows_the_full_number() {
        let id = ResidentId::parse(SPECIMEN).unwrap();
        let debug = format!("{id:?}");
        assert!(!debug.contains(SPECIMEN));
        assert!(debug.contains("110105********002X"));
    }

    #[test]
    fn serde_round_trips_and_validates() {
        let id = ResidentId::parse(SPECIMEN).unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{SPECIMEN}\""));
        assert_eq!(serde_json::from_str::<ResidentId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<ResidentId>("\"110105194912310021\"").is_err());
    }

    #[test]
    fn gender_labels() {
        assert_eq!("男".parse::<Gender>().unwrap(), Gender::Male);
        assert_eq!("女".parse::<Gender>().unwrap(), Gender::Female);
        assert_eq!(Gender::Female.label(), "女");
        assert!("X".parse::<Gender>().is_err());
    }
}
