//! Where backups are kept: a directory, or (with the `aws` feature) an S3
//! prefix. Both hold `blobs/<sha256>` (a file's bytes, written once) and
//! `manifests/<name>.json`; in a directory every file is written to a
//! temporary name, synced and renamed, so none is ever seen half-written.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::BackupError;

/// Prefix of temporary files; left behind only by an interrupted backup,
/// removed by the next.
pub(crate) const TEMP_PREFIX: &str = ".tmp-";

/// A place that keeps backups. Blocking: call from a blocking thread.
pub trait Destination: Send + Sync {
    /// How the operator wrote it (`/backups/trailmark`, `s3://b/p`).
    fn describe(&self) -> String;
    /// Whether the blob `sha256` is there.
    fn has_blob(&self, sha256: &str) -> Result<bool, BackupError>;
    /// Store the file at `from` as blob `sha256`, durably and atomically.
    fn put_blob(&self, sha256: &str, from: &Path) -> Result<(), BackupError>;
    /// Copy blob `sha256` into the new file `to`, calling `each` with its
    /// bytes as they come (to hash them).
    fn get_blob(
        &self,
        sha256: &str,
        to: Option<&Path>,
        each: &mut dyn FnMut(&[u8]),
    ) -> Result<(), BackupError>;
    /// The blobs' names.
    fn list_blobs(&self) -> Result<Vec<String>, BackupError>;
    /// Remove a blob.
    fn delete_blob(&self, sha256: &str) -> Result<(), BackupError>;
    /// Store a manifest, durably and atomically; call after its blobs.
    fn put_manifest(&self, name: &str, bytes: &[u8]) -> Result<(), BackupError>;
    /// The manifests' names, oldest first (names sort by time).
    fn list_manifests(&self) -> Result<Vec<String>, BackupError>;
    /// A manifest's bytes.
    fn get_manifest(&self, name: &str) -> Result<Vec<u8>, BackupError>;
    /// Remove a manifest.
    fn delete_manifest(&self, name: &str) -> Result<(), BackupError>;
    /// Remove what an interrupted backup left; how many were removed.
    fn remove_temporaries(&self) -> Result<usize, BackupError>;
}

/// `DIR` or `s3://BUCKET/PREFIX`.
pub fn open_destination(spec: &str) -> Result<Box<dyn Destination>, BackupError> {
    if let Some(rest) = spec.strip_prefix("s3://") {
        #[cfg(feature = "aws")]
        {
            return Ok(Box::new(super::destination_s3::S3Destination::open(rest)?));
        }
        #[cfg(not(feature = "aws"))]
        {
            let _ = rest;
            return Err(BackupError::Refused(format!(
                "{spec}: this build has no S3 support (the host's `aws` feature); back up to a directory"
            )));
        }
    }
    if spec.is_empty() {
        return Err(BackupError::Refused(
            "no backup destination: give a directory or s3://BUCKET/PREFIX".to_owned(),
        ));
    }
    Ok(Box::new(DirDestination::new(PathBuf::from(spec))))
}

/// Backups in a local directory.
#[derive(Debug, Clone)]
pub struct DirDestination {
    root: PathBuf,
}

impl DirDestination {
    /// Backups under `root` (created when the first is written).
    pub fn new(root: PathBuf) -> DirDestination {
        DirDestination { root }
    }

    fn blob(&self, sha256: &str) -> Result<PathBuf, BackupError> {
        check_name(sha256)?;
        Ok(self.root.join("blobs").join(sha256))
    }

    fn manifest(&self, name: &str) -> Result<PathBuf, BackupError> {
        check_name(name)?;
        Ok(self.root.join("manifests").join(format!("{name}.json")))
    }

    /// Write `to` through a temporary file in its directory: write, fsync,
    /// rename, fsync the directory.
    fn write_atomically(
        &self,
        to: &Path,
        write: impl FnOnce(&mut File) -> std::io::Result<()>,
    ) -> Result<(), BackupError> {
        let dir = to.parent().expect("blob and manifest paths have a parent");
        // Owner-only: a backup may hold secrets, and always holds the trail.
        std::os::unix::fs::DirBuilderExt::mode(fs::DirBuilder::new().recursive(true), 0o700)
            .create(dir)
            .map_err(|e| BackupError::io(dir, "create directory", e))?;
        // `.tmp-<name>-<pid>-<random>`: what `remove_temporaries` removes. A
        // failure removes it at once and leaves `to` as it was.
        let durable =
            |e: trailmark_durable_file::Error| BackupError::io(e.path, e.step.as_str(), e.source);
        let mut pending = trailmark_durable_file::Replace::new(to)
            .temp_affixes(TEMP_PREFIX, "")
            .begin()
            .map_err(durable)?;
        pending.write_with(write).map_err(durable)?;
        pending.commit().map(drop).map_err(durable)
    }

