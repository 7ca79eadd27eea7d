//! Education departments: parsing the department sheet (附件2) and importing it for the
//! programme authority (or a city department opening its counties).

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use sqlx::{Connection, PgConnection};
use xiaobao_audit::Entry;
use xiaobao_domain::Role;

use crate::normalise::{is_region_code, mobile_from_number, mobile_from_text};
use crate::regions::{RegionColumns, RegionIndex, RegionInfo, RegionRef};
use crate::table::{
    Cell, Header, MAX_ROWS, Row, find_header, is_example_row, is_note_row, read_tables,
};
use crate::{
    CreatedOrganisation, ImportReport, Importer, OnboardingError, RegionLevel, RowProblem,
    sort_problems,
};

/// The columns of the department sheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    /// 序号, 邮箱, 备注: recognised and not imported.
    Ignored,
    /// 地级以上市名称: tells equal county names apart.
    City,
    RegionCode,
    RegionName,
    Name,
    ContactName,
    ContactMobile,
}

impl Field {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Field::Ignored => "",
            Field::City => "地级以上市名称",
            Field::RegionCode => "区域代码",
            Field::RegionName => "区域名称",
            Field::Name => "单位名称",
            Field::ContactName => "联系人",
            Field::ContactMobile => "联系人手机号",
        }
    }

    /// Maps a header key to a column; the seed's own headers (各县（市、区）教育局名称,
    /// 安全科负责人姓名, 手机) are understood too.
    pub(crate) fn classify(k: &str) -> Option<Field> {
        const IGNORED: [&str; 6] = ["序号", "编号", "邮箱", "电子邮箱", "备注", "说明"];
        const CITIES: [&str; 7] = [
            "地级以上市名称",
            "地级以上市",
            "地级市",
            "所属市",
            "所在市",
            "地市",
            "市",
        ];
        const REGION_NAMES: [&str; 12] = [
            "区域名称",
            "区域",
            "所在区域",
            "所在区域名称",
            "地区",
            "行政区划",
            "区划名称",
            "县",
            "县区",
            "区县",
            "各县",
            "县(市、区)",
        ];
        if k.is_empty() {
            return None;
        }
        if IGNORED.contains(&k) || k.contains("邮箱") {
            return Some(Field::Ignored);
        }
        if k.contains("手机") || k.contains("电话") || k == "联系方式" {
            return Some(Field::ContactMobile);
        }
        if k.contains("代码") {
            return Some(Field::RegionCode);
        }
        if k.contains("单位名称")
            || k.contains("教育局")
            || ["单位", "部门名称", "机构名称", "单位全称"].contains(&k)
        {
            return Some(Field::Name);
        }
        if CITIES.contains(&k) {
            return Some(Field::City);
        }
        if REGION_NAMES.contains(&k) {
            return Some(Field::RegionName);
        }
        if k.contains("联系人") || k.contains("负责人") || k == "姓名" {
            return Some(Field::ContactName);
        }
        None
    }

    const DATA: [Field; 6] = [
        Field::City,
        Field::RegionCode,
        Field::RegionName,
        Field::Name,
        Field::ContactName,
        Field::ContactMobile,
    ];
}

const REGION_COLUMNS: RegionColumns = RegionColumns {
    code: "区域代码",
    name: "区域名称",
};

/// One department row as read from the sheet, normalised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DepartmentRow {
    /// The spreadsheet line (as Excel shows it).
    pub line: u32,
    /// 区域代码 as written (empty when not given).
    pub region_code: String,
    /// 区域名称 as written (empty when not given).
    pub region_name: String,
    /// 地级以上市名称 as written (empty when not given).
    pub city: String,
    /// 单位名称, e.g. 金水区教育局: the organisation's name and the account's display name.
    pub name: String,
    pub contact_name: String,
    /// `None` when missing or malformed (the problem is in the sheet).
    pub contact_mobile: Option<String>,
}

