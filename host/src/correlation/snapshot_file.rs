//! The correlation windows on disk: `DATA/correlation.snapshot`, the
//! engine's [`Snapshot`] with the journal position it covers.
//!
//! A snapshot says "every event through seq `through` is in these windows,
//! and every fire they made is journaled"; the record at `through` is named
//! by its hash too, so a snapshot of another journal (a directory restored
//! from a backup, a repaired tail numbered anew) is recognised and not
//! used. At start the windows are restored from it and caught up from the
//! journal after `through`, instead of replaying the whole longest window.
//!
//! The file is postcard (a compact binary form of the same serde types,
//! its format version first), sealed like the archive's values when
//! `[encryption]` is on (group keys are field values: authors, entity ids),
//! written to a temporary file, fsynced and renamed, so a crash leaves the
//! old snapshot or the new one, never a torn one. Version 1 was JSON, about
//! five times larger and slower to write at 100k groups (BENCHMARKS.md): a
//! version 1 file is not used, and the windows are replayed from the
//! journal, as for any snapshot that is not used.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use trailmark_correlate::Snapshot;

use crate::at_rest::{SealError, Sealer};

/// The file's name in the data directory.
const FILE: &str = "correlation.snapshot";

/// The format this build writes and reads (1 was JSON).
const VERSION: u32 = 2;

/// What a sealed snapshot is bound to.
const AAD: &[u8] = b"trailmark-correlation-snapshot-v1\n";

/// A snapshot and the journal position it covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedWindows {
    /// The format version ([`VERSION`]).
    pub version: u32,
    /// The last journal seq whose event is in the windows.
    pub through: u64,
    /// That record's hash (hex), naming the journal it is in.
    pub hash: String,
    /// The engine's state.
    pub state: Snapshot,
}

impl SavedWindows {
    /// `state`, covering the journal through `through` (whose hash is `hash`).
    pub fn new(through: u64, hash: String, state: Snapshot) -> Self {
        SavedWindows {
            version: VERSION,
            through,
            hash,
            state,
        }
    }
}

