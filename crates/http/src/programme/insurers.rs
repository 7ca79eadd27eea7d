//! The page 准入保险公司 of a year: the admitted insurers by lot, and the form that proposes a
//! change of them (a rules proposal, approved by a second authority account).

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use xiaobao_domain::{AcademicYear, Failure};
use xiaobao_programme::admissions::{AdmissionEntry, RegionGroup};
use xiaobao_programme::{AdmissionInput, Problem, check_document};

use super::rules;
use crate::web::call::PageCall;
use crate::web::csrf::CsrfToken;
use crate::web::error::{PageError, refusal_status};
use crate::web::layout::Layout;
use crate::web::nav::Section;
use crate::web::session::WebSession;

/// One entry of the form.
#[derive(Debug, Clone, Default)]
struct FormRow {
    /// 1-based; the blank row for a new entry comes last.
    index: usize,
    company: String,
    lot: String,
    tender_years: String,
    regions: Vec<String>,
    remove: bool,
    is_new: bool,
}

impl FormRow {
    fn has(&self, code: &str) -> bool {
        self.regions.iter().any(|r| r == code)
    }

    fn is_blank(&self) -> bool {
        self.company.trim().is_empty()
            && self.regions.is_empty()
            && self.lot.trim().is_empty()
            && self.tender_years.trim().is_empty()
    }

    fn input(&self) -> AdmissionInput {
        AdmissionInput {
            company: self.company.clone(),
            regions: self.regions.clone(),
            lot: Some(self.lot.clone()),
            tender_years: Some(self.tender_years.clone()),
        }
    }
}

#[derive(Template)]
#[template(path = "rules_insurers.html")]
struct InsurersPage {
    layout: Layout,
    csrf: CsrfToken,
    year: String,
    version: Option<i32>,
    copied_from: Option<String>,
    dropped: Vec<String>,
    entries: Vec<AdmissionEntry>,
    opened: bool,
    pending_href: Option<String>,
    companies: Vec<String>,
    region_groups: Vec<RegionGroup>,
    rows: Vec<FormRow>,
    problems: Vec<String>,
    reason: String,
    reason_error: Option<String>,
    action: String,
    year_href: String,
}

/// What the form shows after a refused submission.
#[derive(Default)]
struct Retry {
    rows: Option<Vec<FormRow>>,
    problems: Vec<String>,
    reason: String,
    reason_error: Option<String>,
}

async fn render(
    call: &PageCall,
    session: &mut WebSession,
    year: AcademicYear,
    retry: Retry,
) -> Result<Html<String>, PageError> {
    let v = call.take(rules(call).insurers(year).await).await?;
    let year_s = year.to_string();
    let mut rows = retry.rows.unwrap_or_else(|| {
        v.entries
            .iter()
            .enumerate()
            .map(|(i, e)| FormRow {
                index: i + 1,
                company: e.company.clone(),
                lot: e.lot.clone().unwrap_or_default(),
                tender_years: e.tender_years.clone().unwrap_or_default(),
                regions: e.regions.iter().map(|r| r.code.clone()).collect(),
                remove: false,
                is_new: false,
            })
            .collect()
    });
    if !rows.iter().any(|r| r.is_new) {
        rows.push(FormRow {
            index: rows.len() + 1,
            is_new: true,
            ..FormRow::default()
        });
    }
    // A company an entry names stays choosable even when the platform does not list it.
    let mut companies = v.companies.clone();
    for r in &rows {
        if !r.company.trim().is_empty() && !companies.contains(&r.company) {
            companies.push(r.company.clone());
        }
    }
    let page = InsurersPage {
        layout: Layout::tenant(
            &call.page,
            session,
            Section::ProgrammeRules,
            Some(&format!("{year_s} 学年准入保险公司")),
        )
        .await?,
        csrf: session.csrf_token().await?,
        version: v.version,
        copied_from: v.copied_from.map(|y| y.to_string()),
        dropped: v.dropped,
        entries: v.entries,
        opened: v.opened,
        pending_href: v
            .pending_proposal_id
            .map(|id| call.page.href(&format!("rule-proposals/{id}"))),
        companies,
        region_groups: v.region_groups,
        rows,
        problems: retry.problems,
        reason: retry.reason,
        reason_error: retry.reason_error,
        action: call.page.href(&format!("rules/{year_s}/insurers")),
        year_href: call.page.href(&format!("rules/{year_s}")),
        year: year_s,
    };
    Ok(Html(page.render()?))
}

