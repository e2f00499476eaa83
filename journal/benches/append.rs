//! Durable append throughput of ~1 KB records with 1, 4, 16 and 64 concurrent appenders.
//!
//! Each appender thread calls `append_wait` (one record, fsync awaited) in a loop, so the
//! numbers show group commit: with more appenders each fsync covers more records.
//! After each group the fsyncs/s and records per fsync are printed.
//!
//! Run: `CARGO_TARGET_DIR=... cargo bench -p trailmark-journal --bench append -- --warm-up-time 1 --measurement-time 3`

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_main};
use trailmark_journal::{Journal, JournalOptions, NewRecord};

const RECORD_BYTES: usize = 1024;

/// Deterministic payload (fixed seed, no RNG dependency).
fn payload(seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..RECORD_BYTES)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x & 0xFF) as u8
        })
        .collect()
}

/// Runs `total` durable appends spread over `threads` appenders; returns the elapsed time.
fn run(journal: &Arc<Journal>, threads: usize, total: u64) -> Duration {
    let per_thread = total.div_ceil(threads as u64);
    let barrier = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let journal = Arc::clone(journal);
            let barrier = Arc::clone(&barrier);
            let body = payload(t as u64);
            std::thread::spawn(move || {
                barrier.wait();
                for _ in 0..per_thread {
                    journal
                        .append_wait(vec![NewRecord {
                            kind: 1,
                            payload: body.clone(),
                        }])
                        .expect("benchmark append failed");
                }
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    for handle in handles {
        handle.join().expect("appender thread panicked");
    }
    start.elapsed()
}

fn durable_appends(c: &mut Criterion) {
    let mut group = c.benchmark_group("durable_append_1KiB");
    for threads in [1usize, 4, 16, 64] {
        let dir = tempfile::tempdir().expect("create temp dir");
        let journal =
            Arc::new(Journal::open(dir.path(), JournalOptions::default()).expect("open journal"));
        let before = journal.stats();
        let mut busy = Duration::ZERO;
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(
            BenchmarkId::from_parameter(threads),
            &threads,
            |b, &threads| {
                b.iter_custom(|iters| {
                    let elapsed = run(&journal, threads, iters);
                    busy += elapsed;
                    elapsed
                });
            },
        );
        let after = journal.stats();
        let fsyncs = after.fsyncs - before.fsyncs;
        let records = after.records - before.records;
        println!(
            "appenders={threads}: {records} records, {fsyncs} fsyncs in {:.2}s: {:.0} records/s, {:.0} fsyncs/s, {:.1} records/fsync",
            busy.as_secs_f64(),
            records as f64 / busy.as_secs_f64(),
            fsyncs as f64 / busy.as_secs_f64(),
            records as f64 / fsyncs.max(1) as f64
        );
    }
    group.finish();
}

/// `criterion_group!` defines the group as a `pub fn`, kept out of the
/// bench's (documented) public items.
mod group {
    criterion::criterion_group!(benches, super::durable_appends);
}

criterion_main!(group::benches);
