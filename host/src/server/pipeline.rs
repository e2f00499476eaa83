//! The journal-backed [`Intake`]: match each event once, make it durable
//! (group-committed), then hand its deliveries to the dispatcher.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use tracing::warn;
use trailmark_backends::Event;
use trailmark_journal::{Journal, NewRecord};

use super::envelope;
use super::records::{EventRecord, ReopenRecord, kind};
use crate::dispatch::{DeadLetter, Delivery, Dispatcher, LaneSpec, Outcome, OutcomeSink};
use crate::ingest::{BoxFuture, Intake, IntakeError};
use crate::metrics::Metrics;
use crate::rules::RuleSet;
use crate::timespec::now_ms;

/// A rule set in force, with its version.
pub struct ActiveRules {
    /// Increases by one on every successful reload.
    pub version: u64,
    /// The rules.
    pub set: RuleSet,
}

/// Deliveries not yet finished, per event sequence number: what retention
/// must keep.
#[derive(Default)]
pub struct OpenDeliveries {
    open: Mutex<BTreeMap<u64, u32>>,
}

impl OpenDeliveries {
    fn add(&self, seq: u64, n: u32) {
        if n > 0 {
            *self
                .open
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(seq)
                .or_default() += n;
        }
    }

    pub(crate) fn done(&self, seq: u64) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&seq) {
            *n -= 1;
            if *n == 0 {
                open.remove(&seq);
            }
        }
    }

    /// The lowest sequence number with an unfinished delivery.
    pub fn lowest(&self) -> Option<u64> {
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .next()
            .copied()
    }
}

/// The ingest → journal → dispatch pipeline.
pub struct Pipeline {
    journal: Arc<Journal>,
    rules: RwLock<Arc<ActiveRules>>,
    dispatcher: Arc<Dispatcher>,
    open: Arc<OpenDeliveries>,
    outcomes: Arc<dyn OutcomeSink>,
    index: Mutex<HashMap<String, u64>>,
    metrics: Arc<Metrics>,
    max_pending: usize,
    /// Held (shared) by a submit from matching until its deliveries are
    /// queued, and (exclusive) by a rule-set swap: an event is matched and
    /// delivered under exactly one rule-set version.
    gate: tokio::sync::RwLock<()>,
}

impl Pipeline {
    /// Assemble a pipeline.
    pub fn new(
        journal: Arc<Journal>,
        rules: ActiveRules,
        dispatcher: Arc<Dispatcher>,
        open: Arc<OpenDeliveries>,
        outcomes: Arc<dyn OutcomeSink>,
        metrics: Arc<Metrics>,
        max_pending: usize,
    ) -> Pipeline {
        Pipeline {
            journal,
            rules: RwLock::new(Arc::new(rules)),
            dispatcher,
            open,
            outcomes,
            index: Mutex::new(HashMap::new()),
            metrics,
            max_pending,
            gate: tokio::sync::RwLock::new(()),
        }
    }

    /// The rule set in force.
    pub fn rules(&self) -> Arc<ActiveRules> {
        self.rules.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Swap in a new rule set and its lanes, atomically with respect to
    /// submits: events matched before the swap are queued on the old lanes
    /// first; events matched after it use the new set. Returns the new version.
    pub async fn swap(&self, set: RuleSet, lanes: Vec<LaneSpec>) -> u64 {
        let _exclusive = self.gate.write().await;
        self.dispatcher.set_lanes(lanes);
        let mut current = self.rules.write().unwrap_or_else(|e| e.into_inner());
        let version = current.version + 1;
        *current = Arc::new(ActiveRules { version, set });
        version
    }

    /// The journal.
    pub fn journal(&self) -> &Arc<Journal> {
        &self.journal
    }

    /// The dispatcher.
    pub fn dispatcher(&self) -> &Arc<Dispatcher> {
        &self.dispatcher
    }

    /// Unfinished deliveries.
    pub fn open(&self) -> &Arc<OpenDeliveries> {
        &self.open
    }

    /// Remember where an event is in the journal (recovery fills this too).
    pub fn index(&self, id: &str, seq: u64) {
        self.index
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_owned(), seq);
    }

    /// Queue deliveries of an event (durable at `seq`) to `rules`. A rule that
    /// no longer exists (removed by a reload) gets its delivery dead-lettered,
    /// visibly, rather than dropped. Returns how many were dead-lettered so.
    pub fn deliver(
        &self,
        seq: u64,
        event: Arc<Event>,
        accepted_ms: i64,
        rules: &[String],
    ) -> usize {
        let mut orphaned = 0;
        self.open.add(seq, rules.len() as u32);
        for rule in rules {
            let delivery = Delivery {
                seq,
                event: event.clone(),
                accepted_ms,
                attempts: 0,
            };
            if !self.dispatcher.enqueue(rule, delivery) {
                orphaned += 1;
                self.orphan(seq, &event, rule);
            }
        }
        orphaned
    }

    fn orphan(&self, seq: u64, event: &Event, rule: &str) {
        let letter = DeadLetter {
            id: 0,
            seq,
            event_id: event.id.clone(),
            rule: rule.to_owned(),
            attempts: 0,
            error: format!("rule `{rule}` was removed before this delivery was made"),
            failed_at: now_ms(),
            event: serde_json::to_string(event).unwrap_or_default(),
        };
        match self.dispatcher.dead_letters().insert(&letter) {
            Ok(id) => {
                warn!(
                    seq,
                    rule,
                    dead_letter = id,
                    "delivery to a removed rule dead-lettered"
                );
                self.outcomes
                    .finished(seq, rule, &Outcome::DeadLettered { id });
            }
            // Left open: the journal still owes it, and the next start retries.
            Err(e) => {
                warn!(seq, rule, error = %e, "cannot dead-letter a delivery to a removed rule")
            }
        }
    }

