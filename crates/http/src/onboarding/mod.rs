//! 批量导入: the programme authority imports education departments, departments import the
//! schools of their region, from the spreadsheets of seed 004 (附件2, 附件3). A template to
//! download, an upload that reports every bad row with its line and reason, all or nothing,
//! and never a default password (each account sets its own through a one-time code).

use askama::Template;
use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use utoipa_axum::routes;
use xiaobao_authz::Permission;
use xiaobao_identity::Caller;
use xiaobao_onboarding::{Onboarding, OnboardingError, RowProblem, Sheet};

use crate::AppState;
use crate::web::auth::{Current, Routes};
use crate::web::call::caller;
use crate::web::csrf::CsrfToken;
use crate::web::error::ApiError;
use crate::web::error::{PageError, internal};
use crate::web::layout::Layout;
use crate::web::nav::Section;
use crate::web::session::WebSession;
use crate::web::tenant::{ApiTenant, PageTenant};

/// Largest spreadsheet accepted.
const MAX_FILE_BYTES: usize = 10 * 1024 * 1024;

pub fn routes() -> Routes {
    use Permission as P;
    Routes::new()
        .page(
            Method::GET,
            "/t/{slug}/onboarding/schools",
            P::ONBOARDING_IMPORT_SCHOOLS,
            show_schools,
        )
        .page(
            Method::POST,
            "/t/{slug}/onboarding/schools",
            P::ONBOARDING_IMPORT_SCHOOLS,
            upload_schools,
        )
        .page(
            Method::GET,
            "/t/{slug}/onboarding/schools/template.xlsx",
            P::ONBOARDING_IMPORT_SCHOOLS,
            school_template,
        )
        .page(
            Method::GET,
            "/t/{slug}/onboarding/departments",
            P::ONBOARDING_IMPORT_DEPARTMENTS,
            show_departments,
        )
        .page(
            Method::POST,
            "/t/{slug}/onboarding/departments",
            P::ONBOARDING_IMPORT_DEPARTMENTS,
            upload_departments,
        )
        .page(
            Method::GET,
            "/t/{slug}/onboarding/departments/template.xlsx",
            P::ONBOARDING_IMPORT_DEPARTMENTS,
            department_template,
        )
        .page(
            Method::POST,
            "/t/{slug}/onboarding/problems.xlsx",
            P::ONBOARDING_IMPORT_SCHOOLS,
            problems_download,
        )
        .api(P::ONBOARDING_IMPORT_SCHOOLS, routes!(api_import_schools))
        .api(
            P::ONBOARDING_IMPORT_DEPARTMENTS,
            routes!(api_import_departments),
        )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum What {
    Schools,
    Departments,
}

impl What {
    fn label(self) -> &'static str {
        match self {
            What::Schools => "学校",
            What::Departments => "教育部门",
        }
    }
    fn path(self) -> &'static str {
        match self {
            What::Schools => "onboarding/schools",
            What::Departments => "onboarding/departments",
        }
    }
}

fn xlsx(bytes: Vec<u8>, name: &str) -> Response {
    let disposition = format!(
        "attachment; filename=\"template.xlsx\"; filename*=UTF-8''{}",
        percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC)
    );
    let mut response = Body::from(bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

async fn school_template(_current: Current) -> Response {
    xlsx(
        xiaobao_onboarding::school_template(),
        "学校基础数据导入模板.xlsx",
    )
}

async fn department_template(_current: Current) -> Response {
    xlsx(
        xiaobao_onboarding::department_template(),
        "教育部门基础数据导入模板.xlsx",
    )
}

#[derive(Debug, Deserialize)]
struct ProblemsForm {
    problems: String,
}

/// The problems just shown, as a spreadsheet (the page posts back the list it rendered).
async fn problems_download(
    _current: Current,
    form: Result<axum::extract::Form<ProblemsForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let problems: Vec<ProblemLine> = form
        .ok()
        .and_then(|f| serde_json::from_str(&f.0.problems).ok())
        .unwrap_or_default();
    let rows: Vec<RowProblem> = problems
        .into_iter()
        .take(100_000)
        .map(|p| RowProblem {
            line: p.line,
            column: p.column,
            reason: p.reason,
        })
        .collect();
    xlsx(
        xiaobao_onboarding::problems_xlsx(&rows),
        "导入问题清单.xlsx",
    )
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct ProblemLine {
    /// The spreadsheet line (1-based); 0 for the file as a whole.
    line: u32,
    column: Option<String>,
    reason: String,
}

/// The outcome of an import, for the page and the API.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub(crate) struct ImportView {
    created: usize,
    /// `[line, name, login name]` of every organisation created.
    organisations: Vec<(u32, String, String)>,
}

enum Outcome {
    Imported(ImportView),
    Problems(Vec<ProblemLine>),
    Refused(String),
    /// Past a size or structure limit: 413.
    TooLarge(String),
}

/// The refusal of a file over [`MAX_FILE_BYTES`].
const TOO_LARGE: &str = "文件过大，最大 10 MB";

/// The file of a multipart upload (field `file`), at most [`MAX_FILE_BYTES`].
async fn read_file(request: Request) -> Result<Option<Vec<u8>>, String> {
    let boundary = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| multer::parse_boundary(ct).ok())
        .ok_or_else(|| "请以表单上传文件（multipart/form-data）".to_string())?;
    let stream = request.into_body().into_data_stream();
    let mut multipart = multer::Multipart::new(stream, boundary);
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|_| "上传内容不完整，请重新上传".to_string())?
    {
        if field.name() != Some("file") {
            continue;
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = field
            .try_next()
            .await
            .map_err(|_| "上传内容不完整，请重新上传".to_string())?
        {
            if bytes.len() + chunk.len() > MAX_FILE_BYTES {
                return Err(TOO_LARGE.into());
            }
            bytes.extend_from_slice(&chunk);
        }
        return Ok(if bytes.is_empty() { None } else { Some(bytes) });
    }
    Ok(None)
}

