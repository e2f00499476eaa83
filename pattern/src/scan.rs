//! The event scanner: validates the whole input as `serde_json` would, and on the way
//! records the leaves at fields patterns use and the spans of captured paths, following
//! the matcher's key trie. Everything else (keys no trie node names, and their whole
//! subtrees) goes through the skipping routines of [`crate::skip`], which check the JSON
//! grammar (strings sixteen bytes at a time) without decoding or allocating. Strings
//! without escapes are recorded as byte ranges of the event.
//!
//! A duplicated key on a path the trie knows sets a flag instead of stopping: the scan
//! finishes (validation and captures, where the last value wins), and the caller then
//! takes the leaves from `serde_json`, whose last-value-wins rule applies.

use crate::error::EventError;
use crate::event::{LeafVal, Scratch, Text};
use crate::key_trie::KeyNode;
use crate::skip::{Res, Skipper, Stop, check_number, invalid};
use crate::values::{NUMERIC_MAX, NUMERIC_MIN, NumKey, numeric_value};
use serde_json::Value;

/// Scans `event` into `sc` (which the caller has reset): the event as text, and `true`
/// when a key the trie knows was duplicated in one object (the leaves are then
/// incomplete and must be taken from a full parse).
pub(crate) fn scan<'e>(
    trie: &[KeyNode],
    event: &'e [u8],
    sc: &mut Scratch,
) -> Result<(&'e str, bool), EventError> {
    let bad = |reason: String| EventError { reason };
    // SIMD validation; std's error says where when it fails.
    let s = match simdutf8::basic::from_utf8(event) {
        Ok(s) => s,
        Err(_) => {
            let e = std::str::from_utf8(event).err();
            return Err(bad(format!(
                "not UTF-8: {}",
                e.map_or("invalid UTF-8".to_string(), |e| e.to_string())
            )));
        }
    };
    let mut scanner = Scanner {
        k: Skipper::new(s),
        trie,
        sc,
        next_array: 0,
        duplicate: false,
    };
    scanner.k.ws();
    if scanner.k.peek() != Some(b'{') {
        // Distinguish "valid JSON but not an object" from "not JSON" like serde_json.
        return match serde_json::from_slice::<Value>(event) {
            Ok(_) => Err(bad("the event must be a JSON object".into())),
            Err(e) => Err(bad(format!("not JSON: {e}"))),
        };
    }
    let result = scanner.value(0).and_then(|()| {
        scanner.k.ws();
        if scanner.k.i == event.len() {
            Ok(())
        } else {
            invalid(format!("trailing characters at byte {}", scanner.k.i))
        }
    });
    match result {
        Ok(()) => Ok((s, scanner.duplicate)),
        Err(Stop(reason)) => Err(bad(format!("not JSON: {reason}"))),
    }
}

struct Scanner<'a, 'm> {
    k: Skipper<'a>,
    trie: &'m [KeyNode],
    sc: &'m mut Scratch,
    next_array: u32,
    duplicate: bool,
}

impl Scanner<'_, '_> {
    /// One value at trie node `node`, whitespace already skipped.
    fn value(&mut self, node: u32) -> Res<()> {
        let n = &self.trie[node as usize];
        let (field, capture, nested) = (n.field, n.capture, n.nested());
        let start = self.k.i;
        match self.k.peek() {
            Some(b'{') if nested => self.object(node)?,
            Some(b'[') => self.array(node)?,
            Some(b'"') if field.is_some() => {
                let v = self.string()?;
                self.push(field, v);
            }
            Some(b't') => {
                self.k.word(b"true")?;
                self.push(field, LeafVal::Bool(true));
            }
            Some(b'f') => {
                self.k.word(b"false")?;
                self.push(field, LeafVal::Bool(false));
            }
            Some(b'n') => {
                self.k.word(b"null")?;
                self.push(field, LeafVal::Null);
            }
            Some(b'-' | b'0'..=b'9') => {
                let (text, risky) = self.k.number()?;
                if field.is_some() {
                    let v = number(text)?;
                    self.push(field, v);
                } else if risky {
                    check_number(text)?;
                }
            }
            _ => self.k.skip_value()?,
        }
        if let Some(c) = capture
            && self.sc.stack.is_empty()
        {
            self.sc.captures[c as usize] = Some((start as u32, self.k.i as u32));
        }
        Ok(())
    }

