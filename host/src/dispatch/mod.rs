//! Delivery: one lane per rule, at-least-once, retries with backoff, dead
//! letters.
//!
//! A lane calls its rule's plugin with batches: it takes what is queued, up
//! to [`DispatchOptions::batch`] deliveries, and makes one blocking call for
//! them ([`Deliver::deliver`]), at most [`DispatchOptions::concurrency`]
//! calls at once. Each delivery of a batch keeps its own outcome: a retry
//! waits for its own backoff and comes back alone or in a later batch, a
//! rejection dead-letters only that delivery.
//!
//! The dispatcher never calls back up the flow: it is handed deliveries
//! (already durable in the journal) and reports each one's final outcome
//! through an [`OutcomeSink`] (the journal, in the server).
//!
//! A slow or failing rule only fills its own lane, and a lane's backlog is
//! the journal, not memory: each lane holds at most
//! [`DispatchOptions::lane_capacity`] deliveries in memory (and all lanes
//! together at most [`DispatchOptions::max_pending`], shared equally); past
//! that a lane notes that it is behind from a journal position and reads its
//! owed deliveries back, in journal order, through a [`ReadBack`] source when
//! it has room again (see [`backlog`](mod@backlog)). Ingest therefore never
//! has to refuse producers because one rule is slow.

pub mod backlog;
mod dead_letters;
mod lane;
pub mod retry;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use serde::Deserialize;
use trailmark_backend_api::units;
use trailmark_event::ParsedEvent;

pub use backlog::{ReadBack, ReadChunk, ReadRequest};
pub use dead_letters::{DeadLetter, DeadLetterError, DeadLetters};
pub use lane::LaneHandle;
pub use retry::Backoff;

use crate::metrics::Metrics;
use crate::rules::{DeliveryOrder, RetryPolicy};

/// Why one delivery attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Transient: retry with backoff while the rule's policy allows.
    Retry(String),
    /// Transient, and the target asked to be left alone this long (an HTTP
    /// destination's `Retry-After`): retry with backoff, but no sooner.
    RetryAfter(String, Duration),
    /// Permanent: dead-letter at once.
    Reject(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Retry(m) | Failure::RetryAfter(m, _) => write!(f, "retryable: {m}"),
            Failure::Reject(m) => write!(f, "rejected: {m}"),
        }
    }
}

/// Delivers events for one rule: the plugin call, in the server.
/// Called on a blocking thread; may be called concurrently.
pub trait Deliver: Send + Sync + 'static {
    /// Deliver a batch of `events` (in lane order): one result per event, in
    /// the same order. A missing result counts as a retry.
    fn deliver(&self, events: &[Arc<ParsedEvent>]) -> Vec<Result<(), Failure>>;
}

/// The final outcome of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The plugin handled the event.
    Delivered,
    /// The delivery is in the dead-letter store.
    DeadLettered {
        /// Its id there.
        id: i64,
    },
}

/// Where final outcomes are recorded (the journal, in the server), so that
/// recovery after a crash knows which deliveries are still owed.
pub trait OutcomeSink: Send + Sync + 'static {
    /// A delivery of event `seq` entered a lane's memory; [`finished`] follows.
    ///
    /// [`finished`]: OutcomeSink::finished
    fn opened(&self, seq: u64);
    /// Record that deliveries to `rule` are finished: `(event seq, outcome)`,
    /// typically those of one batch, recorded together.
    fn finished(&self, rule: &str, outcomes: &[(u64, Outcome)]);
}

/// One delivery owed: an event (durable at `seq`) for one rule.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Journal sequence number of the event.
    pub seq: u64,
    /// The event, parsed once at ingest and shared by every rule it matched.
    pub event: Arc<ParsedEvent>,
    /// When it was accepted (ms since epoch): the start of its age.
    pub accepted_ms: i64,
    /// Attempts made so far.
    pub attempts: u32,
}

/// What a lane runs: the rule's deliverer and retry policy.
#[derive(Clone)]
pub struct LaneSpec {
    /// Rule name.
    pub rule: String,
    /// The plugin call.
    pub deliver: Arc<dyn Deliver>,
    /// The rule's retry policy.
    pub retry: RetryPolicy,
    /// The rule's delivery order.
    pub order: DeliveryOrder,
}

/// Dispatcher settings: the `[dispatch]` section of `trailmark.toml`,
/// deserialized as is (kebab-case keys, every key optional) and checked by
/// [`DispatchOptions::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct DispatchOptions {
    /// Concurrent plugin calls (batches) per lane. Default 16.
    pub concurrency: usize,
    /// Most deliveries one plugin call takes. Default 32.
    pub batch: usize,
    /// Delay before the first retry (before jitter). Default 1 s.
    #[serde(deserialize_with = "units::duration")]
    pub retry_initial: Duration,
    /// Longest delay between two attempts. Default 5 min.
    #[serde(deserialize_with = "units::duration")]
    pub retry_max: Duration,
    /// Most deliveries one lane holds in memory (queued, running or waiting
    /// to retry); beyond, they wait in the journal. Default 1024.
    pub lane_capacity: usize,
    /// Most deliveries all lanes hold in memory together; each lane gets an
    /// equal share (at most `lane_capacity`). Default 100,000.
    pub max_pending: usize,
}

