//! Plugins built for contract 0.1.0 keep working: the released 0.1.0
//! `archive` plugin (`tests/fixtures/archive-0.1.0.wasm`) and the `v01`
//! fixture, which re-implements its core against the 0.1 WIT, store the
//! same bytes under the same keys and reject the same events.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{MemArchive, event, event_with_detail, plugin, runtime};
use trailmark_backends::{ArchiveStore, Event};
use trailmark_runtime::{
    ArchiveGrant, Binding, BindingSpec, CallError, Capabilities, Grants, Plugin,
};

/// Archived bodies by key, sorted by key.
type Bodies = Vec<(String, Vec<u8>)>;

/// What `plugin` archived for `events` and how each call ended.
fn archive_with(plugin: Arc<Plugin>, events: &[Event]) -> (Bodies, Vec<Result<(), CallError>>) {
    let archive = Arc::new(MemArchive::default());
    let binding = Binding::new(
        plugin,
        BindingSpec {
            rule: "archive".into(),
            grants: Grants {
                archive: Some(ArchiveGrant::default()),
                ..Grants::default()
            },
            capabilities: Capabilities {
                archive: Some(Arc::clone(&archive) as Arc<dyn ArchiveStore>),
                ..Capabilities::default()
            },
            ..BindingSpec::default()
        },
    )
    .expect("binding is valid");
    let results = events.iter().map(|event| binding.call(event)).collect();
    let mut bodies: Vec<_> = archive
        .bodies
        .lock()
        .expect("archive map")
        .clone()
        .into_iter()
        .collect();
    bodies.sort();
    (bodies, results)
}

#[test]
fn v01_fixture_archives_like_the_released_0_1_archive_plugin() {
    // Compact details with sorted keys: the 0.1 plugin re-serialized bodies,
    // the fixture stores them as journaled, and on such text both agree.
    let events = [
        event("e-1"),
        event_with_detail(
            "e/2",
            r#"{"author":"bob","data":{"a":[1,2],"b":"x"},"entity-id":42,"entity-type":"book","operation":"update","ts":"2026-11-25T10:30:00Z"}"#,
        ),
        event_with_detail(
            "e-3",
            r#"{"author":"c","entity-id":"../x","entity-type":"book","operation":"delete","ts":1}"#,
        ),
        event_with_detail("e-4", r#"{"entity-type":"book"}"#),
    ];
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/archive-0.1.0.wasm");
    let released = runtime()
        .load_file("archive-0.1.0", &path)
        .expect("the released 0.1.0 archive plugin loads");
    let (released_bodies, released_results) = archive_with(released, &events);
    let (v01_bodies, v01_results) = archive_with(plugin("v01"), &events);

    let keys: Vec<&str> = released_bodies
        .iter()
        .map(|(key, _)| key.as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "com.example.books/book/..%2Fx/1-delete-e-3.json",
            "com.example.books/book/42/1795602600000-update-e%2F2.json",
            "com.example.books/book/b1/1764064800000-insert-e-1.json",
        ]
    );
    assert_eq!(v01_bodies, released_bodies);
    assert_eq!(
        format!("{v01_results:?}"),
        format!("{released_results:?}"),
        "same outcomes, rejection texts included"
    );
    assert!(
        matches!(&v01_results[3], Err(CallError::Reject(m)) if m.contains("`operation` is missing"))
    );
}
