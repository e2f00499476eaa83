//! Ed25519 keys that sign checkpoints: a secret key file (mode 0600) and its exportable
//! public key.
//!
//! The secret file holds the 32-byte Ed25519 seed as hex on one line; the public key is
//! written beside it as `<path>.pub` (hex, one line) so it can be copied to wherever
//! checkpoints are verified. A checkpoint names its key by [`PublicKey::key_id`].

use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{CheckpointError, IoError};

/// A secret key that signs checkpoints. Its `Debug` shows only the key id.
#[derive(Clone)]
pub struct CheckpointKey {
    signing: SigningKey,
    public: PublicKey,
}

impl fmt::Debug for CheckpointKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckpointKey")
            .field("key_id", &self.public.key_id())
            .finish_non_exhaustive()
    }
}

impl CheckpointKey {
    /// A new key from 32 bytes of system randomness.
    pub fn generate() -> Result<CheckpointKey, CheckpointError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut()).map_err(|e| CheckpointError::Random(e.to_string()))?;
        Ok(CheckpointKey::from_seed(&seed))
    }

    /// The key whose Ed25519 seed (secret key) is `seed`. For tests and for keys kept in
    /// a secret store; [`CheckpointKey::load_or_create`] is the usual way to get one.
    pub fn from_seed(seed: &[u8; 32]) -> CheckpointKey {
        let signing = SigningKey::from_bytes(seed);
        let public = PublicKey {
            key: signing.verifying_key(),
        };
        CheckpointKey { signing, public }
    }

    /// Loads the key at `path`, or creates it if there is no file there. Returns the key
    /// and whether it was created.
    ///
    /// A new key's file is created with mode 0600 (never overwriting an existing file),
    /// fsynced, and its directory fsynced. The public key is (re)written to `<path>.pub`
    /// when that file is missing; if it exists and holds another key, this fails with
    /// [`CheckpointError::PublicKeyMismatch`].
    pub fn load_or_create(path: &Path) -> Result<(CheckpointKey, bool), CheckpointError> {
        let (key, created) = match CheckpointKey::load(path) {
            Ok(key) => (key, false),
            Err(CheckpointError::Io(IoError { source, .. }))
                if source.kind() == io::ErrorKind::NotFound =>
            {
                match create_secret(path)? {
                    Some(key) => (key, true),
                    // Another process created it between our read and our create.
                    None => (CheckpointKey::load(path)?, false),
                }
            }
            Err(error) => return Err(error),
        };
        key.ensure_public_file(path)?;
        Ok((key, created))
    }

    /// Loads the key at `path` (hex seed on one line). Warns if the file can be read by
    /// anyone but its owner.
    pub fn load(path: &Path) -> Result<CheckpointKey, CheckpointError> {
        let text = Zeroizing::new(
            fs::read_to_string(path).map_err(|e| CheckpointError::io(path, "read key", e))?,
        );
        let mode = fs::metadata(path)
            .map_err(|e| CheckpointError::io(path, "stat key", e))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format_args!("{:o}", mode & 0o777),
                "checkpoint key file is readable by others than its owner; chmod 600 it"
            );
        }
        let mut seed = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text.trim(), seed.as_mut()).map_err(|_| {
            CheckpointError::InvalidKeyFile {
                path: path.to_path_buf(),
                reason: "expected 64 hex digits (an Ed25519 secret key) on one line".to_owned(),
            }
        })?;
        Ok(CheckpointKey::from_seed(&seed))
    }

    /// The public key, to verify this key's checkpoints.
    pub fn public(&self) -> PublicKey {
        self.public.clone()
    }

    /// Signs `message`.
    pub(crate) fn sign(&self, message: &[u8]) -> Signature {
        self.signing.sign(message)
    }

    /// Signs a document other than a checkpoint (a backup's manifest), hex.
    /// `kind` names what it is; the signed bytes start with
    /// [`DOCUMENT_PREFIX`] and `kind`, so the signature can never be taken
    /// for a checkpoint's or for another kind of document's.
    pub fn sign_document(&self, kind: &str, document: &[u8]) -> String {
        hex::encode(self.sign(&document_bytes(kind, document)).to_bytes())
    }

    /// Writes `<path>.pub` if it is missing; checks it if it exists.
    fn ensure_public_file(&self, path: &Path) -> Result<(), CheckpointError> {
        let pub_path = public_path(path);
        match PublicKey::load(&pub_path) {
            Ok(found) if found == self.public => Ok(()),
            Ok(found) => Err(CheckpointError::PublicKeyMismatch {
                path: pub_path,
                expected: self.public.key_id(),
                found: found.key_id(),
            }),
            Err(CheckpointError::Io(IoError { source, .. }))
                if source.kind() == io::ErrorKind::NotFound =>
            {
                let line = format!("{}\n", self.public);
                // Atomic, with the umask's default mode (a public key).
                trailmark_durable_file::replace(&pub_path, line.as_bytes())?;
                Ok(())
            }
            Err(error) => Err(error),
        }
    }
}

