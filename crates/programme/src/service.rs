//! The rules context's actions for one caller, one method each: every method opens the
//! tenant transaction, does the work with its audit entries, commits only when it succeeded,
//! and answers `Outcome<T>`. The route's permission decides who may call (the programme
//! authority); the maker-checker rule — nobody decides their own proposal — is decided here.

use chrono::{DateTime, Utc};
use serde::Serialize;
use xiaobao_audit::{Actor, Entry};
use xiaobao_db::rules::{self, RulesVersion};
use xiaobao_domain::ids::{Id, RulesProposalId};
use xiaobao_domain::rules::{RulesDocument, RulesError};
use xiaobao_domain::{AcademicYear, Failure, Outcome, ProgrammeRules, Refusal, RequestStatus};
use xiaobao_enrolment::years::CompanyRef;
use xiaobao_identity::Caller;

use crate::admissions::{self, AdmissionInput, InsurersView};
use crate::edit::{self, Change};
use crate::store::{self, NewProposal, ProposalRow};
use crate::{MAX_REASON_CHARS, Problem, status_label};

/// Proposals listed per year.
const PROPOSALS_LISTED: i64 = 50;

pub(crate) fn db(e: sqlx::Error) -> Failure {
    xiaobao_db::DbError::from(e).into()
}

/// The rules context for one caller.
#[derive(Clone, Debug)]
pub struct Rules {
    caller: Caller,
}

/// A stored version, without its document.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = RulesVersionMeta)]
pub struct VersionMeta {
    pub version: i32,
    /// Who proposed and who approved it (or the operator's command, or the demo seeding).
    pub changed_by: String,
    pub change_reason: String,
    pub created_at: DateTime<Utc>,
}

impl From<&RulesVersion> for VersionMeta {
    fn from(v: &RulesVersion) -> Self {
        Self {
            version: v.version,
            changed_by: v.changed_by.clone(),
            change_reason: v.change_reason.clone(),
            created_at: v.created_at,
        }
    }
}

/// A stored version with its document.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = RulesVersionDocument)]
pub struct VersionView {
    #[schema(value_type = String, example = "2026-2027")]
    pub academic_year: AcademicYear,
    #[serde(flatten)]
    pub meta: VersionMeta,
    /// The TOML document as stored.
    pub document: String,
}

/// A proposal as its viewers see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = RulesProposal)]
pub struct ProposalView {
    pub proposal_id: i64,
    #[schema(value_type = String, example = "2026-2027")]
    pub academic_year: AcademicYear,
    /// The version in force when it was proposed (`null`: the year had no rules).
    pub base_version: Option<i32>,
    pub reason: String,
    pub proposed_by_name: String,
    pub proposed_at: DateTime<Utc>,
    /// `pending`, `approved`, `refused` or `withdrawn`.
    #[schema(value_type = String, example = "pending")]
    pub status: RequestStatus,
    /// 待审核, 已生效, 未通过 or 已撤回.
    pub status_label: String,
    pub decided_by_name: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    /// Why it was refused.
    pub decision_reason: Option<String>,
    /// The version it became, once approved.
    pub version: Option<i32>,
    /// The caller proposed it.
    pub mine: bool,
    /// The caller may approve or refuse it (pending, and proposed by someone else).
    pub may_decide: bool,
}

/// A proposal with its document and its changes against the version it was written for.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = RulesProposalDetail)]
pub struct ProposalDetail {
    pub proposal: ProposalView,
    /// The proposed TOML document.
    pub document: String,
    /// The document it is compared with: the base version, or for a new year the latest
    /// version of the year before (empty when there is none).
    pub base_document: String,
    /// What `base_document` is, e.g. 现行（第2版） or 2025-2026学年（第3版）.
    pub base_label: String,
    /// The fields that differ from the base version.
    pub changes: Vec<Change>,
    /// A newer version is in force than the one it was written for: it can only be withdrawn.
    pub stale: bool,
}

/// One academic year's rules: the version in force, every version, the proposals.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = RulesYear)]
pub struct RulesYear {
    #[schema(value_type = String, example = "2026-2027")]
    pub academic_year: AcademicYear,
    pub current: Option<VersionMeta>,
    /// Newest first.
    pub versions: Vec<VersionMeta>,
    /// Newest first.
    pub proposals: Vec<ProposalView>,
}

