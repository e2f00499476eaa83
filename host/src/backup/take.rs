//! Taking a backup of the data directory a server is serving; the order of
//! the steps is the module docs' ([`super`]).

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use rusqlite::{Connection, OpenFlags};
use tracing::{info, warn};
use trailmark_journal::Journal;
use trailmark_journal::cut::{prefix_through, segment_files};

use super::destination::Destination;
use super::digest::digest_file;
use super::manifest::{FileEntry, Manifest, StoresMark};
use super::{BackupError, paths};
use crate::engine::checkpoints::Checkpointer;
use trailmark_backend_api::when::{format_ms, now_ms};

/// The serving data directory and what writes to it.
pub struct Source {
    /// The data directory.
    pub data: PathBuf,
    /// The open journal.
    pub journal: Arc<Journal>,
    /// Signs the fresh checkpoint and the manifest.
    pub checkpointer: Arc<Checkpointer>,
    /// The metadata store's type (`sqlite`, `dynamodb`) and its file when local.
    pub metadata: (String, Option<PathBuf>),
    /// The archive's type (`fs`, `s3`) and its root when local.
    pub archive: (String, Option<PathBuf>),
}

/// How to take a backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupOptions {
    /// Manifests to keep, the new one included (older ones and the blobs
    /// only they name are removed); 0 keeps every one.
    pub keep: usize,
    /// Include the checkpoint signing key, tokens and access keys.
    pub secrets: bool,
}

/// What a backup did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct BackupReport {
    /// The new backup's name.
    pub name: String,
    /// Where it went.
    pub destination: String,
    /// The journal head it covers.
    pub head_seq: u64,
    /// The stores' high-water mark.
    pub high_water: u64,
    /// Files it holds.
    pub files: usize,
    /// Files copied (the others were at the destination already).
    pub copied: usize,
    /// Bytes it holds.
    pub bytes: u64,
    /// Bytes copied.
    pub bytes_copied: u64,
    /// Older backups removed (past `keep`).
    pub removed_backups: usize,
    /// Blobs removed (named by no kept backup).
    pub removed_blobs: usize,
    /// How long it took, in milliseconds.
    pub millis: u64,
}

/// One file to put in the backup: where it is now (a source file or a
/// staged copy) and where it goes.
struct Staged {
    path: String,
    local: PathBuf,
}

/// Take a backup of `source` into `destination`. Blocking.
pub fn take(
    source: &Source,
    destination: &dyn Destination,
    options: BackupOptions,
) -> Result<BackupReport, BackupError> {
    let started = Instant::now();
    let leftovers = destination.remove_temporaries()?;
    if leftovers > 0 {
        warn!(destination = %destination.describe(), files = leftovers,
              "removed what an interrupted backup left");
    }
    let staging = source.data.join(".backup-staging");
    if staging.exists() {
        fs::remove_dir_all(&staging).map_err(|e| BackupError::io(&staging, "remove", e))?;
    }
    fs::create_dir_all(&staging).map_err(|e| BackupError::io(&staging, "create", e))?;
    let result = take_staged(source, destination, options, &staging);
    if let Err(e) = fs::remove_dir_all(&staging) {
        warn!(path = %staging.display(), error = %e, "cannot remove the backup's staging directory");
    }
    let mut report = result?;
    report.millis = started.elapsed().as_millis() as u64;
    info!(name = %report.name, destination = %report.destination, head_seq = report.head_seq,
          files = report.files, copied = report.copied, bytes_copied = report.bytes_copied,
          millis = report.millis, "backup taken");
    Ok(report)
}

