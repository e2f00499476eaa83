//! The journal's error type.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

/// An I/O operation on a journal, key or checkpoint file, or on its
/// directory, failed: where, doing what, and why.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {op} failed: {source}")]
pub struct IoError {
    /// The file or directory the operation was on.
    pub path: PathBuf,
    /// What was being done (`"open"`, `"read"`, `"fsync directory"`, ...).
    pub op: &'static str,
    /// The underlying error.
    #[source]
    pub source: io::Error,
}

impl IoError {
    /// The failure of `op` on `path`.
    pub(crate) fn new(path: impl Into<PathBuf>, op: &'static str, source: io::Error) -> Self {
        IoError {
            path: path.into(),
            op,
            source,
        }
    }
}

/// Everything that can go wrong opening, appending to, reading or verifying a journal.
///
/// Messages name the file and, where it matters, the byte offset, so an operator can
/// look at the exact spot (`xxd -s OFFSET FILE`).
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// An I/O operation on a journal file or directory failed.
    #[error(transparent)]
    Io(#[from] IoError),

    /// A segment file holds bytes that are not a valid continuation of the chain.
    ///
    /// Raised by [`Journal::open`](crate::Journal::open) for damage anywhere except a torn
    /// tail, and by readers that meet a record that does not check out. Run
    /// [`verify`](crate::verify) for the full list of problems.
    #[error(
        "{path} at offset {offset}: {reason}; run `verify` on the journal directory for details"
    )]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of the bad record or header in that file.
        offset: u64,
        /// What is wrong.
        reason: String,
    },

    /// Another `Journal` (in this or another process) already holds the directory's lock.
    #[error("{path}: journal is already open elsewhere (its LOCK file is held)")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },

    /// A record's payload is larger than [`JournalOptions::max_record_bytes`](crate::JournalOptions::max_record_bytes).
    #[error(
        "record payload of {size} bytes exceeds max_record_bytes ({max}); split it or raise the limit"
    )]
    RecordTooLarge {
        /// Payload size of the offending record.
        size: usize,
        /// The configured limit.
        max: usize,
    },

    /// The options passed to [`Journal::open`](crate::Journal::open) are not usable.
    #[error("invalid journal options: {0}")]
    InvalidOptions(String),

    /// Writing or syncing a batch failed. The records of that batch may or may not be on
    /// disk; the writer stops accepting appends (see [`JournalError::Poisoned`]).
    #[error(
        "{path} at offset {offset}: {op} failed: {source}; the batch may or may not be durable"
    )]
    WriteFailed {
        /// The segment file being written.
        path: PathBuf,
        /// Offset where the failed operation started.
        offset: u64,
        /// `"write"`, `"fdatasync"`, `"create segment"`, ...
        op: &'static str,
        /// The underlying error, shared by every caller of the failed batch.
        #[source]
        source: Arc<io::Error>,
    },

    /// The journal's disk is full (`ENOSPC`, or the quota): the batch was
    /// rolled back, none of it is in the chain, and the journal takes
    /// appends again once space is freed; no reopen needed.
    #[error(
        "{path}: {op} failed: {source}: the journal's disk is full; nothing of this batch was kept, and appends resume once space is freed"
    )]
    Full {
        /// The file being written.
        path: PathBuf,
        /// `"write"`, `"create segment"`, `"write space probe"`, ...
        op: &'static str,
        /// The underlying error.
        #[source]
        source: Arc<io::Error>,
    },

    /// An earlier write or fsync failed, so the journal no longer accepts appends: after a
    /// failed fsync the kernel's view of the file cannot be trusted. Reopen the journal
    /// (which re-validates the tail) to continue.
    #[error(
        "journal stopped accepting appends after an earlier failure ({path} at offset {offset}: {op}: {source}); reopen it"
    )]
    Poisoned {
        /// The segment file of the original failure.
        path: PathBuf,
        /// Offset of the original failure.
        offset: u64,
        /// The operation that failed.
        op: &'static str,
        /// The original error.
        #[source]
        source: Arc<io::Error>,
    },

    /// The append queue is full ([`JournalOptions::queue_capacity`](crate::JournalOptions::queue_capacity));
    /// returned by [`Journal::try_append`](crate::Journal::try_append). Push back on the producer and retry.
    #[error("journal append queue is full; retry later")]
    Busy,

    /// The journal's writer has stopped (the journal was closed, or its thread died).
    #[error("journal is closed")]
    Closed,

    /// A segment is encrypted and the journal was opened without a key-encryption key.
    #[error(
        "{path} is encrypted: opening this journal needs its key-encryption key file \
         (configure [encryption] key-file, or pass --key-file)"
    )]
    KeyRequired {
        /// The encrypted segment.
        path: PathBuf,
    },

    /// Encryption is on, but the journal already holds unencrypted records.
    #[error(
        "{path} holds {records} unencrypted record(s), but encryption is on: encryption can only \
         be turned on for a new journal, because the hash chain (and every signed checkpoint) \
         covers the bytes as stored. Turn encryption off for this data directory, or start a new \
         data directory with it on (see docs/compliance.md, \"Turning encryption on\")"
    )]
    NotEncrypted {
        /// The first unencrypted segment holding records.
        path: PathBuf,
        /// How many records it holds.
        records: u64,
    },

    /// The key-encryption key file is unusable.
    #[error("{path}: {reason}")]
    KeyFile {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// A segment's data key file is missing, malformed or does not open.
    #[error("{path}: {reason}")]
    DataKey {
        /// The `.dek` file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// A caller appended a record of a kind the journal reserves for itself.
    #[error("record kind {0} is reserved for the journal's retention cut records")]
    ReservedKind(u8),

    /// The operating system could not provide randomness for a key or nonce.
    #[error("no system randomness for encryption: {0}")]
    Random(String),

    /// A read asked for a record that retention has already removed.
    #[error("record {seq} was removed by retention; the oldest retained record is {first_seq}")]
    Removed {
        /// The requested sequence number.
        seq: u64,
        /// The oldest sequence number still retained.
        first_seq: u64,
    },
}

/// Keeps the path and the step of a failed durable write.
impl From<trailmark_durable_file::Error> for JournalError {
    fn from(e: trailmark_durable_file::Error) -> Self {
        JournalError::io(e.path, e.step.as_str(), e.source)
    }
}

impl JournalError {
    /// Builds an [`JournalError::Io`] for `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, op: &'static str, source: io::Error) -> Self {
        JournalError::Io(IoError::new(path, op, source))
    }

    /// Builds a [`JournalError::Corrupt`].
    pub(crate) fn corrupt(
        path: impl Into<PathBuf>,
        offset: u64,
        reason: impl Into<String>,
    ) -> Self {
        JournalError::Corrupt {
            path: path.into(),
            offset,
            reason: reason.into(),
        }
    }
}

