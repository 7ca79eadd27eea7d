//! One-time secrets: six-digit SMS codes and set-password links. Only a keyed hash (HMAC-SHA256
//! with `auth.secret_key`) is stored; a code works once, before it expires, and a few wrong
//! tries use it up.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use sqlx::PgConnection;
use xiaobao_domain::Clock;

use crate::IdentityError;

/// Wrong entries that use a code up.
pub const MAX_ATTEMPTS: i32 = 5;

/// What a code is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodePurpose {
    /// The first password of a new account (after registration is approved, or a reset).
    SetPassword,
    /// Forgot password.
    ResetPassword,
    /// A school confirming a new contact mobile (修改手机号): the code goes to the new number
    /// and is bound to it.
    ChangeMobile,
}

impl CodePurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            CodePurpose::SetPassword => "set_password",
            CodePurpose::ResetPassword => "reset_password",
            CodePurpose::ChangeMobile => "change_mobile",
        }
    }
}

/// Why a code was not accepted; `Display` is the Chinese message.
#[derive(Debug, thiserror::Error)]
pub enum CodeError {
    #[error("验证码错误")]
    Wrong,
    #[error("验证码已过期或已使用，请重新获取")]
    ExpiredOrUsed,
    #[error("验证码错误次数过多，请重新获取")]
    TooManyAttempts,
    #[error(transparent)]
    Internal(#[from] IdentityError),
}

/// Issues and checks codes with one key.
#[derive(Clone)]
pub struct Codes {
    key: Vec<u8>,
    clock: Clock,
}

impl std::fmt::Debug for Codes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Codes(***)")
    }
}

impl Codes {
    pub fn new(key: &[u8]) -> Self {
        Self {
            key: key.to_vec(),
            clock: Clock::system(),
        }
    }

    /// The same codes expiring on `clock`.
    #[must_use]
    pub fn with_clock(self, clock: Clock) -> Self {
        Self { clock, ..self }
    }

    /// A keyed digest of `text` (signing short-lived tokens such as a programme switch).
    pub fn sign(&self, text: &str) -> String {
        self.digest(text)
    }

    /// Whether `signature` is [`Codes::sign`] of `text`, compared in constant time.
    pub fn verify_signature(&self, text: &str, signature: &str) -> bool {
        constant_eq(&self.digest(text), signature)
    }

    fn digest(&self, secret: &str) -> String {
        // HMAC accepts keys of any length.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("hmac takes any key length"));
        mac.update(secret.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    async fn store(
        &self,
        conn: &mut PgConnection,
        account_id: i64,
        purpose: CodePurpose,
        secret: &str,
        ttl: Duration,
    ) -> Result<i64, IdentityError> {
        // A new code replaces any earlier one of the same purpose.
        sqlx::query!(
            "update one_time_codes set used_at = now() where account_id = $1 and purpose = $2 \
             and used_at is null",
            account_id,
            purpose.as_str(),
        )
        .execute(&mut *conn)
        .await?;
        let id: i64 = sqlx::query_scalar!(
            "insert into one_time_codes (account_id, purpose, code_hash, expires_at) \
             values ($1, $2, $3, $4) returning code_id",
            account_id,
            purpose.as_str(),
            self.digest(secret),
            self.clock.now() + ttl,
        )
        .fetch_one(&mut *conn)
        .await?;
        Ok(id)
    }

    /// A new six-digit SMS code for the account; returns the code to send.
    pub async fn issue_sms_code(
        &self,
        conn: &mut PgConnection,
        account_id: i64,
        purpose: CodePurpose,
        ttl: Duration,
    ) -> Result<String, IdentityError> {
        let code = format!("{:06}", rand::random_range(0..1_000_000u32));
        self.store(conn, account_id, purpose, &code, ttl).await?;
        Ok(code)
    }

    /// A new six-digit SMS code for the account, valid only together with `bound` (e.g. the
    /// new mobile it is sent to): only the digest of both is stored, so the code confirms
    /// nothing else. Returns the code to send.
    pub async fn issue_bound_sms_code(
        &self,
        conn: &mut PgConnection,
        account_id: i64,
        purpose: CodePurpose,
        bound: &str,
        ttl: Duration,
    ) -> Result<String, IdentityError> {
        let code = format!("{:06}", rand::random_range(0..1_000_000u32));
        self.store(conn, account_id, purpose, &bound_secret(bound, &code), ttl)
            .await?;
        Ok(code)
    }

    /// Checks and uses up the latest live bound SMS code of the account: a wrong code, or the
    /// right code with another `bound`, counts as a wrong try.
    pub async fn consume_bound_sms_code(
        &self,
        conn: &mut PgConnection,
        account_id: i64,
        purpose: CodePurpose,
        bound: &str,
        code: &str,
    ) -> Result<(), CodeError> {
        self.consume_sms_code(conn, account_id, purpose, &bound_secret(bound, code.trim()))
            .await
    }

    /// A new set-password link token (`<id>.<secret>`) for the account.
    pub async fn issue_link_token(
        &self,
        conn: &mut PgConnection,
        account_id: i64,
        purpose: CodePurpose,
        ttl: Duration,
    ) -> Result<String, IdentityError> {
        let secret = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 24]>());
        let id = self.store(conn, account_id, purpose, &secret, ttl).await?;
        Ok(format!("{id}.{secret}"))
    }

