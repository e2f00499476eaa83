//! Per-segment data keys: their sidecar files, and sealing record payloads with them.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::keyring::{Keyring, SealedKey, random_bytes, random_key, write_private};
use super::xchacha::{NONCE_LEN, TAG_LEN, XChaCha20Poly1305};
use crate::error::JournalError;

/// Bytes a sealed payload has over its plaintext: the nonce and the tag.
pub(crate) const SEAL_OVERHEAD: usize = NONCE_LEN + TAG_LEN;
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
    cipher: XChaCha20Poly1305,
    prefix: [u8; PREFIX_LEN],
    sealed: AtomicU64,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl DataKey {
    fn new(key: &[u8; 32]) -> Result<DataKey, JournalError> {
        Ok(DataKey {
            cipher: XChaCha20Poly1305::new(key),
            prefix: random_bytes::<PREFIX_LEN>()?,
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
        self.cipher.seal_append(&nonce, aad, payload, out);
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
        self.cipher.open(nonce, aad, sealed)
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
pub(crate) fn create_data_key(
    keyring: &Keyring,
    segment: &Path,
    first_seq: u64,
) -> Result<DataKey, JournalError> {
    let key = random_key()?;
    let sealed = keyring.seal(&key, first_seq)?;
    write_sealed(&data_key_path(segment), &sealed)?;
    DataKey::new(&key)
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
    DataKey::new(&key)
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

    #[test]
    fn a_sealed_payload_opens_only_as_the_record_it_was_sealed_for() {
        let key = DataKey::new(&[1; 32]).expect("key");
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
            DataKey::new(&[2; 32]).expect("key").open(9, 2, &stored),
            None,
            "another key"
        );
        let mut altered = stored.clone();
        altered[30] ^= 1;
        assert_eq!(key.open(9, 2, &altered), None, "altered");
    }

    #[test]
    fn no_two_seals_share_a_nonce_within_or_across_openings_of_a_key() {
        let first = DataKey::new(&[1; 32]).expect("key");
        let again = DataKey::new(&[1; 32]).expect("the same key, opened again");
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
