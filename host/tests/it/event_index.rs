//! The event-id index is on disk: the server's memory does not grow with the
//! events it has accepted, and an event removed by retention is not found.

use std::time::Duration;

use crate::common::{Setup, rss_bytes, state_change};
use serde_json::Value;

/// Put `n` small events (10 per request) from two client threads.
fn put_many(server: &crate::common::Server, n: usize) {
    let entry = state_change("book", "1", "update", "alice", None);
    let batch: Vec<Value> = vec![entry; 10];
    let requests = n / 10;
    std::thread::scope(|s| {
        for part in 0..2 {
            let batch = &batch;
            let client = crate::common::Client::new(&server.url, server.token());
            s.spawn(move || {
                let mut i = part;
                while i < requests {
                    let ids = client.try_put(batch).expect("server reachable");
                    if ids.len() == batch.len() {
                        i += 2;
                    } else {
                        // Throttled: the server is busy; try again.
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
            });
        }
    });
}

#[test]
fn memory_does_not_grow_with_the_events_accepted() {
    let setup = Setup::new();
    let server = setup.start();
    let pid = server.child.id();
    put_many(&server, 50_000);
    let after_first = rss_bytes(pid);
    put_many(&server, 250_000);
    let after_all = rss_bytes(pid);
    let growth = after_all.saturating_sub(after_first);
    eprintln!(
        "RSS {} KiB after 50,000 events, {} KiB after 300,000",
        after_first >> 10,
        after_all >> 10
    );
    // An id held in memory per event costs 85 to 120 bytes (the 36-byte id
    // on the heap, the map's entry, its load factor): 17 to 24 MiB for these
    // 250,000, as the server did before the index moved to disk. The bound
    // leaves room for the entries waiting for the index's writer (up to a
    // run of 65,536, about 3 MiB with their map), its runs' fence keys
    // (8 bytes per 256 entries) and allocator noise, not for that.
    assert!(
        growth < 10 << 20,
        "RSS grew by {} KiB over 250,000 more events ({} KiB after 50,000, {} KiB after 300,000)",
        growth >> 10,
        after_first >> 10,
        after_all >> 10
    );
    // The index's queue is bounded and visible.
    assert_eq!(
        server.metric("trailmark_event_index_pending_max"),
        Some(500_000.0)
    );
    assert!(server.metric("trailmark_event_index_pending").is_some());
    // And every event is still found, from disk.
    let (status, body) =
        crate::common::put_events(&server, &[state_change("book", "2", "insert", "bob", None)]);
    assert_eq!(status, 200, "{body}");
    let id = body["Entries"][0]["EventId"]
        .as_str()
        .expect("id")
        .to_owned();
    let (status, _) = server.get(&format!("/v1/events/{id}")).expect("get");
    assert_eq!(status, 200);
}

#[test]
fn an_event_removed_by_retention_is_not_found_after_it_or_a_restart() {
    let setup = Setup::new();
    setup.config("[journal]\nretention = \"2s\"\nsegment-size = \"64KiB\"\n");
    let server = setup.start();
    let put_one = |server: &crate::common::Server, id: &str| -> String {
        let (status, body) =
            crate::common::put_events(server, &[state_change("book", id, "insert", "alice", None)]);
        assert_eq!(status, 200, "{body}");
        body["Entries"][0]["EventId"]
            .as_str()
            .expect("id")
            .to_owned()
    };
    let old = put_one(&server, "old");
    assert_eq!(
        server.get(&format!("/v1/events/{old}")).expect("get").0,
        200
    );
    // Fill segments past the old one, then keep writing until retention
    // (every second for a 2 s retention) has removed it.
    put_many(&server, 2_000);
    server.wait_until(
        Duration::from_secs(30),
        "the old event to be removed",
        |s| {
            put_many(s, 100);
            s.get(&format!("/v1/events/{old}"))
                .is_ok_and(|(status, _)| status == 404)
        },
    );
    let new = put_one(&server, "new");
    assert_eq!(
        server.get(&format!("/v1/events/{new}")).expect("get").0,
        200
    );
    server.stop();

    // Restart with a long retention, so only what was removed is missing.
    setup.config("[journal]\nretention = \"30d\"\nsegment-size = \"64KiB\"\n");
    let server = setup.start();
    assert_eq!(
        server.get(&format!("/v1/events/{old}")).expect("get").0,
        404,
        "a restart must not bring a removed event back"
    );
    assert_eq!(
        server.get(&format!("/v1/events/{new}")).expect("get").0,
        200,
        "a retained event is found from the index on disk after a restart"
    );
}
