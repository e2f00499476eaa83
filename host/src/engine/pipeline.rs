//! The journal-backed [`Intake`]: match each event once, make it durable
//! (group-committed), then hand its deliveries to the dispatcher.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use tracing::warn;
use trailmark_backends::Event;
use trailmark_event::ParsedEvent;
use trailmark_journal::{Completion, Journal, JournalError, NewRecord};

use super::correlator::Correlator;
use super::envelope;
use super::event_index::{EventIndex, IdHash};
use super::records::{EventRecord, EventRecordRef, ReopenRecord, kind};
use crate::dispatch::{DeadLetter, Delivery, Dispatcher, LaneSpec, Outcome, OutcomeSink};
use crate::ingest::{BoxFuture, Intake, IntakeError};
use crate::metrics::Metrics;
use crate::rules::RuleSet;
use trailmark_backend_api::when::now_ms;

/// A rule set in force, with its version.
pub struct ActiveRules {
    /// Increases by one on every successful reload.
    pub version: u64,
    /// The rules.
    pub set: RuleSet,
}

/// Deliveries in memory and not yet finished (their outcome not yet
/// journaled), per event sequence number: what retention must keep besides
/// what lanes still have to read back. Bounded by the lanes' in-memory
/// capacity (`dispatch.max-pending`) plus replays in flight.
#[derive(Default)]
pub struct OpenDeliveries {
    open: Mutex<BTreeMap<u64, u32>>,
}

