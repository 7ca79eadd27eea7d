//! The tenant's region tree in memory for one import, and how a row's region reference (a
//! code, a name, or both) resolves to a region inside the importer's subtree.
//!
//! A programme's tree is at most a few thousand regions, so it is read once per import.

use std::collections::HashMap;

use sqlx::PgConnection;

use crate::Importer;
use crate::normalise::name_key;

/// One region of the tenant.
#[derive(Debug, Clone)]
pub(crate) struct RegionInfo {
    pub(crate) region_code: String,
    pub(crate) name: String,
    pub(crate) parent_code: Option<String>,
    pub(crate) level: String,
    pub(crate) path: String,
}

/// The column names a region reference is reported under.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RegionColumns {
    pub(crate) code: &'static str,
    pub(crate) name: &'static str,
}

/// A region reference as written in a row (normalised text; empty when not given).
#[derive(Debug, Clone, Default)]
pub(crate) struct RegionRef<'a> {
    pub(crate) code: &'a str,
    pub(crate) name: &'a str,
    /// The city the region lies in (departments' 地级以上市名称), to tell equal names apart.
    pub(crate) city: &'a str,
}

/// Why a reference did not resolve: the column to blame and the reason.
pub(crate) type RegionMiss = (&'static str, String);

pub(crate) struct RegionIndex {
    by_code: HashMap<String, RegionInfo>,
    /// Name key → codes; both the bare name and the parent-qualified name are keys.
    by_name: HashMap<String, Vec<String>>,
}

impl RegionIndex {
    pub(crate) async fn load(conn: &mut PgConnection) -> Result<Self, sqlx::Error> {
        let all = sqlx::query_as!(
            RegionInfo,
            "select region_code, name, parent_code, level, path from regions \
             order by path",
        )
        .fetch_all(conn)
        .await?;
        Ok(Self::new(all))
    }

    pub(crate) fn new(all: Vec<RegionInfo>) -> Self {
        let by_code: HashMap<String, RegionInfo> = all
            .into_iter()
            .map(|r| (r.region_code.clone(), r))
            .collect();
        let mut by_name: HashMap<String, Vec<String>> = HashMap::new();
        let mut codes: Vec<&String> = by_code.keys().collect();
        codes.sort();
        for code in codes {
            let Some(region) = by_code.get(code) else {
                continue;
            };
            let parent = region
                .parent_code
                .as_ref()
                .and_then(|p| by_code.get(p))
                .map(|p| p.name.as_str());
            let mut keys = vec![name_key(&region.name)];
            if let Some(parent) = parent {
                keys.push(name_key(&format!("{parent}{}", region.name)));
            }
            if region.level == "direct" {
                for alias in ["市直属", "市直属学校", "直属"] {
                    keys.push(alias.to_string());
                    if let Some(parent) = parent {
                        keys.push(name_key(&format!("{parent}{alias}")));
                    }
                }
            }
            keys.dedup();
            for key in keys {
                by_name.entry(key).or_default().push(code.clone());
            }
        }
        Self { by_code, by_name }
    }

    /// The name of a region's parent.
    pub(crate) fn parent_name(&self, region: &RegionInfo) -> Option<&str> {
        region
            .parent_code
            .as_ref()
            .and_then(|p| self.by_code.get(p))
            .map(|p| p.name.as_str())
    }

    /// `金水区（410105）`.
    pub(crate) fn describe(region: &RegionInfo) -> String {
        format!("{}（{}）", region.name, region.region_code)
    }

    /// Resolves a reference to a region inside the importer's subtree. With a code, the code
    /// decides and a name given beside it must agree; with a name only, the name (bare or
    /// qualified by its parent, e.g. `郑州市市直`) must name exactly one region of the subtree.
    pub(crate) fn resolve(
        &self,
        importer: &Importer,
        reference: &RegionRef<'_>,
        columns: RegionColumns,
    ) -> Result<&RegionInfo, RegionMiss> {
        if !reference.code.is_empty() {
            let code = reference.code;
            let Some(region) = self.by_code.get(code) else {
                return Err((columns.code, format!("{}「{code}」不存在", columns.code)));
            };
            if !importer.covers(&region.path) {
                return Err((
                    columns.code,
                    format!(
                        "{}「{code}」（{}）不在本部门管辖范围内",
                        columns.code, region.name
                    ),
                ));
            }
            if !reference.name.is_empty() && !self.name_matches(region, reference.name) {
                return Err((
                    columns.name,
                    format!(
                        "{}「{}」与{}「{code}」（{}）不一致",
                        columns.name, reference.name, columns.code, region.name
                    ),
                ));
            }
            return Ok(region);
        }
        let name = reference.name;
        let key = name_key(name);
        let all: Vec<&RegionInfo> = self
            .by_name
            .get(&key)
            .map(|codes| codes.iter().filter_map(|c| self.by_code.get(c)).collect())
            .unwrap_or_default();
        let mut inside: Vec<&RegionInfo> = all
            .iter()
            .copied()
            .filter(|r| importer.covers(&r.path))
            .collect();
        if inside.len() > 1 && !reference.city.is_empty() {
            let city = name_key(reference.city);
            inside.retain(|r| self.parent_name(r).is_some_and(|p| name_key(p) == city));
        }
        match inside.as_slice() {
            [one] => Ok(one),
            [] if all.is_empty() => {
                Err((columns.name, format!("{}「{name}」不存在", columns.name)))
            }
            [] => Err((
                columns.name,
                format!("{}「{name}」不在本部门管辖范围内", columns.name),
            )),
            many => {
                let listed: Vec<String> = many
                    .iter()
                    .take(5)
                    .map(|r| match self.parent_name(r) {
                        Some(parent) => format!("{parent}{}（{}）", r.name, r.region_code),
                        None => Self::describe(r),
                    })
                    .collect();
                Err((
                    columns.name,
                    format!(
                        "{}「{name}」对应多个区域（{}），请填写{}",
                        columns.name,
                        listed.join("、"),
                        columns.code
                    ),
                ))
            }
        }
    }

    fn name_matches(&self, region: &RegionInfo, name: &str) -> bool {
        let key = name_key(name);
        self.by_name
            .get(&key)
            .is_some_and(|codes| codes.contains(&region.region_code))
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;
    use crate::{Actor, RegionLevel};

    fn region(code: &str, name: &str, parent: Option<&str>, level: &str, path: &str) -> RegionInfo {
        RegionInfo {
            region_code: code.into(),
            name: name.into(),
            parent_code: parent.map(str::to_string),
            level: level.into(),
            path: path.into(),
        }
    }

    fn index() -> RegionIndex {
        RegionIndex::new(vec![
            region("410000", "河南省", None, "province", "410000"),
            region("410100", "郑州市", Some("410000"), "city", "410000.410100"),
            region(
                "410105",
                "金水区",
                Some("410100"),
                "county",
                "410000.410100.410105",
            ),
            region(
                "410199",
                "市直",
                Some("410100"),
                "direct",
                "410000.410100.410199",
            ),
            region("410200", "开封市", Some("410000"), "city", "410000.410200"),
            region(
                "410204",
                "鼓楼区",
                Some("410200"),
                "county",
                "410000.410200.410204",
            ),
            region(
                "410299",
                "市直",
                Some("410200"),
                "direct",
                "410000.410200.410299",
            ),
        ])
    }

    fn importer(path: &str, level: RegionLevel) -> Importer {
        Importer {
            actor: Actor::system(),
            region_path: path.into(),
            region_level: level,
        }
    }

    const COLS: RegionColumns = RegionColumns {
        code: "区域代码",
        name: "区域名称",
    };

    fn by_name<'a>(idx: &'a RegionIndex, who: &Importer, name: &'a str) -> Result<&'a str, String> {
        idx.resolve(
            who,
            &RegionRef {
                name,
                ..RegionRef::default()
            },
            COLS,
        )
        .map(|r| r.region_code.as_str())
        .map_err(|(_, reason)| reason)
    }

    #[test]
    fn names_resolve_within_the_subtree() {
        let idx = index();
        let zhengzhou = importer("410000.410100", RegionLevel::City);
        let province = importer("410000", RegionLevel::Province);
        assert_eq!(by_name(&idx, &zhengzhou, "金水区"), Ok("410105"));
        assert_eq!(by_name(&idx, &zhengzhou, "市直"), Ok("410199"));
        assert_eq!(by_name(&idx, &zhengzhou, "市直属"), Ok("410199"));
        assert_eq!(by_name(&idx, &province, "开封市市直"), Ok("410299"));
        assert!(
            by_name(&idx, &province, "市直")
                .unwrap_err()
                .contains("对应多个区域")
        );
        assert!(
            by_name(&idx, &zhengzhou, "鼓楼区")
                .unwrap_err()
                .contains("不在本部门管辖范围内")
        );
        assert!(
            by_name(&idx, &zhengzhou, "火星区")
                .unwrap_err()
                .contains("不存在")
        );
    }

    #[test]
    fn codes_decide_and_names_must_agree() {
        let idx = index();
        let zhengzhou = importer("410000.410100", RegionLevel::City);
        let r = RegionRef {
            code: "410105",
            name: "金水区",
            city: "",
        };
        assert_eq!(idx.resolve(&zhengzhou, &r, COLS).unwrap().name, "金水区");
        let r = RegionRef {
            code: "410105",
            name: "二七区",
            city: "",
        };
        let (col, reason) = idx.resolve(&zhengzhou, &r, COLS).unwrap_err();
        assert_eq!(col, "区域名称");
        assert!(reason.contains("不一致"), "{reason}");
        let r = RegionRef {
            code: "410204",
            ..RegionRef::default()
        };
        let (col, reason) = idx.resolve(&zhengzhou, &r, COLS).unwrap_err();
        assert_eq!(col, "区域代码");
        assert_eq!(reason, "区域代码「410204」（鼓楼区）不在本部门管辖范围内");
        let r = RegionRef {
            code: "419999",
            ..RegionRef::default()
        };
        assert_eq!(
            idx.resolve(&zhengzhou, &r, COLS).unwrap_err().1,
            "区域代码「419999」不存在"
        );
    }
}
