//! Which deliveries the journal says are owed, read in one place:
//!
//! - after a start (clean or after kill -9), [`scan`] reads the whole
//!   journal and [`requeue`] hands each lane what it owes, so each
//!   acknowledged event reaches each rule it matched at least once;
//! - while running, a lane that fell behind reads its owed deliveries back
//!   through [`JournalReadBack`], which applies the same rules ([`Fold`]) to
//!   the range of the journal it spilled.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use tracing::{info, warn};
use trailmark_event::ParsedEvent;
use trailmark_journal::{Journal, JournalError, StoredRecord};

use super::event_index::IdHash;
use super::pipeline::Pipeline;
use super::records::{EventRecord, OutcomesRecord, ReopenRecord, kind};
use crate::dispatch::{Delivery, ReadBack, ReadChunk, ReadRequest};

/// One event with deliveries still owed.
#[derive(Debug)]
pub struct OwedEvent {
    /// When the delivery was opened (ms since epoch): its age starts there.
    pub accepted_ms: i64,
    /// The rules it is owed to.
    pub rules: BTreeSet<String>,
    /// The event, when the fold keeps events (a lane's read-back).
    pub event: Option<Arc<ParsedEvent>>,
}

/// Deliveries still owed, by event sequence number.
#[derive(Debug, Default)]
pub struct Owed {
    /// seq → what is owed for that event.
    pub events: BTreeMap<u64, OwedEvent>,
    /// Events added to the event index (those after what it already held).
    pub indexed: usize,
}

impl Owed {
    /// Total deliveries owed.
    pub fn deliveries(&self) -> usize {
        self.events.values().map(|o| o.rules.len()).sum()
    }
}

/// The delivery state in the journal: the last record naming an (event,
/// rule) pair decides whether it is owed. An event record opens a delivery
/// per matched rule, an outcome record closes it, a reopen record (replay)
/// opens it again.
pub struct Fold<'a> {
    /// Only this rule's deliveries, events kept, reopens skipped (a lane's
    /// read-back: a replayed delivery is queued by whoever replays it); or
    /// every rule's (recovery).
    rule: Option<&'a str>,
    /// What is owed so far.
    pub owed: Owed,
    /// Event records read that listed the rule (or any rule).
    pub listed: u64,
}

impl<'a> Fold<'a> {
    /// Recovery: every rule, reopens included, events not kept.
    pub fn all() -> Fold<'a> {
        Fold {
            rule: None,
            owed: Owed::default(),
            listed: 0,
        }
    }

    /// A lane's read-back: `rule` only, events kept.
    pub fn lane(rule: &'a str) -> Fold<'a> {
        Fold {
            rule: Some(rule),
            owed: Owed::default(),
            listed: 0,
        }
    }

    /// Apply one record. Returns the event id of an event record for the id
    /// index (not of an access record: those are listed, never looked up).
    pub fn apply(
        &mut self,
        journal: &Journal,
        record: &StoredRecord,
    ) -> Result<Option<String>, JournalError> {
        match record.kind {
            kind::EVENT => {
                let Ok(r) = serde_json::from_slice::<EventRecord>(&record.payload) else {
                    warn!(
                        seq = record.seq,
                        "unreadable event record in the journal; skipped"
                    );
                    return Ok(None);
                };
                let id = (!r.event.is_trail_access()).then(|| r.event.id.clone());
                let matched = r.rules.clone();
                let rules: BTreeSet<String> = match self.rule {
                    Some(rule) => r
                        .rules
                        .iter()
                        .filter(|name| *name == rule)
                        .take(1)
                        .cloned()
                        .collect(),
                    None => r.rules.into_iter().collect(),
                };
                if !rules.is_empty() {
                    self.listed += 1;
                    self.owed.events.insert(
                        record.seq,
                        OwedEvent {
                            accepted_ms: record.timestamp_ms,
                            rules,
                            event: self
                                .rule
                                .map(|_| Arc::new(ParsedEvent::new(r.event).with_matched(matched))),
                        },
                    );
                }
                Ok(id)
            }
            kind::OUTCOME | kind::OUTCOMES => {
                let Some(r) = OutcomesRecord::from_stored(record.kind, &record.payload) else {
                    warn!(
                        seq = record.seq,
                        "unreadable outcome record in the journal; skipped"
                    );
                    return Ok(None);
                };
                for (rule, seq) in r.closed() {
                    if let Some(owed) = self.owed.events.get_mut(&seq) {
                        owed.rules.remove(rule);
                        if owed.rules.is_empty() {
                            self.owed.events.remove(&seq);
                        }
                    }
                }
                Ok(None)
            }
            kind::REOPEN if self.rule.is_none() => {
                if let Ok(r) = serde_json::from_slice::<ReopenRecord>(&record.payload) {
                    if let Some(owed) = self.owed.events.get_mut(&r.seq) {
                        owed.rules.insert(r.rule);
                    } else if read_event(journal, r.seq)?.is_some() {
                        self.owed.events.insert(
                            r.seq,
                            OwedEvent {
                                accepted_ms: record.timestamp_ms,
                                rules: BTreeSet::from([r.rule]),
                                event: None,
                            },
                        );
                    }
                }
                Ok(None)
            }
            _ => Ok(None),
        }
    }
}

