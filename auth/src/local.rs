//! The local admin credentials created on first start, in the data directory.
//!
//! * `admin-token`: the admin bearer token, one line. The CLI reads it to
//!   talk to a local server without any configuration.
//! * `access-key`: an admin access key pair in the AWS shared credentials
//!   format, so the AWS CLI can use it as is:
//!   `AWS_SHARED_CREDENTIALS_FILE=<data>/access-key aws events put-events --endpoint-url ...`.
//!
//! Both are created with mode 0600 under a temporary name, synced, then
//! linked into place (so no reader ever sees half a file, and two servers
//! starting at once end up with one set), and the directory is synced.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::config::{AccessKeySpec, TokenSpec};
use crate::file_mode::mode_wider_than_0600;
use crate::random;
use crate::scope::Scope;
use crate::secret::Secret;
use crate::token::{generate_token, hash_token};

/// File name of the admin token in the data directory.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";
/// File name of the access key pair in the data directory.
pub const ACCESS_KEY_FILE: &str = "access-key";

const ID_KEY: &str = "aws_access_key_id";
const SECRET_KEY: &str = "aws_secret_access_key";

/// Generates an access key pair in the shape of AWS's: an id of `TMK` and
/// 17 uppercase letters and digits (20 characters), and a 40-character
/// secret over `A-Z a-z 0-9 + /` (240 random bits).
///
/// # Panics
/// Only when the OS has no random source.
pub fn generate_access_key() -> (String, Secret) {
    let id = format!(
        "TMK{}",
        random::string(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 17)
    );
    let secret = random::string(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
        40,
    );
    (id, Secret::new(secret))
}

/// Why the local credentials could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// Reading, writing or syncing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A credential file exists but cannot be understood.
    #[error("{}: {reason}; delete it to have a new one created at the next start", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> LocalError + '_ {
    move |source| LocalError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The admin token and access key pair kept in the data directory.
#[derive(Debug, Clone)]
pub struct LocalCredentials {
    /// The admin bearer token.
    pub admin_token: Secret,
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: Secret,
    /// Where the token is (`<data>/admin-token`).
    pub admin_token_path: PathBuf,
    /// Where the key pair is (`<data>/access-key`).
    pub access_key_path: PathBuf,
    insecure: Vec<(PathBuf, u32)>,
}

impl LocalCredentials {
    /// Loads the credentials, creating whichever file is missing (and
    /// `data_dir` itself). `created` is true when anything was created: the
    /// host then says where the files are.
    pub fn load_or_create(data_dir: &Path) -> Result<(Self, bool), LocalError> {
        fs::create_dir_all(data_dir).map_err(io_err(data_dir))?;
        let token_path = data_dir.join(ADMIN_TOKEN_FILE);
        let key_path = data_dir.join(ACCESS_KEY_FILE);
        let mut created = false;
        if !token_path.exists() {
            let token = generate_token();
            created |= write_new(data_dir, ADMIN_TOKEN_FILE, &format!("{}\n", token.expose()))?;
        }
        if !key_path.exists() {
            let (id, secret) = generate_access_key();
            let text = format!(
                "# Trailmark's local admin access key, in the AWS shared credentials format:\n\
                 # AWS_SHARED_CREDENTIALS_FILE=<this file> aws events put-events --endpoint-url ...\n\
                 [default]\n{ID_KEY} = {id}\n{SECRET_KEY} = {}\n",
                secret.expose()
            );
            created |= write_new(data_dir, ACCESS_KEY_FILE, &text)?;
        }
        Ok((Self::load(data_dir)?, created))
    }

