//! Secrets of connections: read from an environment variable or from a file
//! only its owner can read (mode 0600 or stricter), never written in a rule
//! tree file, never shown (`Debug` and `Display` print `<secret>`).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Where a secret comes from, as a connection file says:
/// `{env: SPLUNK_TOKEN}` or `{file: /etc/trailmark/splunk-token}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub enum SecretSource {
    /// An environment variable of the server process.
    Env(String),
    /// A file whose mode gives nobody but its owner any access.
    File(PathBuf),
}

/// A secret's value; shown as `<secret>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A secret obtained otherwise (an OAuth token).
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// The value, for the request that carries it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

impl fmt::Display for SecretSource {
    /// `{env: NAME}` or `{file: PATH}`, as written: where, never what.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Env(name) => write!(f, "{{env: {name}}}"),
            SecretSource::File(path) => write!(f, "{{file: {}}}", path.display()),
        }
    }
}

impl SecretSource {
    /// Read the secret now. The message says what to fix.
    pub fn read(&self) -> Result<Secret, String> {
        match self {
            SecretSource::Env(name) => match std::env::var(name) {
                Ok(value) if !value.is_empty() => Ok(Secret(value)),
                Ok(_) => Err(format!("environment variable {name} is empty")),
                Err(_) => Err(format!(
                    "environment variable {name} is not set (or not UTF-8) in the server's environment"
                )),
            },
            SecretSource::File(path) => read_private_file(path),
        }
    }
}

/// A file's trimmed text, if only its owner may read or write it.
fn read_private_file(path: &Path) -> Result<Secret, String> {
    let meta = std::fs::metadata(path)
        .map_err(|e| format!("cannot read secret file {}: {e}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(format!(
                "secret file {} has mode {mode:04o}, which lets others read it; \
                 secret files must be 0600 or stricter (chmod 600 {})",
                path.display(),
                path.display()
            ));
        }
    }
    if !meta.is_file() {
        return Err(format!("secret file {} is not a file", path.display()));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read secret file {}: {e}", path.display()))?;
    let value = text.trim_end_matches(['\n', '\r']);
    if value.is_empty() {
        return Err(format!("secret file {} is empty", path.display()));
    }
    Ok(Secret(value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(unix)]
    fn a_secret_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cret\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = SecretSource::File(path.clone()).read().expect_err("0644");
        assert!(
            err.contains("mode 0644") && err.contains("chmod 600"),
            "{err}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let secret = SecretSource::File(path).read().expect("0600");
        assert_eq!(secret.expose(), "s3cret");
        assert_eq!(format!("{secret:?}"), "<secret>");
    }

    #[test]
    fn a_missing_variable_is_named() {
        let err = SecretSource::Env("TRAILMARK_TEST_SURELY_UNSET_42".into())
            .read()
            .expect_err("unset");
        assert!(err.contains("TRAILMARK_TEST_SURELY_UNSET_42"), "{err}");
    }
}
