//! The subject key store: one random key per data subject, in a file of its
//! own under `<data>/subject-keys/` (mode 0600), and the deployment's secret
//! that turns a value into its subject id.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};

use aes_siv::KeyInit as _;
use aes_siv::siv::Aes128Siv;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use quick_cache::sync::Cache;
use sha2::Sha256;
use trailmark_journal::XChaCha20Poly1305;

use super::{TOKEN_PREFIX, TOKEN_PREFIX_V1};
use crate::at_rest::Sealer;

/// The key store's directory, in the data directory.
pub const DIR: &str = "subject-keys";
/// The deployment's secret for subject ids.
const SECRET_FILE: &str = "subject-id.secret";
/// Most subject keys kept in memory (about 100 bytes each). A producer can
/// send a new author with every event, and each makes a key: past this, a
/// key leaves memory (its file stays, and is read again when the subject
/// comes back), so memory does not grow with the number of subjects ever
/// seen. Which one leaves is S3-FIFO's choice (`quick_cache`): a key used
/// once goes before the keys used again, so such a flood of one-off
/// authors does not push out the subjects that keep coming.
const CACHED_KEYS: usize = 100_000;

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
    /// A subject key sealed by the key-encryption key could not be sealed or
    /// opened (the message names the files).
    #[error("{0}")]
    Sealed(String),
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
    /// HMAC-SHA256 keyed with the deployment's secret, cloned per value.
    id_mac: Hmac<Sha256>,
    /// Keys in memory, by raw subject id, at most [`CACHED_KEYS`]. Read
    /// without a lock on the event path (sharded inside).
    cache: Cache<[u8; ID_BYTES], SubjectKey>,
    /// Held over a key's file operations (reading, creating, erasing), so two
    /// seals of a new subject cannot create two keys, and an erasure cannot
    /// interleave with either.
    files: Mutex<()>,
    /// Keys created since start (one file each).
    created: AtomicU64,
    /// Seals new keys when encryption is on, opens sealed ones.
    sealer: Option<Arc<Sealer>>,
}

/// What a sealed subject key is bound to, before its subject id: a key file
/// copied under another subject's name does not open.
const KEY_AAD: &[u8] = b"trailmark-subject-key-v1\n";
/// What a `tm2:` token's key is derived for, from the subject's key.
const TOKEN_KEY_INFO: &[u8] = b"trailmark-subject-token-v2";
/// Bytes of a subject id (32 hex digits in names, raw in a `tm2:` token).
const ID_BYTES: usize = 16;

/// A subject's key, and the key its `tm2:` tokens are sealed with (derived
/// from it, so one key never serves two ciphers).
#[derive(Clone, Copy)]
struct SubjectKey {
    /// The key in the subject's file; `tm1:` tokens were sealed with it.
    key: [u8; 32],
    /// HMAC-SHA256 of [`TOKEN_KEY_INFO`] under `key`: the AES-SIV key.
    token_key: [u8; 32],
}

impl SubjectKey {
    fn new(key: [u8; 32]) -> SubjectKey {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("HMAC takes a key of any length");
        mac.update(TOKEN_KEY_INFO);
        SubjectKey {
            key,
            token_key: mac.finalize().into_bytes().into(),
        }
    }
}

impl SubjectKeys {
    /// Opens (creating) the store in `dir`, its keys in plaintext files.
    pub fn open(dir: &Path) -> Result<SubjectKeys, KeyError> {
        Self::open_sealed(dir, None)
    }

    /// Opens (creating) the store in `dir`. With a `sealer` that is on
    /// (`[encryption]`), new keys are written sealed by the key-encryption
    /// key (a data key per day in `<data>/seal-keys/subjects/`), so a copy of
    /// the data directory without the key file opens no token; keys written
    /// before, in plaintext, are still read. Erasure works the same on both.
    pub fn open_sealed(dir: &Path, sealer: Option<Arc<Sealer>>) -> Result<SubjectKeys, KeyError> {
        Self::open_with(dir, sealer, CACHED_KEYS)
    }

