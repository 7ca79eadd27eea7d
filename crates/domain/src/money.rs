//! Money as an integer number of fen (分, 1/100 CNY).
//!
//! Premiums, limits and claim amounts are never held in floating point: a rate of 5 CNY times
//! 1,478,100 students must come out at exactly 7,390,500.00 CNY.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Mul, Neg, Sub, SubAssign};

use serde::{Deserialize, Serialize};

/// An amount of money in fen (分). `Fen(100)` is one yuan.
///
/// Serialised as a plain integer of fen. Arithmetic uses the ordinary `i64` operators (amounts in
/// this domain stay many orders of magnitude below `i64::MAX`); use [`Fen::checked_mul`] where a
/// product of untrusted numbers is computed.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Fen(pub i64);

/// Why a yuan amount typed by a user could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Nothing was entered.
    #[error("金额不能为空")]
    Empty,
    /// A minus sign was entered.
    #[error("金额不能为负数：{input}")]
    Negative {
        /// The text as entered.
        input: String,
    },
    /// More than two digits after the decimal point.
    #[error("金额最多保留两位小数（精确到分）：{input}")]
    TooManyDecimals {
        /// The text as entered.
        input: String,
    },
    /// Not a number.
    #[error("金额格式不正确：{input}（应为数字，例如 10 或 10.50）")]
    Invalid {
        /// The text as entered.
        input: String,
    },
    /// Too large to be held.
    #[error("金额过大，超出可计算范围：{input}")]
    Overflow {
        /// The text as entered.
        input: String,
    },
}

impl Fen {
    /// Zero fen.
    pub const ZERO: Fen = Fen(0);

    /// Whole yuan to fen: `Fen::from_yuan(10) == Fen(1000)`.
    #[must_use]
    pub const fn from_yuan(yuan: i64) -> Fen {
        Fen(yuan * 100)
    }

    /// The number of fen.
    #[must_use]
    pub const fn fen(self) -> i64 {
        self.0
    }

    /// `self × factor`, or `None` on overflow.
    #[must_use]
    pub fn checked_mul(self, factor: i64) -> Option<Fen> {
        self.0.checked_mul(factor).map(Fen)
    }

    /// `self + other`, or `None` on overflow.
    #[must_use]
    pub fn checked_add(self, other: Fen) -> Option<Fen> {
        self.0.checked_add(other.0).map(Fen)
    }

    /// The share `numerator / denominator` of this amount, rounded to the nearest fen with halves
    /// rounded away from zero (商业四舍五入). `denominator` must not be zero; a zero denominator
    /// yields zero.
    ///
    /// `Fen(1001).share(1, 2) == Fen(501)`; `Fen(10000).share(230, 1000) == Fen(2300)`.
    #[must_use]
    pub fn share(self, numerator: u32, denominator: u32) -> Fen {
        if denominator == 0 {
            return Fen::ZERO;
        }
        let n = i128::from(self.0) * i128::from(numerator);
        let d = i128::from(denominator);
        let q = n / d;
        let r = n % d;
        let rounded = if 2 * r.abs() >= d { q + n.signum() } else { q };
        // |result| <= |self| * numerator / denominator; saturate for absurd numerators.
        Fen(i64::try_from(rounded).unwrap_or(if rounded < 0 { i64::MIN } else { i64::MAX }))
    }