fn take_staged(
    source: &Source,
    destination: &dyn Destination,
    options: BackupOptions,
    staging: &Path,
) -> Result<BackupReport, BackupError> {
    // 1. The stores' high-water mark: every outcome up to it is in them.
    source.journal.sync()?;
    let high_water = source.journal.head().seq;

    // 2. The stores.
    let mut files = Vec::new();
    if let (_, Some(metadata)) = &source.metadata
        && metadata.is_file()
    {
        files.push(snapshot_sqlite(metadata, staging, paths::METADATA)?);
    }
    let dead_letters = source.data.join(paths::DEAD_LETTERS);
    if dead_letters.is_file() {
        files.push(snapshot_sqlite(
            &dead_letters,
            staging,
            paths::DEAD_LETTERS,
        )?);
    }
    if let (_, Some(archive)) = &source.archive
        && archive.is_dir()
    {
        stage_archive(archive, staging, &mut files)?;
    }
    // The archive's and dead letters' data keys, after the stores (a key a
    // staged value needs exists by now). Each is sealed by the
    // key-encryption key, like the journal's `.dek` files; without them a
    // restored store's sealed values would not open.
    let store_keys = source.data.join(crate::at_rest::KEYS_DIR);
    if store_keys.is_dir() {
        walk_files(&source.data, &store_keys, &mut |relative, path| {
            files.push(Staged {
                path: relative.to_owned(),
                local: path.to_owned(),
            });
        })?;
    }

    // 3. A fresh checkpoint, and the journal up to it.
    source
        .checkpointer
        .checkpoint()
        .map_err(|e| BackupError::Refused(format!("signing a checkpoint: {e:#}")))?;
    let checkpoint = source.checkpointer.last().ok_or_else(|| {
        BackupError::Refused("the journal is empty: there is nothing to back up yet".to_owned())
    })?;
    let head = checkpoint.seq;
    let first_seq = stage_journal(source.journal.dir(), head, staging, &mut files)?;
    stage_checkpoints(&source.data, head, staging, &mut files)?;
    let mut extra = vec![paths::PUBLIC_KEY];
    if options.secrets {
        extra.extend(paths::SECRETS);
    }
    for name in extra {
        let path = source.data.join(name);
        if path.is_file() {
            files.push(Staged {
                path: name.to_owned(),
                local: path,
            });
        }
    }

    // 4. The files, each once.
    let mut entries = Vec::with_capacity(files.len());
    let (mut copied, mut bytes_copied, mut bytes) = (0, 0, 0);
    let mut seen = BTreeSet::new();
    for file in &files {
        let digest = digest_file(&file.local)?;
        bytes += digest.size;
        if seen.insert(digest.sha256.clone()) && !destination.has_blob(&digest.sha256)? {
            destination.put_blob(&digest.sha256, &file.local)?;
            copied += 1;
            bytes_copied += digest.size;
        }
        entries.push(FileEntry::new(file.path.clone(), digest));
    }

    // 5. The manifest, last.
    let created_ms = now_ms();
    let name = backup_name(created_ms, head);
    let manifest = Manifest {
        format: 1,
        name: name.clone(),
        created: format_ms(created_ms),
        created_ms,
        checkpoint,
        first_seq,
        stores: StoresMark {
            high_water,
            metadata: source.metadata.0.clone(),
            archive: source.archive.0.clone(),
        },
        secrets: options.secrets,
        files: entries,
    };
    let signed = source.checkpointer.sign_manifest(&manifest);
    destination.put_manifest(&name, &signed)?;
    let (removed_backups, removed_blobs) = prune(destination, options.keep)?;
    Ok(BackupReport {
        name,
        destination: destination.describe(),
        head_seq: head,
        high_water,
        files: manifest.files.len(),
        copied,
        bytes,
        bytes_copied,
        removed_backups,
        removed_blobs,
        millis: 0,
    })
}

/// A backup's name: its UTC time to the millisecond and its head, so names
/// sort by time: `20261206T165801123-000000001234`.
fn backup_name(created_ms: i64, head: u64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(created_ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}{:03}-{head:012}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

/// `VACUUM INTO` a staged copy from a read-only connection: a consistent
/// snapshot that the server's writers neither wait for nor restart.
fn snapshot_sqlite(db: &Path, staging: &Path, path: &str) -> Result<Staged, BackupError> {
    let local = staging.join(path.replace('/', "__"));
    let sqlite = |source| BackupError::Sqlite {
        path: db.to_owned(),
        source,
    };
    let connection = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite)?;
    connection
        .busy_timeout(std::time::Duration::from_secs(30))
        .map_err(sqlite)?;
    let target = local
        .to_str()
        .ok_or_else(|| BackupError::Refused(format!("{}: not a UTF-8 path", local.display())))?;
    connection
        .execute("VACUUM INTO ?1", [target])
        .map_err(sqlite)?;
    Ok(Staged {
        path: path.to_owned(),
        local,
    })
}