    /// [`SubjectKeys::open_sealed`], keeping at most `cached` keys in memory.
    fn open_with(
        dir: &Path,
        sealer: Option<Arc<Sealer>>,
        cached: usize,
    ) -> Result<SubjectKeys, KeyError> {
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
            id_mac: <Hmac<Sha256> as Mac>::new_from_slice(&secret)
                .expect("HMAC takes a key of any length"),
            cache: Cache::new(cached.max(1)),
            files: Mutex::new(()),
            created: AtomicU64::new(0),
            sealer,
        })
    }

    /// The subject id of a value: 32 hex digits of HMAC-SHA256 under the
    /// deployment's secret.
    pub fn subject_id(&self, value: &str) -> String {
        hex::encode(self.id_bytes(value))
    }

    /// The subject id of a value, raw: the first 16 bytes of HMAC-SHA256
    /// under the deployment's secret.
    fn id_bytes(&self, value: &str) -> [u8; ID_BYTES] {
        let mut mac = self.id_mac.clone();
        mac.update(value.as_bytes());
        mac.finalize().into_bytes()[..ID_BYTES]
            .try_into()
            .expect("16 of 32 bytes")
    }

    /// The token of `value`: `tm2:` and, in base64url, the subject id (16
    /// bytes) and the value sealed by AES-SIV under the subject's token key
    /// (a 16-byte synthetic IV, then the ciphertext), bound to the id.
    /// Deterministic, so one value has one token and a query for it can
    /// match. A new subject's key is created.
    pub fn seal(&self, value: &str) -> Result<String, KeyError> {
        let id = self.id_bytes(value);
        let key = self.key(&id, true)?.expect("a key is created when missing");
        Ok(token(&id, value, &key))
    }

    /// [`SubjectKeys::seal`] when the subject has a key; `None` (and no key
    /// created) when it has none: erased, or never seen.
    pub fn seal_existing(&self, value: &str) -> Result<Option<String>, KeyError> {
        let id = self.id_bytes(value);
        Ok(self.key(&id, false)?.map(|key| token(&id, value, &key)))
    }

    /// [`SubjectKeys::seal`] when the subject's key is in memory; `None`
    /// (and no file read or written) when it is not.
    pub fn seal_cached(&self, value: &str) -> Option<String> {
        let id = self.id_bytes(value);
        let key = self.cache.get(&id)?;
        Some(token(&id, value, &key))
    }

    /// The value a token sealed (`tm2:`, or `tm1:` from before), or `None`
    /// when its subject was erased (or the token is not one).
    pub fn unseal(&self, token: &str) -> Option<String> {
        if let Some(sealed) = token.strip_prefix(TOKEN_PREFIX) {
            let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
            if bytes.len() < ID_BYTES + aes_siv::siv::IV_SIZE {
                return None;
            }
            let (id, sealed) = bytes.split_first_chunk::<ID_BYTES>()?;
            let key = self.existing(id)?;
            let plain = Aes128Siv::new(&key.token_key.into())
                .decrypt([id], sealed)
                .ok()?;
            return String::from_utf8(plain).ok();
        }
        let (id, sealed) = token.strip_prefix(TOKEN_PREFIX_V1)?.split_once(':')?;
        let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        if bytes.len() < 24 {
            return None;
        }
        let key = self.existing(&parse_id(id)?)?;
        let (nonce, sealed) = bytes.split_first_chunk::<24>()?;
        let plain = XChaCha20Poly1305::new(&key.key).open(nonce, id.as_bytes(), sealed)?;
        String::from_utf8(plain).ok()
    }

    /// Subject `id`'s key when it has one; `None` when erased or never
    /// seen, or (logged) when its file cannot be read.
    fn existing(&self, id: &[u8; ID_BYTES]) -> Option<SubjectKey> {
        match self.key(id, false) {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, subject = %hex::encode(id), "a subject key could not be read; its values show as erased");
                None
            }
        }
    }

    /// Destroys the key of subject `id` (overwritten, fsynced, removed, the
    /// directory fsynced). `Ok(false)` when there is no such key: erased
    /// before, or never seen.
    pub fn erase(&self, id: &str) -> Result<bool, KeyError> {
        let raw = parse_id(id).ok_or_else(|| KeyError::BadId(id.to_owned()))?;
        let _files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        self.cache.remove(&raw);
        let path = self.dir.join(format!("{id}.key"));
        let mut file = match File::options().write(true).open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io(&path, "open for erasure")(e)),
        };
        // Every byte, a sealed key's too: a crash before the removal leaves
        // a file of zeros, which reads as erased.
        let len = file.metadata().map_err(io(&path, "stat"))?.len();
        file.write_all(&vec![0; usize::try_from(len).unwrap_or(32).max(32)])
            .and_then(|()| file.sync_all())
            .map_err(io(&path, "overwrite"))?;
        fs::remove_file(&path).map_err(io(&path, "remove"))?;
        trailmark_durable_file::sync_dir(&self.dir).map_err(durable)?;
        Ok(true)
    }

    /// The cipher and raw key of subject `id`, created when `create`. Cached;
    /// the file lock is held over the file operations, so two seals of a new
    /// subject cannot create two keys.
    fn key(&self, raw: &[u8; ID_BYTES], create: bool) -> Result<Option<SubjectKey>, KeyError> {
        if let Some(key) = self.cache.get(raw) {
            return Ok(Some(key));
        }
        let _files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        // Another thread may have read or created it while this one waited.
        if let Some(key) = self.cache.get(raw) {
            return Ok(Some(key));
        }
        let id = &hex::encode(raw);
        let path = self.dir.join(format!("{id}.key"));
        // All zeros: an erasure overwrote it and stopped (a crash) before
        // removing it. The subject is erased: finish the job.
        let found = match fs::read(&path) {
            Ok(bytes) if bytes.iter().all(|b| *b == 0) => {
                fs::remove_file(&path).map_err(io(&path, "remove erased key"))?;
                None
            }
            Ok(bytes) => Some(self.unsealed(id, &path, &bytes)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io(&path, "read")(e)),
        };
        let key = match found {
            Some(key) => key,
            None if create => {
                let key = random_key()?;
                let stored = self.sealed(id, &path, &key)?;
                write_new(&path, &stored)?;
                self.created.fetch_add(1, Relaxed);
                key
            }
            None => return Ok(None),
        };
        let key = SubjectKey::new(key);
        self.cache.insert(*raw, key);
        Ok(Some(key))
    }
}

