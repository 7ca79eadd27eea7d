//! Helpers of the pages a visitor uses before signing in (registration, activation, account
//! recovery): the audit actor of a visitor, per-client rate limits, mobile numbers as typed.

use xiaobao_audit::Actor;
use xiaobao_identity::{Limit, Verdict};

use crate::AppState;
use crate::web::auth::ClientMeta;
use crate::web::error::ApiError;
use crate::web::error::PageError;

/// The audit actor of an anonymous visitor.
pub(crate) fn visitor(meta: &ClientMeta) -> Actor {
    Actor {
        label: "anonymous".into(),
        ip: meta.ip.clone(),
        user_agent: meta.user_agent.clone(),
        ..Actor::default()
    }
}

/// The visitor as the identity services take it.
pub(crate) fn guest(
    state: &AppState,
    tenant: &std::sync::Arc<xiaobao_db::Tenant>,
    meta: &ClientMeta,
) -> xiaobao_identity::Guest {
    xiaobao_identity::Guest {
        db: state.db.clone(),
        tenant: tenant.clone(),
        actor: visitor(meta),
        clock: state.clock.clone(),
    }
}

/// Counts one event of this client (per tenant and purpose); `Some(seconds)` when refused.
pub(crate) async fn client_over_limit(
    state: &AppState,
    purpose: &str,
    slug: &str,
    meta: &ClientMeta,
    limit: Limit,
) -> Result<Option<u64>, PageError> {
    let key = format!(
        "{purpose}:ip:{slug}:{}",
        meta.ip.as_deref().unwrap_or("unknown")
    );
    match state.auth.limiter.hit(&key, limit).await {
        Ok(Verdict::Allowed) => Ok(None),
        Ok(Verdict::Refused { retry_after_secs }) => Ok(Some(retry_after_secs)),
        Err(error) => {
            tracing::error!(%error, "rate limiter");
            Err(PageError::Unavailable)
        }
    }
}

pub(crate) use xiaobao_identity::limits::retry_message;

/// The API error of a refusal by a rate limit.
pub(crate) fn too_many(message: String) -> ApiError {
    ApiError::TooMany {
        code: "rate_limited",
        message,
    }
}

/// A mainland mobile number as typed (spaces, dashes, full-width digits, a +86 prefix) in its
/// stored form `1[3-9]` and nine digits, or `None`.
pub(crate) fn normalise_mobile(raw: &str) -> Option<String> {
    let digits: String = raw
        .chars()
        .map(|c| match c {
            '\u{FF10}'..='\u{FF19}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .filter(|c| !matches!(c, ' ' | '-' | '+' | '\u{3000}'))
        .collect();
    let digits = match digits.strip_prefix("86") {
        Some(rest) if rest.len() == 11 => rest.to_string(),
        _ => digits,
    };
    let b = digits.as_bytes();
    let ok = b.len() == 11
        && b[0] == b'1'
        && (b'3'..=b'9').contains(&b[1])
        && b.iter().all(u8::is_ascii_digit);
    ok.then_some(digits)
}

#[cfg(test)]
mod tests {
    use super::normalise_mobile;

    #[test]
    fn mobiles_are_read_as_people_type_them() {
        assert_eq!(
            normalise_mobile("13812341234").as_deref(),
            Some("13812341234")
        );
        assert_eq!(
            normalise_mobile("+86 138-1234-1234").as_deref(),
            Some("13812341234")
        );
        assert_eq!(
            normalise_mobile("１３８１２３４１２３４").as_deref(),
            Some("13812341234")
        );
        assert_eq!(normalise_mobile("12812341234"), None);
        assert_eq!(normalise_mobile("1381234123"), None);
        assert_eq!(normalise_mobile("1381234123x"), None);
        assert_eq!(normalise_mobile(""), None);
    }
}
