//! The enrolment context's actions, one method each: every method opens the tenant
//! transaction, applies the caller's scope, does the work with its audit entries and
//! notifications, commits only when it succeeded, and answers `Outcome<T>` — the value, or a
//! [`Refusal`](xiaobao_domain::Refusal) with its code, class, field and message. A miss
//! outside the scope names what was asked for, so the edge audits it once.

use std::sync::Arc;
use xiaobao_domain::ids::{EnrolmentId, Id, OrgId, RosterId};

use bytes::Bytes;
use xiaobao_domain::{AcademicYear, Failure, Outcome, ProgrammeRules, Refusal};
use xiaobao_identity::Caller;
use xiaobao_identity::orgs::{self, SchoolFilter};
use xiaobao_roster::{IdSealer, RosterError, RowProblem};
use xiaobao_storage::{DocumentKind, DocumentMeta, Documents, MediaType};

use crate::ingest::{self, RosterRecord, RosterResult};
use crate::requests::{self, ModificationInput, RequestRow};
use crate::school::{self, DraftInput, EnrolmentRow, Overview};
use crate::{EnrolmentScope, Problem, years};

mod insurers;
mod oversight;

pub use oversight::{Progress, YearRules};

fn stage_word(stage: xiaobao_domain::EnrolmentStage) -> &'static str {
    match stage {
        xiaobao_domain::EnrolmentStage::Draft => "草稿",
        xiaobao_domain::EnrolmentStage::Submitted => "已提交",
        xiaobao_domain::EnrolmentStage::Underwritten => "已承保",
    }
}

/// Largest roster file accepted.
pub const MAX_ROSTER_BYTES: usize = 20 * 1024 * 1024;

/// Schools listed for a central school or a broker.
pub(crate) const LIST_LIMIT: i64 = 500;

/// The enrolment context for one caller (see the module documentation).
#[derive(Clone, Debug)]
pub struct Enrolments {
    caller: Caller,
}

/// The schools of the caller's scope, for the list page of a central school, broker or
/// department.
#[derive(Debug, Clone)]
pub struct SchoolList {
    /// The year in force; `None` when no year is open.
    pub year: Option<AcademicYear>,
    pub schools: Vec<orgs::SchoolRow>,
    /// Per school (by org id), its enrolment in the year in force in words: each product it
    /// may enrol in with its stage (`校方责任险：已提交`), or 未开始.
    pub progress: std::collections::HashMap<i64, String>,
}

/// A roster upload as received: the declared headcount and the file, both as sent.
#[derive(Debug, Default)]
pub struct RosterUpload {
    pub headcount: Option<String>,
    pub file: Option<(String, Vec<u8>)>,
}

impl Enrolments {
    #[must_use]
    pub fn new(caller: Caller) -> Self {
        Self { caller }
    }

    /// The caller this handle acts for.
    #[must_use]
    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    fn scope(&self) -> EnrolmentScope {
        EnrolmentScope::of(&self.caller.viewer)
    }

    /// The refusal of a year that is not open: the year containing today.
    fn year_not_open(&self) -> Failure {
        Problem::YearNotOpen(AcademicYear::containing_date(self.caller.clock.today()).to_string())
            .into()
    }

    /// The year in force and its rules.
    pub(super) async fn current_year(
        &self,
        conn: &mut sqlx::PgConnection,
    ) -> Outcome<Option<(AcademicYear, ProgrammeRules)>> {
        let Some(year) = years::current(conn, self.caller.clock.today()).await? else {
            return Ok(None);
        };
        Ok(crate::rules_for(conn, year)
            .await?
            .map(|(_, rules)| (year, rules)))
    }

    pub(super) async fn rules_of(
        conn: &mut sqlx::PgConnection,
        year: AcademicYear,
    ) -> Outcome<ProgrammeRules> {
        Ok(crate::rules_for(conn, year)
            .await?
            .map(|(_, r)| r)
            .ok_or_else(|| Problem::NoRules(year.to_string()))?)
    }

