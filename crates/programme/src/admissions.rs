//! Admitted insurers (准入保险公司) of a year's rules, as the page and the API edit them, and what
//! a change of them means for a year already opened.
//!
//! - [`InsurersView`]: the entries (company, lot, tender period, regions with their names), the
//!   platform's insurer companies and the programme's regions to choose from.
//! - An edit is a list of [`AdmissionInput`]s written into the document with
//!   [`crate::edit::with_insurers`] (comments kept) and proposed as a whole document, so the
//!   proposal page shows the field difference.
//! - [`planned_change`]: the (company, region) pairs a new document adds and removes against the
//!   one it replaces; a removed pair that an enrolment of the opened year uses refuses the
//!   proposal (at propose time and again at approval); on approval the opened year's
//!   `admitted_insurers` follow in the same transaction.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use xiaobao_domain::rules::AdmittedInsurer;
use xiaobao_domain::{AcademicYear, Failure, Outcome, ProgrammeRules};
use xiaobao_enrolment::years::{self, CompanyRef};

use crate::Problem;
use crate::store::{self, RegionRow};

/// One admission entry as edited: a company by its full name, the region codes, an optional
/// lot (标段) and tender period (`"2025-2028"`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdmissionInput {
    /// Full registered name, one of the platform's insurer companies.
    #[serde(default)]
    pub company: String,
    /// GB/T 2260 codes (each with everything below it).
    #[serde(default)]
    pub regions: Vec<String>,
    /// e.g. A标段.
    #[serde(default)]
    pub lot: Option<String>,
    /// e.g. 2025-2028.
    #[serde(default)]
    pub tender_years: Option<String>,
}

impl AdmissionInput {
    /// As a rules entry: blank optional texts left out, duplicate codes once.
    #[must_use]
    pub fn to_rules(&self) -> AdmittedInsurer {
        let text = |t: &Option<String>| {
            t.as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
        };
        let mut seen = BTreeSet::new();
        AdmittedInsurer {
            company: self.company.trim().to_string(),
            regions: self
                .regions
                .iter()
                .map(|r| r.trim().to_string())
                .filter(|r| !r.is_empty() && seen.insert(r.clone()))
                .collect(),
            lot: text(&self.lot),
            tender_years: text(&self.tender_years),
        }
    }
}

/// A region with its name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RegionName {
    pub code: String,
    /// The region's name; the code when the programme has no such region.
    pub name: String,
}

/// One entry as shown.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AdmissionEntry {
    pub company: String,
    pub lot: Option<String>,
    pub tender_years: Option<String>,
    pub regions: Vec<RegionName>,
}

/// A group of regions to choose from: a city (or the programme's root) and its counties and
/// 市直 bucket.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RegionGroup {
    /// The city itself (choosing it admits the whole city), or the root of a municipality.
    pub city: RegionName,
    pub regions: Vec<RegionName>,
}

/// The admitted insurers of a year's rules, with what the form chooses from.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = RulesInsurers)]
pub struct InsurersView {
    #[schema(value_type = String, example = "2026-2027")]
    pub academic_year: AcademicYear,
    /// The version in force the entries are from (`null`: a new year's draft).
    pub version: Option<i32>,
    /// For a new year's draft: the year it was copied from.
    #[schema(value_type = Option<String>, example = "2025-2026")]
    pub copied_from: Option<AcademicYear>,
    /// Entries of the year before left out of a new year's draft because their tender ended.
    pub dropped: Vec<String>,
    /// Empty: every insurer company with a branch in the programme is admitted in its branch's
    /// region.
    pub entries: Vec<AdmissionEntry>,
    /// The year is open for enrolment: an approved change updates its admissions at once.
    pub opened: bool,
    /// A pending proposal of the year (no other can be made meanwhile).
    pub pending_proposal_id: Option<i64>,
    /// The platform's insurer companies (full names), to choose from.
    pub companies: Vec<String>,
    /// The programme's regions by city.
    pub region_groups: Vec<RegionGroup>,
}

