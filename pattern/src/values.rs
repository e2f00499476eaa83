//! Value-level primitives shared by the interpreter and the compiled matcher:
//! number identity, Java-style case folding, wildcard globs and CIDR ranges.

use serde_json::Number;
use std::net::IpAddr;

/// Smallest and largest operand `numeric` accepts (EventBridge: -5.0e9 to +5.0e9 inclusive).
pub const NUMERIC_MIN: f64 = -5.0e9;
/// See [`NUMERIC_MIN`].
pub const NUMERIC_MAX: f64 = 5.0e9;

/// Identity of a JSON number *by value*: `3`, `3.0` and `300e-2` have the same key.
/// Integral values (including integral floats) are kept as exact integers, so large
/// `u64`/`i64` values are not merged through `f64` rounding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum NumKey {
    /// An integral value.
    Int(i128),
    /// A non-integral finite value, by its bits (never zero, so no `-0.0` ambiguity).
    Float(u64),
}

impl NumKey {
    /// The by-value key of a `serde_json` number.
    pub(crate) fn of(n: &Number) -> NumKey {
        if let Some(u) = n.as_u64() {
            return NumKey::Int(i128::from(u));
        }
        if let Some(i) = n.as_i64() {
            return NumKey::Int(i128::from(i));
        }
        let f = n.as_f64().unwrap_or(f64::NAN);
        // 2^64 bounds the integral floats we store exactly; beyond it bits identify the value.
        if f.fract() == 0.0 && f.abs() < 1.8e19 {
            NumKey::Int(f as i128)
        } else {
            NumKey::Float(f.to_bits())
        }
    }
}

/// A number as `numeric` sees it: `None` when outside EventBridge's supported range.
pub(crate) fn numeric_value(n: &Number) -> Option<f64> {
    let f = n.as_f64()?;
    (NUMERIC_MIN..=NUMERIC_MAX).contains(&f).then_some(f)
}

/// Per-character case folding as Java's `equalsIgnoreCase` does it: upper-case, then
/// lower-case each character, keeping it unchanged when the mapping is not one character.
/// This is deliberately not full Unicode case folding (`ß` does not become `ss`).
pub(crate) fn fold_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    fold_case_into(s, &mut out);
    out
}

/// [`fold_case`] into a reused buffer (cleared first). ASCII folds to lower case.
pub(crate) fn fold_case_into(s: &str, out: &mut String) {
    out.clear();
    if s.is_ascii() {
        out.push_str(s);
        out.make_ascii_lowercase();
    } else {
        out.extend(s.chars().map(fold_char));
    }
}

/// Whether `s` case-folds to `folded` (already folded), without allocating.
pub(crate) fn fold_eq(s: &str, folded: &str) -> bool {
    s.chars().map(fold_char).eq(folded.chars())
}

fn fold_char(c: char) -> char {
    let up = single(c.to_uppercase()).unwrap_or(c);
    single(up.to_lowercase()).unwrap_or(up)
}

fn single(mut it: impl Iterator<Item = char>) -> Option<char> {
    let first = it.next()?;
    it.next().is_none().then_some(first)
}

/// A parsed `wildcard` operand: literal pieces between unescaped `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Glob {
    /// Literal pieces; a glob with `n` stars has `n + 1` pieces (possibly empty).
    pub pieces: Vec<String>,
    /// The operand as written, for messages and summaries.
    pub source: String,
}

/// Why a wildcard operand is invalid.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum GlobError {
    /// `**` (two unescaped stars in a row).
    ConsecutiveStars,
    /// A backslash not followed by `*` or `\`.
    BadEscape,
    /// More stars than the complexity bound allows.
    TooManyStars(usize),
}

/// Most unescaped `*` one wildcard operand may have (our complexity bound).
pub const MAX_WILDCARD_STARS: usize = 8;

impl Glob {
    /// Parses a wildcard operand (`*` any run of characters, `\*` and `\\` escapes).
    pub(crate) fn parse(src: &str) -> Result<Glob, GlobError> {
        let mut pieces = vec![String::new()];
        let mut chars = src.chars();
        let mut last_was_star = false;
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    match chars.next() {
                        Some(e @ ('*' | '\\')) => pieces.last_mut().map(|p| p.push(e)),
                        _ => return Err(GlobError::BadEscape),
                    };
                    last_was_star = false;
                }
                '*' => {
                    if last_was_star {
                        return Err(GlobError::ConsecutiveStars);
                    }
                    pieces.push(String::new());
                    last_was_star = true;
                }
                other => {
                    if let Some(p) = pieces.last_mut() {
                        p.push(other);
                    }
                    last_was_star = false;
                }
            }
        }
        let stars = pieces.len() - 1;
        if stars > MAX_WILDCARD_STARS {
            return Err(GlobError::TooManyStars(stars));
        }
        Ok(Glob {
            pieces,
            source: src.to_string(),
        })
    }

    /// Whether `s` matches. Greedy leftmost placement of the middle pieces is exact for
    /// `*`-only globs, so this is linear-ish in `s` and needs no backtracking.
    pub(crate) fn matches(&self, s: &str) -> bool {
        let n = self.pieces.len();
        let first = &self.pieces[0];
        if n == 1 {
            return s == first;
        }
        let last = &self.pieces[n - 1];
        if s.len() < first.len() + last.len() || !s.starts_with(first.as_str()) {
            return false;
        }
        if !s.ends_with(last.as_str()) {
            return false;
        }
        let mut rest = &s[first.len()..s.len() - last.len()];
        for piece in &self.pieces[1..n - 1] {
            match rest.find(piece.as_str()) {
                Some(at) => rest = &rest[at + piece.len()..],
                None => return false,
            }
        }
        true
    }

    /// The literal text before the first star (what every match must start with).
    pub(crate) fn leading(&self) -> &str {
        &self.pieces[0]
    }
}

