//! Writes a synthetic trail into a lake directory through the real
//! exporter ([`Exporter`] over a [`DirStore`]: the same partitions, file
//! names, closes and Parquet encoding the server uses), for query
//! benchmarks (BENCHMARKS.md, "DuckDB over 10 M rows").
//!
//! ```text
//! cargo run --release -p trailmark-lake --example generate -- /tmp/lake10m 10000000
//! ```
//!
//! Rows: a quarter (90 days up to 2026-11-30) of `Object State Change`s in
//! journal order, 2% of them late by up to a week; 20 entity types, 50
//! authors, 45% inserts, 40% updates, 15% deletes; bodies of 120–200
//! bytes; from a fixed seed, so every run writes the same files. Prints
//! the DuckDB DDL for the tree last.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use trailmark_bench_support::Rng;
use trailmark_lake::ddl::{Engine, ddl};
use trailmark_lake::{DirStore, ExportOptions, Exporter, LakeStore, Partitioning, Row};

const DAY_MS: i64 = 86_400_000;
/// 2026-09-01T00:00:00Z: the quarter's first day.
const START_MS: i64 = 1_788_220_800_000;

fn row(seq: u64, rows: u64, rng: &mut Rng) -> Row {
    let span = 91 * DAY_MS;
    let mut ts = START_MS + i64::try_from(seq * span as u64 / rows).unwrap_or(0);
    if rng.below(50) == 0 {
        ts -= i64::try_from(rng.below(7 * DAY_MS as u64)).unwrap_or(0);
    }
    let operation = match rng.below(100) {
        0..45 => "insert",
        45..85 => "update",
        _ => "delete",
    };
    let body = (operation != "delete" || rng.below(2) == 0).then(|| {
        format!(
            r#"{{"name":"Item {}","status":"{}","total":{}.{:02},"owner":"user{}@example.com","note":"{}"}}"#,
            rng.below(1_000_000),
            ["paid", "refunded", "open", "shipped"][rng.below(4) as usize],
            rng.below(10_000),
            rng.below(100),
            rng.below(5_000),
            "n".repeat(rng.below(80) as usize + 20),
        )
    });
    Row {
        seq,
        event_id: format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            rng.below(1 << 32),
            rng.below(1 << 16),
            rng.below(1 << 12),
            rng.below(1 << 12),
            rng.below(1 << 48)
        ),
        ts_ms: ts,
        entity_type: Some(format!("type{}", rng.below(20))),
        entity_id: Some(rng.below(2_000_000).to_string()),
        operation: Some(operation.to_owned()),
        author: Some(format!("author{}@example.com", rng.below(50))),
        source: "com.example.shop".to_owned(),
        detail_type: "Object State Change".to_owned(),
        account: String::new(),
        region: String::new(),
        ingested_at_ms: ts + i64::try_from(rng.below(2_000)).unwrap_or(0),
        body,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), rows) = (args.next(), args.next()) else {
        return Err("usage: generate DIR [ROWS (default 10000000)]".into());
    };
    let rows: u64 = rows.as_deref().unwrap_or("10000000").parse()?;
    let dir = PathBuf::from(dir);
    let store = Arc::new(DirStore::open(&dir.join("lake"))?);
    let mut exporter = Exporter::open(
        store.clone(),
        &dir.join("lake-export.json"),
        ExportOptions::default(),
        0,
    )?;
    let started = Instant::now();
    let mut rng = Rng(0x5eed_0010_0000_0001);
    let (mut files, mut bytes) = (0usize, 0u64);
    let mut raw = 0u64;
    for seq in exporter.next_seq()..=rows {
        let row = row(seq, rows, &mut rng);
        raw += row.raw_len();
        exporter.offer(seq, Some(row), 0)?;
        if exporter.due(0) {
            let published = exporter.close(0)?;
            files += published.files.len();
            bytes += published.bytes;
        }
    }
    let published = exporter.close(0)?;
    files += published.files.len();
    bytes += published.bytes;
    eprintln!(
        "{rows} rows ({raw} bytes as received) in {files} files, {bytes} bytes of Parquet, {:.1} s",
        started.elapsed().as_secs_f64()
    );
    print!(
        "{}",
        ddl(Engine::Duckdb, &store.location(), Partitioning::Date)
    );
    Ok(())
}
