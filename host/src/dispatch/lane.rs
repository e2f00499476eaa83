//! One rule's delivery lane: a queue, a bound on concurrent plugin calls, and
//! the retry / dead-letter decisions for each delivery.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tracing::{error, info, warn};

use super::retry::{self, Next};
use super::{DeadLetter, Delivery, Failure, LaneSpec, Outcome, Shared};
use crate::timespec::now_ms;

/// What a lane's tasks share.
struct LaneState {
    spec: RwLock<Arc<LaneSpec>>,
    permits: Arc<Semaphore>,
    shared: Arc<Shared>,
}

impl LaneState {
    fn spec(&self) -> Arc<LaneSpec> {
        self.spec.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The dispatcher's handle on a running lane. Dropping it closes the queue;
/// the lane finishes what it holds and stops.
pub struct LaneHandle {
    tx: mpsc::UnboundedSender<Delivery>,
    state: Arc<LaneState>,
}

impl LaneHandle {
    /// Start a lane task for `spec`.
    pub(super) fn start(spec: LaneSpec, shared: Arc<Shared>) -> LaneHandle {
        let (tx, rx) = mpsc::unbounded_channel();
        let state = Arc::new(LaneState {
            permits: Arc::new(Semaphore::new(shared.options.concurrency.max(1))),
            spec: RwLock::new(Arc::new(spec)),
            shared,
        });
        tokio::spawn(run(rx, state.clone()));
        LaneHandle { tx, state }
    }

    /// Switch the lane to a new spec (a reloaded rule or plugin). Calls
    /// already running finish on the spec they started with.
    pub(super) fn update(&self, spec: LaneSpec) {
        *self.state.spec.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(spec);
    }

    /// Queue a delivery.
    pub(super) fn send(&self, delivery: Delivery) {
        if let Err(mpsc::error::SendError(d)) = self.tx.send(delivery) {
            // The lane task is gone (runtime shutting down): the delivery stays
            // owed in the journal and is redone after restart.
            let rule = self.state.spec().rule.clone();
            warn!(rule = %rule, seq = d.seq, "lane closed; delivery left for recovery");
            release(&self.state, &rule);
        }
    }
}

async fn run(mut rx: mpsc::UnboundedReceiver<Delivery>, state: Arc<LaneState>) {
    while let Some(delivery) = rx.recv().await {
        let Ok(permit) = state.permits.clone().acquire_owned().await else {
            return;
        };
        tokio::spawn(attempt(state.clone(), delivery, permit));
    }
}

fn attempt(
    state: Arc<LaneState>,
    mut d: Delivery,
    permit: OwnedSemaphorePermit,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let spec = state.spec();
        let metrics = state.shared.metrics.rule(&spec.rule);
        let deliver = spec.deliver.clone();
        let event = d.event.clone();
        let started = Instant::now();
        let result = tokio::task::spawn_blocking(move || deliver.deliver(&event))
            .await
            .unwrap_or_else(|e| Err(Failure::Retry(format!("plugin call did not complete: {e}"))));
        metrics.call_latency.observe(started.elapsed());
        drop(permit);
        d.attempts += 1;
        let message = match result {
            Ok(()) => {
                let lag =
                    Duration::from_millis(u64::try_from(now_ms() - d.accepted_ms).unwrap_or(0));
                state.shared.metrics.delivery_lag.observe(lag);
                metrics.delivered.fetch_add(1, Relaxed);
                finish(&state, &spec.rule, &d, Outcome::Delivered);
                return;
            }
            Err(Failure::Reject(m)) => format!("rejected: {m}"),
            Err(Failure::Retry(m)) => {
                let age =
                    Duration::from_millis(u64::try_from(now_ms() - d.accepted_ms).unwrap_or(0));
                match retry::next(
                    &spec.retry,
                    &state.shared.options.backoff,
                    d.attempts,
                    age,
                    fastrand::f64(),
                ) {
                    Next::RetryAfter(delay) => {
                        metrics.retried.fetch_add(1, Relaxed);
                        warn!(rule = %spec.rule, event_id = %d.event.id, attempt = d.attempts,
                              retry_in_ms = delay.as_millis() as u64, error = %m, "delivery failed; will retry");
                        tokio::spawn(async move {
                            tokio::time::sleep(delay).await;
                            let Ok(permit) = state.permits.clone().acquire_owned().await else {
                                return;
                            };
                            attempt(state, d, permit).await;
                        });
                        return;
                    }
                    Next::GiveUp => format!("gave up after {} attempt(s): {m}", d.attempts),
                }
            }
        };
        dead_letter(state, spec.rule.clone(), d, message).await;
    })
}

async fn dead_letter(state: Arc<LaneState>, rule: String, d: Delivery, message: String) {
    warn!(rule = %rule, event_id = %d.event.id, attempts = d.attempts, error = %message, "delivery dead-lettered");
    let letter = DeadLetter {
        id: 0,
        seq: d.seq,
        event_id: d.event.id.clone(),
        rule: rule.clone(),
        attempts: d.attempts,
        error: message,
        failed_at: now_ms(),
        event: serde_json::to_string(&*d.event).unwrap_or_default(),
    };
    // The dead-letter store must take it before the delivery counts as
    // finished; if it cannot right now, keep trying (the journal still owes it).
    let mut wait = Duration::from_millis(100);
    loop {
        let store = state.shared.dead_letters.clone();
        let l = letter.clone();
        match tokio::task::spawn_blocking(move || store.insert(&l)).await {
            Ok(Ok(id)) => {
                state
                    .shared
                    .metrics
                    .rule(&rule)
                    .dead_lettered
                    .fetch_add(1, Relaxed);
                finish(&state, &rule, &d, Outcome::DeadLettered { id });
                return;
            }
            Ok(Err(e)) => {
                error!(rule = %rule, event_id = %d.event.id, error = %e, "cannot store dead letter; retrying")
            }
            Err(e) => error!(rule = %rule, error = %e, "dead-letter task failed; retrying"),
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(10));
    }
}

fn finish(state: &LaneState, rule: &str, d: &Delivery, outcome: Outcome) {
    state.shared.outcomes.finished(d.seq, rule, &outcome);
    if let Outcome::DeadLettered { id } = outcome {
        info!(rule = %rule, event_id = %d.event.id, dead_letter = id, "stored in dead letters");
    }
    release(state, rule);
}

fn release(state: &LaneState, rule: &str) {
    state.shared.pending.fetch_sub(1, Relaxed);
    state
        .shared
        .metrics
        .rule(rule)
        .pending
        .fetch_sub(1, Relaxed);
}
