//! 承保数据: an insurer branch's submitted enrolments (the schools of its subtree that chose its
//! company), their rosters (ID numbers in full for those holding `ROSTERS_UNMASKED`, every
//! download audited), marking them received (已承保), a region's rosters in one zip, and the
//! endorsements (批单) it owes.
//!
//! API twins under `/api/v1/t/{slug}/underwriting…`.

use std::io::Write;
use utoipa_axum::routes;
use xiaobao_domain::ids::{EndorsementId, EnrolmentId};
use xiaobao_domain::{AcademicYear, EndorsementStatus, EnrolmentStage};

use askama::Template;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use xiaobao_authz::Permission;
use xiaobao_db::Tenant;
use xiaobao_enrolment::school::EnrolmentRow;
use xiaobao_enrolment::underwriting::{self, EndorsementRow, ListFilter};

use crate::AppState;
use crate::enrolment::admin::{
    NO_YEAR_NOTICE, enrolments, may_unmask, no_year_open, path_id, roster_file,
};
use crate::web::auth::{Current, Routes};
use crate::web::call::{Reply, audited};
use crate::web::csrf::CsrfToken;
use crate::web::error::PageError;
use crate::web::layout::Layout;
use crate::web::nav::Section;
use crate::web::session::WebSession;
use crate::web::tenant::{ApiTenant, PageTenant};
use std::sync::Arc;
use xiaobao_domain::Failure;

pub fn routes() -> Routes {
    let list = Permission::UNDERWRITING_LIST;
    let receive = Permission::UNDERWRITING_RECEIVE;
    let download = Permission::ROSTERS_DOWNLOAD;
    Routes::new()
        .page(Method::GET, "/t/{slug}/underwriting", list, show_list)
        .page(
            Method::GET,
            "/t/{slug}/underwriting/archive.zip",
            download,
            page_archive,
        )
        .page(
            Method::GET,
            "/t/{slug}/underwriting/{enrolment_id}/roster.xlsx",
            download,
            page_roster,
        )
        .page(
            Method::POST,
            "/t/{slug}/underwriting/{enrolment_id}/received",
            receive,
            submit_received,
        )
        .page(
            Method::POST,
            "/t/{slug}/underwriting/endorsements/{id}/issued",
            receive,
            submit_issued,
        )
        .api(list, routes!(api_list))
        .api(list, routes!(api_endorsements))
        .api(download, routes!(api_roster))
        .api(receive, routes!(api_received))
        .api(receive, routes!(api_issued))
}

#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct FilterQuery {
    /// Region code.
    region: Option<String>,
    /// Enrolment status.
    status: Option<String>,
    /// Product code.
    product: Option<String>,
    #[param(ignore)]
    done: Option<String>,
}

fn non_empty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

async fn load_list(
    state: &AppState,
    tenant: &Arc<Tenant>,
    current: &Current,
    q: &FilterQuery,
) -> Result<(AcademicYear, Vec<EnrolmentRow>, Vec<EndorsementRow>), Failure> {
    enrolments(state, tenant, current)
        .underwriting(filter(q))
        .await
}

/// The list filter of a query (the year is the one in force).
fn filter(q: &FilterQuery) -> ListFilter {
    ListFilter {
        academic_year: None,
        region: non_empty(&q.region),
        status: non_empty(&q.status),
        product: non_empty(&q.product),
    }
}

/// An enrolment as the insurer's list shows it.
#[derive(Debug, Serialize, ToSchema)]
struct EnrolmentView {
    /// The enrolment's fields.
    #[serde(flatten)]
    row: EnrolmentRow,
    /// Status, in Chinese.
    status_label: &'static str,
    /// Premium in yuan.
    premium_yuan: String,
}

impl From<EnrolmentRow> for EnrolmentView {
    fn from(row: EnrolmentRow) -> Self {
        Self {
            status_label: row.display_status().label(),
            premium_yuan: row.premium_yuan(),
            row,
        }
    }
}

struct Line {
    e: EnrolmentView,
    roster_href: String,
    received_action: String,
    received: bool,
}

struct EndorsementLine {
    d: EndorsementRow,
    premium: String,
    due: String,
    issued: bool,
    action: String,
}