/// Everything that can go wrong with checkpoint keys, checkpoint files and signatures.
///
/// Messages name the file (and line, for checkpoint logs) so an operator can look at the
/// exact spot.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// An I/O operation on a key or checkpoint file failed.
    #[error(transparent)]
    Io(#[from] IoError),

    /// A key file does not hold a key in the expected format.
    #[error("{path}: {reason}")]
    InvalidKeyFile {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// The `.pub` file next to a secret key holds another key.
    #[error(
        "{path}: holds public key {found}, but the secret key beside it has public key {expected}; \
         remove the .pub file to have it written again"
    )]
    PublicKeyMismatch {
        /// The `.pub` file.
        path: PathBuf,
        /// Key id of the public key derived from the secret key.
        expected: String,
        /// Key id of the public key found in the file.
        found: String,
    },

    /// A public key given as text is not a hex-encoded Ed25519 public key.
    #[error("invalid public key: {0}")]
    InvalidPublicKey(String),

    /// A line of a checkpoint log is not a valid checkpoint.
    #[error("{path}:{line}: {reason}")]
    InvalidLine {
        /// The checkpoint log.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },

    /// A checkpoint's fields are not well-formed (bad hex, wrong length, `count != seq`).
    #[error("checkpoint for seq {seq} is malformed: {reason}")]
    Malformed {
        /// The seq the checkpoint claims.
        seq: u64,
        /// What is wrong.
        reason: String,
    },

    /// The checkpoint names another signing key than the one it is verified with.
    #[error(
        "checkpoint for seq {seq} was signed by key {found}, but the verifying key is {expected}"
    )]
    WrongKey {
        /// The seq the checkpoint claims.
        seq: u64,
        /// Key id of the verifying key.
        expected: String,
        /// Key id the checkpoint names.
        found: String,
    },

    /// The signature does not match the checkpoint's fields: it was altered or forged.
    #[error("checkpoint for seq {seq}: the signature does not verify (altered or forged)")]
    BadSignature {
        /// The seq the checkpoint claims.
        seq: u64,
    },

    /// The operating system could not provide randomness for a new key.
    #[error("cannot generate a checkpoint key: no system randomness: {0}")]
    Random(String),
}

/// Keeps the path and the step of a failed durable write.
impl From<trailmark_durable_file::Error> for CheckpointError {
    fn from(e: trailmark_durable_file::Error) -> Self {
        CheckpointError::io(e.path, e.step.as_str(), e.source)
    }
}

impl CheckpointError {
    /// Builds a [`CheckpointError::Io`] for `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, op: &'static str, source: io::Error) -> Self {
        CheckpointError::Io(IoError::new(path, op, source))
    }
}
