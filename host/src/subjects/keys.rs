//! The subject key store: one random key per data subject, in a file of its
//! own under `<data>/subject-keys/` (mode 0600), and the deployment's secret
//! that turns a value into its subject id.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::TOKEN_PREFIX;

/// The key store's directory, in the data directory.
pub const DIR: &str = "subject-keys";
/// The deployment's secret for subject ids.
const SECRET_FILE: &str = "subject-id.secret";

/// Why the key store failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A file of the key store could not be read or written.
    #[error("{path}: {op}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// Why it failed.
        source: std::io::Error,
    },
    /// A key file does not hold a key.
    #[error("{0}: not a subject key (expected 32 bytes)")]
    Invalid(PathBuf),
    /// No system randomness.
    #[error("no system randomness for a subject key: {0}")]
    Random(String),
    /// A subject id is not one (`erase` takes the 32 hex digits `subject-id` prints).
    #[error("`{0}` is not a subject id (32 hex digits, as `trailmark subjects id VALUE` prints)")]
    BadId(String),
}

fn io<'a>(path: &'a Path, op: &'static str) -> impl FnOnce(std::io::Error) -> KeyError + 'a {
    move |source| KeyError::Io {
        path: path.to_path_buf(),
        op,
        source,
    }
}

/// Subject keys: created on first use, destroyed by [`SubjectKeys::erase`].
pub struct SubjectKeys {
    dir: PathBuf,
    secret: [u8; 32],
    #[allow(clippy::type_complexity)]
    cache: Mutex<HashMap<String, (Arc<XChaCha20Poly1305>, [u8; 32])>>,
}

impl SubjectKeys {
    /// Opens (creating) the store in `dir`.
    pub fn open(dir: &Path) -> Result<SubjectKeys, KeyError> {
        fs::create_dir_all(dir).map_err(io(dir, "create directory"))?;
        let secret_path = dir.join(SECRET_FILE);
        let secret = match read_key(&secret_path)? {
            Some(secret) => secret,
            None => {
                let secret = random_key()?;
                write_new(&secret_path, &secret)?;
                secret
            }
        };
        Ok(SubjectKeys {
            dir: dir.to_path_buf(),
            secret,
            cache: Mutex::default(),
        })
    }

