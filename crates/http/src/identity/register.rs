//! 学校注册 (`/t/{slug}/register`): a school registers itself with its qualification document
//! (办学许可证 or 事业单位法人证书), and waits for the education department of its region.
//! No password is ever chosen here or sent: once approved, the contact receives a one-time
//! link by SMS, and 激活 (`/t/{slug}/activate?token=…`) signs them in to set the first password.
//!
//! The form is `multipart/form-data`; the API takes JSON with the document inline in base64
//! (`POST /api/v1/t/{slug}/registrations`), and `POST /api/v1/t/{slug}/activation` exchanges a
//! link token for a session.
//!
//! Activation shows a page with one button first and uses the token up only on that POST: link
//! previews of messaging apps fetch the URL, and must not use the link up.

use askama::Template;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{FormRejection, JsonRejection, QueryRejection};
use axum::extract::{Form, FromRequest, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use xiaobao_domain::school::{SchoolNature, SchoolType};
use xiaobao_identity::registration::{self, NewRegistration, RegisterProblem, Registered};
use xiaobao_identity::{CodeError, CodePurpose, Limit, accounts};
use xiaobao_storage::{DocumentKind, DocumentMeta, MediaType, StorageError};

use crate::AppState;
use crate::identity::anon::{
    client_over_limit, normalise_mobile, retry_message, too_many, visitor,
};
use crate::identity::login::normalise_login_name;
use crate::web::auth::{ClientMeta, Routes};
use crate::web::csrf::CsrfToken;
use crate::web::error::ApiError;
use crate::web::error::{PageError, internal};
use crate::web::layout::Layout;
use crate::web::nav::Section;
use crate::web::session::{SignedIn, WebSession};
use crate::web::tenant::{ApiTenant, PageTenant};

/// Registrations accepted per client address and hour (valid or not).
const REGISTRATIONS_PER_IP_PER_HOUR: u32 = 20;
/// Activation attempts per client address and hour.
const ACTIVATIONS_PER_IP_PER_HOUR: u32 = 30;
/// The form field of the document.
const FILE_FIELD: &str = "qualification";
/// Longest text accepted in any field of the form before validation.
const MAX_FIELD_CHARS: usize = 500;

pub fn routes() -> Routes {
    Routes::new()
        .open(
            "/t/{slug}/register",
            get(show_register).post(submit_register),
        )
        .open(
            "/t/{slug}/activate",
            get(show_activate).post(submit_activate),
        )
        .open(
            "/api/v1/t/{slug}/registrations",
            axum::routing::post(api_register),
        )
        .open(
            "/api/v1/t/{slug}/activation",
            axum::routing::post(api_activate),
        )
}

/// The text fields of a registration, as typed.
#[derive(Debug, Clone, Default)]
pub(crate) struct RegisterFields {
    name: String,
    region_code: String,
    nature: String,
    school_type: String,
    address: String,
    principal: String,
    contact_name: String,
    contact_mobile: String,
}

/// A message per field (Chinese), and one for the whole form.
#[derive(Debug, Default)]
pub(crate) struct RegisterErrors {
    form: Option<String>,
    name: Option<String>,
    region_code: Option<String>,
    nature: Option<String>,
    school_type: Option<String>,
    address: Option<String>,
    principal: Option<String>,
    contact_name: Option<String>,
    contact_mobile: Option<String>,
    qualification: Option<String>,
}

impl RegisterErrors {
    fn any(&self) -> bool {
        self.first().is_some()
    }

    /// The first problem in form order, as `(field, message)`.
    fn first(&self) -> Option<(&'static str, &str)> {
        [
            ("form", &self.form),
            ("name", &self.name),
            ("region_code", &self.region_code),
            ("nature", &self.nature),
            ("school_type", &self.school_type),
            ("address", &self.address),
            ("principal", &self.principal),
            ("contact_name", &self.contact_name),
            ("contact_mobile", &self.contact_mobile),
            ("qualification", &self.qualification),
        ]
        .into_iter()
        .find_map(|(f, m)| m.as_deref().map(|m| (f, m)))
    }

    fn set(&mut self, problem: &RegisterProblem) {
        let message = Some(problem.to_string());
        match problem.field() {
            "name" => self.name = message,
            "contact_mobile" => self.contact_mobile = message,
            _ => self.region_code = message,
        }
    }
}

/// The uploaded document.
pub(crate) struct Upload {
    file_name: String,
    bytes: Bytes,
    /// Larger than the kind allows (the rest was not read).
    too_large: bool,
}

/// A required text of at most `max` characters.
fn required(value: &str, max: usize, missing: &str, too_long: &str) -> Option<String> {
    if value.is_empty() {
        Some(missing.to_string())
    } else if value.chars().count() > max {
        Some(too_long.to_string())
    } else {
        None
    }
}

/// Checks the text fields (not yet against the database); the typed values when all are fine.
fn validate(
    f: &mut RegisterFields,
    errors: &mut RegisterErrors,
) -> Option<(SchoolNature, SchoolType, String)> {
    f.name = normalise_login_name(&f.name);
    for v in [
        &mut f.region_code,
        &mut f.nature,
        &mut f.school_type,
        &mut f.address,
        &mut f.principal,
        &mut f.contact_name,
        &mut f.contact_mobile,
    ] {
        *v = v.trim().to_string();
    }
    errors.name = if f.name.is_empty() {
        Some("请输入学校全称".into())
    } else if f.name.chars().count() < 4 {
        Some("学校全称至少 4 个字，请按办学许可证或事业单位法人证书上的全称填写".into())
    } else if f.name.chars().count() > 100 {
        Some("学校全称最多 100 个字".into())
    } else if f.name.chars().all(|c| c.is_ascii_digit()) {
        Some("学校全称不能是数字或手机号".into())
    } else {
        None
    };
    let region_ok = f.region_code.len() == 6 && f.region_code.bytes().all(|b| b.is_ascii_digit());
    errors.region_code = if f.region_code.is_empty() {
        Some("请选择所在县（市、区）".into())
    } else if !region_ok {
        Some(RegisterProblem::RegionInvalid.to_string())
    } else {
        None
    };
    let nature = f.nature.parse::<SchoolNature>().ok();
    if nature.is_none() {
        errors.nature = Some("请选择学校性质（公办或民办）".into());
    }
    let school_type = f.school_type.parse::<SchoolType>().ok();
    if school_type.is_none() {
        errors.school_type = Some("请选择学校类型".into());
    }
    errors.address = required(&f.address, 200, "请输入学校地址", "学校地址最多 200 个字");
    errors.principal = required(
        &f.principal,
        50,
        "请输入校长（园长）姓名",
        "校长（园长）姓名最多 50 个字",
    );
    errors.contact_name = required(
        &f.contact_name,
        50,
        "请输入联系人（明白人）姓名",
        "联系人姓名最多 50 个字",
    );
    let mobile = normalise_mobile(&f.contact_mobile);
    errors.contact_mobile = if f.contact_mobile.is_empty() {
        Some("请输入联系人手机号".into())
    } else if mobile.is_none() {
        Some("手机号格式不正确，请输入 11 位手机号码".into())
    } else {
        None
    };
    if let Some(m) = &mobile {
        f.contact_mobile = m.clone();
    }
    match (nature, school_type, mobile) {
        (Some(n), Some(t), Some(m)) if !errors.any() => Some((n, t, m)),
        _ => None,
    }
}

/// The first check of a document, before its bytes are stored: present, named with a type
/// the kind accepts, not too large.
fn precheck_upload(upload: Option<&Upload>) -> Option<String> {
    let kind = DocumentKind::Qualification;
    let Some(up) = upload.filter(|u| !u.file_name.is_empty() || !u.bytes.is_empty()) else {
        return Some("请上传办学许可证或事业单位法人证书（PDF、JPG 或 PNG 文件）".into());
    };
    if up.too_large {
        return Some(
            StorageError::TooLarge {
                kind,
                limit_bytes: kind.limits().max_bytes,
            }
            .to_string(),
        );
    }
    let allowed = MediaType::from_file_name(&up.file_name)
        .is_some_and(|m| kind.limits().allowed.contains(&m));
    if !allowed {
        return Some(format!(
            "{kind}只接受{}，请上传证书的扫描件或照片",
            kind.allowed_zh()
        ));
    }
    if up.bytes.is_empty() {
        return Some(StorageError::Empty.to_string());
    }
    None
}

/// Counts one registration of this client: `Some(message)` when it is over the limit. Called
/// before the body is read, so a refused client costs no decoding.
async fn over_limit(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    meta: &ClientMeta,
) -> Result<Option<String>, PageError> {
    let limit = Limit {
        max: REGISTRATIONS_PER_IP_PER_HOUR,
        window_secs: 3600,
    };
    Ok(
        client_over_limit(state, "register", &tenant.slug, meta, limit)
            .await?
            .map(|secs| retry_message("提交", secs)),
    )
}

/// What a registration submission led to.
pub(crate) enum Submitted {
    Done(Registered),
    Refused(RegisterErrors),
}

/// Validates and records a registration (shared by the form and the API): the organisation
/// `pending`, its account without a password, the document, all audited in one transaction.
async fn submit(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    meta: &ClientMeta,
    fields: &mut RegisterFields,
    upload: Option<Upload>,
) -> Result<Submitted, PageError> {
    let mut errors = RegisterErrors::default();
    let typed = validate(fields, &mut errors);
    errors.qualification = precheck_upload(upload.as_ref());
    // The database checks run even when other fields are wrong, so every message shows at once.
    {
        let mut tx = state.db.tenant_tx(tenant).await?;
        if errors.region_code.is_none() {
            let ok: bool = sqlx::query_scalar(
                "select exists (select 1 from regions where region_code = $1 \
                 and level in ('county', 'direct'))",
            )
            .bind(&fields.region_code)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| PageError::Internal(Box::new(e)))?;
            if !ok {
                errors.region_code = Some(RegisterProblem::RegionInvalid.to_string());
            }
        }
        let (name_taken, mobile_taken) =
            registration::taken(&mut tx, &fields.name, &fields.contact_mobile)
                .await
                .map_err(internal)?;
        if errors.name.is_none() && name_taken {
            errors.name = Some(RegisterProblem::NameTaken.to_string());
        }
        if errors.contact_mobile.is_none() && mobile_taken {
            errors.contact_mobile = Some(RegisterProblem::MobileTaken.to_string());
        }
        tx.commit().await?;
    }
    let (Some((nature, school_type, mobile)), Some(upload)) = (typed, upload) else {
        return Ok(Submitted::Refused(errors));
    };
    if errors.any() {
        return Ok(Submitted::Refused(errors));
    }
    let kind = DocumentKind::Qualification;
    let body =
        futures::stream::once(async move { Ok::<_, std::convert::Infallible>(upload.bytes) });
    let stored = match state
        .documents
        .put_stream(tenant.tenant_id, kind, &upload.file_name, body)
        .await
    {
        Ok(stored) => stored,
        Err(e) if user_caused(&e) => {
            errors.qualification = Some(e.to_string());
            return Ok(Submitted::Refused(errors));
        }
        Err(e) => return Err(PageError::Internal(Box::new(e))),
    };
    let reg = NewRegistration {
        name: fields.name.clone(),
        region_code: fields.region_code.clone(),
        nature,
        school_type,
        address: fields.address.clone(),
        principal: fields.principal.clone(),
        contact_name: fields.contact_name.clone(),
        contact_mobile: mobile,
    };
    let actor = visitor(meta);
    let mut tx = state.db.tenant_tx(tenant).await?;
    let registered = match registration::register(&mut tx, &actor, &reg)
        .await
        .map_err(internal)?
    {
        Ok(r) => r,
        Err(problem) => {
            errors.set(&problem);
            return Ok(Submitted::Refused(errors));
        }
    };
    let document = state
        .documents
        .record(
            &mut tx,
            tenant,
            &stored,
            &DocumentMeta {
                kind,
                owner_kind: "organisation".into(),
                owner_id: registered.org_id.to_string(),
                uploaded_by: format!("registration:{}", registered.org_id),
            },
        )
        .await
        .map_err(|e| PageError::Internal(Box::new(e)))?;
    registration::attach_qualification(&mut tx, registered.org_id, document.document_id)
        .await
        .map_err(internal)?;
    tx.commit().await?;
    tracing::info!(tenant.slug = %tenant.slug, org.id = registered.org_id, "school registered");
    Ok(Submitted::Done(registered))
}

