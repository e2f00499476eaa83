//! One group's window state for each correlation type: sized by the
//! condition's threshold (and the fire's id cap), never by the number of
//! events seen.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use crate::distinct::Distinct;
use crate::event_id::EventId;
use crate::model::Millis;

/// Most event ids a fire lists (the most recent ones).
pub const MAX_FIRE_EVENTS: usize = 100;

/// Member rules whose `temporal` state, and chain lengths whose ids, are
/// kept inline (beyond, on the heap).
pub(crate) const INLINE_MEMBERS: usize = 4;

/// `temporal`: the latest event of each rule.
pub(crate) type Latest = SmallVec<[Option<Seen>; INLINE_MEMBERS]>;

/// A chain's event ids, oldest first.
pub(crate) type ChainIds = SmallVec<[EventId; INLINE_MEMBERS]>;

/// What a group has seen in its current window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum State {
    /// `event_count` and absence: a total and the most recent events.
    Count(Counted),
    /// `value_count`: the most recently seen distinct values.
    Distinct(Distinct),
    /// `temporal`: the latest event of each rule.
    Temporal(Latest),
    /// `temporal_ordered`: the best partial chain ending at each step.
    Ordered(Vec<Step>),
}

/// One event as state keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Seen {
    pub(crate) time: Millis,
    pub(crate) id: EventId,
}

/// Counts for `event_count`.
///
/// At 100k groups a window's buffer is out of cache on every event, so an
/// event touches as little of it as it can: the oldest remembered event's
/// time is kept beside the buffer (no read of its front unless something
/// leaves the window), and a full buffer is exactly `keep` long with the
/// oldest taken out before the new one goes in, so the new one lands where
/// the oldest was (one place in memory, not two).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "CountedForm")]
pub(crate) struct Counted {
    /// Events since the window (or the last reset) began.
    pub(crate) total: u64,
    /// When the first of them happened.
    pub(crate) first: Option<Millis>,
    /// The most recent of them, at most `keep`.
    pub(crate) recent: VecDeque<Seen>,
    /// The time of `recent`'s front (`Millis::MAX` when it is empty).
    #[serde(skip)]
    oldest: Millis,
}

/// How a snapshot holds [`Counted`] (its cached time is not written).
#[derive(Deserialize)]
struct CountedForm {
    total: u64,
    first: Option<Millis>,
    recent: VecDeque<Seen>,
}

impl From<CountedForm> for Counted {
    fn from(form: CountedForm) -> Self {
        let mut counted = Self {
            total: form.total,
            first: form.first,
            recent: form.recent,
            oldest: Millis::MAX,
        };
        counted.oldest = counted.front_time();
        counted
    }
}

/// A partial `temporal_ordered` chain: when it started and its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Chain {
    pub(crate) start: Millis,
    pub(crate) ids: ChainIds,
}

/// The latest-starting chain that ends at one step, split so that a chain
/// ending at the current instant is not extended by another event of the
/// same instant (order is strict, so equal times never chain, whatever the
/// order they were processed in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Step {
    at: Millis,
    at_now: Option<Chain>,
    before: Option<Chain>,
}

impl Default for Step {
    fn default() -> Self {
        Self {
            at: Millis::MIN,
            at_now: None,
            before: None,
        }
    }
}

/// Keep `chain` in `kept` when it starts later (a tie keeps the one there),
/// moving no chain that stays.
fn keep_later(kept: &mut Option<Chain>, chain: Chain) {
    if kept.as_ref().is_none_or(|k| chain.start > k.start) {
        *kept = Some(chain);
    }
}

impl Step {
    /// The latest-starting chain ending strictly before `t`.
    pub(crate) fn before(&self, t: Millis) -> Option<&Chain> {
        let older = self.before.as_ref();
        if self.at < t {
            match (older, self.at_now.as_ref()) {
                (Some(a), Some(b)) => Some(if b.start > a.start { b } else { a }),
                (a, b) => a.or(b),
            }
        } else {
            older
        }
    }

    /// Record a chain ending at `t` (never before the last one recorded).
    pub(crate) fn record(&mut self, t: Millis, chain: Chain) {
        if self.at < t {
            if let Some(now) = self.at_now.take() {
                keep_later(&mut self.before, now);
            }
            self.at = t;
        }
        keep_later(&mut self.at_now, chain);
    }
}

#[cfg(test)]
impl Seen {
    /// An event at `time` whose id names it (`e{time}`).
    pub(crate) fn at(time: Millis) -> Self {
        Self {
            time,
            id: EventId::new(&format!("e{time}")),
        }
    }
}

