//! Text from plugins made safe to keep and to log: bounded in length, and
//! with control characters escaped so it cannot start a forged log line or
//! drive a terminal.

use std::borrow::Cow;
use std::fmt::Write;

/// Whether `c` must not reach a log line raw: C0 controls (newline, carriage
/// return, escape, ...), DEL, C1 controls, and the Unicode bidi overrides
/// and isolates that reorder what a reader sees.
fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every unsafe character written as an escape: `\n`, `\r`,
/// `\t`, or `\u{1b}`. Text without one is borrowed as is.
pub(crate) fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe(c) => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `text` escaped (see [`escape_controls`]) and cut to at most `max` bytes,
/// at a character boundary, with a marker saying how long it was.
pub(crate) fn bounded(text: &str, max: usize) -> String {
    let escaped = escape_controls(text);
    if escaped.len() <= max {
        return escaped.into_owned();
    }
    let marker = format!(" [truncated: {} bytes in all]", text.len());
    let mut end = max.saturating_sub(marker.len());
    while !escaped.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = String::with_capacity(end + marker.len());
    out.push_str(&escaped[..end]);
    out.push_str(&marker);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_newlines_and_bidi_are_escaped() {
        assert!(matches!(escape_controls("plain text é"), Cow::Borrowed(_)));
        assert_eq!(
            escape_controls("a\nINFO forged\r\x1b[2J\u{7f}\u{85}\u{202e}z"),
            "a\\nINFO forged\\r\\u{1b}[2J\\u{7f}\\u{85}\\u{202e}z"
        );
    }

    #[test]
    fn bounded_cuts_at_a_char_boundary_with_a_marker() {
        assert_eq!(bounded("short", 100), "short");
        let long = "é".repeat(1000);
        let cut = bounded(&long, 300);
        assert!(cut.len() <= 300, "{}", cut.len());
        assert!(cut.ends_with(" [truncated: 2000 bytes in all]"), "{cut}");
        let lines = "line\n".repeat(500);
        let cut = bounded(&lines, 256);
        assert!(!cut.contains('\n'));
        assert!(cut.len() <= 256);
    }
}
