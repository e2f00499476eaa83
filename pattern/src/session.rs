//! The hot-path API: a [`Session`] owns its buffers, so matching an event allocates
//! nothing once the buffers have grown, and returns both the matched rule ids and the
//! values at captured paths, so the caller need not parse the event again.
//!
//! ```
//! use trailmark_pattern::{MatcherBuilder, Pattern, StateChangeCaptures};
//!
//! let mut b = MatcherBuilder::new();
//! b.add(1, &Pattern::parse_str(r#"{"detail": {"operation": ["delete"]}}"#).unwrap());
//! let fields = StateChangeCaptures::register(&mut b);
//! let mut session = b.build().session();
//!
//! let event = br#"{"detail-type": "Object State Change", "detail": {"entity-type": "book",
//!     "entity-id": "b-1", "operation": "delete", "ts": 1790000000000,
//!     "author": "ann@example.com", "data": {"title": "T"}}}"#;
//! let m = session.matches(event).unwrap();
//! assert_eq!(m.rules(), &[1]);
//! let sc = fields.read(&m);
//! assert_eq!(sc.entity_id.as_deref(), Some("b-1"));
//! assert_eq!(sc.ts.and_then(|t| t.as_u64()), Some(1790000000000));
//! assert_eq!(&event[sc.data.unwrap()], br#"{"title": "T"}"#);
//! ```

use crate::error::EventError;
use crate::event::Scratch;
use crate::matcher::{CaptureId, Inner, Matcher, MatcherBuilder};
use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

/// A matcher with its own reusable buffers. One per thread or task; cheap to create
/// (the matcher is shared), and it keeps the buffers' capacity between events.
#[derive(Debug)]
pub struct Session {
    inner: Arc<Inner>,
    scratch: Scratch,
}

// Here rather than in `matcher.rs`, so that the matcher does not depend on the
// sessions made from it.
impl Matcher {
    /// A matching session with its own buffers, for a hot loop: see [`Session`].
    pub fn session(&self) -> Session {
        Session {
            inner: Arc::clone(&self.inner),
            scratch: Scratch::default(),
        }
    }
}

impl Session {
    /// Matches a JSON event, validated as [`crate::Matcher::matches_json`] does (the same
    /// errors, the same ids). The result borrows the session's buffers and the event.
    pub fn matches<'s, 'e>(&'s mut self, event: &'e [u8]) -> Result<Matched<'s, 'e>, EventError> {
        self.inner.match_bytes(event, &mut self.scratch)?;
        Ok(Matched {
            rules: &self.scratch.out,
            captures: &self.scratch.captures,
            event,
        })
    }
}

/// The outcome of [`Session::matches`].
#[derive(Debug, Clone, Copy)]
pub struct Matched<'s, 'e> {
    rules: &'s [u32],
    captures: &'s [Option<(u32, u32)>],
    event: &'e [u8],
}

impl<'e> Matched<'_, 'e> {
    /// Ids of the matching patterns, sorted and deduplicated.
    pub fn rules(&self) -> &[u32] {
        self.rules
    }

    /// The value at a captured path, when the event has one there (outside arrays; for
    /// a key repeated in one object, the last value, as `serde_json` reads it).
    pub fn capture(&self, id: CaptureId) -> Option<Captured<'e>> {
        let (start, end) = (*self.captures.get(id.0 as usize)?)?;
        Some(Captured {
            event: self.event,
            start: start as usize,
            end: end as usize,
        })
    }
}

/// One captured value: a span of the event's bytes holding valid JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Captured<'e> {
    event: &'e [u8],
    start: usize,
    end: usize,
}

impl<'e> Captured<'e> {
    /// Where the value's JSON text is in the event.
    pub fn span(&self) -> Range<usize> {
        self.start..self.end
    }

    /// The value's JSON text (for an object, `{...}` exactly as in the event).
    pub fn raw(&self) -> &'e [u8] {
        &self.event[self.start..self.end]
    }

    /// The decoded string when the value is a JSON string (borrowed when it has no
    /// escapes); `None` for other types.
    pub fn as_str(&self) -> Option<Cow<'e, str>> {
        let raw = self.raw();
        let inner = raw.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
        if !inner.contains(&b'\\') {
            return std::str::from_utf8(inner).ok().map(Cow::Borrowed);
        }
        serde_json::from_slice::<String>(raw).ok().map(Cow::Owned)
    }

    fn number(&self) -> Option<serde_json::Number> {
        match self.raw().first() {
            Some(b'-' | b'0'..=b'9') => serde_json::from_slice(self.raw()).ok(),
            _ => None,
        }
    }

    /// The value when it is a JSON number that fits a `u64`.
    pub fn as_u64(&self) -> Option<u64> {
        self.number()?.as_u64()
    }

    /// The value when it is a JSON number that fits an `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        self.number()?.as_i64()
    }

    /// The value when it is a JSON number, as `f64`.
    pub fn as_f64(&self) -> Option<f64> {
        self.number()?.as_f64()
    }
}

/// The captures an `Object State Change` event's consumers need: `detail.entity-type`,
/// `detail.entity-id`, `detail.operation`, `detail.ts`, `detail.author`, and the spans
/// of `detail` and `detail.data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateChangeCaptures {
    /// `detail.entity-type`
    pub entity_type: CaptureId,
    /// `detail.entity-id`
    pub entity_id: CaptureId,
    /// `detail.operation`
    pub operation: CaptureId,
    /// `detail.ts`
    pub ts: CaptureId,
    /// `detail.author`
    pub author: CaptureId,
    /// `detail`
    pub detail: CaptureId,
    /// `detail.data`
    pub data: CaptureId,
}

/// What [`StateChangeCaptures::read`] found in one event; `None` where the event has
/// no value (or, for the strings, a value that is not a string).
#[derive(Debug, Clone, PartialEq)]
pub struct StateChangeFields<'e> {
    /// `detail.entity-type`
    pub entity_type: Option<Cow<'e, str>>,
    /// `detail.entity-id`
    pub entity_id: Option<Cow<'e, str>>,
    /// `detail.operation`
    pub operation: Option<Cow<'e, str>>,
    /// `detail.ts`, of whatever JSON type the event gives it (epoch number or text).
    pub ts: Option<Captured<'e>>,
    /// `detail.author`
    pub author: Option<Cow<'e, str>>,
    /// Byte range of `detail`'s JSON text in the event.
    pub detail: Option<Range<usize>>,
    /// Byte range of `detail.data`'s JSON text in the event.
    pub data: Option<Range<usize>>,
}

impl StateChangeCaptures {
    /// Registers the seven paths with the builder.
    pub fn register(b: &mut MatcherBuilder) -> Self {
        StateChangeCaptures {
            entity_type: b.capture(&["detail", "entity-type"]),
            entity_id: b.capture(&["detail", "entity-id"]),
            operation: b.capture(&["detail", "operation"]),
            ts: b.capture(&["detail", "ts"]),
            author: b.capture(&["detail", "author"]),
            detail: b.capture(&["detail"]),
            data: b.capture(&["detail", "data"]),
        }
    }

    /// The fields of one matched event.
    pub fn read<'e>(&self, m: &Matched<'_, 'e>) -> StateChangeFields<'e> {
        let text = |id| m.capture(id).and_then(|c| c.as_str());
        StateChangeFields {
            entity_type: text(self.entity_type),
            entity_id: text(self.entity_id),
            operation: text(self.operation),
            ts: m.capture(self.ts),
            author: text(self.author),
            detail: m.capture(self.detail).map(|c| c.span()),
            data: m.capture(self.data).map(|c| c.span()),
        }
    }
}