/// A year with rules or proposals, for the list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = RulesYearSummary)]
pub struct YearSummary {
    #[schema(value_type = String, example = "2026-2027")]
    pub academic_year: AcademicYear,
    /// The version in force (`null`: none yet).
    pub version: Option<i32>,
    pub changed_at: Option<DateTime<Utc>>,
    /// The pending proposal, when there is one.
    pub pending_proposal_id: Option<i64>,
}

/// What a change of a year's rules starts from: the version in force, or for a year without
/// rules yet the latest version of the year before, copied to the new year (开启新学年).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = RulesDraft)]
pub struct Draft {
    #[schema(value_type = String, example = "2026-2027")]
    pub academic_year: AcademicYear,
    /// The TOML document to edit.
    pub document: String,
    /// The version in force it is (`null` for a new year's copy).
    pub version: Option<i32>,
    /// Where it was copied from, for a new year: the previous year and its version.
    #[schema(value_type = Option<String>, example = "2025-2026")]
    pub copied_from: Option<AcademicYear>,
    pub copied_version: Option<i32>,
    /// For a new year's copy: the admitted insurers left out because their tender ended.
    pub dropped_insurers: Vec<String>,
}

/// What a proposal changes: the whole document, or fields of the version in force.
#[derive(Debug, Clone)]
pub enum Proposed {
    /// The complete TOML document of the year.
    Document(String),
    /// Field path (`products[1].rates[1].rate_fen`) → value as typed, applied to the version
    /// in force (see [`crate::edit::apply`]).
    Changes(Vec<(String, String)>),
}

fn reason_of(reason: &str, missing: Problem) -> Result<&str, Problem> {
    let reason = reason.trim();
    if reason.is_empty() {
        Err(missing)
    } else if reason.chars().count() > MAX_REASON_CHARS {
        Err(Problem::ReasonTooLong)
    } else {
        Ok(reason)
    }
}

/// A proposed document checked as the loader checks rules files.
pub fn check_document(year: AcademicYear, document: &str) -> Result<ProgrammeRules, Problem> {
    if document.len() > edit::MAX_DOCUMENT_BYTES {
        return Err(Problem::TooLarge);
    }
    let rules = ProgrammeRules::from_toml_str(document).map_err(|e| match e {
        RulesError::Invalid { problems } => Problem::Invalid(problems),
        other => Problem::Syntax(other.to_string()),
    })?;
    if rules.academic_year() != year {
        return Err(Problem::WrongYear {
            year: year.to_string(),
            found: rules.academic_year().to_string(),
        });
    }
    Ok(rules)
}

/// Who approves: an authority account, or the platform operator for a programme with a single
/// authority account.
struct Approver<'a> {
    name: &'a str,
    account_id: Option<i64>,
    actor: &'a Actor,
}

/// Stores a locked pending proposal's document as the year's next version and records the
/// approval; refused when a newer version is in force than the one it was written for.
async fn approve_locked(
    tx: &mut sqlx::PgConnection,
    row: &ProposalRow,
    approver: Approver<'_>,
    companies: &[CompanyRef],
) -> Outcome<ProposalRow> {
    let year = row.academic_year.to_string();
    let in_force = rules::current(tx, &year).await?;
    let current = in_force.as_ref().map(|c| c.version);
    if current != row.base_version {
        return Err(Problem::Stale {
            base: row.base_version,
            current: current.unwrap_or(0),
        }
        .into());
    }
    // Checked again: what the loader accepts is what the service will read.
    let after = check_document(row.academic_year, &row.document)?;
    // An opened year's admissions follow the rules, checked again against its enrolments.
    let before = in_force
        .as_ref()
        .and_then(|c| ProgrammeRules::from_toml_str(&c.document).ok());
    let (added, removed) = admissions::planned_change(before.as_ref(), &after);
    let opened = xiaobao_enrolment::years::get(tx, row.academic_year)
        .await
        .map_err(Failure::from)?
        .is_some();
    if opened && (!added.is_empty() || !removed.is_empty()) {
        let resolved =
            admissions::check_change(tx, row.academic_year, companies, &added, &removed).await?;
        xiaobao_enrolment::years::sync_admissions(
            tx,
            row.academic_year,
            &resolved,
            &removed,
            approver.actor,
        )
        .await?;
    }
    let changed_by = format!("{}提出，{}审核", row.proposed_by_name, approver.name);
    let version = rules::save_version(tx, &year, &row.document, &changed_by, &row.reason).await?;
    let decided = match approver.account_id {
        Some(account) => store::decide(
            tx,
            row.proposal_id,
            RequestStatus::Approved,
            account,
            None,
            Some(version),
        )
        .await
        .map_err(db)?,
        None => store::approve_by_operator(tx, row.proposal_id, approver.name, version)
            .await
            .map_err(db)?,
    };
    xiaobao_audit::record(
        tx,
        approver.actor,
        Entry::new("rules.approved", "rules_proposal", Some(row.proposal_id))
            .detail("academic_year", &year)
            .detail("version", version)
            .detail("proposed_by", row.proposed_by)
            .detail("approved_by", approver.name),
    )
    .await
    .map_err(Failure::internal)?;
    Ok(decided)
}

