//! What a central school does for the schools of its county (seed 001, 二、中心校操作):
//!
//! - 增加所辖学校 (`ASSIGNED_SCHOOLS_REGISTER`): the school registration form — the same
//!   fields, document and checks as 学校注册 — for a school of the central school's own
//!   county-level region (`/t/{slug}/assigned-schools/new`, posted to
//!   `/t/{slug}/assigned-schools`). The registration records the central school, waits in the
//!   department's 注册审核 like any other, and on approval the school is assigned to it.
//! - From 查看 of an assigned school (`ASSIGNED_SCHOOLS_MANAGE`): its contact mobile
//!   (`/t/{slug}/assigned-schools/{id}/contact-mobile`), recorded as done on the school's
//!   behalf, the old and new numbers told by SMS. The deregistration request (merger or
//!   closure only) is the change-request form on the same page (`change_requests`).
//!
//! A school that is not assigned to the caller (its own included) answers 404 and the attempt
//! is audited (`access.out_of_scope`).
//!
//! API: `POST /api/v1/t/{slug}/assigned-schools` (the registration JSON of
//! `POST …/registrations`), `PUT …/assigned-schools/{id}/contact-mobile`.

use axum::Json;
use axum::extract::rejection::{FormRejection, JsonRejection};
use axum::extract::{Form, Path, Request};
use axum::http::{Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use utoipa_axum::routes;
use xiaobao_authz::Permission;
use xiaobao_domain::Outcome;
use xiaobao_domain::ids::OrgId;

use crate::identity::register::{
    FormFor, RegisterErrors, RegisterFields, RegistrationReceipt, Submitted, read_api_registration,
    read_multipart, render_register_for, submit,
};
use crate::schools::{MobileInput, after_form, service};
use crate::web::auth::{ClientMeta, Routes};
use crate::web::call::{ApiCall, Called, PageCall, path_id};
use crate::web::error::{ApiError, PageError, bad_json, page_to_api};
use crate::web::session::WebSession;

pub fn routes() -> Routes {
    let register = Permission::ASSIGNED_SCHOOLS_REGISTER;
    let manage = Permission::ASSIGNED_SCHOOLS_MANAGE;
    Routes::new()
        .page(
            Method::GET,
            "/t/{slug}/assigned-schools/new",
            register,
            show_new,
        )
        .page(
            Method::POST,
            "/t/{slug}/assigned-schools",
            register,
            submit_new,
        )
        .page(
            Method::POST,
            "/t/{slug}/assigned-schools/{id}/contact-mobile",
            manage,
            submit_mobile,
        )
        .api(register, routes!(api_register_assigned))
        .api(manage, routes!(api_assigned_mobile))
}

fn form_for(call: &PageCall) -> FormFor<'_> {
    FormFor::Central {
        region_code: &call.current.viewer().region_code,
        action: call.page.href("assigned-schools"),
        back_href: call.page.href("assigned-schools"),
    }
}

async fn render(
    call: &PageCall,
    session: &mut WebSession,
    fields: RegisterFields,
    errors: RegisterErrors,
) -> Result<Html<String>, PageError> {
    render_register_for(
        &call.state,
        &call.page,
        session,
        fields,
        errors,
        form_for(call),
    )
    .await
}

async fn show_new(call: PageCall, mut session: WebSession) -> Result<Html<String>, PageError> {
    let fields = RegisterFields {
        region_code: call.current.viewer().region_code.clone(),
        ..RegisterFields::default()
    };
    render(&call, &mut session, fields, RegisterErrors::default()).await
}

async fn submit_new(
    call: PageCall,
    mut session: WebSession,
    meta: ClientMeta,
    request: Request,
) -> Result<Response, PageError> {
    let (mut fields, upload) = match read_multipart(request).await {
        Ok(read) => read,
        Err(message) => {
            let errors = RegisterErrors::whole_form(message);
            let html = render(&call, &mut session, RegisterFields::default(), errors).await?;
            return Ok((StatusCode::BAD_REQUEST, html).into_response());
        }
    };
    let caller = call.caller();
    let tenant = call.page.tenant.clone();
    match submit(
        &call.state,
        &tenant,
        &meta,
        &mut fields,
        upload,
        Some(&caller),
    )
    .await?
    {
        Submitted::Done(_) => {
            Ok(Redirect::to(&call.page.href("assigned-schools?done=registered")).into_response())
        }
        Submitted::Refused(errors) => {
            let html = render(&call, &mut session, fields, errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
    }
}

/// Registers a school of one's county on its behalf (a central school): the fields and
/// document of `POST /api/v1/t/{slug}/registrations`; the department of the region decides,
/// and approval assigns the school to the central school.
#[utoipa::path(post, path = "/api/v1/t/{slug}/assigned-schools", operation_id = "register_assigned_school", tag = "schools",
    params(("slug" = String, Path, description = "租户标识")),
    request_body = crate::identity::register::ApiRegistration,
    responses(
        (status = 201, description = "已代为提交，等待教育部门审核", body = RegistrationReceipt),
        (status = 422, description = "某项填写有误（field 指出哪一项）", body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_register_assigned(
    call: ApiCall,
    meta: ClientMeta,
    request: Request,
) -> Result<Response, ApiError> {
    let (mut fields, upload) = read_api_registration(&call.state, request).await?;
    let caller = call.caller();
    match submit(
        &call.state,
        &call.tenant,
        &meta,
        &mut fields,
        upload,
        Some(&caller),
    )
    .await
    .map_err(page_to_api)?
    {
        Submitted::Done(done) => Ok((
            StatusCode::CREATED,
            Json(RegistrationReceipt {
                org_id: done.org_id,
                status: "pending",
                message: format!("已代为提交，等待 {} 审核", done.reviewer),
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

async fn change_mobile(call: &impl Called, id: &str, mobile: &str) -> Outcome<()> {
    service(call)
        .change_assigned_mobile(path_id::<OrgId>(id)?, mobile)
        .await
}

async fn submit_mobile(
    call: PageCall,
    mut session: WebSession,
    Path((_, id)): Path<(String, String)>,
    form: Result<Form<MobileInput>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let outcome = change_mobile(&call, &id, &form.contact_mobile)
        .await
        .map(|()| "mobile");
    after_form(
        &call,
        &mut session,
        &id,
        outcome,
        "mobile",
        form.contact_mobile,
    )
    .await
}

/// Changes the contact mobile of a school assigned to one's central school (its old and new
/// numbers are told by SMS).
#[utoipa::path(put, path = "/api/v1/t/{slug}/assigned-schools/{id}/contact-mobile", operation_id = "change_assigned_school_mobile", tag = "schools",
    params(("slug" = String, Path, description = "租户标识"), ("id" = i64, Path, description = "学校（机构）编号")),
    request_body = MobileInput,
    responses((status = 204, description = "已修改"), (status = 404, body = crate::web::error::ErrorBody),
        (status = 422, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_assigned_mobile(
    call: ApiCall,
    Path(path): Path<(String, String)>,
    body: Result<Json<MobileInput>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let id = path.1;
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    let outcome = change_mobile(&call, &id, &body.contact_mobile).await;
    call.done(outcome).await
}
