//! The context of a guarded call, and the one place its failures become answers.
//!
//! [`ApiCall`] (tenant + signed-in account, for `/api/v1`) and [`PageCall`] (the same for
//! pages, with the session) are extractors; handlers get the caller for a context's service
//! from them and hand the service's `Outcome` back to [`ApiCall::answer`] /
//! [`PageCall::fail`]. A not-found refusal that names what was asked for is audited here as
//! `access.out_of_scope`, once.

use std::sync::Arc;

use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use xiaobao_db::Tenant;
use xiaobao_domain::ids::Id;
use xiaobao_domain::{Failure, Outcome};
use xiaobao_identity::Caller;

use crate::AppState;
use crate::web::auth::{Current, audit_out_of_scope};
use crate::web::error::{ApiError, PageError};
use crate::web::tenant::{ApiTenant, PageTenant};

/// A guarded API call: the state, the tenant and the signed-in account.
pub(crate) struct ApiCall {
    pub state: AppState,
    pub tenant: Arc<Tenant>,
    pub current: Current,
}

impl FromRequestParts<AppState> for ApiCall {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ApiTenant(tenant) = ApiTenant::from_request_parts(parts, state).await?;
        let current = Current::from_request_parts(parts, state)
            .await
            .map_err(crate::web::error::page_to_api)?;
        Ok(Self {
            state: state.clone(),
            tenant,
            current,
        })
    }
}

/// A guarded page: the state, the tenant with its link base, and the signed-in account.
pub(crate) struct PageCall {
    pub state: AppState,
    pub page: PageTenant,
    pub current: Current,
}

impl FromRequestParts<AppState> for PageCall {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let page = PageTenant::from_request_parts(parts, state).await?;
        let current = Current::from_request_parts(parts, state).await?;
        Ok(Self {
            state: state.clone(),
            page,
            current,
        })
    }
}

/// The caller of a context's service: the tenant, the account and its scope, the clock.
pub(crate) fn caller(state: &AppState, tenant: &Arc<Tenant>, current: &Current) -> Caller {
    Caller {
        db: state.db.clone(),
        tenant: tenant.clone(),
        viewer: current.viewer().clone(),
        actor: current.actor(),
        clock: state.clock.clone(),
        calendar: state.calendar.current(),
    }
}

/// A path id of its kind, or a miss of that kind (404, audited as asked for).
pub(crate) fn path_id<I: Id>(raw: &str) -> Result<I, Failure> {
    raw.parse::<I>()
        .map_err(|_| xiaobao_domain::Refusal::out_of_scope(I::ENTITY, raw).into())
}

/// Audits a miss outside the caller's scope (a not-found refusal naming its subject).
pub(crate) async fn audit_miss(state: &AppState, tenant: &Tenant, current: &Current, f: &Failure) {
    if let Some(subject) = f
        .refusal()
        .filter(|r| r.is_not_found())
        .and_then(|r| r.subject.as_ref())
    {
        audit_out_of_scope(state, tenant, current, &subject.entity, &subject.id).await;
    }
}

/// A guarded call that can name its caller (both call contexts).
pub(crate) trait Called {
    fn caller(&self) -> Caller;
}

impl Called for ApiCall {
    fn caller(&self) -> Caller {
        caller(&self.state, &self.tenant, &self.current)
    }
}

impl Called for PageCall {
    fn caller(&self) -> Caller {
        caller(&self.state, &self.page.tenant, &self.current)
    }
}

/// A page error of a failure, a refusal carrying the programme's links.
fn page_error(f: Failure, page: &PageTenant) -> PageError {
    match PageError::from(f) {
        PageError::Refused(r, None) => {
            PageError::Refused(r, Some((page.tenant.clone(), page.base.clone())))
        }
        other => other,
    }
}

impl ApiCall {
    /// The API error of a failure, the miss audited.
    pub async fn fail(&self, f: Failure) -> ApiError {
        audit_miss(&self.state, &self.tenant, &self.current, &f).await;
        f.into()
    }

    /// The answer of an outcome without a body: 204.
    pub async fn done<T>(&self, outcome: Outcome<T>) -> Result<axum::http::StatusCode, ApiError> {
        match outcome {
            Ok(_) => Ok(axum::http::StatusCode::NO_CONTENT),
            Err(f) => Err(self.fail(f).await),
        }
    }

    /// The JSON answer of an outcome.
    pub async fn answer<T>(&self, outcome: Outcome<T>) -> Result<Json<T>, ApiError> {
        match outcome {
            Ok(v) => Ok(Json(v)),
            Err(f) => Err(self.fail(f).await),
        }
    }
}

impl PageCall {
    /// The value of an outcome, or its failure as a page error (the miss audited).
    pub async fn take<T>(&self, outcome: Outcome<T>) -> Result<T, PageError> {
        match outcome {
            Ok(v) => Ok(v),
            Err(f) => Err(self.fail(f).await),
        }
    }

    /// The page error of a failure, the miss audited (an error page with the programme's
    /// links).
    pub async fn fail(&self, f: Failure) -> PageError {
        audit_miss(&self.state, &self.page.tenant, &self.current, &f).await;
        page_error(f, &self.page)
    }
}

/// The failure, its miss audited (see [`audit_miss`]).
pub(crate) async fn audited(
    state: &AppState,
    tenant: &Tenant,
    current: &Current,
    f: Failure,
) -> Failure {
    audit_miss(state, tenant, current, &f).await;
    f
}

/// A failure answered as a page of a programme or as the API's JSON error.
pub(crate) trait Reply {
    fn page(self, page: &PageTenant) -> Response;
    fn api(self) -> Response;
}

impl Reply for Failure {
    fn page(self, page: &PageTenant) -> Response {
        page_error(self, page).into_response()
    }

    fn api(self) -> Response {
        ApiError::from(self).into_response()
    }
}