/// A parsed department file. Made by [`parse_departments`]; imported by
/// [`import_departments`].
#[derive(Debug, Clone)]
pub struct DepartmentSheet {
    rows: Vec<DepartmentRow>,
    problems: Vec<RowProblem>,
    header_line: u32,
    document_id: Option<i64>,
}

impl DepartmentSheet {
    /// The data rows, in file order.
    pub fn rows(&self) -> &[DepartmentRow] {
        &self.rows
    }

    /// Problems found without the database, sorted by line.
    pub fn problems(&self) -> &[RowProblem] {
        &self.problems
    }

    /// The line of the header row.
    pub fn header_line(&self) -> u32 {
        self.header_line
    }

    /// Records the stored upload the sheet came from, for the audit.
    #[must_use]
    pub fn with_document(mut self, document_id: i64) -> Self {
        self.document_id = Some(document_id);
        self
    }

    pub fn document_id(&self) -> Option<i64> {
        self.document_id
    }
}

/// Reads a department file (XLSX/XLS/ODS or CSV) and checks every row on its own: region
/// given (code or name), 单位名称, 联系人 and a well-formed mobile.
pub fn parse_departments(bytes: &[u8]) -> Result<DepartmentSheet, OnboardingError> {
    let tables = read_tables(bytes)?;
    let found = tables
        .iter()
        .find_map(|t| find_header(t, Field::classify, |f| f != Field::Ignored, 3).map(|h| (t, h)));
    let Some((table, header)) = found else {
        return Err(OnboardingError::Invalid(vec![RowProblem::file(
            None,
            "未找到表头行：请使用教育部门导入模板，表头应包含「区域代码」「区域名称」「单位名称」「联系人」「联系人手机号」等列",
        )]));
    };
    let mut missing = Vec::new();
    for field in [Field::Name, Field::ContactName, Field::ContactMobile] {
        if !header.has(field) {
            missing.push(RowProblem::new(
                header.line,
                Some(field.label()),
                format!("缺少「{}」列", field.label()),
            ));
        }
    }
    // Without region columns (附件2's own layout) the region comes from the bureau's name.
    if !missing.is_empty() {
        return Err(OnboardingError::Invalid(missing));
    }

    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for row in &table.rows[header.index + 1..] {
        if is_example_row(row) || is_note_row(row) {
            continue;
        }
        if Field::DATA.iter().all(|f| header.cell(row, *f).is_empty()) {
            continue;
        }
        if rows.len() >= MAX_ROWS {
            return Err(OnboardingError::Unreadable(format!(
                "文件行数超过上限：一次最多导入 {MAX_ROWS} 行，请分批导入"
            )));
        }
        rows.push(read_row(&header, row, &mut problems));
    }
    if rows.is_empty() {
        return Err(OnboardingError::Invalid(vec![RowProblem::file(
            None,
            format!(
                "文件中没有教育部门数据（表头在第 {} 行，请从表头下一行起填写）",
                header.line
            ),
        )]));
    }
    sort_problems(&mut problems);
    Ok(DepartmentSheet {
        rows,
        problems,
        header_line: header.line,
        document_id: None,
    })
}

