//! The enrolment actions of insurer branches (the enrolments of their company in their
//! subtree: lists, 已承保, endorsements, roster archives) and the departments' 花名册冲突.

use xiaobao_domain::AcademicYear;
use xiaobao_domain::ids::{EndorsementId, EnrolmentId, Id, RosterConflictId};
use xiaobao_domain::{Failure, Outcome, Refusal};
use xiaobao_identity::SchoolScope;
use xiaobao_roster::IdSealer;

use super::{Enrolments, LIST_LIMIT, YearRules};
use crate::conflicts::{self, ConflictRow};
use crate::school::EnrolmentRow;
use crate::underwriting::{self, EndorsementRow, ListFilter, RosterExport};
use crate::years;

impl Enrolments {
    /// The year in force with its rules, or a refusal (`year_not_open`).
    pub async fn year_rules(&self) -> Outcome<YearRules> {
        let mut tx = self.caller.tx().await?;
        let ctx = self.year_in_force(&mut tx).await?;
        tx.commit().await?;
        Ok(ctx)
    }

    /// The enrolments and endorsements an insurer branch handles in the year in force;
    /// `filter.academic_year` is set to it.
    pub async fn underwriting(
        &self,
        mut filter: ListFilter,
    ) -> Outcome<(AcademicYear, Vec<EnrolmentRow>, Vec<EndorsementRow>)> {
        let scope = self.scope();
        let mut tx = self.caller.tx().await?;
        let ctx = self.year_in_force(&mut tx).await?;
        filter.academic_year = Some(ctx.year);
        let rows = underwriting::list(&mut tx, &scope, &filter, LIST_LIMIT).await?;
        let endorsements = underwriting::endorsements(&mut tx, &scope, LIST_LIMIT).await?;
        tx.commit().await?;
        Ok((ctx.year, rows, endorsements))
    }

    /// The endorsements in scope.
    pub async fn endorsements(&self) -> Outcome<Vec<EndorsementRow>> {
        let mut tx = self.caller.tx().await?;
        let rows = underwriting::endorsements(&mut tx, &self.scope(), LIST_LIMIT).await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// Marks an enrolment received (已承保).
    pub async fn mark_received(&self, enrolment_id: EnrolmentId) -> Outcome<EnrolmentRow> {
        let enrolment_id = enrolment_id.get();
        let mut tx = self.caller.tx().await?;
        let row =
            underwriting::mark_received(&mut tx, &self.scope(), enrolment_id, &self.caller.actor)
                .await?
                .map_err(|p| Failure::from(p).about("enrolment", enrolment_id))?;
        tx.commit().await?;
        Ok(row)
    }

    /// Marks an endorsement issued (已出具批单).
    pub async fn issue_endorsement(&self, endorsement_id: EndorsementId) -> Outcome<()> {
        let endorsement_id = endorsement_id.get();
        let mut tx = self.caller.tx().await?;
        underwriting::issue_endorsement(&mut tx, &self.scope(), endorsement_id, &self.caller.actor)
            .await?
            .map_err(|p| Failure::from(p).about("endorsement", endorsement_id))?;
        tx.commit().await?;
        Ok(())
    }

    /// The year in force and the ids of the enrolments a roster archive holds.
    pub async fn archive_ids(
        &self,
        mut filter: ListFilter,
    ) -> Outcome<(YearRules, Vec<EnrolmentId>)> {
        let mut tx = self.caller.tx().await?;
        let ctx = self.year_in_force(&mut tx).await?;
        filter.academic_year = Some(ctx.year);
        let ids = underwriting::list(&mut tx, &self.scope(), &filter, LIST_LIMIT)
            .await?
            .iter()
            .map(|r| EnrolmentId(r.enrolment_id))
            .collect();
        tx.commit().await?;
        Ok((ctx, ids))
    }

    /// One roster of an archive under the year's rules (each read audited); refused with
    /// `no_roster` for an enrolment without one.
    pub async fn archive_roster(
        &self,
        rules: &xiaobao_domain::ProgrammeRules,
        sealer: &IdSealer,
        enrolment_id: EnrolmentId,
        unmasked: bool,
    ) -> Outcome<RosterExport> {
        let enrolment_id = enrolment_id.get();
        let mut tx = self.caller.tx().await?;
        let export = underwriting::roster_export(
            &mut tx,
            &self.scope(),
            enrolment_id,
            rules,
            sealer,
            unmasked,
            &self.caller.actor,
        )
        .await??;
        tx.commit().await?;
        Ok(export)
    }

    /// The region subtree whose conflicts the caller sees (departments and the authority).
    fn conflict_region(&self) -> Option<String> {
        match self.caller.viewer.school_scope() {
            SchoolScope::Region { path_prefix } => Some(path_prefix),
            _ => None,
        }
    }

    /// The year asked for, or the one in force; `None` when none is open.
    /// A year asked for that is not a year (`2025-2026`) is refused.
    pub async fn year_or_current(&self, asked: Option<&str>) -> Outcome<Option<AcademicYear>> {
        if let Some(year) = asked.map(str::trim).filter(|y| !y.is_empty()) {
            return Ok(Some(AcademicYear::asked(year)?));
        }
        let mut tx = self.caller.tx().await?;
        let year = years::current(&mut tx, self.caller.clock.today()).await?;
        tx.commit().await?;
        Ok(year)
    }

    /// The roster conflicts of `year` in the caller's subtree.
    pub async fn conflicts(&self, year: AcademicYear) -> Outcome<Vec<ConflictRow>> {
        let Some(region) = self.conflict_region() else {
            return Ok(Vec::new());
        };
        let mut tx = self.caller.tx().await?;
        let rows = conflicts::list(&mut tx, &region, year, LIST_LIMIT).await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// Resolves a roster conflict with a note.
    pub async fn resolve_conflict(
        &self,
        conflict_id: RosterConflictId,
        resolution: &str,
    ) -> Outcome<()> {
        let conflict_id = conflict_id.get();
        let miss = || Refusal::out_of_scope("roster_conflict", conflict_id);
        let region = self.conflict_region().ok_or_else(miss)?;
        let mut tx = self.caller.tx().await?;
        conflicts::resolve(
            &mut tx,
            &region,
            conflict_id,
            resolution,
            &self.caller.actor,
        )
        .await?
        .map_err(|p| Failure::from(p).about("roster_conflict", conflict_id))?;
        tx.commit().await?;
        Ok(())
    }
}
