//! The `[auth]` section of `trailmark.toml`: configured tokens and access
//! keys, and their checks.
//!
//! ```toml
//! [auth]
//! clock-skew-secs = 300
//! regions = ["us-east-1", "eu-west-1"]   # SigV4 scopes accepted; absent: any
//!
//! [[auth.tokens]]
//! name = "billing-writer"
//! hash = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
//! scopes = ["put"]
//! sources = ["com.acme.billing", "com.acme.billing.*"]
//!
//! [[auth.access-keys]]
//! id = "TMKQ3V9N0EXAMPLE0001"
//! secret-file = "/etc/trailmark/billing.key"   # mode 0600
//! scopes = ["put"]
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::file_mode::mode_wider_than_0600;
use crate::principal::{Principal, PrincipalKind};
use crate::scope::{Scope, SourceFilter};
use crate::secret::Secret;
use crate::token::TokenHash;

/// The whole `[auth]` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AuthConfig {
    /// Bearer tokens, stored as hashes.
    #[serde(default)]
    pub tokens: Vec<TokenSpec>,
    /// SigV4 access key pairs.
    #[serde(default)]
    pub access_keys: Vec<AccessKeySpec>,
    /// The SigV4 replay window, in seconds either side of the server's clock
    /// (default 300, as AWS; 1 to 3600).
    #[serde(default)]
    pub clock_skew_secs: Option<u64>,
    /// The regions a SigV4 credential scope may name (e.g. `["us-east-1"]`);
    /// empty or absent accepts any region. The service is always `events`.
    #[serde(default)]
    pub regions: Vec<String>,
}

/// One bearer token: `[[auth.tokens]]`.
///
/// Only the token's hash is configured (`sha256:` followed by the output of
/// `printf %s "$TOKEN" | sha256sum`, or [`crate::hash_token`]); a token is
/// never stored in the config.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TokenSpec {
    /// A unique name, recorded with each event and refusal.
    pub name: String,
    /// `sha256:<64 hex digits>`, the SHA-256 of the token.
    pub hash: TokenHash,
    /// What the token may do (at least one).
    pub scopes: Vec<Scope>,
    /// Source patterns the token may put (empty = any); needs `put` or `admin`.
    #[serde(default)]
    pub sources: Vec<String>,
}

/// One SigV4 access key pair: `[[auth.access-keys]]`.
///
/// SigV4 proves possession of the secret by an HMAC that the server must
/// recompute, so the server needs the secret itself: unlike tokens, keys
/// cannot be stored hashed. Prefer `secret-file` (a file holding only the
/// secret, mode 0600, owned by the user running Trailmark) to an inline
/// `secret` in a config file that is often shared or versioned.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AccessKeySpec {
    /// The access key id (`Credential=<id>/...`), e.g. `TMK` + 17 characters.
    pub id: String,
    /// A name for records and refusals (default: the id).
    #[serde(default)]
    pub name: Option<String>,
    /// The secret access key, inline. Exactly one of `secret`, `secret-file`.
    #[serde(default)]
    pub secret: Option<Secret>,
    /// A file holding the secret access key (surrounding whitespace ignored);
    /// relative paths are against the working directory.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// What the key may do (at least one).
    pub scopes: Vec<Scope>,
    /// Source patterns the key may put (empty = any); needs `put` or `admin`.
    #[serde(default)]
    pub sources: Vec<String>,
}

/// A configuration entry that cannot be used, e.g.
/// `auth.tokens[2].scopes: at least one scope is required (put, query, admin)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    /// Where: `auth.tokens[2].hash`, `auth.access-keys[0].secret-file`.
    pub field: String,
    /// What is wrong and what would be valid.
    pub message: String,
}

