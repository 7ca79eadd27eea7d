//! A rules document edited field by field, without I/O.
//!
//! - [`fields`]: the editable fields of a document — every scalar or list of scalars, with the
//!   path the validation names it by (`products[1].rates[2].rate_fen`, 1-based), a Chinese label
//!   and section — plus the optional ones a programme may leave unset (contact and on-site
//!   hours, the broker fee).
//! - [`apply`]: edits (path → text as typed) applied to the document's text, keeping its
//!   comments and layout; a value that cannot be of its field's type is a problem on its path.
//! - [`diff`]: the fields that differ between two documents, before and after.
//!
//! Enumerated values (school nature and types, insured group, claim kinds, …) are shown with
//! their Chinese labels and accepted as label or code.

use std::collections::HashMap;

use serde::Serialize;
use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, TableLike, Value};
use xiaobao_domain::AcademicYear;
use xiaobao_domain::rules::{
    AdmittedInsurer, ClaimKind, Confirmer, InsuredGroup, RuleProblem, TenderYears,
};
use xiaobao_domain::school::{SchoolNature, SchoolType};

/// The largest rules document accepted (the demo programmes' are about 10 KiB).
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// Keys that may be absent; emptying such a field removes it.
const OPTIONAL_KEYS: &[&str] = &[
    "broker_fee_permille",
    "contact_hours",
    "on_site_hours",
    "up_to_fen",
    "min_amount_exclusive_fen",
    "only_if",
    "per_person_year_fen",
    "per_school_accident_fen",
    "nature",
    "cap_fen",
    "confirmed_by",
    "lot",
    "tender_years",
];

/// Optional fields offered in the form even when the document leaves them unset (the path of
/// the table they belong in must exist).
const OFFERED_WHEN_ABSENT: &[(&str, FieldKind)] = &[
    ("broker_fee_permille", FieldKind::Integer),
    ("claims.contact_hours", FieldKind::Integer),
    ("claims.on_site_hours", FieldKind::Integer),
];

/// What a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Integer,
    Boolean,
    Text,
    /// A list of texts (or codes), written separated by commas or 、.
    TextList,
    /// A list of whole numbers, written separated by commas.
    IntegerList,
}

/// One editable field of a rules document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Field {
    /// As the validation names it: `products[1].rates[2].rate_fen`.
    pub path: String,
    /// The section it belongs to, e.g. 险种、费率与限额.
    pub section: &'static str,
    /// Chinese label with its place, e.g. 险种1 · 费率2 · 费率（分/人/年）.
    pub label: String,
    pub kind: FieldKind,
    /// The value as shown and edited (labels for enumerated values; empty when unset).
    pub value: String,
    /// Allowed values or the unit, when helpful.
    pub hint: Option<String>,
    /// Shown but not editable (the academic year).
    pub read_only: bool,
}

/// One field that differs between two documents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Change {
    pub path: String,
    pub label: String,
    /// `None` when the field was not set before.
    pub before: Option<String>,
    /// `None` when the field is not set any more.
    pub after: Option<String>,
}

struct Leaf {
    path: String,
    kind: FieldKind,
    /// The stored text of the value (codes, not labels).
    raw: String,
}

/// The editable fields of `document` (which must parse as TOML).
pub fn fields(document: &str) -> Result<Vec<Field>, RuleProblem> {
    let doc = parse(document)?;
    let leaves = leaves(&doc);
    let names = product_names(&leaves);
    let mut out: Vec<Field> = leaves.iter().map(|l| field_of(l, &names)).collect();
    for (path, kind) in OFFERED_WHEN_ABSENT {
        let present = leaves.iter().any(|l| l.path == *path);
        let parent_exists = match path.rsplit_once('.') {
            Some((parent, _)) => table_path_exists(&doc, parent),
            None => true,
        };
        if !present && parent_exists {
            let at = out
                .iter()
                .rposition(|f| f.section == section_of(path))
                .map_or(out.len(), |i| i + 1);
            out.insert(
                at,
                field_of(
                    &Leaf {
                        path: (*path).to_string(),
                        kind: *kind,
                        raw: String::new(),
                    },
                    &names,
                ),
            );
        }
    }
    Ok(out)
}

