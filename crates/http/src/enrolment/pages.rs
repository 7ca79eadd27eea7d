//! The enrolment pages of a school, a central school, a broker or a department: the list of
//! schools in scope, a school's page with its forms, roster upload results. Each form handler
//! is one service call; a refusal re-renders the school's page with the message beside the
//! product it concerns.

use askama::Template;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Path, Query, Request};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use xiaobao_domain::EnrolmentStage;
use xiaobao_domain::ids::{EnrolmentId, OrgId, RosterId};
use xiaobao_domain::{Failure, Fen, Outcome};
use xiaobao_enrolment::ingest::RosterResult;
use xiaobao_enrolment::requests::RequestRow;
use xiaobao_enrolment::school::Overview;
use xiaobao_roster::RowProblem;

use super::forms::{self, DraftForm, ModificationForm, SecondForm};
use super::{group_code, is_plain_school, school_href, service, xlsx};
use crate::web::call::PageCall;
use crate::web::csrf::CsrfToken;
use crate::web::error::PageError;
use crate::web::layout::Layout;
use crate::web::nav::Section;
use crate::web::session::WebSession;

struct Choice {
    value: String,
    label: String,
    selected: bool,
}

struct EnrolmentCard {
    enrolment_id: i64,
    seq: i16,
    status_label: &'static str,
    is_draft: bool,
    is_submitted: bool,
    has_pending: bool,
    headcount: i32,
    company_name: String,
    roster_rows: String,
    premium: String,
    cover_start: String,
    roster_action: String,
    submit_action: String,
    modification_action: String,
    second_action: String,
    save_action: String,
    insurers: Vec<Choice>,
}

struct ProductCard {
    code: String,
    name: String,
    insured_label: &'static str,
    eligible: bool,
    rate: String,
    status_label: &'static str,
    template_href: String,
    save_action: String,
    insurers: Vec<Choice>,
    enrolments: Vec<EnrolmentCard>,
    error: Option<String>,
}

struct RequestLine {
    kind: &'static str,
    product_code: String,
    detail: String,
    reason: String,
    status: &'static str,
    requested_at: String,
    decision_reason: String,
}

#[derive(Template)]
#[template(path = "enrolment.html")]
struct SchoolPage {
    layout: Layout,
    csrf: CsrfToken,
    school_name: String,
    region_name: String,
    year: String,
    deadline: String,
    reopened_until: String,
    open: bool,
    /// The year containing today when it is not open yet (the page shows the previous one,
    /// read-only).
    not_open_year: Option<String>,
    /// Products insured last year and not submitted this year, joined (不得断保).
    lapsing: String,
    cover_start: String,
    cover: String,
    products: Vec<ProductCard>,
    requests: Vec<RequestLine>,
    done: Option<&'static str>,
    error: Option<String>,
    back_href: Option<String>,
}

#[derive(Template)]
#[template(path = "enrolment_schools.html")]
struct ListPage {
    layout: Layout,
    message: Option<String>,
    /// Name, region, the year's enrolment in words, link.
    rows: Vec<(String, String, String, String)>,
}

fn yuan(fen: Option<i64>) -> String {
    fen.map(|f| Fen(f).yuan_string()).unwrap_or_default()
}

fn choices(o: &Overview, chosen: Option<i64>) -> Vec<Choice> {
    o.insurers
        .iter()
        .map(|c| Choice {
            value: c.company_id.to_string(),
            label: c.name.clone(),
            selected: chosen == Some(c.company_id),
        })
        .collect()
}

fn request_line(r: &RequestRow) -> RequestLine {
    let mut detail = Vec::new();
    if let Some(h) = r.new_headcount {
        detail.push(format!("人数 {} → {h}", r.headcount));
    }
    if let Some(c) = &r.new_company_name {
        detail.push(format!("保险机构 → {c}"));
    }
    if r.new_roster_id.is_some() {
        detail.push("新花名册".to_string());
    }
    RequestLine {
        kind: r.kind_label(),
        product_code: r.product_code.clone(),
        detail: detail.join("；"),
        reason: r.reason.clone(),
        status: r.status_label(),
        requested_at: crate::web::time::cst(r.requested_at),
        decision_reason: r.decision_reason.clone().unwrap_or_default(),
    }
}

/// Where a refusal is shown: the product code or the enrolment id it concerns.
#[derive(Debug, Default)]
struct Flash {
    product: Option<String>,
    enrolment_id: Option<i64>,
    message: Option<String>,
    done: Option<&'static str>,
}