impl Default for DispatchOptions {
    fn default() -> Self {
        let backoff = Backoff::default();
        Self {
            concurrency: 16,
            batch: 32,
            retry_initial: backoff.initial,
            retry_max: backoff.max,
            lane_capacity: 1024,
            max_pending: 100_000,
        }
    }
}

impl DispatchOptions {
    /// The retry backoff curve.
    pub fn backoff(&self) -> Backoff {
        Backoff {
            initial: self.retry_initial,
            max: self.retry_max,
        }
    }

    /// Every value in range, or the first key that is not (`(key, why)`).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let range = |key, value: usize, range: std::ops::RangeInclusive<usize>| {
            if range.contains(&value) {
                Ok(())
            } else {
                Err((
                    key,
                    format!("must be from {} to {}", range.start(), range.end()),
                ))
            }
        };
        range("lane-capacity", self.lane_capacity, 1..=1_000_000)?;
        if self.max_pending == 0 {
            return Err(("max-pending", "must be at least 1".into()));
        }
        range("concurrency", self.concurrency, 1..=64)?;
        range("batch", self.batch, 1..=1024)?;
        if self.retry_initial.is_zero() {
            return Err(("retry-initial", "must be longer than 0s".into()));
        }
        if self.retry_max < self.retry_initial {
            return Err(("retry-max", "must be at least retry-initial".into()));
        }
        Ok(())
    }
}

/// Shared state the lanes report into.
pub(crate) struct Shared {
    pub(crate) options: DispatchOptions,
    /// Deliveries in memory across lanes.
    pub(crate) in_memory: AtomicUsize,
    /// Lanes of rules in force (for the share of `max_pending`).
    pub(crate) lanes: AtomicUsize,
    /// Shutting down: no more read-backs.
    pub(crate) stopping: AtomicBool,
    pub(crate) outcomes: Arc<dyn OutcomeSink>,
    pub(crate) read_back: Arc<dyn ReadBack>,
    pub(crate) dead_letters: Arc<DeadLetters>,
    pub(crate) metrics: Arc<Metrics>,
    /// Lanes may be fed from threads outside the runtime (the journal
    /// writer's completion callback), so tasks are spawned through this.
    pub(crate) runtime: tokio::runtime::Handle,
}

impl Shared {
    /// How many deliveries one lane may hold in memory now.
    pub(crate) fn capacity(&self) -> usize {
        let lanes = self.lanes.load(Ordering::Relaxed).max(1);
        self.options
            .lane_capacity
            .min(self.options.max_pending / lanes)
            .max(1)
    }
}

/// One lane's backlog, for status and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneBacklog {
    /// The rule.
    pub rule: String,
    /// Owed deliveries left in the journal, to be read back.
    pub spilled: u64,
    /// The journal position the spilled range starts at.
    pub spilled_from: Option<u64>,
}

/// Routes deliveries to per-rule lanes.
pub struct Dispatcher {
    shared: Arc<Shared>,
    lanes: RwLock<HashMap<String, LaneHandle>>,
    /// Lanes of removed rules still finishing what they owe.
    retired: Mutex<Vec<LaneHandle>>,
}

impl Dispatcher {
    /// A dispatcher with no lanes yet; call [`Dispatcher::set_lanes`].
    /// Must be created inside a tokio runtime.
    pub fn new(
        options: DispatchOptions,
        outcomes: Arc<dyn OutcomeSink>,
        read_back: Arc<dyn ReadBack>,
        dead_letters: Arc<DeadLetters>,
        metrics: Arc<Metrics>,
    ) -> Dispatcher {
        Dispatcher {
            shared: Arc::new(Shared {
                options,
                in_memory: AtomicUsize::new(0),
                lanes: AtomicUsize::new(0),
                stopping: AtomicBool::new(false),
                outcomes,
                read_back,
                dead_letters,
                metrics,
                runtime: tokio::runtime::Handle::current(),
            }),
            lanes: RwLock::new(HashMap::new()),
            retired: Mutex::default(),
        }
    }

    /// Install the lanes for a rule set. Lanes of rules that remain are
    /// updated in place (queued deliveries run on the new spec; running ones
    /// finish on the old); lanes of removed rules are closed: what they still
    /// hold is finished on the spec it had.
    pub fn set_lanes(&self, specs: Vec<LaneSpec>) {
        let mut lanes = self.lanes.write().unwrap_or_else(|e| e.into_inner());
        let mut next = HashMap::with_capacity(specs.len());
        for spec in specs {
            let name = spec.rule.clone();
            let handle = match lanes.remove(&name) {
                Some(existing) => {
                    existing.update(spec);
                    existing
                }
                None => LaneHandle::start(spec, self.shared.clone()),
            };
            next.insert(name, handle);
        }
        self.shared.lanes.store(next.len(), Ordering::Relaxed);
        // Whatever is left belongs to removed rules: they finish what they
        // owe (in memory and in the journal) on the spec they had, then stop.
        let mut retired = self.retired.lock().unwrap_or_else(PoisonError::into_inner);
        retired.retain(|lane| !lane.state().finished());
        for (_, lane) in std::mem::replace(&mut *lanes, next) {
            lane.retire();
            retired.push(lane);
        }
    }

