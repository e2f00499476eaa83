//! When a write becomes durable: at once, or at the next [`sync`] barrier.
//!
//! A local backend opened with [`Durability::EachWrite`] fsyncs before every
//! write returns (files, their directories, SQLite commits). That is what a
//! caller that records "done" right after a write needs, and it costs one
//! disk flush (milliseconds) per write.
//!
//! With [`Durability::Batched`] writes return once they are in the page cache
//! (still atomic: temp file + rename, SQLite transactions in WAL mode), and
//! the backend's `sync()` makes every write that returned before it durable
//! with one `syncfs(2)` of the file system that holds the backend's files.
//! The host uses this: it calls `sync()` on every backend before it journals
//! the outcomes of the deliveries that wrote, so a delivery is never recorded
//! as done before its writes are on disk, and a crash in between only means
//! the delivery runs again (at-least-once, as always).
//!
//! [`sync`]: crate::ArchiveStore::sync

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::{BackendError, BackendResult};

pub use trailmark_backend_api::Durability;

/// Writes not yet made durable, for a backend in [`Durability::Batched`]
/// mode: a dirty flag and the directory whose file system to sync.
#[derive(Debug)]
pub(crate) struct Unsynced {
    dir: PathBuf,
    dirty: AtomicBool,
}

impl Unsynced {
    /// Track writes under `dir` (which must exist when [`Unsynced::sync`] runs).
    pub(crate) fn new(dir: impl Into<PathBuf>) -> Self {
        Unsynced {
            dir: dir.into(),
            dirty: AtomicBool::new(false),
        }
    }

    /// Note a write that has completed (call after the write, not before).
    pub(crate) fn wrote(&self) {
        self.dirty.store(true, Ordering::Release);
    }

    /// Make every write noted before this call durable. Writes noted while
    /// it runs may or may not be covered; they stay dirty for the next call.
    pub(crate) fn sync(&self) -> BackendResult<()> {
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        sync_filesystem(&self.dir).map_err(|e| {
            self.dirty.store(true, Ordering::Release);
            BackendError::Transient(format!(
                "sync the file system of {}: {e}",
                self.dir.display()
            ))
        })
    }
}

/// Flush every dirty page of the file system that holds `dir` to disk.
#[cfg(target_os = "linux")]
pub(crate) fn sync_filesystem(dir: &Path) -> io::Result<()> {
    let handle = std::fs::File::open(dir)?;
    rustix::fs::syncfs(&handle).map_err(io::Error::from)
}

/// Flush every dirty page of the file system that holds `dir` to disk.
///
/// Without `syncfs(2)`, fall back to `sync(2)` (all file systems), then make
/// sure `dir`'s own metadata is on disk too.
#[cfg(not(target_os = "linux"))]
pub(crate) fn sync_filesystem(dir: &Path) -> io::Result<()> {
    rustix::fs::sync();
    crate::dir_sync::fsync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_is_a_no_op_until_a_write_is_noted_and_errors_keep_it_dirty() {
        let dir = tempfile::tempdir().expect("temp dir");
        let unsynced = Unsynced::new(dir.path());
        unsynced.sync().expect("nothing to sync");
        unsynced.wrote();
        unsynced.sync().expect("sync");
        assert!(!unsynced.dirty.load(Ordering::Acquire));

        let gone = Unsynced::new(dir.path().join("missing"));
        gone.wrote();
        let e = gone.sync().unwrap_err();
        assert!(e.to_string().contains("missing"), "{e}");
        assert!(
            gone.dirty.load(Ordering::Acquire),
            "still owed after a failure"
        );
    }
}
