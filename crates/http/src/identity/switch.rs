//! 切换项目: a broker or insurer head office signed in with a platform login moves to another
//! programme it is granted, without signing in again. The move goes through a short-lived signed
//! token in the link, so it works between host-named programmes (whose cookies are separate) as
//! well as path-named ones; a link works once, for a minute.

use askama::Template;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query, State};
use axum::http::Method;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;

use serde::Deserialize;
use xiaobao_authz::Permission;
use xiaobao_domain::Failure;
use xiaobao_identity::service::SignIn;

use crate::AppState;
use crate::identity::anon::guest;
use crate::web::auth::{ClientMeta, Current, Routes};
use crate::web::csrf::CsrfToken;
use crate::web::error::{PageError, internal};
use crate::web::layout::Layout;
use crate::web::nav::Section;
use crate::web::session::WebSession;
use crate::web::tenant::PageTenant;

/// How long a switch link is good for.
const TOKEN_SECS: i64 = 60;

pub fn routes() -> Routes {
    Routes::new()
        .page(
            Method::GET,
            "/t/{slug}/switch",
            Permission::ACCOUNT_READ,
            show,
        )
        .page(
            Method::POST,
            "/t/{slug}/switch",
            Permission::ACCOUNT_READ,
            start,
        )
        .open("/t/{slug}/switch/enter", get(enter))
}

struct Programme {
    slug: String,
    name: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "switch.html")]
struct SwitchPage {
    layout: Layout,
    action: String,
    csrf: CsrfToken,
    programmes: Vec<Programme>,
    platform_login: bool,
}

async fn granted(
    state: &AppState,
    identity_id: i64,
) -> Result<Vec<(xiaobao_db::Tenant, i64)>, PageError> {
    let grants = xiaobao_identity::platform::grants(state.db.clusters.main(), identity_id)
        .await
        .map_err(internal)?;
    let all = state.db.catalog.all();
    Ok(grants
        .into_iter()
        .filter_map(|(tenant_id, account_id)| {
            all.iter()
                .find(|t| t.tenant_id == tenant_id && t.status == xiaobao_db::TenantStatus::Active)
                .map(|t| ((**t).clone(), account_id))
        })
        .collect())
}

async fn show(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
) -> Result<Html<String>, PageError> {
    let programmes = match current.user.identity_id {
        Some(id) => granted(&state, id)
            .await?
            .into_iter()
            .map(|(t, _)| Programme {
                current: t.slug == page.tenant.slug,
                slug: t.slug,
                name: t.name_zh,
            })
            .collect(),
        None => Vec::new(),
    };
    let view = SwitchPage {
        layout: Layout::tenant(&page, &mut session, Section::Account, Some("切换项目")).await?,
        action: page.href("switch"),
        csrf: session.csrf_token().await?,
        programmes,
        platform_login: current.user.identity_id.is_some(),
    };
    Ok(Html(view.render()?))
}

#[derive(Debug, Default, Deserialize)]
struct SwitchForm {
    tenant: Option<String>,
}

fn token_text(identity_id: i64, slug: &str, expires: i64) -> String {
    format!("switch\u{1f}{identity_id}\u{1f}{slug}\u{1f}{expires}")
}

async fn start(
    State(state): State<AppState>,
    page: PageTenant,
    current: Current,
    form: Result<Form<SwitchForm>, FormRejection>,
) -> Result<Response, PageError> {
    let target = form.ok().and_then(|f| f.0.tenant).unwrap_or_default();
    let Some(identity_id) = current.user.identity_id else {
        return Err(PageError::NotFound);
    };
    let grants = granted(&state, identity_id).await?;
    let Some((tenant, _)) = grants.iter().find(|(t, _)| t.slug == target) else {
        return Err(PageError::NotFound);
    };
    let expires = state.clock.now().timestamp() + TOKEN_SECS;
    let signature = state
        .auth
        .codes
        .sign(&token_text(identity_id, &tenant.slug, expires));
    let _ = page;
    Ok(Redirect::to(&format!(
        "/t/{}/switch/enter?token={identity_id}.{expires}.{signature}",
        tenant.slug
    ))
    .into_response())
}

#[derive(Debug, Deserialize)]
struct EnterQuery {
    token: String,
}

async fn enter(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    meta: ClientMeta,
    query: Result<Query<EnterQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let refuse = || Redirect::to(&page.href("login?type=broker")).into_response();
    let Ok(Query(q)) = query else {
        return Ok(refuse());
    };
    let mut parts = q.token.splitn(3, '.');
    let (Some(id), Some(expires), Some(signature)) = (parts.next(), parts.next(), parts.next())
    else {
        return Ok(refuse());
    };
    let (Ok(identity_id), Ok(expires)) = (id.parse::<i64>(), expires.parse::<i64>()) else {
        return Ok(refuse());
    };
    if expires < state.clock.now().timestamp()
        || !state.auth.codes.verify_signature(
            &token_text(identity_id, &page.tenant.slug, expires),
            signature,
        )
    {
        return Ok(refuse());
    }
    // A link works once: its signature is claimed in the rate limiter (Redis when configured).
    let once = xiaobao_identity::Limit {
        max: 1,
        window_secs: (TOKEN_SECS * 2) as u64,
    };
    match state
        .auth
        .limiter
        .hit(&format!("switch:{signature}"), once)
        .await
    {
        Ok(xiaobao_identity::Verdict::Allowed) => {}
        Ok(xiaobao_identity::Verdict::Refused { .. }) => return Ok(refuse()),
        Err(error) => {
            tracing::error!(%error, "rate limiter");
            return Err(PageError::Unavailable);
        }
    }
    resolve(&state, &page, &mut session, &meta, identity_id).await
}

/// Signs the identity in to this programme as its granted account.
async fn resolve(
    state: &AppState,
    page: &PageTenant,
    session: &mut WebSession,
    meta: &ClientMeta,
    identity_id: i64,
) -> Result<Response, PageError> {
    let refuse = || Redirect::to(&page.href("login?type=broker")).into_response();
    let ok = match SignIn::new(guest(state, &page.tenant, meta))
        .switch(&state.auth.login, identity_id)
        .await
    {
        Ok(ok) => ok,
        Err(Failure::Refused(_)) => return Ok(refuse()),
        Err(f) => return Err(f.into()),
    };
    let mut user = crate::identity::login::signed_in(&ok);
    user.identity_id = Some(identity_id);
    let must_change = user.must_change_password;
    session.sign_in(user).await?;
    Ok(Redirect::to(&if must_change {
        page.href("account/password")
    } else {
        page.base.clone()
    })
    .into_response())
}
