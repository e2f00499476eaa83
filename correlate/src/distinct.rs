//! `value_count`'s window: the most recently seen distinct values, laid out
//! so that an event reads a few of the window's cache lines, and can ask
//! for all of them at once.
//!
//! At 100k groups a window is out of the caches on every event, and what an
//! event costs follows how many of the window's lines it reads, and how many
//! of those reads wait on another (BENCHMARKS.md, "Correlation, seventh and
//! eighth rounds"): a scan of 50 values of 40 bytes read about 32 lines. Here
//! the values are kept in order of (last seen, digest), in a ring, so the
//! least recent is at the head, the latest at the tail, and the first still
//! in the window at a mark that moves forward as the window slides. The
//! ring's head, length, capacity and mark are kept in the group's slot, so
//! the address of each of those values is known before the window is read.
//! One allocation of 64-bit words holds:
//!
//! - a header: the first time, and the window start the mark was moved to;
//! - a tag byte per slot (the top byte of its value's digest), read eight
//!   at a time to find a value, and a kind byte per slot (how its id is
//!   packed);
//! - the values, 4 words each (digest, last seen, the id's 16 bytes),
//!   starting on a 32-byte boundary so that none straddles a cache line.
//!
//! An event with a new value reads the tags (two lines for 50 values), the
//! head, the tail and the mark's value: five lines, none waiting on another.
//! 50 values take 1,728 bytes, in the allocator's 2 KiB class as before.
//! A value seen again moves to the tail, shifting the values after it.
//!
//! Ids that do not pack into 16 bytes (texts of 17 bytes or more that are
//! neither UUIDs nor fire ids) are kept beside, by slot.

use std::fmt;

use bytemuck::{cast_slice, cast_slice_mut};
use serde::{Deserialize, Serialize};

use crate::event_id::EventId;
use crate::model::Millis;
use crate::state::{Seen, Summary, ids_of};

/// Header word: when the first counted event happened.
const FIRST: usize = 0;
/// Header word: the window start the mark was last moved to.
const MARK_SINCE: usize = 1;
/// Words before the tags.
const HEADER: usize = 2;
/// Words per value.
const VALUE: usize = 4;
/// The kind byte of an id kept beside (see [`EventId::pack`] for the rest).
const LONG: u8 = u8::MAX;
/// Most values a window keeps (its counters are 16-bit); thresholds stop
/// far below, at [`crate::MAX_THRESHOLD`].
const MAX_VALUES: usize = u16::MAX as usize;

const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Where the values start for `cap` of them: after the header and a tag
/// and a kind byte per value, on a 32-byte boundary.
fn values_at(cap: usize) -> usize {
    (HEADER + (2 * cap).div_ceil(8)).next_multiple_of(VALUE)
}

/// A value's tag: its digest's top byte.
fn tag_of(digest: u64) -> u8 {
    (digest >> 56) as u8
}

/// Distinct values for `value_count`: each value's digest, when it was last
/// seen and the id of that event, at most `keep` of them, in order of (last
/// seen, digest) from `head` (see the module docs for the layout).
#[derive(Clone, Default)]
pub(crate) struct Distinct {
    /// Header, tags, kinds and values; empty before the first event.
    words: Box<[u64]>,
    /// Ids that do not pack, by slot (`None` until there is one).
    long: Option<Box<[Option<EventId>]>>,
    /// The slot of the least recent value.
    head: u16,
    len: u16,
    cap: u16,
    /// How many values were last seen before the header's `MARK_SINCE`.
    mark: u16,
}

/// How a snapshot holds [`Distinct`] (the form every version wrote).
#[derive(Serialize, Deserialize)]
struct DistinctForm {
    first: Option<Millis>,
    values: Vec<(u64, Seen)>,
}

