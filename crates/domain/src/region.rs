//! Administrative regions: GB/T 2260 codes and the levels of the education hierarchy.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A GB/T 2260 administrative division code: exactly six ASCII digits, e.g. `"520200"`
/// (六盘水市) or `"410105"` (郑州市金水区).
///
/// Only the shape is checked; whether the code exists is a question for the region table of the
/// tenant. Serialised as the string.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RegionCode(String);

/// Why a region code was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegionError {
    /// Not six ASCII digits.
    #[error("行政区划代码应为6位数字，实际为“{input}”")]
    BadCode {
        /// The text as entered.
        input: String,
    },
    /// Not one of the level codes or labels.
    #[error("无法识别的区域级别“{input}”（应为 省、市、县区 或 市直）")]
    BadLevel {
        /// The text as entered.
        input: String,
    },
}

impl RegionCode {
    /// Parses six ASCII digits (surrounding whitespace ignored).
    pub fn parse(input: &str) -> Result<RegionCode, RegionError> {
        let s = input.trim();
        if s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(RegionCode(s.to_owned()))
        } else {
            Err(RegionError::BadCode {
                input: input.to_owned(),
            })
        }
    }

    /// The six digits.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first two digits: the province-level division (`"52"` for Guizhou).
    #[must_use]
    pub fn province_prefix(&self) -> &str {
        &self.0[..2]
    }
}

impl fmt::Display for RegionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for RegionCode {
    type Err = RegionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RegionCode::parse(s)
    }
}

impl TryFrom<String> for RegionCode {
    type Error = RegionError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        RegionCode::parse(&s)
    }
}

impl From<RegionCode> for String {
    fn from(code: RegionCode) -> String {
        code.0
    }
}

/// The level of a region node in a programme's hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegionLevel {
    /// 省 — a province or a province-level municipality.
    Province,
    /// 市 — a prefecture-level city (also 省直管县 placed at this level).
    City,
    /// 县区 — a county, county-level city or district.
    County,
    /// 市直 — the bucket of schools directly under a city's education bureau.
    Direct,
}

impl RegionLevel {
    /// All levels, from the top.
    pub const ALL: [RegionLevel; 4] = [
        RegionLevel::Province,
        RegionLevel::City,
        RegionLevel::County,
        RegionLevel::Direct,
    ];

    /// Stable code: `"province"`, `"city"`, `"county"`, `"direct"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            RegionLevel::Province => "province",
            RegionLevel::City => "city",
            RegionLevel::County => "county",
            RegionLevel::Direct => "direct",
        }
    }

    /// Chinese label: 省, 市, 县区, 市直.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            RegionLevel::Province => "省",
            RegionLevel::City => "市",
            RegionLevel::County => "县区",
            RegionLevel::Direct => "市直",
        }
    }
}

impl fmt::Display for RegionLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl FromStr for RegionLevel {
    type Err = RegionError;

    /// Accepts the code (`"county"`) or the Chinese label (`"县区"`, also `"县"`, `"区"`,
    /// `"市直属"`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "province" | "省" => Ok(RegionLevel::Province),
            "city" | "市" => Ok(RegionLevel::City),
            "county" | "县区" | "县" | "区" => Ok(RegionLevel::County),
            "direct" | "市直" | "市直属" => Ok(RegionLevel::Direct),
            _ => Err(RegionError::BadLevel {
                input: s.to_owned(),
            }),
        }
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    #[test]
    fn region_code_accepts_six_digits_only() {
        let code = RegionCode::parse(" 520200 ").unwrap();
        assert_eq!(code.as_str(), "520200");
        assert_eq!(code.to_string(), "520200");
        assert_eq!(code.province_prefix(), "52");
        for bad in ["", "52020", "5202000", "52020a", "５２０２００"] {
            assert!(RegionCode::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            RegionCode::parse("abc").unwrap_err().to_string(),
            "行政区划代码应为6位数字，实际为“abc”"
        );
    }

    #[test]
    fn region_code_serde_is_a_string() {
        let code = RegionCode::parse("410105").unwrap();
        assert_eq!(serde_json::to_string(&code).unwrap(), "\"410105\"");
        assert_eq!(
            serde_json::from_str::<RegionCode>("\"410105\"").unwrap(),
            code
        );
        assert!(serde_json::from_str::<RegionCode>("\"41010\"").is_err());
    }

    #[test]
    fn region_level_codes_and_labels_round_trip() {
        for level in RegionLevel::ALL {
            assert_eq!(level.as_str().parse::<RegionLevel>().unwrap(), level);
            assert_eq!(level.label().parse::<RegionLevel>().unwrap(), level);
        }
        assert_eq!(RegionLevel::Direct.label(), "市直");
        assert_eq!(
            serde_json::to_string(&RegionLevel::Direct).unwrap(),
            "\"direct\""
        );
        assert!("镇".parse::<RegionLevel>().is_err());
    }
}