/// The archive: its pack index as a snapshot, each pack up to the end of
/// the last body that snapshot indexes, and any file of the older
/// file-per-key layout as it is (those are written once, by rename).
fn stage_archive(root: &Path, staging: &Path, files: &mut Vec<Staged>) -> Result<(), BackupError> {
    let packs = root.join(trailmark_backends::PACKS_DIR);
    let index = packs.join("index.sqlite");
    let prefix = format!("{}/{}", paths::ARCHIVE, trailmark_backends::PACKS_DIR);
    if index.is_file() {
        let snapshot = snapshot_sqlite(&index, staging, &format!("{prefix}/index.sqlite"))?;
        let ends: Vec<(i64, i64)> = {
            let sqlite = |source| BackupError::Sqlite {
                path: snapshot.local.clone(),
                source,
            };
            let db = Connection::open(&snapshot.local).map_err(sqlite)?;
            let mut query = db
                .prepare("SELECT pack, MAX(offset + len) FROM bodies GROUP BY pack ORDER BY pack")
                .map_err(sqlite)?;
            query
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
                .map_err(sqlite)?
                .collect::<Result<_, _>>()
                .map_err(sqlite)?
        };
        files.push(snapshot);
        for (pack, end) in ends {
            let name = format!("pack-{pack:06}.bin");
            let from = packs.join(&name);
            let local = staging.join(format!("archive__{name}"));
            copy_prefix(&from, &local, u64::try_from(end).unwrap_or(0))?;
            files.push(Staged {
                path: format!("{prefix}/{name}"),
                local,
            });
        }
    }
    walk_files(root, root, &mut |relative, path| {
        files.push(Staged {
            path: format!("{}/{relative}", paths::ARCHIVE),
            local: path.to_owned(),
        });
    })
}

/// Every regular file under `dir` but dot-files and dot-directories (the
/// packs, temporaries), as (`/`-separated path relative to `root`, path).
fn walk_files(
    root: &Path,
    dir: &Path,
    each: &mut dyn FnMut(&str, &Path),
) -> Result<(), BackupError> {
    let entries = fs::read_dir(dir).map_err(|e| BackupError::io(dir, "list", e))?;
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        if name.to_str().is_none_or(|n| n.starts_with('.')) {
            continue;
        }
        let path = entry.path();
        let kind = entry
            .file_type()
            .map_err(|e| BackupError::io(&path, "stat", e))?;
        if kind.is_dir() {
            walk_files(root, &path, each)?;
        } else if kind.is_file() {
            let relative = path
                .strip_prefix(root)
                .expect("walked from root")
                .to_string_lossy()
                .replace('\\', "/");
            each(&relative, &path);
        }
    }
    Ok(())
}

/// Copy the first `len` bytes of `from` into `to`.
fn copy_prefix(from: &Path, to: &Path, len: u64) -> Result<(), BackupError> {
    let source = File::open(from).map_err(|e| BackupError::io(from, "open", e))?;
    let mut out = File::create(to).map_err(|e| BackupError::io(to, "create", e))?;
    let copied = std::io::copy(&mut source.take(len), &mut out)
        .map_err(|e| BackupError::io(to, "copy", e))?;
    if copied < len {
        return Err(BackupError::Refused(format!(
            "{}: {copied} bytes, but its index names bodies up to byte {len}",
            from.display()
        )));
    }
    Ok(())
}

