//! A department managing a school: the contact mobile and the password reset.

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::response::Response;
use serde::Deserialize;
use xiaobao_identity::school_admin::{self, AdminProblem};
use xiaobao_notify::{Notification, Template as Message};

use crate::AppState;
use crate::web::auth::Current;
use crate::web::error::{PageError, internal};
use crate::web::session::WebSession;
use crate::web::tenant::PageTenant;

use super::*;

pub(super) async fn change_mobile(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
    id: &str,
    mobile: &str,
) -> Result<Result<(), AdminProblem>, PageError> {
    let Ok(org_id) = id.parse::<i64>() else {
        return Ok(Err(AdminProblem::NotFound));
    };
    let scope = current.viewer().school_scope();
    let mut tx = state.db.tenant_tx(tenant).await?;
    let outcome =
        school_admin::change_contact_mobile(&mut tx, &current.actor(), &scope, org_id, mobile)
            .await
            .map_err(internal)?;
    if outcome.is_ok() {
        tx.commit().await?;
    }
    Ok(outcome)
}

/// Resets the school's password and queues the set-password link by SMS, in one transaction.
pub(super) async fn reset_password(
    state: &AppState,
    tenant: &xiaobao_db::Tenant,
    current: &Current,
    id: &str,
) -> Result<Result<(), AdminProblem>, PageError> {
    let Ok(org_id) = id.parse::<i64>() else {
        return Ok(Err(AdminProblem::NotFound));
    };
    let scope = current.viewer().school_scope();
    let ttl = chrono::Duration::hours(i64::from(state.config.auth.link_ttl_hours));
    let mut tx = state.db.tenant_tx(tenant).await?;
    let reset = match school_admin::reset_password(
        &mut tx,
        &current.actor(),
        &scope,
        &state.auth.codes,
        ttl,
        org_id,
    )
    .await
    .map_err(internal)?
    {
        Ok(r) => r,
        Err(problem) => return Ok(Err(problem)),
    };
    let url = format!(
        "{}/t/{}/activate?token={}",
        state.config.public_url(),
        tenant.slug,
        reset.token
    );
    xiaobao_notify::queue(
        &mut tx,
        &Notification::sms(
            reset.contact_mobile.clone(),
            Message::AccountOpened {
                org_name: reset.school_name.clone(),
                login_name: reset.login_name.clone(),
                set_password_url: url,
            },
        ),
    )
    .await
    .map_err(internal)?;
    tx.commit().await?;
    tracing::info!(tenant.slug = %tenant.slug, org.id = org_id, "school password reset");
    Ok(Ok(()))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct MobileInput {
    /// The new contact mobile (11 digits).
    #[serde(default)]
    pub(super) contact_mobile: String,
}

pub(super) async fn submit_mobile(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    Path((_, id)): Path<(String, String)>,
    form: Result<Form<MobileInput>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let outcome = change_mobile(&state, &page.tenant, &current, &id, &form.contact_mobile)
        .await?
        .map(|()| "mobile");
    after_form(
        &state,
        &page,
        &mut session,
        &current,
        &id,
        outcome,
        "mobile",
        form.contact_mobile,
    )
    .await
}

pub(super) async fn submit_reset(
    State(state): State<AppState>,
    page: PageTenant,
    mut session: WebSession,
    current: Current,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let outcome = reset_password(&state, &page.tenant, &current, &id)
        .await?
        .map(|()| "reset");
    after_form(
        &state,
        &page,
        &mut session,
        &current,
        &id,
        outcome,
        "reset",
        String::new(),
    )
    .await
}