async fn import(caller: Caller, what: What, bytes: Vec<u8>) -> Result<Outcome, PageError> {
    // Parsing is CPU work on untrusted bytes: off the async threads, before any transaction.
    let parsed = tokio::task::spawn_blocking(move || match what {
        What::Schools => xiaobao_onboarding::parse_schools(&bytes).map(Sheet::Schools),
        What::Departments => xiaobao_onboarding::parse_departments(&bytes).map(Sheet::Departments),
    })
    .await
    .map_err(internal)?;
    let sheet = match parsed {
        Ok(p) => p,
        Err(e) => return refusal(e),
    };
    match Onboarding::new(caller).import(&sheet).await {
        Ok(report) => Ok(Outcome::Imported(ImportView {
            created: report.created.len(),
            organisations: report
                .created
                .into_iter()
                .map(|c| (c.line, c.name, c.login_name))
                .collect(),
        })),
        Err(e) => refusal(e),
    }
}

/// The outcome of a file or import refused by the onboarding service.
fn refusal(e: OnboardingError) -> Result<Outcome, PageError> {
    match e {
        OnboardingError::Invalid(problems) => Ok(Outcome::Problems(
            problems
                .into_iter()
                .map(|p| ProblemLine {
                    line: p.line,
                    column: p.column,
                    reason: p.reason,
                })
                .collect(),
        )),
        OnboardingError::TooLarge(m) => Ok(Outcome::TooLarge(m)),
        e @ (OnboardingError::Unreadable(_)
        | OnboardingError::NotPermitted(_)
        | OnboardingError::Conflict(_)) => Ok(Outcome::Refused(e.to_string())),
        e => Err(PageError::Internal(Box::new(e))),
    }
}

#[derive(Template)]
#[template(path = "onboarding.html")]
struct OnboardingPage {
    layout: Layout,
    what: &'static str,
    action: String,
    template_href: String,
    problems_action: String,
    csrf: CsrfToken,
    refused: Option<String>,
    problems: Vec<ProblemLine>,
    problems_json: String,
    imported: Option<ImportView>,
}

async fn render(
    page: &PageTenant,
    session: &mut WebSession,
    what: What,
    outcome: Option<Outcome>,
) -> Result<Html<String>, PageError> {
    let (refused, problems, imported) = match outcome {
        None => (None, Vec::new(), None),
        Some(Outcome::Refused(m) | Outcome::TooLarge(m)) => (Some(m), Vec::new(), None),
        Some(Outcome::Problems(p)) => (None, p, None),
        Some(Outcome::Imported(v)) => (None, Vec::new(), Some(v)),
    };
    let title = format!("批量导入{}", what.label());
    let view = OnboardingPage {
        layout: Layout::tenant(page, session, Section::Onboarding, Some(&title)).await?,
        what: what.label(),
        action: page.href(what.path()),
        template_href: page.href(&format!("{}/template.xlsx", what.path())),
        problems_action: page.href("onboarding/problems.xlsx"),
        csrf: session.csrf_token().await?,
        refused,
        problems_json: serde_json::to_string(&problems).unwrap_or_default(),
        problems,
        imported,
    };
    Ok(Html(view.render()?))
}

async fn show_schools(
    page: PageTenant,
    mut session: WebSession,
    _c: Current,
) -> Result<Html<String>, PageError> {
    render(&page, &mut session, What::Schools, None).await
}