/// An IPv4 or IPv6 network from a `cidr` operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    net: u128,
    mask: u128,
    v6: bool,
    /// Prefix length as written.
    pub bits: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n` or `x:y::z/n`. Host bits after the prefix are ignored.
    pub(crate) fn parse(s: &str) -> Option<Cidr> {
        let (addr, bits) = s.split_once('/')?;
        if bits.is_empty() || !bits.bytes().all(|b| b.is_ascii_digit()) || bits.len() > 3 {
            return None;
        }
        let bits: u8 = bits.parse().ok()?;
        let ip: IpAddr = addr.parse().ok()?;
        let (v, width, v6) = ip_bits(ip);
        if u32::from(bits) > width {
            return None;
        }
        let mask = mask_for(v6, bits);
        Some(Cidr {
            net: v & mask,
            mask,
            v6,
            bits,
        })
    }

    /// Whether `s` is an IP address of the same family inside this network.
    pub(crate) fn contains(&self, s: &str) -> bool {
        parse_ip(s).is_some_and(|(v6, v)| v6 == self.v6 && v & self.mask == self.net)
    }

    /// `(is IPv6, prefix length, network)`: equal keys mean equal networks.
    pub(crate) fn key(&self) -> (bool, u8, u128) {
        (self.v6, self.bits, self.net)
    }
}

/// `(is IPv6, address bits)` of an IP address string.
pub(crate) fn parse_ip(s: &str) -> Option<(bool, u128)> {
    let (v, _, v6) = ip_bits(s.parse().ok()?);
    Some((v6, v))
}

/// The network mask of a prefix length in the family's width.
pub(crate) fn mask_for(v6: bool, bits: u8) -> u128 {
    let width = if v6 { 128 } else { 32 };
    if bits == 0 {
        0
    } else {
        (u128::MAX << (128 - u32::from(bits))) >> (128 - width)
    }
}

fn ip_bits(ip: IpAddr) -> (u128, u32, bool) {
    match ip {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 32, false),
        IpAddr::V6(a) => (u128::from(a), 128, true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_basics() {
        let g = Glob::parse("a*b*c").unwrap();
        assert!(g.matches("abc"));
        assert!(g.matches("axxbyyc"));
        assert!(!g.matches("ac"));
        assert!(Glob::parse("*").unwrap().matches(""));
        assert!(Glob::parse(r"a\*").unwrap().matches("a*"));
        assert!(!Glob::parse(r"a\*").unwrap().matches("ab"));
        assert!(Glob::parse(r"a\\*").unwrap().matches(r"a\xyz"));
        assert_eq!(Glob::parse("a**"), Err(GlobError::ConsecutiveStars));
        assert_eq!(Glob::parse(r"a\b"), Err(GlobError::BadEscape));
        // Overlapping first and last pieces must not share characters.
        assert!(!Glob::parse("ab*ba").unwrap().matches("aba"));
    }

    #[test]
    fn cidr_basics() {
        let c = Cidr::parse("10.0.0.0/24").unwrap();
        assert!(c.contains("10.0.0.255"));
        assert!(!c.contains("10.0.1.0"));
        let c6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(c6.contains("2001:db8::1"));
        assert!(!c6.contains("10.0.0.1"));
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("1.2.3.4"));
    }

    #[test]
    fn java_case_fold() {
        assert_eq!(fold_case("HeLLo"), fold_case("hello"));
        assert_ne!(fold_case("straße"), fold_case("STRASSE"));
        assert_eq!(fold_case("ÄÖÜ"), fold_case("äöü"));
        assert!(fold_eq("HeLLo", &fold_case("hello")));
        assert!(!fold_eq("HeLLo!", &fold_case("hello")));
        // ASCII fast path agrees with the per-character rule.
        let all: String = (0u8..128).map(char::from).collect();
        let slow: String = all.chars().map(fold_char).collect();
        assert_eq!(fold_case(&all), slow);
    }
}
