//! One rule's delivery lane: a bounded in-memory queue handed to the plugin
//! in batches (what is queued, up to `dispatch.batch`, per call), a bound on
//! concurrent calls, the retry / dead-letter decision for each delivery of a
//! batch, and the read-back of what it owes beyond its queue.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tracing::{debug, error, info, warn};

use super::backlog::{Behind, ReadChunk};
use super::retry::{self, Next};
use super::{DeadLetter, Delivery, Failure, LaneSpec, Outcome, Shared};
use crate::metrics::RuleMetrics;
use crate::rules::DeliveryOrder;
use trailmark_backend_api::when::now_ms;

/// Wait before retrying a read-back that failed (an I/O error).
const READ_RETRY: Duration = Duration::from_millis(500);

/// A lane's queue and what it owes beyond it.
#[derive(Default)]
struct Queue {
    /// Deliveries waiting for a plugin-call permit, in order.
    ready: VecDeque<Delivery>,
    /// Deliveries in memory: ready, running or waiting to retry.
    in_memory: usize,
    /// Owed deliveries left in the journal.
    behind: Behind,
    /// A read-back is running.
    reading: bool,
    /// The rule was removed: finish what is owed, then stop.
    retired: bool,
    /// `order: entity`: the entity each taken delivery holds (running,
    /// waiting to retry or being dead-lettered), by its seq, until it
    /// finishes.
    held: HashMap<u64, Entity>,
    /// The entities in `held`.
    held_entities: HashSet<Entity>,
}

/// An entity: source, entity type, entity id.
type Entity = (String, String, String);

/// The entity `d`'s event changes, when it is a valid state change.
fn entity(d: &Delivery) -> Option<Entity> {
    let change = d.event.change()?.as_ref().ok()?;
    Some((
        d.event.event().source.clone(),
        change.entity_type.clone(),
        change.entity_id.clone(),
    ))
}

impl Queue {
    /// The next batch, up to `max`: what is ready, in order, or for
    /// `order: entity` only deliveries whose entity no earlier delivery
    /// holds (one per entity; a retried one, back at the front, still holds
    /// its entity and is taken again).
    fn take_batch(&mut self, max: usize, order: DeliveryOrder) -> Vec<Delivery> {
        if order == DeliveryOrder::Any {
            let n = self.ready.len().min(max);
            return self.ready.drain(..n).collect();
        }
        let mut batch = Vec::new();
        let mut left = VecDeque::with_capacity(self.ready.len());
        while let Some(d) = self.ready.pop_front() {
            if batch.len() == max {
                left.push_back(d);
                continue;
            }
            match entity(&d) {
                None => batch.push(d),
                Some(_) if self.held.contains_key(&d.seq) => batch.push(d),
                Some(e) if self.held_entities.contains(&e) => left.push_back(d),
                Some(e) => {
                    self.held_entities.insert(e.clone());
                    self.held.insert(d.seq, e);
                    batch.push(d);
                }
            }
        }
        self.ready = left;
        batch
    }

    /// Let the entities of finished deliveries go; whether any was held.
    fn release(&mut self, outcomes: &[(u64, Outcome)]) -> bool {
        let mut released = false;
        for (seq, _) in outcomes {
            if let Some(e) = self.held.remove(seq) {
                self.held_entities.remove(&e);
                released = true;
            }
        }
        released
    }
}

/// What a lane's tasks share.
pub(super) struct LaneState {
    rule: String,
    spec: RwLock<Arc<LaneSpec>>,
    permits: Arc<Semaphore>,
    shared: Arc<Shared>,
    metrics: Arc<RuleMetrics>,
    queue: Mutex<Queue>,
    wake: Notify,
}

