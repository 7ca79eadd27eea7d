//! Two-factor sign-in with a time-based one-time password (RFC 6238: HMAC-SHA-1, 30-second
//! steps, 6 digits), its secret sealed at rest, and recovery codes kept only as salted hashes.
//!
//! - A code is accepted for the current step and one step either side (a phone's clock a
//!   little off), but never for a step at or before the last one accepted for the account
//!   (`account_totp.last_used_step`): an observed code cannot be replayed.
//! - The secret (20 random bytes) is sealed with AES-256-GCM under a per-programme key the
//!   caller derives from the keyring ([`TotpKeys`]); the sealed value records the key's id and
//!   is bound to its account (the account id is authenticated data), so a value copied to
//!   another account's row does not open.
//! - Recovery codes (10, each 10 characters from 31 unambiguous letters and digits, about 49
//!   bits) are stored as SHA-256 over a 16-byte random salt of their own and the code.
//!
//! Time always comes from the caller (the application's clock), never from the system.

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;

use crate::IdentityError;

/// Seconds per time step.
pub const STEP_SECS: i64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Bytes of a secret (160 bits, as RFC 4226 recommends).
pub const SECRET_LEN: usize = 20;
/// Recovery codes given at enrolment.
pub const RECOVERY_CODES: usize = 10;
/// The issuer shown in authenticator apps.
pub const ISSUER: &str = "校保";
/// The HKDF label under which a programme's sealing keys are derived from the ID key set
/// (`xiaobao_roster::derived_keys`), so they never equal the ID sealing keys.
pub const SEAL_INFO: &[u8] = b"xiaobao/identity/totp-seal/v1\0";

const RECOVERY_ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyz";
const RECOVERY_LEN: usize = 10;
const SEAL_VERSION: u8 = 0x01;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// The HOTP value (RFC 4226) of `counter`, truncated to `digits` decimal digits.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let offset = usize::from(h[h.len() - 1] & 0x0f);
    let bin = u32::from_be_bytes([
        h[offset] & 0x7f,
        h[offset + 1],
        h[offset + 2],
        h[offset + 3],
    ]);
    bin % 10u32.pow(digits)
}

/// The time step of a moment (seconds since the epoch / 30; 0 before the epoch).
pub fn step_at(at: DateTime<Utc>) -> u64 {
    u64::try_from(at.timestamp().max(0) / STEP_SECS).unwrap_or(0)
}

/// The 6-digit code of a step, zero-padded.
pub fn code_for_step(secret: &[u8], step: u64) -> String {
    format!("{:06}", hotp(secret, step, DIGITS))
}

/// The 6-digit code at a moment.
pub fn code_at(secret: &[u8], at: DateTime<Utc>) -> String {
    code_for_step(secret, step_at(at))
}

/// Whether `code` looks like a TOTP code (6 digits, spaces ignored).
pub fn looks_like_code(code: &str) -> Option<String> {
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    (digits.len() == DIGITS as usize && digits.chars().all(|c| c.is_ascii_digit()))
        .then_some(digits)
}

/// The step `code` is valid for at `now` (the current step or one either side), newer than
/// `last_used`; `None` when it matches none of them.
pub fn matching_step(
    secret: &[u8],
    code: &str,
    now: DateTime<Utc>,
    last_used: Option<u64>,
) -> Option<u64> {
    let code = looks_like_code(code)?;
    let current = step_at(now);
    let mut found = None;
    for step in [current.saturating_sub(1), current, current + 1] {
        // Every candidate is computed and compared, so the time taken does not tell which.
        let same = constant_eq(code_for_step(secret, step).as_bytes(), code.as_bytes());
        if same && found.is_none() && last_used.is_none_or(|l| step > l) {
            found = Some(step);
        }
    }
    found
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A new random secret.
pub fn new_secret() -> [u8; SECRET_LEN] {
    rand::random()
}

/// The secret in base32 without padding (for typing into an app).
pub fn base32(secret: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(secret)
}

/// Reads a base32 secret (spaces and case ignored).
pub fn from_base32(text: &str) -> Option<Vec<u8>> {
    let clean: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '=')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    data_encoding::BASE32_NOPAD.decode(clean.as_bytes()).ok()
}

/// The `otpauth://` URI an authenticator app reads from the QR code: issuer 校保 and the
/// programme in the label, the login name as the account.
pub fn otpauth_uri(programme: &str, login_name: &str, secret: &[u8]) -> String {
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    let enc = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
    let issuer = format!("{ISSUER} {programme}");
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        enc(&issuer),
        enc(login_name),
        base32(secret),
        enc(&issuer),
    )
}

