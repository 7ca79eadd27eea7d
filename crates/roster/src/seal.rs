//! Resident ID numbers at rest: encrypted per tenant, matched by a keyed hash.
//!
//! Rosters hold the ID numbers of minors, sensitive personal information under PIPL. Each
//! tenant gets two keys derived from the configured master secret with HKDF-SHA256 (the
//! tenant's slug in the `info`): an AES-256-GCM key for the number itself and an
//! HMAC-SHA256 key for the match hash. Equal IDs in one tenant have equal hashes, so
//! duplicates and "is this student already insured" are found without decrypting; the same
//! ID in two tenants hashes differently, so tenants' data cannot be joined.

use std::fmt;

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use xiaobao_domain::ResidentId;

/// The shortest master secret [`IdSealer::try_for_tenant`] accepts, in bytes.
pub const MIN_MASTER_LEN: usize = 32;

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Fixed HKDF salt: the master secret is already uniformly random; the salt only separates
/// this use of it from any other.
const SALT: &[u8] = b"xiaobao roster resident-id v1";
const SEAL_INFO: &[u8] = b"xiaobao/roster/id-seal/v1\0";
const MATCH_INFO: &[u8] = b"xiaobao/roster/id-match/v1\0";

/// A sealed ID could not be opened: wrong tenant or key, or the bytes were altered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sealed ID cannot be opened")]
pub struct SealError;

/// The master secret is shorter than [`MIN_MASTER_LEN`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the ID master secret has {len} bytes; at least 32 are required")]
pub struct ShortSecretError {
    pub len: usize,
}

/// Encrypts and matches one tenant's resident ID numbers.
#[derive(Clone)]
pub struct IdSealer {
    cipher: Aes256Gcm,
    mac: Hmac<Sha256>,
}

impl fmt::Debug for IdSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdSealer(..)")
    }
}

impl IdSealer {
    /// The sealer of tenant `tenant` (its slug). Callers pass the configured master secret of
    /// at least [`MIN_MASTER_LEN`] random bytes; [`IdSealer::try_for_tenant`] checks that.
    pub fn for_tenant(master: &[u8], tenant: &str) -> IdSealer {
        let hkdf = Hkdf::<Sha256>::new(Some(SALT), master);
        let seal_key: [u8; 32] = derive(&hkdf, SEAL_INFO, tenant);
        let match_key: [u8; 32] = derive(&hkdf, MATCH_INFO, tenant);
        IdSealer {
            cipher: Aes256Gcm::new(&seal_key.into()),
            mac: <Hmac<Sha256> as KeyInit>::new_from_slice(&match_key)
                .expect("HMAC accepts keys of any length"),
        }
    }

    /// Like [`IdSealer::for_tenant`], refusing a master secret shorter than
    /// [`MIN_MASTER_LEN`] bytes.
    pub fn try_for_tenant(master: &[u8], tenant: &str) -> Result<IdSealer, ShortSecretError> {
        if master.len() < MIN_MASTER_LEN {
            return Err(ShortSecretError { len: master.len() });
        }
        Ok(Self::for_tenant(master, tenant))
    }