    /// Checks and uses up the latest live SMS code of the account.
    pub async fn consume_sms_code(
        &self,
        conn: &mut PgConnection,
        account_id: i64,
        purpose: CodePurpose,
        code: &str,
    ) -> Result<(), CodeError> {
        let row: Option<(i64, String, i32, bool)> = sqlx::query!(
            r#"select code_id, code_hash, attempts,
                 (used_at is null and expires_at > $3) as "live!"
               from one_time_codes where account_id = $1 and purpose = $2
               order by created_at desc limit 1 for update"#,
            account_id,
            purpose.as_str(),
            self.clock.now(),
        )
        .fetch_optional(&mut *conn)
        .await
        .map_err(IdentityError::from)?
        .map(|r| (r.code_id, r.code_hash, r.attempts, r.live));
        self.check(conn, row, code.trim()).await
    }

    /// Checks a link token; returns the account it was issued for and uses it up.
    pub async fn consume_link_token(
        &self,
        conn: &mut PgConnection,
        purpose: CodePurpose,
        token: &str,
    ) -> Result<i64, CodeError> {
        let (id, secret) = token.split_once('.').ok_or(CodeError::ExpiredOrUsed)?;
        let id: i64 = id.parse().map_err(|_| CodeError::ExpiredOrUsed)?;
        let row: Option<(i64, i64, String, i32, bool)> = sqlx::query!(
            r#"select account_id, code_id, code_hash, attempts,
                 (used_at is null and expires_at > $3) as "live!"
               from one_time_codes where code_id = $1 and purpose = $2 for update"#,
            id,
            purpose.as_str(),
            self.clock.now(),
        )
        .fetch_optional(&mut *conn)
        .await
        .map_err(IdentityError::from)?
        .map(|r| (r.account_id, r.code_id, r.code_hash, r.attempts, r.live));
        let account_id = row.as_ref().map(|r| r.0);
        self.check(conn, row.map(|r| (r.1, r.2, r.3, r.4)), secret)
            .await?;
        account_id.ok_or(CodeError::ExpiredOrUsed)
    }

    /// Peeks at a link token without using it up (the set-password form is shown first).
    pub async fn link_account(
        &self,
        conn: &mut PgConnection,
        purpose: CodePurpose,
        token: &str,
    ) -> Result<Option<i64>, IdentityError> {
        let Some((id, secret)) = token.split_once('.') else {
            return Ok(None);
        };
        let Ok(id) = id.parse::<i64>() else {
            return Ok(None);
        };
        let row: Option<(i64, String)> = sqlx::query!(
            "select account_id, code_hash from one_time_codes where code_id = $1 and purpose = $2 \
             and used_at is null and expires_at > $4 and attempts < $3",
            id,
            purpose.as_str(),
            MAX_ATTEMPTS,
            self.clock.now(),
        )
        .fetch_optional(conn)
        .await?
        .map(|r| (r.account_id, r.code_hash));
        Ok(row
            .filter(|(_, hash)| constant_eq(hash, &self.digest(secret)))
            .map(|(account, _)| account))
    }

    async fn check(
        &self,
        conn: &mut PgConnection,
        row: Option<(i64, String, i32, bool)>,
        secret: &str,
    ) -> Result<(), CodeError> {
        let Some((code_id, hash, attempts, live)) = row else {
            return Err(CodeError::ExpiredOrUsed);
        };
        if !live {
            return Err(CodeError::ExpiredOrUsed);
        }
        if attempts >= MAX_ATTEMPTS {
            return Err(CodeError::TooManyAttempts);
        }
        if !constant_eq(&hash, &self.digest(secret)) {
            sqlx::query!(
                "update one_time_codes set attempts = attempts + 1 where code_id = $1",
                code_id,
            )
            .execute(&mut *conn)
            .await
            .map_err(IdentityError::from)?;
            return Err(if attempts + 1 >= MAX_ATTEMPTS {
                CodeError::TooManyAttempts
            } else {
                CodeError::Wrong
            });
        }
        sqlx::query!(
            "update one_time_codes set used_at = now() where code_id = $1",
            code_id,
        )
        .execute(&mut *conn)
        .await
        .map_err(IdentityError::from)?;
        Ok(())
    }
}

/// The secret a bound code is stored as.
fn bound_secret(bound: &str, code: &str) -> String {
    format!("{bound}\u{1f}{code}")
}

fn constant_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}
