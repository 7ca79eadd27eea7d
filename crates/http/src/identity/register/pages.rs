//! The registration page and its form.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use xiaobao_domain::school::{SchoolNature, SchoolType};
use xiaobao_identity::registration::RegistrationRegion;
use xiaobao_identity::service::Registrations;
use xiaobao_storage::DocumentKind;

use crate::AppState;
use crate::web::auth::ClientMeta;
use crate::web::csrf::CsrfToken;
use crate::web::error::PageError;
use crate::web::layout::Layout;
use crate::web::nav::Section;
use crate::web::session::WebSession;
use crate::web::tenant::PageTenant;

use super::*;

pub(super) struct Choice {
    pub(super) value: String,
    pub(super) label: String,
    pub(super) selected: bool,
}

pub(super) struct RegionGroup {
    pub(super) label: String,
    pub(super) options: Vec<Choice>,
}

#[derive(Template)]
#[template(path = "register.html")]
pub(super) struct RegisterPage {
    pub(super) layout: Layout,
    pub(super) action: String,
    pub(super) login_href: String,
    pub(super) csrf: CsrfToken,
    pub(super) f: RegisterFields,
    pub(super) errors: RegisterErrors,
    pub(super) regions: Vec<RegionGroup>,
    pub(super) natures: Vec<Choice>,
    pub(super) types: Vec<Choice>,
    /// A central school registering a school of its county (增加所辖学校).
    pub(super) central: bool,
}

/// Who fills the registration form.
pub(crate) enum FormFor<'a> {
    /// A visitor registering its own school.
    Visitor,
    /// A central school on a school's behalf: only its own region is offered.
    Central {
        region_code: &'a str,
        action: String,
        back_href: String,
    },
}

/// The regions a school registers in (a read: no one is recorded as asking).
async fn registration_regions(
    state: &AppState,
    page: &PageTenant,
) -> Result<Vec<RegistrationRegion>, PageError> {
    let reader = guest(state, &page.tenant, &ClientMeta::default());
    Ok(Registrations::new(reader).regions().await?)
}

pub(super) async fn render_register(
    state: &AppState,
    page: &PageTenant,
    session: &mut WebSession,
    f: RegisterFields,
    errors: RegisterErrors,
) -> Result<Html<String>, PageError> {
    render_register_for(state, page, session, f, errors, FormFor::Visitor).await
}

/// The registration form for a visitor or a central school.
pub(crate) async fn render_register_for(
    state: &AppState,
    page: &PageTenant,
    session: &mut WebSession,
    f: RegisterFields,
    errors: RegisterErrors,
    who: FormFor<'_>,
) -> Result<Html<String>, PageError> {
    let mut rows = registration_regions(state, page).await?;
    if let FormFor::Central { region_code, .. } = &who {
        rows.retain(|r| r.region_code == *region_code);
    }
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
    let (section, title, action, login_href, central) = match who {
        FormFor::Visitor => (
            Section::Login,
            "学校注册",
            page.href("register"),
            page.href("login"),
            false,
        ),
        FormFor::Central {
            action, back_href, ..
        } => (
            Section::AssignedSchools,
            "增加所辖学校",
            action,
            back_href,
            true,
        ),
    };
    let view = RegisterPage {
        layout: Layout::tenant(page, session, section, Some(title)).await?,
        action,
        login_href,
        central,
        csrf: session.csrf_token().await?,
        f,
        errors,
        regions,
        natures,
        types,
    };
    Ok(Html(view.render()?))
}

pub(super) async fn show_register(
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
pub(super) struct RegisterDonePage {
    pub(super) layout: Layout,
    pub(super) school_name: String,
    pub(super) reviewer: String,
    pub(super) masked_mobile: String,
    pub(super) login_href: String,
}

/// Reads the multipart form: the text fields and the document (at most the kind's size limit
/// plus one byte is kept, to tell "too large").
pub(crate) async fn read_multipart(
    request: Request,
) -> Result<(RegisterFields, Option<Upload>), String> {
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
pub(super) async fn form_refused(
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

pub(super) async fn submit_register(
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
    match submit(&state, &page.tenant, &meta, &mut fields, upload, None).await? {
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