/// The platform operator approves a proposal of a programme that has a single active authority
/// account, so no second account could (the operator's command `rules approve`). Refused when
/// the programme has a second authority account: it approves instead.
pub async fn approve_as_operator(
    database: &xiaobao_db::Db,
    tenant: &xiaobao_db::Tenant,
    id: RulesProposalId,
    operator: &str,
) -> Outcome<(AcademicYear, i32)> {
    let operator = operator.trim();
    if operator.is_empty() {
        return Err(Refusal::invalid_field("operator", "请写明审核的平台运营人员").into());
    }
    let mut tx = database.tenant_tx(tenant).await?;
    let authorities = store::active_authorities(&mut tx).await.map_err(db)?;
    if authorities > 1 {
        return Err(Problem::OperatorNotNeeded.into());
    }
    let row = pending_locked(&mut tx, id).await?;
    let name = format!("平台运营方（{operator}）");
    let companies = insurer_companies(database).await?;
    let decided = approve_locked(
        &mut tx,
        &row,
        Approver {
            name: &name,
            account_id: None,
            actor: &Actor::cli(operator),
        },
        &companies,
    )
    .await?;
    tx.commit().await?;
    Ok((decided.academic_year, decided.version.unwrap_or(0)))
}

/// The platform's insurer companies (`control.companies`, on the main cluster).
async fn insurer_companies(database: &xiaobao_db::Db) -> Outcome<Vec<CompanyRef>> {
    Ok(
        xiaobao_identity::companies::list(database.clusters.main(), "insurer")
            .await
            .map_err(Failure::internal)?
            .into_iter()
            .map(|c| CompanyRef {
                company_id: c.company_id,
                name: c.name,
            })
            .collect(),
    )
}

/// A pending proposal locked for a decision, or why there is none to decide.
async fn pending_locked(tx: &mut sqlx::PgConnection, id: RulesProposalId) -> Outcome<ProposalRow> {
    let row = store::get(tx, id.get(), true)
        .await
        .map_err(db)?
        .ok_or_else(|| Refusal::out_of_scope(RulesProposalId::ENTITY, id))?;
    if row.status != RequestStatus::Pending {
        return Err(Problem::Decided(row.status).into());
    }
    Ok(row)
}

impl Rules {
    #[must_use]
    pub fn new(caller: Caller) -> Self {
        Self { caller }
    }

    fn me(&self) -> i64 {
        self.caller.viewer.account_id
    }

    fn view(&self, p: &ProposalRow) -> ProposalView {
        let pending = p.status == RequestStatus::Pending;
        ProposalView {
            proposal_id: p.proposal_id,
            academic_year: p.academic_year,
            base_version: p.base_version,
            reason: p.reason.clone(),
            proposed_by_name: p.proposed_by_name.clone(),
            proposed_at: p.proposed_at,
            status: p.status,
            status_label: status_label(p.status).to_string(),
            decided_by_name: p.decided_by_name.clone(),
            decided_at: p.decided_at,
            decision_reason: p.decision_reason.clone(),
            version: p.version,
            mine: p.proposed_by == self.me(),
            may_decide: pending && p.proposed_by != self.me(),
        }
    }

    /// The years with rules or proposals, newest first.
    pub async fn years(&self) -> Outcome<Vec<YearSummary>> {
        let mut tx = self.caller.tx().await?;
        let years = store::years(&mut tx).await.map_err(db)?;
        let mut out = Vec::with_capacity(years.len());
        for year in years {
            let current = rules::current(&mut tx, &year.to_string()).await?;
            out.push(YearSummary {
                academic_year: year,
                version: current.as_ref().map(|c| c.version),
                changed_at: current.as_ref().map(|c| c.created_at),
                pending_proposal_id: store::pending_of(&mut tx, year).await.map_err(db)?,
            });
        }
        tx.commit().await?;
        Ok(out)
    }

