//! The enrolment actions of the authority and the departments (and of insurers reviewing
//! modifications): academic years, progress below a region, reopening a school, deciding
//! requests, premium totals and the roster download of an enrolment in scope.

use xiaobao_domain::AcademicYear;
use xiaobao_domain::ids::{EnrolmentId, EnrolmentRequestId, Id, OrgId};
use xiaobao_domain::{
    Failure, ModificationReviewer, Outcome, ProgrammeRules, Refusal, RequestStatus,
};
use xiaobao_roster::IdSealer;

use super::{Enrolments, LIST_LIMIT};
use crate::progress::{self, PendingSchool, RegionProgress, TotalLine, TotalsBy};
use crate::requests::{self, Decision, RequestRow};
use crate::underwriting::{self, RosterExport};
use crate::years::{self, CompanyRef, YearRow, YearView};
use crate::{EnrolmentScope, Problem};

/// The year in force and its rules.
#[derive(Debug, Clone)]
pub struct YearRules {
    pub year: AcademicYear,
    pub rules: ProgrammeRules,
}

/// The progress of one product below a region of the caller's subtree.
#[derive(Debug, Clone)]
pub struct Progress {
    pub academic_year: AcademicYear,
    pub product_code: String,
    pub region_code: String,
    pub region_path: String,
    /// Every product of the year: (code, name).
    pub products: Vec<(String, String)>,
    pub regions: Vec<RegionProgress>,
    pub not_submitted: Vec<PendingSchool>,
    /// Schools insured the year before that have not submitted this year (不得断保).
    pub lapsing: i64,
    /// Set when the year containing today is not open yet: this is the year it names, and
    /// the progress is of the previous year (上一学年), read-only.
    pub not_open_year: Option<AcademicYear>,
}

impl Enrolments {
    /// The year in force and its rules; refused when no year is open.
    pub(super) async fn year_in_force(&self, conn: &mut sqlx::PgConnection) -> Outcome<YearRules> {
        let (year, rules) = self
            .current_year(conn)
            .await?
            .ok_or_else(|| self.year_not_open())?;
        Ok(YearRules { year, rules })
    }

    /// Whether a year is in force.
    pub async fn year_open(&self) -> Outcome<bool> {
        Ok(self.year_or_current(None).await?.is_some())
    }

    /// The academic years with their rules: products, deadlines, cover, whether opened.
    pub async fn years(&self) -> Outcome<Vec<YearView>> {
        let mut tx = self.caller.tx().await?;
        let list = years::list(&mut tx).await?;
        tx.commit().await?;
        Ok(list)
    }

    /// Opens `year` for enrolment with the insurers its rules admit.
    pub async fn open_year(&self, year: AcademicYear) -> Outcome<YearRow> {
        let companies: Vec<CompanyRef> =
            xiaobao_identity::companies::list(self.caller.db.clusters.main(), "insurer")
                .await
                .map_err(Failure::internal)?
                .into_iter()
                .map(|c| CompanyRef {
                    company_id: c.company_id,
                    name: c.name,
                })
                .collect();
        let mut tx = self.caller.tx().await?;
        let row = years::open(&mut tx, year, &companies, &self.caller.actor).await??;
        tx.commit().await?;
        Ok(row)
    }

