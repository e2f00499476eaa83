//! Append-only JSON-lines files, shared by the file notifier and forwarder.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use serde::Serialize;

use crate::{BackendError, BackendResult, Durability};

/// A file that gets one JSON document per line, appended and fsynced.
///
/// Each line is written with one `write` on a file opened with `O_APPEND`,
/// under a lock, so lines from concurrent callers (and, on local file
/// systems, from other processes) never interleave. The fsync runs outside
/// the lock, so concurrent appenders share the disk's flushes. In
/// [`Durability::Batched`] mode the fsync waits for [`JsonLinesFile::sync`].
#[derive(Debug)]
pub(crate) struct JsonLinesFile {
    path: PathBuf,
    file: File,
    append: Mutex<()>,
    durability: Durability,
    dirty: AtomicBool,
}

impl JsonLinesFile {
    /// Open `path` for appending, creating it and its directory if missing.
    pub(crate) fn open(path: &Path, durability: Durability) -> BackendResult<Self> {
        let error = |action: &str, p: &Path, e: std::io::Error| {
            BackendError::Transient(format!("{action} {}: {e}", p.display()))
        };
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        if let Some(dir) = dir {
            fs::create_dir_all(dir).map_err(|e| error("create directory", dir, e))?;
        }
        let existed = path.exists();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| error("open", path, e))?;
        if !existed {
            // Make the new file's directory entry durable too.
            let dir = dir.unwrap_or(Path::new("."));
            crate::dir_sync::fsync_dir(dir).map_err(|e| error("fsync directory", dir, e))?;
        }
        Ok(JsonLinesFile {
            path: path.to_owned(),
            file,
            append: Mutex::new(()),
            durability,
            dirty: AtomicBool::new(false),
        })
    }

    /// The file appended to.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Append `value` as one line and fsync the file (unless batched).
    pub(crate) fn append(&self, value: &impl Serialize) -> BackendResult<()> {
        let mut line = serde_json::to_vec(value)
            .map_err(|e| BackendError::Invalid(format!("cannot encode as JSON: {e}")))?;
        line.push(b'\n');
        let error = |e: std::io::Error| {
            BackendError::Transient(format!("append to {}: {e}", self.path.display()))
        };
        {
            let _guard = self.append.lock().unwrap_or_else(PoisonError::into_inner);
            (&self.file).write_all(&line).map_err(error)?;
        }
        match self.durability {
            Durability::EachWrite => self.file.sync_data().map_err(error),
            Durability::Batched => {
                self.dirty.store(true, Ordering::Release);
                Ok(())
            }
        }
    }

    /// Fsync lines appended since the last call, if any.
    pub(crate) fn sync(&self) -> BackendResult<()> {
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        self.file.sync_data().map_err(|e| {
            self.dirty.store(true, Ordering::Release);
            BackendError::Transient(format!("fsync {}: {e}", self.path.display()))
        })
    }
}
