//! The local archive: one file per key under a directory.
//!
//! `put` is atomic, durable and never overwrites: the body goes to a temp
//! file in the key's own directory, is fsynced, and is published under the
//! key with a no-replace rename (`renameat2(RENAME_NOREPLACE)`, or `link`
//! where the file system lacks it), never a plain rename over the key; then
//! the directory is fsynced (directories created on the way are made
//! durable in their parents too). A put to a key that already holds the same
//! bytes succeeds (a redelivery); one with different bytes fails with
//! [`BackendError::Invalid`] and leaves the stored body as it was: an
//! archived version is never rewritten.
//!
//! Directory fsyncs are shared between concurrent puts into one directory
//! (see [`DirSyncer`]), so N parallel puts cost N file fsyncs but fewer than N
//! directory fsyncs.
//!
//! Opened with [`Durability::Batched`], a put skips those fsyncs (the
//! publish stays atomic) and [`ArchiveStore::sync`] makes every put before
//! it durable at once; see [`crate::durability`].
//!
//! Files are created owner-only (mode 0600), as `tempfile` makes them.
//! Error messages name keys and directories relative to the archive root,
//! never the host path, since they reach plugins and query API answers.
//!
//! The content type is not stored: [`ArchiveStore::get`] has no way to return
//! it, and a sidecar file would double the fsyncs of every put.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::dir_sync::DirSyncer;
use crate::durability::{Durability, Unsynced};
use crate::{ArchiveStore, BackendError, BackendResult, validate_key};

/// Prefix of in-flight temp files; a crash (kill -9) between create and
/// rename can leave one behind, never a half-written key.
const TEMP_PREFIX: &str = ".trailmark-tmp-";

/// An [`ArchiveStore`] over a directory tree: key `a/b/c` is file `<root>/a/b/c`.
#[derive(Debug)]
pub struct FsArchive {
    root: PathBuf,
    dir_sync: DirSyncer,
    creating: Creating,
    /// `Some` in [`Durability::Batched`] mode.
    unsynced: Option<Unsynced>,
}

impl FsArchive {
    /// Open (creating it and its parents if missing) the archive directory;
    /// every put is durable when it returns.
    pub fn open(root: impl Into<PathBuf>) -> BackendResult<Self> {
        Self::open_with(root, Durability::EachWrite)
    }

    /// Open the archive directory with the given [`Durability`].
    pub fn open_with(root: impl Into<PathBuf>, durability: Durability) -> BackendResult<Self> {
        let root = root.into();
        if !root.is_dir() {
            fs::create_dir_all(&root)
                .map_err(|e| root_error("create archive directory", &root, e))?;
            if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
                crate::dir_sync::fsync_dir(parent)
                    .map_err(|e| root_error("fsync directory", parent, e))?;
            }
        }
        let unsynced = match durability {
            Durability::EachWrite => None,
            Durability::Batched => Some(Unsynced::new(&root)),
        };
        Ok(FsArchive {
            root,
            dir_sync: DirSyncer::default(),
            creating: Creating::default(),
            unsynced,
        })
    }

    /// The archive's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// How many directory fsyncs puts have issued so far (fewer than puts when
    /// concurrent puts into one directory shared them).
    pub fn directory_fsyncs(&self) -> u64 {
        self.dir_sync.fsyncs()
    }

    /// The file that holds `key`, after checking the key cannot escape the root.
    pub fn path_of(&self, key: &str) -> BackendResult<PathBuf> {
        validate_key(key)?;
        Ok(self.root.join(key))
    }

    /// Make sure `dir` (under the root) exists and that its entry, and each
    /// new ancestor's, is durable in its parent before the put goes on.
    ///
    /// A directory another put has just created is visible before that put
    /// has fsynced its parent; such directories are listed in `creating`
    /// from before `mkdir` until after that fsync, so a put that finds its
    /// directory there does the (shared) parent fsync itself instead of
    /// trusting an entry that a power cut could still undo.
    fn ensure_dir(&self, dir: &Path) -> BackendResult<()> {
        if dir.is_dir() && !self.creating.contains(dir) {
            return Ok(());
        }
        let relative = dir
            .strip_prefix(&self.root)
            .expect("key paths are built by joining onto the root");
        let mut current = self.root.clone();
        for segment in relative.components() {
            let parent = current.clone();
            current.push(segment);
            let creating = self.creating.register(&current);
            match fs::create_dir(&current) {
                Ok(()) => self.sync_dir(&parent)?,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    if !current.is_dir() {
                        return Err(BackendError::Invalid(format!(
                            "archive key conflicts with an existing key: {} is a file, not a directory",
                            self.shown(&current)
                        )));
                    }
                    if creating.by_others() {
                        self.sync_dir(&parent)?;
                    }
                }
                Err(e) => return Err(self.io_error("create directory", &current, e)),
            }
        }
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> BackendResult<()> {
        if self.unsynced.is_some() {
            return Ok(());
        }
        self.dir_sync
            .sync(dir)
            .map_err(|e| self.io_error("fsync directory", dir, e))
    }

    /// `path` as error messages show it: relative to the archive root.
    fn shown(&self, path: &Path) -> String {
        match path.strip_prefix(&self.root) {
            Ok(rel) if rel.as_os_str().is_empty() => "the archive root".to_owned(),
            Ok(rel) => format!("{:?}", rel.to_string_lossy()),
            Err(_) => "a path outside the archive".to_owned(),
        }
    }

    /// Map an I/O error on `path`: conflicts between keys and directories
    /// and names the file system refuses can never succeed as is; anything
    /// else (disk full, permissions an operator can fix, I/O hiccups) is
    /// worth retrying.
    fn io_error(&self, action: &str, path: &Path, e: io::Error) -> BackendError {
        let message = format!("archive: {action} {}: {e}", self.shown(path));
        match e.kind() {
            io::ErrorKind::IsADirectory => {
                BackendError::Invalid(format!("{message} (the key is a prefix of other keys)"))
            }
            io::ErrorKind::NotADirectory => {
                BackendError::Invalid(format!("{message} (a prefix of the key is itself a key)"))
            }
            io::ErrorKind::InvalidFilename => BackendError::Invalid(message),
            _ => BackendError::Transient(message),
        }
    }

    /// `key` already holds a body: success if it is `body` (a redelivery),
    /// else the put fails and the stored body stays.
    fn already_stored(&self, key: &str, path: &Path, body: &[u8]) -> BackendResult<()> {
        let stored = fs::read(path).map_err(|e| self.io_error("read existing body", path, e))?;
        if stored != body {
            return Err(BackendError::Invalid(format!(
                "archive key {key:?} already holds a different body ({} bytes, this one {} bytes); \
                 archived bodies are never overwritten: use a key unique to the event, such as one \
                 ending in `-{{id}}.json`",
                stored.len(),
                body.len()
            )));
        }
        // The same bytes, perhaps published by a put that has not made them
        // durable yet: make sure they are before answering for them.
        match &self.unsynced {
            Some(unsynced) => unsynced.wrote(),
            None => {
                fs::File::open(path)
                    .and_then(|f| f.sync_data())
                    .map_err(|e| self.io_error("fsync", path, e))?;
                let dir = path
                    .parent()
                    .expect("a validated key is at least one segment below the root");
                self.sync_dir(dir)?;
            }
        }
        Ok(())
    }
}

