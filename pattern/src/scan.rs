//! A JSON scanner for events: validates the whole input as `serde_json` would, but only
//! decodes values under keys some pattern uses; every other subtree is skipped without
//! allocating. Objects with a duplicated key that patterns use fall back to
//! `serde_json` (whose last-value-wins rule then applies).

use crate::error::EventError;
use crate::leaf::Leaf;
use crate::matcher::{EventLeaves, Inner};
use serde_json::Value;
use std::borrow::Cow;

/// Nesting depth `serde_json` refuses (its recursion limit).
const MAX_DEPTH: usize = 128;

enum Stop {
    Invalid(String),
    DuplicateKey,
}

type Res<T> = Result<T, Stop>;

struct Scanner<'a, 'm> {
    b: &'a [u8],
    s: &'a str,
    i: usize,
    depth: usize,
    inner: &'m Inner,
    ev: EventLeaves<'a>,
    stack: Vec<(u32, u32)>,
    next_array: u32,
}

fn invalid<T>(what: impl Into<String>) -> Res<T> {
    Err(Stop::Invalid(what.into()))
}

/// Collects the leaves of a JSON event for the fields the matcher uses.
pub(crate) fn collect<'a>(inner: &Inner, event: &'a [u8]) -> Result<EventLeaves<'a>, EventError> {
    let bad = |reason: String| EventError { reason };
    let s = std::str::from_utf8(event).map_err(|e| bad(format!("not UTF-8: {e}")))?;
    let mut sc = Scanner {
        b: event,
        s,
        i: 0,
        depth: 0,
        inner,
        ev: EventLeaves::default(),
        stack: Vec::new(),
        next_array: 0,
    };
    sc.ws();
    if sc.peek() != Some(b'{') {
        // Distinguish "valid JSON but not an object" from "not JSON" like serde_json.
        return match serde_json::from_slice::<Value>(event) {
            Ok(_) => Err(bad("the event must be a JSON object".into())),
            Err(e) => Err(bad(format!("not JSON: {e}"))),
        };
    }
    let result = sc.value(Some(0)).and_then(|()| {
        sc.ws();
        if sc.i == sc.b.len() {
            Ok(())
        } else {
            invalid(format!("trailing characters at byte {}", sc.i))
        }
    });
    match result {
        Ok(()) => Ok(sc.ev),
        Err(Stop::Invalid(reason)) => Err(bad(format!("not JSON: {reason}"))),
        Err(Stop::DuplicateKey) => {
            let v: Value =
                serde_json::from_slice(event).map_err(|e| bad(format!("not JSON: {e}")))?;
            let mut ev = EventLeaves::default();
            inner.collect_value(&v, 0, &mut Vec::new(), &mut 0, &mut ev);
            Ok(EventLeaves {
                leaves: ev.leaves.into_iter().map(|l| l.into_owned()).collect(),
                mems: ev.mems,
            })
        }
    }
}

