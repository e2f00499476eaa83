//! The pipeline with a real journal: a lane that falls behind leaves its
//! deliveries in the journal and reads them back in journal order (nothing
//! lost, nothing twice, even while new events keep arriving), retention
//! keeps what it still owes, and ingest pushes back only when the journal
//! itself is full.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use trailmark_backends::Event;
use trailmark_event::ParsedEvent;
use trailmark_journal::{Journal, JournalOptions};
use trailmark_runtime::Capabilities;

use crate::dispatch::{
    DeadLetters, Deliver, DispatchOptions, Dispatcher, Failure, LaneBacklog, LaneSpec,
};
use crate::engine::outcomes::JournalOutcomes;
use crate::engine::pipeline::{ActiveRules, OpenDeliveries, Pipeline, PipelineIntake};
use crate::engine::records::{EventRecord, OutcomesRecord, kind};
use crate::engine::recovery::JournalReadBack;
use crate::ingest::Intake;
use crate::metrics::Metrics;
use crate::rules::{RetryPolicy, RuleSet};

/// Records the event ids it is handed, one at a time, once `open` is set.
struct Recorder {
    open: AtomicBool,
    seen: Mutex<Vec<String>>,
}

impl Recorder {
    /// A recorder that delivers nothing until `open` is set.
    fn stuck() -> Arc<Recorder> {
        Arc::new(Recorder {
            open: AtomicBool::new(false),
            seen: Mutex::default(),
        })
    }

