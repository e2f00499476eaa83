//! Run a plugin natively, in its own `cargo test`: sample events, batches
//! packed the way the host packs them, and an in-memory host that records
//! every capability call and answer.
//!
//! ```
//! use trailmark_sdk::testing::{Answer, BOOK_UPDATE, Batch, Call, Host};
//! use trailmark_sdk::{Event, NoConfig, Plugin, PluginError};
//!
//! struct Stash;
//!
//! impl Plugin for Stash {
//!     type Config = NoConfig;
//!     fn new(_: NoConfig) -> Result<Self, PluginError> {
//!         Ok(Stash)
//!     }
//!     fn handle(&self, event: &Event<'_>) -> Result<(), PluginError> {
//!         let data = event.data().unwrap_or("{}");
//!         event.archive_put(&format!("stash/{}", event.id()), data.as_bytes(), "application/json")
//!     }
//! }
//!
//! let mut host = Host::new();
//! let batch = Batch::from_json(&[BOOK_UPDATE])?;
//! assert_eq!(host.run::<Stash>("{}", &batch), [Answer::Ok]);
//! assert!(matches!(&host.calls()[0], Call::ArchivePut { index: 0, key, .. } if key.starts_with("stash/")));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Only on native targets: in a WebAssembly component the real host answers.

mod batch;
mod host;

pub use batch::Batch;
pub(crate) use host::imports;
pub use host::{Answer, Call, Capability, Host};

/// An update of a book, as `examples/events/book-update.json`.
pub const BOOK_UPDATE: &str = r#"{
  "version": "0",
  "id": "0d1f0c43-7c5e-4a0b-9a3f-2f4f1b6c8e21",
  "detail-type": "Object State Change",
  "source": "com.example.library",
  "account": "123456789012",
  "time": "2026-11-25T10:30:00Z",
  "region": "eu-west-1",
  "resources": ["arn:aws:dynamodb:eu-west-1:123456789012:table/books"],
  "detail": {
    "entity-type": "book",
    "entity-id": "978-0-13-468599-1",
    "operation": "update",
    "ts": "2026-11-25T10:30:00Z",
    "author": "bob@example.com",
    "data": {
      "isbn": "978-0-13-468599-1",
      "title": "The Rust Programming Language",
      "authors": ["Steve Klabnik", "Carol Nichols"],
      "year": 2023,
      "copies": 2,
      "shelf": "B-14"
    }
  }
}"#;

/// A delete of a book without data, as `examples/events/book-delete.json`.
pub const BOOK_DELETE: &str = r#"{
  "version": "0",
  "id": "5b2c8f7e-1d3a-4e6b-8c9d-0a1b2c3d4e5f",
  "detail-type": "Object State Change",
  "source": "com.example.library",
  "account": "123456789012",
  "time": "2026-11-25T11:00:00Z",
  "region": "eu-west-1",
  "resources": [],
  "detail": {
    "entity-type": "book",
    "entity-id": "978-0-13-468599-1",
    "operation": "delete",
    "ts": "2026-11-25T10:59:58Z",
    "author": "carol@example.com"
  }
}"#;