/// Why a snapshot could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Reading the file failed.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a snapshot this build reads.
    #[error("{path} is not a correlation snapshot this build reads: {why}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// Writing the file failed (which step, on which path).
    #[error(transparent)]
    Write(#[from] trailmark_durable_file::Error),
    /// The windows could not be encoded.
    #[error("the correlation windows cannot be encoded: {0}")]
    Encode(String),
    /// Sealing or opening failed (no key, or altered).
    #[error(transparent)]
    Seal(#[from] SealError),
}

/// The snapshot's path in the data directory `data`.
pub fn path_in(data: &Path) -> PathBuf {
    data.join(FILE)
}

/// Write `saved` to `path`, sealed by `sealer` when encryption is on,
/// replacing the previous snapshot atomically and durably.
pub fn save(path: &Path, saved: &SavedWindows, sealer: &Sealer) -> Result<(), SnapshotError> {
    let plain = postcard::to_stdvec(saved).map_err(|e| SnapshotError::Encode(e.to_string()))?;
    let what = || "the correlation snapshot".to_owned();
    let bytes = sealer.seal(&what, AAD, &plain)?;
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    trailmark_durable_file::Replace::new(path)
        .temp_path(temp)
        .write(&bytes)?;
    Ok(())
}

/// The snapshot at `path`; `None` when there is none.
pub fn load(path: &Path, sealer: &Sealer) -> Result<Option<SavedWindows>, SnapshotError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(SnapshotError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    let what = || "the correlation snapshot".to_owned();
    let plain = sealer.open(&what, AAD, &bytes)?;
    let unreadable = |why: String| SnapshotError::Unreadable {
        path: path.to_owned(),
        why,
    };
    if plain.first() == Some(&b'{') {
        return Err(unreadable(format!(
            "format version 1 (JSON); this build reads {VERSION}"
        )));
    }
    // The version comes first, so a later format is named, not misread.
    let (version, _) =
        postcard::take_from_bytes::<u32>(&plain).map_err(|e| unreadable(e.to_string()))?;
    if version != VERSION {
        return Err(unreadable(format!(
            "format version {version}; this build reads {VERSION}"
        )));
    }
    let saved: SavedWindows =
        postcard::from_bytes(&plain).map_err(|e| unreadable(e.to_string()))?;
    Ok(Some(saved))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use trailmark_correlate::{AfterFire, Condition, Correlation, Engine, Kind, Limits, Window};
    use trailmark_journal::Keyring;

    use super::*;

    fn sealer(data: &Path, on: bool) -> Sealer {
        let key_file = data.join("trail.kek");
        let keyring = on.then(|| Arc::new(Keyring::load_or_create(&key_file).expect("key file").0));
        Sealer::new(data, crate::at_rest::CORRELATION_KEYS, keyring, key_file)
    }

    /// An engine's snapshot holding one group keyed by `author`.
    fn state_with(author: &str) -> Snapshot {
        let correlation = Correlation {
            name: "mass-deletes".to_owned(),
            kind: Kind::EventCount,
            rules: vec!["deletes".to_owned()],
            group_by: vec!["detail.author".to_owned()],
            timespan: 300_000,
            condition: Condition {
                gte: Some(20),
                ..Condition::default()
            },
            aliases: BTreeMap::new(),
            window: Window::default(),
            after_fire: AfterFire::default(),
            lateness: 0,
            absent: Vec::new(),
        };
        let mut engine = Engine::new(vec![correlation], Limits::default()).expect("valid");
        let fields = BTreeMap::from([("detail.author".to_owned(), author.to_owned())]);
        engine.process(
            &trailmark_correlate::Event {
                id: "e-1",
                time: 1_000,
                fields: &fields,
            },
            &["deletes"],
        );
        engine.snapshot()
    }

    #[test]
    fn a_saved_snapshot_loads_back_plain_or_sealed_and_sealed_hides_its_keys() {
        for on in [false, true] {
            let dir = tempfile::tempdir().expect("temp dir");
            let sealer = sealer(dir.path(), on);
            let path = path_in(dir.path());
            assert_eq!(load(&path, &sealer).expect("reads"), None, "none yet");
            let saved = SavedWindows::new(42, "ab".repeat(32), state_with("ann.secret"));
            save(&path, &saved, &sealer).expect("saves");
            assert_eq!(load(&path, &sealer).expect("reads"), Some(saved.clone()));
            let raw = fs::read(&path).expect("raw");
            let shows = raw.windows(10).any(|w| w == b"ann.secret");
            assert_eq!(shows, !on, "sealed: {on}");
            // A newer snapshot replaces it; no temporary file is left.
            let newer = SavedWindows::new(43, "cd".repeat(32), state_with("bob"));
            save(&path, &newer, &sealer).expect("saves");
            assert_eq!(load(&path, &sealer).expect("reads"), Some(newer));
            assert!(!dir.path().join("correlation.snapshot.tmp").exists());
        }
    }

    #[test]
    fn a_damaged_or_foreign_snapshot_is_an_error_not_windows() {
        let dir = tempfile::tempdir().expect("temp dir");
        let sealer = sealer(dir.path(), false);
        let path = path_in(dir.path());
        let saved = SavedWindows::new(1, "ab".repeat(32), state_with("ann"));
        let whole = postcard::to_stdvec(&saved).expect("encodes");
        fs::write(&path, &whole[..whole.len() - 3]).expect("writes");
        let e = load(&path, &sealer).expect_err("torn");
        assert!(e.to_string().contains("correlation.snapshot"), "{e}");
        let mut newer = saved.clone();
        newer.version = 9;
        fs::write(&path, postcard::to_stdvec(&newer).expect("encodes")).expect("writes");
        let e = load(&path, &sealer).expect_err("newer format");
        assert!(e.to_string().contains("format version 9"), "{e}");
        // What the previous build wrote: JSON, version 1.
        let mut json = saved;
        json.version = 1;
        fs::write(&path, serde_json::to_vec(&json).expect("json")).expect("writes");
        let e = load(&path, &sealer).expect_err("version 1");
        assert!(e.to_string().contains("format version 1 (JSON)"), "{e}");
    }
}
