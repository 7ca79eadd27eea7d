//! Passwords: the rules a new password must meet, and argon2id hashing off the async threads.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::IdentityError;

/// Shortest password accepted.
pub const MIN_CHARS: usize = 8;
/// Longest password accepted (bytes), so hashing cost stays bounded.
pub const MAX_BYTES: usize = 128;
/// A new password may not repeat any of this many previous ones (the current one included).
pub const HISTORY: usize = 5;

/// Why a new password is refused; `Display` is the Chinese message shown next to the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordProblem {
    #[error("密码至少 8 位")]
    TooShort,
    #[error("密码过长，最多 128 个字符")]
    TooLong,
    #[error("密码须同时包含字母和数字")]
    NeedsLettersAndDigits,
    #[error("密码不能与登录账号相同")]
    SameAsLoginName,
    #[error("不能使用最近 5 次用过的密码")]
    RecentlyUsed,
    #[error("两次输入的新密码不一致")]
    Mismatch,
}

/// Checks the rules that need no history: length, letters and digits, not the login name.
pub fn check_new_password(password: &str, login_name: &str) -> Result<(), PasswordProblem> {
    if password.len() > MAX_BYTES {
        return Err(PasswordProblem::TooLong);
    }
    if password.chars().count() < MIN_CHARS {
        return Err(PasswordProblem::TooShort);
    }
    let letters = password.chars().any(|c| c.is_ascii_alphabetic());
    let digits = password.chars().any(|c| c.is_ascii_digit());
    if !(letters && digits) {
        return Err(PasswordProblem::NeedsLettersAndDigits);
    }
    if password.trim().eq_ignore_ascii_case(login_name.trim()) {
        return Err(PasswordProblem::SameAsLoginName);
    }
    Ok(())
}

/// Argon2id with the configured cost. Hashing and verifying run on the blocking pool.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    /// A hash of a random password, verified against when an account does not exist so that
    /// answering takes as long as for a real account.
    dummy: String,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("m_cost", &self.params.m_cost())
            .field("t_cost", &self.params.t_cost())
            .finish()
    }
}

impl PasswordHasher {
    pub fn new(memory_kib: u32, iterations: u32) -> Result<Self, IdentityError> {
        let params = Params::new(memory_kib, iterations, 1, None)
            .map_err(|e| IdentityError::Hash(e.to_string()))?;
        let mut hasher = Self {
            params,
            dummy: String::new(),
        };
        let random: [u8; 16] = rand::random();
        hasher.dummy = hasher.hash_blocking(&hex::encode(random))?;
        Ok(hasher)
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// The PHC string (`$argon2id$v=19$m=…`) of `password` with a fresh salt.
    pub fn hash_blocking(&self, password: &str) -> Result<String, IdentityError> {
        let salt = SaltString::generate(&mut OsRng);
        self.argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| IdentityError::Hash(e.to_string()))
    }

    /// Whether `password` matches the PHC string (the string's own parameters are used, so
    /// hashes made under older settings keep working).
    pub fn verify_blocking(&self, password: &str, phc: &str) -> bool {
        match PasswordHash::new(phc) {
            Ok(parsed) => self
                .argon2()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok(),
            Err(_) => false,
        }
    }

    pub async fn hash(&self, password: &str) -> Result<String, IdentityError> {
        let this = self.clone();
        let password = password.to_string();
        tokio::task::spawn_blocking(move || this.hash_blocking(&password))
            .await
            .map_err(|e| IdentityError::Hash(e.to_string()))?
    }

    pub async fn verify(&self, password: &str, phc: &str) -> bool {
        let this = self.clone();
        let password = password.to_string();
        let phc = phc.to_string();
        tokio::task::spawn_blocking(move || this.verify_blocking(&password, &phc))
            .await
            .unwrap_or(false)
    }

    /// Spends the time of one verification without an account (unknown login names).
    pub async fn verify_dummy(&self, password: &str) {
        let dummy = self.dummy.clone();
        let _ = self.verify(password, &dummy).await;
    }

    /// Whether `password` matches any of `hashes` (the history check).
    pub async fn matches_any(&self, password: &str, hashes: Vec<String>) -> bool {
        let this = self.clone();
        let password = password.to_string();
        tokio::task::spawn_blocking(move || {
            hashes.iter().any(|h| this.verify_blocking(&password, h))
        })
        .await
        .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_of_a_new_password() {
        assert_eq!(
            check_new_password("abc123", "x"),
            Err(PasswordProblem::TooShort)
        );
        assert_eq!(
            check_new_password("abcdefgh", "x"),
            Err(PasswordProblem::NeedsLettersAndDigits)
        );
        assert_eq!(
            check_new_password("12345678", "x"),
            Err(PasswordProblem::NeedsLettersAndDigits)
        );
        assert_eq!(
            check_new_password("Jinshui2026", "jinshui2026"),
            Err(PasswordProblem::SameAsLoginName)
        );
        assert_eq!(
            check_new_password(&"a1".repeat(65), "x"),
            Err(PasswordProblem::TooLong)
        );
        assert_eq!(check_new_password("安全密码abc12345", "金水区"), Ok(()));
        assert_eq!(check_new_password("Xiaobao2026", "金水区"), Ok(()));
    }

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let h = PasswordHasher::new(8 * 1024, 1).expect("hasher");
        let phc = h.hash_blocking("Xiaobao2026").expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=8192,t=1,p=1$"), "{phc}");
        assert!(h.verify_blocking("Xiaobao2026", &phc));
        assert!(!h.verify_blocking("Xiaobao2027", &phc));
        assert!(!h.verify_blocking("Xiaobao2026", "not a hash"));
        // Salted: the same password hashes differently.
        assert_ne!(phc, h.hash_blocking("Xiaobao2026").expect("hash"));
    }
}
