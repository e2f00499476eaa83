//! Data keys for stores outside the journal (archived bodies, dead letters).
//!
//! The same envelope as a segment's: a random 256-bit data key, sealed by the
//! key-encryption key into a `.dek` file named by a 20-digit number (here a period, say a
//! day, chosen by the caller). Because the file looks like a segment's, [`rotate_key_file`]
//! re-seals it when given its directory; what it sealed is never rewritten.
//!
//! [`rotate_key_file`]: super::rotate_key_file

use std::fs;
use std::path::{Path, PathBuf};

use super::data_key::{DataKey, SEAL_OVERHEAD, create_data_key, data_key_path, load_data_key};
use super::keyring::Keyring;
use crate::error::JournalError;

/// An open data key of a store: seals and opens values bound to associated data.
#[derive(Debug)]
pub struct StoreKey {
    id: u64,
    key: DataKey,
}

impl StoreKey {
    /// The `.dek` file of key `id` in `dir`.
    pub fn path(dir: &Path, id: u64) -> PathBuf {
        data_key_path(&stem(dir, id))
    }

    /// Opens key `id` of `dir`, creating it (sealed by the keyring's current key, written
    /// durably) when its file does not exist. One process must own `dir` (the server
    /// does, under the journal's lock): two creating the same id at once would each
    /// write a key and the first one's would be lost.
    pub fn load_or_create(
        keyring: &Keyring,
        dir: &Path,
        id: u64,
    ) -> Result<StoreKey, JournalError> {
        if Self::path(dir, id).exists() {
            return Self::load(keyring, dir, id);
        }
        fs::create_dir_all(dir).map_err(|e| JournalError::io(dir, "create directory", e))?;
        let key = create_data_key(keyring, &stem(dir, id), id)?;
        tracing::info!(dir = %dir.display(), id, kek = %keyring.current_id(), "created a store data key");
        Ok(StoreKey { id, key })
    }

    /// Opens key `id` of `dir`; a missing file, or one the keyring cannot open, is an
    /// error naming the file and the key file.
    pub fn load(keyring: &Keyring, dir: &Path, id: u64) -> Result<StoreKey, JournalError> {
        let key = load_data_key(keyring, &stem(dir, id), id)?;
        Ok(StoreKey { id, key })
    }

    /// The key's id (its file's number).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// `plaintext` sealed: nonce (24 bytes) ‖ ciphertext ‖ tag, bound to `aad`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        self.key.seal_bound(aad, plaintext)
    }

    /// Appends what [`StoreKey::seal`] returns to `out`, growing it once by
    /// [`StoreKey::OVERHEAD`] and the plaintext's length.
    pub fn seal_append(&self, aad: &[u8], plaintext: &[u8], out: &mut Vec<u8>) {
        self.key.seal_bound_append(aad, plaintext, out);
    }

    /// Bytes a sealed value has over its plaintext (the nonce and the tag).
    pub const OVERHEAD: usize = SEAL_OVERHEAD;

    /// The plaintext of what [`StoreKey::seal`] returned for the same `aad`, or `None`
    /// when it does not open (altered, bound to other data, or sealed with another key).
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        self.key.open_bound(aad, sealed)
    }
}

/// What `data_key_path` turns into the `.dek` file name.
fn stem(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.seg"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rotate_key_file;

    #[test]
    fn a_store_key_is_created_once_reloads_and_survives_rotation() {
        let root = tempfile::tempdir().expect("temp dir");
        let key_file = root.path().join("trail.kek");
        let dir = root.path().join("keys");
        let (keyring, _) = Keyring::load_or_create(&key_file).expect("key file");
        let key = StoreKey::load_or_create(&keyring, &dir, 20_000).expect("create");
        assert_eq!(
            StoreKey::path(&dir, 20_000),
            dir.join("00000000000000020000.dek")
        );
        let sealed = key.seal(b"where", b"alice@example.com");
        assert!(!sealed.windows(5).any(|w| w == b"alice"), "no plaintext");
        assert_eq!(key.open(b"elsewhere", &sealed), None, "bound to its aad");

        let again = StoreKey::load_or_create(&keyring, &dir, 20_000).expect("load");
        assert_eq!(
            again.open(b"where", &sealed).as_deref(),
            Some(&b"alice@example.com"[..]),
            "the existing key, not a new one"
        );

        let rotation = rotate_key_file(&key_file, &[&dir]).expect("rotate");
        assert_eq!(rotation.resealed, 1);
        let rotated = Keyring::load(&key_file).expect("load");
        let reopened = StoreKey::load(&rotated, &dir, 20_000).expect("re-sealed key opens");
        assert_eq!(
            reopened.open(b"where", &sealed).as_deref(),
            Some(&b"alice@example.com"[..])
        );
        let old = StoreKey::load(&keyring, &dir, 20_000).expect_err("the old key is retired");
        assert!(
            old.to_string().contains(&key_file.display().to_string()),
            "{old}"
        );
        let missing = StoreKey::load(&rotated, &dir, 7).expect_err("no such key");
        assert!(
            missing.to_string().contains("00000000000000000007.dek"),
            "{missing}"
        );
    }
}
