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

mod activate;
mod api;
mod pages;

pub(crate) use activate::*;
pub(crate) use api::*;
use pages::*;
pub(crate) use pages::{FormFor, read_multipart, render_register_for};
use utoipa_axum::routes;

use axum::body::Bytes;
use axum::routing::get;
use xiaobao_domain::Failure;
use xiaobao_domain::school::{SchoolNature, SchoolType};
use xiaobao_identity::Limit;
use xiaobao_identity::registration::{NewRegistration, RegisterProblem, Registered};
use xiaobao_identity::service::Registrations;
use xiaobao_identity::service::register::Qualification;
use xiaobao_storage::{DocumentKind, MediaType, StorageError};

use crate::AppState;
use crate::identity::anon::{client_over_limit, guest, normalise_mobile, retry_message};
use crate::identity::login::normalise_login_name;
use crate::web::auth::{ClientMeta, Routes};
use crate::web::error::PageError;

/// Registrations accepted per client address and hour (valid or not).
pub(super) const REGISTRATIONS_PER_IP_PER_HOUR: u32 = 20;
/// Activation attempts per client address and hour.
pub(super) const ACTIVATIONS_PER_IP_PER_HOUR: u32 = 30;
/// The form field of the document.
pub(super) const FILE_FIELD: &str = "qualification";
/// Longest text accepted in any field of the form before validation.
pub(super) const MAX_FIELD_CHARS: usize = 500;

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
        .open_api(routes!(api_register))
        .open_api(routes!(api_activate))
}

/// The text fields of a registration, as typed.
#[derive(Debug, Clone, Default)]
pub(crate) struct RegisterFields {
    pub(crate) name: String,
    pub(crate) region_code: String,
    pub(crate) nature: String,
    pub(crate) school_type: String,
    pub(crate) address: String,
    pub(crate) principal: String,
    pub(crate) contact_name: String,
    pub(crate) contact_mobile: String,
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
    /// A message about the submission as a whole.
    pub(crate) fn whole_form(message: String) -> Self {
        Self {
            form: Some(message),
            ..Self::default()
        }
    }

    fn any(&self) -> bool {
        self.first().is_some()
    }

    /// The first problem in form order, as `(field, message)`.
    pub(crate) fn first(&self) -> Option<(&'static str, &str)> {
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
}

/// The uploaded document.
pub(crate) struct Upload {
    file_name: String,
    bytes: Bytes,
    /// Larger than the kind allows (the rest was not read).
    too_large: bool,
}

/// A required text of at most `max` characters.
pub(super) fn required(value: &str, max: usize, missing: &str, too_long: &str) -> Option<String> {
    if value.is_empty() {
        Some(missing.to_string())
    } else if value.chars().count() > max {
        Some(too_long.to_string())
    } else {
        None
    }
}

/// Checks the text fields (not yet against the database); the typed values when all are fine.
pub(super) fn validate(
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
pub(super) fn precheck_upload(upload: Option<&Upload>) -> Option<String> {
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
pub(super) async fn over_limit(
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
/// `central` is a central school filing it on the school's behalf (增加所辖学校): the school
/// must be of its own region, and the registration records it.
pub(crate) async fn submit(
    state: &AppState,
    tenant: &std::sync::Arc<xiaobao_db::Tenant>,
    meta: &ClientMeta,
    fields: &mut RegisterFields,
    upload: Option<Upload>,
    central: Option<&xiaobao_identity::Caller>,
) -> Result<Submitted, PageError> {
    let mut errors = RegisterErrors::default();
    let typed = validate(fields, &mut errors);
    errors.qualification = precheck_upload(upload.as_ref());
    if let Some(caller) = central
        && errors.region_code.is_none()
        && fields.region_code != caller.viewer.region_code
    {
        errors.region_code = Some(RegisterProblem::OutsideCentral.to_string());
    }
    // The database checks run even when other fields are wrong, so every message shows at once.
    let registrations = Registrations::new(match central {
        Some(caller) => xiaobao_identity::Guest::of_caller(caller),
        None => guest(state, tenant, meta),
    });
    let region = errors
        .region_code
        .is_none()
        .then_some(fields.region_code.as_str());
    let clashes = registrations
        .clashes(region, &fields.name, &fields.contact_mobile)
        .await?;
    if clashes.region_invalid {
        errors.region_code = Some(RegisterProblem::RegionInvalid.to_string());
    }
    if errors.name.is_none() && clashes.name_taken {
        errors.name = Some(RegisterProblem::NameTaken.to_string());
    }
    if errors.contact_mobile.is_none() && clashes.mobile_taken {
        errors.contact_mobile = Some(RegisterProblem::MobileTaken.to_string());
    }
    let (Some((nature, school_type, mobile)), Some(upload)) = (typed, upload) else {
        return Ok(Submitted::Refused(errors));
    };
    if errors.any() {
        return Ok(Submitted::Refused(errors));
    }
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
    let qualification = Qualification {
        file_name: upload.file_name,
        bytes: upload.bytes,
    };
    let registered_by = central.map(|c| c.viewer.org_id);
    match registrations
        .register_as(&state.documents, &reg, qualification, registered_by)
        .await
    {
        Ok(registered) => Ok(Submitted::Done(registered)),
        Err(Failure::Refused(r)) => {
            let message = Some(r.message);
            match r.field.as_deref() {
                Some("name") => errors.name = message,
                Some("contact_mobile") => errors.contact_mobile = message,
                Some("region_code") => errors.region_code = message,
                _ => errors.qualification = message,
            }
            Ok(Submitted::Refused(errors))
        }
        Err(f) => Err(f.into()),
    }
}
