//! Schools: parsing the school sheet (附件3) and importing it for a city or county department.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use sqlx::{Connection, PgConnection};
use xiaobao_audit::Entry;
use xiaobao_domain::{OrgStatus, SchoolNature, SchoolType};

use crate::normalise::{is_region_code, mobile_from_number, mobile_from_text, name_key};
use crate::regions::{RegionColumns, RegionIndex, RegionInfo, RegionRef};
use crate::table::{Cell, Header, MAX_ROWS, find_header, is_example_row, is_note_row, read_tables};
use crate::{
    CreatedOrganisation, ImportReport, Importer, OnboardingError, RegionLevel, RowProblem,
    sort_problems,
};

/// The columns of the school sheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    /// 序号, 年级段, 备注 … : recognised and not imported.
    Ignored,
    Name,
    RegionCode,
    RegionName,
    Nature,
    Type,
    Address,
    Principal,
    ContactName,
    ContactMobile,
    CentralSchool,
}

impl Field {
    /// The column's name in problems and in the template.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Field::Ignored => "",
            Field::Name => "学校全称",
            Field::RegionCode => "所在区域代码",
            Field::RegionName => "所在区域名称",
            Field::Nature => "办学性质",
            Field::Type => "学校类型",
            Field::Address => "学校地址",
            Field::Principal => "校长姓名",
            Field::ContactName => "联系人",
            Field::ContactMobile => "联系人手机号",
            Field::CentralSchool => "中心校全称",
        }
    }

    /// Maps a header key (see `header_key`) to a column, tolerating the usual variants.
    pub(crate) fn classify(k: &str) -> Option<Field> {
        const IGNORED: [&str; 9] = [
            "序号",
            "编号",
            "年级段",
            "学段",
            "备注",
            "邮箱",
            "电子邮箱",
            "说明",
            "负责人职务",
        ];
        const NAMES: [&str; 7] = [
            "学校全称",
            "学校名称",
            "学校全名",
            "学校",
            "单位名称",
            "单位全称",
            "学校(单位)名称",
        ];
        const REGION_NAMES: [&str; 16] = [
            "所在区域名称",
            "区域名称",
            "所在区域",
            "区域",
            "所在地区",
            "地区",
            "所属区域",
            "县",
            "县区",
            "区县",
            "所在县区",
            "所在县",
            "所属县区",
            "县(区、市)",
            "县(市、区)",
            "所在县(区、市)",
        ];
        if k.is_empty() {
            return None;
        }
        if IGNORED.contains(&k) {
            return Some(Field::Ignored);
        }
        if k.contains("中心校") {
            return Some(Field::CentralSchool);
        }
        if k.contains("手机") || k.contains("电话") || k == "联系方式" {
            return Some(Field::ContactMobile);
        }
        if k.contains("代码")
            && ["区域", "地区", "区划", "县", "行政"]
                .iter()
                .any(|w| k.contains(w))
        {
            return Some(Field::RegionCode);
        }
        if NAMES.contains(&k) {
            return Some(Field::Name);
        }
        if REGION_NAMES.contains(&k) {
            return Some(Field::RegionName);
        }
        if k.contains("性质") {
            return Some(Field::Nature);
        }
        if k.contains("类型") || k == "类别" || k == "学校类别" {
            return Some(Field::Type);
        }
        if k.contains("地址") {
            return Some(Field::Address);
        }
        if k.contains("校长") || k == "法定代表人" || k == "法人代表" {
            return Some(Field::Principal);
        }
        if k.contains("联系人") || k.contains("明白人") || k == "负责人" || k == "负责人姓名"
        {
            return Some(Field::ContactName);
        }
        None
    }

    const DATA: [Field; 10] = [
        Field::Name,
        Field::RegionCode,
        Field::RegionName,
        Field::Nature,
        Field::Type,
        Field::Address,
        Field::Principal,
        Field::ContactName,
        Field::ContactMobile,
        Field::CentralSchool,
    ];
}

const REGION_COLUMNS: RegionColumns = RegionColumns {
    code: "所在区域代码",
    name: "所在区域名称",
};