/// Upload failures the visitor can fix (size, type, empty, interrupted).
fn user_caused(e: &StorageError) -> bool {
    matches!(
        e,
        StorageError::TooLarge { .. }
            | StorageError::Empty
            | StorageError::TypeNotAllowed { .. }
            | StorageError::LegacyFormat { .. }
            | StorageError::ContentMismatch { .. }
            | StorageError::BodyRead(_)
    )
}

struct Choice {
    value: String,
    label: String,
    selected: bool,
}

struct RegionGroup {
    label: String,
    options: Vec<Choice>,
}

#[derive(Template)]
#[template(path = "register.html")]
struct RegisterPage {
    layout: Layout,
    action: String,
    login_href: String,
    csrf: CsrfToken,
    f: RegisterFields,
    errors: RegisterErrors,
    regions: Vec<RegionGroup>,
    natures: Vec<Choice>,
    types: Vec<Choice>,
}

async fn render_register(
    state: &AppState,
    page: &PageTenant,
    session: &mut WebSession,
    f: RegisterFields,
    errors: RegisterErrors,
) -> Result<Html<String>, PageError> {
    let mut tx = state.db.tenant_tx(&page.tenant).await?;
    let rows = registration::regions(&mut tx).await.map_err(internal)?;
    tx.commit().await?;
    let mut regions: Vec<RegionGroup> = Vec::new();
    for r in rows {
        let choice = Choice {
            selected: r.region_code == f.region_code,
            value: r.region_code,
            label: r.name,
        };
        match regions.last_mut() {
            Some(g) if g.label == r.parent_name => g.options.push(choice),
            _ => regions.push(RegionGroup {
                label: r.parent_name,
                options: vec![choice],
            }),
        }
    }
    let natures = SchoolNature::ALL
        .iter()
        .map(|n| Choice {
            value: n.code().into(),
            label: n.label().into(),
            selected: f.nature.parse::<SchoolNature>().ok() == Some(*n),
        })
        .collect();
    let types = SchoolType::ALL
        .iter()
        .map(|t| Choice {
            value: t.code().into(),
            label: t.label().into(),
            selected: f.school_type.parse::<SchoolType>().ok() == Some(*t),
        })
        .collect();
    let view = RegisterPage {
        layout: Layout::tenant(page, session, Section::Login, Some("学校注册")).await?,
        action: page.href("register"),
        login_href: page.href("login"),
        csrf: session.csrf_token().await?,
        f,
        errors,
        regions,
        natures,
        types,
    };
    Ok(Html(view.render()?))
}

