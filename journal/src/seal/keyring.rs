//! The key-encryption key file.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::xchacha::{NONCE_LEN, XChaCha20Poly1305};
use crate::error::JournalError;

/// The `format` value of a key file.
const FORMAT: &str = "trailmark-kek-v1";
/// Domain separation for the key id.
const ID_PREFIX: &[u8] = b"trailmark-kek-id-v1\n";
/// Associated data prefix when sealing a data key.
const DEK_AAD: &[u8] = b"trailmark-dek-v1\n";

/// The key file as stored.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    format: String,
    current: String,
    keys: Vec<KeyEntry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    id: String,
    /// 32 bytes, hex.
    key: String,
}

/// One key-encryption key.
struct Kek {
    id: String,
    secret: Zeroizing<[u8; 32]>,
    cipher: XChaCha20Poly1305,
}

impl Kek {
    fn new(secret: Zeroizing<[u8; 32]>) -> Kek {
        let mut hasher = Sha256::new();
        hasher.update(ID_PREFIX);
        hasher.update(secret.as_slice());
        let id = hex::encode(&hasher.finalize()[..8]);
        let cipher = XChaCha20Poly1305::new(&secret);
        Kek { id, secret, cipher }
    }
}

/// A data key sealed by a key-encryption key: what a `.dek` file holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SealedKey {
    /// Id of the KEK that sealed it.
    pub kek: String,
    /// 24-byte nonce, hex.
    pub nonce: String,
    /// Ciphertext and tag of the 32-byte data key, hex.
    pub sealed: String,
    /// The AEAD the data key seals values with; absent in files written
    /// before XAES-256-GCM (which an older Trailmark refuses as an unknown
    /// field rather than misreading). Bound into the sealing's associated
    /// data, so an edited name does not open.
    #[serde(default, skip_serializing_if = "Aead::is_default")]
    pub aead: Aead,
}

/// The AEAD of a data key (see [`SealedKey::aead`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Aead {
    /// XChaCha20-Poly1305: every data key created before XAES-256-GCM.
    #[default]
    #[serde(rename = "xchacha20-poly1305")]
    XChaCha20Poly1305,
    /// XAES-256-GCM: every data key created now.
    #[serde(rename = "xaes-256-gcm")]
    Xaes256Gcm,
}

impl Aead {
    fn is_default(&self) -> bool {
        *self == Aead::default()
    }
}

/// A key-encryption key held outside Trailmark (such as an AWS KMS key): it seals and
/// opens data keys itself, and its key material never reaches this process.
pub trait ExternalKek: Send + Sync {
    /// The key's id, recorded with every data key it seals (a KMS key ARN, say).
    fn id(&self) -> &str;
    /// The 32-byte `key` sealed, bound to `context`.
    fn seal(&self, key: &[u8; 32], context: &[u8]) -> Result<Vec<u8>, String>;
    /// A data key sealed by the key `kek` (the id recorded with it) opened, bound to
    /// `context`: 32 bytes, or why not.
    fn open(&self, kek: &str, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, String>;
}

/// The key-encryption keys of a key file: the current one seals new data keys; older
/// ones (present only while a rotation is under way) still open what they sealed. Or
/// one [`ExternalKek`] ([`Keyring::external`]).
pub struct Keyring {
    path: PathBuf,
    /// Index of the current key in `keys`.
    current: usize,
    keys: Vec<Kek>,
    external: Option<Arc<dyn ExternalKek>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("path", &self.path)
            .field("current", &self.current_id())
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl Keyring {
    /// Loads the key file at `path`, creating it with one new random key (mode 0600)
    /// when it does not exist. Returns the keyring and whether the file was created.
    pub fn load_or_create(path: &Path) -> Result<(Keyring, bool), JournalError> {
        if path.exists() {
            return Ok((Keyring::load(path)?, false));
        }
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| JournalError::io(dir, "create directory", e))?;
        }
        let keyring = Keyring {
            path: path.to_path_buf(),
            current: 0,
            keys: vec![Kek::new(random_key()?)],
            external: None,
        };
        keyring.save()?;
        tracing::info!(path = %path.display(), kek = %keyring.current_id(), "created the key-encryption key file");
        Ok((keyring, true))
    }