    /// The pending proposals of every year, oldest first.
    pub async fn pending(&self) -> Outcome<Vec<ProposalView>> {
        let mut tx = self.caller.tx().await?;
        let rows = store::pending(&mut tx).await.map_err(db)?;
        tx.commit().await?;
        Ok(rows.iter().map(|p| self.view(p)).collect())
    }

    /// One year: the version in force, every version, the proposals.
    pub async fn year(&self, year: AcademicYear) -> Outcome<RulesYear> {
        let mut tx = self.caller.tx().await?;
        let versions = rules::history(&mut tx, &year.to_string()).await?;
        let proposals = store::of_year(&mut tx, year, PROPOSALS_LISTED)
            .await
            .map_err(db)?;
        tx.commit().await?;
        Ok(RulesYear {
            academic_year: year,
            current: versions.first().map(VersionMeta::from),
            versions: versions.iter().map(VersionMeta::from).collect(),
            proposals: proposals.iter().map(|p| self.view(p)).collect(),
        })
    }

    /// One version with its document; `None` asks for the one in force.
    pub async fn version(&self, year: AcademicYear, version: Option<i32>) -> Outcome<VersionView> {
        let mut tx = self.caller.tx().await?;
        let history = rules::history(&mut tx, &year.to_string()).await?;
        tx.commit().await?;
        let found = match version {
            Some(v) => history.into_iter().find(|r| r.version == v),
            None => history.into_iter().next(),
        };
        let v = found.ok_or_else(|| {
            Refusal::out_of_scope(
                "rules_version",
                format!(
                    "{year}#{}",
                    version.map_or_else(|| "current".into(), |v| v.to_string())
                ),
            )
        })?;
        Ok(VersionView {
            academic_year: year,
            meta: VersionMeta::from(&v),
            document: v.document,
        })
    }

    /// What a change of `year` starts from (see [`Draft`]); a miss when neither the year nor
    /// the one before has rules.
    pub async fn draft(&self, year: AcademicYear) -> Outcome<Draft> {
        let mut tx = self.caller.tx().await?;
        let draft = Self::draft_in(&mut tx, year).await?;
        tx.commit().await?;
        draft
            .ok_or_else(|| Refusal::out_of_scope("rules_version", format!("{year}#current")).into())
    }

    async fn draft_in(tx: &mut sqlx::PgConnection, year: AcademicYear) -> Outcome<Option<Draft>> {
        if let Some(current) = rules::current(tx, &year.to_string()).await? {
            return Ok(Some(Draft {
                academic_year: year,
                document: current.document,
                version: Some(current.version),
                copied_from: None,
                copied_version: None,
                dropped_insurers: Vec::new(),
            }));
        }
        let previous = year.previous();
        let Some(before) = rules::current(tx, &previous.to_string()).await? else {
            return Ok(None);
        };
        let document = edit::for_year(&before.document, &year.to_string())
            .map_err(|p| Problem::Invalid(vec![p]))?;
        // Tender carry-over: admissions whose tender covers the new year stay.
        let (document, dropped) =
            edit::carry_over(&document, year).map_err(|p| Problem::Invalid(vec![p]))?;
        Ok(Some(Draft {
            academic_year: year,
            document,
            version: None,
            copied_from: Some(previous),
            copied_version: Some(before.version),
            dropped_insurers: dropped.iter().map(admissions::dropped_note).collect(),
        }))
    }

