//! Per-segment data keys: their sidecar files, and sealing record payloads with them.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::keyring::{Aead, Keyring, SealedKey, random_bytes, random_key, write_private};
use super::xaes::Xaes256Gcm;
use super::xchacha::{NONCE_LEN, TAG_LEN, XChaCha20Poly1305};
use crate::error::JournalError;

/// Bytes a sealed payload has over its plaintext: the nonce and the tag (the
/// same for both AEADs).
pub(crate) const SEAL_OVERHEAD: usize = NONCE_LEN + TAG_LEN;
const _: () = assert!(
    super::xaes::NONCE_LEN == NONCE_LEN && super::xaes::TAG_LEN == TAG_LEN,
    "both AEADs store a value the same way"
);
/// Bytes of a nonce drawn at random when the key is opened; a counter fills the rest.
const PREFIX_LEN: usize = 16;
/// File-name suffix of a segment's data key file.
const DEK_SUFFIX: &str = "dek";

/// The data key file of the segment at `segment`: the same name with `.dek` for `.seg`.
pub fn data_key_path(segment: &Path) -> PathBuf {
    segment.with_extension(DEK_SUFFIX)
}

/// An open data key: seals and opens the payloads of one segment.
///
/// Its nonces are a random 128-bit prefix, drawn when the key is opened, and a
/// 64-bit counter: unique within this opening by the counter, and across
/// openings (a restart, a seq written again after a torn tail was cut) by the
/// prefix, with no system call per sealed value.
pub(crate) struct DataKey {
    cipher: Cipher,
    prefix: [u8; PREFIX_LEN],
    sealed: AtomicU64,
}

/// The AEAD a data key seals with, named in its `.dek` file ([`Aead`]).
enum Cipher {
    /// Keys written before XAES-256-GCM.
    XChaCha(XChaCha20Poly1305),
    /// Every key created now (boxed: its key schedules take 1.6 KB).
    Xaes(Box<Xaes256Gcm>),
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl DataKey {
    fn new(key: &[u8; 32], aead: Aead) -> Result<DataKey, JournalError> {
        let prefix = random_bytes::<PREFIX_LEN>()?;
        let cipher = match aead {
            Aead::XChaCha20Poly1305 => Cipher::XChaCha(XChaCha20Poly1305::new(key)),
            Aead::Xaes256Gcm => {
                let (head, _) = prefix
                    .split_first_chunk::<{ super::xaes::PREFIX_LEN }>()
                    .expect("a data key's nonce prefix covers the subkey's");
                Cipher::Xaes(Box::new(Xaes256Gcm::new(key).with_prefix(head)))
            }
        };
        Ok(DataKey {
            cipher,
            prefix,
            sealed: AtomicU64::new(0),
        })
    }

    /// A nonce this key has not sealed with.
    fn next_nonce(&self) -> [u8; NONCE_LEN] {
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..PREFIX_LEN].copy_from_slice(&self.prefix);
        let count = self.sealed.fetch_add(1, Ordering::Relaxed);
        nonce[PREFIX_LEN..].copy_from_slice(&count.to_le_bytes());
        nonce
    }

    /// The payload as stored: nonce ‖ ciphertext ‖ tag, bound to `seq` and `kind`.
    pub(crate) fn seal(&self, seq: u64, kind: u8, payload: &[u8]) -> Vec<u8> {
        self.seal_bound(&record_aad(seq, kind), payload)
    }

    /// The payload as stored: nonce ‖ ciphertext ‖ tag, bound to the associated data `aad`.
    pub(crate) fn seal_bound(&self, aad: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(payload.len() + SEAL_OVERHEAD);
        self.seal_bound_append(aad, payload, &mut out);
        out
    }

