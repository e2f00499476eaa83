//! What a correlation produces: a fire, with a deterministic id.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::Millis;

/// A correlation rule's condition held for one group in one window.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Fire {
    /// When it fired, in event time: the last event's time for a fire on an
    /// event, the window's end for a fire when a window closes.
    pub at: Millis,
    /// The correlation rule.
    pub rule: String,
    /// The deterministic fire id (see [`fire_id`]).
    pub id: String,
    /// The group: each `group-by` name and its value, in rule order.
    pub group: Vec<(String, String)>,
    /// The count the condition was decided on (events, distinct values or
    /// distinct rules; for a sliding window with only lower bounds, the
    /// threshold it reached).
    pub count: u64,
    /// The time of the window's first contributing event.
    pub first: Millis,
    /// The time of its last contributing event.
    pub last: Millis,
    /// The ids of the contributing events, the most recent
    /// [`crate::MAX_FIRE_EVENTS`] at most, oldest first.
    pub events: Vec<String>,
}

/// A fire's id: the first 128 bits of SHA-256 over the rule, the group and
/// the window (first, last and fire times), in hex. The same input stream
/// gives the same ids on every run, so a replay after a crash can be
/// recognised and not alert twice.
pub fn fire_id(rule: &str, group_key: &str, first: Millis, last: Millis, at: Millis) -> String {
    let mut h = Sha256::new();
    for part in [rule.as_bytes(), group_key.as_bytes()] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    for t in [first, last, at] {
        h.update(t.to_be_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

/// A stable 64-bit digest of a field value: what `value_count` keeps of
/// each distinct value (and how it breaks ties between equally recent ones).
pub fn value_digest(value: &str) -> u64 {
    let d = Sha256::digest(value.as_bytes());
    u64::from_be_bytes(d[..8].try_into().expect("a SHA-256 digest has 32 bytes"))
}

/// A group key: each value length-prefixed, so no two groups share a key
/// whatever their values contain.
#[cfg(test)]
pub(crate) fn group_key<'a>(values: impl IntoIterator<Item = &'a str>) -> String {
    let mut key = String::new();
    for v in values {
        push_key_part(&mut key, v);
    }
    key
}

/// How long `value`'s part of a key is ([`push_key_part`]).
pub(crate) fn key_part_len(value: &str) -> usize {
    let digits = value.len().checked_ilog10().map_or(1, |d| d as usize + 1);
    digits + 1 + value.len()
}

/// Append one value to a group key (length-prefixed), with no allocation
/// but the key's own.
pub(crate) fn push_key_part(key: &mut String, value: &str) {
    use std::fmt::Write;
    write!(key, "{}:", value.len()).expect("writing to a String cannot fail");
    key.push_str(value);
}

/// The values of a key made by [`group_key`].
pub(crate) fn group_values(mut key: &str) -> Vec<String> {
    let mut out = Vec::new();
    while let Some((len, rest)) = key.split_once(':') {
        let Ok(len) = len.parse::<usize>() else { break };
        let Some(value) = rest.get(..len) else { break };
        out.push(value.to_owned());
        key = &rest[len..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_keys_round_trip_whatever_the_values_hold() {
        let values = ["a:b", "", "3:xyz", "é"];
        let key = group_key(values);
        assert_eq!(group_values(&key), values);
        assert_ne!(group_key(["ab", "c"]), group_key(["a", "bc"]));
    }

    #[test]
    fn a_key_part_is_as_long_as_said() {
        for len in [0, 1, 9, 10, 99, 100, 1000] {
            let value = "x".repeat(len);
            let mut key = String::new();
            push_key_part(&mut key, &value);
            assert_eq!(key.len(), key_part_len(&value), "{len}");
        }
    }

    #[test]
    fn fire_ids_depend_on_every_part() {
        let base = fire_id("r", "1:a", 1, 2, 3);
        assert_eq!(base, fire_id("r", "1:a", 1, 2, 3));
        assert_eq!(base.len(), 32);
        for other in [
            fire_id("s", "1:a", 1, 2, 3),
            fire_id("r", "1:b", 1, 2, 3),
            fire_id("r", "1:a", 0, 2, 3),
            fire_id("r", "1:a", 1, 0, 3),
            fire_id("r", "1:a", 1, 2, 0),
        ] {
            assert_ne!(base, other);
        }
    }
}