    /// Proposes a change of `year`'s rules, checked like a rules file; it takes effect when
    /// another authority account approves it.
    pub async fn propose(
        &self,
        year: AcademicYear,
        proposed: Proposed,
        reason: &str,
    ) -> Outcome<ProposalView> {
        let reason = reason_of(reason, Problem::ReasonMissing)?;
        let companies = insurer_companies(&self.caller.db).await?;
        let mut tx = self.caller.tx().await?;
        let current = rules::current(&mut tx, &year.to_string()).await?;
        let document = match proposed {
            Proposed::Document(document) => document,
            Proposed::Changes(changes) => {
                let base = Self::draft_in(&mut tx, year)
                    .await?
                    .ok_or(Problem::NoBase)?;
                edit::apply(&base.document, &changes).map_err(Problem::Invalid)?
            }
        };
        let after = check_document(year, &document)?;
        if let Some(current) = &current {
            let changes =
                edit::diff(&current.document, &document).map_err(|p| Problem::Invalid(vec![p]))?;
            if changes.is_empty() {
                return Err(Problem::Unchanged.into());
            }
        }
        // What the admissions become is checked now, so a proposal that cannot be applied to
        // the opened year is refused before anyone reviews it.
        // Against what the year had, or for a new year what it was copied from.
        let before = match &current {
            Some(c) => ProgrammeRules::from_toml_str(&c.document).ok(),
            None => rules::current(&mut tx, &year.previous().to_string())
                .await?
                .and_then(|c| RulesDocument::from_toml_str(&c.document).ok())
                .and_then(|mut d| {
                    d.academic_year = year;
                    d.enrolment.insurers.retain(|i| i.holds_in(year));
                    ProgrammeRules::validate(d).ok()
                }),
        };
        let (added, removed) = admissions::planned_change(before.as_ref(), &after);
        if !added.is_empty() || !removed.is_empty() {
            admissions::check_change(&mut tx, year, &companies, &added, &removed).await?;
        }
        let base_version = current.as_ref().map(|c| c.version);
        let id = store::insert(
            &mut tx,
            &NewProposal {
                academic_year: year,
                base_version,
                document: &document,
                reason,
                proposed_by: self.me(),
            },
        )
        .await
        .map_err(db)?;
        let Some(id) = id else {
            let proposal_id = store::pending_of(&mut tx, year)
                .await
                .map_err(db)?
                .unwrap_or(0);
            return Err(Problem::Pending {
                year: year.to_string(),
                proposal_id,
            }
            .into());
        };
        let row = store::get(&mut tx, id, false)
            .await
            .map_err(db)?
            .ok_or_else(|| Failure::internal("proposal just stored is missing"))?;
        xiaobao_audit::record(
            &mut tx,
            &self.caller.actor,
            Entry::new("rules.proposed", "rules_proposal", Some(id))
                .detail("academic_year", year.to_string())
                .detail("base_version", base_version)
                .detail("reason", reason),
        )
        .await
        .map_err(Failure::internal)?;
        tx.commit().await?;
        Ok(self.view(&row))
    }

    /// One proposal with its changes against the version it was written for.
    pub async fn proposal(&self, id: RulesProposalId) -> Outcome<ProposalDetail> {
        let mut tx = self.caller.tx().await?;
        let row = store::get(&mut tx, id.get(), false)
            .await
            .map_err(db)?
            .ok_or_else(|| Refusal::out_of_scope(RulesProposalId::ENTITY, id))?;
        let year = row.academic_year.to_string();
        let history = rules::history(&mut tx, &year).await?;
        let base = row
            .base_version
            .and_then(|b| history.iter().find(|v| v.version == b));
        // A new year's proposal is shown against the year it was copied from.
        let previous = match row.base_version {
            None => rules::current(&mut tx, &row.academic_year.previous().to_string()).await?,
            Some(_) => None,
        };
        let base_label = match (base, &previous) {
            (Some(b), _) => format!("现行（第{}版）", b.version),
            (None, Some(p)) => format!("{}学年（第{}版）", p.academic_year, p.version),
            (None, None) => "原值".to_string(),
        };
        let base_document = base
            .or(previous.as_ref())
            .map(|b| b.document.clone())
            .unwrap_or_default();
        tx.commit().await?;
        let changes =
            edit::diff(&base_document, &row.document).map_err(|p| Problem::Invalid(vec![p]))?;
        let stale = row.status == RequestStatus::Pending
            && history.first().map(|v| v.version) != row.base_version;
        Ok(ProposalDetail {
            proposal: self.view(&row),
            document: row.document,
            base_document,
            base_label,
            changes,
            stale,
        })
    }

    /// Approves a proposal of another account: its document becomes the year's new version.
    pub async fn approve(&self, id: RulesProposalId) -> Outcome<ProposalView> {
        let mut tx = self.caller.tx().await?;
        let row = pending_locked(&mut tx, id).await?;
        if row.proposed_by == self.me() {
            return Err(Problem::SelfDecision.into());
        }
        let approver = self.caller.viewer.display_name.clone();
        let companies = insurer_companies(&self.caller.db).await?;
        let decided = approve_locked(
            &mut tx,
            &row,
            Approver {
                name: &approver,
                account_id: Some(self.me()),
                actor: &self.caller.actor,
            },
            &companies,
        )
        .await?;
        tx.commit().await?;
        Ok(self.view(&decided))
    }

