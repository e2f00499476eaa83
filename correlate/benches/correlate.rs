//! Cost per event of each correlation type with 100,000 live groups: the
//! engine is first filled with 100k groups (60 events each, so that their
//! windows are in their steady state: events leave as others come), then
//! each iteration feeds one more event to a group chosen by a fixed-seed
//! generator (sliding windows, no lateness; the temporal types' conditions
//! never hold, the counts' hardly: the fill gives each group 36 events an
//! hour, 50 are needed). What is timed is the engine's
//! `process` (group key, reorder buffer, group lookup, window update): each
//! event's field texts are written before its batch is timed, as the host
//! hands the engine fields it already parsed.
//!
//! Run: `CARGO_TARGET_DIR=... cargo bench -p trailmark-correlate --bench correlate -- --warm-up-time 1 --measurement-time 3`
//!
//! `TRAILMARK_BENCH_ONLY=<type>` fills and runs one type only. With
//! `TRAILMARK_BENCH_CPU_TIME=1` each sample is measured in the bench
//! thread's own CPU time instead of wall-clock time: on a machine busy with
//! other work, time spent preempted is left out (what the other work does
//! to the caches is not). Wall-clock time is the figure to quote; CPU time
//! is for comparing two builds on a loaded machine.
//!
//! The engine runs under mimalloc, the server's allocator (`host/src/main.rs`):
//! with 100k groups its cost is mostly where the allocator put each group's
//! window, so the figure is the server's only under the server's allocator.

use std::borrow::Cow;
use std::fmt::Write;
use std::hint::black_box;

use criterion::measurement::Measurement;
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_main};
use trailmark_bench_support::{Rng, ThreadCpuTime};
use trailmark_correlate::{Condition, Correlation, Engine, Event, Fields, Kind, Limits};

/// The server's allocator (see the module docs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const GROUPS: u64 = 100_000;

/// Events fed to each group before the timing starts (see `bench`).
const FILL_ROUNDS: u64 = 60;

/// Events whose inputs are made (untimed) before they are fed (timed): few
/// enough that the batch's inputs stay in the L1 cache.
const BATCH: u64 = 256;

/// A short text kept inline, so that a batch of inputs is one contiguous
/// block (not 2 allocations per event scattered over the heap).
#[derive(Default)]
struct Text {
    len: usize,
    bytes: [u8; 32],
}

impl Text {
    fn set(&mut self, args: std::fmt::Arguments<'_>) {
        let mut s = String::new();
        s.write_fmt(args).expect("to a String");
        self.len = s.len().min(self.bytes.len());
        self.bytes[..self.len].copy_from_slice(&s.as_bytes()[..self.len]);
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).expect("written from a str")
    }
}

/// One measured event's input.
#[derive(Default)]
struct Input {
    author: Text,
    entity: Text,
    rule: &'static str,
}

/// An event's two fields. Each measured event's are written, outside the
/// timing, into a batch of small buffers just before the batch is fed: the
/// host has them in cache from the event it just parsed (a table of 100k
/// prepared strings read at random would measure a cache miss per event
/// that the host does not have), and it does not format them per event
/// either (the author of a state change is a typed field it lends as is).
struct Two<'a> {
    author: &'a str,
    entity: &'a str,
}

impl Fields for Two<'_> {
    fn field(&self, path: &str) -> Option<Cow<'_, str>> {
        match path {
            "detail.author" => Some(Cow::Borrowed(self.author)),
            "detail.entity-id" => Some(Cow::Borrowed(self.entity)),
            _ => None,
        }
    }
}

/// The rules events come from: `temporal` and `temporal_ordered` name a
/// fourth, `d`, that no event matches, so that a group never fires (with
/// three of three, a group that had seen all three fired and was dropped
/// and opened again every few events).
const FED: [&str; 3] = ["a", "b", "c"];

