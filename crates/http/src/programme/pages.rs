//! The pages of 项目规则.

use askama::Template;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Path, Query};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use xiaobao_domain::ids::RulesProposalId;
use xiaobao_domain::rules::RuleProblem;
use xiaobao_domain::{AcademicYear, Failure, RequestStatus};
use xiaobao_programme::edit::{self, Change, Field};
use xiaobao_programme::{Problem, ProposalView, Proposed, VersionMeta, check_document};

use super::{rules, version_of};
use crate::web::call::{PageCall, path_id};
use crate::web::csrf::CsrfToken;
use crate::web::error::{PageError, refusal_status};
use crate::web::layout::Layout;
use crate::web::nav::Section;
use crate::web::session::WebSession;
use crate::web::time::cst;

const TITLE: &str = "项目规则";

async fn layout(
    call: &PageCall,
    session: &mut WebSession,
    title: &str,
) -> Result<Layout, PageError> {
    Layout::tenant(&call.page, session, Section::ProgrammeRules, Some(title)).await
}

// ---------------------------------------------------------------------------------------------
// The years
// ---------------------------------------------------------------------------------------------

struct YearRow {
    year: String,
    href: String,
    version: String,
    changed_at: String,
    pending_href: Option<String>,
}

#[derive(Template)]
#[template(path = "rules_years.html")]
struct YearsPage {
    layout: Layout,
    years: Vec<YearRow>,
    /// 开启新学年: the year after the newest with rules, when it has none yet.
    next_year: Option<(String, String, String)>,
}

pub(super) async fn show_years(
    call: PageCall,
    mut session: WebSession,
) -> Result<Html<String>, PageError> {
    let years = call.take(rules(&call).years().await).await?;
    let page = &call.page;
    let newest = years.iter().find(|y| y.version.is_some());
    let next_year = newest
        .map(|n| (n.academic_year, n.academic_year.next()))
        .filter(|(_, next)| {
            !years.iter().any(|y| {
                y.academic_year == *next && (y.version.is_some() || y.pending_proposal_id.is_some())
            })
        })
        .map(|(from, next)| {
            (
                next.to_string(),
                from.to_string(),
                page.href(&format!("rules/{next}/edit")),
            )
        });
    let view = YearsPage {
        layout: layout(&call, &mut session, TITLE).await?,
        next_year,
        years: years
            .into_iter()
            .map(|y| YearRow {
                href: page.href(&format!("rules/{}", y.academic_year)),
                year: y.academic_year.to_string(),
                version: y
                    .version
                    .map_or_else(|| "尚无".into(), |v| format!("第{v}版")),
                changed_at: y.changed_at.map(cst).unwrap_or_default(),
                pending_href: y
                    .pending_proposal_id
                    .map(|id| page.href(&format!("rule-proposals/{id}"))),
            })
            .collect(),
    };
    Ok(Html(view.render()?))
}

// ---------------------------------------------------------------------------------------------
// One year
// ---------------------------------------------------------------------------------------------

struct VersionRow {
    m: VersionMeta,
    at: String,
    href: String,
}

struct ProposalRow {
    p: ProposalView,
    at: String,
    decided_at: String,
    href: String,
}

fn proposal_row(call: &PageCall, p: ProposalView) -> ProposalRow {
    ProposalRow {
        at: cst(p.proposed_at),
        decided_at: p.decided_at.map(cst).unwrap_or_default(),
        href: call.page.href(&format!("rule-proposals/{}", p.proposal_id)),
        p,
    }
}

#[derive(Template)]
#[template(path = "rules_year.html")]
struct YearPage {
    layout: Layout,
    year: String,
    current: Option<VersionRow>,
    versions: Vec<VersionRow>,
    proposals: Vec<ProposalRow>,
    pending_href: Option<String>,
    edit_href: String,
    insurers_href: String,
    list_href: String,
}