    /// The school's page for the current year (or, before it is open, the previous one,
    /// read-only).
    pub async fn overview(&self, org_id: OrgId) -> Outcome<Overview> {
        let org_id = org_id.get();
        let mut tx = self.caller.tx().await?;
        let today = self.caller.clock.today();
        // Before the year containing today is open, the previous year is shown read-only.
        let (year, rules, not_open_year) = match self.current_year(&mut tx).await? {
            Some((year, rules)) => (year, rules, None),
            None => {
                let Some(previous) = years::previous(&mut tx, today).await? else {
                    return Err(self.year_not_open());
                };
                let rules = Self::rules_of(&mut tx, previous).await?;
                (previous, rules, Some(AcademicYear::containing_date(today)))
            }
        };
        let scope = self.caller.viewer.school_scope();
        let mut overview = school::overview(&mut tx, &scope, org_id, year, &rules, today)
            .await?
            .map_err(|p| Failure::from(p).about("organisation", org_id))?;
        if not_open_year.is_some() {
            overview.open = false;
            overview.not_open_year = not_open_year;
            overview.lapsing.clear();
        }
        tx.commit().await?;
        Ok(overview)
    }

    /// The school's own requests, newest first (none when the school is out of scope).
    pub async fn requests_of(&self, org_id: OrgId) -> Outcome<Vec<RequestRow>> {
        let org_id = org_id.get();
        let scope = self.caller.viewer.school_scope();
        let mut tx = self.caller.tx().await?;
        if school::school(&mut tx, &scope, org_id).await?.is_none() {
            return Ok(Vec::new());
        }
        let own = EnrolmentScope {
            schools: xiaobao_identity::SchoolScope::Own { org_id },
            company_id: None,
        };
        let rows = requests::list(&mut tx, &own, None, None, 50).await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// The active schools of the caller's scope and the year in force.
    pub async fn schools(&self) -> Outcome<SchoolList> {
        let scope = self.caller.viewer.school_scope();
        let mut tx = self.caller.tx().await?;
        let year = years::current(&mut tx, self.caller.clock.today()).await?;
        let (schools, _) = orgs::list_schools(
            &mut tx,
            &scope,
            &SchoolFilter {
                status: Some("active".into()),
                limit: LIST_LIMIT,
                ..SchoolFilter::default()
            },
        )
        .await
        .map_err(Failure::internal)?;
        let mut progress = std::collections::HashMap::new();
        if let Some(year) = year {
            let rules = Self::rules_of(&mut tx, year).await?;
            let ids: Vec<i64> = schools.iter().map(|s| s.org_id).collect();
            let stages = school::stages(&mut tx, &scope, year, &ids).await?;
            for s in &schools {
                let school_type = s.school_type.as_deref().and_then(|t| t.parse().ok());
                let parts: Vec<String> = rules
                    .products()
                    .iter()
                    .filter(|p| school_type.is_none_or(|t| p.is_eligible(t)))
                    .filter_map(|p| {
                        stages
                            .iter()
                            .find(|(org, code, _)| *org == s.org_id && *code == p.code)
                            .map(|(_, _, stage)| format!("{}：{}", p.name, stage_word(*stage)))
                    })
                    .collect();
                let label = if parts.is_empty() {
                    "未开始".to_string()
                } else {
                    parts.join("；")
                };
                progress.insert(s.org_id, label);
            }
        }
        tx.commit().await?;
        Ok(SchoolList {
            year,
            schools,
            progress,
        })
    }

    /// Saves the draft of a product's enrolment (headcount, insurer, cover start).
    pub async fn save_draft(
        &self,
        org_id: OrgId,
        product_code: &str,
        seq: i16,
        input: &DraftInput,
    ) -> Outcome<EnrolmentRow> {
        let org_id = org_id.get();
        let mut tx = self.caller.tx().await?;
        let Some((year, rules)) = self.current_year(&mut tx).await? else {
            return Err(self.year_not_open());
        };
        let scope = self.caller.viewer.school_scope();
        let actor = self.caller.actor_for(org_id);
        let row = school::save_draft(
            &mut tx,
            &scope,
            org_id,
            year,
            product_code,
            seq,
            input,
            &rules,
            &actor,
            self.caller.clock.today(),
        )
        .await?
        .map_err(|p| Failure::from(p).about("organisation", org_id))?;
        tx.commit().await?;
        Ok(row)
    }

    /// The enrolment in scope, its rules and the actor acting on it.
    async fn target(
        &self,
        conn: &mut sqlx::PgConnection,
        enrolment_id: i64,
    ) -> Outcome<(EnrolmentRow, ProgrammeRules, xiaobao_audit::Actor)> {
        let row = school::enrolment(conn, &self.scope(), enrolment_id)
            .await?
            .ok_or_else(|| Refusal::out_of_scope("enrolment", enrolment_id))?;
        let rules = Self::rules_of(conn, row.academic_year).await?;
        let actor = self.caller.actor_for(row.school_org_id);
        Ok((row, rules, actor))
    }

    /// Submits an enrolment.
    pub async fn submit(&self, enrolment_id: EnrolmentId) -> Outcome<EnrolmentRow> {
        let enrolment_id = enrolment_id.get();
        let mut tx = self.caller.tx().await?;
        let (_, rules, actor) = self.target(&mut tx, enrolment_id).await?;
        let scope = self.caller.viewer.school_scope();
        let today = self.caller.clock.today();
        let row = school::submit(&mut tx, &scope, enrolment_id, &rules, &actor, today)
            .await?
            .map_err(|p| Failure::from(p).about("enrolment", enrolment_id))?;
        tx.commit().await?;
        Ok(row)
    }

    /// Asks to modify a submitted enrolment (headcount, insurer or roster).
    pub async fn request_modification(
        &self,
        enrolment_id: EnrolmentId,
        input: &ModificationInput,
    ) -> Outcome<RequestRow> {
        let enrolment_id = enrolment_id.get();
        let mut tx = self.caller.tx().await?;
        let (_, rules, actor) = self.target(&mut tx, enrolment_id).await?;
        let scope = self.caller.viewer.school_scope();
        let row =
            requests::request_modification(&mut tx, &scope, enrolment_id, input, &rules, &actor)
                .await?
                .map_err(|p| Failure::from(p).about("enrolment", enrolment_id))?;
        tx.commit().await?;
        Ok(row)
    }

    /// Asks for a second insurer for the enrolment's product.
    pub async fn request_second_insurer(
        &self,
        enrolment_id: EnrolmentId,
        company_id: i64,
        reason: &str,
    ) -> Outcome<RequestRow> {
        let enrolment_id = enrolment_id.get();
        let mut tx = self.caller.tx().await?;
        let (_, _, actor) = self.target(&mut tx, enrolment_id).await?;
        let scope = self.caller.viewer.school_scope();
        let row = requests::request_second_insurer(
            &mut tx,
            &scope,
            enrolment_id,
            company_id,
            reason,
            &actor,
        )
        .await?
        .map_err(|p| Failure::from(p).about("enrolment", enrolment_id))?;
        tx.commit().await?;
        Ok(row)
    }

    /// The school of an enrolment in scope.
    pub async fn school_of(&self, enrolment_id: EnrolmentId) -> Outcome<Option<OrgId>> {
        let enrolment_id = enrolment_id.get();
        let mut tx = self.caller.tx().await?;
        let row = school::enrolment(&mut tx, &self.scope(), enrolment_id).await?;
        tx.commit().await?;
        Ok(row.map(|r| OrgId(r.school_org_id)))
    }

    /// A roster upload's result with its enrolment.
    pub async fn roster(&self, roster_id: RosterId) -> Outcome<(RosterRecord, EnrolmentRow)> {
        let roster_id = roster_id.get();
        let scope = self.scope();
        let mut tx = self.caller.tx().await?;
        let found = match ingest::roster(&mut tx, &scope, roster_id).await? {
            Some(r) => school::enrolment(&mut tx, &scope, r.enrolment_id)
                .await?
                .map(|e| (r, e)),
            None => None,
        };
        tx.commit().await?;
        Ok(found.ok_or_else(|| Refusal::out_of_scope("roster", roster_id))?)
    }

    /// Stores, parses, seals and records an uploaded roster for `enrolment_id`. The original
    /// file is kept whatever the outcome; a roster with problems is recorded as rejected with
    /// each problem by line, and one past a reader limit as rejected and refused (413).
    pub async fn upload_roster(
        &self,
        documents: &Arc<Documents>,
        sealer: IdSealer,
        enrolment_id: EnrolmentId,
        upload: RosterUpload,
    ) -> Outcome<RosterResult> {
        let enrolment_id = enrolment_id.get();
        let today = self.caller.clock.today();
        let tenant = &self.caller.tenant;
        // 1. The target, checked; no transaction is held while the file is worked on.
        let mut tx = self.caller.tx().await?;
        let (_, rules, actor) = self.target(&mut tx, enrolment_id).await?;
        let target = ingest::target(&mut tx, &self.scope(), enrolment_id, &rules, today)
            .await?
            .map_err(|p| Failure::from(p).about("enrolment", enrolment_id))?;
        tx.commit().await?;
        let headcount: u32 = match upload.headcount.as_deref().map(str::trim) {
            None | Some("") => {
                return Err(Refusal::invalid_field("headcount", "请填写投保人数").into());
            }
            Some(s) => s
                .parse()
                .map_err(|_| Refusal::invalid_field("headcount", "投保人数应为整数"))?,
        };
        let Some((name, bytes)) = upload.file else {
            return Err(
                Refusal::invalid_field("file", "请选择花名册文件（Excel .xlsx 或 .csv）").into(),
            );
        };
        if !MediaType::from_file_name(&name)
            .is_some_and(|m| matches!(m, MediaType::Xlsx | MediaType::Csv))
        {
            return Err(Refusal::invalid_field(
                "file",
                "花名册只接受 Excel（.xlsx）或 CSV 文件，请使用下载的模板",
            )
            .into());
        }
        // 2. The original file, kept whatever the outcome.
        let bytes = Bytes::from(bytes);
        let body = futures::stream::once({
            let b = bytes.clone();
            async move { Ok::<_, std::convert::Infallible>(b) }
        });
        let stored = documents
            .put_stream(tenant.tenant_id, DocumentKind::Roster, &name, body)
            .await
            .map_err(|e| match Failure::from(e) {
                Failure::Refused(r) if r.field.is_none() => r.on("file").into(),
                other => other,
            })?;
        // 3. Parse and seal: CPU work, off the async threads.
        let spec = target.spec(today);
        let parsed = tokio::task::spawn_blocking(move || {
            xiaobao_roster::parse_roster_for_headcount(&bytes, &spec, headcount)
                .map(|p| ingest::seal(&p, &sealer))
        })
        .await
        .map_err(Failure::internal)?;
        // 4. Record the document and the outcome together.
        let mut tx = self.caller.tx().await?;
        let document = documents
            .record(
                &mut tx,
                tenant,
                &stored,
                &DocumentMeta {
                    kind: DocumentKind::Roster,
                    owner_kind: "enrolment".into(),
                    owner_id: enrolment_id.to_string(),
                    uploaded_by: actor.label.clone(),
                },
            )
            .await?;
        let line_zero = |reason: String| {
            vec![RowProblem {
                line: 0,
                column: None,
                reason,
            }]
        };
        let id = document.document_id;
        let result = match parsed {
            Ok(sealed) => ingest::accept(&mut tx, &target, id, &sealed, headcount, &actor).await?,
            Err(RosterError::Problems(problems)) => {
                ingest::reject(&mut tx, &target, id, problems, &actor).await?
            }
            Err(RosterError::Unreadable(message)) => {
                ingest::reject(&mut tx, &target, id, line_zero(message), &actor).await?
            }
            Err(RosterError::TooLarge(message)) => {
                // Recorded (and audited) like any rejected upload, answered with 413.
                ingest::reject(&mut tx, &target, id, line_zero(message.clone()), &actor).await?;
                tx.commit().await?;
                return Err(Refusal::too_large(message).on("file").into());
            }
        };
        tx.commit().await?;
        Ok(result)
    }
}
