//! CPU per write of the embedded stores as they fill up, in the host's mode
//! (puts batched, durable at `sync`): the change records of the metadata
//! store and the bodies of the pack archive, with random event ids and
//! entity ids as producers send them.
//!
//! `cargo bench -p trailmark-backends --bench at_scale` (or with
//! `TRAILMARK_BENCH_RECORDS=N`, default 300,000; `TRAILMARK_BENCH_IDS=ordered`
//! for event ids that sort by time, as UUID v7 ids would, instead
//! of random ones, as the host's UUID v4 ids are). It prints the process CPU
//! time per put for each store, over the whole run, and over its last
//! tenth (the price once the store is large). Run two builds one after the
//! other and compare the ratio; the machine is shared.

use std::time::Instant;

use trailmark_backends::{
    ArchivePut, ArchiveStore, ChangeRecord, Durability, MetadataStore, PackArchive, SqliteMetadata,
    Synchronous,
};

/// Puts between two `sync`s, as the host's outcome flusher does them.
const ROUND: usize = 1024;

fn main() {
    let records: usize = std::env::var("TRAILMARK_BENCH_RECORDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(300_000);
    let ordered = std::env::var("TRAILMARK_BENCH_IDS").is_ok_and(|v| v == "ordered");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut rng = fastrand::Rng::with_seed(7);
    let events: Vec<(String, String, String)> = (0..records)
        .map(|i| {
            let kind = ["book", "customer", "order", "invoice"][rng.usize(..4)];
            let entity = format!("{kind}-{}", rng.u32(..50_000));
            // UUID v7: 48 bits of milliseconds first (10 events a
            // millisecond here), then random bits.
            let first = if ordered {
                1_765_000_000_000_u64 + i as u64 / 10
            } else {
                rng.u64(..1 << 48)
            };
            let id = format!(
                "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
                first >> 16,
                first & 0xffff,
                rng.u16(..),
                rng.u16(..),
                rng.u64(..1 << 48)
            );
            (kind.to_owned(), entity, id)
        })
        .collect();
    let ts0 = 1_765_000_000_000_i64;

    let metadata = SqliteMetadata::open_batched(dir.path().join("m.sqlite"), Synchronous::Normal)
        .expect("metadata store");
    let per_put = measure("metadata", records, |range| {
        for i in range {
            let (kind, entity, id) = &events[i];
            let record = ChangeRecord {
                event_id: id.clone(),
                source: "com.example.app".into(),
                entity_type: kind.clone(),
                entity_id: entity.clone(),
                operation: "update".into(),
                ts: ts0 + i as i64 / 10,
                author: format!("user-{}@example.com", i % 50),
                archive_key: Some(format!(
                    "com.example.app/{kind}/{entity}/{i}-update-{id}.json"
                )),
                attributes: r#"{"title":"Dune","pages":412}"#.into(),
                rules: Vec::new(),
            };
            metadata.put(&record).expect("put");
        }
        metadata.sync().expect("sync");
    });
    drop(metadata);

    let archive = PackArchive::open_with(dir.path().join("archive"), Durability::Batched)
        .expect("pack archive");
    let body = vec![b'x'; 1024];
    let per_body = measure("archive", records, |range| {
        let keys: Vec<String> = range
            .map(|i| {
                let (kind, entity, id) = &events[i];
                format!("com.example.app/{kind}/{entity}/{i}-update-{id}.json")
            })
            .collect();
        let puts: Vec<ArchivePut<'_>> = keys
            .iter()
            .map(|key| ArchivePut {
                key,
                body: &body,
                content_type: "application/json",
                owner: None,
            })
            .collect();
        for result in archive.put_many(&puts) {
            result.expect("put");
        }
        archive.sync().expect("sync");
    });
    println!("records {records}, a sync every {ROUND} puts");
    println!("{per_put}");
    println!("{per_body}");
}

/// Run `round` over `0..records` in rounds of [`ROUND`]; report CPU per put.
fn measure(name: &str, records: usize, mut round: impl FnMut(std::ops::Range<usize>)) -> String {
    let started = Instant::now();
    let cpu0 = cpu_seconds();
    let mut last_tenth_cpu = cpu0;
    let tenth = records - records / 10;
    let mut start = 0;
    while start < records {
        if start >= tenth && last_tenth_cpu == cpu0 {
            last_tenth_cpu = cpu_seconds();
        }
        let end = (start + ROUND).min(records);
        round(start..end);
        start = end;
    }
    let cpu = cpu_seconds();
    format!(
        "{name:9} {:6.1} us CPU per put (last tenth {:6.1} us), {:.1} s wall",
        (cpu - cpu0) * 1e6 / records as f64,
        (cpu - last_tenth_cpu) * 1e6 / (records - tenth) as f64,
        started.elapsed().as_secs_f64()
    )
}

/// User and system CPU of this process, in seconds (from /proc, in the
/// kernel's 100 Hz clock ticks).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields 14 and 15 of stat(5), counted here from field 3 (the state).
    (ticks(11) + ticks(12)) / 100.0
}