#[derive(Template)]
#[template(path = "underwriting.html")]
struct ListPage {
    layout: Layout,
    csrf: CsrfToken,
    year: String,
    region: String,
    status: String,
    product: String,
    lines: Vec<Line>,
    endorsements: Vec<EndorsementLine>,
    archive_href: String,
    done: bool,
    can_receive: bool,
    /// Instead of the lists, when no year is open.
    notice: Option<&'static str>,
}

async fn show_list(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    query: Result<Query<FilterQuery>, QueryRejection>,
) -> Response {
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let result = async {
        // While no year is open the page says so instead of listing.
        let (year, rows, endorsements, notice) =
            match load_list(&state, &page.tenant, &current, &q).await {
                Ok((year, rows, endorsements)) => (year.to_string(), rows, endorsements, None),
                Err(f) if no_year_open(&f) => {
                    (String::new(), Vec::new(), Vec::new(), Some(NO_YEAR_NOTICE))
                }
                Err(f) => return Err(f),
            };
        let region = non_empty(&q.region).unwrap_or_default();
        let can_receive = state
            .auth
            .authz
            .allows(&current.viewer().roles, Permission::UNDERWRITING_RECEIVE);
        let view = ListPage {
            layout: Layout::tenant(&page, &mut session, Section::Underwriting, Some("承保数据"))
                .await?,
            csrf: session.csrf_token().await?,
            year,
            archive_href: page.href(&format!(
                "underwriting/archive.zip?region={}",
                percent_encoding::utf8_percent_encode(&region, percent_encoding::NON_ALPHANUMERIC)
            )),
            region,
            status: non_empty(&q.status).unwrap_or_default(),
            product: non_empty(&q.product).unwrap_or_default(),
            lines: rows
                .into_iter()
                .map(|r| Line {
                    roster_href: page.href(&format!("underwriting/{}/roster.xlsx", r.enrolment_id)),
                    received_action: page
                        .href(&format!("underwriting/{}/received", r.enrolment_id)),
                    received: r.status == EnrolmentStage::Underwritten,
                    e: r.into(),
                })
                .collect(),
            endorsements: endorsements
                .into_iter()
                .map(|d| EndorsementLine {
                    premium: xiaobao_domain::Fen(d.premium_change_fen).yuan_string(),
                    due: crate::web::time::cst(d.due_at),
                    issued: d.status == EndorsementStatus::Issued,
                    action: page.href(&format!(
                        "underwriting/endorsements/{}/issued",
                        d.endorsement_id
                    )),
                    d,
                })
                .collect(),
            done: q.done.is_some(),
            can_receive,
            notice,
        };
        Ok::<_, Failure>(Html(view.render().map_err(PageError::from)?).into_response())
    }
    .await;
    result.unwrap_or_else(|f| f.page(&page))
}

