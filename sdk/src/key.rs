//! Archive keys rendered from templates, safe against values from events.

use std::borrow::Cow;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::{Event, PluginError, Template};

/// Longest key the host accepts, in bytes (the S3 limit).
pub const MAX_KEY_LEN: usize = 1024;

/// Bytes kept as they are in a substituted value: RFC 3986 unreserved
/// characters. Everything else, `/`, `\`, `%`, NUL and non-ASCII included,
/// is percent-encoded.
const ENCODED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Why a rendered archive key is not one the host accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "archive key {key:?} {problem}; expected `/`-separated segments like `book/42/1795602600000-update-e-1.json`"
)]
pub struct KeyError {
    /// The key, as rendered.
    pub key: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

impl From<KeyError> for PluginError {
    /// The same event renders the same bad key every time: reject.
    fn from(error: KeyError) -> Self {
        PluginError::reject(error.to_string())
    }
}

/// Check `key` against the host's archive key rules: not empty, at most
/// [`MAX_KEY_LEN`] bytes, not absolute, no empty, `.` or `..` segments, no
/// backslash, no control character (C0 such as NUL, newline and ESC, DEL,
/// C1) and no bidirectional-text control (such as U+202E), so a key shown
/// in a terminal or a log is the key that is stored.
pub fn validate_key(key: &str) -> Result<(), KeyError> {
    let problem = if key.is_empty() {
        Some("is empty")
    } else if key.len() > MAX_KEY_LEN {
        Some("is longer than 1024 bytes")
    } else if key.contains('\0') {
        Some("contains a NUL character")
    } else if key.chars().any(char::is_control) {
        Some("contains a control character (C0, DEL or C1)")
    } else if key.chars().any(is_bidi_control) {
        Some("contains a bidirectional-text control character")
    } else if key.contains('\\') {
        Some("contains a backslash")
    } else if key.starts_with('/') {
        Some("is absolute (starts with `/`)")
    } else if key.split('/').any(str::is_empty) {
        Some("has an empty segment (`//` or a trailing `/`)")
    } else if key
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        Some("has a `.` or `..` segment")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(KeyError {
            key: key.to_owned(),
            problem,
        }),
        None => Ok(()),
    }
}

/// Characters that reorder how text around them is displayed: the
/// embeddings, overrides and isolates of Unicode's bidirectional algorithm,
/// and the implicit direction marks.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Percent-encode one value as [`Template::render_key`] substitutes it, so
/// it stays inside its path segment: only `A-Z a-z 0-9 - _ . ~` are kept.
///
/// A value made only of dots (`.`, `..`) has its dots encoded too, so it
/// cannot become a `.` or `..` segment.
///
/// ```
/// use trailmark_sdk::encode_key_value;
/// assert_eq!(encode_key_value("a/b c"), "a%2Fb%20c");
/// assert_eq!(encode_key_value(".."), "%2E%2E");
/// ```
pub fn encode_key_value(value: &str) -> Cow<'_, str> {
    if !value.is_empty() && value.bytes().all(|byte| byte == b'.') {
        return Cow::Owned("%2E".repeat(value.len()));
    }
    utf8_percent_encode(value, ENCODED).into()
}

/// The value [`encode_key_value`] encoded into `text` (a key segment or a
/// part of one), or `None` when the decoded bytes are not UTF-8.
///
/// ```
/// use trailmark_sdk::decode_key_value;
/// assert_eq!(decode_key_value("com.example%2Fx").as_deref(), Some("com.example/x"));
/// ```
pub fn decode_key_value(text: &str) -> Option<Cow<'_, str>> {
    percent_decode_str(text).decode_utf8().ok()
}

impl Template {
    /// Render an archive key: like [`render`](Self::render), but each
    /// substituted value is percent-encoded (only `A-Z a-z 0-9 - _ . ~` are
    /// kept), so a value can neither add segments (`/`) nor escape (`..`);
    /// then the whole key is checked with [`validate_key`]. Rejects if the
    /// key is still invalid, e.g. because a value was empty (`a//b`).
    pub fn render_key(&self, event: &Event<'_>) -> Result<String, PluginError> {
        let key = self.render_with(event, encode_key_value)?;
        validate_key(&key)?;
        Ok(key)
    }
}

