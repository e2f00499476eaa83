//! Crash-safe file writes, written once for the whole workspace.
//!
//! A file system makes a write durable in steps: the bytes reach the disk when
//! the file is fsynced, and a name created, renamed or removed in a directory
//! reaches it when the *directory* is fsynced. Each function here says what is
//! on disk after a crash at each of its steps.
//!
//! - [`replace`] / [`Replace`]: publish a whole file over an old one (temp file
//!   in the same directory, write, fsync, rename, fsync the directory). A
//!   reader, or a restart after a crash, sees the old bytes or the new ones,
//!   never a mix.
//! - [`Pending::commit_new`]: the same, but only if no file has the name
//!   (a hard link, which fails rather than replace).
//! - [`create_new_synced`]: create a file that must not exist yet and write it
//!   in place (`O_EXCL`), for files whose readers accept a torn one.
//! - [`sync_dir`], [`sync_parent`]: make creations and removals in a directory
//!   durable.
//!
//! Errors are one [`Error`]: the path, the [`Step`] and the operating system's
//! error, as public fields, so a caller keeps its own error type:
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! let path = dir.path().join("state.json");
//! trailmark_durable_file::replace(&path, b"{\"v\":1}")?;
//! trailmark_durable_file::Replace::new(&path)
//!     .mode(0o600)
//!     .write(b"{\"v\":2}")
//!     .map_err(|e| std::io::Error::other(format!("{}: {}", e.path.display(), e.step)))?;
//! assert_eq!(std::fs::read(&path)?, b"{\"v\":2}");
//! # Ok(())
//! # }
//! ```

mod error;
mod replace;

use std::fs::File;
use std::io::Write;
use std::path::Path;

pub use error::{Error, Step};
pub use replace::{Pending, Replace};

/// Fsyncs directory `dir`, so that the files created, renamed into it or
/// removed from it before the call survive a crash.
///
/// Until it returns, a crash may undo any of those changes (a new file may be
/// missing, a removed one back, a rename undone); the files' own bytes are
/// not its business (fsync each file).
pub fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::at(dir, Step::SyncDir))
}

/// Fsyncs the directory that holds `path` (`.` for a bare file name); see
/// [`sync_dir`].
pub fn sync_parent(path: &Path) -> Result<(), Error> {
    sync_dir(parent(path))
}

/// Creates `path`, which must not exist (`O_EXCL`: an existing file fails with
/// [`std::io::ErrorKind::AlreadyExists`] at [`Step::Create`] and is left as
/// it is), writes `bytes`, fsyncs the file and then its directory. Returns the
/// file, open for reading and writing, positioned after `bytes`.
///
/// `mode` (unix; ignored elsewhere) is set exactly, not filtered by the umask.
///
/// After a crash:
/// - before the file's fsync: `path` may be missing, empty, or hold part of
///   `bytes`;
/// - after it, before the directory's fsync: `path` may be missing, or whole;
/// - after the call returns: `path` is whole.
///
/// A reader that cannot accept an empty or partial file wants
/// [`Pending::commit_new`] instead.
pub fn create_new_synced(path: &Path, bytes: &[u8], mode: Option<u32>) -> Result<File, Error> {
    let mut options = File::options();
    options.read(true).write(true).create_new(true);
    let mut file = replace::open(&options, path, mode)?;
    file.write_all(bytes)
        .map_err(Error::at(path, Step::Write))?;
    file.sync_all().map_err(Error::at(path, Step::SyncFile))?;
    sync_parent(path)?;
    Ok(file)
}

/// Replaces `path` with `bytes` (or creates it): [`Replace::new`] with a
/// unique temp name `.<name>-<pid>-<random>.tmp` and the default mode. See
/// [`Replace`] for the steps and what a crash leaves.
pub fn replace(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    Replace::new(path).write(bytes)
}

/// The directory that holds `path`: its parent, or `.` for a bare name.
fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

#[cfg(all(test, unix))]
mod tests;