pub(super) async fn show(
    call: PageCall,
    mut session: WebSession,
    Path((_, year)): Path<(String, String)>,
) -> Result<Html<String>, PageError> {
    let year = call.take(AcademicYear::asked(&year)).await?;
    render(&call, &mut session, year, Retry::default()).await
}

/// The rows of a submitted form (`e{n}.company`, `e{n}.regions`, …), in their order.
fn submitted(pairs: Vec<(String, String)>) -> (Vec<FormRow>, String) {
    let mut rows: Vec<FormRow> = Vec::new();
    let mut reason = String::new();
    for (name, value) in pairs {
        if name == "reason" {
            reason = value;
            continue;
        }
        let Some((index, key)) = name
            .strip_prefix('e')
            .and_then(|rest| rest.split_once('.'))
            .and_then(|(n, key)| n.parse::<usize>().ok().map(|n| (n, key)))
        else {
            continue;
        };
        // At most a few hundred entries: more is not a form this page made.
        if index == 0 || index > 500 {
            continue;
        }
        let row = match rows.iter_mut().find(|r| r.index == index) {
            Some(r) => r,
            None => {
                rows.push(FormRow {
                    index,
                    ..FormRow::default()
                });
                let last = rows.len() - 1;
                &mut rows[last]
            }
        };
        match key {
            "company" => row.company = value,
            "lot" => row.lot = value,
            "tender_years" => row.tender_years = value,
            "regions" => row.regions.push(value),
            "remove" => row.remove = true,
            _ => {}
        }
    }
    rows.sort_by_key(|r| r.index);
    (rows, reason)
}

/// A problem of the proposed document as the form shows it: `enrolment.insurers[2].regions`
/// is the second kept row.
fn shown_problem(path: &str, problem: &str, kept: &[usize]) -> String {
    let row = path
        .strip_prefix("enrolment.insurers[")
        .and_then(|rest| rest.split_once(']'))
        .and_then(|(n, _)| n.parse::<usize>().ok())
        .and_then(|n| kept.get(n.wrapping_sub(1)));
    match row {
        Some(index) => format!("第{index}项：{problem}"),
        None if path.is_empty() => problem.to_string(),
        None => format!("{path}：{problem}"),
    }
}

pub(super) async fn submit(
    call: PageCall,
    mut session: WebSession,
    Path((_, year)): Path<(String, String)>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, PageError> {
    let year = call.take(AcademicYear::asked(&year)).await?;
    let (mut rows, reason) = submitted(form.map(|Form(f)| f).unwrap_or_default());
    // A row left blank (the new one not filled in) is no entry; one marked 删除此项 is left out.
    rows.retain(|r| !r.is_blank());
    let kept: Vec<&FormRow> = rows.iter().filter(|r| !r.remove).collect();
    let inputs: Vec<AdmissionInput> = kept.iter().map(|r| r.input()).collect();
    let kept_index: Vec<usize> = kept.iter().map(|r| r.index).collect();
    let mut retry = Retry {
        rows: Some(rows.clone()),
        reason: reason.clone(),
        ..Retry::default()
    };
    if reason.trim().is_empty() {
        retry.reason_error = Some(Problem::ReasonMissing.to_string());
    }
    let service = rules(&call);
    // Every problem of the document first, so the form shows them all at once.
    match service.insurers_document(year, &inputs).await {
        Ok(document) => match check_document(year, &document) {
            Ok(_) => {}
            Err(Problem::Invalid(problems)) => {
                retry.problems = problems
                    .iter()
                    .map(|p| shown_problem(&p.path, &p.problem, &kept_index))
                    .collect();
            }
            Err(other) => retry.problems = vec![other.to_string()],
        },
        Err(Failure::Refused(r)) if !r.is_not_found() => retry.problems = vec![r.message],
        Err(f) => return Err(call.fail(f).await),
    }
    if retry.reason_error.is_some() || !retry.problems.is_empty() {
        let html = render(&call, &mut session, year, retry).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response());
    }
    let refusal = match service.propose_insurers(year, &inputs, &reason).await {
        Ok(p) => {
            let to = call
                .page
                .href(&format!("rule-proposals/{}?done=proposed", p.proposal_id));
            return Ok(Redirect::to(&to).into_response());
        }
        Err(Failure::Refused(r)) if !r.is_not_found() => r,
        Err(f) => return Err(call.fail(f).await),
    };
    let status = refusal_status(refusal.class);
    if refusal.field.as_deref() == Some("reason") {
        retry.reason_error = Some(refusal.message);
    } else {
        retry.problems = vec![refusal.message];
    }
    let html = render(&call, &mut session, year, retry).await?;
    Ok((status, html).into_response())
}
