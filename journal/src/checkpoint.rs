//! Signed checkpoints of the chain head, in the spirit of CloudTrail's digest files.
//!
//! At intervals the host signs the journal's durable head (seq, hash, record count, time)
//! with an Ed25519 [`CheckpointKey`] and appends the [`Checkpoint`] to a `checkpoints.jsonl`
//! file ([`CheckpointLog`]), one JSON object per line. Copy that file (and the `.pub` key)
//! elsewhere for safekeeping; [`verify_with_checkpoints`](crate::verify_with_checkpoints)
//! then proves that the journal still holds, unchanged, every record a checkpoint signed.
//!
//! **What checkpoints add to the hash chain.** The chain alone catches any edit that does
//! not recompute the hashes after it, but not someone who rewrites history *consistently*
//! (recomputing every hash after the change) nor a clean truncation. A checkpoint pins the
//! hash of record `seq`, so both are caught for every record up to the last checkpoint.
//! **What they cannot catch**: records appended after the last checkpoint may be removed
//! or rewritten without a trace — checkpoint often. And whoever holds the secret key can
//! sign new checkpoints for a rewritten history: verify against a copy of the checkpoints
//! and of the public key kept where that person cannot reach.
//!
//! **Signed bytes** (all integers little-endian, fixed width, so the encoding is
//! unambiguous): `b"trailmark-checkpoint-v1\n"` ‖ `seq` (u64) ‖ `count` (u64) ‖ `hash`
//! (32 bytes) ‖ `time_ms` (i64) ‖ `key_id` (8 bytes).

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use ed25519_dalek::Signature;
use serde::{Deserialize, Serialize};

use crate::error::CheckpointError;
use crate::format::Hash;
use crate::index::ChainHead;
use crate::keys::{CheckpointKey, PublicKey};

/// Domain separation: these bytes start every signed message, so a checkpoint signature
/// can never be mistaken for a signature over anything else.
pub const SIGNING_PREFIX: &[u8] = b"trailmark-checkpoint-v1\n";

/// A signed statement "record `seq` of the journal has hash `hash`", made at `time_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Seq of the last record covered (the journal's durable head when signed).
    pub seq: u64,
    /// Chain hash of record `seq`, lowercase hex.
    pub hash: String,
    /// Records in the chain up to `seq`; equal to `seq`, as seqs start at 1.
    pub count: u64,
    /// When the checkpoint was made, milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// [`PublicKey::key_id`] of the signing key.
    pub key_id: String,
    /// Ed25519 signature over the signed bytes (see the [module docs](self)), hex.
    pub signature: String,
}

impl Checkpoint {
    /// Signs `head` at `time_ms` with `key`.
    pub fn sign(head: &ChainHead, time_ms: i64, key: &CheckpointKey) -> Checkpoint {
        let key_id = key.public().key_id();
        let id = decode_key_id(&key_id).expect("key_id() is 16 hex digits");
        let message = signed_bytes(head.seq, head.seq, &head.hash, time_ms, &id);
        Checkpoint {
            seq: head.seq,
            hash: head.hash_hex(),
            count: head.seq,
            time_ms,
            key_id,
            signature: hex::encode(key.sign(&message).to_bytes()),
        }
    }

    /// Checks that `key` made this checkpoint and that no field was changed since.
    pub fn verify_signature(&self, key: &PublicKey) -> Result<(), CheckpointError> {
        let fields = self.parse()?;
        let expected = key.key_id();
        if self.key_id != expected {
            return Err(CheckpointError::WrongKey {
                seq: self.seq,
                expected,
                found: self.key_id.clone(),
            });
        }
        let message = signed_bytes(
            self.seq,
            self.count,
            &fields.hash,
            self.time_ms,
            &fields.key_id,
        );
        if key.verify(&message, &fields.signature) {
            Ok(())
        } else {
            Err(CheckpointError::BadSignature { seq: self.seq })
        }
    }

    /// The chain head this checkpoint claims (not checking the signature).
    pub fn head(&self) -> Result<ChainHead, CheckpointError> {
        Ok(ChainHead {
            seq: self.seq,
            hash: self.parse()?.hash,
        })
    }