    /// The amount in yuan with thousands separators and two decimals: `"7,390,500.00"`;
    /// negative amounts start with `-`.
    #[must_use]
    pub fn yuan_string(self) -> String {
        let abs = self.0.unsigned_abs();
        let yuan = (abs / 100).to_string();
        let cents = abs % 100;
        let mut grouped = String::with_capacity(yuan.len() + yuan.len() / 3 + 4);
        for (i, ch) in yuan.chars().enumerate() {
            if i > 0 && (yuan.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(ch);
        }
        let sign = if self.0 < 0 { "-" } else { "" };
        format!("{sign}{grouped}.{cents:02}")
    }

    /// Reads a non-negative yuan amount as typed by a person: `"10"`, `"10.5"`, `"10.50"`,
    /// `"7,390,500.00"` (thousands separators must then be correctly placed). Surrounding
    /// whitespace is ignored. Rejects more than two decimals, negative amounts and anything else.
    pub fn parse_yuan(input: &str) -> Result<Fen, MoneyError> {
        let s = input.trim();
        let invalid = || MoneyError::Invalid {
            input: input.to_owned(),
        };
        if s.is_empty() {
            return Err(MoneyError::Empty);
        }
        if s.starts_with('-') || s.starts_with('－') {
            return Err(MoneyError::Negative {
                input: input.to_owned(),
            });
        }
        let (int_part, frac_part) = match s.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (s, None),
        };
        let digits = strip_thousands_separators(int_part).ok_or_else(invalid)?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let cents = match frac_part {
            None => 0,
            Some(f) => {
                if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(invalid());
                }
                if f.len() > 2 {
                    return Err(MoneyError::TooManyDecimals {
                        input: input.to_owned(),
                    });
                }
                let v: i64 = f.parse().map_err(|_| invalid())?;
                if f.len() == 1 { v * 10 } else { v }
            }
        };
        let overflow = || MoneyError::Overflow {
            input: input.to_owned(),
        };
        let yuan: i64 = digits.parse().map_err(|_| overflow())?;
        yuan.checked_mul(100)
            .and_then(|f| f.checked_add(cents))
            .map(Fen)
            .ok_or_else(overflow)
    }
}

/// Removes correctly placed thousands separators ("7,390,500" → "7390500"); `None` when commas
/// are misplaced. Text without commas is returned unchanged.
fn strip_thousands_separators(s: &str) -> Option<String> {
    if !s.contains(',') {
        return Some(s.to_owned());
    }
    let mut groups = s.split(',');
    let first = groups.next()?;
    if first.is_empty() || first.len() > 3 {
        return None;
    }
    let mut out = first.to_owned();
    for g in groups {
        if g.len() != 3 {
            return None;
        }
        out.push_str(g);
    }
    Some(out)
}

impl fmt::Display for Fen {
    /// `¥7,390,500.00`; negative amounts as `-¥1.00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.yuan_string();
        match s.strip_prefix('-') {
            Some(rest) => write!(f, "-¥{rest}"),
            None => write!(f, "¥{s}"),
        }
    }
}

impl std::str::FromStr for Fen {
    type Err = MoneyError;

    /// Same as [`Fen::parse_yuan`]: the text is in yuan.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Fen::parse_yuan(s)
    }
}

impl Add for Fen {
    type Output = Fen;
    fn add(self, rhs: Fen) -> Fen {
        Fen(self.0 + rhs.0)
    }
}

impl Sub for Fen {
    type Output = Fen;
    fn sub(self, rhs: Fen) -> Fen {
        Fen(self.0 - rhs.0)
    }
}

impl Mul<i64> for Fen {
    type Output = Fen;
    fn mul(self, rhs: i64) -> Fen {
        Fen(self.0 * rhs)
    }
}

impl Neg for Fen {
    type Output = Fen;
    fn neg(self) -> Fen {
        Fen(-self.0)
    }
}

impl AddAssign for Fen {
    fn add_assign(&mut self, rhs: Fen) {
        self.0 += rhs.0;
    }
}

impl SubAssign for Fen {
    fn sub_assign(&mut self, rhs: Fen) {
        self.0 -= rhs.0;
    }
}

impl Sum for Fen {
    fn sum<I: Iterator<Item = Fen>>(iter: I) -> Fen {
        iter.fold(Fen::ZERO, Add::add)
    }
}