/// An Ed25519 public key that verifies checkpoints. `Display` is its hex form, as in the
/// `.pub` file.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.key.as_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.key_id())
    }
}

impl PublicKey {
    /// Parses a hex-encoded public key (surrounding whitespace allowed).
    pub fn parse(text: &str) -> Result<PublicKey, CheckpointError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut bytes).map_err(|_| {
            CheckpointError::InvalidPublicKey(
                "expected 64 hex digits (an Ed25519 public key)".to_owned(),
            )
        })?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| {
            CheckpointError::InvalidPublicKey("not a valid Ed25519 public key".to_owned())
        })?;
        Ok(PublicKey { key })
    }

    /// Loads a public key file (hex on one line, as written by
    /// [`CheckpointKey::load_or_create`]).
    pub fn load(path: &Path) -> Result<PublicKey, CheckpointError> {
        let text =
            fs::read_to_string(path).map_err(|e| CheckpointError::io(path, "read key", e))?;
        PublicKey::parse(&text).map_err(|e| CheckpointError::InvalidKeyFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }

    /// A short id for the key: hex of the first 8 bytes of SHA-256 of the public key.
    pub fn key_id(&self) -> String {
        hex::encode(&Sha256::digest(self.key.as_bytes())[..8])
    }

    /// Checks a signature made by [`CheckpointKey::sign_document`] (hex)
    /// over `document` of `kind`.
    pub fn verify_document(&self, kind: &str, document: &[u8], signature: &str) -> bool {
        let mut bytes = [0u8; 64];
        if hex::decode_to_slice(signature.trim(), &mut bytes).is_err() {
            return false;
        }
        self.verify(
            &document_bytes(kind, document),
            &Signature::from_bytes(&bytes),
        )
    }

    /// Checks `signature` over `message`, rejecting weak keys and malleable signatures.
    pub(crate) fn verify(&self, message: &[u8], signature: &Signature) -> bool {
        self.key.verify_strict(message, signature).is_ok()
    }
}

/// The start of the bytes [`CheckpointKey::sign_document`] signs (checkpoints
/// start with [`crate::checkpoint::SIGNING_PREFIX`]).
pub const DOCUMENT_PREFIX: &[u8] = b"trailmark-document-v1\n";

fn document_bytes(kind: &str, document: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(DOCUMENT_PREFIX.len() + kind.len() + 1 + document.len());
    out.extend_from_slice(DOCUMENT_PREFIX);
    out.extend_from_slice(kind.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(document);
    out
}

/// `<path>.pub`: where the public key of the secret key at `path` is written.
pub fn public_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

/// Creates the secret key file with a new key; `None` if the file appeared meanwhile.
fn create_secret(path: &Path) -> Result<Option<CheckpointKey>, CheckpointError> {
    let key = CheckpointKey::generate()?;
    let line = Zeroizing::new(format!("{}\n", hex::encode(key.signing.as_bytes())));
    // O_EXCL: never overwrite a key another process created meanwhile.
    match trailmark_durable_file::create_new_synced(path, line.as_bytes(), Some(0o600))
        .map_err(CheckpointError::from)
    {
        Ok(_) => {
            tracing::info!(path = %path.display(), key_id = %key.public.key_id(), "created a checkpoint signing key");
            Ok(Some(key))
        }
        Err(CheckpointError::Io(IoError { source, .. }))
            if source.kind() == io::ErrorKind::AlreadyExists =>
        {
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_signature_holds_for_its_kind_and_bytes_only() {
        let key = CheckpointKey::from_seed(&[7; 32]);
        let public = key.public();
        let signature = key.sign_document("backup-manifest", b"{\"files\":[]}");
        assert!(public.verify_document("backup-manifest", b"{\"files\":[]}", &signature));
        assert!(!public.verify_document("backup-manifest", b"{\"files\":[1]}", &signature));
        assert!(!public.verify_document("other", b"{\"files\":[]}", &signature));
        assert!(!public.verify_document("backup-manifest", b"{\"files\":[]}", "00"));
        let other = CheckpointKey::from_seed(&[8; 32]).public();
        assert!(!other.verify_document("backup-manifest", b"{\"files\":[]}", &signature));
    }
}
