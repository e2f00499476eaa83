//! Crypto-shredding per data subject: `[subjects] paths` names the fields of an
//! event's detail that hold personal data (`author`, `data.email`, ...). At
//! intake, before an event is matched and journaled, each such string is
//! replaced by a token, `tm2:` and in base64url the subject id and the sealed
//! value: the subject id is a keyed hash of the value (the same person, the
//! same id) and the value is sealed with that subject's own key
//! ([`keys::SubjectKeys`]). Every store
//! downstream (journal, archive, metadata, dead letters, exports) then holds
//! tokens only; the query API opens them on the way out. Erasing a subject
//! destroys its key: its tokens stay in place, so the hash chain over them
//! still verifies, and they open as [`ERASED`] from then on.
//!
//! Not erased: the subject id itself (a keyed hash, meaningless without the
//! deployment's secret), entity ids, sources and types (they are keys, and
//! patterns match on them), and fields not listed in `paths`.

pub mod http;
pub mod intake;
pub mod keys;
pub mod opened;
mod spans;

use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use trailmark_backends::Event;

pub use keys::{KeyError, SubjectKeys};

/// What an erased value reads as.
pub const ERASED: &str = "[erased]";
/// The prefix of a token.
pub const TOKEN_PREFIX: &str = "tm2:";
/// The prefix of a token written before `tm2:` (a hex subject id, a
/// XChaCha20-Poly1305 nonce and tag): still opened, no longer written.
pub const TOKEN_PREFIX_V1: &str = "tm1:";

/// Whether `text` is a token (either version).
pub fn is_token(text: &str) -> bool {
    text.starts_with(TOKEN_PREFIX) || text.starts_with(TOKEN_PREFIX_V1)
}

/// Whether `bytes` hold a token anywhere (either version).
pub fn holds_token(bytes: &[u8]) -> bool {
    bytes
        .windows(TOKEN_PREFIX.len())
        .any(|w| w == TOKEN_PREFIX.as_bytes() || w == TOKEN_PREFIX_V1.as_bytes())
}

/// `[subjects]` in `trailmark.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct SubjectSettings {
    /// Dotted paths into an event's detail whose string values are personal
    /// data, sealed per subject: `["author", "data.email"]`. Empty (default):
    /// nothing is sealed.
    pub paths: Vec<String>,
}