/// New recovery codes, as shown once (`xxxxx-xxxxx`).
pub fn new_recovery_codes() -> Vec<String> {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..RECOVERY_CODES)
        .map(|_| {
            let chars: String = (0..RECOVERY_LEN)
                .map(|_| {
                    char::from(RECOVERY_ALPHABET[rng.random_range(0..RECOVERY_ALPHABET.len())])
                })
                .collect();
            format!(
                "{}-{}",
                &chars[..RECOVERY_LEN / 2],
                &chars[RECOVERY_LEN / 2..]
            )
        })
        .collect()
}

/// A typed recovery code as stored: lower case, without separators and spaces.
pub fn normalise_recovery_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .take(64)
        .collect()
}

/// SHA-256 over the salt, a label and the normalised code.
pub fn recovery_hash(salt: &[u8], code: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(b"xiaobao totp recovery v1\0");
    h.update(normalise_recovery_code(code).as_bytes());
    h.finalize().into()
}

/// The sealing keys of one programme: the current one (id, key) and, during a rotation, the
/// previous one, which still opens what it sealed.
#[derive(Clone)]
pub struct TotpKeys {
    current: (u8, Aes256Gcm),
    previous: Option<(u8, Aes256Gcm)>,
}

impl std::fmt::Debug for TotpKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TotpKeys {{ current: {}, .. }}", self.current.0)
    }
}

/// A sealed secret could not be opened (another key, account or altered bytes).
#[derive(Debug, thiserror::Error)]
#[error("sealed TOTP secret cannot be opened")]
pub struct OpenError;

impl TotpKeys {
    /// From derived 32-byte keys, the current first; `None` when there is none.
    pub fn new(keys: &[(u8, [u8; 32])]) -> Option<Self> {
        let cipher = |(id, key): &(u8, [u8; 32])| (*id, Aes256Gcm::new(&(*key).into()));
        let current = cipher(keys.first()?);
        let previous = keys.get(1).filter(|k| k.0 != current.0).map(cipher);
        Some(Self { current, previous })
    }

    /// The key id new secrets are sealed under.
    pub fn key_id(&self) -> u8 {
        self.current.0
    }

    fn aad(header: &[u8], account_id: i64) -> Vec<u8> {
        let mut aad = header.to_vec();
        aad.extend_from_slice(b"account_totp\0");
        aad.extend_from_slice(&account_id.to_be_bytes());
        aad
    }

    /// `0x01 | key id | nonce | ciphertext | tag`, bound to `account_id`.
    pub fn seal(&self, account_id: i64, secret: &[u8]) -> Result<Vec<u8>, OpenError> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let header = [SEAL_VERSION, self.current.0];
        let mut body = secret.to_vec();
        let tag = self
            .current
            .1
            .encrypt_in_place_detached(
                Nonce::from_slice(&nonce),
                &Self::aad(&header, account_id),
                &mut body,
            )
            .map_err(|_| OpenError)?;
        let mut out = header.to_vec();
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&body);
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// Opens what [`TotpKeys::seal`] made for `account_id`.
    pub fn open(&self, account_id: i64, sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        if sealed.len() < 2 + NONCE_LEN + TAG_LEN || sealed[0] != SEAL_VERSION {
            return Err(OpenError);
        }
        let (header, rest) = sealed.split_at(2);
        let cipher = match (&self.current, &self.previous) {
            ((id, c), _) if *id == header[1] => c,
            (_, Some((id, c))) if *id == header[1] => c,
            _ => return Err(OpenError),
        };
        let (nonce, rest) = rest.split_at(NONCE_LEN);
        let (body, tag) = rest.split_at(rest.len() - TAG_LEN);
        let mut plain = body.to_vec();
        cipher
            .decrypt_in_place_detached(
                Nonce::from_slice(nonce),
                &Self::aad(header, account_id),
                &mut plain,
                aes_gcm::Tag::from_slice(tag),
            )
            .map_err(|_| OpenError)?;
        Ok(plain)
    }

    /// Whether `sealed` was made under another key than the current one.
    pub fn needs_reseal(&self, sealed: &[u8]) -> bool {
        sealed.get(1) != Some(&self.current.0)
    }
}

/// An account's two-factor row.
#[derive(Debug, Clone)]
pub struct TotpRow {
    pub secret_sealed: Vec<u8>,
    pub enabled_at: Option<DateTime<Utc>>,
    pub last_used_step: Option<i64>,
}

/// The account's row, locked for update (concurrent sign-ins use a step one after another).
pub async fn row_for_update(
    conn: &mut PgConnection,
    account_id: i64,
) -> Result<Option<TotpRow>, IdentityError> {
    Ok(sqlx::query_as!(
        TotpRow,
        "select secret_sealed, enabled_at, last_used_step from account_totp \
         where account_id = $1 for update",
        account_id,
    )
    .fetch_optional(conn)
    .await?)
}

