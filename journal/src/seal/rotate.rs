//! Rotating the key-encryption key: re-seal every data key, rewrite no segment.

use std::fs;
use std::path::{Path, PathBuf};

use super::data_key::{read_sealed, write_sealed};
use super::keyring::Keyring;
use crate::error::JournalError;

/// What [`rotate_key_file`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// Id of the new current key.
    pub new_key: String,
    /// Data key files re-sealed with it.
    pub resealed: usize,
    /// Ids of the keys removed from the key file.
    pub retired: Vec<String>,
}

/// Rotates the key-encryption key of `key_file` for the journals in `journal_dirs`
/// (which must be closed: their `LOCK` is taken for the duration).
///
/// 1. A new random key is added to the key file and made current (the old ones stay).
/// 2. Every data key file of every journal is opened with the key that sealed it and
///    sealed again with the new one (each file replaced atomically).
/// 3. The old keys are removed from the key file.
///
/// Segments are not touched. A crash at any point leaves every data key sealed by a key
/// the key file still holds; running the rotation again finishes it (with yet another
/// new key). Nothing else may be sealed by the old keys: keep one key file per data
/// directory.
pub fn rotate_key_file(key_file: &Path, journal_dirs: &[&Path]) -> Result<Rotation, JournalError> {
    let _locks = journal_dirs
        .iter()
        .map(|dir| crate::lock_dir(dir))
        .collect::<Result<Vec<_>, _>>()?;
    let mut keyring = Keyring::load(key_file)?;
    keyring.add_current()?;
    keyring.save()?;
    let new_key = keyring.current_id().to_owned();
    tracing::info!(path = %key_file.display(), kek = %new_key, "key rotation: new key-encryption key added");
    let mut resealed = 0;
    for dir in journal_dirs {
        for (first_seq, path) in data_key_files(dir)? {
            let sealed = read_sealed(&path)?;
            if sealed.kek == new_key {
                continue;
            }
            let key = keyring
                .open(&sealed, first_seq)
                .map_err(|reason| JournalError::DataKey {
                    path: path.clone(),
                    reason,
                })?;
            write_sealed(&path, &keyring.seal(&key, first_seq, sealed.aead)?)?;
            resealed += 1;
        }
    }
    let retired = keyring.retire_old();
    keyring.save()?;
    tracing::info!(path = %key_file.display(), kek = %new_key, resealed, retired = ?retired, "key rotation done");
    Ok(Rotation {
        new_key,
        resealed,
        retired,
    })
}

/// The `.dek` files of a journal directory with the first seq their name gives.
fn data_key_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>, JournalError> {
    let entries = fs::read_dir(dir).map_err(|e| JournalError::io(dir, "list directory", e))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| JournalError::io(dir, "list directory", e))?;
        let name = entry.file_name();
        let Some(first_seq) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".dek"))
            .filter(|d| d.len() == 20)
            .and_then(|d| d.parse().ok())
        else {
            continue;
        };
        files.push((first_seq, entry.path()));
    }
    files.sort_unstable();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{Journal, JournalOptions, NewRecord};

    #[test]
    fn a_rotation_cut_short_by_a_crash_still_opens_and_a_second_run_finishes_it() {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path().join("journal");
        let key_file = root.path().join("journal.kek");
        let (keyring, _) = Keyring::load_or_create(&key_file).expect("key file");
        let options = |keyring: Keyring| JournalOptions {
            segment_bytes: 4096,
            encryption: Some(Arc::new(keyring)),
            ..JournalOptions::default()
        };
        let journal = Journal::open(&dir, options(keyring)).expect("open");
        for i in 0..60u32 {
            let payload = format!("record {i} {}", "z".repeat(100)).into_bytes();
            journal
                .append_wait(vec![NewRecord { kind: 1, payload }])
                .expect("append");
        }
        journal.close().expect("close");

        // What a crash after the first re-sealed data key leaves: both keys in the key
        // file, one data key sealed by the new one, the others by the old one.
        let mut keyring = Keyring::load(&key_file).expect("load");
        keyring.add_current().expect("new key");
        keyring.save().expect("save");
        let files = data_key_files(&dir).expect("list");
        assert!(files.len() > 2);
        let (first_seq, path) = &files[0];
        let sealed = read_sealed(path).expect("read");
        let key = keyring.open(&sealed, *first_seq).expect("open");
        write_sealed(
            path,
            &keyring.seal(&key, *first_seq, sealed.aead).expect("seal"),
        )
        .expect("write");

        let mid = Keyring::load(&key_file).expect("load mid-rotation");
        assert_eq!(mid.ids().len(), 2);
        let journal = Journal::open(&dir, options(mid)).expect("opens mid-rotation");
        assert_eq!(journal.read(60).expect("read").expect("60").seq, 60);
        journal.close().expect("close");

        let rotation = rotate_key_file(&key_file, &[&dir]).expect("rotate again");
        assert_eq!(rotation.resealed, files.len());
        assert_eq!(rotation.retired.len(), 2);
        let done = Keyring::load(&key_file).expect("load");
        assert_eq!(done.ids(), vec![rotation.new_key]);
        let journal = Journal::open(&dir, options(done)).expect("opens after rotation");
        assert_eq!(journal.read(1).expect("read").expect("1").seq, 1);
    }
}