    /// Queue the delivery of a newly journaled event for `rule`. Call in
    /// journal order (the pipeline does so from the journal's completion
    /// callback): when the lane is full or behind, the delivery is not held
    /// in memory but read back from the journal later. Returns false (and
    /// records nothing) when the rule has no lane (it was removed).
    pub fn enqueue(&self, rule: &str, delivery: Delivery) -> bool {
        self.with_lane(rule, |lane| lane.send(delivery))
    }

    /// Queue a delivery in memory whatever the lane's capacity: a replay,
    /// which the journal records out of event order. Returns false when the
    /// rule has no lane.
    pub fn enqueue_now(&self, rule: &str, delivery: Delivery) -> bool {
        self.with_lane(rule, |lane| lane.send_now(delivery))
    }

    /// Owe `rule` the deliveries recovery found at start, `(seq,
    /// accepted_ms)` in seq order: the lane reads them back from the journal
    /// as it has room. Gives them back when the rule has no lane.
    pub fn recover(&self, rule: &str, owed: Vec<(u64, i64)>) -> Result<(), Vec<(u64, i64)>> {
        let lanes = self.lanes.read().unwrap_or_else(PoisonError::into_inner);
        match lanes.get(rule) {
            Some(lane) => {
                lane.recover(owed);
                Ok(())
            }
            None => Err(owed),
        }
    }

    fn with_lane(&self, rule: &str, f: impl FnOnce(&LaneHandle)) -> bool {
        let lanes = self.lanes.read().unwrap_or_else(PoisonError::into_inner);
        match lanes.get(rule) {
            Some(lane) => {
                f(lane);
                true
            }
            None => false,
        }
    }

    /// Deliveries in memory: queued, waiting for a retry, or running.
    pub fn pending(&self) -> usize {
        self.shared.in_memory.load(Ordering::Relaxed)
    }

    /// The backlog each lane keeps in the journal, by rule (removed rules
    /// still finishing included), sorted by rule.
    pub fn backlogs(&self) -> Vec<LaneBacklog> {
        let lanes = self.lanes.read().unwrap_or_else(PoisonError::into_inner);
        let retired = self.retired.lock().unwrap_or_else(PoisonError::into_inner);
        let mut by_rule: BTreeMap<&str, LaneBacklog> = BTreeMap::new();
        for lane in lanes.values().chain(retired.iter()) {
            let state = lane.state();
            let (spilled, spilled_from) = state.behind();
            let entry = by_rule.entry(state.rule()).or_insert_with(|| LaneBacklog {
                rule: state.rule().to_owned(),
                spilled: 0,
                spilled_from: None,
            });
            entry.spilled += spilled;
            entry.spilled_from = backlog::lowest_of(entry.spilled_from, spilled_from);
        }
        by_rule.into_values().collect()
    }

    /// The rules with a lane: those in force, and removed ones still
    /// finishing what they owe.
    pub fn working_rules(&self) -> BTreeSet<String> {
        let lanes = self.lanes.read().unwrap_or_else(PoisonError::into_inner);
        let retired = self.retired.lock().unwrap_or_else(PoisonError::into_inner);
        lanes
            .values()
            .chain(retired.iter().filter(|lane| !lane.state().finished()))
            .map(|lane| lane.state().rule().to_owned())
            .collect()
    }

    /// The lowest journal position a lane still has to read back: retention
    /// must keep it. Deliveries in memory are tracked by the outcome sink.
    pub fn lowest_behind(&self) -> Option<u64> {
        let lanes = self.lanes.read().unwrap_or_else(PoisonError::into_inner);
        let retired = self.retired.lock().unwrap_or_else(PoisonError::into_inner);
        lanes
            .values()
            .chain(retired.iter())
            .filter_map(|lane| lane.state().lowest_behind())
            .min()
    }

    /// The dead-letter store.
    pub fn dead_letters(&self) -> &Arc<DeadLetters> {
        &self.shared.dead_letters
    }

    /// Stop reading backlogs back, then wait until nothing is in memory or
    /// `timeout` passes; returns what is left. What lanes owe stays in the
    /// journal for the next start.
    pub async fn drain(&self, timeout: Duration) -> usize {
        self.shared.stopping.store(true, Ordering::Relaxed);
        let deadline = tokio::time::Instant::now() + timeout;
        while self.pending() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.pending()
    }
}

#[cfg(test)]
mod tests;