impl OpenDeliveries {
    pub(crate) fn add(&self, seq: u64, n: u32) {
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
    index: Arc<EventIndex>,
    metrics: Arc<Metrics>,
    /// Held (shared) by a submit from matching until its deliveries are
    /// queued, and (exclusive) by a rule-set swap: an event is matched and
    /// delivered under exactly one rule-set version.
    gate: tokio::sync::RwLock<()>,
    /// The correlation rules of the set in force, and their windows.
    correlator: RwLock<Arc<Correlator>>,
    /// Fires journaled (not counting those skipped as already journaled).
    fires_journaled: Arc<std::sync::atomic::AtomicU64>,
    /// What a correlation snapshot needs to know of fires, and what
    /// `/metrics` says of snapshots.
    snapshots: SnapshotBook,
}

/// Fires made and settled, for correlation snapshots, and the snapshots'
/// own record.
#[derive(Default)]
struct SnapshotBook {
    /// Fires the correlation stage made since start, counted by the
    /// correlators under their engine's lock ([`Correlator::new`]).
    made: Arc<std::sync::atomic::AtomicU64>,
    /// Fires known to be in the journal: journaled, or found there.
    settled: std::sync::atomic::AtomicU64,
    /// A fire could not be journaled: no snapshot is saved until a restart,
    /// whose replay (from the last snapshot saved) makes it again.
    lost: std::sync::atomic::AtomicBool,
    /// The journal seq the last saved snapshot covers (0: none since start).
    through: std::sync::atomic::AtomicU64,
    /// Snapshots skipped (a fire not journaled, or not in time).
    skipped: std::sync::atomic::AtomicU64,
}

impl Pipeline {
    /// Assemble a pipeline.
    pub fn new(
        journal: Arc<Journal>,
        rules: ActiveRules,
        dispatcher: Arc<Dispatcher>,
        open: Arc<OpenDeliveries>,
        outcomes: Arc<dyn OutcomeSink>,
        index: Arc<EventIndex>,
        metrics: Arc<Metrics>,
    ) -> Pipeline {
        let snapshots = SnapshotBook::default();
        let correlator = RwLock::new(Arc::new(Correlator::new(
            &rules.set,
            crate::correlation::FireOrigin::default(),
            crate::correlation::CorrelationSettings::default(),
            snapshots.made.clone(),
        )));
        Pipeline {
            correlator,
            fires_journaled: Arc::default(),
            snapshots,
            journal,
            rules: RwLock::new(Arc::new(rules)),
            dispatcher,
            open,
            outcomes,
            index,
            metrics,
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
        let correlator = Arc::new(self.correlator().reloaded(&set));
        *self.correlator.write().unwrap_or_else(|e| e.into_inner()) = correlator;
        self.dispatcher.set_lanes(lanes);
        let mut current = self.rules.write().unwrap_or_else(|e| e.into_inner());
        let version = current.version + 1;
        *current = Arc::new(ActiveRules { version, set });
        version
    }

    /// Fires carry `origin`'s account and region (the server's), not the
    /// configuration's defaults; event time is read as `settings` say.
    pub fn with_correlation(
        self,
        origin: crate::correlation::FireOrigin,
        settings: crate::correlation::CorrelationSettings,
    ) -> Self {
        let correlator = Correlator::new(
            &self.rules().set,
            origin,
            settings,
            self.snapshots.made.clone(),
        );
        *self.correlator.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(correlator);
        self
    }

    /// The correlation stage in force.
    pub fn correlator(&self) -> Arc<Correlator> {
        self.correlator
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Fires journaled since start (a fire re-created by a replay and
    /// found already journaled is not counted).
    pub fn fires_journaled(&self) -> u64 {
        self.fires_journaled.load(Relaxed)
    }

    /// The correlation windows to save, with the journal position they
    /// cover. The gate is taken (as a rule-set swap takes it), so no submit
    /// is between matching and correlating, and the engine locked: its
    /// windows then hold exactly the events through the journal's head. The
    /// gate is let go before the snapshot is taken, so requests go on; only
    /// their correlation waits for it. Returned once every fire made
    /// by then is in the journal, so a restart from it loses none; `None`
    /// with no correlation rule, when a fire could not be journaled, or when
    /// the fires are not in the journal within `wait`. Blocking work runs
    /// off the async threads.
    pub async fn correlation_snapshot(
        self: &Arc<Self>,
        wait: std::time::Duration,
    ) -> Option<crate::correlation::SavedWindows> {
        if self.correlator().is_empty() {
            // No correlation rule: not even a moment of the gate.
            return None;
        }
        let pipeline = self.clone();
        let (head, state, made) = tokio::task::spawn_blocking(move || {
            let gate = pipeline.gate.blocking_write();
            let correlator = pipeline.correlator();
            correlator.snapshot_with(|| {
                let head = pipeline.journal.head();
                drop(gate);
                head
            })
        })
        .await
        .ok()?;
        let deadline = std::time::Instant::now() + wait;
        while self.snapshots.settled.load(Relaxed) < made {
            let lost = self.snapshots.lost.load(Relaxed);
            if lost || std::time::Instant::now() >= deadline {
                self.snapshots.skipped.fetch_add(1, Relaxed);
                warn!(
                    through = head.seq,
                    why = if lost {
                        "a fire could not be journaled (until a restart makes it again)"
                    } else {
                        "the fires made before it are not in the journal yet"
                    },
                    "correlation snapshot skipped"
                );
                return None;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        Some(crate::correlation::SavedWindows::new(
            head.seq,
            head.hash_hex(),
            state,
        ))
    }

    /// A correlation snapshot through `through` is saved.
    pub fn snapshot_saved(&self, through: u64) {
        self.snapshots.through.store(through, Relaxed);
    }

    /// What `/metrics` says of correlation snapshots: the seq the last one
    /// saved covers (0: none since start), and how many were skipped.
    pub fn snapshot_status(&self) -> (u64, u64) {
        (
            self.snapshots.through.load(Relaxed),
            self.snapshots.skipped.load(Relaxed),
        )
    }

    /// Journal the fires the correlation stage let through (on the
    /// reserved path, like the host's own records), skipping any already
    /// journaled: a fire's id is deterministic, so one re-created by a
    /// replay is recognised.
    pub(crate) fn journal_fires(self: &Arc<Self>, fires: Vec<Event>) {
        if fires.is_empty() {
            return;
        }
        let pipeline = self.clone();
        tokio::spawn(async move {
            let made = fires.len() as u64;
            let mut fresh = Vec::with_capacity(fires.len());
            for fire in fires {
                match pipeline.find(&fire.id) {
                    Ok(Some(_)) => {}
                    _ => fresh.push(fire),
                }
            }
            let n = fresh.len();
            if n > 0 {
                match pipeline.clone().record_host_event(fresh).await {
                    Ok(()) => {
                        pipeline.fires_journaled.fetch_add(n as u64, Relaxed);
                    }
                    Err(e) => {
                        pipeline.snapshots.lost.store(true, Relaxed);
                        warn!(fires = n, error = %e, "correlation fires could not be journaled; no correlation snapshot is saved until a restart makes them again");
                        return;
                    }
                }
            }
            pipeline.snapshots.settled.fetch_add(made, Relaxed);
        });
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

    /// Where events are in the journal, by id (recovery fills it too).
    pub fn event_index(&self) -> &Arc<EventIndex> {
        &self.index
    }

    /// Queue deliveries of an event (durable at `seq`) to `rules` now, in
    /// memory: a replay, journaled out of event order. A rule that no longer
    /// exists (removed by a reload) gets its delivery dead-lettered, visibly,
    /// rather than dropped. Returns how many were dead-lettered so.
    pub fn deliver(
        &self,
        seq: u64,
        event: Arc<ParsedEvent>,
        accepted_ms: i64,
        rules: &[String],
    ) -> usize {
        let mut orphaned = 0;
        for rule in rules {
            let delivery = Delivery {
                seq,
                event: event.clone(),
                accepted_ms,
                attempts: 0,
            };
            if !self.dispatcher.enqueue_now(rule, delivery) {
                orphaned += 1;
                self.orphan(seq, event.event(), rule);
            }
        }
        orphaned
    }

    /// Dead-letter (visibly) the delivery of event `seq` to `rule`, a rule
    /// that no longer exists. Blocking (SQLite).
    pub(crate) fn orphan(&self, seq: u64, event: &Event, rule: &str) {
        self.open.add(seq, 1);
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
                    .finished(rule, &[(seq, Outcome::DeadLettered { id })]);
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
        self.append(
            vec![NewRecord {
                kind: kind::REOPEN,
                payload,
            }],
            Admission::Producer,
            |_| (),
        )
        .await?;
        Ok(())
    }

    /// Journal `records` durably; `then` runs once they are durable, on the
    /// journal's writer thread and in journal order (keep it short: hand work
    /// on, never block or call the journal), and its result is returned with
    /// the records' seqs. On the producers' path it answers
    /// [`IntakeError::Busy`] at once when the group-commit queue is full: the
    /// one reason ingest pushes back. On the reserved path it waits for room.
    async fn append<T: Send + 'static>(
        &self,
        records: Vec<NewRecord>,
        admission: Admission,
        then: impl FnOnce(&[u64]) -> T + Send + 'static,
    ) -> Result<(Vec<u64>, T), IntakeError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let started = Instant::now();
        let done: trailmark_journal::AppendDone = Box::new(move |result| {
            let _ = tx.send(result.map(|seqs| {
                let out = then(&seqs);
                (seqs, out)
            }));
        });
        match admission {
            Admission::Producer => self
                .journal
                .try_append(records, Completion::AfterFsync, done),
            Admission::Reserved | Admission::Access => {
                // A read's access record is written by this thread when the
                // journal's writer is idle (no wake of the writer, none back:
                // a `pwrite`, no fsync), else queued at once when there is
                // room (no hop to the blocking pool); either way it waits for
                // room off the async threads when the writer is behind.
                let offered = if admission == Admission::Access {
                    self.journal.offer_now(records, done)
                } else {
                    self.journal.offer(records, Completion::AfterFsync, done)
                };
                if let Err(unqueued) = offered {
                    let journal = self.journal.clone();
                    tokio::task::spawn_blocking(move || journal.append_unqueued(unqueued))
                        .await
                        .map_err(|e| IntakeError::Unavailable(e.to_string()))?;
                }
            }
        }
        let appended = rx
            .await
            .map_err(|_| IntakeError::Unavailable("journal writer stopped".into()))?;
        let appended = match appended {
            Err(JournalError::Busy) => {
                self.metrics.throttled.fetch_add(1, Relaxed);
                return Err(IntakeError::Busy);
            }
            Err(e @ JournalError::Full { .. }) => {
                self.metrics.storage_full.fetch_add(1, Relaxed);
                return Err(IntakeError::StorageFull(e.to_string()));
            }
            other => other.map_err(|e| IntakeError::Unavailable(e.to_string()))?,
        };
        self.metrics.journal_append.observe(started.elapsed());
        Ok(appended)
    }

    async fn submit_events(self: Arc<Self>, events: Vec<Event>) -> Result<(), IntakeError> {
        self.journal_events(events, Admission::Producer).await
    }

    /// Journal and dispatch records the host writes about itself (refusals,
    /// admin actions) on the reserved path: like a producer's events, but
    /// never refused when the journal's queue is full (they wait for room),
    /// so a flood of producers cannot keep them out of the journal. The auth
    /// layer bounds how many it writes (refusals are aggregated per address).
    pub async fn record_host_event(self: Arc<Self>, events: Vec<Event>) -> Result<(), IntakeError> {
        self.journal_events(events, Admission::Reserved).await
    }

    /// Journal access records (reads of the trail) on the reserved path,
    /// complete once written: see [`Intake::submit_access`].
    pub async fn record_access(self: Arc<Self>, events: Vec<Event>) -> Result<(), IntakeError> {
        self.journal_events(events, Admission::Access).await
    }

    async fn journal_events(
        self: Arc<Self>,
        events: Vec<Event>,
        admission: Admission,
    ) -> Result<(), IntakeError> {
        if admission == Admission::Producer && !self.index.has_room() {
            // The index writer is behind (a stalled disk): refuse like a
            // full journal queue rather than hold ever more ids in memory.
            self.metrics.throttled.fetch_add(1, Relaxed);
            return Err(IntakeError::Busy);
        }
        let _shared = self.gate.read().await;
        let active = self.rules();
        let correlator = self.correlator();
        let correlating = !correlator.is_empty();
        let mut observed = Vec::new();
        let mut matched = Vec::with_capacity(events.len());
        let mut records = Vec::with_capacity(events.len());
        let mut envelope = Vec::new();
        for event in events {
            let (rules, blocks) = matching_rules(&active.set, &event, &mut envelope);
            let counted = (correlating && correlator.counts_any(rules.iter().chain(&blocks)))
                .then(|| rules.iter().chain(&blocks).cloned().collect::<Vec<_>>());
            // Sized for the escaped detail plus the envelope, so the record
            // is written without growing the buffer.
            let mut payload = Vec::with_capacity(event.detail.len() * 9 / 8 + 512);
            let record = EventRecordRef {
                event: &event,
                rules: &rules,
                ruleset: active.version,
            };
            serde_json::to_writer(&mut payload, &record).expect("plain record serializes");
            records.push(NewRecord {
                kind: kind::EVENT,
                payload,
            });
            // The state change is parsed here, once: every rule's delivery of
            // this event (and its read-back while in memory) shares it, and
            // the rules it matched go with it.
            let parsed = Arc::new(ParsedEvent::new(event).with_matched(rules));
            if let Some(counted) = counted {
                // Correlation reads the same parse, after the append.
                observed.push((parsed.clone(), counted));
            }
            matched.push(parsed);
        }
        // Deliveries are queued from the journal's completion callback, so
        // every lane sees them in journal order: a lane that is behind can
        // then leave them in the journal and read them back by position.
        let hashes: Vec<IdHash> = if admission == Admission::Access {
            Vec::new()
        } else {
            matched.iter().map(|e| IdHash::of(&e.event().id)).collect()
        };
        let dispatcher = self.dispatcher.clone();
        let metrics = self.metrics.clone();
        let index = self.index.clone();
        let (seqs, orphans) = self
            .append(records, admission, move |seqs| {
                // Filed in journal order, as the writer completes appends:
                // a run of the index then holds every event up to its
                // highest sequence, which is where recovery's re-indexing
                // starts (an add made after the await could come after a
                // later request's run and be lost to a crash).
                if !hashes.is_empty() {
                    index.add(hashes.into_iter().zip(seqs.iter().copied()).collect());
                }
                queue_in_order(&dispatcher, &metrics, seqs, matched)
            })
            .await?;
        // Access records are reads' traces, not events written to the trail:
        // they are listed from the journal (`GET /v1/access`), never looked
        // up by id, so they stay out of the id index.
        let counter = if admission == Admission::Access {
            &self.metrics.access_records
        } else {
            &self.metrics.events_accepted
        };
        counter.fetch_add(seqs.len() as u64, Relaxed);
        // Durable now: what correlation rules count, and the fires it lets
        // through.
        if !observed.is_empty() {
            let now = now_ms();
            let fires = observed
                .iter()
                .flat_map(|(event, counted)| correlator.observe(event, counted, now))
                .collect();
            self.journal_fires(fires);
        }
        if !orphans.is_empty() {
            // Cannot happen while the gate is held (lanes change only under
            // it); handled visibly all the same.
            let pipeline = self.clone();
            tokio::task::spawn_blocking(move || {
                for (seq, event, rule) in orphans {
                    pipeline.orphan(seq, event.event(), &rule);
                }
            })
            .await
            .map_err(|e| IntakeError::Unavailable(e.to_string()))?;
        }
        Ok(())
    }

    /// Look an event up by id in the journal: `None` if it was never
    /// accepted or retention has removed it. Blocking (SQLite, file reads).
    pub fn find(&self, id: &str) -> Result<Option<(u64, EventRecord)>, IntakeError> {
        let unavailable = |e: &dyn std::fmt::Display| IntakeError::Unavailable(e.to_string());
        let candidates = self.index.candidates(id).map_err(|e| unavailable(&e))?;
        for seq in candidates {
            let record = self.journal.read(seq).map_err(|e| unavailable(&e))?;
            let event = record
                .filter(|r| r.kind == kind::EVENT)
                .and_then(|r| serde_json::from_slice::<EventRecord>(&r.payload).ok())
                // The index files hashes; and a journal whose damaged tail
                // was repaired numbers new events anew: never answer with
                // another event than the one asked for.
                .filter(|r| r.event.id == id);
            if let Some(event) = event {
                return Ok(Some((seq, event)));
            }
        }
        Ok(None)
    }
}

/// How an append is admitted to the journal's group-commit queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admission {
    /// Producers' events and replays: refused with Busy when the queue is full.
    Producer,
    /// The host's own records: wait for room, never refused for load.
    Reserved,
    /// Access records (reads of the trail): as `Reserved`, but complete
    /// once written, before the group commit's fsync.
    Access,
}

/// The names of the rules `event` is delivered to, in rule-set order, and
/// of the building blocks (rules without a plugin) it matched, which only
/// correlation rules count (usually none: no allocation). `envelope` is a buffer reused between events
/// for its EventBridge JSON, built with the detail text as journaled (not
/// parsed again: the matcher validates the whole envelope as it scans it).
fn matching_rules(
    set: &RuleSet,
    event: &Event,
    envelope: &mut Vec<u8>,
) -> (Vec<String>, Vec<String>) {
    if event.is_trail_access() && !set.may_match_access() {
        // A read's access record, and no rule can match one: nothing to
        // serialize or run through the matcher.
        return (Vec::new(), Vec::new());
    }
    envelope::write_for_matching(event, envelope);
    let matched = set.matching_all(envelope).or_else(|_| {
        // Only an event whose detail is not JSON gets here (ingest accepts
        // JSON objects only): match it as the API shows it, detail `{}`.
        set.matching_all(&envelope::to_json(event))
    });
    match matched {
        Ok(rules) => {
            let (delivered, blocks): (Vec<_>, Vec<_>) =
                rules.into_iter().partition(|r| r.rule.plugin.is_some());
            let names = |rules: Vec<&crate::rules::LoadedRule>| {
                rules.into_iter().map(|r| r.rule.name.clone()).collect()
            };
            (names(delivered), names(blocks))
        }
        Err(e) => {
            // Ingest only builds valid envelopes; this is a bug if it happens.
            warn!(event_id = %event.id, error = %e, "event could not be matched");
            (Vec::new(), Vec::new())
        }
    }
}

/// A delivery owed to a rule that no longer exists: (seq, event, rule).
type Orphan = (u64, Arc<ParsedEvent>, String);

/// Queue the deliveries of events just made durable at `seqs`, in journal
/// order. Runs on the journal writer's thread: only queues. Returns those
/// whose rule has no lane, to be dead-lettered off this thread.
fn queue_in_order(
    dispatcher: &Dispatcher,
    metrics: &Metrics,
    seqs: &[u64],
    matched: Vec<Arc<ParsedEvent>>,
) -> Vec<Orphan> {
    let accepted_ms = now_ms();
    let mut orphans = Vec::new();
    for (event, seq) in matched.into_iter().zip(seqs) {
        for rule in event.matched() {
            metrics.rule(rule).matched.fetch_add(1, Relaxed);
            let delivery = Delivery {
                seq: *seq,
                event: event.clone(),
                accepted_ms,
                attempts: 0,
            };
            if !dispatcher.enqueue(rule, delivery) {
                orphans.push((*seq, event.clone(), rule.clone()));
            }
        }
    }
    orphans
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

    fn submit_access(&self, events: Vec<Event>) -> BoxFuture<'static, Result<(), IntakeError>> {
        Box::pin(self.0.clone().record_access(events))
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

#[cfg(test)]
mod tests;