impl Distinct {
    /// Count one value. A sliding window keeps the `keep` most recently
    /// seen values (if `keep` of them are in the window, the count holds);
    /// a closing window keeps the first `keep` (more would decide nothing).
    /// `since` is the window's start, for the next [`Distinct::count`].
    pub(crate) fn add(
        &mut self,
        digest: u64,
        seen: Seen,
        keep: usize,
        sliding: bool,
        since: Millis,
    ) {
        let keep = keep.min(MAX_VALUES);
        if self.words.is_empty() {
            self.resize(0);
            self.words[FIRST] = seen.time as u64;
        }
        let len = usize::from(self.len);
        if let Some(i) = self.find(digest) {
            self.remove(i);
            self.insert(digest, seen);
        } else if len < keep {
            if len == usize::from(self.cap) {
                // Doubling, but never past `keep`: a full window is one
                // buffer of exactly `keep` values.
                self.resize((2 * len).clamp(4, keep.max(4)).min(keep));
            }
            self.insert(digest, seen);
        } else if sliding && len > 0 && (seen.time, digest) > self.key(self.slot(0)) {
            // Keep the `keep` latest by (last seen, digest): a total order,
            // so the kept set does not depend on the order of equal times.
            // The new value takes the least recent's slot.
            self.remove(0);
            self.insert(digest, seen);
        }
        self.move_mark(since);
    }

