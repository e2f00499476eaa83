//! Everything the CLI prints goes through here, so that values from the trail
//! (authors, entity ids, bodies, error texts: all attacker-controlled) can
//! never drive the operator's terminal.
//!
//! Two layers:
//! - [`escape`] turns every control character (C0 including newline and tab,
//!   DEL, C1) and every bidirectional-override character into a visible
//!   `\uXXXX`. Table cells and values interpolated into a line use it, so a
//!   value can neither move the cursor, recolour, retitle the terminal, nor
//!   start a forged line or row.
//! - [`line`] is applied to every complete text the CLI writes (the
//!   `println!` family is shadowed in [`crate::cli`] to call [`write_stdout`]
//!   and [`write_stderr`]): it escapes the same characters but keeps `\n`, the
//!   layout's own line breaks. The `\uXXXX` form is also a valid JSON string
//!   escape, so JSON output stays valid JSON after this pass (serde_json
//!   already escapes C0 inside strings; DEL, C1 and bidi controls can only
//!   occur inside strings).
//!
//! Writing to a closed pipe (`trailmark query | head`) ends the process
//! quietly with status 141, as a C tool killed by `SIGPIPE` would, instead of
//! panicking.

use std::borrow::Cow;
use std::io::{self, Write};

/// Characters that reorder or hide text: Unicode bidirectional formatting
/// characters (embeddings, overrides, isolates, marks) and the Arabic letter mark.
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// Whether `c` must not reach a terminal raw.
fn is_unsafe(c: char) -> bool {
    c.is_control() || is_bidi_control(c)
}

fn escape_where(s: &str, unsafe_char: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(&unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if unsafe_char(c) {
            // Every such character is in the Basic Multilingual Plane.
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `s` with every control character (newlines and tabs included) and every
/// bidi control shown as `\uXXXX`: safe as one table cell or one value in a line.
pub fn escape(s: &str) -> Cow<'_, str> {
    escape_where(s, is_unsafe)
}

/// `s` with every control and bidi character shown as `\uXXXX`, except the
/// line breaks that lay the text out.
pub fn line(s: &str) -> Cow<'_, str> {
    escape_where(s, |c| c != '\n' && is_unsafe(c))
}

fn write_all(mut out: impl Write, text: &str) {
    let result = out
        .write_all(line(text).as_bytes())
        .and_then(|()| out.flush());
    if let Err(e) = result {
        if e.kind() == io::ErrorKind::BrokenPipe {
            std::process::exit(141);
        }
        // Nowhere left to report it; stop like a tool whose output vanished.
        std::process::exit(74);
    }
}

/// Write `text` to standard output, escaped with [`line`].
pub fn write_stdout(text: &str) {
    write_all(io::stdout().lock(), text);
}

/// Write `text` to standard error, escaped with [`line`].
pub fn write_stderr(text: &str) {
    write_all(io::stderr().lock(), text);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_and_bidi_in_values() {
        let hostile = "a\u{1b}[2J\u{1b}]0;pwned\u{7}\nb\tc\r\u{7f}\u{9b}d\u{202e}e\u{2066}";
        let escaped = escape(hostile);
        assert!(!escaped.chars().any(is_unsafe), "{escaped}");
        assert_eq!(
            escaped,
            "a\\u001b[2J\\u001b]0;pwned\\u0007\\u000ab\\u0009c\\u000d\\u007f\\u009bd\\u202ee\\u2066"
        );
    }

    #[test]
    fn line_keeps_layout_newlines_only() {
        assert_eq!(line("x\ny\u{1b}z\t"), "x\ny\\u001bz\\u0009");
        assert!(matches!(line("plain text\n"), Cow::Borrowed(_)));
    }

    #[test]
    fn escaped_json_stays_valid_json() {
        let value = serde_json::json!({"author": "m\u{202e}allory\u{85}\u{7f}", "n": "\u{1b}"});
        let text = serde_json::to_string_pretty(&value).expect("serializes");
        let safe = line(&text);
        assert!(!safe.chars().any(|c| c != '\n' && is_unsafe(c)));
        let back: serde_json::Value = serde_json::from_str(&safe).expect("still JSON");
        assert_eq!(back, value);
    }

    #[test]
    fn printable_text_is_untouched() {
        for s in ["héllo wörld", "日本語", "emoji 🚀", "tab-free"] {
            assert!(matches!(escape(s), Cow::Borrowed(_)), "{s}");
        }
    }
}
