//! Resident ID numbers at rest: encrypted per tenant, matched by a keyed hash.
//!
//! Rosters hold the ID numbers of minors, sensitive personal information under PIPL. Each
//! tenant gets two keys derived from configured master secrets with HKDF-SHA256 (the tenant's
//! slug in the `info`): an AES-256-GCM key for the number itself and an HMAC-SHA256 key for
//! the match hash. Equal IDs in one tenant have equal hashes, so duplicates and "is this
//! student already insured" are found without decrypting; the same ID in two tenants hashes
//! differently, so tenants' data cannot be joined.
//!
//! **Key ids.** Each sealing master secret has an id (1–255, `personal_data.id_key_id`). A
//! sealed value records the id of the key that sealed it:
//!
//! ```text
//! 0x01 (format version) | key id | 12-byte nonce | ciphertext | 16-byte tag
//! ```
//!
//! with the first two bytes as associated data. [`IdSealer::open`] picks the key by that id,
//! so values sealed under a previous key still open while they are re-sealed (rotation). The
//! format before key ids (nonce | ciphertext | tag, 46 bytes for an 18-character ID) still
//! opens, as key id 1.
//!
//! **The match hash never rotates.** Its key comes from one fixed secret (the *match secret*,
//! by default the ID key itself, see [`IdSealer::encode_keys`]), not from whichever key
//! seals, because a hash must stay equal for equal IDs across every roster already stored:
//! a changed match key would make duplicate and cross-school checks miss every old row.

use std::fmt;

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use xiaobao_domain::ResidentId;

/// The shortest master secret [`IdSealer::try_for_tenant`] accepts, in bytes.
pub const MIN_MASTER_LEN: usize = 32;

/// The key id of a master secret given without one, and of values sealed before key ids.
pub const DEFAULT_KEY_ID: u8 = 1;

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// A resident ID number is 18 ASCII characters.
const ID_LEN: usize = 18;
/// The sealed format that records its key id.
const VERSION: u8 = 0x01;
const HEADER_LEN: usize = 2;
/// Length of a value sealed before key ids existed (always key id 1).
const LEGACY_LEN: usize = NONCE_LEN + ID_LEN + TAG_LEN;
/// Fixed HKDF salt: the master secret is already uniformly random; the salt only separates
/// this use of it from any other.
const SALT: &[u8] = b"xiaobao roster resident-id v1";
const SEAL_INFO: &[u8] = b"xiaobao/roster/id-seal/v1\0";
const MATCH_INFO: &[u8] = b"xiaobao/roster/id-match/v1\0";
/// Marks an encoded [`IdKeySet`] where a master secret is expected.
const KEYSET_MAGIC: &[u8] = b"xiaobao-id-keys\x00\x01";

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

/// The ID master secrets of a deployment: the current sealing key and its id, an optional
/// previous key (opening only, during rotation) and the match secret. Outside this module it
/// travels encoded ([`IdSealer::encode_keys`]), in place of one master secret.
#[derive(Clone, PartialEq, Eq)]
struct IdKeySet {
    current: (u8, Vec<u8>),
    previous: Option<(u8, Vec<u8>)>,
    match_secret: Vec<u8>,
}

impl fmt::Debug for IdKeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "IdKeySet {{ current: {}, previous: {:?}, .. }}",
            self.current.0,
            self.previous.as_ref().map(|p| p.0)
        )
    }
}

impl IdKeySet {
    fn encode(&self) -> Vec<u8> {
        let mut out = KEYSET_MAGIC.to_vec();
        let mut push = |id: u8, secret: &[u8]| {
            out.push(id);
            out.extend_from_slice(&u32::try_from(secret.len()).unwrap_or(0).to_be_bytes());
            out.extend_from_slice(secret);
        };
        push(self.current.0, &self.current.1);
        push(0, &self.match_secret);
        if let Some((id, secret)) = &self.previous {
            push(*id, secret);
        }
        out
    }

    /// Reads what [`IdKeySet::encode`] made; `None` for anything else (a plain secret).
    fn decode(bytes: &[u8]) -> Option<IdKeySet> {
        let mut rest = bytes.strip_prefix(KEYSET_MAGIC)?;
        let mut entries = Vec::new();
        while !rest.is_empty() {
            let (&id, after) = rest.split_first()?;
            let len = usize::try_from(u32::from_be_bytes(after.get(..4)?.try_into().ok()?)).ok()?;
            let secret = after.get(4..4 + len)?;
            entries.push((id, secret.to_vec()));
            rest = &after[4 + len..];
        }
        let mut entries = entries.into_iter();
        let current = entries.next()?;
        let (_, match_secret) = entries.next()?;
        let previous = entries.next();
        Some(IdKeySet {
            current,
            previous,
            match_secret,
        })
    }
}