    fn list(&self, sub: &str) -> Result<Vec<String>, BackupError> {
        let dir = self.root.join(sub);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(BackupError::io(&dir, "list", e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| BackupError::io(&dir, "list", e))?;
            if let Some(name) = entry.file_name().to_str()
                && !name.starts_with('.')
            {
                names.push(name.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }
}

/// Where [`Destination::get_blob`] puts a blob's bytes as they come: each
/// chunk to `each`, and into the new file `to` when there is one.
pub(crate) struct BlobSink<'a> {
    each: &'a mut dyn FnMut(&[u8]),
    out: Option<(File, &'a Path)>,
}

impl<'a> BlobSink<'a> {
    /// Creates `to` (when given).
    pub(crate) fn new(
        to: Option<&'a Path>,
        each: &'a mut dyn FnMut(&[u8]),
    ) -> Result<Self, BackupError> {
        let out = match to {
            Some(to) => Some((
                File::create(to).map_err(|e| BackupError::io(to, "create", e))?,
                to,
            )),
            None => None,
        };
        Ok(Self { each, out })
    }

    /// Take the next chunk of the blob.
    pub(crate) fn take(&mut self, bytes: &[u8]) -> Result<(), BackupError> {
        (self.each)(bytes);
        if let Some((out, to)) = &mut self.out {
            out.write_all(bytes)
                .map_err(|e| BackupError::io(*to, "write", e))?;
        }
        Ok(())
    }
}

/// The backup names of the files under `manifests/` (`<name>.json`).
pub(crate) fn manifest_names(files: Vec<String>) -> Vec<String> {
    files
        .into_iter()
        .filter_map(|n| n.strip_suffix(".json").map(str::to_owned))
        .collect()
}

/// Blob and manifest names are hex digits, letters, digits and `-`: never
/// a path.
fn check_name(name: &str) -> Result<(), BackupError> {
    if name.is_empty()
        || name.starts_with('.')
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(BackupError::Refused(format!(
            "`{name}` is not a backup or blob name (letters, digits, `-`, `_`)"
        )));
    }
    Ok(())
}

impl Destination for DirDestination {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn has_blob(&self, sha256: &str) -> Result<bool, BackupError> {
        Ok(self.blob(sha256)?.is_file())
    }

    fn put_blob(&self, sha256: &str, from: &Path) -> Result<(), BackupError> {
        let to = self.blob(sha256)?;
        let mut source = File::open(from).map_err(|e| BackupError::io(from, "open", e))?;
        self.write_atomically(&to, |file| std::io::copy(&mut source, file).map(|_| ()))
    }

    fn get_blob(
        &self,
        sha256: &str,
        to: Option<&Path>,
        each: &mut dyn FnMut(&[u8]),
    ) -> Result<(), BackupError> {
        use std::io::Read;
        let path = self.blob(sha256)?;
        let mut source = File::open(&path).map_err(|e| BackupError::io(&path, "open", e))?;
        let mut sink = BlobSink::new(to, each)?;
        let mut buffer = vec![0u8; 256 << 10];
        loop {
            let n = source
                .read(&mut buffer)
                .map_err(|e| BackupError::io(&path, "read", e))?;
            if n == 0 {
                break;
            }
            sink.take(&buffer[..n])?;
        }
        Ok(())
    }

    fn list_blobs(&self) -> Result<Vec<String>, BackupError> {
        self.list("blobs")
    }

    fn delete_blob(&self, sha256: &str) -> Result<(), BackupError> {
        let path = self.blob(sha256)?;
        fs::remove_file(&path).map_err(|e| BackupError::io(&path, "remove", e))
    }

    fn put_manifest(&self, name: &str, bytes: &[u8]) -> Result<(), BackupError> {
        let to = self.manifest(name)?;
        self.write_atomically(&to, |file| file.write_all(bytes))
    }

    fn list_manifests(&self) -> Result<Vec<String>, BackupError> {
        Ok(manifest_names(self.list("manifests")?))
    }

    fn get_manifest(&self, name: &str) -> Result<Vec<u8>, BackupError> {
        let path = self.manifest(name)?;
        fs::read(&path).map_err(|e| BackupError::io(&path, "read", e))
    }

    fn delete_manifest(&self, name: &str) -> Result<(), BackupError> {
        let path = self.manifest(name)?;
        fs::remove_file(&path).map_err(|e| BackupError::io(&path, "remove", e))
    }

    fn remove_temporaries(&self) -> Result<usize, BackupError> {
        let mut removed = 0;
        for sub in ["blobs", "manifests"] {
            let dir = self.root.join(sub);
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                if entry
                    .file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with(TEMP_PREFIX))
                {
                    fs::remove_file(entry.path())
                        .map_err(|e| BackupError::io(entry.path(), "remove temporary", e))?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}