impl LaneState {
    fn spec(&self) -> Arc<LaneSpec> {
        self.spec
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The queue is changed in single steps, so a poisoned lock still guards
    /// consistent data.
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Take `d` into memory, whatever the capacity.
    fn push(&self, q: &mut Queue, d: Delivery) {
        q.in_memory += 1;
        self.shared.in_memory.fetch_add(1, Relaxed);
        self.metrics.pending.fetch_add(1, Relaxed);
        self.shared.outcomes.opened(d.seq);
        q.ready.push_back(d);
        self.wake.notify_one();
    }

    /// Start a read-back if something is behind and there is room for it.
    fn maybe_read(self: &Arc<Self>, q: &mut Queue) {
        if q.behind.is_empty()
            || q.reading
            || self.shared.stopping.load(Relaxed)
            || q.in_memory > self.shared.capacity() / 2
        {
            return;
        }
        q.reading = true;
        self.shared.runtime.spawn(read_back(self.clone()));
    }

    /// The rule this lane delivers to.
    pub(super) fn rule(&self) -> &str {
        &self.rule
    }

    /// What is owed but not in memory.
    pub(super) fn behind(&self) -> (u64, Option<u64>) {
        let q = self.queue();
        (q.behind.count(), q.behind.spilled_from())
    }

    /// The lowest journal position this lane still has to read back.
    pub(super) fn lowest_behind(&self) -> Option<u64> {
        self.queue().behind.lowest()
    }

    /// Removed, and nothing left to do.
    pub(super) fn finished(&self) -> bool {
        let q = self.queue();
        q.retired && q.in_memory == 0 && q.behind.is_empty() && !q.reading
    }

    fn set_spilled_metric(&self, q: &Queue) {
        self.metrics
            .spilled
            .store(i64::try_from(q.behind.count()).unwrap_or(i64::MAX), Relaxed);
    }
}

/// The dispatcher's handle on a running lane. Dropping it retires the lane:
/// it finishes what it owes on the spec it has, then stops.
pub struct LaneHandle {
    state: Arc<LaneState>,
}

impl LaneHandle {
    /// Start a lane task for `spec`.
    pub(super) fn start(spec: LaneSpec, shared: Arc<Shared>) -> LaneHandle {
        let state = Arc::new(LaneState {
            rule: spec.rule.clone(),
            metrics: shared.metrics.rule(&spec.rule),
            permits: Arc::new(Semaphore::new(shared.options.concurrency.max(1))),
            spec: RwLock::new(Arc::new(spec)),
            queue: Mutex::default(),
            wake: Notify::new(),
            shared,
        });
        state.shared.runtime.spawn(run(state.clone()));
        LaneHandle { state }
    }

    /// The lane's shared state.
    pub(super) fn state(&self) -> &Arc<LaneState> {
        &self.state
    }

    /// Switch the lane to a new spec (a reloaded rule or plugin). Calls
    /// already running finish on the spec they started with.
    pub(super) fn update(&self, spec: LaneSpec) {
        *self
            .state
            .spec
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(spec);
    }

    /// Queue a delivery of an event, in journal order. When the lane is full
    /// or already behind, the delivery stays in the journal (not in memory)
    /// and is read back when the lane has room.
    pub(super) fn send(&self, delivery: Delivery) {
        let state = &self.state;
        let mut q = state.queue();
        if q.behind.is_empty() && q.in_memory < state.shared.capacity() {
            state.push(&mut q, delivery);
            return;
        }
        let seq = delivery.seq;
        if q.behind.spill(seq) {
            if q.behind.count() == 1 {
                debug!(rule = %state.rule, seq, "lane is full; its deliveries wait in the journal");
            }
            state.set_spilled_metric(&q);
            state.maybe_read(&mut q);
        } else {
            state.push(&mut q, delivery);
        }
    }

    /// Queue a delivery in memory whatever the lane's capacity (a replay the
    /// journal records out of event order).
    pub(super) fn send_now(&self, delivery: Delivery) {
        let mut q = self.state.queue();
        self.state.push(&mut q, delivery);
    }