pub(super) async fn show_year(
    call: PageCall,
    mut session: WebSession,
    Path((_, year)): Path<(String, String)>,
) -> Result<Html<String>, PageError> {
    let outcome = async { rules(&call).year(AcademicYear::asked(&year)?).await }.await;
    let y = call.take(outcome).await?;
    let page = &call.page;
    let year = y.academic_year.to_string();
    let version_row = |m: VersionMeta| VersionRow {
        at: cst(m.created_at),
        href: page.href(&format!("rules/{year}/versions/{}", m.version)),
        m,
    };
    let proposals: Vec<ProposalRow> = y
        .proposals
        .into_iter()
        .map(|p| proposal_row(&call, p))
        .collect();
    let view = YearPage {
        layout: layout(&call, &mut session, &format!("{year} 学年方案规则")).await?,
        pending_href: proposals
            .iter()
            .find(|p| p.p.status == RequestStatus::Pending)
            .map(|p| p.href.clone()),
        current: y.current.map(version_row),
        versions: y.versions.into_iter().map(version_row).collect(),
        proposals,
        edit_href: page.href(&format!("rules/{year}/edit")),
        insurers_href: page.href(&format!("rules/{year}/insurers")),
        list_href: page.href("rules"),
        year,
    };
    Ok(Html(view.render()?))
}

// ---------------------------------------------------------------------------------------------
// One version, with its difference from the one before
// ---------------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "rules_version.html")]
struct VersionPage {
    layout: Layout,
    year: String,
    meta: VersionMeta,
    at: String,
    document: String,
    previous: Option<i32>,
    changes: Vec<Change>,
    before_title: String,
    after_title: String,
    year_href: String,
    /// The compensation items (赔偿项目) of the version.
    items: Vec<ItemRow>,
}

/// A compensation item as the version page lists it.
struct ItemRow {
    name: String,
    kinds: String,
    confirmation: String,
    cap: String,
}

fn item_rows(document: &str) -> Vec<ItemRow> {
    let Ok(rules) = xiaobao_domain::ProgrammeRules::from_toml_str(document) else {
        return Vec::new();
    };
    rules
        .claims()
        .compensation_items
        .iter()
        .map(|i| ItemRow {
            name: i.name.clone(),
            kinds: i
                .kinds
                .iter()
                .map(|k| k.label())
                .collect::<Vec<_>>()
                .join("、"),
            confirmation: match (i.requires_confirmation, i.confirmed_by) {
                (true, Some(who)) => format!("经{}确认后在合理范围内赔付", who.label()),
                (true, None) => "需确认".to_string(),
                (false, _) => "—".to_string(),
            },
            cap: i.cap_fen.map_or_else(|| "—".to_string(), |c| c.to_string()),
        })
        .collect()
}

pub(super) async fn show_version(
    call: PageCall,
    mut session: WebSession,
    Path((_, year, version)): Path<(String, String, String)>,
) -> Result<Html<String>, PageError> {
    let service = rules(&call);
    let outcome = async {
        let year = AcademicYear::asked(&year)?;
        let v = service
            .version(year, Some(version_of(&version, year)?))
            .await?;
        let previous = match v.meta.version {
            1 => None,
            n => Some(service.version(year, Some(n - 1)).await?),
        };
        Ok::<_, Failure>((v, previous))
    }
    .await;
    let (v, previous) = call.take(outcome).await?;
    let changes = previous
        .as_ref()
        .and_then(|p| edit::diff(&p.document, &v.document).ok())
        .unwrap_or_default();
    let year = v.academic_year.to_string();
    let view = VersionPage {
        layout: layout(
            &call,
            &mut session,
            &format!("{year} 学年方案规则第{}版", v.meta.version),
        )
        .await?,
        at: cst(v.meta.created_at),
        before_title: previous
            .as_ref()
            .map(|p| format!("第{}版", p.meta.version))
            .unwrap_or_default(),
        after_title: format!("第{}版", v.meta.version),
        previous: previous.map(|p| p.meta.version),
        changes,
        items: item_rows(&v.document),
        document: v.document,
        meta: v.meta,
        year_href: call.page.href(&format!("rules/{year}")),
        year,
    };
    Ok(Html(view.render()?))
}

// ---------------------------------------------------------------------------------------------
// The form
// ---------------------------------------------------------------------------------------------

