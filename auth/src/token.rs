//! Bearer tokens: generation, hashing and the constant-time lookup table.
//!
//! Tokens are 256 random bits, so a plain SHA-256 of the token is a safe
//! thing to store: there is no dictionary to try and nothing to brute-force,
//! which is what slow password hashes (argon2, bcrypt) defend against. A
//! fast hash also keeps each request's check cheap.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use crate::random;
use crate::secret::Secret;

/// Prefix of every token Trailmark generates (`tmk_`), which makes a leaked
/// token easy to recognise for secret scanners.
pub const TOKEN_PREFIX: &str = "tmk_";

const HASH_PREFIX: &str = "sha256:";

/// Generates a new bearer token: `tmk_` followed by 64 lowercase hex digits
/// (32 bytes from the OS random source).
///
/// # Panics
/// Only when the OS has no random source (see the crate docs).
pub fn generate_token() -> Secret {
    let bytes = random::bytes::<32>();
    Secret::new(format!("{TOKEN_PREFIX}{}", hex::encode(bytes)))
}

/// The SHA-256 of a token, the form in which tokens are configured.
pub fn hash_token(token: &str) -> TokenHash {
    TokenHash(Sha256::digest(token.as_bytes()).into())
}

/// The SHA-256 hash of a bearer token. Text form: `sha256:<64 lowercase hex
/// digits>` (parsing also accepts uppercase hex).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// The 32 hash bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{HASH_PREFIX}{}", hex::encode(self.0))
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({self})")
    }
}

/// Why a string is not a [`TokenHash`]. The message never repeats the input,
/// which may be a token pasted by mistake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenHashError {
    /// The value is a token itself, not its hash.
    #[error(
        "expected sha256:<64 hex digits>, got what looks like a token itself; \
         configure its hash (`sha256:` + hex SHA-256 of the token), never the token, \
         and replace a token that was written into a config file"
    )]
    LooksLikeToken,
    /// Anything else that is not `sha256:` + 64 hex digits.
    #[error("expected sha256:<64 hex digits>")]
    Malformed,
}

impl FromStr for TokenHash {
    type Err = TokenHashError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.starts_with(TOKEN_PREFIX) {
            return Err(TokenHashError::LooksLikeToken);
        }
        let hex_part = s
            .strip_prefix(HASH_PREFIX)
            .ok_or(TokenHashError::Malformed)?;
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut bytes).map_err(|_| TokenHashError::Malformed)?;
        Ok(Self(bytes))
    }
}

impl Serialize for TokenHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TokenHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Configured token hashes, each with the index of its owner, searched in
/// constant time.
#[derive(Debug, Default)]
pub(crate) struct TokenTable {
    hashes: Vec<TokenHash>,
}

impl TokenTable {
    /// Adds a hash; its owner is the returned index.
    pub(crate) fn push(&mut self, hash: TokenHash) -> usize {
        self.hashes.push(hash);
        self.hashes.len() - 1
    }

    /// Whether `hash` is already configured (a config-time check; not
    /// constant time, it needs not be).
    pub(crate) fn position(&self, hash: &TokenHash) -> Option<usize> {
        self.hashes.iter().position(|h| h == hash)
    }

    /// The index of the entry whose hash is the presented token's hash.
    ///
    /// Every configured hash is compared in full, whatever matched before,
    /// and the match is selected without a branch, so the time taken does not
    /// depend on which entry (if any) matched nor on how many bytes agreed.
    pub(crate) fn find(&self, presented: &str) -> Option<usize> {
        let presented = hash_token(presented);
        let mut found = subtle::Choice::from(0u8);
        let mut index = 0u64;
        for (i, hash) in self.hashes.iter().enumerate() {
            let hit = hash.0.ct_eq(&presented.0);
            index = u64::conditional_select(&index, &(i as u64), hit);
            found |= hit;
        }
        if bool::from(found) {
            usize::try_from(index).ok()
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_have_the_documented_shape() {
        let token = generate_token();
        let text = token.expose();
        assert_eq!(text.len(), 4 + 64);
        assert!(text.starts_with("tmk_"));
        assert!(
            text[4..]
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_ne!(generate_token(), token);
    }

    #[test]
    fn hash_text_form_round_trips() {
        // sha256("abc"), FIPS 180-2 appendix B.1.
        let hash = hash_token("abc");
        let text = hash.to_string();
        assert_eq!(
            text,
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(text.parse::<TokenHash>(), Ok(hash));
        assert_eq!(
            text.to_uppercase().replace("SHA256", "sha256").parse(),
            Ok(hash)
        );
    }

    #[test]
    fn bad_hash_text_is_rejected_without_echo() {
        for bad in ["", "sha256:", "sha256:abc", "md5:00", "ba7816bf8f01cfea"] {
            assert_eq!(
                bad.parse::<TokenHash>(),
                Err(TokenHashError::Malformed),
                "{bad}"
            );
        }
        let token = generate_token();
        let err = token.expose().parse::<TokenHash>().unwrap_err();
        assert_eq!(err, TokenHashError::LooksLikeToken);
        assert!(!err.to_string().contains(token.expose()));
    }

    #[test]
    fn table_finds_each_entry_and_nothing_else() {
        let mut table = TokenTable::default();
        let tokens: Vec<_> = (0..5).map(|_| generate_token()).collect();
        for t in &tokens {
            table.push(hash_token(t.expose()));
        }
        for (i, t) in tokens.iter().enumerate() {
            assert_eq!(table.find(t.expose()), Some(i));
        }
        assert_eq!(table.find(generate_token().expose()), None);
        assert_eq!(table.find(""), None);
        assert_eq!(TokenTable::default().find("x"), None);
    }
}