fn read_row(header: &Header<Field>, row: &Row, problems: &mut Vec<RowProblem>) -> DepartmentRow {
    let line = row.line;
    let text = |f: Field| header.cell(row, f).text();
    let mut problem = |f: Field, reason: String| {
        problems.push(RowProblem::new(line, Some(f.label()), reason));
    };

    let name = text(Field::Name);
    let region_code = text(Field::RegionCode);
    let mut region_name = text(Field::RegionName);
    if region_code.is_empty() && region_name.is_empty() {
        // 附件2 names only the bureau: 金水区教育局 → 金水区.
        region_name = region_from_bureau(&name).unwrap_or_default();
    }
    if region_code.is_empty() && region_name.is_empty() {
        let reason =
            if name.is_empty() || header.has(Field::RegionCode) || header.has(Field::RegionName) {
                "区域代码和区域名称至少填写一项".to_string()
            } else {
                format!("无法从单位名称「{name}」看出所在区域，请增加「区域代码」或「区域名称」列")
            };
        problem(Field::RegionCode, reason);
    } else if !region_code.is_empty() && !is_region_code(&region_code) {
        problem(
            Field::RegionCode,
            format!("区域代码「{region_code}」应为 6 位数字"),
        );
    }

    if name.is_empty() {
        problem(Field::Name, "单位名称未填写".into());
    } else if !(2..=100).contains(&name.chars().count()) {
        problem(
            Field::Name,
            format!("单位名称「{name}」长度应为 2–100 个字"),
        );
    }

    let contact_name = text(Field::ContactName);
    if contact_name.is_empty() {
        problem(Field::ContactName, "联系人未填写".into());
    } else if contact_name.chars().count() > 50 {
        problem(Field::ContactName, "联系人超过 50 个字".into());
    }

    let contact_mobile = match header.cell(row, Field::ContactMobile) {
        Cell::Empty => {
            problem(Field::ContactMobile, "联系人手机号未填写".into());
            None
        }
        cell => {
            let read = match cell {
                Cell::Number(n) => mobile_from_number(*n),
                other => mobile_from_text(&other.text()),
            };
            match read {
                Ok(m) => Some(m),
                Err(reason) => {
                    problem(Field::ContactMobile, format!("联系人手机号{reason}"));
                    None
                }
            }
        }
    };

    DepartmentRow {
        line,
        region_code,
        region_name,
        city: text(Field::City),
        name,
        contact_name,
        contact_mobile,
    }
}

/// The region a bureau's name stands for: `金水区教育局` → `金水区`, `郑州市教育体育局` → `郑州市`.
fn region_from_bureau(name: &str) -> Option<String> {
    const SUFFIXES: [&str; 5] = ["教育和体育局", "教育体育局", "教育局", "教体局", "教育厅"];
    let compact: String = name.chars().filter(|c| *c != ' ').collect();
    SUFFIXES
        .iter()
        .find_map(|s| compact.strip_suffix(s))
        .filter(|region| region.chars().count() >= 2)
        .map(str::to_string)
}