    /// Owe the deliveries recovery found at start, `(seq, accepted_ms)` in
    /// seq order; they are read back ahead of anything newer.
    pub(super) fn recover(&self, owed: Vec<(u64, i64)>) {
        let mut q = self.state.queue();
        q.behind.recover(owed);
        self.state.set_spilled_metric(&q);
        self.state.maybe_read(&mut q);
    }
}

impl LaneHandle {
    /// The rule was removed: finish what the lane owes, then stop.
    pub(super) fn retire(&self) {
        self.state.queue().retired = true;
        self.state.wake.notify_one();
    }
}

impl Drop for LaneHandle {
    fn drop(&mut self) {
        self.retire();
    }
}

/// Read owed deliveries back from the journal, in order, while there is room.
async fn read_back(state: Arc<LaneState>) {
    loop {
        let request = {
            let mut q = state.queue();
            let room = state.shared.capacity().saturating_sub(q.in_memory);
            match q.behind.next_read(room) {
                Some(r) if !state.shared.stopping.load(Relaxed) => r,
                _ => {
                    q.reading = false;
                    return;
                }
            }
        };
        let source = state.shared.read_back.clone();
        let rule = state.rule.clone();
        let r = request.clone();
        let result = tokio::task::spawn_blocking(move || source.read(&rule, &r))
            .await
            .unwrap_or_else(|e| Err(format!("read-back task failed: {e}")));
        let chunk: ReadChunk = match result {
            Ok(chunk) => chunk,
            Err(e) => {
                warn!(rule = %state.rule, error = %e, "cannot read owed deliveries back from the journal; retrying");
                tokio::time::sleep(READ_RETRY).await;
                continue;
            }
        };
        let mut q = state.queue();
        q.behind.apply(&request, &chunk);
        let n = chunk.deliveries.len();
        for d in chunk.deliveries {
            state.push(&mut q, d);
        }
        state.set_spilled_metric(&q);
        debug!(rule = %state.rule, read = n, behind = q.behind.count(), "read owed deliveries back from the journal");
        if q.behind.is_empty()
            || state.shared.stopping.load(Relaxed)
            || q.in_memory > state.shared.capacity() / 2
        {
            q.reading = false;
            if q.retired {
                state.wake.notify_one();
            }
            return;
        }
    }
}

async fn run(state: Arc<LaneState>) {
    loop {
        let idle = {
            let q = state.queue();
            if q.ready.is_empty()
                && q.retired
                && q.in_memory == 0
                && (q.behind.is_empty() || state.shared.stopping.load(Relaxed))
                && !q.reading
            {
                return;
            }
            q.ready.is_empty()
        };
        if idle {
            state.wake.notified().await;
            continue;
        }
        let Ok(permit) = state.permits.clone().acquire_owned().await else {
            return;
        };
        // Take what is queued now (more may have arrived while waiting for
        // the permit), up to the batch bound.
        let order = state.spec().order;
        let batch = state
            .queue()
            .take_batch(state.shared.options.batch.max(1), order);
        if batch.is_empty() {
            drop(permit);
            if order == DeliveryOrder::Entity {
                // All that is ready waits for its entity: until a delivery
                // finishes (or more arrive).
                state.wake.notified().await;
            }
            continue;
        }
        state
            .shared
            .runtime
            .spawn(attempt(state.clone(), batch, permit));
    }
}

/// One plugin call for `batch`, then each delivery's own outcome.
async fn attempt(state: Arc<LaneState>, batch: Vec<Delivery>, permit: OwnedSemaphorePermit) {
    let spec = state.spec();
    let metrics = state.metrics.clone();
    let deliver = spec.deliver.clone();
    let events: Vec<_> = batch.iter().map(|d| d.event.clone()).collect();
    let n = events.len();
    let started = Instant::now();
    let results = tokio::task::spawn_blocking(move || deliver.deliver(&events))
        .await
        .unwrap_or_else(|e| {
            let failure = Failure::Retry(format!("plugin call did not complete: {e}"));
            vec![Err(failure); n]
        });
    let elapsed = started.elapsed();
    drop(permit);
    if results.len() != n {
        error!(rule = %spec.rule, deliveries = n, results = results.len(),
               "the plugin call answered a different number of results than deliveries; the unanswered ones are retried");
    }
    let mut results = results.into_iter();
    let mut delivered = Vec::with_capacity(n);
    for mut d in batch {
        metrics.call_latency.observe(elapsed);
        d.attempts += 1;
        let result = results.next().unwrap_or_else(|| {
            Err(Failure::Retry(
                "the plugin call gave no result for this delivery".into(),
            ))
        });
        let dead = match result {
            Ok(()) => {
                state.shared.metrics.delivery_lag.observe(age(&d));
                metrics.delivered.fetch_add(1, Relaxed);
                delivered.push((d.seq, Outcome::Delivered));
                continue;
            }
            Err(Failure::Reject(m)) => Some((d, format!("rejected: {m}"))),
            Err(Failure::Retry(m)) => retry_or_give_up(&state, &spec, d, m, None),
            Err(Failure::RetryAfter(m, wait)) => retry_or_give_up(&state, &spec, d, m, Some(wait)),
        };
        if let Some((d, message)) = dead {
            state
                .shared
                .runtime
                .spawn(dead_letter(state.clone(), spec.rule.clone(), d, message));
        }
    }
    finish(&state, &spec.rule, &delivered);
}

/// Schedule `d`'s retry after its backoff (and no sooner than the target's
/// `retry_after`), or, when the rule's policy is spent, hand it back with
/// the dead letter's message. Only `d` waits: the lane goes on with the
/// other deliveries (an `order: entity` lane holds back only `d`'s entity).
fn retry_or_give_up(
    state: &Arc<LaneState>,
    spec: &LaneSpec,
    d: Delivery,
    m: String,
    retry_after: Option<Duration>,
) -> Option<(Delivery, String)> {
    match retry::next(
        &spec.retry,
        &state.shared.options.backoff(),
        d.attempts,
        age(&d),
        retry_after,
        fastrand::f64(),
    ) {
        Next::RetryAfter(delay) => {
            state.metrics.retried.fetch_add(1, Relaxed);
            warn!(rule = %spec.rule, event_id = %d.event.event().id, attempt = d.attempts,
                  retry_in_ms = delay.as_millis() as u64,
                  retry_after_ms = retry_after.map(|w| w.as_millis() as u64),
                  error = %m, "delivery failed; will retry");
            state
                .shared
                .runtime
                .spawn(retry_later(state.clone(), d, delay));
            None
        }
        Next::GiveUp => {
            let message = format!("gave up after {} attempt(s): {m}", d.attempts);
            Some((d, message))
        }
    }
}

/// How long ago `d`'s event was accepted.
fn age(d: &Delivery) -> Duration {
    Duration::from_millis(u64::try_from(now_ms() - d.accepted_ms).unwrap_or(0))
}

/// Put `d` back in the lane's queue once its backoff has passed: it goes in
/// the next batch, ahead of newer deliveries. It stays counted in memory.
async fn retry_later(state: Arc<LaneState>, d: Delivery, delay: Duration) {
    tokio::time::sleep(delay).await;
    state.queue().ready.push_front(d);
    state.wake.notify_one();
}

async fn dead_letter(state: Arc<LaneState>, rule: String, d: Delivery, message: String) {
    let event = d.event.event();
    warn!(rule = %rule, event_id = %event.id, attempts = d.attempts, error = %message, "delivery dead-lettered");
    let letter = DeadLetter {
        id: 0,
        seq: d.seq,
        event_id: event.id.clone(),
        rule: rule.clone(),
        attempts: d.attempts,
        error: message,
        failed_at: now_ms(),
        event: serde_json::to_string(event).unwrap_or_default(),
    };
    // The dead-letter store must take it before the delivery counts as
    // finished; if it cannot right now, keep trying (the journal still owes it).
    let mut wait = Duration::from_millis(100);
    loop {
        let store = state.shared.dead_letters.clone();
        let l = letter.clone();
        match tokio::task::spawn_blocking(move || store.insert(&l)).await {
            Ok(Ok(id)) => {
                state.metrics.dead_lettered.fetch_add(1, Relaxed);
                info!(rule = %rule, event_id = %event.id, dead_letter = id, "stored in dead letters");
                finish(&state, &rule, &[(d.seq, Outcome::DeadLettered { id })]);
                return;
            }
            Ok(Err(e)) => {
                error!(rule = %rule, event_id = %event.id, error = %e, "cannot store dead letter; retrying")
            }
            Err(e) => error!(rule = %rule, error = %e, "dead-letter task failed; retrying"),
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(10));
    }
}

/// Record `outcomes` (deliveries of this lane) together and let them go.
fn finish(state: &Arc<LaneState>, rule: &str, outcomes: &[(u64, Outcome)]) {
    if outcomes.is_empty() {
        return;
    }
    state.shared.outcomes.finished(rule, outcomes);
    let n = outcomes.len();
    let mut q = state.queue();
    if q.release(outcomes) {
        state.wake.notify_one();
    }
    q.in_memory = q.in_memory.saturating_sub(n);
    state.shared.in_memory.fetch_sub(n, Relaxed);
    state.metrics.pending.fetch_sub(n as i64, Relaxed);
    state.maybe_read(&mut q);
    if q.retired {
        state.wake.notify_one();
    }
}
