//! JSON grammar checks at byte level, for the event scanner: skipping a value while
//! validating it exactly as `serde_json` would (strings eight bytes at a time, looking
//! only for quotes, backslashes and control characters; escapes and surrogate pairs
//! checked; numbers by grammar, and through `serde_json` only when they could overflow),
//! and the string and number primitives the scanner shares. UTF-8 is checked once for
//! the whole input before any of this runs.

/// Nesting depth `serde_json` refuses (its recursion limit).
const MAX_DEPTH: usize = 128;

/// Why the input is not JSON.
pub(crate) struct Stop(pub String);

pub(crate) type Res<T> = Result<T, Stop>;

pub(crate) fn invalid<T>(what: impl Into<String>) -> Res<T> {
    Err(Stop(what.into()))
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// High bit set in each byte of `x` that is `"`, `\\` or below 0x20 (exact for the
/// lowest such byte; bits above it may be spurious, which is all the caller needs).
#[inline(always)]
fn special(x: u64) -> u64 {
    let q = x ^ (ONES * u64::from(b'"'));
    let bs = x ^ (ONES * u64::from(b'\\'));
    let zq = q.wrapping_sub(ONES) & !q;
    let zb = bs.wrapping_sub(ONES) & !bs;
    let ctl = x.wrapping_sub(ONES * 0x20) & !x;
    (zq | zb | ctl) & HIGH
}

/// The index of the first byte at or after `i` that ends a run of plain string content
/// (`"`, `\\` or a control character), or `b.len()`. Sixteen bytes per step with SSE2
/// (always present on x86-64), eight with plain integer arithmetic elsewhere.
#[inline(always)]
fn find_special(b: &[u8], mut i: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: SSE2 is part of the x86-64 baseline, so the CPU has it.
        i = unsafe { find_special_sse2(b, i) };
        if i + 16 <= b.len() {
            return i; // found: the loop only stops early on a hit
        }
    }
    while let Some(chunk) = b.get(i..i + 8).and_then(|c| <[u8; 8]>::try_from(c).ok()) {
        let m = special(u64::from_le_bytes(chunk));
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if c == b'"' || c == b'\\' || c < 0x20 {
            return i;
        }
        i += 1;
    }
    i
}

/// [`find_special`] sixteen bytes at a time; stops before the last (partial) chunk.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
#[inline]
fn find_special_sse2(b: &[u8], mut i: usize) -> usize {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    let quote = _mm_set1_epi8(b'"' as i8);
    let backslash = _mm_set1_epi8(b'\\' as i8);
    let low = _mm_set1_epi8(0x1f);
    while let Some(chunk) = b.get(i..i + 16) {
        // SAFETY: `chunk` is 16 readable bytes, and `_mm_loadu_si128` has no alignment
        // requirement.
        let x = unsafe { _mm_loadu_si128(chunk.as_ptr().cast()) };
        // max(x, 0x1f) == 0x1f exactly for the (unsigned) bytes below 0x20.
        let hits = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, backslash)),
            _mm_cmpeq_epi8(_mm_max_epu8(x, low), low),
        );
        let mask = _mm_movemask_epi8(hits) as u32;
        if mask != 0 {
            return i + mask.trailing_zeros() as usize;
        }
        i += 16;
    }
    i
}

/// A cursor over validated UTF-8 event text.
pub(crate) struct Skipper<'a> {
    pub s: &'a str,
    pub b: &'a [u8],
    pub i: usize,
    pub depth: usize,
}

impl<'a> Skipper<'a> {
    pub(crate) fn new(s: &'a str) -> Self {
        Skipper {
            s,
            b: s.as_bytes(),
            i: 0,
            depth: 0,
        }
    }

