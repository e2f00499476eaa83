//! At-least-once across a crash: SIGKILL the server while clients stream
//! events; after a restart every acknowledged event is in the metadata store
//! exactly once and archived.
//!
//! At full load (BENCHMARKS.md): `TRAILMARK_CRASH_STREAMS=32` streams at
//! once, `TRAILMARK_CRASH_EVENTS=N` acknowledged before the kill (default
//! 200 per stream), `TRAILMARK_TEST_BIN=<release trailmark>` to crash a
//! release build.
//! `TRAILMARK_TEST_BIN` changes the server of every test in the binary, so
//! run this one alone: `cargo test -p trailmark --test it crash::`.

use std::collections::HashSet;
use std::time::Duration;

use crate::common::{self, Setup, Streaming, state_change};

#[test]
fn every_acknowledged_event_survives_sigkill() {
    let setup = Setup::new().standard();
    let server = setup.start();
    let streams: usize = std::env::var("TRAILMARK_CRASH_STREAMS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let streaming = Streaming::start(&server, streams, 5, |stream, n| {
        state_change(
            "doc",
            &format!("d{stream}-{n}"),
            "insert",
            "crash-test",
            Some(serde_json::json!({"n": n})),
        )
    });
    // Let it stream for a while, then kill the server mid-flight.
    let before_kill: usize = std::env::var("TRAILMARK_CRASH_EVENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200 * streams);
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while streaming.acked() < before_kill && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    server.kill();
    let acked = streaming.stop();
    assert!(
        acked.len() >= 50,
        "only {} events were acknowledged before the kill",
        acked.len()
    );

    let server = setup.start();
    server.wait_until(
        Duration::from_secs(120),
        "every acknowledged event in the metadata store",
        |s| {
            let ids: HashSet<String> = common::all_change_ids(s, "author=crash-test")
                .into_iter()
                .collect();
            acked.iter().all(|id| ids.contains(id))
        },
    );
    let seen = common::all_change_ids(&server, "author=crash-test");
    eprintln!(
        "crash test: {} events acknowledged before SIGKILL from {streams} streams, {} change records after the restart",
        acked.len(),
        seen.len()
    );
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "a change record was stored twice");
    for id in &acked {
        assert!(
            unique.contains(id),
            "acknowledged event {id} is missing after the restart"
        );
    }
    // Every acknowledged event's body is archived, intact.
    let archive = setup.path().join("data").join("archive");
    let mut archived = 0;
    trailmark_backends::PackArchive::scan(&archive, |key, intact| {
        if key.starts_with("com.example.test/doc/") {
            assert!(intact.is_ok(), "{key}: {intact:?}");
            archived += 1;
        }
    })
    .expect("read the archive's pack index");
    assert!(
        archived >= acked.len(),
        "{archived} bodies archived for {} acknowledged events",
        acked.len()
    );
}