    /// Progress of `product` (default: the first) below `region` (default: the caller's).
    pub async fn progress(&self, product: Option<&str>, region: Option<&str>) -> Outcome<Progress> {
        let viewer = &self.caller.viewer;
        let mut tx = self.caller.tx().await?;
        // Before the year containing today is open, the previous year is shown read-only.
        let (ctx, not_open_year) = match self.current_year(&mut tx).await? {
            Some((year, rules)) => (YearRules { year, rules }, None),
            None => {
                let today = self.caller.clock.today();
                let previous = years::previous(&mut tx, today)
                    .await?
                    .ok_or_else(|| self.year_not_open())?;
                let rules = Self::rules_of(&mut tx, previous).await?;
                (
                    YearRules {
                        year: previous,
                        rules,
                    },
                    Some(AcademicYear::containing_date(today)),
                )
            }
        };
        let products: Vec<(String, String)> = ctx
            .rules
            .products()
            .iter()
            .map(|p| (p.code.clone(), p.name.clone()))
            .collect();
        let product = match product.filter(|p| !p.is_empty()) {
            Some(p) if ctx.rules.product(p).is_none() => return Err(Problem::UnknownProduct.into()),
            Some(p) => p.to_string(),
            None => products
                .first()
                .map(|p| p.0.clone())
                .ok_or(Problem::UnknownProduct)?,
        };
        let (region_code, region_path) = match region.filter(|r| !r.is_empty()) {
            None => (viewer.region_code.clone(), viewer.region_path.clone()),
            Some(code) => {
                let path: Option<String> =
                    sqlx::query_scalar!("select path from regions where region_code = $1", code)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(Failure::internal)?;
                match path {
                    Some(p) if p.starts_with(&viewer.region_path) => (code.to_string(), p),
                    _ => return Err(Refusal::out_of_scope("region", code).into()),
                }
            }
        };
        let regions =
            progress::by_region(&mut tx, &region_code, ctx.year, &product, &ctx.rules).await?;
        let not_submitted = progress::not_submitted(
            &mut tx,
            &region_path,
            ctx.year,
            &product,
            &ctx.rules,
            LIST_LIMIT,
        )
        .await?;
        let lapsing = progress::lapsing(&mut tx, &region_path, ctx.year, &product).await?;
        tx.commit().await?;
        Ok(Progress {
            academic_year: ctx.year,
            product_code: product,
            region_code,
            region_path,
            products,
            regions,
            not_submitted,
            lapsing,
            not_open_year,
        })
    }

    /// Reopens school `org_id` in the year in force until `until` (text `YYYY-MM-DD`).
    pub async fn reopen(&self, org_id: OrgId, until: &str, reason: &str) -> Outcome<()> {
        let org_id = org_id.get();
        let until = chrono::NaiveDate::parse_from_str(until.trim(), "%Y-%m-%d")
            .map_err(|_| Problem::BadReopenDate)?;
        let mut tx = self.caller.tx().await?;
        let ctx = self.year_in_force(&mut tx).await?;
        crate::school::reopen(
            &mut tx,
            &self.caller.viewer.school_scope(),
            org_id,
            ctx.year,
            until,
            reason,
            &self.caller.actor,
            self.caller.clock.today(),
        )
        .await?
        .map_err(|p| Failure::from(p).about("organisation", org_id))?;
        tx.commit().await?;
        Ok(())
    }

    /// Who reviews modifications for the caller: an insurer branch, or a department.
    fn reviewer(scope: &EnrolmentScope) -> ModificationReviewer {
        if scope.is_insurer() {
            ModificationReviewer::Insurer
        } else {
            ModificationReviewer::Department
        }
    }