/// Encrypts and matches one tenant's resident ID numbers.
#[derive(Clone)]
pub struct IdSealer {
    current: (u8, Aes256Gcm),
    previous: Option<(u8, Aes256Gcm)>,
    mac: Hmac<Sha256>,
}

impl fmt::Debug for IdSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdSealer(..)")
    }
}

impl IdSealer {
    /// The sealer of tenant `tenant` (its slug). `master` is either one master secret of at
    /// least [`MIN_MASTER_LEN`] random bytes (key id 1, also the match secret;
    /// [`IdSealer::try_for_tenant`] checks the length) or a key set from [`IdSealer::encode_keys`].
    pub fn for_tenant(master: &[u8], tenant: &str) -> IdSealer {
        match IdKeySet::decode(master) {
            Some(keys) => Self::with_keys(&keys, tenant),
            None => Self::with_keys(
                &IdKeySet {
                    current: (DEFAULT_KEY_ID, master.to_vec()),
                    previous: None,
                    match_secret: master.to_vec(),
                },
                tenant,
            ),
        }
    }

    /// A key set, encoded for [`IdSealer::for_tenant`] in place of one master secret: new
    /// values are sealed with `current` (key id, secret); values recording the id of
    /// `previous` open with it too (rotation; ignored when its id is the current one); the
    /// match hash is keyed by `match_secret`, by default the current secret. The match secret
    /// must never change once rosters are stored (see the module documentation): after a
    /// rotation it stays the first ID key.
    pub fn encode_keys(
        current: (u8, &[u8]),
        previous: Option<(u8, &[u8])>,
        match_secret: Option<&[u8]>,
    ) -> Vec<u8> {
        IdKeySet {
            current: (current.0, current.1.to_vec()),
            previous: previous
                .filter(|(id, _)| *id != current.0)
                .map(|(id, secret)| (id, secret.to_vec())),
            match_secret: match_secret.unwrap_or(current.1).to_vec(),
        }
        .encode()
    }

    /// The sealer of tenant `tenant` under `keys`.
    fn with_keys(keys: &IdKeySet, tenant: &str) -> IdSealer {
        let cipher = |secret: &[u8]| {
            let hkdf = Hkdf::<Sha256>::new(Some(SALT), secret);
            let seal_key: [u8; 32] = derive(&hkdf, SEAL_INFO, tenant);
            Aes256Gcm::new(&seal_key.into())
        };
        let match_key: [u8; 32] = derive(
            &Hkdf::<Sha256>::new(Some(SALT), &keys.match_secret),
            MATCH_INFO,
            tenant,
        );
        IdSealer {
            current: (keys.current.0, cipher(&keys.current.1)),
            previous: keys
                .previous
                .as_ref()
                .map(|(id, secret)| (*id, cipher(secret))),
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

    /// The key id new values are sealed under.
    pub fn key_id(&self) -> u8 {
        self.current.0
    }

    /// Encrypts: the format version `0x01`, the current key id, 12 random nonce bytes, then
    /// the ciphertext and its 16-byte tag (the first two bytes are authenticated too).
    pub fn seal(&self, id: &ResidentId) -> Vec<u8> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let plain = id.as_str().as_bytes();
        let header = [VERSION, self.current.0];
        let mut out = Vec::with_capacity(HEADER_LEN + NONCE_LEN + plain.len() + TAG_LEN);
        out.extend_from_slice(&header);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plain);
        let tag = self
            .current
            .1
            .encrypt_in_place_detached(
                Nonce::from_slice(&nonce),
                &header,
                &mut out[HEADER_LEN + NONCE_LEN..],
            )
            .expect("AES-GCM only refuses plaintexts of many gigabytes");
        out.extend_from_slice(&tag);
        out
    }

    /// The key id a sealed value records (1 for the format before key ids), or `None` when
    /// the bytes are no sealed ID.
    pub fn sealed_key_id(sealed: &[u8]) -> Option<u8> {
        if sealed.len() == LEGACY_LEN {
            Some(DEFAULT_KEY_ID)
        } else if sealed.len() >= HEADER_LEN + NONCE_LEN + TAG_LEN && sealed[0] == VERSION {
            Some(sealed[1])
        } else {
            None
        }
    }

    /// Whether `sealed` was made under another key than the current one (or in the format
    /// before key ids), so that re-sealing it would change it.
    pub fn needs_reseal(&self, sealed: &[u8]) -> bool {
        sealed.len() == LEGACY_LEN || Self::sealed_key_id(sealed) != Some(self.current.0)
    }