impl SubjectSettings {
    /// Every path well-formed, or the first that is not (`(key, why)`).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        for path in &self.paths {
            if path.is_empty() || path.split('.').any(str::is_empty) {
                return Err((
                    "paths",
                    format!(
                        "`{path}` is not a dotted path into the detail, such as `author` or `data.email`"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The configured subject paths and the key store: seals events, opens tokens.
pub struct Subjects {
    paths: spans::PathTree,
    keys: SubjectKeys,
}

impl Subjects {
    /// `None` when no path is configured; else the key store under `data`,
    /// its keys sealed by `sealer` (see [`SubjectKeys::open_sealed`]).
    pub fn open(
        settings: &SubjectSettings,
        data: &Path,
        sealer: Option<Arc<crate::at_rest::Sealer>>,
    ) -> Result<Option<Arc<Subjects>>, KeyError> {
        if settings.paths.is_empty() {
            return Ok(None);
        }
        let paths: Vec<Vec<String>> = settings
            .paths
            .iter()
            .map(|p| p.split('.').map(str::to_owned).collect())
            .collect();
        Ok(Some(Arc::new(Subjects {
            paths: spans::PathTree::new(&paths),
            keys: SubjectKeys::open_sealed(&data.join(keys::DIR), sealer)?,
        })))
    }

    /// The key store.
    pub fn keys(&self) -> &SubjectKeys {
        &self.keys
    }

    /// The event with every configured string in its detail replaced by its
    /// token, the rest of the detail's text unchanged. A detail that is not a
    /// JSON object, and paths it does not have or that hold no string, are
    /// left as they are. A new subject's key is created (a file, fsynced).
    pub fn seal_event(&self, mut event: Event) -> Result<Event, KeyError> {
        if let Some(detail) = self.sealed_detail(&event.detail, |v| self.keys.seal(v))? {
            event.detail = detail;
        }
        Ok(event)
    }

    /// [`Subjects::seal_event`] in place, without touching a file: `false`
    /// (the event unchanged) when one of its subjects has no key in memory
    /// yet.
    pub fn seal_event_cached(&self, event: &mut Event) -> bool {
        match self.sealed_detail(&event.detail, |v| self.keys.seal_cached(v).ok_or(())) {
            Ok(Some(detail)) => {
                event.detail = detail;
                true
            }
            Ok(None) => true,
            Err(()) => false,
        }
    }

    /// `detail` with each configured string that is not a token yet replaced
    /// by `seal`'s token; `None` when there is none.
    fn sealed_detail<E>(
        &self,
        detail: &str,
        mut seal: impl FnMut(&str) -> Result<String, E>,
    ) -> Result<Option<String>, E> {
        let mut found = self.paths.strings(detail);
        found.retain(|(_, value)| !is_token(value));
        if found.is_empty() {
            return Ok(None);
        }
        for (_, value) in &mut found {
            // A token is ASCII letters, digits, `:`, `-` and `_`: nothing to escape.
            *value = format!("\"{}\"", seal(value)?);
        }
        Ok(Some(spans::splice(detail, &found)))
    }

    /// What the stores hold as the `author` of changes by `author`: its token
    /// when `author` is a subject path and the subject has a key; `None`
    /// when it is not sealed (not a subject path), or the subject has no key
    /// (erased, or never seen: its changes, if any, read as erased).
    pub fn author_token(&self, author: &str) -> Result<Option<String>, KeyError> {
        if !self.paths.contains(&["author"]) || is_token(author) {
            return Ok(None);
        }
        self.keys.seal_existing(author)
    }

    /// `text` opened when it is a token (its plaintext, or [`ERASED`]), else
    /// as it is.
    pub fn open_text(&self, text: &str) -> String {
        if is_token(text) {
            self.keys.unseal(text).unwrap_or_else(|| ERASED.to_owned())
        } else {
            text.to_owned()
        }
    }

    /// Opens every token in `value`, in place: its plaintext, or [`ERASED`].
    pub fn open_json(&self, value: &mut Value) {
        match value {
            Value::String(s) if is_token(s) => {
                *s = self.open_text(s);
            }
            Value::String(s) => {
                // A body archived as JSON text inside a string field.
                if holds_token(s.as_bytes())
                    && let Ok(mut inner) = serde_json::from_str::<Value>(s)
                    && (inner.is_object() || inner.is_array())
                {
                    self.open_json(&mut inner);
                    *s = inner.to_string();
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.open_json(v)),
            Value::Object(map) => map.values_mut().for_each(|v| self.open_json(v)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(detail: &str) -> Event {
        Event {
            id: "e1".into(),
            version: "0".into(),
            source: "s".into(),
            detail_type: "Object State Change".into(),
            time: "2026-01-01T00:00:00Z".into(),
            account: "000000000000".into(),
            region: "local".into(),
            resources: Vec::new(),
            detail: detail.into(),
        }
    }

    #[test]
    fn configured_strings_are_sealed_opened_and_erased_per_subject() {
        let dir = tempfile::tempdir().expect("temp dir");
        let settings = SubjectSettings {
            paths: vec!["author".into(), "data.email".into(), "data.none".into()],
        };
        let subjects = Subjects::open(&settings, dir.path(), None)
            .expect("open")
            .expect("on");
        let sealed = subjects
            .seal_event(event(
                r#"{"author":"alice","data":{"email":"a@x.org","n":1}}"#,
            ))
            .expect("seal");
        assert!(!sealed.detail.contains("alice") && !sealed.detail.contains("a@x.org"));
        assert!(sealed.detail.contains(r#""n":1"#), "{}", sealed.detail);
        let again = subjects
            .seal_event(event(r#"{"author":"alice","data":{"email":"b@x.org"}}"#))
            .expect("seal");
        let author =
            |e: &Event| serde_json::from_str::<Value>(&e.detail).expect("json")["author"].clone();
        assert_eq!(author(&sealed), author(&again), "one value, one token");

        let mut detail: Value = serde_json::from_str(&sealed.detail).expect("json");
        subjects.open_json(&mut detail);
        assert_eq!(detail["author"], "alice");
        assert_eq!(detail["data"]["email"], "a@x.org");

        // An erasure cut short after overwriting the key reads as erased, and
        // the subject's next value gets a new key, not the zeroed one.
        let bob = subjects.keys().seal("bob").expect("seal");
        let bob_key = dir
            .path()
            .join(keys::DIR)
            .join(format!("{}.key", subjects.keys().subject_id("bob")));
        std::fs::write(&bob_key, [0u8; 32]).expect("zero the key");
        let reopened = SubjectKeys::open(&dir.path().join(keys::DIR)).expect("reopen");
        assert_eq!(reopened.unseal(&bob), None, "erased");
        assert!(!bob_key.exists(), "the erasure is finished");
        let again = reopened.seal("bob").expect("seal again");
        assert_eq!(reopened.unseal(&again).as_deref(), Some("bob"));

        let id = subjects.keys().subject_id("alice");
        assert!(subjects.keys().erase(&id).expect("erase"));
        assert!(
            !subjects.keys().erase(&id).expect("erase again"),
            "idempotent"
        );
        let mut detail: Value = serde_json::from_str(&sealed.detail).expect("json");
        subjects.open_json(&mut detail);
        assert_eq!(detail["author"], ERASED);
        assert_eq!(detail["data"]["email"], "a@x.org", "another subject");
    }
}