    /// Journal (durably) that the delivery of event `seq` to `rule` is owed
    /// again (replay). Call [`Pipeline::deliver`] afterwards: a crash between the
    /// two is covered by recovery.
    pub async fn journal_reopen(
        &self,
        seq: u64,
        rule: &str,
        reason: &str,
    ) -> Result<(), IntakeError> {
        let record = ReopenRecord {
            seq,
            rule: rule.to_owned(),
            reason: reason.to_owned(),
        };
        let payload = serde_json::to_vec(&record).expect("plain record serializes");
        self.append(vec![NewRecord {
            kind: kind::REOPEN,
            payload,
        }])
        .await?;
        Ok(())
    }

    async fn append(&self, records: Vec<NewRecord>) -> Result<Vec<u64>, IntakeError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let started = Instant::now();
        self.journal.append(
            records,
            Box::new(move |result| {
                let _ = tx.send(result);
            }),
        );
        let seqs = rx
            .await
            .map_err(|_| IntakeError::Unavailable("journal writer stopped".into()))?
            .map_err(|e| IntakeError::Unavailable(e.to_string()))?;
        self.metrics.journal_append.observe(started.elapsed());
        Ok(seqs)
    }

    async fn submit_events(self: Arc<Self>, events: Vec<Event>) -> Result<(), IntakeError> {
        if self.dispatcher.pending() >= self.max_pending {
            self.metrics.throttled.fetch_add(1, Relaxed);
            return Err(IntakeError::Busy);
        }
        self.journal_events(events).await
    }

    /// Journal and dispatch records the host writes about itself (refusals,
    /// admin actions) on the reserved path: like a producer's events, but
    /// never refused because `max-pending` deliveries are owed, so a flood of
    /// producers cannot keep them out of the journal. The auth layer bounds
    /// how many it writes (refusals are aggregated per address).
    pub async fn record_host_event(self: Arc<Self>, events: Vec<Event>) -> Result<(), IntakeError> {
        self.journal_events(events).await
    }

    async fn journal_events(self: Arc<Self>, events: Vec<Event>) -> Result<(), IntakeError> {
        let _shared = self.gate.read().await;
        let active = self.rules();
        let mut matched = Vec::with_capacity(events.len());
        let mut records = Vec::with_capacity(events.len());
        for event in events {
            let json = envelope::to_json(&event);
            let rules: Vec<String> = match active.set.matching(&json) {
                Ok(rs) => rs.into_iter().map(|r| r.rule.name.clone()).collect(),
                Err(e) => {
                    // Ingest only builds valid envelopes; this is a bug if it happens.
                    warn!(event_id = %event.id, error = %e, "event could not be matched");
                    Vec::new()
                }
            };
            let record = EventRecord {
                event,
                rules,
                ruleset: active.version,
            };
            records.push(NewRecord {
                kind: kind::EVENT,
                payload: serde_json::to_vec(&record).expect("plain record serializes"),
            });
            matched.push(record);
        }
        let seqs = self.append(records).await?;
        let accepted_ms = now_ms();
        {
            let mut index = self.index.lock().unwrap_or_else(|e| e.into_inner());
            for (record, seq) in matched.iter().zip(&seqs) {
                index.insert(record.event.id.clone(), *seq);
            }
        }
        self.metrics
            .events_accepted
            .fetch_add(seqs.len() as u64, Relaxed);
        for (record, seq) in matched.into_iter().zip(seqs) {
            for rule in &record.rules {
                self.metrics.rule(rule).matched.fetch_add(1, Relaxed);
            }
            self.deliver(seq, Arc::new(record.event), accepted_ms, &record.rules);
        }
        Ok(())
    }

    /// Look an event up by id in the journal.
    pub fn find(&self, id: &str) -> Result<Option<(u64, EventRecord)>, IntakeError> {
        let Some(seq) = self
            .index
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .copied()
        else {
            return Ok(None);
        };
        let record = self
            .journal
            .read(seq)
            .map_err(|e| IntakeError::Unavailable(e.to_string()))?;
        Ok(record
            .filter(|r| r.kind == kind::EVENT)
            .and_then(|r| serde_json::from_slice::<EventRecord>(&r.payload).ok())
            .map(|r| (seq, r)))
    }
}

/// [`Intake`] over a shared pipeline.
#[derive(Clone)]
pub struct PipelineIntake(pub Arc<Pipeline>);

impl Intake for PipelineIntake {
    fn submit(&self, events: Vec<Event>) -> BoxFuture<'static, Result<(), IntakeError>> {
        Box::pin(self.0.clone().submit_events(events))
    }

    fn submit_host(&self, events: Vec<Event>) -> BoxFuture<'static, Result<(), IntakeError>> {
        Box::pin(self.0.clone().record_host_event(events))
    }

    fn get(&self, id: &str) -> BoxFuture<'static, Result<Option<Event>, IntakeError>> {
        let pipeline = self.0.clone();
        let id = id.to_owned();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                pipeline.find(&id).map(|found| found.map(|(_, r)| r.event))
            })
            .await
            .map_err(|e| IntakeError::Unavailable(e.to_string()))?
        })
    }
}
