//! The reorder buffer: events waiting for their rule's lateness allowance
//! to pass, taken out in (event time, id) order whatever order they came in.
//!
//! Most events come in order, so they are appended to a queue (no search,
//! no tree node allocated and freed per event); only one earlier than the
//! last queued goes to an ordered map. Taking out merges the two fronts.

use std::cmp::Ordering;
use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::event_id::EventId;
use crate::model::Millis;
use crate::runner::Contributions;

/// An event's place in the order: its time, then its id.
pub(crate) type Place = (Millis, EventId);

/// One waiting event: its place and how it takes part.
pub(crate) type Waiting = (Place, Contributions);

/// The buffer.
#[derive(Debug, Clone, Default)]
pub(crate) struct Reorder {
    /// Events that came after every other queued one, in order.
    in_order: VecDeque<Waiting>,
    /// Events that came before the last queued one.
    out_of_order: BTreeMap<Place, Contributions>,
}

impl Reorder {
    /// Add an event; one already waiting at the same place is kept (the
    /// same event offered twice counts once).
    pub(crate) fn insert(&mut self, place: Place, contributions: Contributions) {
        match self.in_order.back() {
            Some((last, _)) if place <= *last => {
                if self
                    .in_order
                    .binary_search_by(|(p, _)| p.cmp(&place))
                    .is_err()
                {
                    self.out_of_order.entry(place).or_insert(contributions);
                }
            }
            _ => {
                if !self.out_of_order.contains_key(&place) {
                    self.in_order.push_back((place, contributions));
                }
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.in_order.len() + self.out_of_order.len()
    }

    /// Whether the earliest waiting event comes from the queue.
    fn queue_first(&self) -> Option<bool> {
        match (self.in_order.front(), self.out_of_order.first_key_value()) {
            (None, None) => None,
            (Some(_), None) => Some(true),
            (None, Some(_)) => Some(false),
            (Some((a, _)), Some((b, _))) => Some(a < b),
        }
    }

    /// The earliest waiting event's place.
    pub(crate) fn first(&self) -> Option<&Place> {
        if self.queue_first()? {
            self.in_order.front().map(|(p, _)| p)
        } else {
            self.out_of_order.first_key_value().map(|(p, _)| p)
        }
    }

    /// Take out the earliest waiting event.
    pub(crate) fn pop_first(&mut self) -> Option<Waiting> {
        if self.queue_first()? {
            self.in_order.pop_front()
        } else {
            self.out_of_order.pop_first()
        }
    }

    /// Every waiting event, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Place, &Contributions)> {
        let mut a = self.in_order.iter().map(|(p, c)| (p, c)).peekable();
        let mut b = self.out_of_order.iter().peekable();
        std::iter::from_fn(move || match (a.peek(), b.peek()) {
            (Some((x, _)), Some((y, _))) => match x.cmp(y) {
                Ordering::Less | Ordering::Equal => a.next(),
                Ordering::Greater => b.next(),
            },
            (Some(_), None) => a.next(),
            (None, _) => b.next(),
        })
    }
}

/// The same events waiting, however they are split between queue and map.
impl PartialEq for Reorder {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Reorder {}

/// A snapshot holds the buffer as one list of pairs in order (JSON keys
/// must be strings, and the split between queue and map is no one's
/// business), its length given first (compact formats need it).
impl Serialize for Reorder {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.len()))?;
        for waiting in self.iter() {
            seq.serialize_element(&waiting)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for Reorder {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut buffer = Reorder::default();
        for (place, contributions) in Vec::<Waiting>::deserialize(d)? {
            buffer.insert(place, contributions);
        }
        Ok(buffer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::Contribution;

    fn place(t: Millis, id: &str) -> Place {
        (t, EventId::new(id))
    }

    fn one(member: usize) -> Contributions {
        let c = Contribution {
            member,
            key: "1:a".into(),
            value: None,
        };
        Contributions::from_elem(c, 1)
    }

    #[test]
    fn events_come_out_in_time_then_id_order_whatever_the_arrival() {
        let mut r = Reorder::default();
        for (t, id) in [(5, "e"), (7, "g"), (3, "c"), (7, "f"), (9, "i"), (1, "a")] {
            r.insert(place(t, id), one(0));
        }
        let order: Vec<Millis> = r.iter().map(|(p, _)| p.0).collect();
        assert_eq!(order, [1, 3, 5, 7, 7, 9]);
        assert_eq!(r.first(), Some(&place(1, "a")));
        let mut out = Vec::new();
        while let Some((p, _)) = r.pop_first() {
            out.push(p.1.to_string());
        }
        assert_eq!(out, ["a", "c", "e", "f", "g", "i"]);
    }

    #[test]
    fn the_same_event_twice_is_kept_once_with_its_first_contributions() {
        let mut r = Reorder::default();
        r.insert(place(5, "e"), one(0));
        r.insert(place(9, "i"), one(0));
        r.insert(place(5, "e"), one(1));
        r.insert(place(9, "i"), one(1));
        r.insert(place(2, "b"), one(0));
        r.insert(place(2, "b"), one(1));
        assert_eq!(r.len(), 3);
        assert!(r.iter().all(|(_, c)| c[0].member == 0));
    }

    #[test]
    fn a_snapshot_keeps_the_order() {
        let mut r = Reorder::default();
        for (t, id) in [(5, "e"), (3, "c"), (9, "i")] {
            r.insert(place(t, id), one(0));
        }
        let text = serde_json::to_string(&r).expect("serializes");
        let back: Reorder = serde_json::from_str(&text).expect("reads back");
        let order: Vec<Millis> = back.iter().map(|(p, _)| p.0).collect();
        assert_eq!(order, [3, 5, 9]);
    }
}
