//! What a snapshot of the windows costs at 100,000 groups: the copy the
//! server makes while correlation waits (`Engine::clone`), the conversion
//! to a [`Snapshot`], and its encoding: postcard (what
//! `DATA/correlation.snapshot` holds since format version 2) beside JSON
//! (version 1), both ways, for `event_count` and `value_count`, each group holding 36
//! events inside a one-hour window. One run each, wall-clock time: a
//! figure for sizing `[correlation] snapshot-every`, not a tight bench.
//!
//! Run: `cargo bench -p trailmark-correlate --bench snapshot`

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use trailmark_correlate::{Condition, Correlation, Engine, Event, Kind, Limits};

/// The server's allocator (host/src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const GROUPS: u64 = 100_000;
const EVENTS_PER_GROUP: u64 = 36;

fn main() {
    let kinds = [
        Kind::EventCount,
        Kind::ValueCount {
            field: "entity".into(),
        },
    ];
    for kind in kinds {
        let name = kind.sigma_name();
        let corr = Correlation::new(
            "bench",
            kind,
            vec!["r".into()],
            vec!["author".into()],
            3_600_000,
            Condition::at_least(50),
        );
        let mut engine = Engine::new(vec![corr], Limits::default()).expect("valid");
        let mut time = 0;
        for round in 0..EVENTS_PER_GROUP {
            for group in 0..GROUPS {
                time += 1;
                let fields = BTreeMap::from([
                    ("author".to_owned(), format!("user{group}@example.com")),
                    ("entity".to_owned(), format!("e{round}")),
                ]);
                let id = format!("ev-{group}-{round}");
                engine.process(
                    &Event {
                        id: &id,
                        time: time / 100,
                        fields: &fields,
                    },
                    &["r"],
                );
            }
        }
        let (copy, cloned) = timed(|| engine.clone());
        drop(copy);
        let (snapshot, converted) = timed(|| engine.snapshot());
        let (json, json_out) =
            timed(|| serde_json::to_vec(&snapshot).expect("a snapshot serializes"));
        let (back, json_in) = timed(|| {
            serde_json::from_slice::<trailmark_correlate::Snapshot>(&json).expect("reads back")
        });
        drop(back);
        let (compact, compact_out) =
            timed(|| postcard::to_stdvec(&snapshot).expect("a snapshot serializes"));
        let (back, compact_in) = timed(|| {
            postcard::from_bytes::<trailmark_correlate::Snapshot>(&compact).expect("reads back")
        });
        assert!(back == snapshot, "postcard reads back the same windows");
        println!(
            "{name}: {GROUPS} groups x {EVENTS_PER_GROUP} events: clone {cloned:.2?}, snapshot {converted:.2?}, \
             postcard {compact_out:.2?} write / {compact_in:.2?} read ({} MB), \
             JSON {json_out:.2?} write / {json_in:.2?} read ({} MB)",
            compact.len() / 1_000_000,
            json.len() / 1_000_000
        );
    }
}

/// What `f` returns, and how long it took.
fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let started = Instant::now();
    let out = f();
    (out, started.elapsed())
}
