//! Coalesced directory fsyncs.
//!
//! A rename is durable only once its directory is fsynced. When many threads
//! put into one directory at once, one directory fsync that *starts* after a
//! rename finished makes that rename durable, so the threads share fsyncs:
//! each takes a ticket after its rename; a thread whose ticket is covered by a
//! finished fsync returns at once, otherwise it waits for the running fsync
//! and then starts the next one itself, covering every rename done meanwhile
//! (the same group commit a database uses for its log).

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

/// Shares directory fsyncs between concurrent writers.
#[derive(Debug, Default)]
pub(crate) struct DirSyncer {
    dirs: Mutex<HashMap<PathBuf, Arc<DirState>>>,
    fsyncs: AtomicU64,
}

#[derive(Debug, Default)]
struct DirState {
    progress: Mutex<Progress>,
    finished: Condvar,
}

#[derive(Debug, Default)]
struct Progress {
    /// Tickets handed out: one per change that needs a sync.
    requested: u64,
    /// Every ticket up to this one is durable.
    synced: u64,
    /// An fsync of this directory is in flight.
    running: bool,
}

/// The counters are plain numbers, consistent at every point where a lock is
/// released, so a panic elsewhere never leaves them half-updated.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl DirSyncer {
    /// Return once every change made to `dir` before this call is durable.
    pub(crate) fn sync(&self, dir: &Path) -> io::Result<()> {
        let state = {
            let mut dirs = lock(&self.dirs);
            Arc::clone(dirs.entry(dir.to_path_buf()).or_default())
        };
        let result = self.sync_state(dir, &state);
        let mut dirs = lock(&self.dirs);
        // Clones are only made under the map lock, so a count of two (the
        // map's and ours) means nobody else is using this entry: drop it to
        // keep the map as small as the set of directories being written.
        if Arc::strong_count(&state) == 2 {
            dirs.remove(dir);
        }
        result
    }

    /// How many directory fsyncs were actually issued.
    pub(crate) fn fsyncs(&self) -> u64 {
        self.fsyncs.load(Ordering::Relaxed)
    }

    fn sync_state(&self, dir: &Path, state: &DirState) -> io::Result<()> {
        let mut progress = lock(&state.progress);
        progress.requested += 1;
        let ticket = progress.requested;
        loop {
            if progress.synced >= ticket {
                return Ok(());
            }
            if progress.running {
                progress = state
                    .finished
                    .wait(progress)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            progress.running = true;
            let target = progress.requested;
            drop(progress);
            let result = fsync_dir(dir);
            self.fsyncs.fetch_add(1, Ordering::Relaxed);
            progress = lock(&state.progress);
            progress.running = false;
            state.finished.notify_all();
            result?;
            progress.synced = progress.synced.max(target);
        }
    }
}

/// Fsync one directory so that the entries created or renamed in it persist.
/// The bare system error: callers name the directory and the step themselves.
pub(crate) fn fsync_dir(dir: &Path) -> io::Result<()> {
    trailmark_durable_file::sync_dir(dir).map_err(|e| e.source)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    #[test]
    fn concurrent_syncs_of_one_directory_share_fsyncs_and_all_return() {
        let dir = tempfile::tempdir().expect("temp dir");
        let syncer = DirSyncer::default();
        let calls = 8 * 25;
        thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..25 {
                        syncer.sync(dir.path()).expect("fsync of a temp dir");
                    }
                });
            }
        });
        let fsyncs = syncer.fsyncs();
        assert!(fsyncs >= 1 && fsyncs <= calls, "{fsyncs} fsyncs");
        assert!(lock(&syncer.dirs).is_empty(), "idle entries are dropped");
    }

    #[test]
    fn a_missing_directory_is_an_error_for_the_caller() {
        let dir = tempfile::tempdir().expect("temp dir");
        let syncer = DirSyncer::default();
        let missing = dir.path().join("missing");
        assert!(syncer.sync(&missing).is_err());
        assert!(lock(&syncer.dirs).is_empty());
    }
}