/// Read the whole retained journal and work out what is owed. Also fills the
/// pipeline's event-id index. Holds 16 bytes and the rule names per owed
/// event, not the events.
pub fn scan(journal: &Journal, pipeline: &Pipeline) -> Result<Owed, JournalError> {
    let index = pipeline.event_index();
    let indexed_through = index.high_water().unwrap_or_else(|e| {
        warn!(error = %e, "event index unreadable; re-indexing the whole journal");
        0
    });
    let mut fold = Fold::all();
    let mut batch = Vec::new();
    for record in journal.read_from(journal.first_seq()) {
        let record = record?;
        if let Some(id) = fold.apply(journal, &record)?
            && record.seq > indexed_through
        {
            batch.push((IdHash::of(&id), record.seq));
            fold.owed.indexed += 1;
            if batch.len() == INDEX_BATCH {
                index.add(std::mem::take(&mut batch));
                if index.pending() > super::event_index::MAX_PENDING / 2 {
                    // Reading is faster than indexing: wait, bounded.
                    index.flush();
                }
            }
        }
    }
    index.add(batch);
    Ok(fold.owed)
}

/// Events handed to the event index at once while re-indexing.
const INDEX_BATCH: usize = 4096;

fn read_event(journal: &Journal, seq: u64) -> Result<Option<ParsedEvent>, JournalError> {
    Ok(journal
        .read(seq)?
        .filter(|r| r.kind == kind::EVENT)
        .and_then(|r| serde_json::from_slice::<EventRecord>(&r.payload).ok())
        .map(|r| ParsedEvent::new(r.event).with_matched(r.rules)))
}

/// Hand each lane what it owes (it reads the events back from the journal
/// as it has room). Deliveries to rules that no longer exist are
/// dead-lettered (visibly) rather than dropped. Blocking: call off the
/// async threads.
pub fn requeue(owed: Owed, pipeline: &Pipeline) -> Result<(), JournalError> {
    let deliveries = owed.deliveries();
    let mut by_rule: HashMap<String, Vec<(u64, i64)>> = HashMap::new();
    for (seq, o) in owed.events {
        for rule in o.rules {
            by_rule.entry(rule).or_default().push((seq, o.accepted_ms));
        }
    }
    let mut orphaned = 0;
    for (rule, owed) in by_rule {
        let Err(owed) = pipeline.dispatcher().recover(&rule, owed) else {
            continue;
        };
        for (seq, _) in owed {
            match read_event(pipeline.journal(), seq)? {
                Some(event) => {
                    orphaned += 1;
                    pipeline.orphan(seq, event.event(), &rule);
                }
                None => warn!(seq, rule = %rule, "owed event is no longer readable; skipped"),
            }
        }
    }
    if deliveries > 0 {
        info!(
            deliveries,
            orphaned, "recovered owed deliveries from the journal"
        );
    }
    Ok(())
}

/// Lanes read what they owe back from the journal through this.
pub struct JournalReadBack {
    /// The journal.
    pub journal: Arc<Journal>,
}

impl JournalReadBack {
    fn recovered(&self, owed: &[(u64, i64)]) -> Result<ReadChunk, JournalError> {
        let mut deliveries = Vec::with_capacity(owed.len());
        for &(seq, accepted_ms) in owed {
            match read_event(&self.journal, seq)? {
                Some(event) => deliveries.push(Delivery {
                    seq,
                    event: Arc::new(event),
                    accepted_ms,
                    attempts: 0,
                }),
                None => warn!(seq, "owed event is no longer readable; skipped"),
            }
        }
        Ok(ReadChunk {
            deliveries,
            ..ReadChunk::default()
        })
    }

    /// Up to `limit` owed deliveries of `rule` among positions
    /// `from..=through`. Outcomes are applied within the range read: the
    /// deliveries in it were never attempted by this lane, so no later
    /// outcome can close them, short of a replayed copy (at least once).
    fn spilled(
        &self,
        rule: &str,
        from: u64,
        through: u64,
        limit: usize,
    ) -> Result<ReadChunk, JournalError> {
        let mut fold = Fold::lane(rule);
        let mut next = from;
        for record in self.journal.read_from(from) {
            let record = match record {
                Ok(r) => r,
                Err(JournalError::Removed { first_seq, .. }) => {
                    warn!(
                        rule,
                        from,
                        first_seq,
                        "owed deliveries were removed by retention before they were read back"
                    );
                    next = first_seq;
                    break;
                }
                Err(e) => return Err(e),
            };
            if record.seq > through {
                break;
            }
            next = record.seq + 1;
            fold.apply(&self.journal, &record)?;
            if fold.owed.events.len() >= limit {
                break;
            }
        }
        let deliveries = fold
            .owed
            .events
            .into_iter()
            .filter_map(|(seq, o)| {
                o.event.map(|event| Delivery {
                    seq,
                    event,
                    accepted_ms: o.accepted_ms,
                    attempts: 0,
                })
            })
            .collect();
        Ok(ReadChunk {
            deliveries,
            next,
            listed: fold.listed,
        })
    }
}

impl ReadBack for JournalReadBack {
    fn read(&self, rule: &str, request: &ReadRequest) -> Result<ReadChunk, String> {
        match request {
            ReadRequest::Recovered(owed) => self.recovered(owed),
            ReadRequest::Spilled {
                from,
                through,
                limit,
            } => self.spilled(rule, *from, *through, *limit),
        }
        .map_err(|e| format!("reading owed deliveries of rule `{rule}` from the journal: {e}"))
    }
}