/// The submitted enrolments of the current year that chose the viewer's company, in its
/// subtree.
#[utoipa::path(get, path = "/api/v1/t/{slug}/underwriting", operation_id = "list_underwriting", tag = "underwriting",
    params(("slug" = String, Path, description = "租户标识"), FilterQuery),
    responses((status = 200, body = Vec<EnrolmentView>),
        (status = 403, body = crate::web::error::ErrorBody), (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_list(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
    query: Result<Query<FilterQuery>, QueryRejection>,
) -> Response {
    let q = query.map(|Query(q)| q).unwrap_or_default();
    match load_list(&state, &tenant, &current, &q).await {
        Ok((_, rows, _)) => Json(
            rows.into_iter()
                .map(EnrolmentView::from)
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(f) => f.api(),
    }
}

/// The endorsements (批单) the viewer's company owes.
#[utoipa::path(get, path = "/api/v1/t/{slug}/underwriting/endorsements", tag = "underwriting",
    params(("slug" = String, Path, description = "租户标识")),
    responses((status = 200, body = Vec<xiaobao_enrolment::underwriting::EndorsementRow>, description = "批单列表"),
        (status = 403, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_endorsements(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
) -> Response {
    let result = enrolments(&state, &tenant, &current).endorsements().await;
    match result {
        Ok(rows) => Json(rows).into_response(),
        Err(f) => f.api(),
    }
}

async fn page_roster(
    State(state): State<AppState>,
    page: PageTenant,
    current: Current,
    Path((_, id)): Path<(String, String)>,
) -> Response {
    let unmasked = may_unmask(&state, &current);
    match roster_file(&state, &page.tenant, &current, &id, unmasked).await {
        Ok(r) => r,
        Err(f) => f.page(&page),
    }
}

/// An enrolment's roster as XLSX (ID numbers in full for those allowed; audited).
#[utoipa::path(get, path = "/api/v1/t/{slug}/underwriting/{enrolment_id}/roster.xlsx", operation_id = "download_underwriting_roster",
    tag = "underwriting",
    params(("slug" = String, Path, description = "租户标识"), ("enrolment_id" = i64, Path, description = "投保记录编号")),
    responses((status = 200, description = "花名册（XLSX）", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        (status = 403, body = crate::web::error::ErrorBody), (status = 404, body = crate::web::error::ErrorBody), (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_roster(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
    Path((_slug, id)): Path<(String, String)>,
) -> Response {
    let unmasked = may_unmask(&state, &current);
    match roster_file(&state, &tenant, &current, &id, unmasked).await {
        Ok(r) => r,
        Err(f) => f.api(),
    }
}

async fn receive(
    state: &AppState,
    tenant: &Arc<Tenant>,
    current: &Current,
    id: &str,
) -> Result<EnrolmentRow, Failure> {
    let result = async {
        let enrolment_id = path_id::<EnrolmentId>(id)?;
        enrolments(state, tenant, current)
            .mark_received(enrolment_id)
            .await
    }
    .await;
    match result {
        Ok(r) => Ok(r),
        Err(f) => Err(audited(state, tenant, current, f).await),
    }
}

async fn submit_received(
    State(state): State<AppState>,
    page: PageTenant,
    current: Current,
    Path((_, id)): Path<(String, String)>,
) -> Response {
    match receive(&state, &page.tenant, &current, &id).await {
        Ok(_) => Redirect::to(&page.href("underwriting?done=received")).into_response(),
        Err(f) => f.page(&page),
    }
}

/// Marks an enrolment received (已承保).
#[utoipa::path(post, path = "/api/v1/t/{slug}/underwriting/{enrolment_id}/received",
    tag = "underwriting",
    params(("slug" = String, Path, description = "租户标识"), ("enrolment_id" = i64, Path, description = "投保记录编号")),
    responses((status = 200, body = EnrolmentView),
        (status = 403, body = crate::web::error::ErrorBody), (status = 404, body = crate::web::error::ErrorBody),
        (status = 409, body = crate::web::error::ErrorBody), (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_received(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
    Path((_slug, id)): Path<(String, String)>,
) -> Response {
    match receive(&state, &tenant, &current, &id).await {
        Ok(row) => Json(EnrolmentView::from(row)).into_response(),
        Err(f) => f.api(),
    }
}

async fn issue(
    state: &AppState,
    tenant: &Arc<Tenant>,
    current: &Current,
    id: &str,
) -> Result<(), Failure> {
    let result = async {
        let endorsement_id = path_id::<EndorsementId>(id)?;
        enrolments(state, tenant, current)
            .issue_endorsement(endorsement_id)
            .await
    }
    .await;
    match result {
        Ok(()) => Ok(()),
        Err(f) => Err(audited(state, tenant, current, f).await),
    }
}

async fn submit_issued(
    State(state): State<AppState>,
    page: PageTenant,
    current: Current,
    Path((_, id)): Path<(String, String)>,
) -> Response {
    match issue(&state, &page.tenant, &current, &id).await {
        Ok(()) => Redirect::to(&page.href("underwriting?done=issued")).into_response(),
        Err(f) => f.page(&page),
    }
}

/// An endorsement marked issued.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EndorsementIssued {
    /// The endorsement's id as given in the path.
    endorsement_id: String,
    /// Always `issued`.
    status: &'static str,
}

/// Marks an endorsement issued.
#[utoipa::path(post, path = "/api/v1/t/{slug}/underwriting/endorsements/{id}/issued",
    tag = "underwriting",
    params(("slug" = String, Path, description = "租户标识"), ("id" = i64, Path, description = "批单编号")),
    responses((status = 200, body = EndorsementIssued, description = "endorsement_id 与 status"),
        (status = 403, body = crate::web::error::ErrorBody), (status = 404, body = crate::web::error::ErrorBody),
        (status = 409, body = crate::web::error::ErrorBody), (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_issued(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    current: Current,
    Path((_slug, id)): Path<(String, String)>,
) -> Response {
    match issue(&state, &tenant, &current, &id).await {
        Ok(()) => (
            StatusCode::OK,
            Json(EndorsementIssued {
                endorsement_id: id,
                status: "issued",
            }),
        )
            .into_response(),
        Err(f) => f.api(),
    }
}

/// Every listed enrolment's roster of a region as XLSX files in one zip (each read audited),
/// streamed: one roster is read (in its own short transaction), written as XLSX and
/// compressed at a time, so memory holds one roster however many the region has.
async fn archive(
    state: &AppState,
    tenant: &Arc<Tenant>,
    current: &Current,
    q: &FilterQuery,
) -> Result<Response, Failure> {
    let unmasked = may_unmask(state, current);
    let service = enrolments(state, tenant, current);
    let (ctx, ids) = service.archive_ids(filter(q)).await?;
    let region = non_empty(&q.region).unwrap_or_else(|| current.viewer().region_code.clone());
    let name = format!("{}-{}-花名册.zip", region, ctx.year);

    // Rosters go one at a time to a thread that owns the zip writer; its output goes to the
    // response in chunks. Both channels are bounded, so a slow client slows the reading.
    let (rosters, mut roster_rx) = tokio::sync::mpsc::channel::<underwriting::RosterExport>(1);
    let (chunks, chunk_rx) =
        tokio::sync::mpsc::channel::<Result<axum::body::Bytes, std::io::Error>>(4);
    let writer_chunks = chunks.clone();
    tokio::task::spawn_blocking(move || {
        let mut zip = zip::ZipWriter::new_stream(ChunkWriter::new(writer_chunks.clone()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        let result = (|| -> Result<(), zip::result::ZipError> {
            while let Some(e) = roster_rx.blocking_recv() {
                let bytes = xiaobao_roster::roster_xlsx(e.group, &e.title, &e.rows);
                drop(e.rows);
                zip.start_file(
                    format!("{}-{}", e.enrolment.enrolment_id, e.file_name),
                    options,
                )?;
                zip.write_all(&bytes)?;
            }
            zip.finish()?.into_inner().finish()?;
            Ok(())
        })();
        if let Err(error) = result {
            tracing::error!(%error, "roster archive could not be written");
            let _ = writer_chunks.blocking_send(Err(std::io::Error::other("archive failed")));
        }
    });
    let sealer = state.sealer(tenant);
    let rules = ctx.rules;
    tokio::spawn(async move {
        for id in ids {
            match service.archive_roster(&rules, &sealer, id, unmasked).await {
                Ok(e) => {
                    if rosters.send(e).await.is_err() {
                        return; // the client went away
                    }
                }
                Err(Failure::Refused(r)) if r.code == "no_roster" => {}
                Err(Failure::Refused(r)) => {
                    tracing::warn!(problem = %r.code, "roster left out of the archive");
                }
                Err(error) => {
                    tracing::error!(?error, "roster archive could not be read");
                    let _ = chunks
                        .send(Err(std::io::Error::other("archive failed")))
                        .await;
                    return;
                }
            }
        }
    });
    let stream = futures::stream::unfold(chunk_rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut response = axum::body::Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/zip"),
    );
    headers.insert(
        axum::http::header::CONTENT_DISPOSITION,
        xiaobao_storage::content_disposition(&name),
    );
    headers.insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// A `Write` that hands its bytes to the response in chunks of [`ChunkWriter::CHUNK`].
struct ChunkWriter {
    tx: tokio::sync::mpsc::Sender<Result<axum::body::Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl ChunkWriter {
    const CHUNK: usize = 64 * 1024;

    fn new(tx: tokio::sync::mpsc::Sender<Result<axum::body::Bytes, std::io::Error>>) -> Self {
        Self {
            tx,
            buf: Vec::with_capacity(Self::CHUNK),
        }
    }

    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = axum::body::Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(Self::CHUNK),
        ));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client gone"))
    }

    /// Sends what is left.
    fn finish(mut self) -> std::io::Result<()> {
        self.send()
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= Self::CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn page_archive(
    State(state): State<AppState>,
    page: PageTenant,
    current: Current,
    query: Result<Query<FilterQuery>, QueryRejection>,
) -> Response {
    let q = query.map(|Query(q)| q).unwrap_or_default();
    match archive(&state, &page.tenant, &current, &q).await {
        Ok(r) => r,
        Err(f) => f.page(&page),
    }
}