    fn push(&mut self, field: Option<u32>, v: LeafVal) {
        if let Some(f) = field {
            self.sc.push(f, v);
        }
    }

    fn object(&mut self, node: u32) -> Res<()> {
        self.k.enter()?;
        let stamp = self.sc.next_stamp(self.trie.len());
        if self.k.closes_empty(b'}') {
            return Ok(());
        }
        loop {
            self.k.ws();
            if self.k.peek() != Some(b'"') {
                return invalid(format!("expected a key at byte {}", self.k.i));
            }
            let child = self.key(node)?;
            self.k.expect(b':')?;
            self.k.ws();
            match child {
                Some(c) => {
                    let seen = &mut self.sc.seen[c as usize];
                    if *seen == stamp {
                        self.duplicate = true;
                    }
                    *seen = stamp;
                    self.value(c)?;
                }
                None => self.k.skip_value()?,
            }
            if self.k.closes(b'}')? {
                return Ok(());
            }
        }
    }

    /// A key at the opening quote: the trie child it names, if any.
    fn key(&mut self, node: u32) -> Res<Option<u32>> {
        let (start, end, escaped) = self.k.string_span()?;
        let n = &self.trie[node as usize];
        if !escaped {
            return Ok(n.child(&self.k.s[start..end]));
        }
        let mark = self.sc.text.len();
        self.k.decode(start, end, &mut self.sc.text)?;
        let child = n.child(&self.sc.text[mark..]);
        self.sc.text.truncate(mark);
        Ok(child)
    }

    fn array(&mut self, node: u32) -> Res<()> {
        self.k.enter()?;
        let id = self.next_array;
        self.next_array += 1;
        if self.k.closes_empty(b']') {
            return Ok(());
        }
        let mut index = 0u32;
        loop {
            self.sc.stack.push((id, index));
            self.k.ws();
            self.value(node)?;
            self.sc.stack.pop();
            index += 1;
            if self.k.closes(b']')? {
                return Ok(());
            }
        }
    }

    /// A string value at the opening quote, as a range of the event when it has no
    /// escapes, decoded into the scratch text otherwise.
    fn string(&mut self) -> Res<LeafVal> {
        let (start, end, escaped) = self.k.string_span()?;
        if !escaped {
            return Ok(LeafVal::Str(Text::Event, start as u32, end as u32));
        }
        let from = self.sc.text.len();
        self.k.decode(start, end, &mut self.sc.text)?;
        Ok(LeafVal::Str(
            Text::Decoded,
            from as u32,
            self.sc.text.len() as u32,
        ))
    }
}

/// The value of a number the grammar accepted. Plain integers of up to 18 digits are
/// converted directly (exactly what `serde_json` gives for them); everything else goes
/// through `serde_json`'s own number parser, so `matches_json` and `matches_value` see
/// the same value, and out-of-range floats are refused the same way.
fn number(text: &str) -> Res<LeafVal> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.len() <= 18 && digits.bytes().all(|b| b.is_ascii_digit()) && text != "-0" {
        let mut v: i64 = 0;
        for b in digits.bytes() {
            v = v * 10 + i64::from(b - b'0');
        }
        if text.starts_with('-') {
            v = -v;
        }
        let f = v as f64;
        let numeric = (NUMERIC_MIN..=NUMERIC_MAX).contains(&f).then_some(f);
        return Ok(LeafVal::Num(NumKey::Int(i128::from(v)), numeric));
    }
    let n: serde_json::Number =
        serde_json::from_str(text).map_err(|e| Stop(format!("invalid number {text}: {e}")))?;
    Ok(LeafVal::Num(NumKey::of(&n), numeric_value(&n)))
}