/// One school row as read from the sheet, normalised. Fields that did not pass the checks
/// of the row on its own are `None` (their problem is in the sheet's problems).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchoolRow {
    /// The spreadsheet line (as Excel shows it).
    pub line: u32,
    /// 学校全称 — also the school account's login name.
    pub name: String,
    /// 所在区域代码 as written (empty when not given).
    pub region_code: String,
    /// 所在区域名称 as written (empty when not given).
    pub region_name: String,
    pub nature: Option<SchoolNature>,
    pub school_type: Option<SchoolType>,
    pub address: Option<String>,
    pub principal: Option<String>,
    /// 联系人 (明白人).
    pub contact_name: String,
    pub contact_mobile: Option<String>,
    /// 中心校全称, when the school is assigned to a central school (its own name: it is one).
    pub central_school: Option<String>,
}

/// A parsed school file: its rows and the problems found in the rows on their own.
/// Made by [`parse_schools`]; imported by [`import_schools`].
#[derive(Debug, Clone)]
pub struct SchoolSheet {
    rows: Vec<SchoolRow>,
    problems: Vec<RowProblem>,
    header_line: u32,
    document_id: Option<i64>,
}

impl SchoolSheet {
    /// The data rows (example, note and empty rows left out), in file order.
    pub fn rows(&self) -> &[SchoolRow] {
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

    /// Records the stored upload (`documents.document_id`) the sheet came from, for the audit.
    #[must_use]
    pub fn with_document(mut self, document_id: i64) -> Self {
        self.document_id = Some(document_id);
        self
    }

    /// The stored upload the sheet came from, if recorded.
    pub fn document_id(&self) -> Option<i64> {
        self.document_id
    }
}

/// Reads a school file (XLSX/XLS/ODS or CSV) and checks every row on its own: required
/// fields, lengths, 办学性质 and 学校类型 against the vocabularies, the mobile's format
/// (including numbers a spreadsheet mangled), and duplicate names and mobiles inside the file.
///
/// Errors only when the file cannot be read at all, has no recognisable header, lacks a
/// required column or has no data row; row problems are kept in the sheet.
pub fn parse_schools(bytes: &[u8]) -> Result<SchoolSheet, OnboardingError> {
    let tables = read_tables(bytes)?;
    let found = tables
        .iter()
        .find_map(|t| find_header(t, Field::classify, |f| f != Field::Ignored, 3).map(|h| (t, h)));
    let Some((table, header)) = found else {
        return Err(OnboardingError::Invalid(vec![RowProblem::file(
            None,
            "未找到表头行：请使用学校导入模板，表头应包含「学校全称」「所在区域代码」「办学性质」「学校类型」「联系人」「联系人手机号」等列",
        )]));
    };
    let mut missing = Vec::new();
    for field in [
        Field::Name,
        Field::Nature,
        Field::Type,
        Field::ContactName,
        Field::ContactMobile,
    ] {
        if !header.has(field) {
            missing.push(RowProblem::new(
                header.line,
                Some(field.label()),
                format!("缺少「{}」列", field.label()),
            ));
        }
    }
    if !header.has(Field::RegionCode) && !header.has(Field::RegionName) {
        missing.push(RowProblem::new(
            header.line,
            Some(Field::RegionCode.label()),
            "缺少「所在区域代码」或「所在区域名称」列",
        ));
    }
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
                "文件行数超过上限：一次最多导入 {MAX_ROWS} 所学校，请分批导入"
            )));
        }
        rows.push(read_row(&header, row, &mut problems));
    }
    if rows.is_empty() {
        return Err(OnboardingError::Invalid(vec![RowProblem::file(
            None,
            format!(
                "文件中没有学校数据（表头在第 {} 行，请从表头下一行起填写）",
                header.line
            ),
        )]));
    }
    check_duplicates(&rows, &mut problems);
    sort_problems(&mut problems);
    Ok(SchoolSheet {
        rows,
        problems,
        header_line: header.line,
        document_id: None,
    })
}

