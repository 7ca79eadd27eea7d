//! Activation: the set-password link of an approved school, used once on a button press.

use askama::Template;
use axum::Json;
use axum::extract::rejection::{FormRejection, JsonRejection, QueryRejection};
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use xiaobao_domain::Failure;
use xiaobao_identity::Limit;
use xiaobao_identity::service::Registrations;

use crate::AppState;
use crate::identity::anon::{client_over_limit, guest, retry_message, too_many};
use crate::web::auth::ClientMeta;
use crate::web::csrf::CsrfToken;
use crate::web::error::ApiError;
use crate::web::error::PageError;
use crate::web::layout::Layout;
use crate::web::nav::Section;
use crate::web::session::{SignedIn, WebSession};
use crate::web::tenant::{ApiTenant, PageTenant};

use super::*;

#[derive(Debug, Deserialize)]
pub(super) struct TokenQuery {
    pub(super) token: Option<String>,
}

#[derive(Template)]
#[template(path = "activate.html")]
pub(super) struct ActivatePage {
    pub(super) layout: Layout,
    pub(super) action: String,
    pub(super) csrf: CsrfToken,
    pub(super) token: String,
    pub(super) school_name: String,
}

/// The answer to a link that cannot be used.
pub(super) fn link_unusable(page: &PageTenant) -> Response {
    crate::web::error::error_page(
        StatusCode::GONE,
        "链接无效或已过期",
        "设置密码的链接只能使用一次，且须在有效期内使用。如链接已失效，请在登录页点击“忘记密码”，\
         通过注册手机号接收验证码重新设置密码。",
        Some(&(page.tenant.clone(), page.base.clone())),
    )
}

/// The activation page: the link is checked, not used up, and one button signs in.
pub(super) async fn show_activate(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    meta: ClientMeta,
    query: Result<Query<TokenQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let token = query.ok().and_then(|Query(q)| q.token).unwrap_or_default();
    if token.is_empty() || token.len() > 200 {
        return Ok(link_unusable(&page));
    }
    let account = match Registrations::new(guest(&state, &page.tenant, &meta))
        .link_account(&state.auth.codes, &token)
        .await
    {
        Ok(account) => account,
        Err(Failure::Refused(_)) => return Ok(link_unusable(&page)),
        Err(f) => return Err(f.into()),
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
pub(super) enum Activation {
    SignedIn(SignedIn),
    Unusable,
    Limited(String),
}

/// Uses a set-password link up and signs its account in, with the password to be set first;
/// audited as `account.activated`.
pub(super) async fn activate(
    state: &AppState,
    tenant: &std::sync::Arc<xiaobao_db::Tenant>,
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
    match Registrations::new(guest(state, tenant, meta))
        .activate(&state.auth.codes, token)
        .await
    {
        Ok(authenticated) => Ok(Activation::SignedIn(crate::identity::login::signed_in(
            &authenticated,
        ))),
        Err(Failure::Refused(_)) => Ok(Activation::Unusable),
        Err(f) => Err(f.into()),
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct ActivateForm {
    pub(super) token: Option<String>,
}

pub(super) async fn submit_activate(
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
    pub(super) token: String,
}

/// A session made by an activation: the password must be set first
/// (`POST /api/v1/t/{slug}/me/password` with `new_password` only).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ActivationSession {
    pub(super) account_id: i64,
    pub(super) display_name: String,
    pub(super) roles: Vec<String>,
    pub(super) must_change_password: bool,
    /// Send as `X-CSRF-Token` with the session cookie on every unsafe call.
    pub(super) csrf_token: String,
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