async fn show_register(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
) -> Result<Html<String>, PageError> {
    render_register(
        &state,
        &page,
        &mut session,
        RegisterFields::default(),
        RegisterErrors::default(),
    )
    .await
}

#[derive(Template)]
#[template(path = "register_done.html")]
struct RegisterDonePage {
    layout: Layout,
    school_name: String,
    reviewer: String,
    masked_mobile: String,
    login_href: String,
}

/// Reads the multipart form: the text fields and the document (at most the kind's size limit
/// plus one byte is kept, to tell "too large").
async fn read_multipart(request: Request) -> Result<(RegisterFields, Option<Upload>), String> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let boundary =
        multer::parse_boundary(&content_type).map_err(|_| "请通过注册页面提交表单".to_string())?;
    let stream = request.into_body().into_data_stream();
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut f = RegisterFields::default();
    let mut upload = None;
    let limit = DocumentKind::Qualification.limits().max_bytes;
    let broken = |_| "上传中断，请重新提交".to_string();
    while let Some(mut field) = multipart.next_field().await.map_err(broken)? {
        let name = field.name().unwrap_or("").to_string();
        if name == FILE_FIELD {
            let file_name = field.file_name().unwrap_or("").to_string();
            let mut bytes: Vec<u8> = Vec::new();
            let mut too_large = false;
            while let Some(chunk) = field.chunk().await.map_err(broken)? {
                if too_large {
                    continue;
                }
                if (bytes.len() + chunk.len()) as u64 > limit {
                    too_large = true;
                    bytes.clear();
                } else {
                    bytes.extend_from_slice(&chunk);
                }
            }
            upload = Some(Upload {
                file_name,
                bytes: Bytes::from(bytes),
                too_large,
            });
            continue;
        }
        let text: String = field
            .text()
            .await
            .map_err(broken)?
            .chars()
            .take(MAX_FIELD_CHARS)
            .collect();
        match name.as_str() {
            "name" => f.name = text,
            "region_code" => f.region_code = text,
            "nature" => f.nature = text,
            "school_type" => f.school_type = text,
            "address" => f.address = text,
            "principal" => f.principal = text,
            "contact_name" => f.contact_name = text,
            "contact_mobile" => f.contact_mobile = text,
            _ => {}
        }
    }
    Ok((f, upload))
}