/// What `/metrics` says of the key store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeysStatus {
    /// Keys created since start: one file each in the key directory.
    pub created: u64,
    /// Keys in memory now.
    pub cached: usize,
    /// Most keys kept in memory.
    pub cached_max: usize,
}

impl KeysStatus {
    /// The status in Prometheus text.
    pub fn render(&self) -> String {
        format!(
            "# HELP trailmark_subject_keys_created_total Subject keys created since start, one file each in data/subject-keys (a new value at a subject path makes one).\n\
             # TYPE trailmark_subject_keys_created_total counter\n\
             trailmark_subject_keys_created_total {}\n\
             # HELP trailmark_subject_keys_cached Subject keys in memory; past the max, keys used once leave before keys used again, and are read back from their files.\n\
             # TYPE trailmark_subject_keys_cached gauge\n\
             trailmark_subject_keys_cached {}\n\
             # HELP trailmark_subject_keys_cached_max Most subject keys kept in memory.\n\
             # TYPE trailmark_subject_keys_cached_max gauge\n\
             trailmark_subject_keys_cached_max {}\n",
            self.created, self.cached, self.cached_max
        )
    }
}

impl SubjectKeys {
    /// Keys created since start, and those in memory.
    pub fn status(&self) -> KeysStatus {
        KeysStatus {
            created: self.created.load(Relaxed),
            cached: self.cache.len(),
            cached_max: usize::try_from(self.cache.capacity()).unwrap_or(usize::MAX),
        }
    }

    /// What is written for subject `id`'s new `key`: sealed when the sealer is
    /// on, else the 32 bytes.
    fn sealed(&self, id: &str, path: &Path, key: &[u8; 32]) -> Result<Vec<u8>, KeyError> {
        let Some(sealer) = &self.sealer else {
            return Ok(key.to_vec());
        };
        let what = || format!("subject key {}", path.display());
        sealer
            .seal(&what, &key_aad(id), key)
            .map(|sealed| sealed.into_owned())
            .map_err(|e| KeyError::Sealed(e.to_string()))
    }

    /// Subject `id`'s key from its file's `bytes`: opened when sealed, as it
    /// is when written in plaintext.
    fn unsealed(&self, id: &str, path: &Path, bytes: &[u8]) -> Result<[u8; 32], KeyError> {
        let plain = match &self.sealer {
            Some(sealer) => {
                let what = || format!("subject key {}", path.display());
                sealer
                    .open(&what, &key_aad(id), bytes)
                    .map_err(|e| KeyError::Sealed(e.to_string()))?
            }
            None => std::borrow::Cow::Borrowed(bytes),
        };
        plain
            .as_ref()
            .try_into()
            .map_err(|_| KeyError::Invalid(path.to_path_buf()))
    }
}

/// A subject id as `erase` and `tm1:` tokens write it (32 hex digits), raw.
fn parse_id(id: &str) -> Option<[u8; ID_BYTES]> {
    let mut raw = [0; ID_BYTES];
    hex::decode_to_slice(id, &mut raw).ok()?;
    Some(raw)
}

