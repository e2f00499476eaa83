//! Per-operation cost of the local backends' writes.
//!
//! `cargo bench -p trailmark-backends --bench local -- --warm-up-time 1 --measurement-time 3`
//!
//! Each put is durable (fsync) before it returns, so these numbers are mostly
//! the disk's flush latency; run on the disk the data dir will live on.
//!
//! Measured 2026-11-25 on the shared 2-core dev VM (virtio disk, ext4, other
//! builds running, so +-30%): SQLite put FULL 4.8-6.0 ms, NORMAL 0.27-0.37 ms,
//! duplicate 11-20 us; FsArchive put (2 KiB) 10.9-11.6 ms one thread at a
//! time. With 8 threads: FsArchive 1.0-2.6 ms per put (2.2 puts per
//! directory fsync), SQLite FULL 0.47 ms per put (3.9 puts per commit).
//!
//! `sqlite_metadata_batched` (the host's mode, durable after `sync`), 2026-12-06
//! on the same VM with other engineers' builds running (load average 7.3-9.0,
//! so noisy), the two builds run alternately, twice each: a commit per put,
//! 248-258 us per put and 9.5-11.7 ms for 32 puts + sync; puts sharing one
//! transaction until `sync`/a read/256 puts, 126-132 us per put (one commit
//! per 256 puts) and 9.1-9.4 ms for 32 puts + sync (one commit, mostly
//! the `syncfs`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_main};
use trailmark_backends::{
    ArchiveStore, ChangeRecord, Durability, FsArchive, MetadataStore, SqliteMetadata, Synchronous,
};

fn record(n: u64) -> ChangeRecord {
    ChangeRecord {
        event_id: format!("evt-{n:012}"),
        source: "com.example.books".into(),
        entity_type: "book".into(),
        entity_id: format!("{}", n % 1000),
        operation: "update".into(),
        ts: 1_764_000_000_000 + n as i64,
        author: format!("user-{}", n % 50),
        archive_key: Some(format!("book/{}/evt-{n:012}.json", n % 1000)),
        attributes: r#"{"title":"Dune","pages":412}"#.into(),
        rules: Vec::new(),
    }
}

fn sqlite_put(c: &mut Criterion) {
    let mut group = c.benchmark_group("sqlite_metadata_put");
    for (name, sync) in [("full", Synchronous::Full), ("normal", Synchronous::Normal)] {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteMetadata::open_with(dir.path().join("m.sqlite"), sync).expect("open");
        let next = AtomicU64::new(0);
        group.bench_function(name, |b| {
            b.iter(|| {
                let n = next.fetch_add(1, Ordering::Relaxed);
                store.put(&record(n)).expect("put")
            })
        });
        group.bench_function(format!("{name}_duplicate"), |b| {
            let existing = record(0);
            b.iter(|| store.put(&existing).expect("put"))
        });
    }
    group.finish();
}

/// Puts as the host makes them ([`Durability::Batched`], `NORMAL`): durable
/// only after `sync()`, which the host calls before journaling the outcomes
/// of a round of delivered batches.
fn sqlite_batched(c: &mut Criterion) {
    let mut group = c.benchmark_group("sqlite_metadata_batched");
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteMetadata::open_for(dir.path().join("m.sqlite"), None, Durability::Batched)
        .expect("open");
    let next = AtomicU64::new(0);
    group.bench_function("put", |b| {
        b.iter(|| {
            let n = next.fetch_add(1, Ordering::Relaxed);
            store.put(&record(n)).expect("put")
        })
    });
    group.bench_function("batch_of_32_then_sync", |b| {
        b.iter(|| {
            for _ in 0..32 {
                let n = next.fetch_add(1, Ordering::Relaxed);
                store.put(&record(n)).expect("put");
            }
            store.sync().expect("sync")
        })
    });
    eprintln!(
        "sqlite batched: {} puts, {} commits",
        next.load(Ordering::Relaxed),
        store.commits()
    );
    group.finish();
}

fn archive_put(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let archive = FsArchive::open(dir.path().join("archive")).expect("open");
    let body = vec![b'x'; 2048];
    let next = AtomicU64::new(0);
    c.bench_function("fs_archive_put_2KiB", |b| {
        b.iter(|| {
            let n = next.fetch_add(1, Ordering::Relaxed);
            archive
                .put(
                    &format!("book/{}/evt-{n}.json", n % 100),
                    &body,
                    "application/json",
                )
                .expect("put")
        })
    });
}

/// Threads of the concurrent benches, as dispatch lanes would call in.
const THREADS: u64 = 8;

/// Run `iters` calls of `op` spread over [`THREADS`] threads; the wall time,
/// so criterion reports time per call at that concurrency.
fn concurrently(iters: u64, op: impl Fn(u64) + Sync) -> Duration {
    let started = Instant::now();
    thread::scope(|s| {
        for t in 0..THREADS {
            let op = &op;
            s.spawn(move || {
                for i in (t..iters).step_by(THREADS as usize) {
                    op(i);
                }
            });
        }
    });
    started.elapsed()
}

fn concurrent_puts(c: &mut Criterion) {
    let mut group = c.benchmark_group("concurrent_8_threads");
    let dir = tempfile::tempdir().expect("temp dir");
    let archive = FsArchive::open(dir.path().join("archive")).expect("open");
    let body = vec![b'x'; 2048];
    let next = AtomicU64::new(0);
    group.bench_function("fs_archive_put_2KiB_one_dir", |b| {
        b.iter_custom(|iters| {
            concurrently(iters, |_| {
                let n = next.fetch_add(1, Ordering::Relaxed);
                archive
                    .put(&format!("book/evt-{n}.json"), &body, "application/json")
                    .expect("put")
            })
        })
    });
    let puts = next.load(Ordering::Relaxed);
    eprintln!(
        "fs_archive concurrent: {puts} puts, {} directory fsyncs",
        archive.directory_fsyncs()
    );
    let store = SqliteMetadata::open(dir.path().join("m.sqlite")).expect("open");
    group.bench_function("sqlite_metadata_put_full", |b| {
        b.iter_custom(|iters| {
            concurrently(iters, |_| {
                let n = next.fetch_add(1, Ordering::Relaxed);
                store.put(&record(n)).expect("put");
            })
        })
    });
    eprintln!(
        "sqlite concurrent: {} puts, {} commits",
        next.load(Ordering::Relaxed) - puts,
        store.commits()
    );
    group.finish();
}

/// `criterion_group!` defines the group as a `pub fn`, kept out of the
/// bench's (documented) public items.
mod group {
    criterion::criterion_group!(
        benches,
        super::sqlite_put,
        super::sqlite_batched,
        super::archive_put,
        super::concurrent_puts
    );
}

criterion_main!(group::benches);