    /// How many kept values were last seen at or after `since`.
    pub(crate) fn count(&self, since: Millis) -> u64 {
        let len = usize::from(self.len);
        if len == 0 {
            return 0;
        }
        let before = if since == self.mark_since() {
            usize::from(self.mark)
        } else {
            // The first in order last seen at or after `since`.
            let (mut lo, mut hi) = (0, len);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if self.time(self.slot(mid)) < since {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            lo
        };
        (len - before) as u64
    }

    /// The window summary a fire at `since` reports.
    pub(crate) fn summary(&self, since: Millis) -> Option<Summary> {
        let mut within: Vec<(Millis, EventId)> = self
            .values()
            .filter(|(_, seen)| seen.time >= since)
            .map(|(_, seen)| (seen.time, seen.id))
            .collect();
        within.sort();
        let first = if since == Millis::MIN {
            self.first()?
        } else {
            within.first()?.0
        };
        Some(Summary {
            count: within.len() as u64,
            first,
            ids: ids_of(within.iter().map(|(_, id)| id)),
        })
    }

    /// When the first counted event happened.
    fn first(&self) -> Option<Millis> {
        self.words.get(FIRST).map(|&w| w as Millis)
    }

    fn mark_since(&self) -> Millis {
        self.words
            .get(MARK_SINCE)
            .map_or(Millis::MIN, |&w| w as Millis)
    }

    /// The slot of the `i`th value in order (`i < cap`).
    fn slot(&self, i: usize) -> usize {
        let (at, cap) = (usize::from(self.head) + i, usize::from(self.cap));
        if at >= cap { at - cap } else { at }
    }

    /// Tags and kinds.
    fn index_mut(&mut self) -> (&mut [u8], &mut [u8]) {
        let cap = usize::from(self.cap);
        let bytes: &mut [u8] = cast_slice_mut(&mut self.words[HEADER..values_at(cap)]);
        let (tags, rest) = bytes.split_at_mut(cap);
        (tags, &mut rest[..cap])
    }

    fn kind(&self, at: usize) -> u8 {
        let bytes: &[u8] = cast_slice(&self.words[HEADER..]);
        bytes[usize::from(self.cap) + at]
    }

    fn value(&self, at: usize) -> &[u64] {
        let start = values_at(usize::from(self.cap)) + VALUE * at;
        &self.words[start..start + VALUE]
    }

    fn digest(&self, at: usize) -> u64 {
        self.value(at)[0]
    }

    fn time(&self, at: usize) -> Millis {
        self.value(at)[1] as Millis
    }

    /// What the order sorts by.
    fn key(&self, at: usize) -> (Millis, u64) {
        let value = self.value(at);
        (value[1] as Millis, value[0])
    }

    fn id(&self, at: usize) -> EventId {
        let kind = self.kind(at);
        if kind == LONG {
            return self
                .long
                .as_ref()
                .and_then(|long| long[at].clone())
                .expect("a long id is kept beside");
        }
        let value = self.value(at);
        let mut packed = [0u8; 16];
        packed[..8].copy_from_slice(&value[2].to_ne_bytes());
        packed[8..].copy_from_slice(&value[3].to_ne_bytes());
        EventId::unpack(kind, packed).expect("a packed id's kind")
    }

    /// The place in order of the value with `digest`: the tags are compared
    /// eight at a time, and a matching tag confirmed against the digest.
    fn find(&self, digest: u64) -> Option<usize> {
        let (cap, len) = (usize::from(self.cap), usize::from(self.len));
        if len == 0 {
            return None;
        }
        let pattern = u64::from(tag_of(digest)) * LOW_BITS;
        let tag_words = &self.words[HEADER..HEADER + cap.div_ceil(8)];
        for (w, &tags) in tag_words.iter().enumerate() {
            // Byte k of the tags is bits 8k.. of the little-endian word.
            let x = u64::from_le(tags) ^ pattern;
            // A byte of `x` that is zero is a matching tag; the lowest flag
            // is always one, those above it may not be (and are checked).
            let mut hits = x.wrapping_sub(LOW_BITS) & !x & HIGH_BITS;
            while hits != 0 {
                let at = w * 8 + (hits.trailing_zeros() / 8) as usize;
                hits &= hits - 1;
                if at >= cap {
                    break;
                }
                let i = (at + cap - usize::from(self.head)) % cap;
                if i < len && self.digest(at) == digest {
                    return Some(i);
                }
            }
        }
        None
    }

    /// Write a value into slot `at` (its tag, kind, digest, time and id).
    fn set_value(&mut self, at: usize, digest: u64, seen: Seen) {
        let packed = seen.id.pack();
        let start = values_at(usize::from(self.cap)) + VALUE * at;
        let value = &mut self.words[start..start + VALUE];
        value[0] = digest;
        value[1] = seen.time as u64;
        if let Some((_, bytes)) = packed {
            let (a, b) = bytes.split_at(8);
            value[2] = u64::from_ne_bytes(a.try_into().expect("8 bytes"));
            value[3] = u64::from_ne_bytes(b.try_into().expect("8 bytes"));
        }
        let cap = usize::from(self.cap);
        let (tags, kinds) = self.index_mut();
        tags[at] = tag_of(digest);
        kinds[at] = packed.map_or(LONG, |(kind, _)| kind);
        match packed {
            Some(_) => {
                if let Some(long) = &mut self.long {
                    long[at] = None;
                }
            }
            None => {
                let long = self
                    .long
                    .get_or_insert_with(|| vec![None; cap].into_boxed_slice());
                long[at] = Some(seen.id);
            }
        }
    }

    /// Move the value in slot `from` to slot `to`.
    fn shift(&mut self, from: usize, to: usize) {
        let values = values_at(usize::from(self.cap));
        self.words.copy_within(
            values + VALUE * from..values + VALUE * (from + 1),
            values + VALUE * to,
        );
        let (tags, kinds) = self.index_mut();
        tags[to] = tags[from];
        kinds[to] = kinds[from];
        if let Some(long) = &mut self.long {
            long[to] = long[from].take();
        }
    }

    /// Take the `i`th value in order out, shifting the shorter side.
    fn remove(&mut self, i: usize) {
        let len = usize::from(self.len);
        if self.time(self.slot(i)) < self.mark_since() {
            self.mark -= 1;
        }
        if i < len - 1 - i {
            for j in (1..=i).rev() {
                self.shift(self.slot(j - 1), self.slot(j));
            }
            self.head = self.slot(1) as u16;
        } else {
            for j in i..len - 1 {
                self.shift(self.slot(j + 1), self.slot(j));
            }
        }
        self.len -= 1;
    }

    /// Put a value in its place in order (there is room for it): from the
    /// tail, where a window's latest value goes.
    fn insert(&mut self, digest: u64, seen: Seen) {
        let len = usize::from(self.len);
        let key = (seen.time, digest);
        let mut i = len;
        while i > 0 && self.key(self.slot(i - 1)) > key {
            i -= 1;
        }
        for j in (i + 1..=len).rev() {
            self.shift(self.slot(j - 1), self.slot(j));
        }
        if seen.time < self.mark_since() {
            self.mark += 1;
        }
        self.set_value(self.slot(i), digest, seen);
        self.len += 1;
    }

    /// Move the mark to `since`: it only goes forward while the window
    /// slides forward, reading the values it passes and one more.
    fn move_mark(&mut self, since: Millis) {
        let len = usize::from(self.len);
        let mut mark = usize::from(self.mark);
        if since == Millis::MIN {
            mark = 0;
        } else if since >= self.mark_since() {
            while mark < len && self.time(self.slot(mark)) < since {
                mark += 1;
            }
        } else {
            while mark > 0 && self.time(self.slot(mark - 1)) >= since {
                mark -= 1;
            }
        }
        self.mark = mark as u16;
        self.words[MARK_SINCE] = since as u64;
    }

    /// Lay the window out again for `cap` values, in order from slot 0
    /// (the header alone when there were none), keeping what it holds.
    fn resize(&mut self, cap: usize) {
        let old = std::mem::take(self);
        let len = usize::from(old.len);
        let mut new = Self {
            words: vec![0u64; values_at(cap) + VALUE * cap].into_boxed_slice(),
            long: None,
            head: 0,
            len: old.len,
            cap: cap as u16,
            mark: old.mark,
        };
        if old.words.is_empty() {
            new.words[MARK_SINCE] = Millis::MIN as u64;
        } else {
            new.words[..HEADER].copy_from_slice(&old.words[..HEADER]);
            for i in 0..len {
                let from = old.slot(i);
                let (to, from_at) = (
                    values_at(cap) + VALUE * i,
                    values_at(usize::from(old.cap)) + VALUE * from,
                );
                new.words[to..to + VALUE].copy_from_slice(&old.words[from_at..from_at + VALUE]);
                let tag = tag_of(old.digest(from));
                let kind = old.kind(from);
                let (tags, kinds) = new.index_mut();
                tags[i] = tag;
                kinds[i] = kind;
            }
            if let Some(long) = &old.long {
                let mut moved = vec![None; cap];
                for (i, id) in moved.iter_mut().enumerate().take(len) {
                    *id = long[old.slot(i)].clone();
                }
                new.long = Some(moved.into_boxed_slice());
            }
        }
        *self = new;
    }

    /// The values in order.
    fn values(&self) -> impl Iterator<Item = (u64, Seen)> + '_ {
        (0..usize::from(self.len)).map(|i| {
            let at = self.slot(i);
            (
                self.digest(at),
                Seen {
                    time: self.time(at),
                    id: self.id(at),
                },
            )
        })
    }
}