    /// Loads the key file at `path`. Refuses a file that others than its owner can read
    /// or write.
    pub fn load(path: &Path) -> Result<Keyring, JournalError> {
        let invalid = |reason: String| JournalError::KeyFile {
            path: path.to_path_buf(),
            reason,
        };
        let meta = fs::metadata(path).map_err(|e| JournalError::io(path, "read key file", e))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(invalid(format!(
                "mode {mode:o} lets others read or write the key; run `chmod 600 {}`",
                path.display()
            )));
        }
        let text = Zeroizing::new(
            fs::read_to_string(path).map_err(|e| JournalError::io(path, "read key file", e))?,
        );
        let file: KeyFile = serde_json::from_str(&text)
            .map_err(|e| invalid(format!("not a key file ({e}); expected {FORMAT} JSON")))?;
        if file.format != FORMAT {
            return Err(invalid(format!(
                "format {:?}, this build reads {FORMAT:?}",
                file.format
            )));
        }
        let mut keys = Vec::with_capacity(file.keys.len());
        for entry in &file.keys {
            let mut secret = Zeroizing::new([0u8; 32]);
            hex::decode_to_slice(&entry.key, secret.as_mut_slice())
                .map_err(|e| invalid(format!("key {:?} is not 32 bytes of hex: {e}", entry.id)))?;
            let kek = Kek::new(secret);
            if kek.id != entry.id {
                return Err(invalid(format!(
                    "key {:?} has id {} by its value: the file was edited",
                    entry.id, kek.id
                )));
            }
            keys.push(kek);
        }
        let current = keys
            .iter()
            .position(|k| k.id == file.current)
            .ok_or_else(|| invalid(format!("current key {:?} is not in keys", file.current)))?;
        Ok(Keyring {
            path: path.to_path_buf(),
            current,
            keys,
            external: None,
        })
    }

    /// A keyring whose only key is `kek`, held elsewhere: errors name it by its id where
    /// they would name a key file. It is not rotated here (the key service rotates its
    /// own key material, and what it sealed stays readable).
    pub fn external(kek: Arc<dyn ExternalKek>) -> Keyring {
        Keyring {
            path: PathBuf::from(kek.id()),
            current: 0,
            keys: Vec::new(),
            external: Some(kek),
        }
    }

    /// The key file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Id of the key that seals new data keys (16 hex digits, derived from the key).
    pub fn current_id(&self) -> &str {
        match &self.external {
            Some(kek) => kek.id(),
            None => &self.keys[self.current].id,
        }
    }

    /// Ids of every key in the file, the current one included.
    pub fn ids(&self) -> Vec<String> {
        match &self.external {
            Some(kek) => vec![kek.id().to_owned()],
            None => self.keys.iter().map(|k| k.id.clone()).collect(),
        }
    }

    /// Adds a new random key and makes it current (in memory; [`Keyring::save`] writes it).
    pub(crate) fn add_current(&mut self) -> Result<(), JournalError> {
        if self.external.is_some() {
            return Err(JournalError::KeyFile {
                path: self.path.clone(),
                reason: "an external key-encryption key is rotated by its key service".into(),
            });
        }
        self.keys.push(Kek::new(random_key()?));
        self.current = self.keys.len() - 1;
        Ok(())
    }

    /// Drops every key but the current one (in memory).
    pub(crate) fn retire_old(&mut self) -> Vec<String> {
        let current = self.keys.swap_remove(self.current);
        let retired = self.keys.drain(..).map(|k| k.id).collect();
        self.keys.push(current);
        self.current = 0;
        retired
    }

    /// Writes the key file atomically (temp file, fsync, rename, fsync directory), mode 0600.
    pub(crate) fn save(&self) -> Result<(), JournalError> {
        if self.external.is_some() {
            return Err(JournalError::KeyFile {
                path: self.path.clone(),
                reason: "an external key-encryption key has no key file".into(),
            });
        }
        let file = KeyFile {
            format: FORMAT.to_owned(),
            current: self.current_id().to_owned(),
            keys: self
                .keys
                .iter()
                .map(|k| KeyEntry {
                    id: k.id.clone(),
                    key: hex::encode(k.secret.as_slice()),
                })
                .collect(),
        };
        let text = Zeroizing::new(
            serde_json::to_string_pretty(&file).expect("a key file serializes to JSON"),
        );
        write_private(&self.path, text.as_bytes())
    }

    /// Seals a data key of the AEAD `aead` for the segment starting at `first_seq`
    /// with the current key.
    pub(crate) fn seal(
        &self,
        key: &[u8; 32],
        first_seq: u64,
        aead: Aead,
    ) -> Result<SealedKey, JournalError> {
        if let Some(external) = &self.external {
            let sealed = external
                .seal(key, &dek_aad(first_seq, aead))
                .map_err(|reason| JournalError::KeyFile {
                    path: self.path.clone(),
                    reason: format!("cannot seal a data key: {reason}"),
                })?;
            return Ok(SealedKey {
                kek: external.id().to_owned(),
                nonce: String::new(),
                sealed: hex::encode(sealed),
                aead,
            });
        }
        let kek = &self.keys[self.current];
        let nonce = random_bytes::<NONCE_LEN>()?;
        let sealed = kek
            .cipher
            .seal(&nonce, &dek_aad(first_seq, aead), key.as_slice());
        Ok(SealedKey {
            kek: kek.id.clone(),
            nonce: hex::encode(nonce),
            sealed: hex::encode(sealed),
            aead,
        })
    }

    /// Opens a sealed data key of the segment starting at `first_seq`, or says why not.
    pub(crate) fn open(
        &self,
        sealed: &SealedKey,
        first_seq: u64,
    ) -> Result<Zeroizing<[u8; 32]>, String> {
        if let Some(external) = &self.external {
            let bytes =
                hex::decode(&sealed.sealed).map_err(|e| format!("sealed key is not hex: {e}"))?;
            let plain = Zeroizing::new(external.open(
                &sealed.kek,
                &bytes,
                &dek_aad(first_seq, sealed.aead),
            )?);
            return exact_key(&plain);
        }
        let Some(kek) = self.keys.iter().find(|k| k.id == sealed.kek) else {
            return Err(format!(
                "sealed by key-encryption key {}, which {} does not hold (it holds {})",
                sealed.kek,
                self.path.display(),
                self.ids().join(", ")
            ));
        };
        let mut nonce = [0u8; NONCE_LEN];
        hex::decode_to_slice(&sealed.nonce, &mut nonce)
            .map_err(|e| format!("nonce is not 24 bytes of hex: {e}"))?;
        let bytes =
            hex::decode(&sealed.sealed).map_err(|e| format!("sealed key is not hex: {e}"))?;
        let plain = Zeroizing::new(
            kek.cipher
                .open(&nonce, &dek_aad(first_seq, sealed.aead), &bytes)
                .ok_or_else(|| {
                    "the data key does not open with its key-encryption key (altered, or not this segment's)"
                        .to_owned()
                })?,
        );
        exact_key(&plain)
    }
}