    /// Refuses a proposal of another account, with a reason.
    pub async fn refuse(&self, id: RulesProposalId, reason: &str) -> Outcome<ProposalView> {
        let reason = reason_of(reason, Problem::RefusalReasonMissing)?;
        let mut tx = self.caller.tx().await?;
        let row = pending_locked(&mut tx, id).await?;
        if row.proposed_by == self.me() {
            return Err(Problem::SelfDecision.into());
        }
        let decided = store::decide(
            &mut tx,
            row.proposal_id,
            RequestStatus::Refused,
            self.me(),
            Some(reason),
            None,
        )
        .await
        .map_err(db)?;
        xiaobao_audit::record(
            &mut tx,
            &self.caller.actor,
            Entry::new("rules.refused", "rules_proposal", Some(row.proposal_id))
                .detail("academic_year", row.academic_year.to_string())
                .detail("reason", reason),
        )
        .await
        .map_err(Failure::internal)?;
        tx.commit().await?;
        Ok(self.view(&decided))
    }

    /// The admitted insurers of `year`'s rules (the version in force, or a new year's draft),
    /// with the companies and regions to choose from.
    pub async fn insurers(&self, year: AcademicYear) -> Outcome<InsurersView> {
        let companies = insurer_companies(&self.caller.db).await?;
        let mut tx = self.caller.tx().await?;
        let draft = Self::draft_in(&mut tx, year)
            .await?
            .ok_or_else(|| Refusal::out_of_scope("rules_version", format!("{year}#current")))?;
        let rows = store::regions(&mut tx).await.map_err(db)?;
        let opened = xiaobao_enrolment::years::get(&mut tx, year)
            .await
            .map_err(Failure::from)?
            .is_some();
        let pending_proposal_id = store::pending_of(&mut tx, year).await.map_err(db)?;
        tx.commit().await?;
        // A draft carries what the year before had; read it without the checks of its year.
        let doc = xiaobao_domain::rules::RulesDocument::from_toml_str(&draft.document)
            .map_err(|e| Problem::Syntax(e.to_string()))?;
        Ok(InsurersView {
            academic_year: year,
            version: draft.version,
            copied_from: draft.copied_from,
            dropped: draft.dropped_insurers,
            entries: admissions::entries(&doc.enrolment.insurers, &rows),
            opened,
            pending_proposal_id,
            companies: companies.into_iter().map(|c| c.name).collect(),
            region_groups: admissions::region_groups(&rows),
        })
    }

    /// Proposes `entries` as `year`'s admitted insurers: the rules document in force (or the
    /// new year's draft) with its `[[enrolment.insurers]]` replaced, comments kept, proposed as
    /// a whole document (so the proposal shows the field difference).
    pub async fn propose_insurers(
        &self,
        year: AcademicYear,
        entries: &[AdmissionInput],
        reason: &str,
    ) -> Outcome<ProposalView> {
        reason_of(reason, Problem::ReasonMissing)?;
        let document = self.insurers_document(year, entries).await?;
        self.propose(year, Proposed::Document(document), reason)
            .await
    }

    /// The document `propose_insurers` would propose (for a form's checks before proposing).
    pub async fn insurers_document(
        &self,
        year: AcademicYear,
        entries: &[AdmissionInput],
    ) -> Outcome<String> {
        let base = self.draft(year).await?;
        let entries: Vec<_> = entries.iter().map(AdmissionInput::to_rules).collect();
        Ok(edit::with_insurers(&base.document, &entries).map_err(|p| Problem::Invalid(vec![p]))?)
    }

    /// Withdraws one's own pending proposal.
    pub async fn withdraw(&self, id: RulesProposalId) -> Outcome<ProposalView> {
        let mut tx = self.caller.tx().await?;
        let row = pending_locked(&mut tx, id).await?;
        if row.proposed_by != self.me() {
            return Err(Problem::NotProposer.into());
        }
        let decided = store::decide(
            &mut tx,
            row.proposal_id,
            RequestStatus::Withdrawn,
            self.me(),
            None,
            None,
        )
        .await
        .map_err(db)?;
        xiaobao_audit::record(
            &mut tx,
            &self.caller.actor,
            Entry::new("rules.withdrawn", "rules_proposal", Some(row.proposal_id))
                .detail("academic_year", row.academic_year.to_string()),
        )
        .await
        .map_err(Failure::internal)?;
        tx.commit().await?;
        Ok(self.view(&decided))
    }
}
