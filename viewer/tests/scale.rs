//! Page time over a large store: `cargo test -p trailmark-viewer --release
//! --test scale -- --ignored --nocapture` seeds a real SQLite metadata store
//! with `TRAILMARK_VIEWER_ROWS` (default 1,000,000) change records, generated
//! (kept in `TRAILMARK_VIEWER_DB` when set, and reused by the next run)
//! deterministically, then times search pages over loopback HTTP (sign-in
//! and rendering included, the median of 11 requests each; a first page
//! also counts the newest 5,000 matches for its facets and histogram). The numbers are
//! in BENCHMARKS.md; the test fails only when a page takes over 1 s.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use support::Viewer;
use trailmark_backends::{ChangeRecord, FsArchive, MetadataStore, SqliteMetadata, Synchronous};

const AUTHORS: [&str; 20] = [
    "ann", "bob", "carl", "dana", "eve", "finn", "gus", "hana", "ivo", "jo", "kim", "lee", "max",
    "nia", "oto", "pia", "quin", "ray", "sue", "tom",
];
const TYPES: [&str; 5] = ["book", "order", "invoice", "user", "shelf"];
const OPS: [&str; 3] = ["insert", "update", "delete"];

/// Record `i`: a fixed mix of authors, types and operations, one per 10 ms.
fn record(i: u64) -> ChangeRecord {
    let pick = |n: u64| (i.wrapping_mul(2_654_435_761) >> 7) % n;
    ChangeRecord {
        event_id: format!("e{i:08}"),
        source: format!("com.example.s{}", pick(4)),
        entity_type: TYPES[(pick(5)) as usize].to_owned(),
        entity_id: (i % 50_000).to_string(),
        // One delete in 20.
        operation: OPS[if i.is_multiple_of(20) {
            2
        } else {
            (i % 2) as usize
        }]
        .to_owned(),
        ts: 1_767_225_600_000 + i as i64 * 10,
        author: AUTHORS[(pick(17) + i % 3) as usize % 20].to_owned(),
        archive_key: None,
        attributes: "{}".to_owned(),
        rules: Vec::new(),
    }
}

#[test]
#[ignore = "seeds a million records; run by hand for BENCHMARKS.md"]
fn search_pages_over_a_million_records() {
    let rows: u64 = std::env::var("TRAILMARK_VIEWER_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = std::env::var_os("TRAILMARK_VIEWER_DB")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.path().join("big.sqlite"));
    let started = Instant::now();
    if !path.exists() {
        let store = SqliteMetadata::open_batched(&path, Synchronous::Normal).expect("sqlite");
        for i in 0..rows {
            store.put(&record(i)).expect("put");
        }
        store.sync().expect("sync");
    }
    eprintln!("seeded {rows} records in {:.1?}", started.elapsed());
    let metadata = Arc::new(SqliteMetadata::open(&path).expect("reopen"));
    let archive = Arc::new(FsArchive::open(dir.path().join("archive")).expect("archive"));
    let viewer = Viewer::start_over(metadata, archive);
    let session = viewer.sign_in("viewer");
    let queries = [
        "",
        "type:order",
        "author:ann type:book op:update",
        "entity:order/123",
        "op:delete after:\"2026-01-01T01:00:00Z\"",
        "author:ann author:bob",
        "type:book -op:update",
        "-author:ann -author:bob op:insert",
        "author:ann author:bob type:user op:delete",
    ];
    eprintln!("| query | rows | median | max |");
    for q in queries {
        let path = format!(
            "/?q={}",
            form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
        );
        let mut times: Vec<Duration> = (0..11)
            .map(|_| {
                let t = Instant::now();
                let answer = viewer.get(&path, Some(&session));
                assert_eq!(answer.status, 200, "{q}: {}", answer.body);
                assert!(answer.body.contains("In the result:"), "{q}: facets");
                t.elapsed()
            })
            .collect();
        times.sort();
        let found = viewer
            .get(&path, Some(&session))
            .body
            .matches(r#"<tr class="op-"#)
            .count();
        eprintln!("| `{q}` | {found} | {:.1?} | {:.1?} |", times[5], times[10]);
        assert!(times[5] < Duration::from_secs(1), "{q}: {:?}", times[5]);
    }
}
