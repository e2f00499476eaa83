//! A backup's manifest: what it holds, signed with the checkpoint key.
//!
//! Stored as `{"manifest": {...}, "signature": "<hex>"}`; the signature
//! covers the exact bytes of the `manifest` value
//! ([`trailmark_journal::CheckpointKey::sign_document`], kind
//! [`SIGNED_KIND`]).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use trailmark_journal::{Checkpoint, CheckpointKey, PublicKey};

use super::BackupError;
use super::digest::FileDigest;

/// The kind of document a manifest's signature is made for.
pub const SIGNED_KIND: &str = "trailmark-backup-manifest-v1";

/// What a backup holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Manifest {
    /// Format version (1).
    pub format: u32,
    /// The backup's name (also its file name under `manifests/`).
    pub name: String,
    /// When it was taken (RFC 3339).
    pub created: String,
    /// When it was taken (ms since the epoch).
    pub created_ms: i64,
    /// The signed checkpoint of the journal head the backup covers.
    pub checkpoint: Checkpoint,
    /// The first journal record it holds (1 unless retention removed some).
    pub first_seq: u64,
    /// The stores' high-water mark and what they are.
    pub stores: StoresMark,
    /// Whether the signing key, tokens and access keys are included.
    pub secrets: bool,
    /// Every file, with its place under the data directory.
    pub files: Vec<FileEntry>,
}

/// The stores' state in a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct StoresMark {
    /// Every outcome journaled up to this sequence number is in the stores'
    /// copies; deliveries closed after it are re-delivered by a restore.
    pub high_water: u64,
    /// The metadata store's type; only `sqlite` is copied.
    pub metadata: String,
    /// The archive's type; only `fs` is copied.
    pub archive: String,
}

/// One file of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct FileEntry {
    /// Where it goes, relative to the data directory (`/`-separated).
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// SHA-256 of its bytes, hex; also its blob's name.
    pub sha256: String,
    /// Truncated SHA-256 of each MiB, to say where a damaged copy differs.
    pub chunks: Vec<String>,
}

impl FileEntry {
    pub(crate) fn new(path: String, digest: FileDigest) -> FileEntry {
        FileEntry {
            path,
            size: digest.size,
            sha256: digest.sha256,
            chunks: digest.chunks,
        }
    }

    pub(crate) fn digest(&self) -> FileDigest {
        FileDigest {
            size: self.size,
            sha256: self.sha256.clone(),
            chunks: self.chunks.clone(),
        }
    }
}

/// A manifest as stored, with its signature.
#[derive(Debug, Serialize, Deserialize)]
pub struct SignedManifest {
    /// The manifest's JSON, exactly as signed.
    pub manifest: Box<RawValue>,
    /// Ed25519 signature, hex.
    pub signature: String,
}

impl Manifest {
    /// The signed form's bytes.
    pub fn sign(&self, key: &CheckpointKey) -> Vec<u8> {
        let body = serde_json::to_string(self).expect("a manifest serializes");
        let signature = key.sign_document(SIGNED_KIND, body.as_bytes());
        let signed = SignedManifest {
            manifest: RawValue::from_string(body).expect("serde_json wrote valid JSON"),
            signature,
        };
        let mut bytes = serde_json::to_vec_pretty(&signed).expect("serializes");
        bytes.push(b'\n');
        bytes
    }

    /// Parse a stored manifest, without checking its signature.
    pub fn parse(name: &str, bytes: &[u8]) -> Result<(Manifest, SignedManifest), BackupError> {
        let bad = |reason: String| BackupError::Manifest {
            name: name.to_owned(),
            reason,
        };
        let signed: SignedManifest =
            serde_json::from_slice(bytes).map_err(|e| bad(format!("not a manifest: {e}")))?;
        let manifest: Manifest = serde_json::from_str(signed.manifest.get())
            .map_err(|e| bad(format!("not a manifest: {e}")))?;
        if manifest.format != 1 {
            return Err(bad(format!(
                "format {} (this build reads format 1)",
                manifest.format
            )));
        }
        Ok((manifest, signed))
    }

    /// Check that `key` signed this manifest (as stored in `signed`).
    pub fn check_signature(
        &self,
        signed: &SignedManifest,
        key: &PublicKey,
    ) -> Result<(), BackupError> {
        let bad = |reason: String| BackupError::Manifest {
            name: self.name.clone(),
            reason,
        };
        if self.checkpoint.key_id != key.key_id() {
            return Err(bad(format!(
                "signed with key {}, not with the key given ({})",
                self.checkpoint.key_id,
                key.key_id()
            )));
        }
        if !key.verify_document(
            SIGNED_KIND,
            signed.manifest.get().as_bytes(),
            &signed.signature,
        ) {
            return Err(bad(
                "the signature does not verify: the manifest was changed after it was signed"
                    .to_owned(),
            ));
        }
        self.checkpoint
            .verify_signature(key)
            .map_err(|e| bad(format!("its checkpoint: {e}")))
    }

    /// The file at `path`, if the backup holds it.
    pub fn file(&self, path: &str) -> Option<&FileEntry> {
        self.files.iter().find(|f| f.path == path)
    }

    /// The journal head it covers.
    pub fn head_seq(&self) -> u64 {
        self.checkpoint.seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(key: &CheckpointKey) -> Manifest {
        let head = trailmark_journal::ChainHead {
            seq: 3,
            hash: [1; 32],
        };
        Manifest {
            format: 1,
            name: "b1".into(),
            created: "2026-01-01T00:00:00Z".into(),
            created_ms: 0,
            checkpoint: Checkpoint::sign(&head, 0, key),
            first_seq: 1,
            stores: StoresMark {
                high_water: 2,
                metadata: "sqlite".into(),
                archive: "fs".into(),
            },
            secrets: false,
            files: vec![],
        }
    }

    #[test]
    fn a_manifest_changed_after_signing_is_refused() {
        let key = CheckpointKey::from_seed(&[3; 32]);
        let bytes = manifest(&key).sign(&key);
        let (parsed, signed) = Manifest::parse("b1", &bytes).expect("parses");
        parsed
            .check_signature(&signed, &key.public())
            .expect("signed");

        let text = String::from_utf8(bytes).expect("utf-8");
        let changed = text.replace("\"high-water\":2", "\"high-water\":3");
        assert_ne!(changed, text);
        let (parsed, signed) = Manifest::parse("b1", changed.as_bytes()).expect("parses");
        let error = parsed
            .check_signature(&signed, &key.public())
            .expect_err("changed");
        assert!(error.to_string().contains("does not verify"), "{error}");

        let other = CheckpointKey::from_seed(&[4; 32]).public();
        let (parsed, signed) = Manifest::parse("b1", text.as_bytes()).expect("parses");
        assert!(parsed.check_signature(&signed, &other).is_err());
    }
}