/// A data key from the bytes it was sealed as.
fn exact_key(plain: &[u8]) -> Result<Zeroizing<[u8; 32]>, String> {
    if plain.len() != 32 {
        return Err(format!(
            "the data key is {} bytes, expected 32",
            plain.len()
        ));
    }
    let mut key = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(plain);
    Ok(key)
}

/// Associated data binding a sealed data key to its segment and (for any
/// AEAD but the first) to the AEAD it seals with.
fn dek_aad(first_seq: u64, aead: Aead) -> Vec<u8> {
    let mut aad = DEK_AAD.to_vec();
    aad.extend_from_slice(&first_seq.to_le_bytes());
    match aead {
        Aead::XChaCha20Poly1305 => {}
        Aead::Xaes256Gcm => aad.extend_from_slice(b"\nxaes-256-gcm"),
    }
    aad
}

/// A new random 256-bit key.
pub(crate) fn random_key() -> Result<Zeroizing<[u8; 32]>, JournalError> {
    let mut key = Zeroizing::new([0u8; 32]);
    getrandom::fill(key.as_mut_slice()).map_err(|e| JournalError::Random(e.to_string()))?;
    Ok(key)
}

/// `N` random bytes.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], JournalError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| JournalError::Random(e.to_string()))?;
    Ok(bytes)
}