    /// Loads existing credentials (for the CLI). Files readable by other
    /// users still load; [`LocalCredentials::insecure_files`] lists them.
    pub fn load(data_dir: &Path) -> Result<Self, LocalError> {
        let admin_token_path = data_dir.join(ADMIN_TOKEN_FILE);
        let access_key_path = data_dir.join(ACCESS_KEY_FILE);
        let admin_token = Self::load_admin_token(data_dir)?;

        let text = fs::read_to_string(&access_key_path).map_err(io_err(&access_key_path))?;
        let (mut id, mut secret) = (None, None);
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with(['#', ';', '[']) {
                continue;
            }
            match line.split_once('=').map(|(k, v)| (k.trim(), v.trim())) {
                Some((ID_KEY, v)) => id = Some(v.to_owned()),
                Some((SECRET_KEY, v)) => secret = Some(Secret::new(v)),
                _ => {}
            }
        }
        let malformed = |reason: &str| LocalError::Malformed {
            path: access_key_path.clone(),
            reason: reason.to_owned(),
        };
        let access_key_id = id
            .filter(|v| !v.is_empty())
            .ok_or_else(|| malformed("no aws_access_key_id line"))?;
        let secret_access_key = secret
            .filter(|v| !v.expose().is_empty())
            .ok_or_else(|| malformed("no aws_secret_access_key line"))?;

        let mut insecure = Vec::new();
        for path in [&admin_token_path, &access_key_path] {
            if let Some(mode) = mode_wider_than_0600(path).map_err(io_err(path))? {
                insecure.push((path.clone(), mode));
            }
        }
        Ok(Self {
            admin_token,
            access_key_id,
            secret_access_key,
            admin_token_path,
            access_key_path,
            insecure,
        })
    }

    /// Reads only `<data>/admin-token` (what the CLI needs).
    pub fn load_admin_token(data_dir: &Path) -> Result<Secret, LocalError> {
        let path = data_dir.join(ADMIN_TOKEN_FILE);
        let text = fs::read_to_string(&path).map_err(io_err(&path))?;
        let token = text.trim();
        if token.is_empty() || token.chars().any(char::is_whitespace) {
            return Err(LocalError::Malformed {
                path,
                reason: "expected the token alone on one line".into(),
            });
        }
        Ok(Secret::new(token))
    }

    /// Credential files whose mode lets other users read or write them, with
    /// that mode (e.g. `0o644`). Empty when both are 0600 or stricter.
    pub fn insecure_files(&self) -> &[(PathBuf, u32)] {
        &self.insecure
    }

    /// The admin token as a config entry (named `local-admin`, scope `admin`).
    pub fn token_spec(&self) -> TokenSpec {
        TokenSpec {
            name: "local-admin".into(),
            hash: hash_token(self.admin_token.expose()),
            scopes: vec![Scope::Admin],
            sources: Vec::new(),
        }
    }

    /// The access key as a config entry (named `local-admin-key`, scope `admin`).
    pub fn access_key_spec(&self) -> AccessKeySpec {
        AccessKeySpec {
            id: self.access_key_id.clone(),
            name: Some("local-admin-key".into()),
            secret: Some(self.secret_access_key.clone()),
            secret_file: None,
            scopes: vec![Scope::Admin],
            sources: Vec::new(),
        }
    }
}

/// Writes `contents` to `dir/name` unless it exists: to a 0600 temporary file
/// first, synced, then hard-linked into place (which fails rather than
/// replace a file another process created meanwhile), and the directory
/// synced. Returns whether this call created the file.
fn write_new(dir: &Path, name: &str, contents: &str) -> Result<bool, LocalError> {
    let durable = |e: trailmark_durable_file::Error| io_err(&e.path)(e.source);
    let mut pending = trailmark_durable_file::Replace::new(&dir.join(name))
        .mode(0o600)
        .begin()
        .map_err(durable)?;
    pending
        .write_with(|file| file.write_all(contents.as_bytes()))
        .map_err(durable)?;
    pending.commit_new().map_err(durable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_keys_have_the_aws_shape() {
        let (id, secret) = generate_access_key();
        assert_eq!(id.len(), 20);
        assert!(id.starts_with("TMK"));
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        );
        assert_eq!(secret.expose().len(), 40);
        assert!(
            secret
                .expose()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
        );
        assert_ne!(generate_access_key().0, id);
    }
}
