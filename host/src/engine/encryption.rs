//! `[encryption]`: encryption at rest of the journal (envelope encryption: a data key
//! per segment, sealed by a key-encryption key kept in a key file). See
//! `docs/compliance.md` for the design and the key rotation procedure.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use trailmark_journal::{JournalError, Keyring};

/// Default name of the key file, in the data directory.
pub const DEFAULT_KEY_FILE: &str = "encryption.kek";

/// `[encryption]`, as written in `trailmark.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct EncryptionSettings {
    /// Encrypt the journal at rest (default off). Only for a new data directory: a
    /// journal that already holds records is refused with a clear message.
    pub enabled: bool,
    /// The key-encryption key file (JSON, mode 0600), created on first start when
    /// missing. Default `<data>/encryption.kek`; keep it on another volume (a secret
    /// mount) so a copy of the data directory alone reads nothing.
    pub key_file: Option<PathBuf>,
    /// `[encryption.kms]`: an AWS KMS key seals the data keys instead of the key file.
    pub kms: Option<KmsSettings>,
}

/// `[encryption.kms]`, as written in `trailmark.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct KmsSettings {
    /// The KMS key: id, ARN or alias (`alias/trailmark`).
    pub key_id: String,
    /// Region override (else the SDK's usual sources).
    #[serde(default)]
    pub region: Option<String>,
    /// Endpoint override (moto, LocalStack).
    #[serde(default)]
    pub endpoint: Option<String>,
}

impl EncryptionSettings {
    /// The key file for the data directory `data`.
    pub fn key_file(&self, data: &Path) -> PathBuf {
        self.key_file
            .clone()
            .unwrap_or_else(|| data.join(DEFAULT_KEY_FILE))
    }

    /// The keyring to open the journal with: `None` when encryption is off; the key
    /// file loaded (created when `create` and missing) when it is on.
    pub fn keyring(&self, data: &Path, create: bool) -> Result<Option<Arc<Keyring>>, JournalError> {
        if !self.enabled {
            return Ok(None);
        }
        if let Some(kms) = &self.kms {
            return kms_keyring(kms).map(|k| Some(Arc::new(k)));
        }
        let path = self.key_file(data);
        let keyring = if create {
            Keyring::load_or_create(&path)?.0
        } else {
            Keyring::load(&path)?
        };
        Ok(Some(Arc::new(keyring)))
    }
}

/// The keyring of an AWS KMS key; the key is probed (one seal, one open) first.
#[cfg(feature = "aws")]
fn kms_keyring(kms: &KmsSettings) -> Result<Keyring, JournalError> {
    let kek = crate::at_rest::KmsKek::connect(kms).map_err(|reason| JournalError::KeyFile {
        path: PathBuf::from(&kms.key_id),
        reason,
    })?;
    Ok(Keyring::external(Arc::new(kek)))
}

/// Without the `aws` feature there is no KMS client.
#[cfg(not(feature = "aws"))]
fn kms_keyring(kms: &KmsSettings) -> Result<Keyring, JournalError> {
    Err(JournalError::KeyFile {
        path: PathBuf::from(&kms.key_id),
        reason: "[encryption.kms] needs a build with the `aws` feature".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default_and_the_key_file_defaults_to_the_data_directory() {
        let settings = EncryptionSettings::default();
        let dir = tempfile::tempdir().expect("temp dir");
        assert!(settings.keyring(dir.path(), true).expect("off").is_none());
        assert_eq!(
            settings.key_file(dir.path()),
            dir.path().join(DEFAULT_KEY_FILE)
        );
        let on = EncryptionSettings {
            enabled: true,
            ..EncryptionSettings::default()
        };
        let err = on.keyring(dir.path(), false).expect_err("no key file yet");
        assert!(err.to_string().contains(DEFAULT_KEY_FILE), "{err}");
        let keyring = on.keyring(dir.path(), true).expect("created").expect("on");
        assert_eq!(keyring.path(), dir.path().join(DEFAULT_KEY_FILE));
    }
}