/// The empty form again with a message about the submission as a whole.
async fn form_refused(
    state: &AppState,
    page: &PageTenant,
    session: &mut WebSession,
    status: StatusCode,
    message: String,
) -> Result<Response, PageError> {
    let errors = RegisterErrors {
        form: Some(message),
        ..RegisterErrors::default()
    };
    let html = render_register(state, page, session, RegisterFields::default(), errors).await?;
    Ok((status, html).into_response())
}

async fn submit_register(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    meta: ClientMeta,
    request: Request,
) -> Result<Response, PageError> {
    if let Some(message) = over_limit(&state, &page.tenant, &meta).await? {
        return form_refused(
            &state,
            &page,
            &mut session,
            StatusCode::TOO_MANY_REQUESTS,
            message,
        )
        .await;
    }
    let (mut fields, upload) = match read_multipart(request).await {
        Ok(read) => read,
        Err(message) => {
            return form_refused(
                &state,
                &page,
                &mut session,
                StatusCode::BAD_REQUEST,
                message,
            )
            .await;
        }
    };
    match submit(&state, &page.tenant, &meta, &mut fields, upload).await? {
        Submitted::Done(done) => {
            let view = RegisterDonePage {
                layout: Layout::tenant(&page, &mut session, Section::Login, Some("注册申请已提交"))
                    .await?,
                school_name: fields.name.clone(),
                reviewer: done.reviewer,
                masked_mobile: xiaobao_audit::mask_phone(&fields.contact_mobile),
                login_href: page.href("login"),
            };
            Ok((StatusCode::CREATED, Html(view.render()?)).into_response())
        }
        Submitted::Refused(errors) => {
            let html = render_register(&state, &page, &mut session, fields, errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
    }
}

/// A registration through the API. `nature` is `public`/`private` (or 公办/民办), `school_type`
/// a code of the school types (or its Chinese label), `region_code` a county-level region or
/// a 市直 bucket of the programme.
#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub(crate) struct ApiRegistration {
    /// The full name on the licence; it becomes the login name.
    name: String,
    region_code: String,
    nature: String,
    school_type: String,
    address: String,
    principal: String,
    /// The contact person (明白人).
    contact_name: String,
    /// The contact's mobile: receives the set-password link once approved.
    contact_mobile: String,
    qualification: Option<ApiFile>,
}

/// A document sent inline.
#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub(crate) struct ApiFile {
    /// With its extension: `.pdf`, `.jpg`/`.jpeg` or `.png`.
    file_name: String,
    /// The file's bytes, standard base64 (at most 10 MB before encoding).
    content_base64: String,
}