fn key_aad(id: &str) -> Vec<u8> {
    crate::at_rest::bound_to(KEY_AAD, id)
}

/// The `tm2:` token of `value` of subject `id`.
fn token(id: &[u8; ID_BYTES], value: &str, key: &SubjectKey) -> String {
    let sealed = Aes128Siv::new(&key.token_key.into())
        .encrypt([id], value.as_bytes())
        .expect("one header and any plaintext seal");
    let mut bytes = Vec::with_capacity(ID_BYTES + sealed.len());
    bytes.extend_from_slice(id);
    bytes.extend_from_slice(&sealed);
    let encoded = base64::encoded_len(bytes.len(), false).unwrap_or(0);
    let mut token = String::with_capacity(TOKEN_PREFIX.len() + encoded);
    token.push_str(TOKEN_PREFIX);
    URL_SAFE_NO_PAD.encode_string(bytes, &mut token);
    token
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
/// caller removed any file of that name under the file lock: `O_EXCL` only
/// turns a writer in another process into an error instead of a lost key.
fn write_new(path: &Path, key: &[u8]) -> Result<(), KeyError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::at_rest::{MAGIC, SUBJECT_KEYS};
    use trailmark_journal::Keyring;

    fn sealer(data: &Path, on: bool) -> Arc<Sealer> {
        let key_file = data.join("trail.kek");
        let keyring = on.then(|| {
            let (keyring, _) = Keyring::load_or_create(&key_file).expect("key file");
            Arc::new(keyring)
        });
        Arc::new(Sealer::new(data, SUBJECT_KEYS, keyring, key_file))
    }

    /// A `tm1:` token as this store wrote them before `tm2:`.
    fn token_v1(keys: &SubjectKeys, value: &str) -> String {
        let id = keys.subject_id(value);
        let key = keys
            .key(&parse_id(&id).expect("hex"), true)
            .expect("key")
            .expect("created");
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key.key).expect("any length");
        mac.update(value.as_bytes());
        let nonce: [u8; 24] = mac.finalize().into_bytes()[..24].try_into().expect("24");
        let mut bytes = nonce.to_vec();
        XChaCha20Poly1305::new(&key.key).seal_append(
            &nonce,
            id.as_bytes(),
            value.as_bytes(),
            &mut bytes,
        );
        format!("{TOKEN_PREFIX_V1}{id}:{}", URL_SAFE_NO_PAD.encode(bytes))
    }

    #[test]
    fn a_token_a_producer_wrote_cannot_name_a_file_outside_the_store() {
        // A producer can send text that looks like a token (sealing skips
        // tokens); reading it back must not reach past the key directory.
        // An all-zero `.key` file is what an interrupted erasure leaves and
        // is removed on sight, so a path in the id could delete one.
        let data = tempfile::tempdir().expect("temp dir");
        let keys = SubjectKeys::open(&data.path().join(DIR)).expect("open");
        let bait = data.path().join("bait.key");
        fs::write(&bait, [0u8; 32]).expect("write");
        let sealed = URL_SAFE_NO_PAD.encode([7u8; 40]);
        for token in [
            format!("{TOKEN_PREFIX_V1}../bait:{sealed}"),
            format!("{TOKEN_PREFIX_V1}{}:{sealed}", "0".repeat(31)),
            format!("{TOKEN_PREFIX_V1}{}:{sealed}", "zz".repeat(16)),
        ] {
            assert_eq!(keys.unseal(&token), None, "{token}");
        }
        assert!(bait.exists(), "a file outside the store was touched");
    }

    #[test]
    fn memory_holds_a_bounded_number_of_keys_and_a_dropped_one_is_read_back() {
        let data = tempfile::tempdir().expect("temp dir");
        let dir = data.path().join(DIR);
        let keys = SubjectKeys::open_with(&dir, Some(sealer(data.path(), true)), 3).expect("open");
        let values: Vec<String> = (0..10).map(|i| format!("subject{i}@example.org")).collect();
        let tokens: Vec<String> = values.iter().map(|v| keys.seal(v).expect("seal")).collect();
        assert_eq!(keys.cache.len(), 3, "at most 3 in memory");
        // Seven subjects left memory (which ones is the cache's policy): the
        // fast path does not know them, and knows the other three.
        let in_memory = |keys: &SubjectKeys| -> Vec<bool> {
            values
                .iter()
                .zip(&tokens)
                .map(|(value, token)| match keys.seal_cached(value) {
                    Some(cached) => {
                        assert_eq!(&cached, token, "the fast path's token");
                        true
                    }
                    None => false,
                })
                .collect()
        };
        assert_eq!(in_memory(&keys).iter().filter(|k| **k).count(), 3);
        // Their files know them all, and give the same tokens and values back.
        for (value, token) in values.iter().zip(&tokens) {
            assert_eq!(&keys.seal(value).expect("seal again"), token);
            assert_eq!(keys.unseal(token).as_deref(), Some(value.as_str()));
        }
        // Erasing a subject whose key is not in memory still erases it.
        let dropped = in_memory(&keys)
            .iter()
            .position(|k| !k)
            .expect("seven are not in memory");
        assert!(
            keys.erase(&keys.subject_id(&values[dropped]))
                .expect("erase")
        );
        assert_eq!(keys.unseal(&tokens[dropped]), None);
        assert_eq!(keys.seal_cached(&values[dropped]), None);
        assert_eq!(keys.cache.len(), 3);
        assert_eq!(keys.status().created, 10, "keys read back are not created");
    }

    #[test]
    fn tokens_are_short_bound_to_their_subject_and_old_ones_still_open() {
        let data = tempfile::tempdir().expect("temp dir");
        let keys = SubjectKeys::open(&data.path().join(DIR)).expect("open");
        let value = "ann.subject@example.org";
        let token = keys.seal(value).expect("seal");
        assert!(token.starts_with("tm2:"), "{token}");
        // The prefix, then 16 bytes of id, 16 of tag and the value, base64url.
        assert_eq!(token.len(), 4 + (4 * (16 + 16 + value.len())).div_ceil(3));
        assert_eq!(keys.seal(value).expect("again"), token, "deterministic");
        assert_eq!(keys.unseal(&token).as_deref(), Some(value));

        // A token of another subject with this one's id in front does not open.
        let other = keys.seal("bob@example.org").expect("seal");
        let mut forged = URL_SAFE_NO_PAD.decode(&other[4..]).expect("base64");
        forged[..16].copy_from_slice(&URL_SAFE_NO_PAD.decode(&token[4..]).expect("b64")[..16]);
        let forged = format!("tm2:{}", URL_SAFE_NO_PAD.encode(forged));
        assert_eq!(keys.unseal(&forged), None);
        // Nor does one cut short or altered.
        assert_eq!(keys.unseal(&token[..token.len() - 2]), None);
        assert_eq!(keys.unseal("tm2:AAAA"), None);

        // A token written before tm2 opens with the same subject key, and
        // goes with it on erasure.
        let old = token_v1(&keys, value);
        assert_eq!(keys.unseal(&old).as_deref(), Some(value));
        assert!(keys.erase(&keys.subject_id(value)).expect("erase"));
        assert_eq!(keys.unseal(&old), None);
        assert_eq!(keys.unseal(&token), None);
        assert_eq!(keys.unseal(&other).as_deref(), Some("bob@example.org"));
    }

    #[test]
    fn keys_are_sealed_by_the_key_file_and_plaintext_ones_still_read() {
        let data = tempfile::tempdir().expect("temp dir");
        let dir = data.path().join(DIR);
        // A key written before encryption was on.
        let plain = SubjectKeys::open(&dir).expect("open");
        let old = plain.seal("old@x.org").expect("seal");

        let keys = SubjectKeys::open_sealed(&dir, Some(sealer(data.path(), true))).expect("open");
        let new = keys.seal("new@x.org").expect("seal");
        let file = dir.join(format!("{}.key", keys.subject_id("new@x.org")));
        let stored = fs::read(&file).expect("key file");
        assert!(stored.starts_with(MAGIC), "sealed: {stored:?}");

        let reopened =
            SubjectKeys::open_sealed(&dir, Some(sealer(data.path(), true))).expect("reopen");
        assert_eq!(reopened.unseal(&new).as_deref(), Some("new@x.org"));
        assert_eq!(reopened.unseal(&old).as_deref(), Some("old@x.org"));

        // Without the key file the sealed key does not open; nothing is
        // created in its place.
        let keyless =
            SubjectKeys::open_sealed(&dir, Some(sealer(data.path(), false))).expect("open");
        assert_eq!(keyless.unseal(&new), None);
        assert_eq!(fs::read(&file).expect("still there"), stored);

        // An erasure cut short after zeroing a sealed key reads as erased.
        fs::write(&file, vec![0u8; stored.len()]).expect("zero it");
        let after = SubjectKeys::open_sealed(&dir, Some(sealer(data.path(), true))).expect("open");
        assert_eq!(after.unseal(&new), None, "erased");
        assert!(!file.exists(), "the erasure is finished");
    }
}