/// `edits` (path → text as typed) applied to `document`: unchanged values are left as they are
/// written, changed ones replaced in place (comments kept), an emptied optional field removed.
/// Every edit that cannot be applied is a problem on its path; none is applied then.
pub fn apply(document: &str, edits: &[(String, String)]) -> Result<String, Vec<RuleProblem>> {
    let mut doc = parse(document).map_err(|p| vec![p])?;
    let current: HashMap<String, (FieldKind, String)> = leaves(&doc)
        .into_iter()
        .map(|l| (l.path, (l.kind, l.raw)))
        .collect();
    let mut problems = Vec::new();
    for (path, typed) in edits {
        let typed = typed.trim();
        let (kind, before) = match current.get(path) {
            Some((kind, raw)) => (*kind, Some(raw.as_str())),
            None => match OFFERED_WHEN_ABSENT.iter().find(|(p, _)| p == path) {
                Some((_, kind)) => (*kind, None),
                None => {
                    problems.push(problem(path, "不是方案规则中可修改的字段"));
                    continue;
                }
            },
        };
        if path == "academic_year" {
            if before != Some(typed) {
                problems.push(problem(path, "学年不可修改；请在对应学年下提出修改"));
            }
            continue;
        }
        let key = last_key(path);
        if typed.is_empty() && !matches!(kind, FieldKind::TextList | FieldKind::IntegerList) {
            if before.is_none() {
                continue;
            }
            if OPTIONAL_KEYS.contains(&key) {
                if let Err(p) = set(&mut doc, path, None) {
                    problems.push(p);
                }
            } else {
                problems.push(problem(path, "不能为空"));
            }
            continue;
        }
        let value = match parse_value(key, kind, typed) {
            Ok(v) => v,
            Err(message) => {
                problems.push(problem(path, message));
                continue;
            }
        };
        if before == Some(stored_text(&value).as_str()) {
            continue;
        }
        if let Err(p) = set(&mut doc, path, Some(value)) {
            problems.push(p);
        }
    }
    if problems.is_empty() {
        Ok(doc.to_string())
    } else {
        Err(problems)
    }
}

/// `document` as the rules of `year`: the same text with its `academic_year` replaced (the
/// draft of a new year copied from the year before).
pub fn for_year(document: &str, year: &str) -> Result<String, RuleProblem> {
    let mut doc = parse(document)?;
    set(&mut doc, "academic_year", Some(Value::from(year)))?;
    Ok(doc.to_string())
}

/// The fields that differ between `before` and `after`, in the order of `after` and then the
/// ones `after` no longer has. Comments and layout are not differences.
pub fn diff(before: &str, after: &str) -> Result<Vec<Change>, RuleProblem> {
    let old = leaves(&parse(before)?);
    let new = leaves(&parse(after)?);
    let mut names = product_names(&old);
    names.extend(product_names(&new));
    let old_by_path: HashMap<&str, &Leaf> = old.iter().map(|l| (l.path.as_str(), l)).collect();
    let new_paths: std::collections::HashSet<&str> = new.iter().map(|l| l.path.as_str()).collect();
    let mut changes = Vec::new();
    for leaf in &new {
        let was = old_by_path.get(leaf.path.as_str());
        if was.map(|w| w.raw.as_str()) != Some(leaf.raw.as_str()) {
            changes.push(Change {
                label: label_of(&leaf.path, &names),
                before: was.map(|w| shown(&w.path, w.kind, &w.raw)),
                after: Some(shown(&leaf.path, leaf.kind, &leaf.raw)),
                path: leaf.path.clone(),
            });
        }
    }
    for leaf in old.iter().filter(|l| !new_paths.contains(l.path.as_str())) {
        changes.push(Change {
            label: label_of(&leaf.path, &names),
            before: Some(shown(&leaf.path, leaf.kind, &leaf.raw)),
            after: None,
            path: leaf.path.clone(),
        });
    }
    Ok(changes)
}

/// `document` with its `[[enrolment.insurers]]` replaced by `entries` (in their order): the
/// other sections as written, the comment above each entry kept by position, no section when
/// `entries` is empty (every company with a branch is then admitted in its branch's region).
pub fn with_insurers(document: &str, entries: &[AdmittedInsurer]) -> Result<String, RuleProblem> {
    let mut doc = parse(document)?;
    let root = doc.as_table_mut();
    if !root.contains_key("enrolment") {
        if entries.is_empty() {
            return Ok(doc.to_string());
        }
        let mut table = Table::new();
        table.set_implicit(true);
        root.insert("enrolment", Item::Table(table));
    }
    let enrolment = root
        .get_mut("enrolment")
        .and_then(Item::as_table_mut)
        .ok_or_else(|| problem("enrolment", "投保（enrolment）应为一节表格"))?;
    let old: Vec<Table> = enrolment
        .remove("insurers")
        .and_then(|item| item.into_array_of_tables().ok())
        .map(|a| a.into_iter().collect())
        .unwrap_or_default();
    if entries.is_empty() {
        if enrolment.is_empty() {
            root.remove("enrolment");
        }
        return Ok(doc.to_string());
    }
    let mut array = ArrayOfTables::new();
    for (i, entry) in entries.iter().enumerate() {
        let mut table = Table::new();
        table.insert("company", toml_edit::value(entry.company.trim()));
        let mut regions = toml_edit::Array::new();
        for code in &entry.regions {
            regions.push(code.trim());
        }
        table.insert("regions", toml_edit::value(regions));
        if let Some(lot) = &entry.lot {
            table.insert("lot", toml_edit::value(lot.trim()));
        }
        if let Some(years) = &entry.tender_years {
            table.insert("tender_years", toml_edit::value(years.trim()));
        }
        if let Some(before) = old.get(i) {
            *table.decor_mut() = before.decor().clone();
            table.set_position(before.position());
        }
        array.push(table);
    }
    enrolment.insert("insurers", Item::ArrayOfTables(array));
    Ok(doc.to_string())
}