/// A snapshot's values in any order (earlier versions wrote them by the
/// place each was first kept in), put in order.
impl From<DistinctForm> for Distinct {
    fn from(mut form: DistinctForm) -> Self {
        let mut distinct = Self::default();
        if form.first.is_none() && form.values.is_empty() {
            return distinct;
        }
        form.values.truncate(MAX_VALUES);
        form.values
            .sort_by_key(|(digest, seen)| (seen.time, *digest));
        distinct.resize(form.values.len());
        // A window with values always had a first event; a form without
        // one (never written) takes its earliest value's.
        let first = form
            .first
            .or(form.values.first().map(|(_, seen)| seen.time));
        distinct.words[FIRST] = first.unwrap_or(Millis::MIN) as u64;
        distinct.len = form.values.len() as u16;
        for (at, (digest, seen)) in form.values.into_iter().enumerate() {
            distinct.set_value(at, digest, seen);
        }
        distinct
    }
}

impl Serialize for Distinct {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        DistinctForm {
            first: self.first(),
            values: self.values().collect(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Distinct {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        DistinctForm::deserialize(d).map(Self::from)
    }
}

/// Equal when they hold the same values since the same first time
/// (capacity, slots and mark aside).
impl PartialEq for Distinct {
    fn eq(&self, other: &Self) -> bool {
        self.first() == other.first() && self.values().eq(other.values())
    }
}

impl Eq for Distinct {}

impl fmt::Debug for Distinct {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Distinct")
            .field("first", &self.first())
            .field("values", &self.values().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use trailmark_bench_support::Rng;

    use super::*;

    /// The window as it was kept before this layout: values by position,
    /// found by a scan, the least recent found by a scan.
    #[derive(Default)]
    struct Model {
        first: Option<Millis>,
        values: Vec<(u64, Seen)>,
    }

    impl Model {
        fn add(&mut self, digest: u64, seen: Seen, keep: usize, sliding: bool) {
            self.first.get_or_insert(seen.time);
            let at = if let Some(at) = self.values.iter().position(|v| v.0 == digest) {
                at
            } else if self.values.len() < keep {
                self.values.push((digest, seen));
                return;
            } else if sliding
                && let Some((at, v)) = self
                    .values
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, v)| (v.1.time, v.0))
                && (seen.time, digest) > (v.1.time, v.0)
            {
                at
            } else {
                return;
            };
            self.values[at] = (digest, seen);
        }