impl<'a> Sum<&'a Fen> for Fen {
    fn sum<I: Iterator<Item = &'a Fen>>(iter: I) -> Fen {
        iter.copied().sum()
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    #[test]
    fn formats_with_thousands_separators() {
        assert_eq!(Fen(739_050_000).yuan_string(), "7,390,500.00");
        assert_eq!(Fen(739_050_000).to_string(), "¥7,390,500.00");
        assert_eq!(Fen(0).to_string(), "¥0.00");
        assert_eq!(Fen(5).yuan_string(), "0.05");
        assert_eq!(Fen(12_345).yuan_string(), "123.45");
        assert_eq!(Fen(100_000).yuan_string(), "1,000.00");
        assert_eq!(Fen(99_999).yuan_string(), "999.99");
        assert_eq!(Fen(-150).yuan_string(), "-1.50");
        assert_eq!(Fen(-150).to_string(), "-¥1.50");
        assert_eq!(Fen(i64::MIN).yuan_string(), "-92,233,720,368,547,758.08");
    }

    #[test]
    fn parses_yuan_amounts() {
        assert_eq!(Fen::parse_yuan("10").unwrap(), Fen(1000));
        assert_eq!(Fen::parse_yuan("10.5").unwrap(), Fen(1050));
        assert_eq!(Fen::parse_yuan("10.50").unwrap(), Fen(1050));
        assert_eq!(Fen::parse_yuan("0.05").unwrap(), Fen(5));
        assert_eq!(Fen::parse_yuan(" 7,390,500.00 ").unwrap(), Fen(739_050_000));
        assert_eq!("15".parse::<Fen>().unwrap(), Fen::from_yuan(15));
    }

    #[test]
    fn rejects_bad_yuan_amounts() {
        assert_eq!(Fen::parse_yuan(""), Err(MoneyError::Empty));
        assert_eq!(Fen::parse_yuan("  "), Err(MoneyError::Empty));
        assert!(matches!(
            Fen::parse_yuan("10.505"),
            Err(MoneyError::TooManyDecimals { .. })
        ));
        assert!(matches!(
            Fen::parse_yuan("-1"),
            Err(MoneyError::Negative { .. })
        ));
        for bad in [
            "abc", "10.", ".5", "1e3", "+5", "1,00", "12,3456", "1.2.3", "10元", "1 000",
        ] {
            assert!(
                matches!(Fen::parse_yuan(bad), Err(MoneyError::Invalid { .. })),
                "{bad} should be invalid"
            );
        }
        assert!(matches!(
            Fen::parse_yuan("99999999999999999999"),
            Err(MoneyError::Overflow { .. })
        ));
        assert_eq!(
            Fen::parse_yuan("10.505").unwrap_err().to_string(),
            "金额最多保留两位小数（精确到分）：10.505"
        );
    }

    #[test]
    fn parse_and_format_round_trip() {
        for fen in [0, 1, 99, 100, 101, 123_456_789, 739_050_000] {
            let f = Fen(fen);
            assert_eq!(Fen::parse_yuan(&f.yuan_string()).unwrap(), f);
        }
    }

    #[test]
    fn arithmetic_and_serde() {
        let a = Fen::from_yuan(5) * 1_478_100;
        let b = Fen::from_yuan(15) * 37_100;
        assert_eq!(a + b, Fen::from_yuan(7_947_000));
        assert_eq!((a + b) - b, a);
        assert_eq!([a, b].iter().sum::<Fen>(), a + b);
        assert_eq!(serde_json::to_string(&Fen(1050)).unwrap(), "1050");
        assert_eq!(serde_json::from_str::<Fen>("1050").unwrap(), Fen(1050));
        assert!(Fen(1) < Fen(2));
        assert_eq!(Fen(i64::MAX).checked_mul(2), None);
    }

    #[test]
    fn share_rounds_half_away_from_zero() {
        assert_eq!(Fen(10_000).share(230, 1000), Fen(2300));
        assert_eq!(Fen(1001).share(50, 100), Fen(501));
        assert_eq!(Fen(1003).share(1, 3), Fen(334));
        assert_eq!(Fen(1002).share(1, 3), Fen(334));
        assert_eq!(Fen(1001).share(1, 3), Fen(334));
        assert_eq!(Fen(1000).share(1, 3), Fen(333));
        assert_eq!(Fen(-1001).share(1, 2), Fen(-501));
        assert_eq!(Fen(7).share(1, 0), Fen(0));
    }
}
