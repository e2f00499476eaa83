//! Encryption at rest of the stores beside the journal: archived entity bodies
//! ([`SealedArchive`], whatever backend the archive is bound to) and dead letters
//! (`crate::dispatch::DeadLetters`).
//!
//! Envelope encryption with the journal's key handling (`trailmark_journal::seal`): a
//! random data key per store and UTC day ([`StoreKey`], a `.dek` file in
//! `<data>/seal-keys/<store>/`), sealed by the same key-encryption key as the journal's
//! segments, so `trailmark keys rotate` re-seals these files too and no sealed value is
//! rewritten. Each value is stored as
//!
//! ```text
//! MAGIC (8 bytes, "\0tmseal1") ‖ data key id (8 bytes, big-endian) ‖ nonce (24) ‖ ciphertext ‖ tag (16)
//! ```
//!
//! with associated data naming what it is (the archive key; the dead letter's delivery
//! and column), so a value moved elsewhere does not open. A value without the magic is
//! plaintext written before encryption was on: it reads as it is and is never rewritten.

mod archive;
#[cfg(feature = "aws")]
mod kms;

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use trailmark_backend_api::when::now_ms;
use trailmark_journal::{JournalError, Keyring, StoreKey};

pub use archive::SealedArchive;
#[cfg(feature = "aws")]
pub use kms::KmsKek;

/// The first bytes of a sealed value. A NUL first: no JSON or text body starts so.
pub const MAGIC: &[u8; 8] = b"\0tmseal1";
/// How a sealed value starts in a text column (dead letters): then base64.
pub const TEXT_PREFIX: &str = "tmseal1:";
/// Bytes a sealed value has over its plaintext: magic, key id, nonce, tag.
pub const OVERHEAD: usize = MAGIC.len() + 8 + 24 + 16;
/// Where the stores' data keys live, under the data directory.
pub const KEYS_DIR: &str = "seal-keys";
/// The archive's data keys: `<data>/seal-keys/archive/`.
pub const ARCHIVE_KEYS: &str = "archive";
/// The dead letters' data keys: `<data>/seal-keys/dead-letters/`.
pub const DEAD_LETTER_KEYS: &str = "dead-letters";
/// What a sealed value is bound to (its associated data): the kind of value
/// (`prefix`, with a version), then the value's own name (an archive key, an
/// event id, a subject id), so a value moved under another name does not
/// open.
pub fn bound_to(prefix: &[u8], name: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(prefix.len() + name.len());
    aad.extend_from_slice(prefix);
    aad.extend_from_slice(name.as_bytes());
    aad
}

/// The lake's data keys (its rows' bodies): `<data>/seal-keys/lake/`.
pub const LAKE_KEYS: &str = "lake";
/// The subject keys' data keys (`[subjects]`): `<data>/seal-keys/subjects/`.
pub const SUBJECT_KEYS: &str = "subjects";
/// The correlation snapshot's data keys: `<data>/seal-keys/correlation/`.
pub const CORRELATION_KEYS: &str = "correlation";
/// The data key directories of every sealed store of the data directory `data`.
pub fn key_dirs(data: &Path) -> Vec<PathBuf> {
    [
        ARCHIVE_KEYS,
        DEAD_LETTER_KEYS,
        LAKE_KEYS,
        SUBJECT_KEYS,
        CORRELATION_KEYS,
    ]
    .iter()
    .map(|store| data.join(KEYS_DIR).join(store))
    .collect()
}
const DAY_MS: i64 = 86_400_000;

/// Why a value could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// A sealed value, and no key-encryption key configured.
    #[error(
        "{what} is encrypted (data key {id:020} in {dir}), but [encryption] is off in this \
         configuration: enable it with the key file that sealed it (default {key_file})"
    )]
    Off {
        /// What was read.
        what: String,
        /// Its data key's id.
        id: u64,
        /// The store's data key directory.
        dir: PathBuf,
        /// The key file the configuration would use.
        key_file: PathBuf,
    },
    /// The data key file is missing or does not open with the key file.
    #[error("{what}: {source}")]
    Key {
        /// What was sealed or read.
        what: String,
        /// The data key's problem (names its `.dek` file and the key file).
        source: JournalError,
    },
    /// The value does not open with its data key.
    #[error(
        "{what} does not open with its data key {id:020} in {dir}: altered, cut short, or \
         moved from elsewhere"
    )]
    Broken {
        /// What was read.
        what: String,
        /// Its data key's id.
        id: u64,
        /// The store's data key directory.
        dir: PathBuf,
    },
}

/// Seals values of one store and opens them, plaintext ones passing through.
pub struct Sealer {
    dir: PathBuf,
    keyring: Option<Arc<Keyring>>,
    key_file: PathBuf,
    keys: Mutex<HashMap<u64, Arc<StoreKey>>>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("dir", &self.dir)
            .field("on", &self.is_on())
            .finish()
    }
}

impl Sealer {
    /// The sealer of store `store` of the data directory `data`: sealing with data keys
    /// under `keyring` when it is `Some` (encryption on), else only reading plaintext and
    /// naming `key_file` when it meets a sealed value.
    pub fn new(
        data: &Path,
        store: &str,
        keyring: Option<Arc<Keyring>>,
        key_file: PathBuf,
    ) -> Sealer {
        Sealer {
            dir: data.join(KEYS_DIR).join(store),
            keyring,
            key_file,
            keys: Mutex::default(),
        }
    }