impl ConfigError {
    fn new(field: String, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// Checks the common fields and builds the principal.
pub(crate) fn principal(
    at: &str,
    name: &str,
    kind: PrincipalKind,
    scopes: &[Scope],
    sources: &[String],
) -> Result<Principal, ConfigError> {
    if name.trim().is_empty() {
        return Err(ConfigError::new(format!("{at}.name"), "must not be empty"));
    }
    if scopes.is_empty() {
        return Err(ConfigError::new(
            format!("{at}.scopes"),
            "at least one scope is required (put, query, admin)",
        ));
    }
    let mut sorted = scopes.to_vec();
    sorted.sort();
    sorted.dedup();
    let principal = Principal {
        name: name.to_owned(),
        kind,
        scopes: sorted,
        sources: SourceFilter::new(sources.iter().cloned()),
    };
    if let Some(i) = sources.iter().position(|s| s.is_empty()) {
        return Err(ConfigError::new(
            format!("{at}.sources[{i}]"),
            "an empty pattern matches nothing; use \"*\" or leave `sources` out for any source",
        ));
    }
    if !sources.is_empty() && !principal.allows(Scope::Put) {
        return Err(ConfigError::new(
            format!("{at}.sources"),
            "sources limit the `put` scope, which this entry does not have",
        ));
    }
    Ok(principal)
}

/// Checks an access key id: what SigV4 can carry in `Credential=` unambiguously.
pub(crate) fn check_key_id(at: &str, id: &str) -> Result<(), ConfigError> {
    let ok = (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(ConfigError::new(
            format!("{at}.id"),
            "expected 1 to 128 characters from A-Z a-z 0-9 _ - .",
        ))
    }
}

/// The secret of an access key, from `secret` or `secret-file`, and a warning
/// when the file is readable by others.
pub(crate) fn key_secret(
    at: &str,
    spec: &AccessKeySpec,
) -> Result<(Secret, Option<String>), ConfigError> {
    let (secret, warning) = match (&spec.secret, &spec.secret_file) {
        (Some(secret), None) => (secret.clone(), None),
        (None, Some(path)) => read_secret_file(&format!("{at}.secret-file"), path)?,
        (Some(_), Some(_)) => {
            return Err(ConfigError::new(
                at.to_owned(),
                "set either `secret` or `secret-file`, not both",
            ));
        }
        (None, None) => {
            return Err(ConfigError::new(
                at.to_owned(),
                "a `secret-file` (recommended, mode 0600) or an inline `secret` is required",
            ));
        }
    };
    let text = secret.expose();
    if text.is_empty() || text.chars().any(char::is_whitespace) {
        return Err(ConfigError::new(
            format!("{at}.secret"),
            "the secret must be non-empty and contain no whitespace",
        ));
    }
    Ok((secret, warning))
}

fn read_secret_file(field: &str, path: &Path) -> Result<(Secret, Option<String>), ConfigError> {
    let text = fs::read_to_string(path).map_err(|e| {
        ConfigError::new(
            field.to_owned(),
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    let warning = mode_wider_than_0600(path).ok().flatten().map(|mode| {
        format!(
            "{field}: {} has mode {mode:04o}, readable by other users; run chmod 600 on it",
            path.display()
        )
    });
    Ok((Secret::new(text.trim()), warning))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_parses() {
        let doc = include_str!("config.rs")
            .split("//! ```toml\n")
            .nth(1)
            .and_then(|rest| rest.split("//! ```").next())
            .expect("module docs hold a toml example")
            .lines()
            .map(|l| {
                l.strip_prefix("//! ")
                    .unwrap_or(l.trim_start_matches("//!"))
            })
            .collect::<Vec<_>>()
            .join("\n");
        #[derive(Deserialize)]
        struct Root {
            auth: AuthConfig,
        }
        let root: Root = toml::from_str(&doc).unwrap();
        assert_eq!(root.auth.tokens[0].scopes, [Scope::Put]);
        assert_eq!(root.auth.access_keys[0].id, "TMKQ3V9N0EXAMPLE0001");
        assert_eq!(root.auth.clock_skew_secs, Some(300));
    }

    #[test]
    fn unknown_fields_and_bad_hashes_fail_to_parse() {
        let err = toml::from_str::<AuthConfig>(
            "[[tokens]]\nname = \"a\"\nhash = \"sha256:00\"\nscopes = [\"put\"]\n",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("expected sha256:<64 hex digits>"),
            "{err}"
        );
        let err =
            toml::from_str::<AuthConfig>("[[access-keys]]\nid = \"A\"\nscopes = []\nkey = \"x\"\n")
                .unwrap_err();
        assert!(err.to_string().contains("unknown field `key`"), "{err}");
    }
}
