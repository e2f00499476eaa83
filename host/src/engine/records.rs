//! What the server writes into the journal, and how recovery reads it back.
//!
//! Every record is JSON (the journal hashes the exact bytes). The delivery
//! state of an (event, rule) pair is the last record that names it:
//! an [`EventRecord`] opens a delivery for each matched rule, an
//! [`OutcomesRecord`] (or, as 0.1 wrote, an [`OutcomeRecord`]) closes it, a
//! [`ReopenRecord`] (replay) opens it again.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use trailmark_backends::Event;

/// Journal record kinds.
pub mod kind {
    /// An accepted event and the rules it matched.
    pub const EVENT: u8 = 1;
    /// A delivery finished (delivered or dead-lettered), one per record:
    /// written by 0.1, still read.
    pub const OUTCOME: u8 = 2;
    /// A delivery reopened (dead-letter replay or `trailmark replay`).
    pub const REOPEN: u8 = 3;
    /// Deliveries finished, several per record (the outcomes of the batches
    /// one backend sync made durable).
    pub const OUTCOMES: u8 = 4;
}

/// An accepted event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventRecord {
    /// The event.
    pub event: Event,
    /// Names of the rules it matched, in rule-set order.
    pub rules: Vec<String>,
    /// Version of the rule set it was matched against.
    pub ruleset: u64,
}

/// An [`EventRecord`] as the pipeline writes it, borrowing the event: the
/// same JSON.
#[derive(Debug, Serialize)]
pub struct EventRecordRef<'a> {
    /// The event.
    pub event: &'a Event,
    /// Names of the rules it matched, in rule-set order.
    pub rules: &'a [String],
    /// Version of the rule set it was matched against.
    pub ruleset: u64,
}

/// A finished delivery.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutcomeRecord {
    /// The event's journal sequence number.
    pub seq: u64,
    /// The rule.
    pub rule: String,
    /// `delivered` or `dead-lettered`.
    pub outcome: String,
    /// Dead-letter id, when dead-lettered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter: Option<i64>,
}

/// Finished deliveries journaled together, grouped by rule, each rule's in
/// the order they finished.
///
/// ```json
/// {"delivered": {"archive": [12, 13, 15]}, "dead-lettered": {"alert": [[14, 3]]}}
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomesRecord {
    /// Rule → sequence numbers of the events delivered.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub delivered: BTreeMap<String, Vec<u64>>,
    /// Rule → `[event seq, dead-letter id]` of the deliveries dead-lettered.
    #[serde(
        default,
        rename = "dead-lettered",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub dead_lettered: BTreeMap<String, Vec<(u64, i64)>>,
}

impl OutcomesRecord {
    /// Record that the delivery of event `seq` to `rule` finished: delivered,
    /// or dead-lettered under `dead_letter`.
    pub fn add(&mut self, rule: &str, seq: u64, dead_letter: Option<i64>) {
        match dead_letter {
            None => entry(&mut self.delivered, rule).push(seq),
            Some(id) => entry(&mut self.dead_lettered, rule).push((seq, id)),
        }
    }

    /// How many outcomes it records.
    pub fn len(&self) -> usize {
        let delivered: usize = self.delivered.values().map(Vec::len).sum();
        delivered + self.dead_lettered.values().map(Vec::len).sum::<usize>()
    }

    /// True when it records none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The deliveries it closes, as `(rule, event seq)`.
    pub fn closed(&self) -> impl Iterator<Item = (&str, u64)> {
        let delivered = self
            .delivered
            .iter()
            .flat_map(|(rule, seqs)| seqs.iter().map(move |seq| (rule.as_str(), *seq)));
        let dead = self
            .dead_lettered
            .iter()
            .flat_map(|(rule, pairs)| pairs.iter().map(move |(seq, _)| (rule.as_str(), *seq)));
        delivered.chain(dead)
    }

    /// The outcomes a stored journal record holds, whichever form it has (an
    /// [`OutcomeRecord`] as 0.1 wrote, or this); `None` for another kind or
    /// an unreadable payload.
    pub fn from_stored(kind: u8, payload: &[u8]) -> Option<OutcomesRecord> {
        match kind {
            kind::OUTCOMES => serde_json::from_slice(payload).ok(),
            kind::OUTCOME => {
                let one: OutcomeRecord = serde_json::from_slice(payload).ok()?;
                let mut record = OutcomesRecord::default();
                let dead_letter = match one.outcome.as_str() {
                    "dead-lettered" => Some(one.dead_letter.unwrap_or(0)),
                    _ => None,
                };
                record.add(&one.rule, one.seq, dead_letter);
                Some(record)
            }
            _ => None,
        }
    }
}

/// The list under `rule`, made if it is not there yet (without allocating
/// the key when it is).
fn entry<'m, T>(map: &'m mut BTreeMap<String, Vec<T>>, rule: &str) -> &'m mut Vec<T> {
    if !map.contains_key(rule) {
        map.insert(rule.to_owned(), Vec::new());
    }
    map.get_mut(rule).expect("inserted above")
}

/// A delivery opened again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReopenRecord {
    /// The event's journal sequence number.
    pub seq: u64,
    /// The rule.
    pub rule: String,
    /// Why (e.g. `dead-letter replay 12`).
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_outcomes_in_one_record_and_the_0_1_form_read_alike() {
        let mut record = OutcomesRecord::default();
        record.add("archive", 12, None);
        record.add("alert", 14, Some(3));
        record.add("archive", 13, None);
        let json = serde_json::to_string(&record).expect("serializes");
        assert_eq!(
            json,
            r#"{"delivered":{"archive":[12,13]},"dead-lettered":{"alert":[[14,3]]}}"#
        );
        let back = OutcomesRecord::from_stored(kind::OUTCOMES, json.as_bytes()).expect("reads");
        assert_eq!(back, record);
        assert_eq!(back.len(), 3);
        let closed: Vec<_> = back.closed().collect();
        assert_eq!(
            closed,
            vec![("archive", 12), ("archive", 13), ("alert", 14)]
        );

        let old = br#"{"seq":14,"rule":"alert","outcome":"dead-lettered","dead_letter":3}"#;
        let read = OutcomesRecord::from_stored(kind::OUTCOME, old).expect("0.1 record");
        assert_eq!(read.closed().collect::<Vec<_>>(), vec![("alert", 14)]);
        let old = br#"{"seq":12,"rule":"archive","outcome":"delivered"}"#;
        let read = OutcomesRecord::from_stored(kind::OUTCOME, old).expect("0.1 record");
        assert_eq!(read.delivered["archive"], vec![12]);
        assert!(OutcomesRecord::from_stored(kind::EVENT, old).is_none());
    }

    #[test]
    fn the_borrowed_event_record_writes_the_same_json() {
        let event: Event = serde_json::from_str(
            r#"{"id":"e","source":"s","detail-type":"t","time":"2026-11-25T10:00:00Z",
                "account":"000000000000","region":"local","resources":["r"],"detail":"{\"a\":1}"}"#,
        )
        .expect("an event");
        let rules = vec!["a".to_owned(), "b".to_owned()];
        let borrowed = EventRecordRef {
            event: &event,
            rules: &rules,
            ruleset: 7,
        };
        let owned = EventRecord {
            event: event.clone(),
            rules: rules.clone(),
            ruleset: 7,
        };
        assert_eq!(
            serde_json::to_vec(&borrowed).expect("serializes"),
            serde_json::to_vec(&owned).expect("serializes")
        );
    }
}
