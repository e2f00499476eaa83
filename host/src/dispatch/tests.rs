//! Lane logic with a scripted [`Deliver`]: batches are what is queued up to
//! the bound, and each delivery of a batch keeps its own outcome.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use trailmark_backends::Event;
use trailmark_event::ParsedEvent;

use super::*;
use crate::rules::{DeliveryOrder, RetryPolicy};

/// What the scripted deliverer answers for an event id.
#[derive(Clone, Copy)]
enum Script {
    Ok,
    /// Retry the first time, then ok.
    RetryOnce,
    Reject,
}

/// A deliverer that answers by script and records every call's event ids.
#[derive(Default)]
struct Scripted {
    script: HashMap<String, Script>,
    calls: Mutex<Vec<Vec<String>>>,
}

impl Deliver for Scripted {
    fn deliver(&self, events: &[Arc<ParsedEvent>]) -> Vec<Result<(), Failure>> {
        let ids: Vec<String> = events.iter().map(|e| e.event().id.clone()).collect();
        let mut calls = self.calls.lock().expect("calls lock");
        let results = ids
            .iter()
            .map(|id| {
                let before = calls.iter().flatten().filter(|seen| *seen == id).count();
                match self.script.get(id).copied().unwrap_or(Script::Ok) {
                    Script::Ok => Ok(()),
                    Script::RetryOnce if before == 0 => Err(Failure::Retry("not yet".into())),
                    Script::RetryOnce => Ok(()),
                    Script::Reject => Err(Failure::Reject("never".into())),
                }
            })
            .collect();
        calls.push(ids);
        results
    }
}

/// Records outcomes as the journal would get them: one entry per call.
#[derive(Default)]
struct Outcomes {
    finished: Mutex<Vec<Vec<(u64, Outcome)>>>,
}

impl OutcomeSink for Outcomes {
    fn opened(&self, _: u64) {}

    fn finished(&self, _: &str, outcomes: &[(u64, Outcome)]) {
        self.finished
            .lock()
            .expect("outcomes lock")
            .push(outcomes.to_vec());
    }
}

/// Nothing is ever spilled in these tests.
struct NoReadBack;

impl ReadBack for NoReadBack {
    fn read(&self, _: &str, _: &ReadRequest) -> Result<ReadChunk, String> {
        Err("nothing to read back".into())
    }
}

fn delivery(seq: u64) -> Delivery {
    let event = Event {
        id: format!("e{seq}"),
        version: "0".into(),
        source: "com.example.test".into(),
        detail_type: "Login".into(),
        time: "2026-11-25T10:00:00Z".into(),
        account: "000000000000".into(),
        region: "local".into(),
        resources: Vec::new(),
        detail: "{}".into(),
    };
    Delivery {
        seq,
        event: Arc::new(ParsedEvent::new(event)),
        accepted_ms: trailmark_backend_api::when::now_ms(),
        attempts: 0,
    }
}

struct Lane {
    _dir: tempfile::TempDir,
    dispatcher: Dispatcher,
    deliver: Arc<Scripted>,
    outcomes: Arc<Outcomes>,
    metrics: Arc<Metrics>,
}

fn lane(batch: usize, script: &[(&str, Script)]) -> Lane {
    lane_with(
        batch,
        1,
        DeliveryOrder::Any,
        Duration::from_millis(10),
        script,
    )
}

fn lane_with(
    batch: usize,
    concurrency: usize,
    order: DeliveryOrder,
    retry_after: Duration,
    script: &[(&str, Script)],
) -> Lane {
    let dir = tempfile::tempdir().expect("temp dir");
    let outcomes = Arc::new(Outcomes::default());
    let metrics = Arc::new(Metrics::default());
    let dispatcher = Dispatcher::new(
        DispatchOptions {
            concurrency,
            batch,
            retry_initial: retry_after,
            retry_max: retry_after,
            ..DispatchOptions::default()
        },
        outcomes.clone(),
        Arc::new(NoReadBack),
        Arc::new(DeadLetters::open(&dir.path().join("dlq.sqlite")).expect("dead letters")),
        metrics.clone(),
    );
    let deliver = Arc::new(Scripted {
        script: script
            .iter()
            .map(|(id, s)| ((*id).to_owned(), *s))
            .collect(),
        ..Scripted::default()
    });
    dispatcher.set_lanes(vec![LaneSpec {
        rule: "r".into(),
        deliver: deliver.clone(),
        retry: RetryPolicy {
            max_attempts: 3,
            max_age: Duration::from_secs(60),
        },
        order,
    }]);
    Lane {
        _dir: dir,
        dispatcher,
        deliver,
        outcomes,
        metrics,
    }
}