fn read_row(
    header: &Header<Field>,
    row: &crate::table::Row,
    problems: &mut Vec<RowProblem>,
) -> SchoolRow {
    let line = row.line;
    let text = |f: Field| header.cell(row, f).text();
    let mut problem = |f: Field, reason: String| {
        problems.push(RowProblem::new(line, Some(f.label()), reason));
    };

    let name = text(Field::Name);
    if name.is_empty() {
        problem(Field::Name, "学校全称未填写".into());
    } else if !(2..=100).contains(&name.chars().count()) {
        problem(
            Field::Name,
            format!("学校全称「{name}」长度应为 2–100 个字"),
        );
    }

    let region_code = text(Field::RegionCode);
    let region_name = text(Field::RegionName);
    if region_code.is_empty() && region_name.is_empty() {
        problem(
            Field::RegionCode,
            "所在区域代码和所在区域名称至少填写一项".into(),
        );
    } else if !region_code.is_empty() && !is_region_code(&region_code) {
        problem(
            Field::RegionCode,
            format!("所在区域代码「{region_code}」应为 6 位数字"),
        );
    }

    let nature_text = text(Field::Nature);
    let nature = if nature_text.is_empty() {
        problem(Field::Nature, "办学性质未填写".into());
        None
    } else {
        match nature_text.parse::<SchoolNature>() {
            Ok(n) => Some(n),
            Err(_) => {
                problem(
                    Field::Nature,
                    format!("办学性质「{nature_text}」应为 公办 或 民办"),
                );
                None
            }
        }
    };

    let type_text = text(Field::Type);
    let school_type = if type_text.is_empty() {
        problem(Field::Type, "学校类型未填写".into());
        None
    } else {
        match type_text.parse::<SchoolType>() {
            Ok(t) => Some(t),
            Err(_) => {
                let labels: Vec<&str> = SchoolType::ALL.iter().map(|t| t.label()).collect();
                problem(
                    Field::Type,
                    format!(
                        "学校类型「{type_text}」不在可选范围内，应为 {} 之一",
                        labels.join("、")
                    ),
                );
                None
            }
        }
    };

    let optional = |value: String, f: Field, max: usize, problem: &mut dyn FnMut(Field, String)| {
        if value.is_empty() {
            None
        } else {
            if value.chars().count() > max {
                problem(f, format!("{}超过 {max} 个字", f.label()));
            }
            Some(value)
        }
    };
    let address = optional(text(Field::Address), Field::Address, 200, &mut problem);
    let principal = optional(text(Field::Principal), Field::Principal, 50, &mut problem);
    let central_school = optional(
        text(Field::CentralSchool),
        Field::CentralSchool,
        100,
        &mut problem,
    );

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

    SchoolRow {
        line,
        name,
        region_code,
        region_name,
        nature,
        school_type,
        address,
        principal,
        contact_name,
        contact_mobile,
        central_school,
    }
}

/// Same school name or same contact mobile twice in the file: every later row is reported
/// against the first.
fn check_duplicates(rows: &[SchoolRow], problems: &mut Vec<RowProblem>) {
    let mut names: HashMap<String, u32> = HashMap::new();
    let mut mobiles: HashMap<&str, u32> = HashMap::new();
    for row in rows {
        if !row.name.is_empty() {
            let key = name_key(&row.name);
            if let Some(first) = names.get(&key) {
                problems.push(RowProblem::new(
                    row.line,
                    Some(Field::Name.label()),
                    format!("学校全称「{}」与第 {first} 行重复", row.name),
                ));
            } else {
                names.insert(key, row.line);
            }
        }
        if let Some(mobile) = &row.contact_mobile {
            if let Some(first) = mobiles.get(mobile.as_str()) {
                problems.push(RowProblem::new(
                    row.line,
                    Some(Field::ContactMobile.label()),
                    format!("联系人手机号「{mobile}」与第 {first} 行重复（每所学校的联系人手机号须不同）"),
                ));
            } else {
                mobiles.insert(mobile, row.line);
            }
        }
    }
}

/// A live school of the tenant (pending or active).
#[derive(Debug)]
struct ExistingSchool {
    org_id: i64,
    name: String,
    contact_mobile: Option<String>,
    region_code: String,
    status: OrgStatus,
    is_central: bool,
    central_school_id: Option<i64>,
}

/// Where a row's central school is.
#[derive(Debug, Clone, Copy)]
enum CentralLink {
    /// Another row of the file (index into the rows).
    InFile(usize),
    /// An existing active school.
    Existing(i64),
}

