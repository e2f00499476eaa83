//! Backups of a serving data directory, checked without restoring them, and
//! restores into a new directory, up to a point in time if asked.
//!
//! A backup is taken by the server itself ([`take`], behind `POST
//! /v1/admin/backup`, `trailmark backup --to` and `[backup]` schedules), as
//! only it can sign a fresh checkpoint of the journal it is appending:
//!
//! 1. the journal's durable head `W` is read: every outcome journaled up to
//!    `W` was written to the stores, and synced, before it was journaled;
//! 2. the SQLite stores (metadata, dead letters, the pack archive's index)
//!    are copied with `VACUUM INTO` from a read connection (a consistent
//!    snapshot that writers do not restart), the pack files up to the end
//!    of the last body that snapshot indexes. `W` is their *high-water
//!    mark*: a restore re-delivers what the journal closed after it;
//! 3. a checkpoint of the head `H ≥ W` is signed; sealed segments are
//!    copied whole, the live one up to record `H`, with the checkpoint log
//!    up to `H` and the public key (the signing key, tokens and access keys
//!    only when asked);
//! 4. each file goes to the destination under its SHA-256
//!    (`blobs/<sha256>`), skipped when the destination has it already: a
//!    sealed segment or pack is copied once, whatever the number of
//!    backups;
//! 5. last, a manifest (`manifests/<name>.json`: every file's path, size,
//!    SHA-256 and per-MiB hashes, the checkpoint, the high-water mark) is
//!    signed with the checkpoint key and written. Files are written to a
//!    temporary name, synced and renamed, so a backup interrupted at any
//!    moment leaves the previous manifests intact and no new one: it never
//!    looks complete. The oldest manifests past `keep` are removed, then the
//!    blobs no manifest names.
//!
//! [`verify`] checks a backup without restoring it: the manifest's
//! signature, every file's hash (a mismatch names the file and the MiB
//! where it starts), the journal's chain against the signed checkpoints,
//! the SQLite files' integrity. [`restore`] does the same into a new,
//! empty directory, cuts the journal at `--to-seq`/`--to-time`, and
//! journals a reopen of every delivery the journal closed after the stores'
//! high-water mark, so the restored server re-delivers them at its first
//! start (idempotent by event id, as recovery after a crash is); the
//! restored server journals a `trailmark.restore` event saying from what
//! and up to where at its first start ([`PENDING_RESTORE`]).
//!
//! The event index is not in a backup: it is derived from the journal and
//! rebuilt by the restored server's recovery scan.

mod check;
mod destination;
#[cfg(feature = "aws")]
mod destination_s3;
mod digest;
mod manifest;
mod restore;
pub mod schedule;
mod take;

use std::path::PathBuf;

pub use check::{VerifyReport, verify};
pub use destination::{Destination, DirDestination, open_destination};
pub use manifest::{FileEntry, Manifest, SIGNED_KIND, SignedManifest, StoresMark};
pub use restore::{
    PENDING_RESTORE, PointInTime, RestoreOptions, RestoreReport, journal_pending_restore, restore,
};
pub use take::{BackupOptions, BackupReport, Source, take};

/// Why a backup, a check or a restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// A file could not be read or written.
    #[error("{path}: {op}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The destination refused or failed.
    #[error("{destination}: {reason}")]
    Destination {
        /// The destination (`DIR` or `s3://bucket/prefix`).
        destination: String,
        /// What went wrong.
        reason: String,
    },
    /// A manifest could not be read, or is not signed by the key.
    #[error("manifest {name}: {reason}")]
    Manifest {
        /// The manifest's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// SQLite refused a snapshot or a check.
    #[error("{path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The journal refused.
    #[error("journal: {0}")]
    Journal(#[from] trailmark_journal::JournalError),
    /// A checkpoint or key could not be made or read.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] trailmark_journal::CheckpointError),
    /// The backup failed its checks: each line names a file and offset.
    #[error("the backup failed its checks:\n{}", .0.join("\n"))]
    Damaged(Vec<String>),
    /// What was asked cannot be done (a non-empty target, a sequence
    /// outside the backup, a missing key).
    #[error("{0}")]
    Refused(String),
}

impl BackupError {
    fn io(path: impl Into<PathBuf>, op: &'static str, source: std::io::Error) -> BackupError {
        BackupError::Io {
            path: path.into(),
            op,
            source,
        }
    }
}

/// Logical paths of the files a backup holds, relative to a data directory.
pub mod paths {
    /// The journal's segments directory.
    pub const JOURNAL: &str = "journal";
    /// The checkpoint log.
    pub const CHECKPOINTS: &str = "checkpoints.jsonl";
    /// The checkpoint public key.
    pub const PUBLIC_KEY: &str = "checkpoint.key.pub";
    /// The checkpoint signing key (only with secrets).
    pub const SIGNING_KEY: &str = "checkpoint.key";
    /// The embedded metadata store.
    pub const METADATA: &str = "metadata.sqlite";
    /// The dead-letter store.
    pub const DEAD_LETTERS: &str = "dead-letters.sqlite";
    /// The embedded archive's root.
    pub const ARCHIVE: &str = "archive";
    /// Files that hold credentials, copied only when asked.
    pub const SECRETS: [&str; 3] = [
        SIGNING_KEY,
        trailmark_auth::ADMIN_TOKEN_FILE,
        trailmark_auth::ACCESS_KEY_FILE,
    ];

    /// Whether `path` is part of the stores (metadata, dead letters,
    /// archive), which a point-in-time restore may take from an older
    /// backup.
    pub fn is_store(path: &str) -> bool {
        path == METADATA
            || path == DEAD_LETTERS
            || path
                .strip_prefix(ARCHIVE)
                .is_some_and(|rest| rest.starts_with('/'))
    }
}