/// The draft of `year` copied from the year before, with the `[[enrolment.insurers]]` whose
/// tender no longer covers `year` left out (their comments with them); returns the document
/// and the entries left out. Entries without a tender period are kept.
pub fn carry_over(
    document: &str,
    year: AcademicYear,
) -> Result<(String, Vec<AdmittedInsurer>), RuleProblem> {
    let mut doc = parse(document)?;
    let mut dropped = Vec::new();
    let Some(array) = doc
        .get_mut("enrolment")
        .and_then(|e| e.get_mut("insurers"))
        .and_then(Item::as_array_of_tables_mut)
    else {
        return Ok((doc.to_string(), dropped));
    };
    let text = |t: &Table, key: &str| t.get(key).and_then(Item::as_str).map(str::to_string);
    let mut index = 0;
    while index < array.len() {
        let Some(table) = array.get(index) else {
            break;
        };
        let tender = text(table, "tender_years");
        let holds = tender
            .as_deref()
            .is_none_or(|t| TenderYears::parse(t).is_ok_and(|t| t.covers(year)));
        if holds {
            index += 1;
            continue;
        }
        dropped.push(AdmittedInsurer {
            company: text(table, "company").unwrap_or_default(),
            regions: table
                .get("regions")
                .and_then(Item::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            lot: text(table, "lot"),
            tender_years: tender,
        });
        array.remove(index);
    }
    Ok((doc.to_string(), dropped))
}

fn problem(path: &str, message: impl Into<String>) -> RuleProblem {
    RuleProblem {
        path: path.to_string(),
        problem: message.into(),
    }
}

fn parse(document: &str) -> Result<DocumentMut, RuleProblem> {
    if document.len() > MAX_DOCUMENT_BYTES {
        return Err(problem(
            "document",
            format!("方案规则文件超过{}KB", MAX_DOCUMENT_BYTES / 1024),
        ));
    }
    document.parse::<DocumentMut>().map_err(|e| {
        let line = e.span().map(|s| {
            document[..s.start.min(document.len())]
                .matches('\n')
                .count()
                + 1
        });
        problem(
            "document",
            format!(
                "方案规则文件格式错误{}",
                line.map(|l| format!("（第{l}行）")).unwrap_or_default()
            ),
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Walking the document
// ---------------------------------------------------------------------------------------------

fn leaves(doc: &DocumentMut) -> Vec<Leaf> {
    let mut out = Vec::new();
    walk(doc.as_table(), "", &mut out);
    out
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn walk(table: &dyn TableLike, prefix: &str, out: &mut Vec<Leaf>) {
    for (key, item) in table.iter() {
        let path = join(prefix, key);
        match item {
            Item::Value(v) => walk_value(v, path, out),
            Item::Table(t) => walk(t, &path, out),
            Item::ArrayOfTables(a) => {
                for (i, t) in a.iter().enumerate() {
                    walk(t, &format!("{path}[{}]", i + 1), out);
                }
            }
            Item::None => {}
        }
    }
}

fn walk_value(v: &Value, path: String, out: &mut Vec<Leaf>) {
    match v {
        Value::InlineTable(t) => walk(t, &path, out),
        Value::Array(a) if a.iter().any(Value::is_inline_table) => {
            for (i, x) in a.iter().enumerate() {
                if let Some(t) = x.as_inline_table() {
                    walk(t, &format!("{path}[{}]", i + 1), out);
                }
            }
        }
        Value::Array(a) => {
            let integers = !a.is_empty() && a.iter().all(Value::is_integer);
            out.push(Leaf {
                raw: a.iter().map(scalar_text).collect::<Vec<_>>().join(", "),
                kind: if integers {
                    FieldKind::IntegerList
                } else {
                    FieldKind::TextList
                },
                path,
            });
        }
        Value::Integer(_) => out.push(Leaf {
            raw: scalar_text(v),
            kind: FieldKind::Integer,
            path,
        }),
        Value::Boolean(_) => out.push(Leaf {
            raw: scalar_text(v),
            kind: FieldKind::Boolean,
            path,
        }),
        _ => out.push(Leaf {
            raw: scalar_text(v),
            kind: FieldKind::Text,
            path,
        }),
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.value().clone(),
        Value::Integer(i) => i.value().to_string(),
        Value::Boolean(b) => b.value().to_string(),
        other => other.to_string().trim().to_string(),
    }
}

/// The text a value is stored as (to compare with the current one).
fn stored_text(v: &Value) -> String {
    match v {
        Value::Array(a) => a.iter().map(scalar_text).collect::<Vec<_>>().join(", "),
        other => scalar_text(other),
    }
}

struct Segment<'a> {
    key: &'a str,
    /// 1-based position in an array of tables.
    index: Option<usize>,
}

fn segments(path: &str) -> Option<Vec<Segment<'_>>> {
    path.split('.')
        .map(|seg| match seg.split_once('[') {
            None => Some(Segment {
                key: seg,
                index: None,
            }),
            Some((key, rest)) => {
                let n = rest.strip_suffix(']')?.parse::<usize>().ok()?;
                (n > 0).then_some(Segment {
                    key,
                    index: Some(n),
                })
            }
        })
        .collect()
}

fn last_key(path: &str) -> &str {
    let seg = path.rsplit('.').next().unwrap_or(path);
    seg.split('[').next().unwrap_or(seg)
}

fn child<'a>(table: &'a mut dyn TableLike, seg: &Segment<'_>) -> Option<&'a mut dyn TableLike> {
    let item = table.get_mut(seg.key)?;
    match seg.index {
        None => item.as_table_like_mut(),
        Some(n) => match item {
            Item::ArrayOfTables(a) => a.get_mut(n - 1).map(|t| t as &mut dyn TableLike),
            Item::Value(Value::Array(a)) => a
                .get_mut(n - 1)?
                .as_inline_table_mut()
                .map(|t| t as &mut dyn TableLike),
            _ => None,
        },
    }
}

fn table_path_exists(doc: &DocumentMut, path: &str) -> bool {
    let mut table: &dyn TableLike = doc.as_table();
    for key in path.split('.') {
        match table.get(key).and_then(Item::as_table_like) {
            Some(t) => table = t,
            None => return false,
        }
    }
    true
}

/// Sets (or with `None` removes) the value at `path`, keeping the old value's spacing and
/// comment.
fn set(doc: &mut DocumentMut, path: &str, value: Option<Value>) -> Result<(), RuleProblem> {
    let missing = || problem(path, "不是方案规则中可修改的字段");
    let segs = segments(path).ok_or_else(missing)?;
    let (last, parents) = segs.split_last().ok_or_else(missing)?;
    if last.index.is_some() {
        return Err(missing());
    }
    let mut table: &mut dyn TableLike = doc.as_table_mut();
    for seg in parents {
        table = child(table, seg).ok_or_else(missing)?;
    }
    match value {
        None => {
            table.remove(last.key);
        }
        Some(mut value) => {
            if let Some(old) = table.get(last.key).and_then(Item::as_value) {
                *value.decor_mut() = old.decor().clone();
            }
            table.insert(last.key, Item::Value(value));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Values as typed
// ---------------------------------------------------------------------------------------------

/// Full-width digits and signs as ASCII, thousands separators dropped.
fn ascii_number(typed: &str) -> String {
    typed
        .chars()
        .filter_map(|c| match c {
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32),
            '－' => Some('-'),
            ',' | '，' | ' ' | '_' => None,
            other => Some(other),
        })
        .collect()
}

fn list_items(typed: &str) -> impl Iterator<Item = &str> {
    typed
        .split([',', '，', '、', ';', '；', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn parse_value(key: &str, kind: FieldKind, typed: &str) -> Result<Value, String> {
    match kind {
        FieldKind::Integer => ascii_number(typed)
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("“{typed}”不是整数")),
        FieldKind::Boolean => match typed {
            "true" | "是" => Ok(Value::from(true)),
            "false" | "否" => Ok(Value::from(false)),
            _ => Err(format!("“{typed}”应为“是”或“否”")),
        },
        FieldKind::Text => Ok(Value::from(code_of(key, typed)?)),
        FieldKind::IntegerList => {
            let mut array = toml_edit::Array::new();
            for item in list_items(typed) {
                let n = ascii_number(item)
                    .parse::<i64>()
                    .map_err(|_| format!("“{item}”不是整数"))?;
                array.push(n);
            }
            Ok(Value::Array(array))
        }
        FieldKind::TextList => {
            let mut array = toml_edit::Array::new();
            for item in list_items(typed) {
                array.push(code_of(key, item)?);
            }
            Ok(Value::Array(array))
        }
    }
}

/// The choices of an enumerated key: (code, label).
fn choices(key: &str) -> Option<Vec<(&'static str, &'static str)>> {
    let list = match key {
        "nature" => [SchoolNature::Public, SchoolNature::Private]
            .iter()
            .map(|n| (n.code(), n.label()))
            .collect(),
        "school_types" | "eligible_school_types" => SchoolType::ALL
            .iter()
            .map(|t| (t.code(), t.label()))
            .collect(),
        "insured" => [
            InsuredGroup::Student,
            InsuredGroup::Staff,
            InsuredGroup::Intern,
        ]
        .iter()
        .map(|g| (insured_code(*g), g.label()))
        .collect(),
        "kinds" => ClaimKind::ALL
            .iter()
            .map(|k| (claim_kind_code(*k), k.label()))
            .collect(),
        "public_schools" => vec![
            ("no_change", "人员变动不增减保费"),
            ("same_as_others", "与其他学校相同"),
        ],
        "modification_reviewer" => vec![("department", "教育主管部门"), ("insurer", "保险机构")],
        "confirmed_by" => [Confirmer::Department, Confirmer::Broker]
            .iter()
            .map(|c| (c.code(), c.label()))
            .collect(),
        _ => return None,
    };
    Some(list)
}

const fn insured_code(g: InsuredGroup) -> &'static str {
    match g {
        InsuredGroup::Student => "student",
        InsuredGroup::Staff => "staff",
        InsuredGroup::Intern => "intern",
    }
}

const fn claim_kind_code(k: ClaimKind) -> &'static str {
    match k {
        ClaimKind::Injury => "injury",
        ClaimKind::Hospitalised => "hospitalised",
        ClaimKind::Disability => "disability",
        ClaimKind::Death => "death",
    }
}

/// The code of an enumerated value typed as code or label; other texts as typed.
fn code_of(key: &str, typed: &str) -> Result<String, String> {
    let Some(choices) = choices(key) else {
        return Ok(typed.to_string());
    };
    choices
        .iter()
        .find(|(code, label)| *code == typed || *label == typed)
        .map(|(code, _)| (*code).to_string())
        .ok_or_else(|| {
            format!(
                "无法识别的取值“{typed}”（可选：{}）",
                choices
                    .iter()
                    .map(|(_, l)| *l)
                    .collect::<Vec<_>>()
                    .join("、")
            )
        })
}

/// A stored value as shown: labels for enumerated values, 是/否 for booleans.
fn shown(path: &str, kind: FieldKind, raw: &str) -> String {
    let key = last_key(path);
    let label = |code: &str| {
        choices(key)
            .and_then(|c| c.iter().find(|(k, _)| *k == code).map(|(_, l)| *l))
            .unwrap_or(code)
            .to_string()
    };
    match kind {
        FieldKind::Boolean => if raw == "true" { "是" } else { "否" }.to_string(),
        FieldKind::Text => label(raw),
        FieldKind::TextList if choices(key).is_some() => {
            list_items(raw).map(label).collect::<Vec<_>>().join("、")
        }
        _ => raw.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Labels
// ---------------------------------------------------------------------------------------------

fn key_label(key: &str) -> &str {
    match key {
        "academic_year" => "学年",
        "programme_name" => "方案名称",
        "broker_fee_permille" => "经纪费比例（‰，按实收含税保费）",
        "start_month_day" => "起保日期（月-日）",
        "school_enrolment" => "学校投保截止（月-日）",
        "county_report" => "县区上报截止（月-日）",
        "insurer_policy_upload" => "保险公司上传保单截止（月-日）",
        "statistics_submission" => "统计数据提交截止（月-日）",
        "premium_payment" => "保费缴纳截止（月-日）",
        "code" => "代码",
        "name" => "名称",
        "insured" => "投保对象",
        "eligible_school_types" => "适用学校类型（空为全部）",
        "nature" => "学校性质（空为全部）",
        "school_types" => "学校类型（空为全部）",
        "rate_fen" => "费率（分/人/年）",
        "coverage" => "保障项目",
        "per_person_year_fen" => "每人每年限额（分）",
        "per_school_accident_fen" => "每校每次事故限额（分）",
        "public_schools" => "公办学校人员变动",
        "private_band_percent" => "其他学校免收增员比例（%）",
        "refund_decrease" => "减员退还保费",
        "endorsement_working_days" => "批单出具时限（工作日）",
        "report_answer_working_days" => "报案答复时限（工作日）",
        "acceptance_decision_working_days" => "立案决定时限（工作日）",
        "contact_hours" => "联系学校时限（小时）",
        "on_site_hours" => "到达现场时限（小时）",
        "percent" => "预付比例（%）",
        "working_days" => "时限（工作日）",
        "up_to_fen" => "金额上限（分，含；空为以上全部）",
        "kinds" => "适用案件类型",
        "min_amount_exclusive_fen" => "金额超过（分）时才需要",
        "only_if" => "需要的情形",
        "modification_reviewer" => "修改申请审核方",
        "reminder_days_before" => "截止前提醒（天）",
        "company" => "保险公司",
        "regions" => "区域代码",
        "lot" => "标段",
        "tender_years" => "招标期限（起始年-结束年）",
        "requires_confirmation" => "需经确认后在合理范围内赔付",
        "confirmed_by" => "确认方",
        "cap_fen" => "单项赔偿上限（分）",
        other => other,
    }
}

fn container_label(key: &str) -> &str {
    match key {
        "products" => "险种",
        "rates" => "费率",
        "limits" => "限额",
        "settle_tiers" => "结案时效档",
        "payment_tiers" => "赔款支付时效档",
        "documents" => "理赔资料",
        "insurers" => "准入保险公司",
        "compensation_items" => "赔偿项目",
        "prepayment" => "预付赔款",
        "cover" | "deadlines" | "headcount_change" | "claims" | "enrolment" => "",
        other => other,
    }
}

fn section_of(path: &str) -> &'static str {
    let first = path.split(['.', '[']).next().unwrap_or(path);
    match first {
        "cover" => "保险期间",
        "deadlines" => "截止日期",
        "products" => "险种、费率与限额",
        "headcount_change" => "人员变动（批改）",
        "claims" if path.starts_with("claims.documents") => "理赔资料",
        "claims" if path.starts_with("claims.compensation_items") => "赔偿项目",
        "claims" => "理赔服务时效",
        "enrolment" => "投保",
        _ => "基本信息",
    }
}

/// The products' names by their path (`products[1]` → 校方责任险), for labels.
fn product_names(leaves: &[Leaf]) -> HashMap<String, String> {
    leaves
        .iter()
        .filter_map(|l| {
            let prefix = l.path.strip_suffix(".name")?;
            (prefix.starts_with("products[") && !prefix.contains('.'))
                .then(|| (prefix.to_string(), l.raw.clone()))
        })
        .collect()
}

/// `products[1].rates[2].rate_fen` → 险种1（校方责任险） · 费率2 · 费率（分/人/年）.
fn label_of(path: &str, products: &HashMap<String, String>) -> String {
    let Some(segs) = segments(path) else {
        return path.to_string();
    };
    let mut parts: Vec<String> = Vec::new();
    if let Some((last, parents)) = segs.split_last() {
        for seg in parents {
            let name = container_label(seg.key);
            match (name.is_empty(), seg.index) {
                (true, _) => {}
                (false, Some(n)) => match products.get(&format!("{}[{n}]", seg.key)) {
                    Some(product) if seg.key == "products" => {
                        parts.push(format!("{name}{n}（{product}）"));
                    }
                    _ => parts.push(format!("{name}{n}")),
                },
                (false, None) => parts.push(name.to_string()),
            }
        }
        parts.push(key_label(last.key).to_string());
    }
    parts.join(" · ")
}

fn field_of(leaf: &Leaf, products: &HashMap<String, String>) -> Field {
    let key = last_key(&leaf.path);
    let hint = choices(key)
        .map(|c| {
            format!(
                "可选：{}",
                c.iter().map(|(_, l)| *l).collect::<Vec<_>>().join("、")
            )
        })
        .or_else(|| {
            key.ends_with("_fen")
                .then(|| "单位：分（1元 = 100分）".to_string())
        })
        .or_else(|| (leaf.kind == FieldKind::Boolean).then(|| "是 或 否".to_string()));
    Field {
        path: leaf.path.clone(),
        section: section_of(&leaf.path),
        label: label_of(&leaf.path, products),
        kind: leaf.kind,
        value: shown(&leaf.path, leaf.kind, &leaf.raw),
        hint,
        read_only: leaf.path == "academic_year",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xiaobao_domain::ProgrammeRules;

    fn liupanshui() -> String {
        xiaobao_domain::demo_rules("liupanshui")
            .expect("demo rules")
            .to_string()
    }

    #[test]
    fn fields_carry_the_validation_paths_labels_and_shown_values() {
        let fields = fields(&liupanshui()).expect("fields");
        let rate = fields
            .iter()
            .find(|f| f.path == "products[1].rates[1].rate_fen")
            .expect("rate field");
        assert_eq!(rate.value, "1000");
        assert_eq!(rate.kind, FieldKind::Integer);
        assert_eq!(
            rate.label,
            "险种1（校方责任险（含附加无过失责任险）） · 费率1 · 费率（分/人/年）"
        );
        assert_eq!(rate.section, "险种、费率与限额");
        let kinds = fields
            .iter()
            .find(|f| f.path == "claims.documents[4].kinds")
            .expect("kinds");
        assert_eq!(kinds.value, "一般伤害（门急诊）、一般伤害（住院）、伤残");
        let refund = fields
            .iter()
            .find(|f| f.path == "headcount_change.refund_decrease")
            .expect("refund");
        assert_eq!(refund.value, "否");
        // Unset optional fields are offered empty inside their section.
        let contact = fields
            .iter()
            .find(|f| f.path == "claims.contact_hours")
            .expect("contact hours offered");
        assert_eq!(contact.value, "");
        assert_eq!(contact.section, "理赔服务时效");
        assert!(
            fields
                .iter()
                .find(|f| f.path == "academic_year")
                .is_some_and(|f| f.read_only)
        );
    }

    #[test]
    fn edits_change_only_their_values_and_keep_comments() {
        let original = liupanshui();
        let edited = apply(
            &original,
            &[
                ("products[1].rates[1].rate_fen".into(), "１２００".into()),
                ("claims.settle_tiers[1].working_days".into(), "4".into()),
                ("claims.contact_hours".into(), "12".into()),
                ("programme_name".into(), "六盘水市校方责任保险".into()),
                ("claims.documents[4].kinds".into(), "伤残, injury".into()),
            ],
        )
        .expect("applied");
        assert!(edited.contains("# 缴费标准：10元/人/年"), "comments kept");
        let rules = ProgrammeRules::from_toml_str(&edited).expect("still valid");
        assert_eq!(rules.products()[0].rates[0].rate_fen.0, 1200);
        assert_eq!(rules.claims().settle_tiers[0].working_days, 4);
        assert_eq!(rules.claims().contact_hours, Some(12));
        assert_eq!(
            rules.claims().documents[3].kinds,
            vec![ClaimKind::Disability, ClaimKind::Injury]
        );
        let changes = diff(&original, &edited).expect("diff");
        let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "products[1].rates[1].rate_fen",
                "claims.contact_hours",
                "claims.settle_tiers[1].working_days",
                "claims.documents[4].kinds",
            ]
        );
        assert_eq!(changes[0].before.as_deref(), Some("1000"));
        assert_eq!(changes[0].after.as_deref(), Some("1200"));
        assert_eq!(changes[1].before, None);
        assert_eq!(
            changes[3].after.as_deref(),
            Some("伤残、一般伤害（门急诊）")
        );
    }

    #[test]
    fn nothing_is_applied_when_an_edit_is_wrong_and_each_problem_names_its_path() {
        let problems = apply(
            &liupanshui(),
            &[
                ("products[1].rates[1].rate_fen".into(), "十元".into()),
                ("products[1].insured".into(), "老师".into()),
                ("deadlines.school_enrolment".into(), "".into()),
                ("products[9].rates[1].rate_fen".into(), "1".into()),
                ("academic_year".into(), "2030-2031".into()),
            ],
        )
        .expect_err("refused");
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "products[1].rates[1].rate_fen",
                "products[1].insured",
                "deadlines.school_enrolment",
                "products[9].rates[1].rate_fen",
                "academic_year",
            ]
        );
        assert!(problems[1].problem.contains("可选：学生、教职工"));
    }

    #[test]
    fn a_new_year_draft_keeps_everything_but_the_year() {
        let original = liupanshui();
        let next = for_year(&original, "2026-2027").expect("draft");
        let rules = ProgrammeRules::from_toml_str(&next).expect("valid");
        assert_eq!(rules.academic_year().to_string(), "2026-2027");
        let changes = diff(&original, &next).expect("diff");
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].path, "academic_year");
        assert!(next.contains("# 缴费标准：10元/人/年"));
    }

    #[test]
    fn an_emptied_optional_field_is_removed() {
        let original = liupanshui();
        let edited = apply(&original, &[("broker_fee_permille".into(), " ".into())]).expect("ok");
        let rules = ProgrammeRules::from_toml_str(&edited).expect("valid");
        assert_eq!(rules.broker_fee_permille(), None);
        let changes = diff(&original, &edited).expect("diff");
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].after, None);
    }

    #[test]
    fn layout_and_comments_are_not_differences() {
        let original = liupanshui();
        let canonical = ProgrammeRules::from_toml_str(&original)
            .and_then(|r| r.to_toml_string())
            .expect("canonical");
        assert_eq!(diff(&original, &canonical).expect("diff"), Vec::new());
    }

    #[test]
    fn admitted_insurers_are_replaced_keeping_comments() {
        let original = liupanshui();
        let entries = vec![
            AdmittedInsurer {
                company: "中国人民财产保险股份有限公司".into(),
                regions: vec!["520203".into(), "520281".into()],
                lot: Some("A标段".into()),
                tender_years: Some("2025-2028".into()),
            },
            AdmittedInsurer {
                company: "中国平安财产保险股份有限公司".into(),
                regions: vec!["520204".into(), "520201".into(), "520299".into()],
                lot: Some("B标段".into()),
                tender_years: Some("2025-2028".into()),
            },
        ];
        let edited = with_insurers(&original, &entries).expect("edited");
        assert!(
            edited.contains("# A标段：六枝特区、盘州市。"),
            "comments kept"
        );
        assert!(edited.contains("# 缴费标准：10元/人/年"));
        let rules = ProgrammeRules::from_toml_str(&edited).expect("valid");
        assert_eq!(rules.enrolment().insurers, entries);
        let changes = diff(&original, &edited).expect("diff");
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].path, "enrolment.insurers[2].company");
        assert_eq!(changes[0].label, "准入保险公司2 · 保险公司");
        // None left: the section goes, the rest stays.
        let none = with_insurers(&original, &[]).expect("edited");
        let rules = ProgrammeRules::from_toml_str(&none).expect("valid");
        assert!(rules.enrolment().insurers.is_empty());
        assert_eq!(rules.enrolment().reminder_days_before, [7, 3, 1]);
        // A document without the section gets one.
        let henan = xiaobao_domain::demo_rules("henan")
            .expect("demo")
            .to_string();
        let added = with_insurers(&henan, &entries[..1]).expect("edited");
        let rules = ProgrammeRules::from_toml_str(&added).expect("valid");
        assert_eq!(rules.enrolment().insurers.len(), 1);
    }

    #[test]
    fn a_new_year_keeps_the_tenders_that_cover_it() {
        let with_ended = liupanshui().replacen(
            "lot = \"B标段\"\ntender_years = \"2025-2028\"",
            "lot = \"B标段\"\ntender_years = \"2025-2026\"",
            1,
        );
        let year = AcademicYear::parse("2026-2027").expect("year");
        let next = for_year(&with_ended, "2026-2027").expect("draft");
        let (kept, dropped) = carry_over(&next, year).expect("carried");
        assert_eq!(dropped.len(), 1);
        assert_eq!(dropped[0].lot.as_deref(), Some("B标段"));
        assert_eq!(dropped[0].regions, ["520204", "520201", "520299"]);
        assert!(!kept.contains("# B标段"), "its comment goes with it");
        let rules = ProgrammeRules::from_toml_str(&kept).expect("valid");
        assert_eq!(rules.enrolment().insurers.len(), 1);
        assert_eq!(rules.enrolment().insurers[0].lot.as_deref(), Some("A标段"));
        // 2028-2029: the three-year tender has ended too.
        let last = for_year(&liupanshui(), "2028-2029").expect("draft");
        let (_, dropped) =
            carry_over(&last, AcademicYear::parse("2028-2029").expect("year")).expect("carried");
        assert_eq!(dropped.len(), 2);
    }

    #[test]
    fn compensation_items_are_fields_of_their_own_section() {
        let original = liupanshui();
        let fields = fields(&original).expect("fields");
        let scar = fields
            .iter()
            .find(|f| f.path == "claims.compensation_items[12].confirmed_by")
            .expect("confirmer");
        assert_eq!(scar.section, "赔偿项目");
        assert_eq!(scar.value, "教育主管部门");
        assert_eq!(scar.label, "赔偿项目12 · 确认方");
        let edited = apply(
            &original,
            &[
                (
                    "claims.compensation_items[12].confirmed_by".into(),
                    "保险经纪机构".into(),
                ),
                (
                    "claims.compensation_items[1].name".into(),
                    "医疗费用".into(),
                ),
            ],
        )
        .expect("applied");
        let rules = ProgrammeRules::from_toml_str(&edited).expect("valid");
        assert_eq!(
            rules.claims().compensation_items[11].confirmed_by,
            Some(Confirmer::Broker)
        );
        let changes = diff(&original, &edited).expect("diff");
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[1].before.as_deref(), Some("教育主管部门"));
        assert_eq!(changes[1].after.as_deref(), Some("保险经纪机构"));
    }

    #[test]
    fn an_unparsable_document_is_a_problem_with_its_line() {
        let p = fields("a = 1\nb = = 2\n").expect_err("syntax");
        assert_eq!(p.path, "document");
        assert!(p.problem.contains("第2行"), "{}", p.problem);
    }
}
