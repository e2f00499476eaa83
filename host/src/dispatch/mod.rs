//! Delivery: one lane per rule, at-least-once, retries with backoff, dead
//! letters.
//!
//! The dispatcher never calls back up the flow: it is handed deliveries
//! (already durable in the journal) and reports each one's final outcome
//! through an [`OutcomeSink`] (the journal, in the server). A slow or failing
//! rule only fills its own lane; ingest reads [`Dispatcher::pending`] to push
//! back before memory grows without bound.

mod dead_letters;
mod lane;
pub mod retry;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use trailmark_backends::Event;

pub use dead_letters::{DeadLetter, DeadLetterError, DeadLetters};
pub use lane::LaneHandle;
pub use retry::Backoff;

use crate::metrics::Metrics;
use crate::rules::RetryPolicy;

/// Why one delivery attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Transient: retry with backoff while the rule's policy allows.
    Retry(String),
    /// Permanent: dead-letter at once.
    Reject(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Retry(m) => write!(f, "retryable: {m}"),
            Failure::Reject(m) => write!(f, "rejected: {m}"),
        }
    }
}

/// Delivers one event for one rule: the plugin call, in the server.
/// Called on a blocking thread; may be called concurrently.
pub trait Deliver: Send + Sync + 'static {
    /// Deliver `event`.
    fn deliver(&self, event: &Event) -> Result<(), Failure>;
}

/// The final outcome of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// Record that the delivery of event `seq` to `rule` is finished.
    fn finished(&self, seq: u64, rule: &str, outcome: &Outcome);
}

/// One delivery owed: an event (durable at `seq`) for one rule.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Journal sequence number of the event.
    pub seq: u64,
    /// The event.
    pub event: Arc<Event>,
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
}

/// Dispatcher settings.
#[derive(Debug, Clone, Copy)]
pub struct DispatchOptions {
    /// Concurrent deliveries per lane.
    pub concurrency: usize,
    /// Backoff curve.
    pub backoff: Backoff,
}

impl Default for DispatchOptions {
    fn default() -> Self {
        Self {
            concurrency: 2,
            backoff: Backoff::default(),
        }
    }
}

/// Shared state the lanes report into.
pub(crate) struct Shared {
    pub(crate) options: DispatchOptions,
    pub(crate) pending: AtomicUsize,
    pub(crate) outcomes: Arc<dyn OutcomeSink>,
    pub(crate) dead_letters: Arc<DeadLetters>,
    pub(crate) metrics: Arc<Metrics>,
}

/// Routes deliveries to per-rule lanes.
pub struct Dispatcher {
    shared: Arc<Shared>,
    lanes: RwLock<HashMap<String, LaneHandle>>,
}

impl Dispatcher {
    /// A dispatcher with no lanes yet; call [`Dispatcher::set_lanes`].
    /// Must be created inside a tokio runtime.
    pub fn new(
        options: DispatchOptions,
        outcomes: Arc<dyn OutcomeSink>,
        dead_letters: Arc<DeadLetters>,
        metrics: Arc<Metrics>,
    ) -> Dispatcher {
        Dispatcher {
            shared: Arc::new(Shared {
                options,
                pending: AtomicUsize::new(0),
                outcomes,
                dead_letters,
                metrics,
            }),
            lanes: RwLock::new(HashMap::new()),
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
        // Whatever is left belongs to removed rules: dropping the handle closes
        // the lane's queue; its task drains what it holds and exits.
        *lanes = next;
    }

    /// Queue a delivery for `rule`. Returns false (and records nothing) when
    /// the rule has no lane (it was removed).
    pub fn enqueue(&self, rule: &str, delivery: Delivery) -> bool {
        let lanes = self.lanes.read().unwrap_or_else(|e| e.into_inner());
        match lanes.get(rule) {
            Some(lane) => {
                self.shared.pending.fetch_add(1, Ordering::Relaxed);
                self.shared
                    .metrics
                    .rule(rule)
                    .pending
                    .fetch_add(1, Ordering::Relaxed);
                lane.send(delivery);
                true
            }
            None => false,
        }
    }

    /// Deliveries queued, waiting for a retry, or running.
    pub fn pending(&self) -> usize {
        self.shared.pending.load(Ordering::Relaxed)
    }

    /// The dead-letter store.
    pub fn dead_letters(&self) -> &Arc<DeadLetters> {
        &self.shared.dead_letters
    }

    /// Wait until nothing is pending or `timeout` passes; returns what is left.
    pub async fn drain(&self, timeout: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.pending() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.pending()
    }
}
