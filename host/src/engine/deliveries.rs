//! What became of an event's deliveries, read from the journal: the outcome
//! records that follow the event, within a bound (outcomes are journaled
//! soon after the event, so the bound is generous and the scan short).

use std::collections::BTreeMap;

use trailmark_journal::{Journal, JournalError};

use super::records::{OutcomesRecord, ReopenRecord, kind};

/// How far after an event the outcomes of its deliveries are looked for.
pub const SCAN_RECORDS: usize = 20_000;

/// What became of one delivery, as far as the journal says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// The plugin handled it.
    Delivered,
    /// It is in the dead-letter store under this id.
    DeadLettered(i64),
    /// No outcome yet: still queued, running, retrying or behind.
    Pending,
    /// No outcome within [`SCAN_RECORDS`] records after the event.
    NotFound,
}

/// The state of the delivery of event `seq` to each of `rules`, reading at
/// most `max_records` records after it. A replay (a reopen record) makes a
/// delivery pending again until its next outcome.
pub fn delivery_states(
    journal: &Journal,
    seq: u64,
    rules: &[String],
    max_records: usize,
) -> Result<BTreeMap<String, DeliveryState>, JournalError> {
    let mut states: BTreeMap<String, Option<DeliveryState>> =
        rules.iter().map(|r| (r.clone(), None)).collect();
    let mut reached_head = true;
    for (read, record) in journal.read_from(seq + 1).enumerate() {
        let record = record?;
        if read == max_records {
            reached_head = false;
            break;
        }
        if record.kind == kind::REOPEN {
            if let Ok(r) = serde_json::from_slice::<ReopenRecord>(&record.payload)
                && r.seq == seq
                && let Some(state) = states.get_mut(&r.rule)
            {
                *state = None;
            }
            continue;
        }
        let Some(outcomes) = OutcomesRecord::from_stored(record.kind, &record.payload) else {
            continue;
        };
        for (rule, seqs) in &outcomes.delivered {
            if seqs.contains(&seq)
                && let Some(state) = states.get_mut(rule)
            {
                *state = Some(DeliveryState::Delivered);
            }
        }
        for (rule, letters) in &outcomes.dead_lettered {
            if let Some((_, id)) = letters.iter().find(|(s, _)| *s == seq)
                && let Some(state) = states.get_mut(rule)
            {
                *state = Some(DeliveryState::DeadLettered(*id));
            }
        }
    }
    let open = if reached_head {
        DeliveryState::Pending
    } else {
        DeliveryState::NotFound
    };
    Ok(states
        .into_iter()
        .map(|(rule, state)| (rule, state.unwrap_or(open)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use trailmark_journal::{JournalOptions, NewRecord};

    fn append(journal: &Journal, kind: u8, payload: String) -> u64 {
        journal
            .append_wait(vec![NewRecord {
                kind,
                payload: payload.into_bytes(),
            }])
            .expect("append")[0]
    }

    #[test]
    fn outcomes_after_the_event_say_what_became_of_each_delivery() {
        let dir = tempfile::tempdir().expect("temp dir");
        let journal = Journal::open(dir.path(), JournalOptions::default()).expect("journal");
        let seq = append(&journal, kind::EVENT, "{}".into());
        let other = append(&journal, kind::EVENT, "{}".into());
        let rules: Vec<String> = ["archive", "alert", "log"].map(String::from).to_vec();
        let mut outcomes = OutcomesRecord::default();
        outcomes.add("archive", seq, None);
        outcomes.add("alert", seq, Some(7));
        outcomes.add("log", other, None);
        append(
            &journal,
            kind::OUTCOMES,
            serde_json::to_string(&outcomes).expect("json"),
        );
        let states = delivery_states(&journal, seq, &rules, 100).expect("states");
        assert_eq!(states["archive"], DeliveryState::Delivered);
        assert_eq!(states["alert"], DeliveryState::DeadLettered(7));
        assert_eq!(
            states["log"],
            DeliveryState::Pending,
            "another event's outcome"
        );

        // A replay reopens the dead-lettered delivery; it is pending again.
        let reopen = ReopenRecord {
            seq,
            rule: "alert".into(),
            reason: "dead-letter replay 7".into(),
        };
        append(
            &journal,
            kind::REOPEN,
            serde_json::to_string(&reopen).expect("json"),
        );
        let states = delivery_states(&journal, seq, &rules, 100).expect("states");
        assert_eq!(states["alert"], DeliveryState::Pending);

        // Past the bound, an outcome not seen is not claimed pending.
        let states = delivery_states(&journal, seq, &rules, 1).expect("states");
        assert_eq!(states["log"], DeliveryState::NotFound);
    }
}