    /// Appends to `out` what [`DataKey::seal_bound`] returns, growing it once.
    pub(crate) fn seal_bound_append(&self, aad: &[u8], payload: &[u8], out: &mut Vec<u8>) {
        let nonce = self.next_nonce();
        out.extend_from_slice(&nonce);
        match &self.cipher {
            Cipher::XChaCha(cipher) => cipher.seal_append(&nonce, aad, payload, out),
            Cipher::Xaes(cipher) => cipher.seal_append(&nonce, aad, payload, out),
        }
    }

    /// The plaintext of a stored payload, or `None` if it does not open (altered, moved
    /// to another record, or sealed with another key).
    pub(crate) fn open(&self, seq: u64, kind: u8, stored: &[u8]) -> Option<Vec<u8>> {
        self.open_bound(&record_aad(seq, kind), stored)
    }

    /// The plaintext of a payload sealed with [`DataKey::seal_bound`] and the same `aad`.
    pub(crate) fn open_bound(&self, aad: &[u8], stored: &[u8]) -> Option<Vec<u8>> {
        if stored.len() < SEAL_OVERHEAD {
            return None;
        }
        let (nonce, sealed) = stored.split_first_chunk::<NONCE_LEN>()?;
        match &self.cipher {
            Cipher::XChaCha(cipher) => cipher.open(nonce, aad, sealed),
            Cipher::Xaes(cipher) => cipher.open(nonce, aad, sealed),
        }
    }
}

/// Associated data of a record payload: its seq and kind.
fn record_aad(seq: u64, kind: u8) -> [u8; 9] {
    let mut aad = [0u8; 9];
    aad[..8].copy_from_slice(&seq.to_le_bytes());
    aad[8] = kind;
    aad
}

/// Creates a new data key for the segment `segment` (starting at `first_seq`), sealed
/// by the keyring's current key into its `.dek` file, durably: call it before the
/// segment file is created, so an encrypted segment never exists without its key.
/// New keys seal with XAES-256-GCM.
pub(crate) fn create_data_key(
    keyring: &Keyring,
    segment: &Path,
    first_seq: u64,
) -> Result<DataKey, JournalError> {
    let key = random_key()?;
    let sealed = keyring.seal(&key, first_seq, Aead::Xaes256Gcm)?;
    write_sealed(&data_key_path(segment), &sealed)?;
    DataKey::new(&key, Aead::Xaes256Gcm)
}

/// Opens the data key of the segment `segment` (starting at `first_seq`).
pub(crate) fn load_data_key(
    keyring: &Keyring,
    segment: &Path,
    first_seq: u64,
) -> Result<DataKey, JournalError> {
    let path = data_key_path(segment);
    let sealed = read_sealed(&path)?;
    let key = keyring
        .open(&sealed, first_seq)
        .map_err(|reason| JournalError::DataKey { path, reason })?;
    DataKey::new(&key, sealed.aead)
}

/// Removes the data key file of a removed segment, if it has one. (After a crash
/// between the two removals the key file is left without its segment: harmless, and
/// overwritten if a segment with that name is ever created again.)
pub(crate) fn remove_data_key(segment: &Path) -> Result<(), JournalError> {
    let path = data_key_path(segment);
    match fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(JournalError::io(&path, "remove data key", e)),
    }
}

/// Reads a `.dek` file.
pub(crate) fn read_sealed(path: &Path) -> Result<SealedKey, JournalError> {
    let text = fs::read_to_string(path).map_err(|e| JournalError::DataKey {
        path: path.to_path_buf(),
        reason: format!("cannot read the segment's data key file: {e}"),
    })?;
    serde_json::from_str(&text).map_err(|e| JournalError::DataKey {
        path: path.to_path_buf(),
        reason: format!("not a data key file: {e}"),
    })
}