/// The window summary a fire reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Summary {
    pub(crate) count: u64,
    pub(crate) first: Millis,
    pub(crate) ids: Vec<String>,
}

pub(crate) fn ids_of<'a>(ids: impl DoubleEndedIterator<Item = &'a EventId>) -> Vec<String> {
    let mut ids: Vec<String> = ids
        .rev()
        .take(MAX_FIRE_EVENTS)
        .map(EventId::to_string)
        .collect();
    ids.reverse();
    ids
}

impl Default for Counted {
    fn default() -> Self {
        Self {
            total: 0,
            first: None,
            recent: VecDeque::new(),
            oldest: Millis::MAX,
        }
    }
}

impl Counted {
    fn front_time(&self) -> Millis {
        self.recent.front().map_or(Millis::MAX, |s| s.time)
    }

    /// Count one event; `keep` bounds the events remembered; `since` drops
    /// those before it (sliding windows; never the new event, which is the
    /// latest).
    pub(crate) fn add(&mut self, seen: Seen, keep: usize, since: Millis) {
        self.total += 1;
        self.first.get_or_insert(seen.time);
        if keep == 0 {
            return;
        }
        // What pushing, then dropping from the front while over `keep` or
        // before `since`, would leave; dropped first, so that a full
        // buffer never grows past `keep` and the new event takes the
        // oldest's place.
        while !self.recent.is_empty() && (self.recent.len() >= keep || self.oldest < since) {
            self.recent.pop_front();
            self.oldest = self.front_time();
        }
        if self.recent.len() == self.recent.capacity() {
            // Doubling, but never past `keep`.
            let len = self.recent.len();
            self.recent
                .reserve_exact((2 * len).clamp(4, keep.max(4)).min(keep) - len);
        }
        if self.recent.is_empty() {
            self.oldest = seen.time;
        }
        self.recent.push_back(seen);
    }

    /// The count: in a sliding window the remembered events within it
    /// (enough for a lower bound), else every event since the window began.
    pub(crate) fn summary(&self, sliding: bool) -> Option<Summary> {
        let count = if sliding {
            self.recent.len() as u64
        } else {
            self.total
        };
        let first = if sliding {
            self.recent.front()?.time
        } else {
            self.first?
        };
        Some(Summary {
            count,
            first,
            ids: ids_of(self.recent.iter().map(|s| &s.id)),
        })
    }
}

/// The distinct rules with an event at or after `since`.
pub(crate) fn temporal_summary(seen: &[Option<Seen>], since: Millis) -> Option<Summary> {
    let mut within: Vec<&Seen> = seen.iter().flatten().filter(|s| s.time >= since).collect();
    within.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
    Some(Summary {
        count: within.len() as u64,
        first: within.first()?.time,
        ids: ids_of(within.into_iter().map(|s| &s.id)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `Counted::add` did before it dropped ahead of pushing.
    fn pushed_then_dropped(recent: &mut VecDeque<Seen>, s: Seen, keep: usize, since: Millis) {
        recent.push_back(s);
        while recent.len() > keep || recent.front().is_some_and(|s| s.time < since) {
            recent.pop_front();
        }
    }

    #[test]
    fn a_window_keeps_what_pushing_then_dropping_kept_and_never_grows_past_keep() {
        for keep in [0, 1, 3, 5, 50] {
            let mut counted = Counted::default();
            let mut model = VecDeque::new();
            for t in 0..300i64 {
                // A window of 20 that jumps now and then.
                let time = t + (t / 40) * 25;
                let since = time - 20;
                counted.add(Seen::at(time), keep, since);
                pushed_then_dropped(&mut model, Seen::at(time), keep, since);
                assert_eq!(counted.recent, model, "keep {keep}, time {time}");
                assert!(counted.recent.capacity() <= keep.max(4), "keep {keep}");
                assert_eq!(counted.oldest, counted.front_time());
            }
            assert_eq!(counted.total, 300);
        }
    }

    #[test]
    fn a_window_read_back_knows_its_oldest_event() {
        let mut counted = Counted::default();
        for t in [5, 9, 12] {
            counted.add(Seen::at(t), 2, Millis::MIN);
        }
        let text = serde_json::to_string(&counted).expect("serializes");
        assert!(!text.contains("oldest"), "{text}");
        let back: Counted = serde_json::from_str(&text).expect("reads back");
        assert_eq!(back.oldest, 9);
        assert_eq!(back, counted);
    }
}