/// A recorded registration.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct RegistrationReceipt {
    org_id: i64,
    /// Always `pending`.
    status: &'static str,
    /// The department that decides.
    reviewer: String,
    message: String,
}

/// Registers a school (anonymous). Every field is required; the first problem is answered with
/// its field. Rate-limited per client.
#[utoipa::path(post, path = "/api/v1/t/{slug}/registrations", tag = "identity",
    params(("slug" = String, Path, description = "租户标识")),
    request_body = ApiRegistration,
    responses(
        (status = 201, description = "已提交，等待教育部门审核", body = RegistrationReceipt),
        (status = 422, description = "某项填写有误（field 指出哪一项）", body = crate::web::error::ErrorBody),
        (status = 429, description = "提交过于频繁", body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_register(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    meta: ClientMeta,
    request: Request,
) -> Result<Response, ApiError> {
    if let Some(message) = over_limit(&state, &tenant, &meta)
        .await
        .map_err(crate::web::error::page_to_api)?
    {
        return Err(too_many(message));
    }
    let body: Result<Json<ApiRegistration>, JsonRejection> =
        Json::from_request(request, &state).await;
    let Json(body) = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge("请求内容过大：资质文件最大 10 MB".into())
        } else {
            ApiError::InvalidInput {
                field: None,
                message: format!("请求体不是有效的 JSON：{}", e.body_text()),
            }
        }
    })?;
    let upload = match body.qualification {
        Some(file) => {
            let bytes = STANDARD
                .decode(file.content_base64.trim())
                .map_err(|_| ApiError::invalid("qualification", "文件内容不是有效的 base64"))?;
            let too_large = bytes.len() as u64 > DocumentKind::Qualification.limits().max_bytes;
            Some(Upload {
                file_name: file.file_name,
                bytes: if too_large {
                    Bytes::new()
                } else {
                    Bytes::from(bytes)
                },
                too_large,
            })
        }
        None => None,
    };
    let mut fields = RegisterFields {
        name: body.name,
        region_code: body.region_code,
        nature: body.nature,
        school_type: body.school_type,
        address: body.address,
        principal: body.principal,
        contact_name: body.contact_name,
        contact_mobile: body.contact_mobile,
    };
    match submit(&state, &tenant, &meta, &mut fields, upload)
        .await
        .map_err(crate::web::error::page_to_api)?
    {
        Submitted::Done(done) => Ok((
            StatusCode::CREATED,
            Json(RegistrationReceipt {
                org_id: done.org_id,
                status: "pending",
                message: format!("已提交，等待 {} 审核", done.reviewer),
                reviewer: done.reviewer,
            }),
        )
            .into_response()),
        Submitted::Refused(errors) => {
            let (field, message) = errors.first().unwrap_or(("form", "填写有误"));
            Err(ApiError::invalid(field, message))
        }
    }
}

