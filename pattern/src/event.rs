//! What matching keeps of one event, in buffers reused from event to event: the leaves
//! at fields patterns use (strings as byte ranges, not copies), their array positions,
//! the captured value spans, and the automaton walk's work lists. After the first few
//! events a [`Scratch`] stops allocating.

use crate::leaf::Leaf;
use crate::values::NumKey;
use std::borrow::Cow;

/// Where a string leaf's text is: in the event bytes (no escapes) or decoded into
/// [`Scratch::text`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Text {
    Event,
    Decoded,
}

/// A scalar event value without borrowing (see [`Leaf`] for the borrowed form).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum LeafVal {
    Str(Text, u32, u32),
    Num(NumKey, Option<f64>),
    Bool(bool),
    Null,
}

/// One event leaf at a field some pattern uses, with its array positions
/// (`mems[mem_start..mem_start + mem_len]`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct EventLeaf {
    pub field: u32,
    pub val: LeafVal,
    pub mem_start: u32,
    pub mem_len: u32,
}

/// Reusable per-event buffers (one per thread for [`crate::Matcher::matches_json`], one
/// per [`crate::Session`]).
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    pub leaves: Vec<EventLeaf>,
    /// `leaves` sorted by field when the scan did not find them in field order.
    pub sorted: Vec<EventLeaf>,
    /// Next free slot per field while sorting.
    pub cursor: Vec<u32>,
    pub mems: Vec<(u32, u32)>,
    /// Array positions of the value being scanned.
    pub stack: Vec<(u32, u32)>,
    /// Decoded strings that had escapes (and, for `matches_value`, every string).
    pub text: String,
    /// Duplicate-key detection: `seen[key node] == seen_stamp` within one object.
    pub seen: Vec<u32>,
    pub seen_stamp: u32,
    /// `starts[f]..starts[f + 1]` index the leaves of field `f` after sorting.
    pub starts: Vec<u32>,
    pub visited: Vec<u32>,
    pub generation: u32,
    pub out: Vec<u32>,
    pub picked: Vec<(u32, u32)>,
    pub targets: Vec<u32>,
    /// Case-folded text of the value being looked up.
    pub fold: String,
    /// Byte span of each captured path's value, last occurrence wins.
    pub captures: Vec<Option<(u32, u32)>>,
}

impl Scratch {
    /// Forgets the previous event, keeping the capacity.
    pub(crate) fn reset(&mut self, captures: usize) {
        self.leaves.clear();
        self.mems.clear();
        self.stack.clear();
        self.text.clear();
        self.captures.clear();
        self.captures.resize(captures, None);
    }

    /// Records a leaf at the current array position.
    pub(crate) fn push(&mut self, field: u32, val: LeafVal) {
        let mem_start = self.mems.len() as u32;
        self.mems.extend_from_slice(&self.stack);
        self.leaves.push(EventLeaf {
            field,
            val,
            mem_start,
            mem_len: self.stack.len() as u32,
        });
    }

    /// Copies `s` into the decoded text and returns its leaf (for values that are not in
    /// the event bytes).
    pub(crate) fn owned_str(&mut self, s: &str) -> LeafVal {
        let start = self.text.len() as u32;
        self.text.push_str(s);
        LeafVal::Str(Text::Decoded, start, self.text.len() as u32)
    }

    /// A fresh stamp for the duplicate-key check of one object.
    pub(crate) fn next_stamp(&mut self, keys: usize) -> u32 {
        if self.seen.len() < keys {
            self.seen.resize(keys, 0);
        }
        self.seen_stamp = self.seen_stamp.wrapping_add(1);
        if self.seen_stamp == 0 {
            self.seen.iter_mut().for_each(|s| *s = 0);
            self.seen_stamp = 1;
        }
        self.seen_stamp
    }
}

/// The borrowed view of a leaf, given the event text and the decoded text.
pub(crate) fn leaf<'a>(val: &LeafVal, event: &'a str, decoded: &'a str) -> Leaf<'a> {
    match *val {
        LeafVal::Str(Text::Event, s, e) => Leaf::Str(Cow::Borrowed(&event[s as usize..e as usize])),
        LeafVal::Str(Text::Decoded, s, e) => {
            Leaf::Str(Cow::Borrowed(&decoded[s as usize..e as usize]))
        }
        LeafVal::Num(k, f) => Leaf::Num(k, f),
        LeafVal::Bool(b) => Leaf::Bool(b),
        LeafVal::Null => Leaf::Null,
    }
}