/// Render `template` as an archive key; see [`Template::render_key`].
///
/// ```
/// # use trailmark_sdk::render_key;
/// # let batch = trailmark_sdk::testing::Batch::from_json(&[r#"{"id": "e-1", "source": "app",
/// #   "detail-type": "Object State Change", "time": "2026-11-25T10:00:00Z",
/// #   "detail": {"entity-type": "book", "entity-id": "../../etc/passwd",
/// #   "operation": "update", "ts": 1795600800000, "author": "ann", "data": {}}}"#])?;
/// # let event = batch.event(0);
/// let key = render_key("{source}/{entity-type}/{entity-id}/{ts}-{operation}-{id}.json", &event)?;
/// assert_eq!(key, "app/book/..%2F..%2Fetc%2Fpasswd/1795600800000-update-e-1.json");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn render_key(template: &str, event: &Event<'_>) -> Result<String, PluginError> {
    Template::parse(template)?.render_key(event)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testing::Batch;

    use crate::DEFAULT_ARCHIVE_KEY as DEFAULT;

    const ID: &str = "0d1f0c43-7c5e-4a0b-9a3f-2f4f1b6c8e21";

    /// An insert of book `entity_id` in event `id` from `account`.
    fn book_in(id: &str, account: &str, entity_id: serde_json::Value) -> Batch {
        let detail = json!({
            "entity-type": "book",
            "entity-id": entity_id,
            "operation": "insert",
            "ts": 1_795_602_600_000_i64,
            "author": "bob@example.com",
            "data": {"title": "x"}
        });
        let mut batch = Batch::default();
        batch.push(trailmark_event::Event {
            id: id.into(),
            version: "0".into(),
            source: "com.example.library".into(),
            detail_type: "Object State Change".into(),
            time: "2026-11-25T10:30:00Z".into(),
            account: account.into(),
            region: "eu-west-1".into(),
            resources: Vec::new(),
            detail: detail.to_string(),
        });
        batch
    }

    fn book(entity_id: serde_json::Value) -> Batch {
        book_in(ID, "123456789012", entity_id)
    }

    fn key_for(entity_id: &str) -> Result<String, PluginError> {
        render_key(DEFAULT, &book(json!(entity_id)).event(0))
    }

    #[test]
    fn plain_values_are_kept() {
        assert_eq!(
            key_for("978-0-13-468599-1").expect("valid"),
            "com.example.library/book/978-0-13-468599-1/1795602600000-insert-0d1f0c43-7c5e-4a0b-9a3f-2f4f1b6c8e21.json"
        );
    }

    #[test]
    fn values_cannot_add_or_escape_segments() {
        for (id, encoded) in [
            ("a/b", "a%2Fb"),
            ("..", "%2E%2E"),
            (".", "%2E"),
            ("../x", "..%2Fx"),
            ("/abs", "%2Fabs"),
            ("nul\0", "nul%00"),
            ("back\\slash", "back%5Cslash"),
            ("100%", "100%25"),
            ("a b?#", "a%20b%3F%23"),
            ("Zoë", "Zo%C3%AB"),
        ] {
            let key = key_for(id).expect("encoded value is valid");
            assert_eq!(
                key,
                format!(
                    "com.example.library/book/{encoded}/1795602600000-insert-0d1f0c43-7c5e-4a0b-9a3f-2f4f1b6c8e21.json"
                )
            );
            validate_key(&key).expect("rendered keys are valid");
            assert_eq!(key.split('/').count(), 4, "{id:?} stays one segment");
        }
    }

    #[test]
    fn empty_values_are_rejected_not_collapsed() {
        let batch = book_in(ID, "", json!("x"));
        let error = render_key("{source}/{account}/{entity-id}", &batch.event(0))
            .expect_err("empty segment");
        assert!(!error.is_retry());
        assert!(error.message().contains("has an empty segment"), "{error}");
    }

    #[test]
    fn bad_literal_templates_are_rejected() {
        let batch = book(json!("x"));
        let event = batch.event(0);
        for (template, problem) in [
            ("/{source}", "is absolute"),
            ("a/../{source}", "`..` segment"),
            ("{source}/", "empty segment"),
            ("a\\{source}", "backslash"),
        ] {
            let error = render_key(template, &event).expect_err(template);
            assert!(error.message().contains(problem), "{template}: {error}");
        }
    }

    #[test]
    fn events_of_the_same_instant_get_keys_of_their_own() {
        let first = book(json!("42"));
        let second = book_in("e/2", "123456789012", json!("42"));
        let (a, b) = (
            render_key(DEFAULT, &first.event(0)).expect("valid"),
            render_key(DEFAULT, &second.event(0)).expect("valid"),
        );
        assert_ne!(a, b);
        assert!(b.ends_with("/1795602600000-insert-e%2F2.json"), "{b}");
    }

    #[test]
    fn encoded_values_decode_back() {
        for value in ["a/b", "..", "Zoë 100%", "e-1"] {
            let encoded = encode_key_value(value);
            assert_eq!(decode_key_value(&encoded).as_deref(), Some(value));
        }
        assert_eq!(decode_key_value("%FF"), None);
    }

    #[test]
    fn control_and_bidi_characters_are_rejected() {
        for (key, problem) in [
            ("a/b\nc", "control character"),
            ("a/\u{1b}[2J", "control character"),
            ("a/\u{7f}", "control character"),
            ("a/\u{9b}31m", "control character"),
            ("a/evil\u{202E}nosj.exe", "bidirectional"),
            ("a/\u{2066}x", "bidirectional"),
        ] {
            let error = validate_key(key).expect_err(key);
            assert!(error.problem.contains(problem), "{key:?}: {error}");
        }
        // Rendered values are encoded, so such characters in events are kept
        // (encoded), not refused.
        let key = key_for("a\u{202E}\n").expect("encoded");
        assert!(key.contains("a%E2%80%AE%0A"), "{key}");
    }

    #[test]
    fn validate_key_matches_the_host_rules() {
        assert!(validate_key("book/42/evt-1.json").is_ok());
        assert!(validate_key("").is_err());
        assert!(validate_key(&"a".repeat(MAX_KEY_LEN + 1)).is_err());
        assert!(validate_key(&"a".repeat(MAX_KEY_LEN)).is_ok());
        assert!(validate_key("a/./b").is_err());
        assert!(validate_key("a/.../b").is_ok());
    }
}
