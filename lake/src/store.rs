//! Where the lake's files go: the [`LakeStore`] seam, and [`DirStore`],
//! a directory on a local file system.
//!
//! A store publishes whole files atomically: a reader sees a file with all
//! its bytes or not at all, and once `put` returns the file survives a
//! crash.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::LakeError;

/// A place that holds the lake's files under `/`-separated keys
/// (`changes/dt=2026-11-25/part-….parquet`).
pub trait LakeStore: Send + Sync {
    /// Publish `bytes` under `key`, atomically and durably. Writing a key
    /// again with the same bytes (a replay) is not an error.
    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), LakeError>;
    /// The file under `key`.
    fn get(&self, key: &str) -> Result<Vec<u8>, LakeError>;
    /// Every key under `prefix` (a directory-like prefix ending in `/`, or
    /// empty for all), sorted.
    fn list(&self, prefix: &str) -> Result<Vec<String>, LakeError>;
    /// Remove `key`, durably; a key already gone is not an error.
    fn delete(&self, key: &str) -> Result<(), LakeError>;
    /// Where the store is, for messages and the DDL (`/var/lib/…/lake`,
    /// `s3://bucket/prefix`).
    fn location(&self) -> String;
}

/// A lake in a local directory: temp file, fsync, rename, fsync of the
/// directory. Temp files start with `.` and end in `.tmp`, so a reader's
/// `*.parquet` never matches one; [`DirStore::open`] removes those a crash
/// left behind.
#[derive(Debug, Clone)]
pub struct DirStore {
    root: PathBuf,
}

impl DirStore {
    /// The lake under `root`, created when missing, with any temp file a
    /// crash left behind removed.
    pub fn open(root: &Path) -> Result<DirStore, LakeError> {
        fs::create_dir_all(root).map_err(LakeError::io(root))?;
        let store = DirStore {
            root: root.to_path_buf(),
        };
        store.remove_temp_files(root)?;
        Ok(store)
    }

    /// The lake's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, key: &str) -> Result<PathBuf, LakeError> {
        if key.is_empty()
            || key.starts_with('/')
            || key
                .split('/')
                .any(|part| part.is_empty() || part == "." || part == "..")
        {
            return Err(LakeError::Invalid(format!("`{key}` is not a lake key")));
        }
        Ok(self.root.join(key))
    }

    fn remove_temp_files(&self, dir: &Path) -> Result<(), LakeError> {
        for entry in fs::read_dir(dir).map_err(LakeError::io(dir))? {
            let entry = entry.map_err(LakeError::io(dir))?;
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let kind = entry.file_type().map_err(LakeError::io(&path))?;
            if kind.is_dir() {
                self.remove_temp_files(&path)?;
            } else if name.starts_with('.') && name.ends_with(".tmp") {
                tracing::info!(path = %path.display(), "removed a lake temp file left by a crash");
                fs::remove_file(&path).map_err(LakeError::io(&path))?;
            }
        }
        Ok(())
    }

    fn list_into(&self, dir: &Path, key: &str, out: &mut Vec<String>) -> Result<(), LakeError> {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(LakeError::io(dir)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(LakeError::io(dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let child = if key.is_empty() {
                name.clone()
            } else {
                format!("{key}/{name}")
            };
            if entry
                .file_type()
                .map_err(LakeError::io(entry.path()))?
                .is_dir()
            {
                self.list_into(&entry.path(), &child, out)?;
            } else {
                out.push(child);
            }
        }
        Ok(())
    }
}

/// fsync a directory, so a rename or unlink in it is durable.
fn sync_dir(dir: &Path) -> Result<(), LakeError> {
    Ok(trailmark_durable_file::sync_dir(dir)?)
}

impl LakeStore for DirStore {
    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), LakeError> {
        let path = self.path_of(key)?;
        let dir = path.parent().unwrap_or(&self.root).to_path_buf();
        let new_dir = !dir.exists();
        fs::create_dir_all(&dir).map_err(LakeError::io(&dir))?;
        if new_dir {
            // The new directory's own entry, up to the root.
            let mut up = dir.as_path();
            while let Some(parent) = up.parent() {
                sync_dir(parent)?;
                if parent == self.root {
                    break;
                }
                up = parent;
            }
        }
        // `.<name>-<pid>-<random>.tmp`: what `open` removes after a crash.
        Ok(trailmark_durable_file::replace(&path, bytes)?)
    }

    fn get(&self, key: &str) -> Result<Vec<u8>, LakeError> {
        let path = self.path_of(key)?;
        fs::read(&path).map_err(LakeError::io(&path))
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, LakeError> {
        let prefix = prefix.trim_end_matches('/');
        let dir = if prefix.is_empty() {
            self.root.clone()
        } else {
            self.path_of(prefix)?
        };
        let mut out = Vec::new();
        self.list_into(&dir, prefix, &mut out)?;
        out.sort();
        Ok(out)
    }

    fn delete(&self, key: &str) -> Result<(), LakeError> {
        let path = self.path_of(key)?;
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(LakeError::io(&path)(e)),
        }
        sync_dir(path.parent().unwrap_or(&self.root))
    }

    fn location(&self) -> String {
        self.root.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_list_get_delete_and_no_temp_file_left() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = DirStore::open(dir.path()).expect("opens");
        store
            .put("changes/dt=2026-01-02/part-b.parquet", b"b")
            .expect("puts");
        store
            .put("changes/dt=2026-01-01/part-a.parquet", b"a")
            .expect("puts");
        store
            .put("changes/dt=2026-01-01/part-a.parquet", b"a")
            .expect("a replay puts again");
        assert_eq!(
            store.list("changes/").expect("lists"),
            [
                "changes/dt=2026-01-01/part-a.parquet",
                "changes/dt=2026-01-02/part-b.parquet"
            ]
        );
        assert_eq!(
            store
                .get("changes/dt=2026-01-02/part-b.parquet")
                .expect("gets"),
            b"b"
        );
        store
            .delete("changes/dt=2026-01-02/part-b.parquet")
            .expect("deletes");
        store
            .delete("changes/dt=2026-01-02/part-b.parquet")
            .expect("deleting again is fine");
        assert_eq!(store.list("").expect("lists").len(), 1);
        assert!(store.put("../x", b"x").is_err());
    }

    #[test]
    fn open_removes_temp_files_a_crash_left() {
        let dir = tempfile::tempdir().expect("temp dir");
        let day = dir.path().join("changes/dt=2026-01-01");
        fs::create_dir_all(&day).expect("mkdir");
        fs::write(day.join(".part-x.parquet.7.tmp"), b"half").expect("writes");
        DirStore::open(dir.path()).expect("opens");
        assert_eq!(fs::read_dir(&day).expect("lists").count(), 0);
    }

    #[test]
    fn the_temp_file_of_an_interrupted_put_is_hidden_and_removed_on_open() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = DirStore::open(dir.path()).expect("opens");
        store.put("changes/part-a.parquet", b"a").expect("puts");
        // `put`'s temp file, as a crash before the rename leaves it.
        let path = dir.path().join("changes/part-a.parquet");
        let pending = trailmark_durable_file::Replace::new(&path)
            .begin()
            .expect("begins");
        std::mem::forget(pending);
        assert_eq!(store.list("").expect("lists"), ["changes/part-a.parquet"]);
        DirStore::open(dir.path()).expect("opens");
        let left = fs::read_dir(dir.path().join("changes")).expect("lists");
        assert_eq!(left.count(), 1, "only the published file stays");
    }
}