/// The regions by city: every city with its counties and 市直, and for a root that is not
/// itself a city (a province or municipality) its direct counties under the root.
pub(crate) fn region_groups(rows: &[RegionRow]) -> Vec<RegionGroup> {
    let name = |r: &RegionRow| RegionName {
        code: r.region_code.clone(),
        name: r.name.clone(),
    };
    let mut groups: Vec<RegionGroup> = Vec::new();
    for row in rows {
        if row.level == "city" {
            groups.push(RegionGroup {
                city: name(row),
                regions: Vec::new(),
            });
            continue;
        }
        if row.level == "province" {
            continue;
        }
        let parent = row.parent_code.as_deref().unwrap_or("");
        if let Some(g) = groups.iter_mut().find(|g| g.city.code == parent) {
            g.regions.push(name(row));
        } else if let Some(p) = rows.iter().find(|p| p.region_code == parent) {
            groups.push(RegionGroup {
                city: name(p),
                regions: vec![name(row)],
            });
        }
    }
    groups
}

/// Region code → name, falling back to the code.
pub(crate) fn region_name(rows: &[RegionRow], code: &str) -> RegionName {
    RegionName {
        code: code.to_string(),
        name: rows
            .iter()
            .find(|r| r.region_code == code)
            .map_or_else(|| code.to_string(), |r| r.name.clone()),
    }
}

pub(crate) fn entries(
    rules_entries: &[AdmittedInsurer],
    rows: &[RegionRow],
) -> Vec<AdmissionEntry> {
    rules_entries
        .iter()
        .map(|e| AdmissionEntry {
            company: e.company.clone(),
            lot: e.lot.clone(),
            tender_years: e.tender_years.clone(),
            regions: e.regions.iter().map(|c| region_name(rows, c)).collect(),
        })
        .collect()
}

/// A note on an entry left out of a new year's draft.
pub(crate) fn dropped_note(e: &AdmittedInsurer) -> String {
    let lot = e
        .lot
        .as_deref()
        .map(|l| format!("{l}，"))
        .unwrap_or_default();
    format!(
        "{}（{lot}区域{}，招标期限{}）的招标期限已满，未带入本学年，请重新确定准入保险公司",
        e.company,
        e.regions.join("、"),
        e.tender_years.as_deref().unwrap_or("")
    )
}

fn pairs(entries: &[AdmittedInsurer]) -> BTreeSet<(String, String)> {
    entries
        .iter()
        .flat_map(|e| {
            e.regions
                .iter()
                .map(move |r| (e.company.trim().to_string(), r.clone()))
        })
        .collect()
}

/// A company (full name) admitted in a region (code).
pub type Pair = (String, String);

/// The (company name, region code) pairs `after` adds and removes against `before` (`None`:
/// no rules before).
#[must_use]
pub fn planned_change(
    before: Option<&ProgrammeRules>,
    after: &ProgrammeRules,
) -> (Vec<Pair>, Vec<Pair>) {
    let old = before
        .map(|b| pairs(&b.enrolment().insurers))
        .unwrap_or_default();
    let new = pairs(&after.enrolment().insurers);
    (
        new.difference(&old).cloned().collect(),
        old.difference(&new).cloned().collect(),
    )
}

/// Checks a planned change of `year`'s admissions: the added companies are the platform's
/// insurers and their regions the programme's; no enrolment of the year uses a removed one.
/// Returns the added pairs with their companies resolved.
pub(crate) async fn check_change(
    tx: &mut PgConnection,
    year: AcademicYear,
    companies: &[CompanyRef],
    added: &[(String, String)],
    removed: &[(String, String)],
) -> Outcome<Vec<(CompanyRef, String)>> {
    let mut resolved = Vec::with_capacity(added.len());
    for (company, code) in added {
        let Some(c) = companies.iter().find(|c| c.name == *company) else {
            return Err(Problem::UnknownCompany(company.clone()).into());
        };
        if !years::region_known(tx, code).await.map_err(Failure::from)? {
            return Err(Problem::UnknownRegion(code.clone()).into());
        }
        resolved.push((c.clone(), code.clone()));
    }
    for (company, code) in removed {
        if years::admission_in_use(tx, year, company, code)
            .await
            .map_err(Failure::from)?
        {
            let rows = store::regions(tx).await.map_err(crate::service::db)?;
            return Err(Problem::AdmissionInUse {
                year: year.to_string(),
                company: company.clone(),
                region: region_name(&rows, code).name,
            }
            .into());
        }
    }
    Ok(resolved)
}