/// Imports a parsed department file for the programme authority (or a city department for
/// its counties): every row's region must be a city or county inside the importer's subtree
/// below the importer's own region (a 市直 bucket belongs to the city's department and is
/// refused), at most once in the file, and without an active department yet.
///
/// The account's login name is the region's name (金水区); when that name is already a
/// department login of the tenant or appears twice in the file, the parent's name goes in
/// front (开封市鼓楼区). City regions get the role `city_department`, counties
/// `county_department`. All or nothing, like [`crate::import_schools`]; one audit entry
/// `onboarding.departments.imported`.
pub async fn import_departments(
    conn: &mut PgConnection,
    importer: &Importer,
    sheet: &DepartmentSheet,
) -> Result<ImportReport, OnboardingError> {
    if !matches!(
        importer.region_level,
        RegionLevel::Province | RegionLevel::City
    ) {
        return Err(OnboardingError::NotPermitted(
            "只有主管部门或市级教育部门可以导入教育部门".into(),
        ));
    }
    let mut problems = sheet.problems.clone();
    let rows = &sheet.rows;
    let regions = RegionIndex::load(&mut *conn).await?;

    let mut resolved: Vec<Option<&RegionInfo>> = Vec::with_capacity(rows.len());
    let mut seen: HashMap<&str, u32> = HashMap::new();
    for row in rows {
        let code_ok = row.region_code.is_empty() || is_region_code(&row.region_code);
        if !code_ok || (row.region_code.is_empty() && row.region_name.is_empty()) {
            resolved.push(None);
            continue;
        }
        let reference = RegionRef {
            code: &row.region_code,
            name: &row.region_name,
            city: &row.city,
        };
        let region = match regions.resolve(importer, &reference, REGION_COLUMNS) {
            Ok(region) => region,
            Err((column, reason)) => {
                problems.push(RowProblem::new(row.line, Some(column), reason));
                resolved.push(None);
                continue;
            }
        };
        let refusal = if region.path == importer.region_path {
            Some(format!(
                "「{}」是本部门自己的区域，不能通过导入开通",
                RegionIndex::describe(region)
            ))
        } else {
            match region.level.as_str() {
                "direct" => {
                    let city = regions.parent_name(region).unwrap_or("所在市");
                    Some(format!(
                        "「{city}{}」（{}）不是独立的教育部门：市直属学校由{city}教育局管理",
                        region.name, region.region_code
                    ))
                }
                "province" => Some(format!(
                    "「{}」是省级区域，省级主管部门不通过导入开通",
                    RegionIndex::describe(region)
                )),
                "city" if region.name.contains("直辖") => Some(format!(
                    "「{}」不是教育部门所在的区域，请填写其下的县（市）",
                    RegionIndex::describe(region)
                )),
                _ => None,
            }
        };
        if let Some(reason) = refusal {
            problems.push(RowProblem::new(row.line, Some(REGION_COLUMNS.code), reason));
            resolved.push(None);
            continue;
        }
        if let Some(first) = seen.get(region.region_code.as_str()) {
            problems.push(RowProblem::new(
                row.line,
                Some(REGION_COLUMNS.code),
                format!(
                    "区域「{}」与第 {first} 行重复",
                    RegionIndex::describe(region)
                ),
            ));
            resolved.push(None);
            continue;
        }
        seen.insert(&region.region_code, row.line);
        resolved.push(Some(region));
    }

    // Existing active departments.
    let codes: Vec<&str> = resolved
        .iter()
        .flatten()
        .map(|r| r.region_code.as_str())
        .collect();
    let active: HashSet<String> = sqlx::query_scalar!(
        "select region_code from organisations \
          where kind = 'department' and status = 'active' and region_code = any($1)",
        &codes as &[&str],
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();

    // Login names: the region's name, or the parent's name and the region's name.
    let candidates: Vec<(String, String)> = resolved
        .iter()
        .map(|r| match r {
            Some(region) => (
                region.name.clone(),
                format!(
                    "{}{}",
                    regions.parent_name(region).unwrap_or_default(),
                    region.name
                ),
            ),
            None => (String::new(), String::new()),
        })
        .collect();
    let all_candidates: Vec<&str> = candidates
        .iter()
        .flat_map(|(a, b)| [a.as_str(), b.as_str()])
        .filter(|s| !s.is_empty())
        .collect();
    let taken: HashSet<String> = sqlx::query_scalar!(
        "select login_name from accounts where account_type = 'department' and login_name = any($1)",
        &all_candidates as &[&str],
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    let mut bare_count: HashMap<&str, usize> = HashMap::new();
    for (bare, _) in &candidates {
        if !bare.is_empty() {
            *bare_count.entry(bare.as_str()).or_default() += 1;
        }
    }

    let mut logins: Vec<Option<String>> = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let Some(region) = resolved[i] else {
            logins.push(None);
            continue;
        };
        if active.contains(&region.region_code) {
            problems.push(RowProblem::new(
                row.line,
                Some(REGION_COLUMNS.code),
                format!(
                    "「{}」已开通教育部门账号，不能重复开通",
                    RegionIndex::describe(region)
                ),
            ));
            logins.push(None);
            continue;
        }
        let (bare, qualified) = &candidates[i];
        let bare_free = !taken.contains(bare) && bare_count.get(bare.as_str()) == Some(&1);
        let login = if bare_free {
            bare.clone()
        } else if !taken.contains(qualified)
            && qualified != bare
            && qualified.chars().count() <= 100
        {
            qualified.clone()
        } else {
            problems.push(RowProblem::new(
                row.line,
                Some(REGION_COLUMNS.name),
                format!("登录名「{bare}」和「{qualified}」都已被其他教育部门账号使用"),
            ));
            logins.push(None);
            continue;
        };
        logins.push(Some(login));
    }

    if !problems.is_empty() {
        sort_problems(&mut problems);
        return Err(OnboardingError::Invalid(problems));
    }

    let mut planned = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let (Some(region), Some(login), Some(mobile)) = (
            resolved[i],
            logins[i].as_deref(),
            row.contact_mobile.as_deref(),
        ) else {
            return Err(OnboardingError::Invalid(vec![RowProblem::new(
                row.line,
                None,
                "本行数据不完整",
            )]));
        };
        let role = if region.level == "city" {
            Role::CityDepartment
        } else {
            Role::CountyDepartment
        };
        planned.push((row, region, login, mobile, role));
    }

    let mut savepoint = conn.begin().await?;
    let tx = &mut *savepoint;
    let actor_account = importer.actor.account_id;

    let names: Vec<String> = planned.iter().map(|p| p.0.name.clone()).collect();
    let region_codes: Vec<String> = planned.iter().map(|p| p.1.region_code.clone()).collect();
    let region_paths: Vec<String> = planned.iter().map(|p| p.1.path.clone()).collect();
    let contact_names: Vec<String> = planned.iter().map(|p| p.0.contact_name.clone()).collect();
    let mobiles: Vec<String> = planned.iter().map(|p| p.3.to_string()).collect();
    let ords: Vec<i32> = (0..planned.len())
        .map(|i| i32::try_from(i).unwrap_or(i32::MAX))
        .collect();
    let org_rows = sqlx::query!(
        "insert into organisations (kind, name, region_code, region_path, status, contact_name, \
         contact_mobile, decided_by, decided_at) \
         select 'department', t.name, t.region_code, t.region_path, 'active', t.contact_name, \
                t.contact_mobile, $7, now() \
           from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[]) \
                as t(name, region_code, region_path, contact_name, contact_mobile, ord) \
          order by t.ord \
         returning org_id, region_code",
        &names,
        &region_codes,
        &region_paths,
        &contact_names,
        &mobiles,
        &ords,
        actor_account,
    )
    .fetch_all(&mut *tx)
    .await
    .map_err(OnboardingError::from_write)?;
    let org_by_region: HashMap<String, i64> = org_rows
        .into_iter()
        .map(|r| (r.region_code, r.org_id))
        .collect();
    let mut org_ids = Vec::with_capacity(planned.len());
    for p in &planned {
        let Some(id) = org_by_region.get(&p.1.region_code) else {
            return Err(OnboardingError::Conflict(format!(
                "「{}」未能创建",
                p.0.name
            )));
        };
        org_ids.push(*id);
    }

    let logins: Vec<String> = planned.iter().map(|p| p.2.to_string()).collect();
    let account_rows = sqlx::query!(
        "insert into accounts (org_id, account_type, login_name, display_name, password_hash, \
         must_change_password, created_by) \
         select t.org_id, 'department', t.login_name, t.display_name, null, true, $4 \
           from unnest($1::bigint[], $2::text[], $3::text[]) as t(org_id, login_name, display_name) \
         returning account_id, org_id",
        &org_ids,
        &logins,
        &names,
        actor_account,
    )
    .fetch_all(&mut *tx)
    .await
    .map_err(OnboardingError::from_write)?;
    let account_by_org: HashMap<i64, i64> = account_rows
        .into_iter()
        .map(|r| (r.org_id, r.account_id))
        .collect();
    let account_ids: Vec<i64> = org_ids
        .iter()
        .filter_map(|o| account_by_org.get(o).copied())
        .collect();
    let roles: Vec<&str> = planned.iter().map(|p| p.4.as_str()).collect();

    sqlx::query!(
        "insert into account_roles (account_id, role, granted_by) \
         select t.account_id, t.role, $3 from unnest($1::bigint[], $2::text[]) as t(account_id, role)",
        &account_ids,
        &roles as &[&str],
        actor_account,
    )
    .execute(&mut *tx)
    .await
    .map_err(OnboardingError::from_write)?;

    let cities = planned
        .iter()
        .filter(|p| p.4 == Role::CityDepartment)
        .count();
    let entry = Entry::new(
        "onboarding.departments.imported",
        "organisation",
        None::<String>,
    )
    .detail("count", org_ids.len())
    .detail("city_departments", cities)
    .detail("county_departments", org_ids.len() - cities)
    .detail("document_id", sheet.document_id)
    .detail("region_path", &importer.region_path)
    .detail("org_ids", &org_ids);
    let audit_id = xiaobao_audit::record(&mut *tx, &importer.actor, entry).await?;
    savepoint.commit().await?;
    tracing::info!(
        count = org_ids.len(),
        region_path = %importer.region_path,
        "departments imported"
    );

    let created = planned
        .iter()
        .zip(&org_ids)
        .map(|(p, org_id)| CreatedOrganisation {
            line: p.0.line,
            org_id: *org_id,
            account_id: account_by_org.get(org_id).copied().unwrap_or_default(),
            name: p.0.name.clone(),
            login_name: p.2.to_string(),
            region_code: p.1.region_code.clone(),
        })
        .collect();
    Ok(ImportReport {
        created,
        central_school_ids: Vec::new(),
        audit_id,
    })
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;
    use crate::normalise::header_key;

    #[test]
    fn seed_and_template_headers_classify() {
        let cases = [
            ("区域代码", Field::RegionCode),
            ("区域名称", Field::RegionName),
            ("单位名称", Field::Name),
            ("各县（市、区）\n\n教育局名称", Field::Name),
            ("地级以上市名称", Field::City),
            ("安全科负责人姓名", Field::ContactName),
            ("联系人", Field::ContactName),
            ("手机", Field::ContactMobile),
            ("联系人手机号", Field::ContactMobile),
            ("邮箱", Field::Ignored),
            ("序号", Field::Ignored),
        ];
        for (header, field) in cases {
            assert_eq!(
                Field::classify(&header_key(header)),
                Some(field),
                "{header}"
            );
        }
    }

    #[test]
    fn seed_layout_parses() {
        // The columns of 附件2, with its title rows above.
        let csv = "XXX市各县（市、区）教育局联系清单,,,,,\n\
                   填写完成后，发到中国教育学会安全教育实验区办公室邮箱,,,,,\n\
                   序号,地级以上市名称,\"各县（市、区）\n\n教育局名称\",安全科负责人姓名,手机,邮箱\n\
                   1,郑州市,金水区教育局,张三,13812345678,a@example.com\n\
                   2,郑州市,,李四,1381234,\n";
        let sheet = parse_departments(csv.as_bytes()).unwrap();
        assert_eq!(sheet.header_line(), 3);
        assert_eq!(sheet.rows().len(), 2);
        assert_eq!(sheet.rows()[0].city, "郑州市");
        assert_eq!(sheet.rows()[0].name, "金水区教育局");
        let shown: Vec<String> = sheet.problems().iter().map(ToString::to_string).collect();
        assert_eq!(sheet.rows()[0].region_name, "金水区");
        assert_eq!(
            shown,
            vec![
                "第 5 行：区域代码和区域名称至少填写一项",
                "第 5 行：单位名称未填写",
                "第 5 行：联系人手机号「1381234」不是 11 位手机号",
            ]
        );
    }

    #[test]
    fn the_template_has_no_rows() {
        let err = parse_departments(&crate::department_template()).unwrap_err();
        assert!(
            err.problems()[0].reason.contains("没有教育部门数据"),
            "{err}"
        );
    }
}