fn product_cards(
    call: &PageCall,
    overview: &Overview,
    org_id: OrgId,
    flash: &Flash,
) -> (Vec<ProductCard>, bool) {
    let page = &call.page;
    let mut placed = false;
    let products = overview
        .products
        .iter()
        .map(|p| {
            let first = p.enrolments.first();
            let enrolments: Vec<EnrolmentCard> = p
                .enrolments
                .iter()
                .map(|e| {
                    let id = e.enrolment_id;
                    EnrolmentCard {
                        enrolment_id: id,
                        seq: e.seq,
                        status_label: e.display_status().label(),
                        is_draft: e.status == EnrolmentStage::Draft,
                        is_submitted: e.status != EnrolmentStage::Draft,
                        has_pending: e.pending_request_id.is_some(),
                        headcount: e.headcount,
                        company_name: e.company_name.clone().unwrap_or_else(|| "未选择".into()),
                        roster_rows: e
                            .roster_rows
                            .map_or_else(|| "未上传".to_string(), |n| format!("{n} 行")),
                        premium: e.premium_yuan(),
                        cover_start: e.cover_start.map(|d| d.to_string()).unwrap_or_default(),
                        roster_action: page.href(&format!("enrolment/{id}/roster")),
                        submit_action: page.href(&format!("enrolment/{id}/submit")),
                        modification_action: page.href(&format!("enrolment/{id}/modification")),
                        second_action: page.href(&format!("enrolment/{id}/second-insurer")),
                        save_action: page
                            .href(&format!("enrolment/schools/{org_id}/products/{}", p.code)),
                        insurers: choices(overview, e.company_id),
                    }
                })
                .collect();
            let here = flash.product.as_deref() == Some(p.code.as_str())
                || flash
                    .enrolment_id
                    .is_some_and(|id| p.enrolments.iter().any(|e| e.enrolment_id == id));
            let error = if here && !placed {
                placed = true;
                flash.message.clone()
            } else {
                None
            };
            ProductCard {
                code: p.code.clone(),
                name: p.name.clone(),
                insured_label: p.insured_label,
                eligible: p.eligible,
                rate: yuan(p.rate_fen),
                status_label: p.status.label(),
                template_href: page.href(&format!("enrolment/templates/{}", group_code(p.insured))),
                save_action: page.href(&format!("enrolment/schools/{org_id}/products/{}", p.code)),
                insurers: choices(overview, first.and_then(|e| e.company_id)),
                enrolments,
                error,
            }
        })
        .collect();
    (products, placed)
}

/// The school's page (with `status`), or the list page with the refusal of a year not open.
async fn render_school(
    call: &PageCall,
    session: &mut WebSession,
    org_id: OrgId,
    flash: Flash,
    status: StatusCode,
) -> Result<Response, PageError> {
    let enrolments = service(call);
    let overview = match enrolments.overview(org_id).await {
        Ok(o) => o,
        Err(Failure::Refused(r)) if !r.is_not_found() => {
            let layout = Layout::tenant(&call.page, session, Section::Enrolment, Some("投保数据"));
            let view = ListPage {
                layout: layout.await?,
                message: Some(r.message),
                rows: Vec::new(),
            };
            return Ok((status, Html(view.render()?)).into_response());
        }
        Err(f) => return Err(call.fail(f).await),
    };
    let requests = call.take(enrolments.requests_of(org_id).await).await?;
    let (products, placed) = product_cards(call, &overview, org_id, &flash);
    let back_href = (!is_plain_school(&call.current)).then(|| call.page.href("enrolment"));
    let view = SchoolPage {
        layout: Layout::tenant(&call.page, session, Section::Enrolment, Some("投保数据")).await?,
        csrf: session.csrf_token().await?,
        school_name: overview.school.name.clone(),
        region_name: overview.school.region_name.clone(),
        year: overview.academic_year.to_string(),
        deadline: overview.deadline.to_string(),
        reopened_until: overview
            .reopened_until
            .map(|d| d.to_string())
            .unwrap_or_default(),
        open: overview.open,
        not_open_year: overview.not_open_year.map(|y| y.to_string()),
        lapsing: overview.lapsing.join("、"),
        cover_start: overview.cover_start.to_string(),
        cover: format!("{} 至 {}", overview.cover_start, overview.cover_end),
        products,
        requests: requests.iter().map(request_line).collect(),
        done: flash.done,
        error: if placed { None } else { flash.message },
        back_href,
    };
    Ok((status, Html(view.render()?)).into_response())
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct DoneQuery {
    done: Option<String>,
}

fn done_label(q: Result<Query<DoneQuery>, QueryRejection>) -> Option<&'static str> {
    match q.ok().and_then(|Query(q)| q.done).as_deref() {
        Some("saved") => Some("已保存。"),
        Some("submitted") => Some("已提交投保。"),
        Some("requested") => Some("申请已提交，等待审核。"),
        _ => None,
    }
}