#[tokio::test]
async fn each_delivery_of_a_batch_keeps_its_own_outcome() {
    let l = lane(32, &[("e2", Script::RetryOnce), ("e4", Script::Reject)]);
    // Queued before the lane runs (one-threaded runtime): one batch.
    for seq in 1..=5 {
        assert!(l.dispatcher.enqueue("r", delivery(seq)));
    }
    assert_eq!(l.dispatcher.drain(Duration::from_secs(10)).await, 0);

    let calls = l.deliver.calls.lock().expect("calls").clone();
    assert_eq!(
        calls,
        vec![
            vec!["e1", "e2", "e3", "e4", "e5"],
            vec!["e2"], // only the retried delivery, after its backoff
        ],
        "one call for the batch, then the retry alone; the healthy ones once"
    );
    let finished = l.outcomes.finished.lock().expect("outcomes").clone();
    let dead = l.dispatcher.dead_letters().list(None, 10).expect("dlq");
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].seq, dead[0].event_id.as_str()), (4, "e4"));
    assert!(dead[0].error.contains("never"), "{}", dead[0].error);
    assert_eq!(
        finished[0],
        vec![
            (1, Outcome::Delivered),
            (3, Outcome::Delivered),
            (5, Outcome::Delivered)
        ],
        "the batch's delivered outcomes are recorded together"
    );
    // The dead letter and the retry finish on their own, in either order.
    let mut rest = finished[1..].to_vec();
    rest.sort_by_key(|outcomes| outcomes[0].0);
    assert_eq!(
        rest,
        vec![
            vec![(2, Outcome::Delivered)],
            vec![(4, Outcome::DeadLettered { id: dead[0].id })],
        ],
        "every delivery has one outcome"
    );
    let m = l.metrics.rule("r");
    assert_eq!(m.delivered.load(Relaxed), 4);
    assert_eq!(m.retried.load(Relaxed), 1);
    assert_eq!(m.dead_lettered.load(Relaxed), 1);
    assert_eq!(m.pending.load(Relaxed), 0);
    let text = l.metrics.render();
    assert!(
        text.contains("trailmark_plugin_call_seconds_count{rule=\"r\"} 6"),
        "one latency observation per delivery attempt:\n{text}"
    );
}

#[tokio::test]
async fn a_lane_takes_what_is_queued_up_to_the_batch_bound() {
    let l = lane(32, &[]);
    for seq in 1..=70 {
        assert!(l.dispatcher.enqueue("r", delivery(seq)));
    }
    assert_eq!(l.dispatcher.drain(Duration::from_secs(10)).await, 0);
    let calls = l.deliver.calls.lock().expect("calls").clone();
    let sizes: Vec<usize> = calls.iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![32, 32, 6]);
    let order: Vec<String> = calls.into_iter().flatten().collect();
    let sent: Vec<String> = (1..=70).map(|seq| format!("e{seq}")).collect();
    assert_eq!(order, sent, "in lane order, each once");
}

/// A deliverer that answers fewer results than it was given events.
struct Short;

impl Deliver for Short {
    fn deliver(&self, events: &[Arc<ParsedEvent>]) -> Vec<Result<(), Failure>> {
        vec![Ok(()); events.len().saturating_sub(1)]
    }
}