    /// Decodes the hex fields and checks `count == seq`.
    fn parse(&self) -> Result<Parsed, CheckpointError> {
        let malformed = |reason: &str| CheckpointError::Malformed {
            seq: self.seq,
            reason: reason.to_owned(),
        };
        let mut hash = [0u8; 32];
        hex::decode_to_slice(&self.hash, &mut hash)
            .map_err(|_| malformed("hash must be 64 hex digits"))?;
        let key_id =
            decode_key_id(&self.key_id).ok_or_else(|| malformed("key_id must be 16 hex digits"))?;
        let mut signature = [0u8; 64];
        hex::decode_to_slice(&self.signature, &mut signature)
            .map_err(|_| malformed("signature must be 128 hex digits"))?;
        if self.count != self.seq {
            return Err(malformed("count must equal seq (seqs start at 1)"));
        }
        Ok(Parsed {
            hash,
            key_id,
            signature: Signature::from_bytes(&signature),
        })
    }
}

/// A checkpoint's hex fields, decoded.
struct Parsed {
    hash: Hash,
    key_id: [u8; 8],
    signature: Signature,
}

fn decode_key_id(key_id: &str) -> Option<[u8; 8]> {
    let mut id = [0u8; 8];
    hex::decode_to_slice(key_id, &mut id).ok()?;
    Some(id)
}

/// The bytes a checkpoint signature covers (see the module docs).
fn signed_bytes(seq: u64, count: u64, hash: &Hash, time_ms: i64, key_id: &[u8; 8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(SIGNING_PREFIX.len() + 8 + 8 + 32 + 8 + 8);
    out.extend_from_slice(SIGNING_PREFIX);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(hash);
    out.extend_from_slice(&time_ms.to_le_bytes());
    out.extend_from_slice(key_id);
    out
}

/// An append-only `checkpoints.jsonl` file, one [`Checkpoint`] per line.
#[derive(Debug)]
pub struct CheckpointLog {
    path: PathBuf,
    file: File,
    last: Option<Checkpoint>,
}

impl CheckpointLog {
    /// Opens the log at `path`, creating it (and fsyncing its directory) if missing.
    ///
    /// Every line is parsed. A last line without its newline is an append that a crash
    /// interrupted before it was fsynced (so before anyone was told it was made): it is
    /// cut off with a warning. Any other bad line is an error.
    pub fn open(path: &Path) -> Result<CheckpointLog, CheckpointError> {
        let existed = path.exists();
        let file = File::options()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| CheckpointError::io(path, "open", e))?;
        if !existed {
            trailmark_durable_file::sync_parent(path)?;
        }
        let text = fs::read_to_string(path).map_err(|e| CheckpointError::io(path, "read", e))?;
        let complete = text.rfind('\n').map_or(0, |i| i + 1);
        if complete < text.len() {
            tracing::warn!(
                path = %path.display(),
                offset = complete,
                cut_bytes = text.len() - complete,
                "checkpoint log: cutting an incomplete last line (an interrupted append)"
            );
            file.set_len(complete as u64)
                .and_then(|()| file.sync_all())
                .map_err(|e| CheckpointError::io(path, "truncate incomplete line", e))?;
        }
        let last = parse_lines(path, &text[..complete])?.pop();
        Ok(CheckpointLog {
            path: path.to_path_buf(),
            file,
            last,
        })
    }

    /// The last checkpoint in the log: compare its `seq` with the journal's head to skip
    /// a checkpoint when nothing was appended since.
    pub fn last(&self) -> Option<&Checkpoint> {
        self.last.as_ref()
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `checkpoint` as one line and fsyncs it.
    pub fn append(&mut self, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        let mut line = serde_json::to_string(checkpoint).expect("a checkpoint serializes to JSON");
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.sync_data())
            .map_err(|e| CheckpointError::io(&self.path, "append", e))?;
        self.last = Some(checkpoint.clone());
        Ok(())
    }
}

/// Reads every checkpoint of a `checkpoints.jsonl` file, in file order. Errors name the
/// file and line. Empty lines are not allowed (checkpoint N is line N).
pub fn read_checkpoints(path: &Path) -> Result<Vec<Checkpoint>, CheckpointError> {
    let text = fs::read_to_string(path).map_err(|e| CheckpointError::io(path, "read", e))?;
    parse_lines(path, &text)
}

fn parse_lines(path: &Path, text: &str) -> Result<Vec<Checkpoint>, CheckpointError> {
    let invalid = |line: usize, reason: String| CheckpointError::InvalidLine {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let mut checkpoints = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            return Err(invalid(i + 1, "empty line".to_owned()));
        }
        let checkpoint: Checkpoint =
            serde_json::from_str(line).map_err(|e| invalid(i + 1, e.to_string()))?;
        checkpoint
            .parse()
            .map_err(|e| invalid(i + 1, e.to_string()))?;
        checkpoints.push(checkpoint);
    }
    Ok(checkpoints)
}