/// An event as journaled, with source `com.example.library`, time
/// `2026-11-25T10:30:00Z` and no account, region or resources; change fields
/// with struct update syntax: `Event { time: .., ..journaled(..) }`.
pub fn journaled(id: &str, detail_type: &str, detail: &str) -> trailmark_event::Event {
    trailmark_event::Event {
        id: id.to_owned(),
        version: "0".to_owned(),
        source: "com.example.library".to_owned(),
        detail_type: detail_type.to_owned(),
        time: "2026-11-25T10:30:00Z".to_owned(),
        account: String::new(),
        region: String::new(),
        resources: Vec::new(),
        detail: detail.to_owned(),
    }
}
/// An `Object State Change` as journaled ([`journaled`]) whose detail is
/// `detail`'s JSON text.
pub fn journaled_change(id: &str, detail: &serde_json::Value) -> trailmark_event::Event {
    journaled(id, "Object State Change", &detail.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::Level;
    use crate::{Event, HostError, NoConfig, Plugin, PluginError};

    /// Answers by the detail's `action`, archiving first when asked.
    struct Actor;

    impl Plugin for Actor {
        type Config = NoConfig;
        fn new(_: NoConfig) -> Result<Self, PluginError> {
            Ok(Actor)
        }
        fn handle(&self, event: &Event<'_>) -> Result<(), PluginError> {
            match event.detail_json()?["action"].as_str() {
                Some("put") => event.archive_put(&format!("a/{}", event.id()), b"x", "text/plain"),
                Some("retry") => Err(PluginError::retry("later")),
                Some("panic") => panic!("on purpose"),
                _ => Ok(()),
            }
        }
    }

    fn batch(actions: &[&str]) -> Batch {
        let mut batch = Batch::default();
        for action in actions {
            batch.push_detail("Ping", &format!(r#"{{"action": "{action}"}}"#));
        }
        batch
    }

    #[test]
    fn records_calls_and_answers_per_delivery() {
        let mut host = Host::new();
        let answers = host.run::<Actor>("", &batch(&["put", "retry", "ok"]));
        assert_eq!(
            answers,
            [Answer::Ok, Answer::Retry("later".into()), Answer::Ok]
        );
        assert_eq!(
            host.calls(),
            [Call::ArchivePut {
                index: 0,
                key: "a/e-0".into(),
                body: b"x".to_vec(),
                content_type: "text/plain".into()
            }]
        );
        assert_eq!(host.archived("a/e-0"), Some(&b"x"[..]));
    }

    #[test]
    fn a_panic_traps_the_unanswered_deliveries_only() {
        let answers = Host::new().run::<Actor>("{}", &batch(&["ok", "panic", "ok"]));
        assert_eq!(answers[0], Answer::Ok);
        assert_eq!(answers[1], Answer::Trapped("on purpose".into()));
        assert_eq!(answers[2], Answer::Trapped("on purpose".into()));
    }

    #[test]
    fn a_bad_config_rejects_every_delivery() {
        let answers = Host::new().run::<Actor>(r#"{"x": 1}"#, &batch(&["ok", "ok"]));
        for answer in answers {
            assert!(
                matches!(&answer, Answer::Reject(m) if m.starts_with("invalid plugin config: unknown field `x`")),
                "{answer:?}"
            );
        }
    }

    #[test]
    fn failures_map_to_retry_or_reject() {
        let mut host = Host::new();
        host.fail(
            Capability::Archive,
            HostError::Transient("throttled".into()),
        );
        let answers = host.run::<Actor>("", &batch(&["put"]));
        assert_eq!(
            answers,
            [Answer::Retry(
                "archive.put \"a/e-0\": transient failure: throttled".into()
            )]
        );
        let mut host = Host::new();
        host.archive("a/e-0", b"other");
        let answers = host.run::<Actor>("", &batch(&["put"]));
        assert!(
            matches!(&answers[0], Answer::Reject(m) if m.contains("holds a different body")),
            "{answers:?}"
        );
    }

    /// Logs from `new`, as a plugin may in `init`.
    struct Chatty;

    impl Plugin for Chatty {
        type Config = NoConfig;
        fn new(_: NoConfig) -> Result<Self, PluginError> {
            crate::log::info("ready");
            Ok(Chatty)
        }
        fn handle(&self, _event: &Event<'_>) -> Result<(), PluginError> {
            Ok(())
        }
    }

    #[test]
    fn init_runs_with_the_host_installed() {
        let mut host = Host::new();
        assert_eq!(host.run::<Chatty>("", &batch(&["ok"])), [Answer::Ok]);
        assert_eq!(
            host.calls(),
            [Call::Log {
                level: Level::Info,
                message: "ready".into()
            }]
        );
    }

    #[test]
    fn a_broken_detail_keeps_the_hosts_fields() {
        let mut batch = Batch::from_json(&[BOOK_UPDATE]).expect("sample event parses");
        batch.break_detail(0);
        let event = batch.event(0);
        assert!(event.detail().ends_with('!'));
        assert!(event.detail_json().is_err());
        assert_eq!(
            event.state_change().expect("still valid").author,
            "bob@example.com"
        );
        assert!(event.data().expect("data").contains("B-14"));
    }

    #[test]
    #[should_panic(expected = "called outside a plugin run")]
    fn capabilities_outside_a_run_say_how_to_test() {
        let batch = batch(&["put"]);
        let _ = batch.event(0).archive_put("a/b", b"", "text/plain");
    }
}