        fn count(&self, since: Millis) -> u64 {
            self.values.iter().filter(|v| v.1.time >= since).count() as u64
        }
    }

    /// The values are in order of (last seen, digest), the mark counts
    /// those before its window start, and each slot's tag is its digest's.
    fn assert_laid_out(d: &Distinct, context: &str) {
        let keys: Vec<(Millis, u64)> = d.values().map(|(digest, s)| (s.time, digest)).collect();
        assert!(keys.is_sorted(), "{context}: {keys:?}");
        let before = keys.iter().filter(|(t, _)| *t < d.mark_since()).count();
        assert_eq!(usize::from(d.mark), before, "{context}: mark");
        let cap = usize::from(d.cap);
        let tags: &[u8] = cast_slice(&d.words[HEADER..]);
        for i in 0..usize::from(d.len) {
            let at = d.slot(i);
            assert_eq!(
                tags[at],
                tag_of(d.digest(at)),
                "{context}: tag of slot {at}"
            );
        }
        assert!(usize::from(d.len) <= cap && (cap == 0 || usize::from(d.head) < cap));
    }

    #[test]
    fn a_window_keeps_what_the_scanning_window_kept_and_counts_alike() {
        for seed in 1..=40u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let keep = [1, 3, 5, 9, 50][(seed % 5) as usize];
            let sliding = seed % 7 != 0;
            let (mut d, mut model) = (Distinct::default(), Model::default());
            let mut time: Millis = 1_000;
            let mut since = Millis::MIN;
            for step in 0..600 {
                // Mostly forward, often the same millisecond, now and then
                // back (a snapshot's values, a late event).
                time += [0, 0, 1, 1, 1, 5, 20, 40, -3, -45][rng.below(10) as usize];
                // Few tags, so that tags collide and digests confirm them.
                let digest = (rng.below(3) << 56) | rng.below(40);
                let span = 30;
                since = match rng.below(20) {
                    0 => Millis::MIN,
                    1 => since.saturating_sub(7),
                    _ if sliding => time - span,
                    _ => Millis::MIN,
                };
                let id = if rng.below(10) == 0 {
                    // An id kept beside.
                    EventId::new(&format!("{step}-an-id-too-long-to-pack"))
                } else {
                    EventId::new(&format!("e{step}"))
                };
                let s = Seen { time, id };
                d.add(digest, s.clone(), keep, sliding, since);
                model.add(digest, s, keep, sliding);
                let context = format!("seed {seed}, step {step}, keep {keep}");
                let mut expected = model.values.clone();
                expected.sort_by_key(|(digest, s)| (s.time, *digest));
                assert_eq!(d.values().collect::<Vec<_>>(), expected, "{context}");
                assert_eq!(d.first(), model.first, "{context}");
                assert_eq!(d.count(since), model.count(since), "{context}");
                let other = time - rng.below(60) as Millis;
                assert_eq!(d.count(other), model.count(other), "{context}: at {other}");
                assert!(usize::from(d.cap) <= keep.max(4), "{context}");
                assert_laid_out(&d, &context);
            }
        }
    }

