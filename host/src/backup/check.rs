//! Checking a backup without restoring it: the manifest's signature, every
//! file's hash, the copied journal's chain against the signed checkpoints,
//! the SQLite files' integrity. A problem names the file and the offset.

use std::fs;
use std::path::{Component, Path, PathBuf};

use rusqlite::Connection;
use trailmark_journal::PublicKey;

use super::destination::Destination;
use super::digest::{Hasher, first_difference};
use super::manifest::{FileEntry, Manifest};
use super::{BackupError, paths};

/// What a check found (only returned when it found nothing wrong).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct VerifyReport {
    /// The backup checked.
    pub name: String,
    /// Where it is.
    pub destination: String,
    /// When it was taken.
    pub created: String,
    /// The id of the key that signed it.
    pub key_id: String,
    /// The journal's first and last records in it.
    pub first_seq: u64,
    /// The signed head it covers.
    pub head_seq: u64,
    /// The stores' high-water mark.
    pub high_water: u64,
    /// Files checked.
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Signed checkpoints the journal's chain was checked against.
    pub checkpoints_verified: usize,
}

/// Check the backup `name` (default: the newest) at `destination`, against
/// the public key `pinned` (default: the backup's own, which proves the
/// backup whole but not who made it; pin the key kept elsewhere).
pub fn verify(
    destination: &dyn Destination,
    name: Option<&str>,
    pinned: Option<&PublicKey>,
) -> Result<VerifyReport, BackupError> {
    let (manifest, key) = load_signed(destination, name, pinned)?;
    let scratch = Scratch::new()?;
    let mut problems = Vec::new();
    let keep = |f: &FileEntry| {
        f.path.starts_with("journal/")
            || f.path == paths::CHECKPOINTS
            || f.path.ends_with(".sqlite")
    };
    materialize(destination, &manifest, scratch.path(), &keep, &mut problems)?;
    let checkpoints = if problems.is_empty() {
        check_copy(scratch.path(), &manifest, &key, &mut problems)?
    } else {
        0
    };
    if !problems.is_empty() {
        return Err(BackupError::Damaged(problems));
    }
    Ok(VerifyReport {
        name: manifest.name.clone(),
        destination: destination.describe(),
        created: manifest.created.clone(),
        key_id: key.key_id(),
        first_seq: manifest.first_seq,
        head_seq: manifest.head_seq(),
        high_water: manifest.stores.high_water,
        files: manifest.files.len(),
        bytes: manifest.files.iter().map(|f| f.size).sum(),
        checkpoints_verified: checkpoints,
    })
}

/// The manifest `name` (default: the newest), its signature checked with
/// `pinned` or the backup's own public key; and that key.
pub(crate) fn load_signed(
    destination: &dyn Destination,
    name: Option<&str>,
    pinned: Option<&PublicKey>,
) -> Result<(Manifest, PublicKey), BackupError> {
    let name = match name {
        Some(name) => name.to_owned(),
        None => destination.list_manifests()?.pop().ok_or_else(|| {
            BackupError::Refused(format!(
                "{}: no backup there (no manifests/*.json)",
                destination.describe()
            ))
        })?,
    };
    let bytes = destination.get_manifest(&name)?;
    let (manifest, signed) = Manifest::parse(&name, &bytes)?;
    let key = match pinned {
        Some(key) => key.clone(),
        None => {
            let entry = manifest
                .file(paths::PUBLIC_KEY)
                .ok_or_else(|| BackupError::Manifest {
                    name: name.clone(),
                    reason: format!(
                        "it holds no {} to check its signature with",
                        paths::PUBLIC_KEY
                    ),
                })?;
            let mut text = Vec::new();
            let mut hasher = Hasher::new();
            destination.get_blob(&entry.sha256, None, &mut |b| {
                hasher.update(b);
                text.extend_from_slice(b);
            })?;
            if hasher.finish().sha256 != entry.sha256 {
                return Err(BackupError::Damaged(vec![format!(
                    "{}: its bytes do not match the manifest's SHA-256",
                    paths::PUBLIC_KEY
                )]));
            }
            PublicKey::parse(&String::from_utf8_lossy(&text))?
        }
    };
    manifest.check_signature(&signed, &key)?;
    Ok((manifest, key))
}

