//! Short-lived download tokens: the only way to a document's bytes is the service's own
//! download route, which checks a token bound to one tenant, one document and an expiry time.
//! Buckets stay private; no public or pre-signed bucket URL is ever handed out.
//!
//! A token is `<expiry unix seconds>.<hex HMAC-SHA256>` (URL-safe as it is) where the MAC
//! covers a version tag, the tenant slug, the document id and the expiry. The key is the
//! service's secret (at least 32 bytes), shared by every instance behind the load balancer.
//!
//! ```
//! use std::time::Duration;
//! use xiaobao_storage::DownloadToken;
//!
//! let key = [7u8; 32];
//! let now = chrono::DateTime::from_timestamp(1_757_900_000, 0).expect("instant"); // clock.now()
//! let token = DownloadToken::issue(&key, "henan", 42, now, Duration::from_secs(300))?;
//! // In the download route, after resolving the tenant from the host or path:
//! DownloadToken::verify(&key, "henan", 42, &token, now)?;
//! assert!(DownloadToken::verify(&key, "henan", 43, &token, now).is_err());
//! # Ok::<(), xiaobao_storage::TokenError>(())
//! ```

use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Shortest key accepted.
pub const MIN_KEY_BYTES: usize = 32;

const DOMAIN: &str = "xiaobao-download-v1";

/// Why a download token was refused. The HTTP route answers all of these the same way
/// (403 with the Chinese message) — the variants exist for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("下载链接格式不正确，请回到页面重新下载")]
    Malformed,
    #[error("下载链接已过期，请回到页面重新下载")]
    Expired,
    #[error("下载链接无效，请回到页面重新下载")]
    Invalid,
    #[error("下载签名密钥太短（至少 {MIN_KEY_BYTES} 字节）")]
    WeakKey,
}

impl TokenError {
    /// Stable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed => "download_token_malformed",
            Self::Expired => "download_token_expired",
            Self::Invalid => "download_token_invalid",
            Self::WeakKey => "download_key_weak",
        }
    }
}

/// Issues and checks download tokens (see the module documentation).
pub struct DownloadToken;

impl DownloadToken {
    /// A token for `document_id` of tenant `slug`, valid for `ttl` from `now` (the
    /// application's clock).
    pub fn issue(
        key: &[u8],
        slug: &str,
        document_id: i64,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<String, TokenError> {
        let ttl = chrono::Duration::from_std(ttl).map_err(|_| TokenError::Malformed)?;
        Self::issue_until(key, slug, document_id, now + ttl)
    }

    /// A token valid until `expires_at` (whole seconds).
    pub fn issue_until(
        key: &[u8],
        slug: &str,
        document_id: i64,
        expires_at: DateTime<Utc>,
    ) -> Result<String, TokenError> {
        let expiry = expires_at.timestamp();
        let mac = mac(key, slug, document_id, expiry)?.finalize().into_bytes();
        Ok(format!("{expiry}.{}", hex::encode(mac)))
    }

    /// Checks a token for `document_id` of tenant `slug` at time `now`. The MAC is compared in
    /// constant time; a token for another document or tenant, a changed expiry or a tampered
    /// signature is [`TokenError::Invalid`].
    pub fn verify(
        key: &[u8],
        slug: &str,
        document_id: i64,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<(), TokenError> {
        let (expiry, sig) = token.split_once('.').ok_or(TokenError::Malformed)?;
        if expiry.is_empty() || !expiry.bytes().all(|b| b.is_ascii_digit()) || sig.len() != 64 {
            return Err(TokenError::Malformed);
        }
        let expiry: i64 = expiry.parse().map_err(|_| TokenError::Malformed)?;
        let sig = hex::decode(sig).map_err(|_| TokenError::Malformed)?;
        mac(key, slug, document_id, expiry)?
            .verify_slice(&sig)
            .map_err(|_| TokenError::Invalid)?;
        // Checked after the MAC, so an expiry changed by hand is "invalid", not "expired".
        if now.timestamp() >= expiry {
            return Err(TokenError::Expired);
        }
        Ok(())
    }
}

fn mac(key: &[u8], slug: &str, document_id: i64, expiry: i64) -> Result<HmacSha256, TokenError> {
    if key.len() < MIN_KEY_BYTES {
        return Err(TokenError::WeakKey);
    }
    let mut mac = HmacSha256::new_from_slice(key).map_err(|_| TokenError::WeakKey)?;
    // Newline-separated: a slug has no newline, so no two inputs share a message.
    mac.update(format!("{DOMAIN}\n{slug}\n{document_id}\n{expiry}").as_bytes());
    Ok(mac)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    #[test]
    fn a_token_opens_its_own_document_until_it_expires() {
        let t = DownloadToken::issue_until(KEY, "henan", 42, at(1_000)).unwrap();
        assert!(t.starts_with("1000."));
        assert!(
            t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.'),
            "URL-safe: {t}"
        );
        assert_eq!(DownloadToken::verify(KEY, "henan", 42, &t, at(999)), Ok(()));
        assert_eq!(
            DownloadToken::verify(KEY, "henan", 42, &t, at(1_000)),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn issue_with_a_ttl_is_valid_now_and_not_after_the_ttl() {
        let now = at(1_757_900_000);
        let t = DownloadToken::issue(KEY, "henan", 7, now, Duration::from_secs(60)).unwrap();
        assert_eq!(DownloadToken::verify(KEY, "henan", 7, &t, now), Ok(()));
        assert_eq!(
            DownloadToken::verify(KEY, "henan", 7, &t, now + chrono::Duration::seconds(61)),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn a_token_does_not_open_another_document_tenant_or_key() {
        let t = DownloadToken::issue_until(KEY, "henan", 42, at(1_000)).unwrap();
        let v = |key: &[u8], slug, id| DownloadToken::verify(key, slug, id, &t, at(10));
        assert_eq!(v(KEY, "henan", 43), Err(TokenError::Invalid));
        assert_eq!(v(KEY, "shanghai", 42), Err(TokenError::Invalid));
        assert_eq!(
            v(b"another key, also long enough.....", "henan", 42),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn a_tampered_token_is_refused() {
        let t = DownloadToken::issue_until(KEY, "henan", 42, at(1_000)).unwrap();
        // Extending the expiry by hand breaks the MAC.
        let longer = t.replacen("1000.", "9999.", 1);
        assert_eq!(
            DownloadToken::verify(KEY, "henan", 42, &longer, at(10)),
            Err(TokenError::Invalid)
        );
        // One flipped signature digit.
        let mut bytes = t.clone().into_bytes();
        let last = bytes.len() - 1;
        bytes[last] = if bytes[last] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(bytes).unwrap();
        assert_eq!(
            DownloadToken::verify(KEY, "henan", 42, &flipped, at(10)),
            Err(TokenError::Invalid)
        );
        for bad in [
            "",
            "1000",
            "1000.",
            ".abc",
            "-5.00",
            "10.zz",
            &t[..t.len() - 2],
        ] {
            assert_eq!(
                DownloadToken::verify(KEY, "henan", 42, bad, at(10)),
                Err(TokenError::Malformed),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn short_keys_are_refused() {
        assert_eq!(
            DownloadToken::issue(b"short", "henan", 1, at(0), Duration::from_secs(1)),
            Err(TokenError::WeakKey)
        );
        assert_eq!(TokenError::Expired.code(), "download_token_expired");
    }
}