struct FieldRow {
    f: Field,
    /// The form field's name.
    name: String,
    /// The value shown (as typed after a refused submission).
    value: String,
    error: Option<String>,
    /// The section starts here (its title).
    section_start: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "rules_edit.html")]
struct EditPage {
    layout: Layout,
    csrf: CsrfToken,
    year: String,
    /// The version in force it starts from; `None` for a new year's copy.
    version: Option<i32>,
    copied_from: Option<String>,
    /// Admitted insurers a new year's copy left out (their tender ended).
    dropped_insurers: Vec<String>,
    fields: Vec<FieldRow>,
    /// Problems not shown beside a field of the form.
    other_problems: Vec<String>,
    document: String,
    document_problems: Vec<String>,
    reason: String,
    reason_error: Option<String>,
    mode: String,
    action: String,
    year_href: String,
    pending_href: Option<String>,
}

/// Form fields carry the rules path after this prefix.
const FIELD_PREFIX: &str = "f:";

#[derive(Default)]
struct Submitted {
    mode: String,
    reason: String,
    document: String,
    edits: Vec<(String, String)>,
}

fn submitted(pairs: Vec<(String, String)>) -> Submitted {
    let mut s = Submitted::default();
    for (name, value) in pairs {
        match name.as_str() {
            "mode" => s.mode = value,
            "reason" => s.reason = value,
            "document" => s.document = value,
            _ => {
                if let Some(path) = name.strip_prefix(FIELD_PREFIX) {
                    s.edits.push((path.to_string(), value));
                }
            }
        }
    }
    s
}

/// What the form shows after a refused submission.
#[derive(Default)]
struct Retry {
    typed: Vec<(String, String)>,
    problems: Vec<RuleProblem>,
    document: Option<String>,
    document_problems: Vec<String>,
    reason: String,
    reason_error: Option<String>,
    mode: String,
}

async fn render_edit(
    call: &PageCall,
    session: &mut WebSession,
    year: AcademicYear,
    retry: Retry,
) -> Result<Html<String>, PageError> {
    let service = rules(call);
    let outcome = async {
        let current = service.draft(year).await?;
        let y = service.year(year).await?;
        Ok::<_, Failure>((current, y))
    }
    .await;
    let (current, y) = call.take(outcome).await?;
    let fields = edit::fields(&current.document)
        .map_err(|p| PageError::from(Failure::from(Problem::Invalid(vec![p]))))?;
    let mut shown_paths = std::collections::HashSet::new();
    let mut last_section = "";
    let rows: Vec<FieldRow> = fields
        .into_iter()
        .map(|f| {
            let value = retry
                .typed
                .iter()
                .find(|(p, _)| *p == f.path)
                .map_or_else(|| f.value.clone(), |(_, v)| v.clone());
            let error = retry
                .problems
                .iter()
                .filter(|p| p.path == f.path)
                .map(|p| p.problem.clone())
                .collect::<Vec<_>>();
            shown_paths.insert(f.path.clone());
            let section_start = (f.section != last_section).then_some(f.section);
            last_section = f.section;
            FieldRow {
                name: format!("{FIELD_PREFIX}{}", f.path),
                value,
                error: (!error.is_empty()).then(|| error.join("；")),
                section_start,
                f,
            }
        })
        .collect();
    let other_problems = retry
        .problems
        .iter()
        .filter(|p| !shown_paths.contains(&p.path))
        .map(|p| {
            if p.path.is_empty() {
                p.problem.clone()
            } else {
                p.to_string()
            }
        })
        .collect();
    let year_s = year.to_string();
    let view = EditPage {
        layout: layout(call, session, &format!("修改 {year_s} 学年方案规则")).await?,
        csrf: session.csrf_token().await?,
        version: current.version,
        copied_from: current
            .copied_from
            .map(|y| format!("{y} 学年第{}版", current.copied_version.unwrap_or(0))),
        dropped_insurers: current.dropped_insurers.clone(),
        fields: rows,
        other_problems,
        document: retry.document.unwrap_or(current.document),
        document_problems: retry.document_problems,
        reason: retry.reason,
        reason_error: retry.reason_error,
        mode: if retry.mode == "document" {
            "document".into()
        } else {
            "fields".into()
        },
        action: call.page.href(&format!("rules/{year_s}/edit")),
        year_href: call.page.href(&format!("rules/{year_s}")),
        pending_href: y
            .proposals
            .iter()
            .find(|p| p.status == RequestStatus::Pending)
            .map(|p| call.page.href(&format!("rule-proposals/{}", p.proposal_id))),
        year: year_s,
    };
    Ok(Html(view.render()?))
}

