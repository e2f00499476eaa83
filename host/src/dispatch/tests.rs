//! Lane logic with a scripted [`Deliver`]: batches are what is queued up to
//! the bound, and each delivery of a batch keeps its own outcome.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use trailmark_backends::Event;
use trailmark_event::ParsedEvent;

use super::*;
use crate::rules::RetryPolicy;

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
        accepted_ms: crate::timespec::now_ms(),
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
    let dir = tempfile::tempdir().expect("temp dir");
    let outcomes = Arc::new(Outcomes::default());
    let metrics = Arc::new(Metrics::default());
    let dispatcher = Dispatcher::new(
        DispatchOptions {
            concurrency: 1,
            batch,
            retry_initial: Duration::from_millis(10),
            retry_max: Duration::from_millis(10),
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