/// Fetch every file of `manifest` that `keep` says to write into `into`
/// (the others are read and hashed only), noting each that differs from the
/// manifest.
pub(crate) fn materialize(
    destination: &dyn Destination,
    manifest: &Manifest,
    into: &Path,
    keep: &dyn Fn(&FileEntry) -> bool,
    problems: &mut Vec<String>,
) -> Result<(), BackupError> {
    for entry in &manifest.files {
        let target = if keep(entry) {
            let target = into.join(safe_relative(&manifest.name, &entry.path)?);
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent)
                    .map_err(|e| BackupError::io(parent, "create directory", e))?;
            }
            Some(target)
        } else {
            None
        };
        if !destination.has_blob(&entry.sha256)? {
            problems.push(format!(
                "{}: missing from the backup (blob blobs/{})",
                entry.path, entry.sha256
            ));
            continue;
        }
        let mut hasher = Hasher::new();
        destination.get_blob(&entry.sha256, target.as_deref(), &mut |b| hasher.update(b))?;
        let found = hasher.finish();
        if found.sha256 != entry.sha256 {
            problems.push(format!(
                "{}: offset {}: its bytes do not match the manifest's SHA-256 (blob blobs/{}, \
                 {} bytes, {} expected)",
                entry.path,
                first_difference(&entry.digest(), &found),
                entry.sha256,
                found.size,
                entry.size
            ));
        }
    }
    Ok(())
}

/// A manifest path as a relative path with no way out of the target.
fn safe_relative(name: &str, path: &str) -> Result<PathBuf, BackupError> {
    let relative = PathBuf::from(path);
    let ok = !path.is_empty()
        && relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
    if !ok {
        return Err(BackupError::Manifest {
            name: name.to_owned(),
            reason: format!("`{path}` is not a path inside a data directory"),
        });
    }
    Ok(relative)
}

/// Check a materialized copy: the journal's chain against the checkpoints,
/// the head the manifest signed, the SQLite files. Returns the checkpoints
/// verified.
pub(crate) fn check_copy(
    dir: &Path,
    manifest: &Manifest,
    key: &PublicKey,
    problems: &mut Vec<String>,
) -> Result<usize, BackupError> {
    let journal = dir.join(paths::JOURNAL);
    let log = dir.join(paths::CHECKPOINTS);
    let checkpoints = if log.is_file() {
        trailmark_journal::read_checkpoints(&log)?
    } else {
        Vec::new()
    };
    let mut all = checkpoints;
    if !all.contains(&manifest.checkpoint) {
        all.push(manifest.checkpoint.clone());
    }
    let report = trailmark_journal::verify_with_checkpoints(&journal, &all, key)?;
    for problem in &report.problems {
        let file = problem
            .path
            .strip_prefix(dir)
            .unwrap_or(&problem.path)
            .display()
            .to_string();
        problems.push(format!(
            "{file}: offset {}: {:?}{}: {}",
            problem.offset,
            problem.kind,
            problem
                .seq
                .map(|s| format!(" (seq {s})"))
                .unwrap_or_default(),
            problem.detail
        ));
    }
    if report.last_seq != manifest.head_seq() {
        problems.push(format!(
            "journal: ends at record {}, the manifest's checkpoint signed {}",
            report.last_seq,
            manifest.head_seq()
        ));
    }
    if report.first_seq != manifest.first_seq {
        problems.push(format!(
            "journal: starts at record {}, the manifest says {}",
            report.first_seq, manifest.first_seq
        ));
    }
    for entry in manifest
        .files
        .iter()
        .filter(|f| f.path.ends_with(".sqlite"))
    {
        check_sqlite(&dir.join(&entry.path), &entry.path, problems)?;
    }
    Ok(report.checkpoints.verified)
}

/// `PRAGMA integrity_check` on a copied SQLite file.
pub(crate) fn check_sqlite(
    path: &Path,
    name: &str,
    problems: &mut Vec<String>,
) -> Result<(), BackupError> {
    let sqlite = |source| BackupError::Sqlite {
        path: path.to_owned(),
        source,
    };
    let db = Connection::open(path).map_err(sqlite)?;
    let found: Vec<String> = {
        let mut query = db.prepare("PRAGMA integrity_check").map_err(sqlite)?;
        query
            .query_map([], |row| row.get(0))
            .map_err(sqlite)?
            .collect::<Result<_, _>>()
            .map_err(sqlite)?
    };
    if found != ["ok"] {
        problems.push(format!(
            "{name}: SQLite integrity check: {}",
            found.join("; ")
        ));
    }
    Ok(())
}

/// A directory under the system's temp dir, removed when dropped.
pub(crate) struct Scratch(PathBuf);

impl Scratch {
    pub(crate) fn new() -> Result<Scratch, BackupError> {
        let path = std::env::temp_dir().join(format!(
            "trailmark-backup-check-{}-{:08x}",
            std::process::id(),
            fastrand::u32(..)
        ));
        fs::create_dir_all(&path).map_err(|e| BackupError::io(&path, "create", e))?;
        Ok(Scratch(path))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