    #[test]
    fn a_window_keeps_the_latest_values_in_one_buffer_of_at_most_keep() {
        for keep in [1, 3, 5, 50] {
            let mut distinct = Distinct::default();
            // digest → last seen: every value ever seen.
            let mut all: BTreeMap<u64, Millis> = BTreeMap::new();
            for t in 0..400i64 {
                let digest = (t * 7919 % 61) as u64;
                distinct.add(digest, Seen::at(t), keep, true, t - 100);
                all.insert(digest, t);
                let mut latest: Vec<(Millis, u64)> = all.iter().map(|(d, t)| (*t, *d)).collect();
                latest.sort();
                let expected: BTreeSet<(u64, Millis)> = latest
                    .iter()
                    .rev()
                    .take(keep)
                    .map(|(t, d)| (*d, *t))
                    .collect();
                let kept: BTreeSet<(u64, Millis)> =
                    distinct.values().map(|(d, s)| (d, s.time)).collect();
                assert_eq!(kept, expected, "keep {keep}, time {t}");
                assert!(
                    distinct.values().all(|(_, s)| s.id == Seen::at(s.time).id),
                    "each value names its last event"
                );
                assert!(usize::from(distinct.cap) <= keep.max(4), "keep {keep}");
            }
        }
    }

    #[test]
    fn a_window_reads_back_as_the_form_every_version_wrote() {
        let mut d = Distinct::default();
        let long = "an-id-of-more-than-sixteen-bytes";
        d.add(7, Seen::at(10), 3, true, 0);
        d.add(
            9,
            Seen {
                time: 12,
                id: EventId::new(long),
            },
            3,
            true,
            2,
        );
        d.add(7, Seen::at(15), 3, true, 5);
        let text = serde_json::to_string(&d).expect("serializes");
        assert_eq!(
            text,
            format!(
                r#"{{"first":10,"values":[[9,{{"time":12,"id":"{long}"}}],[7,{{"time":15,"id":"e15"}}]]}}"#
            )
        );
        let back: Distinct = serde_json::from_str(&text).expect("reads back");
        assert_eq!(back, d);
        assert_laid_out(&back, "read back");
        assert_eq!((back.count(11), back.count(13), back.count(16)), (2, 1, 0));
        let empty: Distinct = serde_json::from_str(r#"{"first":null,"values":[]}"#).expect("reads");
        assert_eq!(empty, Distinct::default());
        assert_eq!(empty.count(0), 0);
    }

    #[test]
    fn fifty_values_stay_in_two_kilobytes_and_the_ring_s_place_is_in_the_slot() {
        let mut d = Distinct::default();
        for t in 0..50 {
            d.add(t as u64, Seen::at(t), 50, true, 0);
        }
        assert_eq!(d.cap, 50);
        assert!(d.words.len() * 8 <= 2048, "{} bytes", d.words.len() * 8);
        assert_eq!(values_at(50) % VALUE, 0, "values on 32-byte boundaries");
        assert!(d.long.is_none(), "no id kept beside");
        assert_eq!(std::mem::size_of::<Distinct>(), 40);
    }
}
