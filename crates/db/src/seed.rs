//! Seed data: the region tree of a programme from the GB/T 2260 list, and the demo tenants.

use std::collections::HashMap;

/// One region row to seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionSeed {
    pub code: String,
    pub name: String,
    pub parent_code: Option<String>,
    /// province | city | county | direct
    pub level: String,
    /// Dotted codes from the tenant's root (`410000.410100.410105`).
    pub path: String,
    pub sort_order: i32,
}

/// The GB/T 2260 divisions of the three demo programmes (`code,name,parent_code,level`).
pub const REGIONS_CSV: &str = include_str!("../seed/regions.csv");

/// Suffix of the 市直 bucket made for every prefecture-level city: `<first four digits>99`.
/// GB/T 2260 gives no code to "schools directly under the city", and `99` is unused at county
/// level in the programmes served, so the bucket sorts after the city's counties.
const DIRECT_SUFFIX: &str = "99";

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("地区数据第 {line} 行格式错误：{reason}")]
    Line { line: usize, reason: String },
    #[error("地区数据中没有代码 {0}")]
    UnknownRoot(String),
}

#[derive(Debug, Clone)]
struct CsvRegion {
    code: String,
    name: String,
    parent: Option<String>,
    level: String,
}

fn parse_csv(csv: &str) -> Result<Vec<CsvRegion>, SeedError> {
    let mut out = Vec::new();
    for (i, line) in csv.lines().enumerate().skip(1) {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let bad = |reason: &str| SeedError::Line {
            line: i + 1,
            reason: reason.to_string(),
        };
        let [code, name, parent, level] = fields[..] else {
            return Err(bad("应有 4 列：code,name,parent_code,level"));
        };
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("地区代码应为 6 位数字"));
        }
        if !matches!(level, "province" | "city" | "county") {
            return Err(bad("级别应为 province、city 或 county"));
        }
        out.push(CsvRegion {
            code: code.to_string(),
            // "河南省-省直辖县级行政区划" → "省直辖县级行政区划"
            name: name.rsplit('-').next().unwrap_or(name).to_string(),
            parent: (!parent.is_empty()).then(|| parent.to_string()),
            level: level.to_string(),
        });
    }
    Ok(out)
}

/// The region tree under `root` (inclusive), with a 市直 bucket under every prefecture-level
/// city (not under groups of province-administered counties such as 419000).
pub fn regions_under(csv: &str, root: &str) -> Result<Vec<RegionSeed>, SeedError> {
    let all = parse_csv(csv)?;
    let by_code: HashMap<&str, &CsvRegion> = all.iter().map(|r| (r.code.as_str(), r)).collect();
    let root_region = by_code
        .get(root)
        .ok_or_else(|| SeedError::UnknownRoot(root.to_string()))?;
    let mut children: HashMap<&str, Vec<&CsvRegion>> = HashMap::new();
    for r in &all {
        if let Some(p) = &r.parent {
            children.entry(p.as_str()).or_default().push(r);
        }
    }
    let mut out = Vec::new();
    let mut stack = vec![(*root_region, None::<String>, root.to_string(), 0)];
    while let Some((region, parent, path, order)) = stack.pop() {
        out.push(RegionSeed {
            code: region.code.clone(),
            name: region.name.clone(),
            parent_code: parent,
            level: region.level.clone(),
            path: path.clone(),
            sort_order: order,
        });
        let mut kids = children
            .get(region.code.as_str())
            .cloned()
            .unwrap_or_default();
        kids.sort_by(|a, b| a.code.cmp(&b.code));
        let is_prefecture = region.level == "city" && !region.code.starts_with("419");
        if is_prefecture {
            let code = format!("{}{DIRECT_SUFFIX}", &region.code[..4]);
            if !by_code.contains_key(code.as_str()) {
                out.push(RegionSeed {
                    path: format!("{path}.{code}"),
                    code,
                    name: "市直".to_string(),
                    parent_code: Some(region.code.clone()),
                    level: "direct".to_string(),
                    sort_order: i32::try_from(kids.len()).unwrap_or(i32::MAX),
                });
            }
        }
        for (i, kid) in kids.iter().enumerate().rev() {
            stack.push((
                *kid,
                Some(region.code.clone()),
                format!("{path}.{}", kid.code),
                i32::try_from(i).unwrap_or(i32::MAX),
            ));
        }
    }
    // Parents before children, so inserts satisfy the foreign key in order.
    out.sort_by_key(|r| r.path.matches('.').count());
    Ok(out)
}

/// A demo programme seeded on first start (its rules: `xiaobao_domain::programmes`).
#[derive(Debug, Clone)]
pub struct DemoTenant {
    pub slug: &'static str,
    pub name_zh: &'static str,
    pub root_region_code: &'static str,
}

/// The three demo programmes of `domain.md`.
pub fn demo_tenants() -> Vec<DemoTenant> {
    vec![
        DemoTenant {
            slug: "henan",
            name_zh: "河南省教育保险管理系统",
            root_region_code: "410000",
        },
        DemoTenant {
            slug: "liupanshui",
            name_zh: "六盘水市校方责任保险管理系统",
            root_region_code: "520200",
        },
        DemoTenant {
            slug: "shanghai",
            name_zh: "上海市中小学校方责任保险管理系统",
            root_region_code: "310000",
        },
    ]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn liupanshui_has_its_four_districts_and_a_direct_bucket() {
        let r = regions_under(REGIONS_CSV, "520200").unwrap();
        let names: Vec<_> = r.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(r[0].code, "520200");
        for n in ["六枝特区", "盘州市", "水城区", "钟山区", "市直"] {
            assert!(names.contains(&n), "{n} missing from {names:?}");
        }
        assert_eq!(r.len(), 6);
        let direct = r.iter().find(|r| r.level == "direct").unwrap();
        assert_eq!(direct.code, "520299");
        assert_eq!(direct.path, "520200.520299");
    }

    #[test]
    fn shanghai_has_sixteen_districts_and_no_direct_bucket() {
        let r = regions_under(REGIONS_CSV, "310000").unwrap();
        assert_eq!(r.iter().filter(|r| r.level == "county").count(), 16);
        assert!(r.iter().all(|r| r.level != "direct"));
    }

    #[test]
    fn henan_cities_each_get_a_direct_bucket_but_not_the_province_group() {
        let r = regions_under(REGIONS_CSV, "410000").unwrap();
        let cities = r.iter().filter(|r| r.level == "city").count();
        let direct = r.iter().filter(|r| r.level == "direct").count();
        assert_eq!(cities, 18);
        assert_eq!(direct, 17);
        let jiyuan = r.iter().find(|r| r.code == "419001").unwrap();
        assert_eq!(jiyuan.path, "410000.419000.419001");
        let group = r.iter().find(|r| r.code == "419000").unwrap();
        assert_eq!(group.name, "省直辖县级行政区划");
        // Parents come first.
        let pos = |c: &str| r.iter().position(|x| x.code == c).unwrap();
        assert!(pos("410100") < pos("410105"));
    }

    #[test]
    fn a_malformed_line_names_its_number() {
        let err = regions_under("code,name,parent_code,level\n41,x,,province\n", "41").unwrap_err();
        assert!(err.to_string().contains("第 2 行"), "{err}");
    }
}
