//! Archive key validation shared by every archive backend.
//!
//! The rules are those of a key that is safe both as a relative path under a
//! directory and as an S3 object key, so a rule set that works with the local
//! archive keeps working when the archive moves to S3.

use crate::{BackendError, BackendResult};

/// Longest accepted key, in bytes (the S3 limit).
pub const MAX_KEY_LEN: usize = 1024;

/// Check that `key` is a safe archive key.
///
/// A key is a `/`-separated list of segments, such as `book/42/evt-1.json`.
/// Rejected, as [`BackendError::Invalid`] with a message naming the problem:
/// the empty key, keys longer than [`MAX_KEY_LEN`] bytes, absolute keys
/// (leading `/`), empty segments (`a//b`, trailing `/`), `.` and `..`
/// segments, backslashes, control characters (C0 such as NUL, newline and
/// ESC; DEL; C1) and bidirectional-text controls (such as U+202E), so that
/// a key shown in a terminal or a log reads as the key that is stored.
///
/// ```
/// use trailmark_backend_api::validate_key;
/// assert!(validate_key("book/42/evt-1.json").is_ok());
/// assert!(validate_key("../etc/passwd").is_err());
/// ```
pub fn validate_key(key: &str) -> BackendResult<()> {
    let invalid = |why: &str| {
        Err(BackendError::Invalid(format!(
            "archive key {:?}: {why}; expected segments like `book/42/evt-1.json`",
            shorten(key)
        )))
    };
    if key.is_empty() {
        return invalid("is empty");
    }
    if key.len() > MAX_KEY_LEN {
        return Err(BackendError::Invalid(format!(
            "archive key {:?} is {} bytes long; at most {MAX_KEY_LEN} are allowed",
            shorten(key),
            key.len()
        )));
    }
    if key.contains('\0') {
        return invalid("contains a NUL character");
    }
    if key.chars().any(char::is_control) {
        return invalid("contains a control character (C0 such as newline or ESC, DEL, or C1)");
    }
    if key.chars().any(is_bidi_control) {
        return invalid("contains a bidirectional-text control character (such as U+202E)");
    }
    if key.contains('\\') {
        return invalid("contains a backslash; use `/` to separate segments");
    }
    if key.starts_with('/') {
        return invalid("is absolute (starts with `/`)");
    }
    for segment in key.split('/') {
        match segment {
            "" => return invalid("has an empty segment (`//` or a trailing `/`)"),
            "." | ".." => return invalid("has a `.` or `..` segment"),
            _ => {}
        }
    }
    Ok(())
}

/// Characters that reorder how the text around them is displayed: the
/// embeddings, overrides and isolates of Unicode's bidirectional algorithm,
/// and the implicit direction marks.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// The key as shown in error messages: long keys are cut so that one bad key
/// cannot flood a log line.
fn shorten(key: &str) -> &str {
    const SHOWN: usize = 120;
    if key.len() <= SHOWN {
        return key;
    }
    let mut end = SHOWN;
    while !key.is_char_boundary(end) {
        end -= 1;
    }
    &key[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected_because(key: &str) -> String {
        match validate_key(key) {
            Err(BackendError::Invalid(msg)) => msg,
            other => panic!("{key:?} should be invalid, got {other:?}"),
        }
    }

    #[test]
    fn accepts_ordinary_keys() {
        for key in [
            "a",
            "book/42/evt-1.json",
            "a/b.c/d..e/.hidden",
            "unicode/livre-é/ü",
            "with space/and:colon",
        ] {
            assert_eq!(validate_key(key), Ok(()), "{key:?}");
        }
        assert_eq!(validate_key(&"k".repeat(MAX_KEY_LEN)), Ok(()));
    }

    #[test]
    fn rejects_keys_that_could_escape_or_confuse_the_directory() {
        for (key, reason) in [
            ("", "empty"),
            ("/etc/passwd", "absolute"),
            ("..", "`..`"),
            ("../x", "`..`"),
            ("a/../../x", "`..`"),
            ("a/..", "`..`"),
            ("./a", "`.`"),
            ("a/./b", "`.`"),
            ("a//b", "empty segment"),
            ("a/", "empty segment"),
            ("a\0b", "NUL"),
            ("..\\windows", "backslash"),
            ("a\\b", "backslash"),
        ] {
            let message = rejected_because(key);
            assert!(message.contains(reason), "{key:?}: {message}");
        }
    }

    #[test]
    fn rejects_keys_that_would_forge_terminal_or_log_output() {
        for key in [
            "a/b\nc",
            "a/\r",
            "a/\u{1b}]0;title\u{7}",
            "a/\u{7f}",
            "a/\u{85}",
            "a/\u{9b}2J",
        ] {
            assert!(
                rejected_because(key).contains("control character"),
                "{key:?}"
            );
        }
        for key in ["a/\u{202E}gpj.exe", "a/\u{2066}x", "a/\u{200F}"] {
            assert!(rejected_because(key).contains("bidirectional"), "{key:?}");
        }
    }

    #[test]
    fn rejects_over_long_keys_with_a_short_message() {
        let msg = rejected_because(&"é".repeat(MAX_KEY_LEN));
        assert!(msg.contains("2048 bytes long"), "{msg}");
        assert!(msg.len() < 400, "message should be cut: {msg}");
    }
}