pub(super) async fn show_edit(
    call: PageCall,
    mut session: WebSession,
    Path((_, year)): Path<(String, String)>,
) -> Result<Html<String>, PageError> {
    let year = call.take(AcademicYear::asked(&year)).await?;
    render_edit(&call, &mut session, year, Retry::default()).await
}

/// Every problem of a submission, found before proposing (so the form shows them all).
async fn precheck(
    call: &PageCall,
    year: AcademicYear,
    s: &Submitted,
) -> Result<Result<(), Retry>, PageError> {
    let mut retry = Retry {
        typed: s.edits.clone(),
        reason: s.reason.clone(),
        mode: s.mode.clone(),
        ..Retry::default()
    };
    if s.reason.trim().is_empty() {
        retry.reason_error = Some(Problem::ReasonMissing.to_string());
    }
    let problems: Vec<RuleProblem> = if s.mode == "document" {
        retry.document = Some(s.document.clone());
        match check_document(year, &s.document) {
            Ok(_) => Vec::new(),
            Err(Problem::Invalid(problems)) => problems,
            Err(other) => vec![RuleProblem {
                path: "document".into(),
                problem: other.to_string(),
            }],
        }
    } else {
        let current = call.take(rules(call).draft(year).await).await?;
        match edit::apply(&current.document, &s.edits) {
            Err(problems) => problems,
            Ok(document) => match check_document(year, &document) {
                Ok(_) => Vec::new(),
                Err(Problem::Invalid(problems)) => problems,
                Err(other) => vec![RuleProblem {
                    path: "document".into(),
                    problem: other.to_string(),
                }],
            },
        }
    };
    if s.mode == "document" {
        retry.document_problems = problems.iter().map(ToString::to_string).collect();
    } else {
        retry.problems = problems;
    }
    let clean = retry.reason_error.is_none()
        && retry.problems.is_empty()
        && retry.document_problems.is_empty();
    Ok(if clean { Ok(()) } else { Err(retry) })
}