/// Imports a parsed school file for `importer`: every row's region must be a county or 市直
/// bucket inside the importer's subtree; names and mobiles must not belong to a live school
/// (pending or active) nor names to another school account; a 中心校全称 must name a school of
/// the same region in the file or an existing active one.
///
/// All or nothing: when any row has a problem — on its own or against the tenant's data —
/// every problem is returned as [`OnboardingError::Invalid`] and nothing is written. Otherwise
/// the schools (status `active`), their accounts (login name = full name, no password, must
/// set one) and roles (`school`, plus `central_school` for central schools) are inserted in a
/// few set-based statements under a savepoint of the caller's transaction, central-school links
/// are set, and one audit entry `onboarding.schools.imported` is recorded. The caller commits.
pub async fn import_schools(
    conn: &mut PgConnection,
    importer: &Importer,
    sheet: &SchoolSheet,
) -> Result<ImportReport, OnboardingError> {
    if importer.region_level == RegionLevel::Direct {
        return Err(OnboardingError::NotPermitted(
            "「市直」不是教育部门，不能导入学校；市直属学校由市教育局导入".into(),
        ));
    }
    let mut problems = sheet.problems.clone();
    let rows = &sheet.rows;
    let regions = RegionIndex::load(&mut *conn).await?;

    // Regions.
    let mut resolved: Vec<Option<&RegionInfo>> = Vec::with_capacity(rows.len());
    for row in rows {
        let code_ok = row.region_code.is_empty() || is_region_code(&row.region_code);
        if !code_ok || (row.region_code.is_empty() && row.region_name.is_empty()) {
            resolved.push(None);
            continue;
        }
        let reference = RegionRef {
            code: &row.region_code,
            name: &row.region_name,
            city: "",
        };
        match regions.resolve(importer, &reference, REGION_COLUMNS) {
            Ok(region) if matches!(region.level.as_str(), "county" | "direct") => {
                resolved.push(Some(region));
            }
            Ok(region) => {
                problems.push(RowProblem::new(
                    row.line,
                    Some(REGION_COLUMNS.code),
                    format!(
                        "所在区域「{}」是{}级区域：学校应填写所在县（市、区），市直属学校填写「市直」",
                        RegionIndex::describe(region),
                        if region.level == "province" { "省" } else { "市" }
                    ),
                ));
                resolved.push(None);
            }
            Err((column, reason)) => {
                problems.push(RowProblem::new(row.line, Some(column), reason));
                resolved.push(None);
            }
        }
    }

    // Live schools and school login names.
    let existing = sqlx::query_as!(
        ExistingSchool,
        "select org_id, name, contact_mobile, region_code, status as \"status: OrgStatus\", \
         is_central, central_school_id \
         from organisations where kind = 'school' and status in ('pending', 'active')",
    )
    .fetch_all(&mut *conn)
    .await?;
    let existing_by_name: HashMap<String, &ExistingSchool> =
        existing.iter().map(|s| (name_key(&s.name), s)).collect();
    let existing_mobiles: HashSet<&str> = existing
        .iter()
        .filter_map(|s| s.contact_mobile.as_deref())
        .collect();
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    let taken_logins: HashSet<String> = sqlx::query_scalar!(
        "select login_name from accounts where account_type = 'school' and login_name = any($1)",
        &names as &[&str],
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();

    for row in rows {
        if row.name.is_empty() {
            continue;
        }
        if let Some(found) = existing_by_name.get(&name_key(&row.name)) {
            let state = if found.status == OrgStatus::Pending {
                "正在审核中"
            } else {
                "已开通"
            };
            problems.push(RowProblem::new(
                row.line,
                Some(Field::Name.label()),
                format!("学校全称「{}」的学校{state}，不能重复开通", row.name),
            ));
        } else if taken_logins.contains(&row.name) {
            problems.push(RowProblem::new(
                row.line,
                Some(Field::Name.label()),
                format!("学校全称「{}」已被其他学校账号用作登录名", row.name),
            ));
        }
        if let Some(mobile) = &row.contact_mobile
            && existing_mobiles.contains(mobile.as_str())
        {
            problems.push(RowProblem::new(
                row.line,
                Some(Field::ContactMobile.label()),
                format!("联系人手机号「{mobile}」已是其他学校的联系人手机号"),
            ));
        }
    }

    // Central schools.
    let file_index: HashMap<String, usize> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.name.is_empty())
        .map(|(i, r)| (name_key(&r.name), i))
        .rev()
        .collect();
    let mut links: Vec<Option<CentralLink>> = vec![None; rows.len()];
    let mut new_central: HashSet<usize> = HashSet::new();
    let mut promoted: Vec<i64> = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let Some(central) = &row.central_school else {
            continue;
        };
        let key = name_key(central);
        if key == name_key(&row.name) {
            new_central.insert(i);
            continue;
        }
        let Some(region) = resolved[i] else { continue };
        let mut problem = |reason: String| {
            problems.push(RowProblem::new(
                row.line,
                Some(Field::CentralSchool.label()),
                reason,
            ));
        };
        if let Some(&j) = file_index.get(&key) {
            let other = &rows[j];
            match resolved[j] {
                Some(r) if r.region_code != region.region_code => problem(format!(
                    "中心校「{central}」（第 {} 行）与本校不在同一区域（本校：{}，中心校：{}）",
                    other.line, region.name, r.name
                )),
                None => {}
                Some(_) => {
                    let assigned_elsewhere = other
                        .central_school
                        .as_ref()
                        .is_some_and(|c| name_key(c) != key);
                    if assigned_elsewhere {
                        problem(format!(
                            "中心校「{central}」（第 {} 行）本身隶属于其他中心校，不能再作为中心校",
                            other.line
                        ));
                    } else {
                        links[i] = Some(CentralLink::InFile(j));
                        new_central.insert(j);
                    }
                }
            }
        } else if let Some(found) = existing_by_name.get(&key) {
            if found.status != OrgStatus::Active {
                problem(format!(
                    "中心校「{central}」尚在审核中，审核通过后才能作为中心校"
                ));
            } else if found.region_code != region.region_code {
                problem(format!(
                    "中心校「{central}」不在本校所在区域（{}）",
                    RegionIndex::describe(region)
                ));
            } else if found.central_school_id.is_some() {
                problem(format!(
                    "中心校「{central}」本身隶属于其他中心校，不能再作为中心校"
                ));
            } else {
                links[i] = Some(CentralLink::Existing(found.org_id));
                if !found.is_central && !promoted.contains(&found.org_id) {
                    promoted.push(found.org_id);
                }
            }
        } else {
            problem(format!(
                "中心校「{central}」既不在本文件中，也不是{}已开通的学校",
                RegionIndex::describe(region)
            ));
        }
    }

    if !problems.is_empty() {
        sort_problems(&mut problems);
        return Err(OnboardingError::Invalid(problems));
    }

    // Every row is complete here: a missing required field is a problem above.
    let mut planned = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let (Some(region), Some(nature), Some(school_type), Some(mobile)) = (
            resolved[i],
            row.nature,
            row.school_type,
            row.contact_mobile.as_deref(),
        ) else {
            return Err(OnboardingError::Invalid(vec![RowProblem::new(
                row.line,
                None,
                "本行数据不完整",
            )]));
        };
        planned.push((row, region, nature, school_type, mobile));
    }

    let mut savepoint = conn.begin().await?;
    let tx = &mut *savepoint;
    let actor_account = importer.actor.account_id;

    let names: Vec<String> = planned.iter().map(|p| p.0.name.clone()).collect();
    let region_codes: Vec<String> = planned.iter().map(|p| p.1.region_code.clone()).collect();
    let region_paths: Vec<String> = planned.iter().map(|p| p.1.path.clone()).collect();
    let natures: Vec<&str> = planned.iter().map(|p| p.2.code()).collect();
    let school_types: Vec<&str> = planned.iter().map(|p| p.3.code()).collect();
    let addresses: Vec<_> = planned.iter().map(|p| p.0.address.clone()).collect();
    let principals: Vec<_> = planned.iter().map(|p| p.0.principal.clone()).collect();
    let contact_names: Vec<_> = planned.iter().map(|p| p.0.contact_name.clone()).collect();
    let mobiles: Vec<String> = planned.iter().map(|p| p.4.to_string()).collect();
    let is_central: Vec<bool> = (0..planned.len())
        .map(|i| new_central.contains(&i))
        .collect();
    let ords: Vec<i32> = (0..planned.len())
        .map(|i| i32::try_from(i).unwrap_or(i32::MAX))
        .collect();
    let org_rows = sqlx::query!(
        "insert into organisations (kind, name, region_code, region_path, status, nature, \
         school_type, address, principal, contact_name, contact_mobile, is_central, decided_by, \
         decided_at) \
         select 'school', t.name, t.region_code, t.region_path, 'active', t.nature, t.school_type, \
                t.address, t.principal, t.contact_name, t.contact_mobile, t.is_central, $12, now() \
           from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
                       $7::text[], $8::text[], $9::text[], $10::bool[], $11::int[]) \
                as t(name, region_code, region_path, nature, school_type, address, principal, \
                     contact_name, contact_mobile, is_central, ord) \
          order by t.ord \
         returning org_id, name",
        &names,
        &region_codes,
        &region_paths,
        &natures as &[&str],
        &school_types as &[&str],
        &addresses as _,
        &principals as _,
        &contact_names as _,
        &mobiles,
        &is_central,
        &ords,
        actor_account,
    )
    .fetch_all(&mut *tx)
    .await
    .map_err(OnboardingError::from_write)?;
    let org_by_name: HashMap<String, i64> =
        org_rows.into_iter().map(|r| (r.name, r.org_id)).collect();
    let mut org_ids = Vec::with_capacity(planned.len());
    for p in &planned {
        let Some(id) = org_by_name.get(&p.0.name) else {
            return Err(OnboardingError::Conflict(format!(
                "学校「{}」未能创建",
                p.0.name
            )));
        };
        org_ids.push(*id);
    }

    let account_rows = sqlx::query!(
        "insert into accounts (org_id, account_type, login_name, display_name, password_hash, \
         must_change_password, created_by) \
         select t.org_id, 'school', t.name, t.name, null, true, $3 \
           from unnest($1::bigint[], $2::text[]) as t(org_id, name) \
         returning account_id, org_id",
        &org_ids,
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

    sqlx::query!(
        "insert into account_roles (account_id, role, granted_by) \
         select t.account_id, 'school', $2 from unnest($1::bigint[]) as t(account_id)",
        &account_ids,
        actor_account,
    )
    .execute(&mut *tx)
    .await
    .map_err(OnboardingError::from_write)?;

    // Central schools: links, promotions of existing schools, and the role.
    let (linked, centrals): (Vec<i64>, Vec<i64>) = links
        .iter()
        .enumerate()
        .filter_map(|(i, link)| {
            let central = match (*link)? {
                CentralLink::InFile(j) => org_ids[j],
                CentralLink::Existing(id) => id,
            };
            Some((org_ids[i], central))
        })
        .unzip();
    if !linked.is_empty() {
        sqlx::query!(
            "update organisations o set central_school_id = t.central, updated_at = now() \
               from unnest($1::bigint[], $2::bigint[]) as t(org_id, central) \
              where o.org_id = t.org_id",
            &linked,
            &centrals,
        )
        .execute(&mut *tx)
        .await?;
    }
    if !promoted.is_empty() {
        sqlx::query!(
            "update organisations set is_central = true, updated_at = now() \
              where org_id = any($1) and kind = 'school'",
            &promoted,
        )
        .execute(&mut *tx)
        .await?;
    }
    let mut central_school_ids: Vec<i64> = new_central.iter().map(|i| org_ids[*i]).collect();
    central_school_ids.sort_unstable();
    central_school_ids.extend(promoted.iter().copied());
    if !central_school_ids.is_empty() {
        sqlx::query!(
            "insert into account_roles (account_id, role, granted_by) \
             select account_id, 'central_school', $2 from accounts \
              where org_id = any($1) and account_type = 'school' \
             on conflict (account_id, role) do nothing",
            &central_school_ids,
            actor_account,
        )
        .execute(&mut *tx)
        .await?;
    }

    let entry = Entry::new(
        "onboarding.schools.imported",
        "organisation",
        None::<String>,
    )
    .detail("count", org_ids.len())
    .detail("document_id", sheet.document_id)
    .detail("region_path", &importer.region_path)
    .detail("org_ids", &org_ids)
    .detail("central_school_ids", &central_school_ids)
    .detail("linked_to_central_school", linked.len());
    let audit_id = xiaobao_audit::record(&mut *tx, &importer.actor, entry).await?;
    savepoint.commit().await?;
    tracing::info!(
        count = org_ids.len(),
        centrals = central_school_ids.len(),
        region_path = %importer.region_path,
        "schools imported"
    );

    let created = planned
        .iter()
        .zip(&org_ids)
        .map(|(p, org_id)| CreatedOrganisation {
            line: p.0.line,
            org_id: *org_id,
            account_id: account_by_org.get(org_id).copied().unwrap_or_default(),
            name: p.0.name.clone(),
            login_name: p.0.name.clone(),
            region_code: p.1.region_code.clone(),
        })
        .collect();
    Ok(ImportReport {
        created,
        central_school_ids,
        audit_id,
    })
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    #[test]
    fn header_variants_classify() {
        use crate::normalise::header_key;
        let cases = [
            ("*学校全称", Field::Name),
            ("学校名称", Field::Name),
            ("所在区域代码", Field::RegionCode),
            ("区划代码", Field::RegionCode),
            ("所在区域名称", Field::RegionName),
            ("县（区、市）", Field::RegionName),
            ("学校性质", Field::Nature),
            ("办学性质（公办/民办）", Field::Nature),
            ("学校类型", Field::Type),
            ("学校地址", Field::Address),
            ("校长姓名", Field::Principal),
            ("联系人（明白人）", Field::ContactName),
            ("负责人", Field::ContactName),
            ("联系人手机号", Field::ContactMobile),
            ("联系电话", Field::ContactMobile),
            ("手机", Field::ContactMobile),
            ("中心校全称（选填）", Field::CentralSchool),
            ("年级段", Field::Ignored),
            ("序号", Field::Ignored),
        ];
        for (header, field) in cases {
            assert_eq!(
                Field::classify(&header_key(header)),
                Some(field),
                "{header}"
            );
        }
        assert_eq!(Field::classify(&header_key("XXX市批量导入学校模板")), None);
    }

    #[test]
    fn csv_rows_are_checked_on_their_own() {
        let csv = "学校批量导入,,,,,,\n\
                   学校全称,所在区域代码,办学性质,学校类型,联系人,联系人手机号,中心校全称\n\
                   示例：某某小学,410105,公办,小学,张三,13800138000,\n\
                   金水区第一小学 ,４１０１０５,公办,小学,李四,１３８１２３４５６７８,\n\
                   ,,,,,,\n\
                   金水区第一小学,410105,国营,大学,王五,1381234,\n\
                   金水区二小,410105,民办,初中(含完中),赵六,1.38123E+10,\n\
                   金水区三小,410105,民办,幼儿园,钱七,13812345678,\n\
                   备注：请于4月15日前报送,,,,,,\n";
        let sheet = parse_schools(csv.as_bytes()).unwrap();
        assert_eq!(sheet.header_line(), 2);
        let lines: Vec<u32> = sheet.rows().iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![4, 6, 7, 8]);
        let first = &sheet.rows()[0];
        assert_eq!(first.name, "金水区第一小学");
        assert_eq!(first.region_code, "410105");
        assert_eq!(first.contact_mobile.as_deref(), Some("13812345678"));
        assert_eq!(sheet.rows()[2].school_type, Some(SchoolType::JuniorHigh));
        let shown: Vec<String> = sheet.problems().iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            vec![
                "第 6 行：办学性质「国营」应为 公办 或 民办".to_string(),
                format!(
                    "第 6 行：学校类型「大学」不在可选范围内，应为 {} 之一",
                    SchoolType::ALL.map(|t| t.label()).join("、")
                ),
                "第 6 行：联系人手机号「1381234」不是 11 位手机号".to_string(),
                "第 6 行：学校全称「金水区第一小学」与第 4 行重复".to_string(),
                "第 7 行：联系人手机号「1.38123E+10」已被表格转成科学计数法，号码后几位已丢失；请把该列设为文本格式后重新填写完整的 11 位手机号".to_string(),
                "第 8 行：联系人手机号「13812345678」与第 4 行重复（每所学校的联系人手机号须不同）".to_string(),
            ]
        );
        assert_eq!(sheet.problems()[0].column.as_deref(), Some("办学性质"));
    }

    #[test]
    fn missing_columns_and_no_header_are_file_problems() {
        let err =
            parse_schools("学校全称,办学性质,学校类型,联系人\n一中,公办,小学,张三\n".as_bytes())
                .unwrap_err();
        let reasons: Vec<&str> = err.problems().iter().map(|p| p.reason.as_str()).collect();
        assert_eq!(
            reasons,
            vec![
                "缺少「联系人手机号」列",
                "缺少「所在区域代码」或「所在区域名称」列"
            ]
        );
        assert_eq!(err.problems()[0].line, 1);
        let err = parse_schools("随便写点什么\n1,2,3\n".as_bytes()).unwrap_err();
        assert!(err.problems()[0].reason.contains("未找到表头行"));
        let err = parse_schools(
            "学校全称,所在区域代码,办学性质,学校类型,联系人,联系人手机号\n".as_bytes(),
        )
        .unwrap_err();
        assert!(err.problems()[0].reason.contains("没有学校数据"));
    }

    #[test]
    fn the_template_parses_to_no_rows_and_round_trips_filled() {
        let err = parse_schools(&crate::school_template()).unwrap_err();
        assert!(err.problems()[0].reason.contains("没有学校数据"), "{err}");
    }
}