/// A school's own page, or the list of the schools in scope.
pub(super) async fn show_home(
    call: PageCall,
    mut session: WebSession,
    query: Result<Query<DoneQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    if is_plain_school(&call.current) {
        let flash = Flash {
            done: done_label(query),
            ..Flash::default()
        };
        let org_id = OrgId(call.current.viewer().org_id);
        return render_school(&call, &mut session, org_id, flash, StatusCode::OK).await;
    }
    let list = call.take(service(&call).schools().await).await?;
    let message = match &list.year {
        None => Some(
            xiaobao_enrolment::Problem::YearNotOpen(call.state.clock.academic_year().to_string())
                .to_string(),
        ),
        Some(_) if list.schools.is_empty() => Some("管辖范围内没有学校。".to_string()),
        Some(_) => None,
    };
    let mut progress = list.progress;
    let rows = list
        .schools
        .into_iter()
        .map(|s| {
            let href = call.page.href(&format!("enrolment/schools/{}", s.org_id));
            let state = progress.remove(&s.org_id).unwrap_or_default();
            (s.name, s.region_name, state, href)
        })
        .collect();
    let layout = Layout::tenant(
        &call.page,
        &mut session,
        Section::Enrolment,
        Some("投保数据"),
    );
    let view = ListPage {
        layout: layout.await?,
        message,
        rows,
    };
    Ok(Html(view.render()?).into_response())
}

pub(super) async fn show_school(
    call: PageCall,
    mut session: WebSession,
    Path((_, org_id)): Path<(String, String)>,
    query: Result<Query<DoneQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let org_id = call.take(super::path_id::<OrgId>(&org_id)).await?;
    let flash = Flash {
        done: done_label(query),
        ..Flash::default()
    };
    render_school(&call, &mut session, org_id, flash, StatusCode::OK).await
}

/// After a form: back to the school's page, or the page again with the refusal beside the
/// product it concerns. `org_id` is the school the form was about, when it is in scope.
async fn after_form<T>(
    call: &PageCall,
    session: &mut WebSession,
    org_id: Option<OrgId>,
    outcome: Outcome<T>,
    done: &str,
    mut flash: Flash,
) -> Result<Response, PageError> {
    match (outcome, org_id) {
        (Ok(_), Some(org_id)) => {
            let href = school_href(&call.page, &call.current, org_id);
            Ok(Redirect::to(&format!("{href}?done={done}")).into_response())
        }
        (Ok(_), None) => Err(PageError::NotFound),
        (Err(Failure::Refused(r)), Some(org_id)) if !r.is_not_found() => {
            let status = crate::web::error::refusal_status(r.class);
            flash.message = Some(r.message);
            render_school(call, session, org_id, flash, status).await
        }
        (Err(f), _) => Err(call.fail(f).await),
    }
}

/// The school of enrolment `raw`, when it is in scope.
async fn school_of(call: &PageCall, raw: &str) -> Result<Option<OrgId>, PageError> {
    let Ok(id) = raw.parse::<EnrolmentId>() else {
        return Ok(None);
    };
    match service(call).school_of(id).await {
        Ok(org) => Ok(org),
        Err(f) => Err(call.fail(f).await),
    }
}

/// A form about enrolment `raw`: the outcome shown on its school's page.
async fn enrolment_form<T>(
    call: &PageCall,
    session: &mut WebSession,
    raw: &str,
    outcome: Outcome<T>,
    done: &str,
) -> Result<Response, PageError> {
    let org = school_of(call, raw).await?;
    let flash = Flash {
        enrolment_id: raw.parse().ok(),
        ..Flash::default()
    };
    after_form(call, session, org, outcome, done, flash).await
}

pub(super) async fn save_draft(
    call: PageCall,
    mut session: WebSession,
    Path((_, org_id, code)): Path<(String, String, String)>,
    form: Result<Form<DraftForm>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let org = super::path_id::<OrgId>(&org_id);
    let school = org.as_ref().ok().copied();
    let outcome = match (org, form.input()) {
        (Err(f), _) | (_, Err(f)) => Err(f),
        (Ok(org), Ok((input, seq))) => service(&call).save_draft(org, &code, seq, &input).await,
    };
    let flash = Flash {
        product: Some(code.clone()),
        ..Flash::default()
    };
    after_form(&call, &mut session, school, outcome, "saved", flash).await
}