    /// Decrypts what [`IdSealer::seal`] made, with the key whose id the value records (the
    /// current or the previous key); an error when the bytes were altered or sealed with
    /// another tenant's key or a key this sealer does not hold.
    pub fn open(&self, sealed: &[u8]) -> Result<ResidentId, SealError> {
        let (header, body) = if sealed.len() == LEGACY_LEN {
            (&[][..], sealed)
        } else if sealed.len() >= HEADER_LEN + NONCE_LEN + TAG_LEN && sealed[0] == VERSION {
            sealed.split_at(HEADER_LEN)
        } else {
            return Err(SealError);
        };
        let key_id = Self::sealed_key_id(sealed).ok_or(SealError)?;
        let cipher = if key_id == self.current.0 {
            &self.current.1
        } else {
            match &self.previous {
                Some((id, cipher)) if *id == key_id => cipher,
                _ => return Err(SealError),
            }
        };
        let (nonce, rest) = body.split_at(NONCE_LEN);
        let (cipher_text, tag) = rest.split_at(rest.len() - TAG_LEN);
        let mut plain = cipher_text.to_vec();
        cipher
            .decrypt_in_place_detached(
                Nonce::from_slice(nonce),
                header,
                &mut plain,
                aes_gcm::Tag::from_slice(tag),
            )
            .map_err(|_| SealError)?;
        let text = String::from_utf8(plain).map_err(|_| SealError)?;
        ResidentId::parse(&text).map_err(|_| SealError)
    }

    /// A 16-byte keyed hash (the first half of HMAC-SHA256) of the normalised ID, equal for
    /// equal IDs within the tenant, for matching and duplicate checks. It depends only on the
    /// match secret and the tenant, never on the sealing key id, and must not change for equal
    /// IDs: duplicate and cross-school checks compare it with every roster already stored.
    pub fn match_hash(&self, id: &ResidentId) -> [u8; 16] {
        let mut mac = self.mac.clone();
        mac.update(id.as_str().as_bytes());
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; 16];
        out.copy_from_slice(&full[..16]);
        out
    }
}