/// Whether the account signs in with a second factor.
pub async fn is_enabled(conn: &mut PgConnection, account_id: i64) -> Result<bool, IdentityError> {
    Ok(sqlx::query_scalar!(
        r#"select exists (select 1 from account_totp
             where account_id = $1 and enabled_at is not null) as "enabled!""#,
        account_id,
    )
    .fetch_one(conn)
    .await?)
}

/// Unused recovery codes of the account.
pub async fn recovery_codes_left(
    conn: &mut PgConnection,
    account_id: i64,
) -> Result<i64, IdentityError> {
    Ok(sqlx::query_scalar!(
        r#"select count(*) as "n!" from totp_recovery_codes
           where account_id = $1 and used_at is null"#,
        account_id,
    )
    .fetch_one(conn)
    .await?)
}

/// Stores a pending enrolment (replacing an earlier pending one).
pub async fn store_pending(
    conn: &mut PgConnection,
    account_id: i64,
    sealed: &[u8],
) -> Result<(), IdentityError> {
    sqlx::query!(
        "insert into account_totp (account_id, secret_sealed) values ($1, $2) \
         on conflict (account_id) do update set secret_sealed = excluded.secret_sealed, \
           enabled_at = null, last_used_step = null, updated_at = now() \
         where account_totp.enabled_at is null",
        account_id,
        sealed,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Turns two-factor sign-in on at `now` with the step of the confirming code, and replaces the
/// account's recovery codes by `codes` (stored hashed).
pub async fn enable(
    conn: &mut PgConnection,
    account_id: i64,
    step: u64,
    now: DateTime<Utc>,
    codes: &[String],
) -> Result<(), IdentityError> {
    sqlx::query!(
        "update account_totp set enabled_at = $2, last_used_step = $3, updated_at = now() \
         where account_id = $1",
        account_id,
        now,
        i64::try_from(step).unwrap_or(i64::MAX),
    )
    .execute(&mut *conn)
    .await?;
    replace_recovery_codes(conn, account_id, codes).await
}

/// Replaces every recovery code of the account (used or not) by `codes`, stored hashed.
pub async fn replace_recovery_codes(
    conn: &mut PgConnection,
    account_id: i64,
    codes: &[String],
) -> Result<(), IdentityError> {
    sqlx::query!(
        "delete from totp_recovery_codes where account_id = $1",
        account_id
    )
    .execute(&mut *conn)
    .await?;
    for code in codes {
        let salt: [u8; 16] = rand::random();
        let hash = recovery_hash(&salt, code);
        sqlx::query!(
            "insert into totp_recovery_codes (account_id, salt, code_hash) values ($1, $2, $3)",
            account_id,
            &salt[..],
            &hash[..],
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Records the step of an accepted code.
pub async fn use_step(
    conn: &mut PgConnection,
    account_id: i64,
    step: u64,
) -> Result<(), IdentityError> {
    sqlx::query!(
        "update account_totp set last_used_step = $2, updated_at = now() where account_id = $1",
        account_id,
        i64::try_from(step).unwrap_or(i64::MAX),
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Uses up the unused recovery code `code` matches; whether there was one.
pub async fn use_recovery_code(
    conn: &mut PgConnection,
    account_id: i64,
    code: &str,
) -> Result<bool, IdentityError> {
    let rows = sqlx::query!(
        "select code_id, salt, code_hash from totp_recovery_codes \
         where account_id = $1 and used_at is null for update",
        account_id,
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut found = None;
    for row in rows {
        let same = constant_eq(&recovery_hash(&row.salt, code), &row.code_hash);
        if same && found.is_none() {
            found = Some(row.code_id);
        }
    }
    let Some(code_id) = found else {
        return Ok(false);
    };
    sqlx::query!(
        "update totp_recovery_codes set used_at = now() where code_id = $1",
        code_id
    )
    .execute(conn)
    .await?;
    Ok(true)
}

/// Turns two-factor sign-in off: the secret and the recovery codes are deleted.
pub async fn remove(conn: &mut PgConnection, account_id: i64) -> Result<(), IdentityError> {
    sqlx::query!(
        "delete from totp_recovery_codes where account_id = $1",
        account_id
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!("delete from account_totp where account_id = $1", account_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// How a second factor was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    Code,
    RecoveryCode,
}

/// Checks a code or recovery code against the account's (locked) row at `now`, using it up
/// when it matches: the step is recorded, or the recovery code marked used.
pub async fn check_and_use(
    conn: &mut PgConnection,
    keys: &TotpKeys,
    account_id: i64,
    row: &TotpRow,
    input: &str,
    now: DateTime<Utc>,
) -> Result<Option<Factor>, IdentityError> {
    if looks_like_code(input).is_some() {
        let Ok(secret) = keys.open(account_id, &row.secret_sealed) else {
            tracing::error!(account_id, "a TOTP secret does not open with the keys held");
            return Ok(None);
        };
        let last = row.last_used_step.and_then(|s| u64::try_from(s).ok());
        return match matching_step(&secret, input, now, last) {
            Some(step) => {
                use_step(conn, account_id, step).await?;
                Ok(Some(Factor::Code))
            }
            None => Ok(None),
        };
    }
    let normalised = normalise_recovery_code(input);
    if normalised.len() != RECOVERY_LEN {
        return Ok(None);
    }
    Ok(use_recovery_code(conn, account_id, &normalised)
        .await?
        .then_some(Factor::RecoveryCode))
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).unwrap()
    }

    #[test]
    fn rfc_6238_sha1_vectors() {
        // RFC 6238, appendix B (SHA-1): 8 digits.
        for (t, code) in [
            (59, 94287082),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ] {
            assert_eq!(hotp(RFC_SECRET, step_at(at(t)), 8), code, "T={t}");
        }
        // 6 digits are the last 6 of the 8.
        assert_eq!(code_at(RFC_SECRET, at(59)), "287082");
        assert_eq!(code_at(RFC_SECRET, at(1111111109)), "081804");
    }

    #[test]
    fn rfc_4226_hotp_vectors() {
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(hotp(RFC_SECRET, counter as u64, 6), *code);
        }
    }

    #[test]
    fn a_step_either_side_and_never_twice() {
        let now = at(1_000_000_000);
        let step = step_at(now);
        let previous = code_for_step(RFC_SECRET, step - 1);
        let next = code_for_step(RFC_SECRET, step + 1);
        let old = code_for_step(RFC_SECRET, step - 2);
        assert_eq!(
            matching_step(RFC_SECRET, &previous, now, None),
            Some(step - 1)
        );
        assert_eq!(matching_step(RFC_SECRET, &next, now, None), Some(step + 1));
        assert_eq!(matching_step(RFC_SECRET, &old, now, None), None);
        let current = code_at(RFC_SECRET, now);
        assert_eq!(matching_step(RFC_SECRET, &current, now, Some(step)), None);
        assert_eq!(matching_step(RFC_SECRET, &previous, now, Some(step)), None);
        assert_eq!(
            matching_step(RFC_SECRET, &current, now, Some(step - 1)),
            Some(step)
        );
        assert_eq!(matching_step(RFC_SECRET, "12345", now, None), None);
        assert_eq!(matching_step(RFC_SECRET, "abcdef", now, None), None);
    }

    #[test]
    fn secrets_in_base32_and_the_uri() {
        assert_eq!(base32(RFC_SECRET), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(
            from_base32("gezd gnbv gy3t qojq gezd gnbv gy3t qojq").unwrap(),
            RFC_SECRET
        );
        let uri = otpauth_uri("河南省", "admin", RFC_SECRET);
        assert!(uri.starts_with("otpauth://totp/"), "{uri}");
        assert!(uri.contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"));
        assert!(uri.contains("issuer=%E6%A0%A1%E4%BF%9D"), "{uri}");
    }

    #[test]
    fn sealed_secrets_open_only_for_their_account_and_key() {
        let keys = TotpKeys::new(&[(2, [7; 32]), (1, [9; 32])]).unwrap();
        let sealed = keys.seal(42, RFC_SECRET).unwrap();
        assert_eq!(sealed[1], 2);
        assert_eq!(keys.open(42, &sealed).unwrap(), RFC_SECRET);
        assert!(keys.open(43, &sealed).is_err());
        let old = TotpKeys::new(&[(1, [9; 32])]).unwrap();
        let by_old = old.seal(42, RFC_SECRET).unwrap();
        assert_eq!(keys.open(42, &by_old).unwrap(), RFC_SECRET);
        assert!(keys.needs_reseal(&by_old));
        assert!(old.open(42, &sealed).is_err());
        let mut altered = sealed.clone();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        assert!(keys.open(42, &altered).is_err());
    }

    #[test]
    fn recovery_codes_are_random_and_hashed_with_their_salt() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        assert!(
            codes
                .iter()
                .all(|c| c.len() == 11 && c.as_bytes()[5] == b'-')
        );
        let salt = [1u8; 16];
        let h = recovery_hash(&salt, &codes[0]);
        assert_eq!(
            h,
            recovery_hash(&salt, &codes[0].to_uppercase().replace('-', " "))
        );
        assert_ne!(h, recovery_hash(&[2u8; 16], &codes[0]));
    }
}