/// The journal's segments up to record `head`: sealed ones as they are,
/// the one holding `head` cut after it. Returns the first seq copied.
fn stage_journal(
    dir: &Path,
    head: u64,
    staging: &Path,
    files: &mut Vec<Staged>,
) -> Result<u64, BackupError> {
    // Open every segment first: retention may remove old ones meanwhile,
    // and an open file stays readable.
    let mut open = Vec::new();
    for (first, path) in segment_files(dir)? {
        if first > head {
            continue;
        }
        match File::open(&path) {
            Ok(file) => open.push((first, path, file)),
            // Removed by retention since it was listed: only ever the oldest.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && open.is_empty() => {}
            Err(e) => return Err(BackupError::io(&path, "open", e)),
        }
    }
    let Some(first_seq) = open.first().map(|(first, _, _)| *first) else {
        return Err(BackupError::Refused(format!(
            "{}: no journal segment holds record {head}",
            dir.display()
        )));
    };
    let last = open.len() - 1;
    for (i, (_, path, mut file)) in open.into_iter().enumerate() {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("segment names are ASCII")
            .to_owned();
        let logical = format!("{}/{name}", paths::JOURNAL);
        // An encrypted segment's data key (sealed: the key-encryption key is not in
        // the backup, so the copy reads nothing without it).
        let dek = trailmark_journal::data_key_path(&path);
        if dek.is_file() {
            let dek_name = dek
                .file_name()
                .and_then(|n| n.to_str())
                .expect("data key names are ASCII")
                .to_owned();
            files.push(Staged {
                path: format!("{}/{dek_name}", paths::JOURNAL),
                local: dek,
            });
        }
        if i < last {
            // Sealed: the writer moved on to a later segment.
            files.push(Staged {
                path: logical,
                local: path,
            });
            continue;
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| BackupError::io(&path, "read", e))?;
        let Some(end) = prefix_through(&bytes, head) else {
            return Err(BackupError::Refused(format!(
                "{}: record {head} (the checkpoint's) is not in the last segment",
                path.display()
            )));
        };
        let local = staging.join(format!("journal__{name}"));
        fs::write(&local, &bytes[..end]).map_err(|e| BackupError::io(&local, "write", e))?;
        files.push(Staged {
            path: logical,
            local,
        });
    }
    Ok(first_seq)
}

/// The checkpoint log's lines up to `head` (later ones name records the
/// backup does not hold).
fn stage_checkpoints(
    data: &Path,
    head: u64,
    staging: &Path,
    files: &mut Vec<Staged>,
) -> Result<(), BackupError> {
    let log = data.join(paths::CHECKPOINTS);
    let checkpoints = trailmark_journal::read_checkpoints(&log)?;
    let local = staging.join(paths::CHECKPOINTS);
    let mut out = File::create(&local).map_err(|e| BackupError::io(&local, "create", e))?;
    for checkpoint in checkpoints.iter().filter(|c| c.seq <= head) {
        let line = serde_json::to_string(checkpoint).expect("a checkpoint serializes");
        writeln!(out, "{line}").map_err(|e| BackupError::io(&local, "write", e))?;
    }
    files.push(Staged {
        path: paths::CHECKPOINTS.to_owned(),
        local,
    });
    Ok(())
}

/// Remove the oldest manifests past `keep`, then the blobs no remaining
/// manifest names. Returns (manifests, blobs) removed.
fn prune(destination: &dyn Destination, keep: usize) -> Result<(usize, usize), BackupError> {
    if keep == 0 {
        return Ok((0, 0));
    }
    let manifests = destination.list_manifests()?;
    let drop = manifests.len().saturating_sub(keep);
    for name in &manifests[..drop] {
        destination.delete_manifest(name)?;
    }
    if drop == 0 {
        return Ok((0, 0));
    }
    let mut named = BTreeSet::new();
    for name in &manifests[drop..] {
        let bytes = destination.get_manifest(name)?;
        let (manifest, _) = Manifest::parse(name, &bytes)?;
        named.extend(manifest.files.into_iter().map(|f| f.sha256));
    }
    let mut removed = 0;
    for blob in destination.list_blobs()? {
        if !named.contains(&blob) {
            destination.delete_blob(&blob)?;
            removed += 1;
        }
    }
    Ok((drop, removed))
}