#[tokio::test]
async fn a_delivery_without_a_result_is_retried() {
    let l = lane(32, &[]);
    l.dispatcher.set_lanes(vec![LaneSpec {
        rule: "r".into(),
        deliver: Arc::new(Short),
        retry: RetryPolicy {
            max_attempts: 0,
            max_age: Duration::from_secs(60),
        },
        order: DeliveryOrder::Any,
    }]);
    for seq in 1..=3 {
        assert!(l.dispatcher.enqueue("r", delivery(seq)));
    }
    assert_eq!(l.dispatcher.drain(Duration::from_secs(10)).await, 0);
    let dead = l.dispatcher.dead_letters().list(None, 10).expect("dlq");
    assert_eq!(dead.len(), 1, "only the unanswered delivery fails");
    assert_eq!(dead[0].seq, 3);
    assert!(dead[0].error.contains("no result"), "{}", dead[0].error);
}

/// A delivery of a state change of entity `entity` (type `doc`).
fn change_of(seq: u64, entity: &str) -> Delivery {
    let mut d = delivery(seq);
    let mut event = d.event.event().clone();
    event.detail_type = "Object State Change".into();
    event.detail = format!(
        r#"{{"entity-type":"doc","entity-id":"{entity}","operation":"update","ts":1,"author":"a","data":{{}}}}"#
    );
    d.event = Arc::new(ParsedEvent::new(event));
    d
}

/// Index of the first call holding `id` after call `from`.
fn call_with(calls: &[Vec<String>], id: &str, from: usize) -> usize {
    calls
        .iter()
        .enumerate()
        .skip(from)
        .find(|(_, call)| call.iter().any(|c| c == id))
        .map(|(i, _)| i)
        .unwrap_or_else(|| panic!("no call with {id} from {from}: {calls:?}"))
}

#[tokio::test]
async fn order_entity_delivers_one_entitys_events_one_at_a_time_in_journal_order() {
    // e1, e2, e4 change entity A, e3 and e5 entity B; e1 fails once.
    let script = [("e1", Script::RetryOnce)];
    let entities = [(1, "A"), (2, "A"), (3, "B"), (4, "A"), (5, "B")];

    // By default a retried delivery lands after later ones of its entity.
    // A retry waits 100-200 ms (backoff with jitter), so what runs
    // meanwhile is not a matter of scheduling luck.
    let retry_after = Duration::from_millis(200);
    let any = lane_with(32, 4, DeliveryOrder::Any, retry_after, &script);
    for (seq, e) in entities {
        assert!(any.dispatcher.enqueue("r", change_of(seq, e)));
    }
    assert_eq!(any.dispatcher.drain(Duration::from_secs(10)).await, 0);
    let calls = any.deliver.calls.lock().expect("calls").clone();
    assert_eq!(calls[0], ["e1", "e2", "e3", "e4", "e5"], "{calls:?}");

    let ordered = lane_with(32, 4, DeliveryOrder::Entity, retry_after, &script);
    for (seq, e) in entities {
        assert!(ordered.dispatcher.enqueue("r", change_of(seq, e)));
    }
    assert_eq!(ordered.dispatcher.drain(Duration::from_secs(10)).await, 0);
    let calls = ordered.deliver.calls.lock().expect("calls").clone();
    // One delivery per entity per call: the first takes e1 (A) and e3 (B).
    assert_eq!(calls[0], ["e1", "e3"], "{calls:?}");
    for call in &calls {
        let of_a = call
            .iter()
            .filter(|id| ["e1", "e2", "e4"].contains(&id.as_str()));
        assert!(of_a.count() <= 1, "two of A in one call: {calls:?}");
    }
    // A's events each wait for the one before to be delivered: e1's retry,
    // then e2, then e4. B's go on meanwhile.
    let e1_retry = call_with(&calls, "e1", 1);
    let e2 = call_with(&calls, "e2", 0);
    let e4 = call_with(&calls, "e4", 0);
    assert!(e1_retry < e2 && e2 < e4, "{calls:?}");
    assert!(
        call_with(&calls, "e5", 0) < e1_retry,
        "B waited for A: {calls:?}"
    );
    let delivered: usize = ordered
        .outcomes
        .finished
        .lock()
        .expect("outcomes")
        .iter()
        .map(Vec::len)
        .sum();
    assert_eq!(delivered, 5, "each delivered once");
    assert_eq!(ordered.metrics.rule("r").pending.load(Relaxed), 0);
}