    /// The requests the caller reviews (only pending ones when `pending_only`).
    pub async fn requests_to_review(&self, pending_only: bool) -> Outcome<Vec<RequestRow>> {
        let scope = self.scope();
        let mut tx = self.caller.tx().await?;
        let rows = requests::list(
            &mut tx,
            &scope,
            Some(Self::reviewer(&scope)),
            pending_only.then_some(RequestStatus::Pending),
            LIST_LIMIT,
        )
        .await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// One request in scope.
    pub async fn request(&self, request_id: EnrolmentRequestId) -> Outcome<RequestRow> {
        let request_id = request_id.get();
        let mut tx = self.caller.tx().await?;
        let row = requests::get(&mut tx, &self.scope(), request_id)
            .await?
            .ok_or_else(|| Refusal::out_of_scope("enrolment_request", request_id))?;
        tx.commit().await?;
        Ok(row)
    }

    /// Approves or refuses a request under the rules of its enrolment's year.
    pub async fn decide(
        &self,
        request_id: EnrolmentRequestId,
        decision: &Decision,
    ) -> Outcome<RequestRow> {
        let request_id = request_id.get();
        let miss = || Refusal::out_of_scope("enrolment_request", request_id);
        let mut tx = self.caller.tx().await?;
        let year = sqlx::query_scalar!(
            "select e.academic_year as \"academic_year: xiaobao_domain::AcademicYear\" \
             from enrolment_requests q \
             join enrolments e on e.enrolment_id = q.enrolment_id where q.request_id = $1",
            request_id,
        )
        .fetch_optional(&mut *tx)
        .await
        .map_err(Failure::internal)?;
        let rules = rules_of_year(&mut tx, year, miss).await?;
        let row = requests::decide(
            &mut tx,
            &self.scope(),
            request_id,
            decision,
            &rules,
            &self.caller.calendar,
            self.caller.clock.now(),
            &self.caller.actor,
        )
        .await?
        .map_err(|p| Failure::from(p).about("enrolment_request", request_id))?;
        tx.commit().await?;
        Ok(row)
    }

    /// Premium totals of the year in force below the caller's region, grouped `by`, with a
    /// total per product; and the products (code, name).
    pub async fn premiums(
        &self,
        by: TotalsBy,
    ) -> Outcome<(
        AcademicYear,
        Vec<TotalLine>,
        Vec<TotalLine>,
        Vec<(String, String)>,
    )> {
        let mut tx = self.caller.tx().await?;
        let ctx = self.year_in_force(&mut tx).await?;
        let region_path = &self.caller.viewer.region_path;
        let lines = progress::premium_totals(&mut tx, region_path, ctx.year, by).await?;
        tx.commit().await?;
        let names: Vec<(String, String)> = ctx
            .rules
            .products()
            .iter()
            .map(|p| (p.code.clone(), p.name.clone()))
            .collect();
        let mut totals: Vec<TotalLine> = Vec::new();
        for l in &lines {
            match totals.iter_mut().find(|t| t.product_code == l.product_code) {
                Some(t) => {
                    t.enrolments += l.enrolments;
                    t.headcount += l.headcount;
                    t.premium_fen += l.premium_fen;
                }
                None => totals.push(TotalLine {
                    key: "total".into(),
                    label: "合计".into(),
                    product_code: l.product_code.clone(),
                    enrolments: l.enrolments,
                    headcount: l.headcount,
                    premium_fen: l.premium_fen,
                }),
            }
        }
        Ok((ctx.year, lines, totals, names))
    }

    /// One enrolment's roster for download, in scope; ID numbers in full only when
    /// `unmasked` (the caller checked the permission). The read is audited.
    pub async fn roster_export(
        &self,
        sealer: &IdSealer,
        enrolment_id: EnrolmentId,
        unmasked: bool,
    ) -> Outcome<RosterExport> {
        let enrolment_id = enrolment_id.get();
        let miss = || Refusal::out_of_scope("enrolment", enrolment_id);
        let mut tx = self.caller.tx().await?;
        // The rules of the enrolment's own year.
        let year = sqlx::query_scalar!(
            "select academic_year as \"academic_year: xiaobao_domain::AcademicYear\" \
             from enrolments where enrolment_id = $1",
            enrolment_id,
        )
        .fetch_optional(&mut *tx)
        .await
        .map_err(Failure::internal)?;
        let rules = rules_of_year(&mut tx, year, miss).await?;
        let export = underwriting::roster_export(
            &mut tx,
            &self.scope(),
            enrolment_id,
            &rules,
            sealer,
            unmasked,
            &self.caller.actor,
        )
        .await?
        .map_err(|p| Failure::from(p).about("enrolment", enrolment_id))?;
        tx.commit().await?;
        Ok(export)
    }
}

/// The rules of the academic year of a row looked up by id; refused with `miss()` when the
/// lookup found no row.
async fn rules_of_year(
    conn: &mut sqlx::PgConnection,
    year: Option<AcademicYear>,
    miss: impl FnOnce() -> Refusal,
) -> Outcome<ProgrammeRules> {
    Enrolments::rules_of(conn, year.ok_or_else(miss)?).await
}