    #[inline]
    pub(crate) fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline(always)]
    pub(crate) fn ws(&mut self) {
        // Compact JSON has none: one comparison decides.
        while let Some(&c) = self.b.get(self.i) {
            if c > b' ' || !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                return;
            }
            self.i += 1;
        }
    }

    /// Whitespace, then the byte `c`.
    #[inline(always)]
    pub(crate) fn expect(&mut self, c: u8) -> Res<()> {
        if self.peek() != Some(c) {
            self.ws();
            if self.peek() != Some(c) {
                return invalid(format!("expected '{}' at byte {}", c as char, self.i));
            }
        }
        self.i += 1;
        Ok(())
    }

    /// Steps into an object or array.
    pub(crate) fn enter(&mut self) -> Res<()> {
        self.depth += 1;
        if self.depth >= MAX_DEPTH {
            return invalid("recursion limit exceeded");
        }
        self.i += 1;
        Ok(())
    }

    pub(crate) fn word(&mut self, w: &[u8]) -> Res<()> {
        if self.b[self.i..].starts_with(w) {
            self.i += w.len();
            Ok(())
        } else {
            invalid(format!("invalid literal at byte {}", self.i))
        }
    }

    /// After `enter`: whether the container closes at once (`{}` or `[]`, consumed).
    #[inline(always)]
    pub(crate) fn closes_empty(&mut self, close: u8) -> bool {
        self.ws();
        if self.peek() == Some(close) {
            self.i += 1;
            self.depth -= 1;
            return true;
        }
        false
    }

    /// After a member or element: `true` at the container's end (consumed), `false`
    /// after a comma.
    #[inline(always)]
    pub(crate) fn closes(&mut self, close: u8) -> Res<bool> {
        self.ws();
        match self.peek() {
            Some(b',') => {
                self.i += 1;
                Ok(false)
            }
            Some(c) if c == close => {
                self.i += 1;
                self.depth -= 1;
                Ok(true)
            }
            _ => invalid(format!(
                "expected ',' or '{}' at byte {}",
                close as char, self.i
            )),
        }
    }

    /// Skips one value (whitespace before it already skipped), validating it.
    pub(crate) fn skip_value(&mut self) -> Res<()> {
        match self.peek() {
            Some(b'"') => self.string_span().map(drop),
            Some(b'{') => self.skip_object(),
            Some(b'[') => self.skip_array(),
            Some(b't') => self.word(b"true"),
            Some(b'f') => self.word(b"false"),
            Some(b'n') => self.word(b"null"),
            Some(b'-' | b'0'..=b'9') => {
                let (text, risky) = self.number()?;
                if risky {
                    check_number(text)?;
                }
                Ok(())
            }
            Some(c) => invalid(format!("unexpected '{}' at byte {}", c as char, self.i)),
            None => invalid("unexpected end of input"),
        }
    }

    fn skip_object(&mut self) -> Res<()> {
        self.enter()?;
        if self.closes_empty(b'}') {
            return Ok(());
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return invalid(format!("expected a key at byte {}", self.i));
            }
            self.string_span()?;
            self.expect(b':')?;
            self.ws();
            self.skip_value()?;
            if self.closes(b'}')? {
                return Ok(());
            }
        }
    }

    fn skip_array(&mut self) -> Res<()> {
        self.enter()?;
        if self.closes_empty(b']') {
            return Ok(());
        }
        loop {
            self.ws();
            self.skip_value()?;
            if self.closes(b']')? {
                return Ok(());
            }
        }
    }

    /// A string at its opening quote: `(start, end, has escapes)` of its content, with the
    /// cursor after the closing quote.
    #[inline(always)]
    pub(crate) fn string_span(&mut self) -> Res<(usize, usize, bool)> {
        self.i += 1;
        let start = self.i;
        let mut escaped = false;
        loop {
            self.i = find_special(self.b, self.i);
            match self.peek() {
                None => return invalid("unterminated string"),
                Some(b'"') => {
                    let end = self.i;
                    self.i += 1;
                    return Ok((start, end, escaped));
                }
                Some(b'\\') => {
                    escaped = true;
                    self.escape()?;
                }
                Some(_) => {
                    return invalid(format!("control character in string at byte {}", self.i));
                }
            }
        }
    }

    /// Appends the decoded content of a string whose span `string_span` accepted.
    pub(crate) fn decode(&self, start: usize, end: usize, out: &mut String) -> Res<()> {
        let mut sub = Skipper {
            s: self.s,
            b: self.b,
            i: start,
            depth: 0,
        };
        let mut seg = start;
        while sub.i < end {
            if sub.b[sub.i] == b'\\' {
                out.push_str(&self.s[seg..sub.i]);
                out.push(sub.escape()?);
                seg = sub.i;
            } else {
                sub.i += 1;
            }
        }
        out.push_str(&self.s[seg..end]);
        Ok(())
    }

    fn hex4(&mut self) -> Res<u32> {
        let digits = self
            .b
            .get(self.i..self.i + 4)
            .ok_or_else(|| Stop("truncated \\u escape".into()))?;
        let mut v = 0u32;
        for &d in digits {
            let x = (d as char)
                .to_digit(16)
                .ok_or_else(|| Stop(format!("invalid \\u escape at byte {}", self.i)))?;
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
                        char::from_u32(cp).ok_or_else(|| Stop("invalid surrogate pair".into()))?
                    }
                    0xDC00..=0xDFFF => return invalid("lone trailing surrogate in hex escape"),
                    cp => char::from_u32(cp).ok_or_else(|| Stop("invalid \\u escape".into()))?,
                }
            }
            _ => return invalid(format!("invalid escape at byte {}", self.i - 1)),
        })
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - start
    }

    /// A number by the JSON grammar: its text, and whether it could overflow `f64` (it
    /// has an exponent or more than 300 integer digits; see [`check_number`]).
    #[inline]
    pub(crate) fn number(&mut self) -> Res<(&'a str, bool)> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let int_digits = match self.peek() {
            Some(b'0') => {
                self.i += 1;
                1
            }
            Some(b'1'..=b'9') => self.digits(),
            _ => return invalid(format!("invalid number at byte {start}")),
        };
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return invalid(format!("invalid number at byte {start}"));
            }
        }
        let mut risky = int_digits > 300;
        if let Some(b'e' | b'E') = self.peek() {
            risky = true;
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return invalid(format!("invalid number at byte {start}"));
            }
        }
        Ok((&self.s[start..self.i], risky))
    }
}

/// Refuses what `serde_json` refuses among grammatical numbers: values that overflow
/// `f64` (only the ones [`Skipper::number`] calls risky can).
pub(crate) fn check_number(text: &str) -> Res<()> {
    serde_json::from_str::<serde_json::Number>(text)
        .map(drop)
        .map_err(|e| Stop(format!("invalid number {text}: {e}")))
}
