//! Which windows close first: a min-heap of (deadline, group key), pruned
//! lazily.
//!
//! A sliding window's deadline moves with every event of its group. An
//! ordered set re-keyed on each event (remove, insert: two searches through
//! a tree of every live group) was the largest cost per event at 100k
//! groups. Here a group's entry is left where it is when its deadline moves
//! later; only when the entry comes up is the group's real deadline looked
//! at, and the entry pushed again if it moved. The runner keeps, per group,
//! the deadline its live entry was pushed with (`queued`, never later than
//! the real one), so an entry whose group is gone, or that a newer entry
//! replaced, is recognised and dropped when it comes up. An entry finds its
//! group by key when it comes up (rarely: about once per group per
//! timespan), and the group's key must be the entry's own (the same
//! allocation, not only the same text: a group closed and opened again
//! under the same key has a new one).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::Arc;

use crate::model::Millis;

/// One entry: a group's window closes after `at`.
#[derive(Debug, Clone)]
pub(crate) struct Due {
    pub(crate) at: Millis,
    pub(crate) key: Arc<str>,
}

impl Ord for Due {
    fn cmp(&self, other: &Self) -> Ordering {
        // By key on equal deadlines: windows close, and groups are evicted,
        // in the same order on every run and after a restore.
        (self.at, &*self.key).cmp(&(other.at, &*other.key))
    }
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Due {}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The heap of entries, earliest first.
#[derive(Debug, Clone, Default)]
pub(crate) struct Deadlines {
    heap: BinaryHeap<Reverse<Due>>,
}

impl Deadlines {
    pub(crate) fn push(&mut self, at: Millis, key: Arc<str>) {
        self.heap.push(Reverse(Due { at, key }));
    }

    /// The earliest entry, if it is before `t`.
    pub(crate) fn pop_before(&mut self, t: Millis) -> Option<Due> {
        if self.heap.peek()?.0.at >= t {
            return None;
        }
        self.heap.pop().map(|Reverse(due)| due)
    }

    /// The earliest entry.
    pub(crate) fn pop_first(&mut self) -> Option<Due> {
        self.heap.pop().map(|Reverse(due)| due)
    }

    /// Entries, live and stale.
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    /// Replace every entry by these (the live ones): stale entries of
    /// groups that closed early (a reset after a fire) wait for their time
    /// to come up, so the runner rebuilds the heap when they pile up.
    pub(crate) fn rebuild(&mut self, live: impl Iterator<Item = Due>) {
        self.heap = live.map(Reverse).collect();
    }

    pub(crate) fn clear(&mut self) {
        self.heap.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_come_up_by_deadline_then_key() {
        let mut d = Deadlines::default();
        d.push(5, "b".into());
        d.push(3, "z".into());
        d.push(5, "a".into());
        assert_eq!(d.pop_before(3), None);
        assert_eq!(d.pop_before(4).map(|e| e.at), Some(3));
        assert_eq!(d.pop_first().map(|e| e.key), Some("a".into()));
        assert_eq!(d.pop_first().map(|e| e.key), Some("b".into()));
        assert_eq!(d.pop_first(), None);
    }
}
