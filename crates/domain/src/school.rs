//! School attributes with fixed vocabularies: nature (学校性质) and type (学校类型).
//!
//! Both parse from the Chinese label used on forms and spreadsheets or from the stable English
//! code, and serialise as the code.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a school attribute was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchoolError {
    /// Not 公办 / 民办.
    #[error("无法识别的学校性质“{input}”（应为 公办 或 民办）")]
    BadNature {
        /// The text as entered.
        input: String,
    },
    /// Not one of the school types.
    #[error(
        "无法识别的学校类型“{input}”（应为 幼儿园、小学、初中（含完中）、高中、中等职业、高校、特殊教育、九年一贯制、十二年一贯制 之一）"
    )]
    BadType {
        /// The text as entered.
        input: String,
    },
}

/// 学校性质: who runs the school. Public schools and the rest are treated differently when the
/// headcount changes mid-year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "&'static str", try_from = "String")]
pub enum SchoolNature {
    /// 公办
    Public,
    /// 民办
    Private,
}

impl SchoolNature {
    /// Both natures.
    pub const ALL: [SchoolNature; 2] = [SchoolNature::Public, SchoolNature::Private];

    /// `"public"` or `"private"`.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            SchoolNature::Public => "public",
            SchoolNature::Private => "private",
        }
    }

    /// 公办 or 民办.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            SchoolNature::Public => "公办",
            SchoolNature::Private => "民办",
        }
    }
}

impl fmt::Display for SchoolNature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl FromStr for SchoolNature {
    type Err = SchoolError;

    /// Accepts 公办 / 民办 or `public` / `private`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "公办" | "public" => Ok(SchoolNature::Public),
            "民办" | "private" => Ok(SchoolNature::Private),
            _ => Err(SchoolError::BadNature {
                input: s.to_owned(),
            }),
        }
    }
}

impl From<SchoolNature> for &'static str {
    fn from(n: SchoolNature) -> &'static str {
        n.code()
    }
}

impl TryFrom<String> for SchoolNature {
    type Error = SchoolError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// 学校类型. The seeds name the first six; other programmes add the last three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "&'static str", try_from = "String")]
pub enum SchoolType {
    /// 幼儿园
    Kindergarten,
    /// 小学
    Primary,
    /// 初中（含完中） — junior high, including complete secondary schools.
    JuniorHigh,
    /// 高中
    SeniorHigh,
    /// 中等职业
    Vocational,
    /// 高校
    HigherEducation,
    /// 特殊教育
    Special,
    /// 九年一贯制
    NineYear,
    /// 十二年一贯制
    TwelveYear,
}

impl SchoolType {
    /// All types, in form order.
    pub const ALL: [SchoolType; 9] = [
        SchoolType::Kindergarten,
        SchoolType::Primary,
        SchoolType::JuniorHigh,
        SchoolType::SeniorHigh,
        SchoolType::Vocational,
        SchoolType::HigherEducation,
        SchoolType::Special,
        SchoolType::NineYear,
        SchoolType::TwelveYear,
    ];

    /// Snake-case code, e.g. `"junior_high"`.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            SchoolType::Kindergarten => "kindergarten",
            SchoolType::Primary => "primary",
            SchoolType::JuniorHigh => "junior_high",
            SchoolType::SeniorHigh => "senior_high",
            SchoolType::Vocational => "vocational",
            SchoolType::HigherEducation => "higher_education",
            SchoolType::Special => "special",
            SchoolType::NineYear => "nine_year",
            SchoolType::TwelveYear => "twelve_year",
        }
    }

    /// Chinese label as on the Henan form, e.g. `"初中（含完中）"` (full-width brackets).
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            SchoolType::Kindergarten => "幼儿园",
            SchoolType::Primary => "小学",
            SchoolType::JuniorHigh => "初中（含完中）",
            SchoolType::SeniorHigh => "高中",
            SchoolType::Vocational => "中等职业",
            SchoolType::HigherEducation => "高校",
            SchoolType::Special => "特殊教育",
            SchoolType::NineYear => "九年一贯制",
            SchoolType::TwelveYear => "十二年一贯制",
        }
    }
}

impl fmt::Display for SchoolType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl FromStr for SchoolType {
    type Err = SchoolError;

    /// Accepts the label or the code. For junior high, `初中`, `初中（含完中）` and
    /// `初中(含完中)` (half-width or mixed brackets) are all accepted.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if let Some(found) = SchoolType::ALL
            .into_iter()
            .find(|ty| ty.code() == t || ty.label() == t)
        {
            return Ok(found);
        }
        let normalised: String = t
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| match c {
                '(' => '（',
                ')' => '）',
                other => other,
            })
            .collect();
        if normalised == "初中" || normalised == "初中（含完中）" {
            return Ok(SchoolType::JuniorHigh);
        }
        Err(SchoolError::BadType {
            input: s.to_owned(),
        })
    }
}

impl From<SchoolType> for &'static str {
    fn from(t: SchoolType) -> &'static str {
        t.code()
    }
}

impl TryFrom<String> for SchoolType {
    type Error = SchoolError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    #[test]
    fn nature_parses_labels_and_codes() {
        assert_eq!(
            "公办".parse::<SchoolNature>().unwrap(),
            SchoolNature::Public
        );
        assert_eq!(
            " 民办 ".parse::<SchoolNature>().unwrap(),
            SchoolNature::Private
        );
        assert_eq!(
            "private".parse::<SchoolNature>().unwrap(),
            SchoolNature::Private
        );
        assert_eq!(SchoolNature::Public.label(), "公办");
        assert!("国营".parse::<SchoolNature>().is_err());
        assert_eq!(
            serde_json::to_string(&SchoolNature::Public).unwrap(),
            "\"public\""
        );
        assert_eq!(
            serde_json::from_str::<SchoolNature>("\"民办\"").unwrap(),
            SchoolNature::Private
        );
    }

    #[test]
    fn school_type_parses_every_label_and_code() {
        for ty in SchoolType::ALL {
            assert_eq!(ty.code().parse::<SchoolType>().unwrap(), ty);
            assert_eq!(ty.label().parse::<SchoolType>().unwrap(), ty);
            let json = serde_json::to_string(&ty).unwrap();
            assert_eq!(json, format!("\"{}\"", ty.code()));
            assert_eq!(serde_json::from_str::<SchoolType>(&json).unwrap(), ty);
        }
    }

    #[test]
    fn junior_high_accepts_bracket_variants() {
        for s in [
            "初中",
            "初中（含完中）",
            "初中(含完中)",
            "初中(含完中）",
            " 初中 (含完中) ",
        ] {
            assert_eq!(
                s.parse::<SchoolType>().unwrap(),
                SchoolType::JuniorHigh,
                "{s}"
            );
        }
        assert!("初中（不含完中）".parse::<SchoolType>().is_err());
        assert!(
            "大学"
                .parse::<SchoolType>()
                .unwrap_err()
                .to_string()
                .contains("大学")
        );
    }
}