    /// Encrypts: 12 random nonce bytes, then the ciphertext and its 16-byte tag.
    pub fn seal(&self, id: &ResidentId) -> Vec<u8> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let plain = id.as_str().as_bytes();
        let mut out = Vec::with_capacity(NONCE_LEN + plain.len() + TAG_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plain);
        let tag = self
            .cipher
            .encrypt_in_place_detached(Nonce::from_slice(&nonce), &[], &mut out[NONCE_LEN..])
            .expect("AES-GCM only refuses plaintexts of many gigabytes");
        out.extend_from_slice(&tag);
        out
    }

    /// Decrypts what [`IdSealer::seal`] made; an error when the bytes were altered or sealed
    /// with another tenant's (or another master secret's) key.
    pub fn open(&self, sealed: &[u8]) -> Result<ResidentId, SealError> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(SealError);
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let (cipher_text, tag) = rest.split_at(rest.len() - TAG_LEN);
        let mut plain = cipher_text.to_vec();
        self.cipher
            .decrypt_in_place_detached(
                Nonce::from_slice(nonce),
                &[],
                &mut plain,
                aes_gcm::Tag::from_slice(tag),
            )
            .map_err(|_| SealError)?;
        let text = String::from_utf8(plain).map_err(|_| SealError)?;
        ResidentId::parse(&text).map_err(|_| SealError)
    }

    /// A 16-byte keyed hash (the first half of HMAC-SHA256) of the normalised ID, equal for
    /// equal IDs within the tenant, for matching and duplicate checks.
    pub fn match_hash(&self, id: &ResidentId) -> [u8; 16] {
        let mut mac = self.mac.clone();
        mac.update(id.as_str().as_bytes());
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; 16];
        out.copy_from_slice(&full[..16]);
        out
    }
}

/// One 32-byte key for `purpose` of `tenant`.
fn derive(hkdf: &Hkdf<Sha256>, purpose: &[u8], tenant: &str) -> [u8; 32] {
    let mut key = [0u8; 32];
    hkdf.expand_multi_info(&[purpose, tenant.as_bytes()], &mut key)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    key
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    const MASTER: &[u8] = b"0123456789abcdef0123456789abcdef-test-master";

    fn id(s: &str) -> ResidentId {
        ResidentId::parse(s).unwrap()
    }

    #[test]
    fn sealed_ids_open_again() {
        let sealer = IdSealer::for_tenant(MASTER, "henan");
        let original = id("11010519491231002X");
        let sealed = sealer.seal(&original);
        assert_eq!(sealed.len(), NONCE_LEN + 18 + TAG_LEN);
        assert!(
            !sealed
                .windows(18)
                .any(|w| w == original.as_str().as_bytes())
        );
        assert_eq!(sealer.open(&sealed).unwrap(), original);
        // A fresh nonce each time.
        assert_ne!(sealer.seal(&original), sealed);
    }

    #[test]
    fn tampered_or_foreign_seals_do_not_open() {
        let sealer = IdSealer::for_tenant(MASTER, "henan");
        let sealed = sealer.seal(&id("11010519491231002X"));
        for i in [0, NONCE_LEN, sealed.len() - 1] {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert_eq!(sealer.open(&bad), Err(SealError), "byte {i}");
        }
        assert_eq!(sealer.open(&sealed[..20]), Err(SealError));
        assert_eq!(sealer.open(&[]), Err(SealError));
        let other = IdSealer::for_tenant(MASTER, "shanghai");
        assert_eq!(other.open(&sealed), Err(SealError));
        let other_master = IdSealer::for_tenant(b"another master secret of 32 bytes!!", "henan");
        assert_eq!(other_master.open(&sealed), Err(SealError));
    }

    #[test]
    fn match_hashes_equal_within_a_tenant_only() {
        let henan = IdSealer::for_tenant(MASTER, "henan");
        let shanghai = IdSealer::for_tenant(MASTER, "shanghai");
        let a = id("11010519491231002X");
        let b = id("520201201503121235");
        assert_eq!(henan.match_hash(&a), henan.match_hash(&a.clone()));
        assert_eq!(
            henan.match_hash(&a),
            IdSealer::for_tenant(MASTER, "henan").match_hash(&id("11010519491231002x"))
        );
        assert_ne!(henan.match_hash(&a), henan.match_hash(&b));
        assert_ne!(henan.match_hash(&a), shanghai.match_hash(&a));
    }

    #[test]
    fn short_master_secrets_are_refused_on_request() {
        assert_eq!(
            IdSealer::try_for_tenant(b"short", "henan").unwrap_err(),
            ShortSecretError { len: 5 }
        );
        assert!(IdSealer::try_for_tenant(MASTER, "henan").is_ok());
        assert_eq!(
            format!("{:?}", IdSealer::for_tenant(MASTER, "henan")),
            "IdSealer(..)"
        );
    }
}
