//! The image captcha of the anonymous forms (忘记账号): challenges from
//! [`xiaobao_identity::captcha`], signed with the service's download key under a captcha label,
//! made single-use here by claiming each token's nonce once — in Redis (`SET NX EX`, shared by
//! every instance) when configured, else in this process.
//!
//! `GET /api/v1/t/{slug}/captcha` gives API clients a challenge.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use utoipa_axum::routes;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use xiaobao_identity::captcha::{Captcha, CaptchaError, Challenge};

use crate::AppState;
use crate::web::auth::Routes;
use crate::web::error::ApiError;
use crate::web::error::PageError;
use crate::web::tenant::ApiTenant;

/// How long a challenge may be answered.
const TTL_MINS: i64 = 5;

pub fn routes() -> Routes {
    Routes::new().open_api(routes!(api_captcha))
}

fn captcha(state: &AppState) -> Captcha {
    Captcha::new(&state.download_key)
}

/// A new challenge for a tenant's form.
pub(crate) fn issue(state: &AppState, slug: &str) -> Challenge {
    captcha(state).issue(slug, state.clock.now(), Duration::minutes(TTL_MINS))
}

/// Nonces already used, with their expiry (unix seconds), when there is no Redis.
fn used_in_process() -> &'static Mutex<HashMap<String, i64>> {
    static USED: OnceLock<Mutex<HashMap<String, i64>>> = OnceLock::new();
    USED.get_or_init(Mutex::default)
}

/// Claims a nonce: `true` the first time, `false` ever after (until it has expired anyway).
async fn claim(
    state: &AppState,
    nonce: &str,
    expires_at: DateTime<Utc>,
) -> Result<bool, PageError> {
    let now = state.clock.now().timestamp();
    let ttl = (expires_at.timestamp() - now).max(1) + 5;
    match &state.redis {
        Some(conn) => {
            let mut conn = conn.clone();
            let set: Option<String> = redis::cmd("SET")
                .arg(format!("xb:captcha:{nonce}"))
                .arg(1)
                .arg("NX")
                .arg("EX")
                .arg(ttl)
                .query_async(&mut conn)
                .await
                .map_err(|error| {
                    tracing::error!(%error, "captcha claim");
                    PageError::Unavailable
                })?;
            Ok(set.is_some())
        }
        None => {
            let mut used = used_in_process().lock().unwrap_or_else(|p| p.into_inner());
            if used.len() > 10_000 {
                used.retain(|_, until| *until > now);
            }
            if used.get(nonce).is_some_and(|until| *until > now) {
                return Ok(false);
            }
            used.insert(nonce.to_string(), now + ttl);
            Ok(true)
        }
    }
}

/// Checks an answer and uses the challenge up, right or wrong: a new one must be shown after
/// every attempt.
pub(crate) async fn verify(
    state: &AppState,
    slug: &str,
    token: &str,
    answer: &str,
) -> Result<Result<(), CaptchaError>, PageError> {
    if answer.trim().is_empty() {
        return Ok(Err(CaptchaError::Missing));
    }
    let Some(parts) = Captcha::parts(token) else {
        return Ok(Err(CaptchaError::ExpiredOrUsed));
    };
    let now = state.clock.now();
    if parts.expires_at <= now {
        return Ok(Err(CaptchaError::ExpiredOrUsed));
    }
    if !claim(state, &parts.nonce, parts.expires_at).await? {
        return Ok(Err(CaptchaError::ExpiredOrUsed));
    }
    Ok(captcha(state).check(slug, token, answer, now))
}

/// A challenge for an API client: show `svg`, send `token` back with the answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct CaptchaView {
    /// Send back as `captcha_token`.
    token: String,
    /// The image: an SVG document of four characters.
    svg: String,
    expires_at: DateTime<chrono::FixedOffset>,
}

/// A new image captcha (single use, valid five minutes).
#[utoipa::path(get, path = "/api/v1/t/{slug}/captcha", tag = "identity",
    params(("slug" = String, Path, description = "租户标识")),
    responses((status = 200, body = CaptchaView), (status = 404, body = crate::web::error::ErrorBody)))]
pub(crate) async fn api_captcha(
    State(state): State<AppState>,
    ApiTenant(tenant): ApiTenant,
) -> Result<Json<CaptchaView>, ApiError> {
    let ch = issue(&state, &tenant.slug);
    Ok(Json(CaptchaView {
        token: ch.token,
        svg: ch.svg,
        expires_at: crate::web::time::to_cst(ch.expires_at),
    }))
}
