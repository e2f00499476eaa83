//! After a start (clean or after kill -9): read the journal and queue every
//! delivery that is still owed, so each acknowledged event reaches each rule
//! it matched at least once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tracing::{info, warn};
use trailmark_backends::Event;
use trailmark_journal::{Journal, JournalError};

use super::pipeline::Pipeline;
use super::records::{EventRecord, OutcomeRecord, ReopenRecord, kind};

/// Deliveries still owed, by event sequence number.
#[derive(Debug, Default)]
pub struct Owed {
    /// seq → (event, accepted at, rules owed).
    pub events: BTreeMap<u64, (Arc<Event>, i64, BTreeSet<String>)>,
    /// Events seen (for the id index).
    pub indexed: usize,
}

impl Owed {
    /// Total deliveries owed.
    pub fn deliveries(&self) -> usize {
        self.events.values().map(|(_, _, r)| r.len()).sum()
    }
}

/// Read the whole retained journal and work out what is owed. Also fills the
/// pipeline's event-id index.
pub fn scan(journal: &Journal, pipeline: &Pipeline) -> Result<Owed, JournalError> {
    let mut owed = Owed::default();
    for record in journal.read_from(journal.first_seq()) {
        let record = record?;
        match record.kind {
            kind::EVENT => {
                let Ok(r) = serde_json::from_slice::<EventRecord>(&record.payload) else {
                    warn!(
                        seq = record.seq,
                        "unreadable event record in the journal; skipped"
                    );
                    continue;
                };
                pipeline.index(&r.event.id, record.seq);
                owed.indexed += 1;
                if !r.rules.is_empty() {
                    owed.events.insert(
                        record.seq,
                        (
                            Arc::new(r.event),
                            record.timestamp_ms,
                            r.rules.into_iter().collect(),
                        ),
                    );
                }
            }
            kind::OUTCOME => {
                if let Ok(r) = serde_json::from_slice::<OutcomeRecord>(&record.payload)
                    && let Some((_, _, rules)) = owed.events.get_mut(&r.seq)
                {
                    rules.remove(&r.rule);
                    if rules.is_empty() {
                        owed.events.remove(&r.seq);
                    }
                }
            }
            kind::REOPEN => {
                if let Ok(r) = serde_json::from_slice::<ReopenRecord>(&record.payload) {
                    if let Some((_, _, rules)) = owed.events.get_mut(&r.seq) {
                        rules.insert(r.rule);
                    } else if let Some(event) = read_event(journal, r.seq)? {
                        owed.events.insert(
                            r.seq,
                            (
                                Arc::new(event),
                                record.timestamp_ms,
                                BTreeSet::from([r.rule]),
                            ),
                        );
                    }
                }
            }
            _ => {}
        }
    }
    Ok(owed)
}

fn read_event(journal: &Journal, seq: u64) -> Result<Option<Event>, JournalError> {
    Ok(journal
        .read(seq)?
        .filter(|r| r.kind == kind::EVENT)
        .and_then(|r| serde_json::from_slice::<EventRecord>(&r.payload).ok())
        .map(|r| r.event))
}

/// Queue everything owed. Deliveries to rules that no longer exist are
/// dead-lettered (visibly) rather than dropped.
pub fn requeue(owed: Owed, pipeline: &Pipeline) {
    let deliveries = owed.deliveries();
    let mut orphaned = 0;
    for (seq, (event, accepted_ms, rules)) in owed.events {
        let rules: Vec<String> = rules.into_iter().collect();
        orphaned += pipeline.deliver(seq, event, accepted_ms, &rules);
    }
    if deliveries > 0 {
        info!(
            deliveries,
            orphaned, "recovered owed deliveries from the journal"
        );
    }
}