#[derive(Debug, Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

#[derive(Template)]
#[template(path = "activate.html")]
struct ActivatePage {
    layout: Layout,
    action: String,
    csrf: CsrfToken,
    token: String,
    school_name: String,
}

/// The answer to a link that cannot be used.
fn link_unusable(page: &PageTenant) -> Response {
    crate::web::error::error_page(
        StatusCode::GONE,
        "链接无效或已过期",
        "设置密码的链接只能使用一次，且须在有效期内使用。如链接已失效，请在登录页点击“忘记密码”，\
         通过注册手机号接收验证码重新设置密码。",
        Some(&(page.tenant.clone(), page.base.clone())),
    )
}

/// The activation page: the link is checked, not used up, and one button signs in.
async fn show_activate(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    query: Result<Query<TokenQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let token = query.ok().and_then(|Query(q)| q.token).unwrap_or_default();
    if token.is_empty() || token.len() > 200 {
        return Ok(link_unusable(&page));
    }
    let mut tx = state.db.tenant_tx(&page.tenant).await?;
    let account = match state
        .auth
        .codes
        .link_account(&mut tx, CodePurpose::SetPassword, &token)
        .await
        .map_err(internal)?
    {
        Some(id) => accounts::get(&mut tx, id).await.map_err(internal)?,
        None => None,
    };
    tx.commit().await?;
    let Some(account) = account.filter(|a| a.status == "active" && a.org_status == "active") else {
        return Ok(link_unusable(&page));
    };
    let view = ActivatePage {
        layout: Layout::tenant(&page, &mut session, Section::Login, Some("设置登录密码")).await?,
        action: page.href("activate"),
        csrf: session.csrf_token().await?,
        token,
        school_name: account.org_name,
    };
    Ok(Html(view.render()?).into_response())
}