pub(super) async fn upload_roster(
    call: PageCall,
    mut session: WebSession,
    Path((_, id)): Path<(String, String)>,
    request: Request,
) -> Result<Response, PageError> {
    let outcome = async {
        let eid = super::path_id::<EnrolmentId>(&id)?;
        forms::upload_allowed(&call.state, &call.page.tenant.slug, &call.current, eid).await?;
        let upload = forms::read_upload(request).await?;
        let sealer = call.state.sealer(&call.page.tenant);
        service(&call)
            .upload_roster(&call.state.documents, sealer, eid, upload)
            .await
    }
    .await;
    if let Ok(RosterResult::Accepted { roster_id, .. } | RosterResult::Rejected { roster_id, .. }) =
        &outcome
    {
        let href = call.page.href(&format!("enrolment/rosters/{roster_id}"));
        return Ok(Redirect::to(&href).into_response());
    }
    enrolment_form(&call, &mut session, &id, outcome, "saved").await
}

pub(super) async fn submit(
    call: PageCall,
    mut session: WebSession,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let outcome = match super::path_id::<EnrolmentId>(&id) {
        Ok(eid) => service(&call).submit(eid).await,
        Err(f) => Err(f),
    };
    enrolment_form(&call, &mut session, &id, outcome, "submitted").await
}

pub(super) async fn modification(
    call: PageCall,
    mut session: WebSession,
    Path((_, id)): Path<(String, String)>,
    form: Result<Form<ModificationForm>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let outcome = match (super::path_id::<EnrolmentId>(&id), form.input()) {
        (Err(f), _) | (_, Err(f)) => Err(f),
        (Ok(eid), Ok(input)) => service(&call).request_modification(eid, &input).await,
    };
    enrolment_form(&call, &mut session, &id, outcome, "requested").await
}

pub(super) async fn second_insurer(
    call: PageCall,
    mut session: WebSession,
    Path((_, id)): Path<(String, String)>,
    form: Result<Form<SecondForm>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let outcome = match (super::path_id::<EnrolmentId>(&id), form.company()) {
        (Err(f), _) | (_, Err(f)) => Err(f),
        (Ok(eid), Ok(company)) => {
            service(&call)
                .request_second_insurer(eid, company, &form.reason)
                .await
        }
    };
    enrolment_form(&call, &mut session, &id, outcome, "requested").await
}

#[derive(Template)]
#[template(path = "enrolment_roster.html")]
struct RosterPage {
    layout: Layout,
    csrf: CsrfToken,
    roster_id: i64,
    status: String,
    rows: i32,
    problems: Vec<RowProblem>,
    problems_href: String,
    school_href: String,
    product_code: String,
    school_name: String,
    modification_action: String,
    created_at: String,
}

/// The roster upload `raw` with its enrolment, or the miss (audited).
async fn roster_of(
    call: &PageCall,
    raw: &str,
) -> Result<
    (
        xiaobao_enrolment::ingest::RosterRecord,
        xiaobao_enrolment::school::EnrolmentRow,
    ),
    PageError,
> {
    let found = match super::path_id::<RosterId>(raw) {
        Ok(id) => service(call).roster(id).await,
        Err(f) => Err(f),
    };
    match found {
        Ok(found) => Ok(found),
        Err(f) => Err(call.fail(f).await),
    }
}

pub(super) async fn show_roster(
    call: PageCall,
    mut session: WebSession,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let (record, e) = roster_of(&call, &id).await?;
    let page = &call.page;
    let layout = Layout::tenant(
        page,
        &mut session,
        Section::Enrolment,
        Some("花名册上传结果"),
    );
    let view = RosterPage {
        layout: layout.await?,
        csrf: session.csrf_token().await?,
        roster_id: record.roster_id,
        status: record.status.clone(),
        rows: record.row_count,
        problems_href: page.href(&format!(
            "enrolment/rosters/{}/problems.xlsx",
            record.roster_id
        )),
        school_href: school_href(page, &call.current, OrgId(e.school_org_id)),
        product_code: e.product_code.clone(),
        school_name: e.school_name.clone(),
        modification_action: page.href(&format!("enrolment/{}/modification", e.enrolment_id)),
        created_at: crate::web::time::cst(record.created_at),
        problems: record.problems,
    };
    Ok(Html(view.render()?).into_response())
}

pub(super) async fn roster_problems_xlsx(
    call: PageCall,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let (record, _) = roster_of(&call, &id).await?;
    Ok(xlsx(
        xiaobao_roster::problems_xlsx(&record.problems),
        "花名册问题清单.xlsx",
    ))
}
