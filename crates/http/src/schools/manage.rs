//! A department managing a school: the contact mobile and the password reset.

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path};
use axum::response::Response;
use serde::Deserialize;
use xiaobao_domain::Outcome;
use xiaobao_domain::ids::OrgId;
use xiaobao_identity::service::SetPasswordLink;

use crate::web::call::{PageCall, path_id};
use crate::web::error::PageError;
use crate::web::session::WebSession;

use super::*;

/// Where a reset's set-password link points and how long it lives.
pub(super) fn reset_link(state: &crate::AppState, slug: &str) -> SetPasswordLink {
    SetPasswordLink {
        activate_url: format!("{}/t/{slug}/activate", state.config.public_url()),
        ttl: chrono::Duration::hours(i64::from(state.config.auth.link_ttl_hours)),
    }
}

/// Changes the contact mobile of the school `id` (a path segment) of the caller's scope.
pub(super) async fn change_mobile(call: &impl Called, id: &str, mobile: &str) -> Outcome<()> {
    service(call)
        .change_mobile(path_id::<OrgId>(id)?, mobile)
        .await
}

/// Resets the password of the school `id` and sends the set-password link.
pub(super) async fn reset_password(
    call: &impl Called,
    state: &crate::AppState,
    slug: &str,
    id: &str,
) -> Outcome<()> {
    service(call)
        .reset_password(
            path_id::<OrgId>(id)?,
            &state.auth.codes,
            &reset_link(state, slug),
        )
        .await
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct MobileInput {
    /// The new contact mobile (11 digits).
    #[serde(default)]
    pub(super) contact_mobile: String,
}

pub(super) async fn submit_mobile(
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

pub(super) async fn submit_reset(
    call: PageCall,
    mut session: WebSession,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let outcome = reset_password(&call, &call.state, &call.page.tenant.slug, &id)
        .await
        .map(|()| "reset");
    after_form(&call, &mut session, &id, outcome, "reset", String::new()).await
}