/// Why an activation failed.
enum Activation {
    SignedIn(SignedIn),
    Unusable,
    Limited(String),
}

/// Uses a set-password link up and signs its account in, with the password to be set first;
/// audited as `account.activated`.
async fn activate(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    meta: &ClientMeta,
    token: &str,
) -> Result<Activation, PageError> {
    let limit = Limit {
        max: ACTIVATIONS_PER_IP_PER_HOUR,
        window_secs: 3600,
    };
    if let Some(secs) = client_over_limit(state, "activate", &tenant.slug, meta, limit).await? {
        return Ok(Activation::Limited(retry_message("尝试", secs)));
    }
    if token.is_empty() || token.len() > 200 {
        return Ok(Activation::Unusable);
    }
    let mut tx = state.db.tenant_tx(tenant).await?;
    let account_id = match state
        .auth
        .codes
        .consume_link_token(&mut tx, CodePurpose::SetPassword, token)
        .await
    {
        Ok(id) => id,
        Err(CodeError::Internal(e)) => return Err(internal(e)),
        Err(_) => {
            // A wrong secret counts towards the link's attempts.
            tx.commit().await?;
            return Ok(Activation::Unusable);
        }
    };
    let Some(account) = accounts::get(&mut tx, account_id)
        .await
        .map_err(internal)?
        .filter(|a| a.status == "active" && a.org_status == "active")
    else {
        return Ok(Activation::Unusable);
    };
    let roles = accounts::roles(&mut tx, account_id)
        .await
        .map_err(internal)?;
    let actor = xiaobao_audit::Actor {
        account_id: Some(account.account_id),
        org_id: Some(account.org_id),
        label: format!("account:{} {}", account.account_id, account.display_name),
        ..visitor(meta)
    };
    xiaobao_audit::record(
        &mut tx,
        &actor,
        xiaobao_audit::Entry::new("account.activated", "account", Some(account_id))
            .detail("had_password", account.password_hash.is_some()),
    )
    .await
    .map_err(|e| PageError::Internal(Box::new(e)))?;
    tx.commit().await?;
    let user = crate::identity::login::signed_in(&xiaobao_identity::Authenticated {
        account,
        roles,
        must_change_password: true,
        password_expires_at: None,
    });
    Ok(Activation::SignedIn(user))
}

#[derive(Debug, Default, Deserialize)]
struct ActivateForm {
    token: Option<String>,
}

async fn submit_activate(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    meta: ClientMeta,
    form: Result<Form<ActivateForm>, FormRejection>,
) -> Result<Response, PageError> {
    let token = form.ok().and_then(|Form(f)| f.token).unwrap_or_default();
    match activate(&state, &page.tenant, &meta, &token).await? {
        Activation::SignedIn(user) => {
            session.sign_in(user).await?;
            Ok(Redirect::to(&page.href("account/password")).into_response())
        }
        Activation::Unusable => Ok(link_unusable(&page)),
        Activation::Limited(message) => Ok(crate::web::error::error_page(
            StatusCode::TOO_MANY_REQUESTS,
            "操作过于频繁",
            &message,
            Some(&(page.tenant.clone(), page.base.clone())),
        )),
    }
}

/// The token of a set-password link (the `token` parameter of the link in the SMS).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct ApiActivation {
    token: String,
}