/// Writes a `.dek` file atomically.
pub(crate) fn write_sealed(path: &Path, sealed: &SealedKey) -> Result<(), JournalError> {
    let text = serde_json::to_vec(sealed).expect("a sealed key serializes to JSON");
    write_private(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: [Aead; 2] = [Aead::XChaCha20Poly1305, Aead::Xaes256Gcm];

    #[test]
    fn a_sealed_payload_opens_only_as_the_record_it_was_sealed_for() {
        for aead in BOTH {
            let key = DataKey::new(&[1; 32], aead).expect("key");
            let stored = key.seal(9, 2, b"alice@example.com");
            assert_eq!(stored.len(), 17 + SEAL_OVERHEAD);
            assert!(!stored.windows(5).any(|w| w == b"alice"), "no plaintext");
            assert_eq!(
                key.open(9, 2, &stored).as_deref(),
                Some(&b"alice@example.com"[..])
            );
            assert_eq!(key.open(10, 2, &stored), None, "moved to another seq");
            assert_eq!(key.open(9, 3, &stored), None, "another kind");
            assert_eq!(
                DataKey::new(&[2; 32], aead)
                    .expect("key")
                    .open(9, 2, &stored),
                None,
                "another key"
            );
            let mut altered = stored.clone();
            altered[30] ^= 1;
            assert_eq!(key.open(9, 2, &altered), None, "altered");
        }
        let xaes = DataKey::new(&[1; 32], Aead::Xaes256Gcm).expect("key");
        let xchacha = DataKey::new(&[1; 32], Aead::XChaCha20Poly1305).expect("key");
        assert_eq!(
            xchacha.open(9, 2, &xaes.seal(9, 2, b"x")),
            None,
            "one key, another AEAD"
        );
    }

    #[test]
    fn no_two_seals_share_a_nonce_within_or_across_openings_of_a_key() {
        for aead in BOTH {
            let first = DataKey::new(&[1; 32], aead).expect("key");
            let again = DataKey::new(&[1; 32], aead).expect("the same key, opened again");
            let mut nonces = std::collections::HashSet::new();
            for key in [&first, &again] {
                for _ in 0..1000 {
                    let stored = key.seal(9, 2, b"the same record, written again");
                    assert!(
                        nonces.insert(stored[..NONCE_LEN].to_vec()),
                        "a nonce repeated"
                    );
                }
            }
            let stored = first.seal(9, 2, b"written before a restart");
            assert_eq!(
                again.open(9, 2, &stored).as_deref(),
                Some(&b"written before a restart"[..]),
                "another opening of the key opens it"
            );
        }
    }

    #[test]
    fn new_keys_are_xaes_and_keys_written_before_open_as_they_were() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (keyring, _) = Keyring::load_or_create(&dir.path().join("k.kek")).expect("key file");
        let segment = dir.path().join("00000000000000000001.seg");
        let created = create_data_key(&keyring, &segment, 1).expect("create");
        assert!(matches!(created.cipher, Cipher::Xaes(_)));
        assert_eq!(
            read_sealed(&data_key_path(&segment)).expect("read").aead,
            Aead::Xaes256Gcm
        );
        let stored = created.seal(1, 1, b"a record");
        let loaded = load_data_key(&keyring, &segment, 1).expect("load");
        assert_eq!(
            loaded.open(1, 1, &stored).as_deref(),
            Some(&b"a record"[..])
        );

        // A `.dek` file as written before: no `aead`, so XChaCha20-Poly1305.
        let old = dir.path().join("00000000000000000002.seg");
        let key = random_key().expect("key");
        let sealed = keyring
            .seal(&key, 2, Aead::XChaCha20Poly1305)
            .expect("seal");
        let text = serde_json::to_string(&sealed).expect("json");
        assert!(!text.contains("aead"), "{text}");
        write_private(&data_key_path(&old), text.as_bytes()).expect("write");
        let stored = DataKey::new(&key, Aead::XChaCha20Poly1305)
            .expect("key")
            .seal(2, 1, b"an old record");
        let loaded = load_data_key(&keyring, &old, 2).expect("load");
        assert!(matches!(loaded.cipher, Cipher::XChaCha(_)));
        assert_eq!(
            loaded.open(2, 1, &stored).as_deref(),
            Some(&b"an old record"[..])
        );
    }
}