    /// The subject id of a value: 32 hex digits of HMAC-SHA256 under the
    /// deployment's secret.
    pub fn subject_id(&self, value: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.secret)
            .expect("HMAC takes a key of any length");
        mac.update(value.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    /// The token of `value`: `tm1:<subject id>:<nonce ‖ sealed value, base64url>`.
    /// Deterministic (the nonce is a keyed hash of the value), so one value has
    /// one token and a query for it can match. A new subject's key is created.
    pub fn seal(&self, value: &str) -> Result<String, KeyError> {
        let id = self.subject_id(value);
        let (cipher, key) = self.key(&id, true)?.expect("a key is created when missing");
        Ok(token(&id, value, &cipher, &key))
    }

    /// [`SubjectKeys::seal`] when the subject has a key; `None` (and no key
    /// created) when it has none: erased, or never seen.
    pub fn seal_existing(&self, value: &str) -> Result<Option<String>, KeyError> {
        let id = self.subject_id(value);
        Ok(self
            .key(&id, false)?
            .map(|(cipher, key)| token(&id, value, &cipher, &key)))
    }

    /// [`SubjectKeys::seal`] when the subject's key is in memory; `None`
    /// (and no file read or written) when it is not.
    pub fn seal_cached(&self, value: &str) -> Option<String> {
        let id = self.subject_id(value);
        let (cipher, key) = {
            let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            let (cipher, key) = cache.get(&id)?;
            (cipher.clone(), *key)
        };
        Some(token(&id, value, &cipher, &key))
    }

    /// The value a token sealed, or `None` when its subject was erased (or
    /// the token is not one).
    pub fn unseal(&self, token: &str) -> Option<String> {
        let (id, sealed) = token.strip_prefix(TOKEN_PREFIX)?.split_once(':')?;
        let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        if bytes.len() < 24 {
            return None;
        }
        let (cipher, _) = self.key(id, false).ok()??;
        let (nonce, sealed) = bytes.split_at(24);
        let plain = cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: id.as_bytes(),
                },
            )
            .ok()?;
        String::from_utf8(plain).ok()
    }

    /// Destroys the key of subject `id` (overwritten, fsynced, removed, the
    /// directory fsynced). `Ok(false)` when there is no such key: erased
    /// before, or never seen.
    pub fn erase(&self, id: &str) -> Result<bool, KeyError> {
        if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(KeyError::BadId(id.to_owned()));
        }
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.remove(id);
        let path = self.dir.join(format!("{id}.key"));
        let mut file = match File::options().write(true).open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io(&path, "open for erasure")(e)),
        };
        file.write_all(&[0; 32])
            .and_then(|()| file.sync_all())
            .map_err(io(&path, "overwrite"))?;
        fs::remove_file(&path).map_err(io(&path, "remove"))?;
        trailmark_durable_file::sync_dir(&self.dir).map_err(durable)?;
        Ok(true)
    }

    /// The cipher and raw key of subject `id`, created when `create`. Cached;
    /// the cache lock is held over the file operations, so two seals of a new
    /// subject cannot create two keys.
    #[allow(clippy::type_complexity)]
    fn key(
        &self,
        id: &str,
        create: bool,
    ) -> Result<Option<(Arc<XChaCha20Poly1305>, [u8; 32])>, KeyError> {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((cipher, key)) = cache.get(id) {
            return Ok(Some((cipher.clone(), *key)));
        }
        let path = self.dir.join(format!("{id}.key"));
        // All zeros: an erasure overwrote it and stopped (a crash) before
        // removing it. The subject is erased: finish the job.
        let found = read_key(&path)?.filter(|key| *key != [0; 32]);
        if found.is_none() && path.exists() {
            fs::remove_file(&path).map_err(io(&path, "remove erased key"))?;
        }
        let key = match found {
            Some(key) => key,
            None if create => {
                let key = random_key()?;
                write_new(&path, &key)?;
                key
            }
            None => return Ok(None),
        };
        let cipher = Arc::new(XChaCha20Poly1305::new(&key.into()));
        cache.insert(id.to_owned(), (cipher.clone(), key));
        Ok(Some((cipher, key)))
    }
}

/// The token of `value` of subject `id`, sealed with the subject's `cipher`,
/// the nonce a hash of the value under the subject's `key`.
fn token(id: &str, value: &str, cipher: &XChaCha20Poly1305, key: &[u8; 32]) -> String {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(value.as_bytes());
    let nonce: [u8; 24] = mac.finalize().into_bytes()[..24]
        .try_into()
        .expect("24 of 32 bytes");
    let sealed = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: value.as_bytes(),
                aad: id.as_bytes(),
            },
        )
        .expect("sealing a short value cannot fail");
    let mut bytes = nonce.to_vec();
    bytes.extend_from_slice(&sealed);
    format!("{TOKEN_PREFIX}{id}:{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// A 32-byte key file, or `None` when it does not exist.
fn read_key(path: &Path) -> Result<Option<[u8; 32]>, KeyError> {
    match fs::read(path) {
        Ok(bytes) => bytes
            .try_into()
            .map(Some)
            .map_err(|_| KeyError::Invalid(path.to_path_buf())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path, "read")(e)),
    }
}

/// Writes a new key file (mode 0600, fsynced, the directory fsynced). The
/// caller removed any file of that name under the cache lock: `O_EXCL` only
/// turns a writer in another process into an error instead of a lost key.
fn write_new(path: &Path, key: &[u8; 32]) -> Result<(), KeyError> {
    trailmark_durable_file::create_new_synced(path, key, Some(0o600))
        .map(drop)
        .map_err(durable)
}

/// durable-file's error as a [`KeyError`], with its path and step.
fn durable(e: trailmark_durable_file::Error) -> KeyError {
    KeyError::Io {
        path: e.path,
        op: e.step.as_str(),
        source: e.source,
    }
}

fn random_key() -> Result<[u8; 32], KeyError> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| KeyError::Random(e.to_string()))?;
    Ok(key)
}