/// A session made by an activation: the password must be set first
/// (`POST /api/v1/t/{slug}/me/password` with `new_password` only).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ActivationSession {
    account_id: i64,
    display_name: String,
    roles: Vec<String>,
    must_change_password: bool,
    /// Send as `X-CSRF-Token` with the session cookie on every unsafe call.
    csrf_token: String,
}

/// Uses a set-password link up and signs its account in (first login after approval).
#[utoipa::path(post, path = "/api/v1/t/{slug}/activation", tag = "identity",
    params(("slug" = String, Path, description = "租户标识")),
    request_body = ApiActivation,
    responses(
        (status = 200, description = "已登录，须先设置密码；Set-Cookie 带会话", body = ActivationSession),
        (status = 404, description = "链接无效、已使用或已过期", body = crate::web::error::ErrorBody),
        (status = 429, description = "尝试过于频繁", body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_activate(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    mut session: WebSession,
    meta: ClientMeta,
    body: Result<Json<ApiActivation>, JsonRejection>,
) -> Result<Json<ActivationSession>, ApiError> {
    let Json(body) = body.map_err(|e| crate::web::error::bad_json(&e))?;
    match activate(&state, &tenant, &meta, body.token.trim())
        .await
        .map_err(crate::web::error::page_to_api)?
    {
        Activation::SignedIn(user) => {
            let view = ActivationSession {
                account_id: user.viewer.account_id,
                display_name: user.display_name.clone(),
                roles: user
                    .viewer
                    .roles
                    .iter()
                    .map(|r| r.as_str().to_string())
                    .collect(),
                must_change_password: true,
                csrf_token: String::new(),
            };
            session
                .sign_in(user)
                .await
                .map_err(crate::web::error::page_to_api)?;
            Ok(Json(ActivationSession {
                csrf_token: session.current_csrf().unwrap_or_default(),
                ..view
            }))
        }
        Activation::Unusable => Err(ApiError::NotFound("链接无效、已使用或已过期".into())),
        Activation::Limited(message) => Err(too_many(message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_has_its_own_message() {
        let mut f = RegisterFields {
            name: "小学".into(),
            region_code: "41x".into(),
            nature: "公立".into(),
            school_type: "大学".into(),
            address: String::new(),
            principal: "张".repeat(51),
            contact_name: String::new(),
            contact_mobile: "1234".into(),
        };
        let mut e = RegisterErrors::default();
        assert!(validate(&mut f, &mut e).is_none());
        assert!(e.name.as_deref().is_some_and(|m| m.contains("至少 4 个字")));
        assert!(e.region_code.is_some());
        assert!(e.nature.is_some() && e.school_type.is_some());
        assert_eq!(e.address.as_deref(), Some("请输入学校地址"));
        assert_eq!(e.principal.as_deref(), Some("校长（园长）姓名最多 50 个字"));
        assert_eq!(
            e.contact_name.as_deref(),
            Some("请输入联系人（明白人）姓名")
        );
        assert!(
            e.contact_mobile
                .as_deref()
                .is_some_and(|m| m.contains("格式"))
        );
        assert_eq!(e.first().map(|(f, _)| f), Some("name"));
    }

    #[test]
    fn a_complete_form_is_typed() {
        let mut f = RegisterFields {
            name: " 郑州市金水区测试小学 ".into(),
            region_code: "410105".into(),
            nature: "公办".into(),
            school_type: "primary".into(),
            address: "金水路 1 号".into(),
            principal: "张校长".into(),
            contact_name: "李老师".into(),
            contact_mobile: "138 1234 5678".into(),
        };
        let mut e = RegisterErrors::default();
        let typed = validate(&mut f, &mut e);
        assert!(!e.any(), "{e:?}");
        assert_eq!(
            typed,
            Some((
                SchoolNature::Public,
                SchoolType::Primary,
                "13812345678".to_string()
            ))
        );
        assert_eq!(f.name, "郑州市金水区测试小学");
    }
}