impl ArchiveStore for FsArchive {
    /// Store `body` under `key` unless the key holds a body already: the
    /// same bytes are a success, different bytes [`BackendError::Invalid`].
    fn put(&self, key: &str, body: &[u8], _content_type: &str) -> BackendResult<()> {
        let path = self.path_of(key)?;
        let dir = path
            .parent()
            .expect("a validated key is at least one segment below the root");
        self.ensure_dir(dir)?;
        if path.exists() {
            return self.already_stored(key, &path, body);
        }
        let mut temp = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(dir)
            .map_err(|e| self.io_error("create temp file in", dir, e))?;
        temp.write_all(body)
            .and_then(|()| match self.unsynced {
                Some(_) => Ok(()),
                None => temp.as_file().sync_data(),
            })
            .map_err(|e| self.io_error("write temp file in", dir, e))?;
        match temp.persist_noclobber(&path) {
            Ok(_) => {}
            // Another put published the key since the check above.
            Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => {
                return self.already_stored(key, &path, body);
            }
            Err(e) => return Err(self.io_error("publish", &path, e.error)),
        }
        self.sync_dir(dir)?;
        if let Some(unsynced) = &self.unsynced {
            unsynced.wrote();
        }
        Ok(())
    }

    fn sync(&self) -> BackendResult<()> {
        match &self.unsynced {
            Some(unsynced) => unsynced.sync(),
            None => Ok(()),
        }
    }

    fn get(&self, key: &str) -> BackendResult<Option<Vec<u8>>> {
        let path = self.path_of(key)?;
        match fs::read(&path) {
            Ok(body) => Ok(Some(body)),
            // `a` when only `a/b` exists, or `a/b` when `a` is a file: no such key.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound
                        | io::ErrorKind::IsADirectory
                        | io::ErrorKind::NotADirectory
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(self.io_error("read", &path, e)),
        }
    }
}

/// Directories being created whose entry in their parent is not yet known
/// to be durable, with how many puts are creating each.
#[derive(Debug, Default)]
struct Creating(Mutex<HashMap<PathBuf, usize>>);

impl Creating {
    fn lock(&self) -> MutexGuard<'_, HashMap<PathBuf, usize>> {
        // Counts are updated in one step each: a poisoned map is still right.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn contains(&self, dir: &Path) -> bool {
        let map = self.lock();
        !map.is_empty() && map.contains_key(dir)
    }

    /// Note that this put is creating `dir` until the guard drops.
    fn register(&self, dir: &Path) -> CreatingGuard<'_> {
        *self.lock().entry(dir.to_path_buf()).or_default() += 1;
        CreatingGuard {
            creating: self,
            dir: dir.to_path_buf(),
        }
    }
}

struct CreatingGuard<'a> {
    creating: &'a Creating,
    dir: PathBuf,
}

impl CreatingGuard<'_> {
    /// Another put is creating the directory now and may not have made its
    /// entry durable yet.
    fn by_others(&self) -> bool {
        self.creating.lock().get(&self.dir).is_some_and(|&n| n > 1)
    }
}

impl Drop for CreatingGuard<'_> {
    fn drop(&mut self) {
        let mut map = self.creating.lock();
        if let Some(count) = map.get_mut(&self.dir) {
            *count -= 1;
            if *count == 0 {
                map.remove(&self.dir);
            }
        }
    }
}

/// An error opening the archive: at start-up, for the operator, so it names
/// the host path.
fn root_error(action: &str, path: &Path, e: io::Error) -> BackendError {
    BackendError::Transient(format!("archive: {action} {}: {e}", path.display()))
}

#[cfg(test)]
#[path = "fs_archive_tests.rs"]
mod tests;