/// Writes `bytes` to `path` atomically with mode 0600: a temp file beside it, fsynced,
/// renamed over `path`, and the directory fsynced. The temp file is always `<path>.tmp`,
/// so one a crash left is reused rather than piling up.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), JournalError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    Ok(trailmark_durable_file::Replace::new(path)
        .temp_path(tmp)
        .mode(0o600)
        .write(bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_key_file_is_private_and_loads_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("journal.kek");
        let (created, new) = Keyring::load_or_create(&path).expect("create");
        assert!(new);
        let mode = fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (loaded, new) = Keyring::load_or_create(&path).expect("load");
        assert!(!new);
        assert_eq!(loaded.current_id(), created.current_id());
        for aead in [Aead::XChaCha20Poly1305, Aead::Xaes256Gcm] {
            let sealed = created.seal(&[7; 32], 5, aead).expect("seal");
            assert_eq!(*loaded.open(&sealed, 5).expect("open"), [7; 32]);
            let why = loaded.open(&sealed, 6).expect_err("bound to its segment");
            assert!(why.contains("does not open"), "{why}");
        }
    }

    #[test]
    fn a_data_keys_aead_is_named_in_its_file_and_bound_to_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (keyring, _) = Keyring::load_or_create(&dir.path().join("k.kek")).expect("create");
        let old = keyring
            .seal(&[7; 32], 5, Aead::XChaCha20Poly1305)
            .expect("seal");
        let text = serde_json::to_string(&old).expect("json");
        assert!(!text.contains("aead"), "files as before: {text}");
        let new = keyring.seal(&[7; 32], 5, Aead::Xaes256Gcm).expect("seal");
        let text = serde_json::to_string(&new).expect("json");
        assert!(text.contains(r#""aead":"xaes-256-gcm""#), "{text}");
        let read: SealedKey = serde_json::from_str(&text).expect("reads back");
        assert_eq!(read.aead, Aead::Xaes256Gcm);
        let edited = SealedKey {
            aead: Aead::XChaCha20Poly1305,
            ..new
        };
        let why = keyring.open(&edited, 5).expect_err("the name is bound");
        assert!(why.contains("does not open"), "{why}");
    }

    /// A stand-in for a key service: "seals" by prefixing the context and flipping bits.
    struct FakeService;

    impl ExternalKek for FakeService {
        fn id(&self) -> &str {
            "arn:fake:key/1"
        }
        fn seal(&self, key: &[u8; 32], context: &[u8]) -> Result<Vec<u8>, String> {
            let mut out = context.to_vec();
            out.extend(key.iter().map(|b| b ^ 0x5a));
            Ok(out)
        }
        fn open(&self, kek: &str, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, String> {
            if kek != self.id() {
                return Err(format!("not my key: {kek}"));
            }
            let key = sealed
                .strip_prefix(context)
                .ok_or("another context".to_owned())?;
            Ok(key.iter().map(|b| b ^ 0x5a).collect())
        }
    }

    #[test]
    fn an_external_key_seals_and_opens_data_keys_and_is_not_rotated_here() {
        let mut keyring = Keyring::external(Arc::new(FakeService));
        assert_eq!(keyring.current_id(), "arn:fake:key/1");
        let sealed = keyring.seal(&[7; 32], 5, Aead::Xaes256Gcm).expect("seal");
        assert_eq!(sealed.kek, "arn:fake:key/1");
        assert_eq!(*keyring.open(&sealed, 5).expect("open"), [7; 32]);
        let why = keyring.open(&sealed, 6).expect_err("bound to its segment");
        assert!(why.contains("another context"), "{why}");
        assert!(keyring.add_current().is_err());
        assert!(keyring.save().is_err());
    }

    #[test]
    fn a_key_file_others_can_read_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("journal.kek");
        Keyring::load_or_create(&path).expect("create");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = Keyring::load(&path).expect_err("world-readable");
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }
}