    /// Wait until `n` deliveries were seen or `timeout` passes.
    async fn wait_for(&self, n: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.seen.lock().expect("lock").len() < n && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Deliver for Recorder {
    fn deliver(&self, events: &[Arc<ParsedEvent>]) -> Vec<Result<(), Failure>> {
        // Bounded, so that a failing test ends instead of waiting for this
        // blocking call forever.
        let stuck_until = Instant::now() + Duration::from_secs(20);
        while !self.open.load(Ordering::Relaxed) {
            if Instant::now() > stuck_until {
                return vec![Err(Failure::Retry("recorder still stuck".into())); events.len()];
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        self.seen
            .lock()
            .expect("recorder lock")
            .extend(events.iter().map(|e| e.event().id.clone()));
        vec![Ok(()); events.len()]
    }
}

fn event(id: &str) -> Event {
    Event {
        id: id.to_owned(),
        version: "0".into(),
        source: "com.example.test".into(),
        detail_type: "Object State Change".into(),
        time: "2026-11-25T10:00:00Z".into(),
        account: "000000000000".into(),
        region: "local".into(),
        resources: Vec::new(),
        detail: "{}".into(),
    }
}

/// The next `n` events, their ids noted in `sent` in journal order.
fn batch(sent: &mut Vec<String>, n: usize) -> Vec<Event> {
    let first = sent.len();
    let events: Vec<Event> = (first..first + n)
        .map(|i| event(&format!("e{i:04}")))
        .collect();
    sent.extend(events.iter().map(|e| e.id.clone()));
    events
}

/// A pipeline in `dir` with one rule per lane, each matching every test
/// event and delivering to its deliverer.
fn pipeline(
    dir: &Path,
    lanes: Vec<(&str, Arc<dyn Deliver>)>,
    lane_capacity: usize,
    journal_options: JournalOptions,
) -> Arc<Pipeline> {
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).expect("rules dir");
    for (name, _) in &lanes {
        std::fs::write(
            rules.join(format!("{name}.yaml")),
            format!("name: {name}\npattern: {{source: [com.example.test]}}\nplugin: slow\n"),
        )
        .expect("rule file");
    }
    let set = RuleSet::load(&[rules]).expect("rule set");
    let journal = Arc::new(Journal::open(&dir.join("journal"), journal_options).expect("journal"));
    let metrics = Arc::new(Metrics::default());
    let open = Arc::new(OpenDeliveries::default());
    let outcomes = Arc::new(JournalOutcomes::new(
        journal.clone(),
        open.clone(),
        Capabilities::default(),
    ));
    let dispatcher = Arc::new(Dispatcher::new(
        DispatchOptions {
            concurrency: 1,
            lane_capacity,
            ..DispatchOptions::default()
        },
        outcomes.clone(),
        Arc::new(JournalReadBack {
            journal: journal.clone(),
        }),
        Arc::new(DeadLetters::open(&dir.join("dlq.sqlite")).expect("dead letters")),
        metrics.clone(),
    ));
    dispatcher.set_lanes(
        lanes
            .into_iter()
            .map(|(name, deliver)| LaneSpec {
                rule: name.to_owned(),
                deliver,
                retry: RetryPolicy {
                    max_attempts: 3,
                    max_age: Duration::from_secs(60),
                },
                order: crate::rules::DeliveryOrder::Any,
            })
            .collect(),
    );
    let index = Arc::new(
        crate::engine::event_index::EventIndex::open(
            &dir.join("event-index"),
            journal.first_seq()..=journal.head().seq,
        )
        .expect("event index"),
    );
    Arc::new(Pipeline::new(
        journal,
        ActiveRules { version: 1, set },
        dispatcher,
        open,
        outcomes,
        index,
        metrics,
    ))
}

/// A pipeline in a temp dir whose one rule, `slow`, delivers to a stuck
/// [`Recorder`]; `sent` lists event ids in journal order.
struct Fixture {
    _dir: tempfile::TempDir,
    recorder: Arc<Recorder>,
    p: Arc<Pipeline>,
    intake: PipelineIntake,
    sent: Vec<String>,
}

impl Fixture {
    fn new(lane_capacity: usize, journal_options: JournalOptions) -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let recorder = Recorder::stuck();
        let p = pipeline(
            dir.path(),
            vec![("slow", recorder.clone())],
            lane_capacity,
            journal_options,
        );
        Fixture {
            _dir: dir,
            recorder,
            intake: PipelineIntake(p.clone()),
            p,
            sent: Vec::new(),
        }
    }
}

fn backlog(p: &Pipeline) -> LaneBacklog {
    p.dispatcher()
        .backlogs()
        .into_iter()
        .find(|b| b.rule == "slow")
        .expect("the lane exists")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spilled_deliveries_come_back_in_order_once_while_new_ones_arrive() {
    let Fixture {
        _dir,
        recorder,
        p,
        intake,
        mut sent,
    } = Fixture::new(4, JournalOptions::default());

    // The plugin is stuck: 4 deliveries fit in memory, the rest wait in the journal.
    for _ in 0..5 {
        intake
            .submit(batch(&mut sent, 6))
            .await
            .expect("accepted while the lane is full");
    }
    assert_eq!(p.dispatcher().pending(), 4);
    let behind = backlog(&p);
    assert_eq!(behind.spilled, 26, "{behind:?}");
    assert_eq!(
        behind.spilled_from,
        Some(5),
        "behind from the fifth event's record"
    );
    assert_eq!(
        p.dispatcher().lowest_behind(),
        Some(5),
        "retention keeps it"
    );

    // The plugin gets going while producers keep sending: the lane reads back
    // and refills at the same time.
    recorder.open.store(true, Ordering::Relaxed);
    for _ in 0..40 {
        intake
            .submit(batch(&mut sent, 3))
            .await
            .expect("accepted during the read-back");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }

    recorder.wait_for(sent.len(), Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let seen = recorder.seen.lock().expect("lock").clone();
    assert_eq!(
        seen, sent,
        "every event once, in journal order (one call at a time)"
    );
    assert_eq!(backlog(&p).spilled, 0);
    assert_eq!(backlog(&p).spilled_from, None);
    assert_eq!(p.dispatcher().lowest_behind(), None);
    assert_eq!(p.dispatcher().drain(Duration::from_secs(5)).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_keeps_the_segments_a_lane_still_has_to_read_back() {
    // Small segments, so the spilled range spans several.
    let Fixture {
        _dir,
        recorder,
        p,
        intake,
        mut sent,
    } = Fixture::new(
        2,
        JournalOptions {
            segment_bytes: 4096,
            ..JournalOptions::default()
        },
    );
    let wait_flushed = |p: Arc<Pipeline>| async move {
        let deadline = Instant::now() + Duration::from_secs(10);
        while p.open().lowest().is_some() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(p.open().lowest(), None, "the outcomes are journaled");
    };
    // Delivered events first: retention may remove those.
    recorder.open.store(true, Ordering::Relaxed);
    for _ in 0..6 {
        intake.submit(batch(&mut sent, 5)).await.expect("accepted");
    }
    recorder.wait_for(sent.len(), Duration::from_secs(10)).await;
    wait_flushed(p.clone()).await;
    // Then the plugin is stuck and the lane spills.
    recorder.open.store(false, Ordering::Relaxed);
    for _ in 0..12 {
        intake
            .submit(batch(&mut sent, 5))
            .await
            .expect("accepted while the lane is full");
    }
    // Stop read-backs (as at shutdown), then let the two deliveries in
    // memory finish: only the spilled range is still owed.
    p.dispatcher().drain(Duration::ZERO).await;
    recorder.open.store(true, Ordering::Relaxed);
    assert_eq!(p.dispatcher().drain(Duration::from_secs(10)).await, 0);
    wait_flushed(p.clone()).await;
    let from = backlog(&p).spilled_from.expect("the lane is behind");
    assert!(from > 30, "behind from the third stuck event, not {from}");

    let removed = {
        let p = p.clone();
        tokio::task::spawn_blocking(move || {
            crate::engine::retention::apply_retention(&p, Duration::ZERO)
        })
        .await
        .expect("retention task")
        .expect("retention")
    };
    let journal = p.journal();
    assert!(removed > 0, "the delivered segments go");
    assert!(
        journal.first_seq() <= from,
        "retention removed owed deliveries: first seq {} > {from} ({removed} segment(s) removed)",
        journal.first_seq()
    );
    let owed = journal.read(from).expect("read").expect("still retained");
    assert_eq!(owed.seq, from);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_pushes_back_only_when_the_journal_queue_is_full() {
    // A stuck plugin and a lane of one: the lane being behind is no reason
    // to refuse.
    let Fixture {
        _dir,
        recorder,
        p,
        intake,
        mut sent,
    } = Fixture::new(
        1,
        JournalOptions {
            queue_capacity: 1,
            ..JournalOptions::default()
        },
    );
    for _ in 0..10 {
        intake
            .submit(batch(&mut sent, 2))
            .await
            .expect("accepted while the lane is behind");
    }
    assert_eq!(backlog(&p).spilled, 19);

    // Hold the journal writer in a completion callback and fill its queue.
    let (release, held) = std::sync::mpsc::channel::<()>();
    let (entered_tx, entered) = std::sync::mpsc::channel::<()>();
    let record = || trailmark_journal::NewRecord {
        kind: 99,
        payload: b"{}".to_vec(),
    };
    p.journal().append(
        vec![record()],
        Box::new(move |_| {
            let _ = entered_tx.send(());
            let _ = held.recv();
        }),
    );
    entered
        .recv_timeout(Duration::from_secs(10))
        .expect("the writer runs the callback");
    p.journal().append(vec![record()], Box::new(|_| {}));
    let refused = intake.submit(batch(&mut sent, 1)).await;
    assert!(
        matches!(refused, Err(crate::ingest::IntakeError::Busy)),
        "{refused:?}"
    );
    assert_eq!(p.metrics.throttled.load(Ordering::Relaxed), 1);
    sent.pop();

    release.send(()).expect("release the writer");
    let journal = p.journal().clone();
    tokio::task::spawn_blocking(move || journal.sync())
        .await
        .expect("sync task")
        .expect("the writer caught up");
    intake
        .submit(batch(&mut sent, 1))
        .await
        .expect("accepted once the journal keeps up");
    recorder.open.store(true, Ordering::Relaxed);
    recorder.wait_for(sent.len(), Duration::from_secs(30)).await;
    assert_eq!(*recorder.seen.lock().expect("lock"), sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_rule_still_delivers_what_it_left_in_the_journal() {
    let Fixture {
        _dir: dir,
        recorder,
        p,
        intake,
        mut sent,
    } = Fixture::new(2, JournalOptions::default());
    for _ in 0..4 {
        intake.submit(batch(&mut sent, 5)).await.expect("accepted");
    }
    assert_eq!(backlog(&p).spilled, 18);
    // A reload removes the rule: events matched before it are still owed to it.
    let empty = dir.path().join("no-rules");
    std::fs::create_dir_all(&empty).expect("empty rules dir");
    p.swap(RuleSet::load(&[empty]).expect("empty rule set"), Vec::new())
        .await;
    recorder.open.store(true, Ordering::Relaxed);
    recorder.wait_for(sent.len(), Duration::from_secs(30)).await;
    assert_eq!(*recorder.seen.lock().expect("lock"), sent);
    assert_eq!(p.dispatcher().lowest_behind(), None);
    assert_eq!(p.dispatcher().drain(Duration::from_secs(5)).await, 0);
}

/// Keeps every batch of events it is handed.
#[derive(Default)]
struct Keeper {
    batches: Mutex<Vec<Vec<Arc<ParsedEvent>>>>,
}

impl Keeper {
    fn kept(&self) -> Vec<Arc<ParsedEvent>> {
        self.batches.lock().expect("keeper lock").concat()
    }
}

impl Deliver for Keeper {
    fn deliver(&self, events: &[Arc<ParsedEvent>]) -> Vec<Result<(), Failure>> {
        self.batches
            .lock()
            .expect("keeper lock")
            .push(events.to_vec());
        vec![Ok(()); events.len()]
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rule_gets_the_same_event_parsed_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (a, b) = (Arc::new(Keeper::default()), Arc::new(Keeper::default()));
    let p = pipeline(
        dir.path(),
        vec![("a", a.clone()), ("b", b.clone())],
        64,
        JournalOptions::default(),
    );
    let mut events = batch(&mut Vec::new(), 3);
    for (i, e) in events.iter_mut().enumerate() {
        e.detail = format!(
            r#"{{"entity-type":"book","entity-id":{i},"operation":"insert","ts":1,"author":"ann","data":{{"n":{i}}}}}"#
        );
    }
    PipelineIntake(p.clone())
        .submit(events)
        .await
        .expect("accepted");
    assert_eq!(p.dispatcher().drain(Duration::from_secs(10)).await, 0);
    let a = a.kept();
    let b = b.kept();
    assert_eq!(a.len(), 3);
    assert_eq!(b.len(), 3);
    for (i, (a, b)) in a.iter().zip(&b).enumerate() {
        assert!(Arc::ptr_eq(a, b), "one ParsedEvent shared by both rules");
        assert!(matches!(a.change(), Some(Ok(_))), "{:?}", a.change());
        assert_eq!(a.data(), Some(format!(r#"{{"n":{i}}}"#).as_str()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outcomes_of_a_batch_are_journaled_in_one_record() {
    let dir = tempfile::tempdir().expect("temp dir");
    let keeper = Arc::new(Keeper::default());
    let p = pipeline(
        dir.path(),
        vec![("a", keeper.clone())],
        64,
        JournalOptions::default(),
    );
    let mut sent = Vec::new();
    for _ in 0..4 {
        PipelineIntake(p.clone())
            .submit(batch(&mut sent, 10))
            .await
            .expect("accepted");
    }
    assert_eq!(p.dispatcher().drain(Duration::from_secs(10)).await, 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while p.open().lowest().is_some() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(p.open().lowest(), None, "the outcomes are journaled");
    let journal = p.journal().clone();
    tokio::task::spawn_blocking(move || journal.sync())
        .await
        .expect("sync task")
        .expect("the outcome records are written");

    let mut seq_of = std::collections::HashMap::new();
    let mut records = Vec::new();
    for record in p.journal().read_from(1) {
        let record = record.expect("journal record");
        match record.kind {
            kind::EVENT => {
                let r: EventRecord = serde_json::from_slice(&record.payload).expect("event");
                seq_of.insert(r.event.id, record.seq);
            }
            kind::OUTCOMES => {
                let r = OutcomesRecord::from_stored(record.kind, &record.payload).expect("reads");
                records.push(r.delivered["a"].clone());
            }
            other => panic!("unexpected record kind {other}"),
        }
    }
    let batches = keeper.batches.lock().expect("lock").clone();
    assert!(batches.iter().any(|b| b.len() > 1), "some batch of several");
    for batch in &batches {
        let seqs: Vec<u64> = batch.iter().map(|e| seq_of[&e.event().id]).collect();
        assert!(
            records.iter().any(|r| seqs.iter().all(|s| r.contains(s))),
            "the batch {seqs:?} is in one outcome record: {records:?}"
        );
    }
    let journaled: usize = records.iter().map(Vec::len).sum();
    assert_eq!(journaled, sent.len(), "one outcome per delivery");
    assert!(records.len() <= batches.len(), "{records:?}");
}
