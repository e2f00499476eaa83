//! The lake's export rate on one core: rows to a zstd Parquet file
//! (`parquet_file::encode`, what each close of the exporter does per
//! partition), and the file's size against the same events as JSON lines.
//!
//! ```text
//! cargo bench -p trailmark-lake --bench export
//! ```
//!
//! The sample: 100,000 `Object State Change` rows of 20 entity types, 50
//! authors, three operations, bodies of about 200 bytes, from a fixed seed.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_main};
use trailmark_bench_support::Rng;
use trailmark_lake::Row;
use trailmark_lake::parquet_file::encode;

const ROWS: u64 = 100_000;

fn sample() -> Vec<Row> {
    // A fixed seed, so every run has the same rows.
    let mut rng = Rng(0x5eed_1a4e);
    (1..=ROWS)
        .map(|seq| {
            let operation = ["insert", "update", "delete"][rng.below(3) as usize];
            let body = format!(
                r#"{{"title":"Item {}","status":"{}","total":{}.{:02},"tags":["a{}","b{}"],"owner":"user{}@example.com","notes":"{}"}}"#,
                rng.below(1_000_000),
                ["paid", "refunded", "open", "shipped"][rng.below(4) as usize],
                rng.below(10_000),
                rng.below(100),
                rng.below(50),
                rng.below(50),
                rng.below(500),
                "x".repeat(rng.below(60) as usize + 20),
            );
            Row {
                seq,
                event_id: format!("{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}", rng.below(u32::MAX as u64), rng.below(65_536), rng.below(4096), rng.below(4096), rng.below(1 << 48)),
                ts_ms: 1_795_000_000_000 + seq as i64 * 37,
                entity_type: Some(format!("type{}", rng.below(20))),
                entity_id: Some(format!("{}", rng.below(1_000_000))),
                operation: Some(operation.to_owned()),
                author: Some(format!("author{}@example.com", rng.below(50))),
                source: "com.example.shop".to_owned(),
                detail_type: "Object State Change".to_owned(),
                account: "000000000000".to_owned(),
                region: "local".to_owned(),
                ingested_at_ms: 1_795_000_000_500 + seq as i64 * 37,
                body: Some(body),
            }
        })
        .collect()
}

/// The rows as the exporter writes them with `[encryption]` on: each body
/// sealed (`tmseal1:` and the base64 of 40 bytes more than the body, which
/// look random), here made of the fixed stream rather than a cipher.
fn sealed(rows: &[Row]) -> Vec<Row> {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut rng = Rng(0x5ea1_ed00);
    rows.iter()
        .map(|row| {
            let body = row.body.as_ref().map(|b| {
                let chars = (b.len() + 40).div_ceil(3) * 4;
                let mut text = String::from("tmseal1:");
                text.extend((0..chars).map(|_| char::from(B64[rng.below(64) as usize])));
                text
            });
            Row {
                body,
                ..row.clone()
            }
        })
        .collect()
}

/// The same rows as the JSON lines a Firehose-to-S3 pipeline would store.
fn json_lines(rows: &[Row]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in rows {
        let line = serde_json::json!({
            "seq": r.seq, "event_id": r.event_id, "ts_ms": r.ts_ms,
            "entity_type": r.entity_type, "entity_id": r.entity_id,
            "operation": r.operation, "author": r.author, "source": r.source,
            "detail_type": r.detail_type, "account": r.account, "region": r.region,
            "ingested_at_ms": r.ingested_at_ms,
            "body": r.body.as_deref().map(|b| serde_json::from_str::<serde_json::Value>(b).unwrap_or_default()),
        });
        out.extend_from_slice(line.to_string().as_bytes());
        out.push(b'\n');
    }
    out
}

fn export(c: &mut Criterion) {
    let rows = sample();
    let parquet = encode(&rows).expect("encodes");
    let jsonl = json_lines(&rows);
    let raw: u64 = rows.iter().map(Row::raw_len).sum();
    eprintln!(
        "lake sample: {ROWS} rows, {raw} bytes of rows; Parquet (zstd) {} bytes; JSON lines {} bytes ({:.1}x the Parquet)",
        parquet.len(),
        jsonl.len(),
        jsonl.len() as f64 / parquet.len() as f64
    );
    let mut group = c.benchmark_group("lake_export");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ROWS));
    group.bench_function("encode_100k_rows_rows_per_s", |b| {
        b.iter(|| black_box(encode(black_box(&rows)).expect("encodes")))
    });
    group.throughput(Throughput::Bytes(parquet.len() as u64));
    group.bench_function("encode_100k_rows_parquet_bytes_per_s", |b| {
        b.iter(|| black_box(encode(black_box(&rows)).expect("encodes")))
    });
    let sealed = sealed(&rows);
    eprintln!(
        "sealed bodies: Parquet (zstd) {} bytes",
        encode(&sealed).expect("encodes").len()
    );
    group.throughput(Throughput::Elements(ROWS));
    group.bench_function("encode_100k_rows_sealed_bodies_rows_per_s", |b| {
        b.iter(|| black_box(encode(black_box(&sealed)).expect("encodes")))
    });
    group.finish();
}

/// `criterion_group!` defines the group as a `pub fn`, kept out of the
/// bench's (documented) public items.
mod group {
    criterion::criterion_group!(benches, super::export);
}

criterion_main!(group::benches);
