//! Client-supplied text made safe to repeat: in refusals, logs and journaled
//! records. An attacker controls every byte of a key id, a path or a header,
//! so what is repeated is bounded in length and cannot carry terminal
//! escapes, forged log lines or reordered text.

/// `text` with control characters (C0, DEL, C1) and Unicode bidi overrides
/// and isolates escaped as `\u{..}`, cut to at most `max_chars` characters
/// of output (escapes count whole) with `...` appended when it was cut.
///
/// ```
/// use trailmark_auth::printable;
/// assert_eq!(printable("AKID\n\u{1b}[2J", 64), "AKID\\u{a}\\u{1b}[2J");
/// assert_eq!(printable(&"A".repeat(300_000), 8), "AAAAAAAA...");
/// ```
pub fn printable(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars.saturating_mul(4)) + 3);
    let mut used = 0usize;
    for c in text.chars() {
        let escaped = needs_escape(c).then(|| format!("\\u{{{:x}}}", u32::from(c)));
        let width = escaped.as_ref().map_or(1, |e| e.chars().count());
        if used + width > max_chars {
            out.push_str("...");
            return out;
        }
        used += width;
        match escaped {
            Some(e) => out.push_str(&e),
            None => out.push(c),
        }
    }
    out
}

/// Whether `c` could move a cursor, end a line or reorder the text around it.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_are_escaped() {
        assert_eq!(printable("a\r\nb", 64), "a\\u{d}\\u{a}b");
        assert_eq!(printable("\u{7f}\u{85}", 64), "\\u{7f}\\u{85}");
        assert_eq!(printable("x\u{202e}y", 64), "x\\u{202e}y");
        assert_eq!(printable("héllo wörld", 64), "héllo wörld");
    }

    #[test]
    fn output_is_bounded_and_cut_on_whole_characters() {
        assert_eq!(printable("héllo", 2), "hé...");
        assert_eq!(printable("hi", 2), "hi");
        assert_eq!(printable("", 0), "");
        // An escape is not split in half.
        assert_eq!(printable("ab\n", 4), "ab...");
        let long = "\n".repeat(100_000);
        assert!(printable(&long, 64).chars().count() <= 64 + 3);
    }
}