async fn show_departments(
    page: PageTenant,
    mut session: WebSession,
    _c: Current,
) -> Result<Html<String>, PageError> {
    render(&page, &mut session, What::Departments, None).await
}

async fn upload(
    state: AppState,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    what: What,
    request: Request,
) -> Result<Response, PageError> {
    let outcome = match read_file(request).await {
        Err(m) if m == TOO_LARGE => Outcome::TooLarge(m),
        Err(m) => Outcome::Refused(m),
        Ok(None) => Outcome::Refused("请选择要导入的文件（.xlsx 或 .csv）".into()),
        Ok(Some(bytes)) => import(caller(&state, &page.tenant, &current), what, bytes).await?,
    };
    let status = match outcome {
        Outcome::Imported(_) => StatusCode::OK,
        Outcome::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    let html = render(&page, &mut session, what, Some(outcome)).await?;
    Ok((status, html).into_response())
}

async fn upload_schools(
    State(state): State<AppState>,
    page: PageTenant,
    session: WebSession,
    current: Current,
    request: Request,
) -> Result<Response, PageError> {
    upload(state, page, session, current, What::Schools, request).await
}

async fn upload_departments(
    State(state): State<AppState>,
    page: PageTenant,
    session: WebSession,
    current: Current,
    request: Request,
) -> Result<Response, PageError> {
    upload(state, page, session, current, What::Departments, request).await
}

/// The API's answer when a file has problems.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ProblemsBody {
    error: crate::web::error::ErrorDetail,
    problems: Vec<ProblemLine>,
}

/// The 422 answer of an import: the file's problems, or the error of input that was not a
/// file to import at all.
#[derive(utoipa::ToSchema)]
#[serde(untagged)]
#[expect(
    dead_code,
    reason = "describes the answer in the OpenAPI document only"
)]
pub(crate) enum ImportRefused {
    Problems(ProblemsBody),
    Invalid(crate::web::error::ErrorBody),
}

async fn api_import(
    state: AppState,
    tenant: ApiTenant,
    current: Current,
    what: What,
    request: Request,
) -> Response {
    let outcome = match read_file(request).await {
        Err(m) if m == TOO_LARGE => return ApiError::TooLarge(m).into_response(),
        Err(m) => return ApiError::invalid("file", m).into_response(),
        Ok(None) => return ApiError::invalid("file", "请上传文件（字段名 file）").into_response(),
        Ok(Some(bytes)) => match import(caller(&state, &tenant.0, &current), what, bytes).await {
            Ok(o) => o,
            Err(e) => return crate::web::error::page_to_api(e).into_response(),
        },
    };
    match outcome {
        Outcome::Imported(v) => (StatusCode::CREATED, Json(v)).into_response(),
        Outcome::Refused(m) => ApiError::invalid("file", m).into_response(),
        Outcome::TooLarge(m) => ApiError::TooLarge(m).into_response(),
        Outcome::Problems(problems) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(ProblemsBody {
                error: crate::web::error::ErrorDetail {
                    code: "invalid_rows".into(),
                    message: format!("导入文件有 {} 处问题，未导入任何数据", problems.len()),
                    field: Some("file".into()),
                },
                problems,
            }),
        )
            .into_response(),
    }
}

/// Imports schools from an XLSX or CSV file (multipart field `file`): all rows or none.
#[utoipa::path(post, path = "/api/v1/t/{slug}/onboarding/schools", tag = "identity",
    params(("slug" = String, Path, description = "租户标识")),
    request_body(content_type = "multipart/form-data", description = "字段 file：XLSX 或 CSV（UTF-8 / GB18030）"),
    responses((status = 201, body = ImportView), (status = 422, body = ImportRefused)))]
pub(crate) async fn api_import_schools(
    State(state): State<AppState>,
    tenant: ApiTenant,
    current: Current,
    request: Request,
) -> Response {
    api_import(state, tenant, current, What::Schools, request).await
}

/// Imports education departments from an XLSX or CSV file (multipart field `file`).
#[utoipa::path(post, path = "/api/v1/t/{slug}/onboarding/departments", tag = "identity",
    params(("slug" = String, Path, description = "租户标识")),
    request_body(content_type = "multipart/form-data", description = "字段 file：XLSX 或 CSV"),
    responses((status = 201, body = ImportView), (status = 422, body = ImportRefused)))]
pub(crate) async fn api_import_departments(
    State(state): State<AppState>,
    tenant: ApiTenant,
    current: Current,
    request: Request,
) -> Response {
    api_import(state, tenant, current, What::Departments, request).await
}