    /// Whether new values are sealed.
    pub fn is_on(&self) -> bool {
        self.keyring.is_some()
    }

    /// The directory of this store's data keys.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `plain` sealed under today's data key, bound to `aad`; `plain` itself when
    /// encryption is off. `what` names the value in errors.
    pub fn seal<'a>(
        &self,
        what: &dyn Fn() -> String,
        aad: &[u8],
        plain: &'a [u8],
    ) -> Result<Cow<'a, [u8]>, SealError> {
        if !self.is_on() {
            return Ok(Cow::Borrowed(plain));
        }
        self.seal_with(today(), what, aad, plain).map(Cow::Owned)
    }

    /// `plain` sealed under data key `id`.
    fn seal_with(
        &self,
        id: u64,
        what: &dyn Fn() -> String,
        aad: &[u8],
        plain: &[u8],
    ) -> Result<Vec<u8>, SealError> {
        let key = self.key(id, true, what)?;
        let mut out = Vec::with_capacity(MAGIC.len() + 8 + plain.len() + StoreKey::OVERHEAD);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&id.to_be_bytes());
        key.seal_append(aad, plain, &mut out);
        Ok(out)
    }

    /// The plaintext of `stored`: opened when it is sealed (bound to `aad`), as it is
    /// when it is not (written before encryption was on).
    pub fn open<'a>(
        &self,
        what: &dyn Fn() -> String,
        aad: &[u8],
        stored: &'a [u8],
    ) -> Result<Cow<'a, [u8]>, SealError> {
        let Some(rest) = stored.strip_prefix(MAGIC.as_slice()) else {
            return Ok(Cow::Borrowed(stored));
        };
        let Some((id, sealed)) = rest.split_first_chunk::<8>() else {
            return Err(SealError::Broken {
                what: what(),
                id: 0,
                dir: self.dir.clone(),
            });
        };
        let id = u64::from_be_bytes(*id);
        if !self.is_on() {
            return Err(SealError::Off {
                what: what(),
                id,
                dir: self.dir.clone(),
                key_file: self.key_file.clone(),
            });
        }
        let key = self.key(id, false, what)?;
        key.open(aad, sealed)
            .map(Cow::Owned)
            .ok_or_else(|| SealError::Broken {
                what: what(),
                id,
                dir: self.dir.clone(),
            })
    }

    /// `plain` sealed as text for a text column: [`TEXT_PREFIX`] and the sealed value in
    /// base64; `plain` itself when encryption is off.
    pub fn seal_text<'a>(
        &self,
        what: &dyn Fn() -> String,
        aad: &[u8],
        plain: &'a str,
    ) -> Result<Cow<'a, str>, SealError> {
        Ok(match self.seal(what, aad, plain.as_bytes())? {
            Cow::Borrowed(_) => Cow::Borrowed(plain),
            Cow::Owned(sealed) => {
                let mut text = String::with_capacity(
                    TEXT_PREFIX.len() + base64::encoded_len(sealed.len(), true).unwrap_or(0),
                );
                text.push_str(TEXT_PREFIX);
                BASE64.encode_string(sealed, &mut text);
                Cow::Owned(text)
            }
        })
    }

    /// The plaintext of a text column's `stored` value ([`Sealer::seal_text`]), as it is
    /// when it is not sealed.
    pub fn open_text(
        &self,
        what: &dyn Fn() -> String,
        aad: &[u8],
        stored: String,
    ) -> Result<String, SealError> {
        let Some(encoded) = stored.strip_prefix(TEXT_PREFIX) else {
            return Ok(stored);
        };
        let broken = || SealError::Broken {
            what: what(),
            id: 0,
            dir: self.dir.clone(),
        };
        let sealed = BASE64.decode(encoded).map_err(|_| broken())?;
        if !sealed.starts_with(MAGIC) {
            return Err(broken());
        }
        let plain = self.open(what, aad, &sealed)?;
        String::from_utf8(plain.into_owned()).map_err(|_| broken())
    }

    /// Data key `id`, loaded once (created when `create` and missing).
    fn key(
        &self,
        id: u64,
        create: bool,
        what: &dyn Fn() -> String,
    ) -> Result<Arc<StoreKey>, SealError> {
        let keyring = self
            .keyring
            .as_ref()
            .expect("only called with encryption on");
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(key) = keys.get(&id) {
            return Ok(key.clone());
        }
        let loaded = if create {
            StoreKey::load_or_create(keyring, &self.dir, id)
        } else {
            StoreKey::load(keyring, &self.dir, id)
        }
        .map_err(|source| SealError::Key {
            what: what(),
            source,
        })?;
        let key = Arc::new(loaded);
        keys.insert(id, key.clone());
        Ok(key)
    }
}

/// The id of today's data key: days since the epoch (UTC).
fn today() -> u64 {
    u64::try_from(now_ms().div_euclid(DAY_MS)).unwrap_or(0)
}

#[cfg(test)]
mod tests;