pub(super) async fn submit_edit(
    call: PageCall,
    mut session: WebSession,
    Path((_, year)): Path<(String, String)>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, PageError> {
    let year = call.take(AcademicYear::asked(&year)).await?;
    let s = submitted(form.map(|Form(f)| f).unwrap_or_default());
    if let Err(retry) = precheck(&call, year, &s).await? {
        let html = render_edit(&call, &mut session, year, retry).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response());
    }
    let proposed = if s.mode == "document" {
        Proposed::Document(s.document.clone())
    } else {
        Proposed::Changes(s.edits.clone())
    };
    let refusal = match rules(&call).propose(year, proposed, &s.reason).await {
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
    let mut retry = Retry {
        typed: s.edits,
        reason: s.reason,
        mode: s.mode.clone(),
        ..Retry::default()
    };
    let message = refusal.message.clone();
    if refusal.field.as_deref() == Some("reason") {
        retry.reason_error = Some(message);
    } else if s.mode == "document" {
        retry.document = Some(s.document);
        retry.document_problems = vec![message];
    } else {
        retry.problems = vec![RuleProblem {
            path: refusal.field.map(|f| f.to_string()).unwrap_or_default(),
            problem: message,
        }];
    }
    let html = render_edit(&call, &mut session, year, retry).await?;
    Ok((status, html).into_response())
}

// ---------------------------------------------------------------------------------------------
// A proposal and its decision
// ---------------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "rules_proposal.html")]
struct ProposalPage {
    layout: Layout,
    csrf: CsrfToken,
    p: ProposalRow,
    changes: Vec<Change>,
    before_title: String,
    after_title: String,
    document: String,
    base_document: String,
    stale: bool,
    done: String,
    error: Option<String>,
    refuse_reason: String,
    approve_action: String,
    refuse_action: String,
    withdraw_action: String,
    year_href: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct DoneQuery {
    done: Option<String>,
}

async fn render_proposal(
    call: &PageCall,
    session: &mut WebSession,
    id: RulesProposalId,
    done: String,
    error: Option<String>,
    refuse_reason: String,
) -> Result<Html<String>, PageError> {
    let d = call.take(rules(call).proposal(id).await).await?;
    let page = &call.page;
    let year = d.proposal.academic_year.to_string();
    let view = ProposalPage {
        layout: layout(
            call,
            session,
            &format!("{year} 学年方案规则修改（编号{id}）"),
        )
        .await?,
        csrf: session.csrf_token().await?,
        changes: d.changes,
        before_title: d.base_label,
        after_title: "修改后".to_string(),
        document: d.document,
        base_document: d.base_document,
        stale: d.stale,
        done,
        error,
        refuse_reason,
        approve_action: page.href(&format!("rule-proposals/{id}/approve")),
        refuse_action: page.href(&format!("rule-proposals/{id}/refuse")),
        withdraw_action: page.href(&format!("rule-proposals/{id}/withdraw")),
        year_href: page.href(&format!("rules/{year}")),
        p: proposal_row(call, d.proposal),
    };
    Ok(Html(view.render()?))
}

pub(super) async fn show_proposal(
    call: PageCall,
    mut session: WebSession,
    Path((_, id)): Path<(String, String)>,
    query: Result<Query<DoneQuery>, QueryRejection>,
) -> Result<Html<String>, PageError> {
    let id = call.take(path_id::<RulesProposalId>(&id)).await?;
    let done = query
        .ok()
        .and_then(|Query(q)| q.done)
        .filter(|d| ["proposed", "approved", "refused", "withdrawn"].contains(&d.as_str()))
        .unwrap_or_default();
    render_proposal(&call, &mut session, id, done, None, String::new()).await
}

/// After a decision: the proposal with a note, or again with the refusal beside the form.
async fn after_decision(
    call: &PageCall,
    session: &mut WebSession,
    id: RulesProposalId,
    outcome: Result<ProposalView, Failure>,
    done: &str,
    refuse_reason: String,
) -> Result<Response, PageError> {
    let refusal = match outcome {
        Ok(_) => {
            let to = call.page.href(&format!("rule-proposals/{id}?done={done}"));
            return Ok(Redirect::to(&to).into_response());
        }
        Err(Failure::Refused(r)) if !r.is_not_found() => r,
        Err(f) => return Err(call.fail(f).await),
    };
    let status = refusal_status(refusal.class);
    let html = render_proposal(
        call,
        session,
        id,
        String::new(),
        Some(refusal.message),
        refuse_reason,
    )
    .await?;
    Ok((status, html).into_response())
}

pub(super) async fn submit_approve(
    call: PageCall,
    mut session: WebSession,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let id = call.take(path_id::<RulesProposalId>(&id)).await?;
    let outcome = rules(&call).approve(id).await;
    after_decision(&call, &mut session, id, outcome, "approved", String::new()).await
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct ReasonForm {
    #[serde(default)]
    reason: String,
}

pub(super) async fn submit_refuse(
    call: PageCall,
    mut session: WebSession,
    Path((_, id)): Path<(String, String)>,
    form: Result<Form<ReasonForm>, FormRejection>,
) -> Result<Response, PageError> {
    let id = call.take(path_id::<RulesProposalId>(&id)).await?;
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let outcome = rules(&call).refuse(id, &form.reason).await;
    after_decision(&call, &mut session, id, outcome, "refused", form.reason).await
}

pub(super) async fn submit_withdraw(
    call: PageCall,
    mut session: WebSession,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let id = call.take(path_id::<RulesProposalId>(&id)).await?;
    let outcome = rules(&call).withdraw(id).await;
    after_decision(&call, &mut session, id, outcome, "withdrawn", String::new()).await
}