fn correlation(kind: Kind) -> Correlation {
    let rules: Vec<String> = match kind {
        Kind::Temporal | Kind::TemporalOrdered => ["a", "b", "c", "d"].map(String::from).into(),
        _ => vec!["a".into()],
    };
    let condition = match kind {
        Kind::TemporalOrdered => Condition::default(),
        Kind::Temporal => Condition::at_least(4),
        _ => Condition::at_least(50),
    };
    Correlation::new(
        "bench",
        kind,
        rules,
        vec!["detail.author".into()],
        3_600_000,
        condition,
    )
}

fn bench<M: Measurement>(c: &mut Criterion<M>) {
    let (mut author, mut entity) = (String::new(), String::new());
    let ids: Vec<String> = (0..4096).map(|i| format!("ev{i}")).collect();
    // Filling takes seconds per type: `TRAILMARK_BENCH_ONLY=value_count`
    // fills (and runs) that one alone.
    let only = std::env::var("TRAILMARK_BENCH_ONLY").ok();
    let mut group = c.benchmark_group("process_100k_groups");
    group.throughput(Throughput::Elements(1));
    for kind in [
        Kind::EventCount,
        Kind::ValueCount {
            field: "detail.entity-id".into(),
        },
        Kind::Temporal,
        Kind::TemporalOrdered,
    ] {
        let name = kind.sigma_name();
        if only.as_deref().is_some_and(|only| only != name) {
            continue;
        }
        let corr = correlation(kind);
        let members = corr.rules.len().min(FED.len()) as u64;
        let mut engine = Engine::new(vec![corr], Limits::default()).expect("valid");
        let mut rng = Rng(0x5eed);
        let mut time = 0;
        let mut n = 0u64;
        let mut feed = |engine: &mut Engine, group: u64, rng: &mut Rng| {
            author.clear();
            entity.clear();
            write!(author, "user{group}@example.com").expect("to a String");
            write!(entity, "e{}", rng.below(1000)).expect("to a String");
            let fields = Two {
                author: &author,
                entity: &entity,
            };
            let id = &ids[(n % 4096) as usize];
            n += 1;
            time += 1;
            let rule = FED[rng.below(members) as usize];
            let event = Event {
                id,
                time,
                fields: &fields,
            };
            black_box(engine.process(&event, &[rule]));
        };
        // Every group filled to its steady state before anything is timed:
        // a window of an hour holds about 36 of its group's events (one
        // every 100k ms), the older have started to leave it, and a
        // `value_count` group keeps its full 50 values. Filled with fewer,
        // windows grew while being measured, and by how much depended on
        // how many events criterion ran, i.e. on the build's own speed.
        for _ in 0..FILL_ROUNDS {
            for g in 0..GROUPS {
                feed(&mut engine, g, &mut rng);
            }
        }
        // The last event waits for time to pass it (no lateness: the next
        // instant); each measured event releases the one before.
        engine.advance(time + 1);
        assert_eq!(
            engine.stats()[0].1.groups,
            GROUPS,
            "{name}: every group live"
        );
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter_batched_ref(
                || {
                    // One measured event's input, made untimed: its group's
                    // author, its counted value and the rule it matched.
                    let mut input = Input::default();
                    let g = rng.below(GROUPS);
                    input.author.set(format_args!("user{g}@example.com"));
                    input.entity.set(format_args!("e{}", rng.below(1000)));
                    input.rule = FED[rng.below(members) as usize];
                    input
                },
                |input| {
                    let fields = Two {
                        author: input.author.as_str(),
                        entity: input.entity.as_str(),
                    };
                    let id = &ids[(n % 4096) as usize];
                    n += 1;
                    time += 1;
                    let event = Event {
                        id,
                        time,
                        fields: &fields,
                    };
                    engine.process(&event, &[input.rule])
                },
                BatchSize::NumIterations(BATCH),
            )
        });
    }
    group.finish();
}

fn benches() {
    if trailmark_bench_support::cpu_time_requested() {
        let mut c = Criterion::default()
            .with_measurement(ThreadCpuTime)
            .configure_from_args();
        bench(&mut c);
    } else {
        let mut c = Criterion::default().configure_from_args();
        bench(&mut c);
    }
}

criterion_main!(benches);