/// Keys for another secret at rest than ID numbers, derived from the same key set (one
/// master secret or [`IdSealer::encode_keys`]) with HKDF-SHA256 under `purpose` (an `info`
/// label of the caller's, distinct from this module's) and the tenant: the current key's
/// (id, key) first, then the previous one's during a rotation. Used for the programme
/// accounts' two-factor secrets.
pub fn derived_keys(master: &[u8], purpose: &[u8], tenant: &str) -> Vec<(u8, [u8; 32])> {
    let keys = IdKeySet::decode(master).unwrap_or_else(|| IdKeySet {
        current: (DEFAULT_KEY_ID, master.to_vec()),
        previous: None,
        match_secret: master.to_vec(),
    });
    let key = |secret: &[u8]| derive(&Hkdf::<Sha256>::new(Some(SALT), secret), purpose, tenant);
    let mut out = vec![(keys.current.0, key(&keys.current.1))];
    if let Some((id, secret)) = &keys.previous {
        out.push((*id, key(secret)));
    }
    out
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
        assert_eq!(sealed.len(), HEADER_LEN + NONCE_LEN + 18 + TAG_LEN);
        assert_eq!(&sealed[..2], &[VERSION, DEFAULT_KEY_ID]);
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
        for i in [0, 1, HEADER_LEN, HEADER_LEN + NONCE_LEN, sealed.len() - 1] {
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

    /// A value in the format before key ids: nonce | ciphertext | tag, no associated data.
    fn legacy_seal(master: &[u8], tenant: &str, id: &ResidentId) -> Vec<u8> {
        let hkdf = Hkdf::<Sha256>::new(Some(SALT), master);
        let key: [u8; 32] = derive(&hkdf, SEAL_INFO, tenant);
        let cipher = Aes256Gcm::new(&key.into());
        let nonce = [7u8; NONCE_LEN];
        let mut out = nonce.to_vec();
        out.extend_from_slice(id.as_str().as_bytes());
        let tag = cipher
            .encrypt_in_place_detached(Nonce::from_slice(&nonce), &[], &mut out[NONCE_LEN..])
            .unwrap();
        out.extend_from_slice(&tag);
        out
    }

    const NEW_MASTER: &[u8] = b"fedcba9876543210fedcba9876543210-new-master";

    /// A sealer holding `current` (id, secret), optionally `previous`, hashing with `matching`.
    fn sealer(
        current: (u8, &[u8]),
        previous: Option<(u8, &[u8])>,
        matching: Option<&[u8]>,
    ) -> IdSealer {
        IdSealer::for_tenant(&IdSealer::encode_keys(current, previous, matching), "henan")
    }

    #[test]
    fn values_sealed_before_key_ids_open_as_key_one() {
        let original = id("11010519491231002X");
        let legacy = legacy_seal(MASTER, "henan", &original);
        assert_eq!(legacy.len(), 46);
        assert_eq!(IdSealer::sealed_key_id(&legacy), Some(1));
        let plain = IdSealer::for_tenant(MASTER, "henan");
        assert_eq!(plain.open(&legacy).unwrap(), original);
        assert!(plain.needs_reseal(&legacy), "the old format is re-sealed");
        assert!(!plain.needs_reseal(&plain.seal(&original)));
        // Opened by key id 1 only: a sealer whose current key has another id needs the old
        // key as its previous one.
        assert_eq!(
            sealer((2, NEW_MASTER), None, None).open(&legacy),
            Err(SealError)
        );
        let rotating = sealer((2, NEW_MASTER), Some((1, MASTER)), Some(MASTER));
        assert_eq!(rotating.open(&legacy).unwrap(), original);
        assert!(rotating.needs_reseal(&legacy));
    }

    #[test]
    fn sealed_values_record_their_key_id_and_open_with_a_previous_key() {
        let original = id("520201201503121235");
        let old = sealer((3, MASTER), None, None);
        let sealed_old = old.seal(&original);
        assert_eq!(IdSealer::sealed_key_id(&sealed_old), Some(3));
        let new = sealer((4, NEW_MASTER), Some((3, MASTER)), Some(MASTER));
        assert_eq!(new.key_id(), 4);
        assert_eq!(new.open(&sealed_old).unwrap(), original);
        assert!(new.needs_reseal(&sealed_old));
        let sealed_new = new.seal(&original);
        assert_eq!(IdSealer::sealed_key_id(&sealed_new), Some(4));
        assert!(!new.needs_reseal(&sealed_new));
        assert_eq!(new.open(&sealed_new).unwrap(), original);
        // The old sealer holds no key 4.
        assert_eq!(old.open(&sealed_new), Err(SealError));
        // A key id the sealer does not hold, or a changed key id byte, does not open.
        let mut relabelled = sealed_old.clone();
        relabelled[1] = 4;
        assert_eq!(new.open(&relabelled), Err(SealError));
        assert_eq!(
            sealer((4, NEW_MASTER), None, None).open(&sealed_old),
            Err(SealError)
        );
        // The match hash follows the match secret only, so it survives the rotation.
        assert_eq!(new.match_hash(&original), old.match_hash(&original));
        assert_eq!(
            new.match_hash(&original),
            IdSealer::for_tenant(MASTER, "henan").match_hash(&original)
        );
        // Without the match secret the new key would key the hash, and hashes would change.
        let careless = sealer((4, NEW_MASTER), Some((3, MASTER)), None);
        assert_ne!(careless.match_hash(&original), old.match_hash(&original));
    }

    #[test]
    fn an_encoded_key_set_stands_for_one_master_secret() {
        let encoded = IdSealer::encode_keys((2, NEW_MASTER), Some((1, MASTER)), Some(MASTER));
        let keys = IdKeySet::decode(&encoded).unwrap();
        assert_eq!(keys.current, (2, NEW_MASTER.to_vec()));
        assert_eq!(keys.previous, Some((1, MASTER.to_vec())));
        assert_eq!(keys.match_secret, MASTER.to_vec());
        assert_eq!(keys.encode(), encoded);
        assert_eq!(
            format!("{keys:?}"),
            "IdKeySet { current: 2, previous: Some(1), .. }"
        );
        assert_eq!(IdKeySet::decode(MASTER), None);
        // A truncated encoding is no key set.
        assert_eq!(IdKeySet::decode(&encoded[..encoded.len() - 1]), None);
        // The previous key is ignored when it has the current id.
        let same = IdSealer::encode_keys((1, MASTER), Some((1, NEW_MASTER)), None);
        assert_eq!(IdKeySet::decode(&same).unwrap().previous, None);
        let original = id("11010519491231002X");
        let sealer = IdSealer::for_tenant(&encoded, "henan");
        assert_eq!(sealer.key_id(), 2);
        let legacy = legacy_seal(MASTER, "henan", &original);
        assert_eq!(sealer.open(&legacy).unwrap(), original);
        assert_eq!(
            sealer.match_hash(&original),
            IdSealer::for_tenant(MASTER, "henan").match_hash(&original)
        );
        assert!(IdSealer::try_for_tenant(&encoded, "henan").is_ok());
    }
}