impl<'a> Scanner<'a, '_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Res<()> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            invalid(format!("expected '{}' at byte {}", c as char, self.i))
        }
    }

    fn field_of(&self, node: Option<u32>) -> Option<u32> {
        node.and_then(|n| self.inner.trie[n as usize].field)
    }

    /// One value; `node` is the key-trie node for its path (`None`: nobody cares, skip).
    fn value(&mut self, node: Option<u32>) -> Res<()> {
        self.ws();
        match self.peek() {
            Some(b'{') => self.object(node),
            Some(b'[') => self.array(node),
            Some(b'"') => {
                let want = self.field_of(node);
                let s = self.string(want.is_some())?;
                if let (Some(f), Some(s)) = (want, s) {
                    self.ev.push(f, Leaf::Str(s), &self.stack);
                }
                Ok(())
            }
            Some(b't') => self.literal(b"true", node, Leaf::Bool(true)),
            Some(b'f') => self.literal(b"false", node, Leaf::Bool(false)),
            Some(b'n') => self.literal(b"null", node, Leaf::Null),
            Some(b'-' | b'0'..=b'9') => self.number(node),
            Some(c) => invalid(format!("unexpected '{}' at byte {}", c as char, self.i)),
            None => invalid("unexpected end of input"),
        }
    }

    fn enter(&mut self) -> Res<()> {
        self.depth += 1;
        if self.depth >= MAX_DEPTH {
            return invalid("recursion limit exceeded");
        }
        self.i += 1;
        Ok(())
    }

    fn object(&mut self, node: Option<u32>) -> Res<()> {
        self.enter()?;
        let node = node.filter(|&n| !self.inner.trie[n as usize].children.is_empty());
        let mut seen: Vec<u32> = Vec::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return invalid(format!("expected a key at byte {}", self.i));
            }
            let key = self.string(node.is_some())?;
            let child = match (node, key) {
                (Some(n), Some(k)) => self.inner.trie[n as usize]
                    .children
                    .get(k.as_ref())
                    .copied(),
                _ => None,
            };
            if let Some(c) = child {
                if seen.contains(&c) {
                    return Err(Stop::DuplicateKey);
                }
                seen.push(c);
            }
            self.ws();
            self.expect(b':')?;
            self.value(child)?;
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                _ => return invalid(format!("expected ',' or '}}' at byte {}", self.i)),
            }
        }
    }

    fn array(&mut self, node: Option<u32>) -> Res<()> {
        self.enter()?;
        let id = self.next_array;
        self.next_array += 1;
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            self.depth -= 1;
            return Ok(());
        }
        let mut index = 0u32;
        loop {
            if node.is_some() {
                self.stack.push((id, index));
            }
            self.value(node)?;
            if node.is_some() {
                self.stack.pop();
            }
            index += 1;
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                _ => return invalid(format!("expected ',' or ']' at byte {}", self.i)),
            }
        }
    }

    fn literal(&mut self, word: &[u8], node: Option<u32>, leaf: Leaf<'a>) -> Res<()> {
        if !self.b[self.i..].starts_with(word) {
            return invalid(format!("invalid literal at byte {}", self.i));
        }
        self.i += word.len();
        if let Some(f) = self.field_of(node) {
            self.ev.push(f, leaf, &self.stack);
        }
        Ok(())
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self, node: Option<u32>) -> Res<()> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return invalid(format!("invalid number at byte {start}")),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return invalid(format!("invalid number at byte {start}"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return invalid(format!("invalid number at byte {start}"));
            }
        }
        let text = &self.s[start..self.i];
        // serde_json's own number parser, so `matches_json` and `matches_value` see the
        // same value (its float parsing is not always the correctly rounded one).
        let n: serde_json::Number = serde_json::from_str(text)
            .map_err(|e| Stop::Invalid(format!("invalid number at byte {start}: {e}")))?;
        if let Some(f) = self.field_of(node) {
            self.ev.push(f, Leaf::number(&n), &self.stack);
        }
        Ok(())
    }

    /// A string starting at the opening quote; decoded only when `want`.
    fn string(&mut self, want: bool) -> Res<Option<Cow<'a, str>>> {
        self.i += 1;
        let start = self.i;
        let mut seg = start;
        let mut owned: Option<String> = None;
        loop {
            let Some(c) = self.peek() else {
                return invalid("unterminated string");
            };
            match c {
                b'"' => {
                    let end = self.i;
                    self.i += 1;
                    if !want {
                        return Ok(None);
                    }
                    return Ok(Some(match owned {
                        Some(mut o) => {
                            o.push_str(&self.s[seg..end]);
                            Cow::Owned(o)
                        }
                        None => Cow::Borrowed(&self.s[start..end]),
                    }));
                }
                b'\\' => {
                    let run = &self.s[seg..self.i];
                    let ch = self.escape()?;
                    if want {
                        let o = owned.get_or_insert_with(String::new);
                        o.push_str(run);
                        o.push(ch);
                    }
                    seg = self.i;
                }
                0x00..=0x1f => {
                    return invalid(format!("control character in string at byte {}", self.i));
                }
                _ => {
                    self.i += 1;
                    self.skip_plain();
                }
            }
        }
    }

    /// Skips 8 bytes at a time while none of them is `"`, `\\` or a control character.
    #[inline]
    fn skip_plain(&mut self) {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGH: u64 = 0x8080_8080_8080_8080;
        fn has_zero(x: u64) -> bool {
            x.wrapping_sub(ONES) & !x & HIGH != 0
        }
        while let Some(chunk) = self.b.get(self.i..self.i + 8) {
            let x = u64::from_le_bytes(chunk.try_into().expect("slice of 8 bytes"));
            let special = has_zero(x ^ (ONES * u64::from(b'"')))
                || has_zero(x ^ (ONES * u64::from(b'\\')))
                || x.wrapping_sub(ONES * 0x20) & !x & HIGH != 0;
            if special {
                return;
            }
            self.i += 8;
        }
    }

    fn hex4(&mut self) -> Res<u32> {
        let digits = self
            .b
            .get(self.i..self.i + 4)
            .ok_or(Stop::Invalid("truncated \\u escape".into()))?;
        let mut v = 0u32;
        for &d in digits {
            let x = (d as char).to_digit(16).ok_or(Stop::Invalid(format!(
                "invalid \\u escape at byte {}",
                self.i
            )))?;
            v = v * 16 + x;
        }
        self.i += 4;
        Ok(v)
    }

    /// Decodes one escape starting at the backslash, as serde_json does (lone surrogates
    /// are errors).
    fn escape(&mut self) -> Res<char> {
        self.i += 1;
        let Some(c) = self.peek() else {
            return invalid("unterminated escape");
        };
        self.i += 1;
        Ok(match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hi = self.hex4()?;
                match hi {
                    0xD800..=0xDBFF => {
                        if self.b.get(self.i..self.i + 2) != Some(b"\\u") {
                            return invalid("lone leading surrogate in hex escape");
                        }
                        self.i += 2;
                        let lo = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&lo) {
                            return invalid("lone leading surrogate in hex escape");
                        }
                        let cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                        char::from_u32(cp).ok_or(Stop::Invalid("invalid surrogate pair".into()))?
                    }
                    0xDC00..=0xDFFF => return invalid("lone trailing surrogate in hex escape"),
                    cp => char::from_u32(cp).ok_or(Stop::Invalid("invalid \\u escape".into()))?,
                }
            }
            _ => return invalid(format!("invalid escape at byte {}", self.i - 1)),
        })
    }
}
