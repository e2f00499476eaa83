//! One group's window state for each correlation type: sized by the
//! condition's threshold (and the fire's id cap), never by the number of
//! events seen.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::event_id::EventId;
use crate::model::Millis;

/// Most event ids a fire lists (the most recent ones).
pub const MAX_FIRE_EVENTS: usize = 100;

/// What a group has seen in its current window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum State {
    /// `event_count` and absence: a total and the most recent events.
    Count(Counted),
    /// `value_count`: the most recently seen distinct values.
    Distinct(Distinct),
    /// `temporal`: the latest event of each rule.
    Temporal(Vec<Option<Seen>>),
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Counted {
    /// Events since the window (or the last reset) began.
    pub(crate) total: u64,
    /// When the first of them happened.
    pub(crate) first: Option<Millis>,
    /// The most recent of them, at most `keep`.
    pub(crate) recent: VecDeque<Seen>,
}

/// Distinct values for `value_count`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Distinct {
    /// When the first counted event happened.
    pub(crate) first: Option<Millis>,
    /// (value digest, last seen), at most `keep`.
    pub(crate) values: Vec<(u64, Seen)>,
}

/// A partial `temporal_ordered` chain: when it started and its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Chain {
    pub(crate) start: Millis,
    pub(crate) ids: Vec<EventId>,
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

fn later(a: Option<Chain>, b: Option<Chain>) -> Option<Chain> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.start > a.start { b } else { a }),
        (a, b) => a.or(b),
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
            self.before = later(self.before.take(), self.at_now.take());
            self.at = t;
        }
        self.at_now = later(self.at_now.take(), Some(chain));
    }
}

/// The window summary a fire reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Summary {
    pub(crate) count: u64,
    pub(crate) first: Millis,
    pub(crate) ids: Vec<String>,
}

fn ids_of<'a>(seen: impl DoubleEndedIterator<Item = &'a Seen>) -> Vec<String> {
    let mut ids: Vec<String> = seen
        .rev()
        .take(MAX_FIRE_EVENTS)
        .map(|s| s.id.as_str().to_owned())
        .collect();
    ids.reverse();
    ids
}

impl Counted {
    /// Count one event; `keep` bounds the events remembered; `since` drops
    /// those before it (sliding windows).
    pub(crate) fn add(&mut self, seen: Seen, keep: usize, since: Millis) {
        self.total += 1;
        self.first.get_or_insert(seen.time);
        self.recent.push_back(seen);
        while self.recent.len() > keep || self.recent.front().is_some_and(|s| s.time < since) {
            self.recent.pop_front();
        }
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
            ids: ids_of(self.recent.iter()),
        })
    }
}

impl Distinct {
    /// Count one value. A sliding window keeps the `keep` most recently
    /// seen values (if `keep` of them are in the window, the count holds);
    /// a closing window keeps the first `keep` (more would decide nothing).
    pub(crate) fn add(&mut self, digest: u64, seen: Seen, keep: usize, sliding: bool) {
        self.first.get_or_insert(seen.time);
        if let Some(entry) = self.values.iter_mut().find(|(d, _)| *d == digest) {
            entry.1 = seen;
        } else if self.values.len() < keep {
            self.values.push((digest, seen));
        } else if sliding
            && let Some(stalest) = self.values.iter_mut().min_by_key(|(d, s)| (s.time, *d))
            && (seen.time, digest) > (stalest.1.time, stalest.0)
        {
            // Keep the `keep` latest by (last seen, digest): a total order,
            // so the kept set does not depend on the order of equal times.
            *stalest = (digest, seen);
        }
    }

    pub(crate) fn summary(&self, since: Millis) -> Option<Summary> {
        let mut within: Vec<&Seen> = self
            .values
            .iter()
            .map(|(_, s)| s)
            .filter(|s| s.time >= since)
            .collect();
        within.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
        let first = if since == Millis::MIN {
            self.first?
        } else {
            within.first()?.time
        };
        Some(Summary {
            count: within.len() as u64,
            first,
            ids: ids_of(within.into_iter()),
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
        ids: ids_of(within.into_iter()),
    })
}
