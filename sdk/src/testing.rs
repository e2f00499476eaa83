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

use std::cell::RefCell;
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use serde::Deserialize;
use serde_json::value::RawValue;
use trailmark_event::ParsedEvent;

use crate::bindings::trailmark::plugin::types::{self, DetailKind, Outcome, Span};
use crate::log::Level;
use crate::{Event, HostError, Plugin, PluginError};

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

/// Deliveries packed into one batch, exactly as the host packs them: every
/// text appended to one byte buffer, the fields spans of it, and an
/// `Object State Change` parsed once by `trailmark_event` (the host's parser).
#[derive(Debug)]
pub struct Batch {
    wit: types::Batch,
}

impl Default for Batch {
    fn default() -> Self {
        Self {
            wit: types::Batch {
                bytes: Vec::new(),
                resources: Vec::new(),
                deliveries: Vec::new(),
            },
        }
    }
}

/// An event in EventBridge's JSON form (kebab-case, `detail` an object).
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Envelope<'a> {
    id: String,
    source: String,
    detail_type: String,
    time: String,
    #[serde(default)]
    account: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(borrow)]
    detail: &'a RawValue,
}

impl Batch {
    /// A batch of the events in EventBridge's JSON form, as in
    /// `examples/events/book-insert.json`: `id`, `source`, `detail-type`,
    /// `time` and `detail` are required; `account`, `region` and `resources`
    /// default to empty. The detail's text is kept as written.
    pub fn from_json(events: &[&str]) -> Result<Self, serde_json::Error> {
        let mut batch = Self::default();
        for json in events {
            batch.push_json(json)?;
        }
        Ok(batch)
    }

    /// Add an event in EventBridge's JSON form; see [`Batch::from_json`].
    pub fn push_json(&mut self, json: &str) -> Result<&mut Self, serde_json::Error> {
        let envelope: Envelope<'_> = serde_json::from_str(json)?;
        Ok(self.push(trailmark_event::Event {
            id: envelope.id,
            version: "0".to_owned(),
            source: envelope.source,
            detail_type: envelope.detail_type,
            time: envelope.time,
            account: envelope.account,
            region: envelope.region,
            resources: envelope.resources,
            detail: envelope.detail.get().to_owned(),
        }))
    }

    /// Add an event with the envelope of [`BOOK_UPDATE`] (and id `e-<n>`,
    /// `n` its index) but this detail-type and detail text.
    pub fn push_detail(&mut self, detail_type: &str, detail: &str) -> &mut Self {
        let id = format!("e-{}", self.wit.deliveries.len());
        self.push(trailmark_event::Event {
            id,
            version: "0".to_owned(),
            source: "com.example.library".to_owned(),
            detail_type: detail_type.to_owned(),
            time: "2026-11-25T10:30:00Z".to_owned(),
            account: "123456789012".to_owned(),
            region: "eu-west-1".to_owned(),
            resources: Vec::new(),
            detail: detail.to_owned(),
        })
    }

    /// A batch of the events, as journaled.
    pub fn of(events: impl IntoIterator<Item = trailmark_event::Event>) -> Self {
        let mut batch = Self::default();
        for event in events {
            batch.push(event);
        }
        batch
    }

    /// Add an event as journaled, its state change parsed as the host does.
    pub fn push(&mut self, event: trailmark_event::Event) -> &mut Self {
        self.push_parsed(&ParsedEvent::new(event))
    }

    /// Add an event the host's way: parsed once (at ingest), then packed.
    pub fn push_parsed(&mut self, parsed: &ParsedEvent) -> &mut Self {
        let event = parsed.event();
        let id = self.text(&event.id);
        let source = self.text(&event.source);
        let detail_type = self.text(&event.detail_type);
        let time = self.text(&event.time);
        let account = self.text(&event.account);
        let region = self.text(&event.region);
        let first = self.wit.resources.len();
        for resource in &event.resources {
            let span = self.text(resource);
            self.wit.resources.push(span);
        }
        let resources = span(first, event.resources.len());
        let detail = self.text(&event.detail);
        let kind = match parsed.change() {
            None => DetailKind::Other,
            Some(Err(error)) => DetailKind::InvalidStateChange(self.text(&error.to_string())),
            Some(Ok(change)) => DetailKind::StateChange(types::StateChange {
                entity_type: self.text(&change.entity_type),
                entity_id: self.text(&change.entity_id),
                operation: match change.operation {
                    crate::Operation::Insert => types::Operation::Insert,
                    crate::Operation::Update => types::Operation::Update,
                    crate::Operation::Delete => types::Operation::Delete,
                },
                ts: change.ts,
                author: self.text(&change.author),
                data: change
                    .data
                    .clone()
                    .map(|range| span(detail.start as usize + range.start, range.len())),
            }),
        };
        self.wit.deliveries.push(types::Delivery {
            id,
            source,
            detail_type,
            time,
            account,
            region,
            resources,
            detail,
            kind,
        });
        self
    }

    /// Make the detail text of delivery `index` invalid JSON (its last byte
    /// becomes `!`) and keep what the host parsed from it: a plugin that
    /// reads only the host's fields ([`Event::state_change`],
    /// [`Event::data`]) handles it as before, one that parses the detail
    /// rejects it. For tests that a plugin parses no JSON.
    ///
    /// # Panics
    ///
    /// If there is no delivery at `index` or its detail is empty.
    pub fn break_detail(&mut self, index: usize) -> &mut Self {
        let span = self.wit.deliveries[index].detail;
        let last = (span.start + span.len)
            .checked_sub(1)
            .filter(|_| span.len > 0)
            .expect("the detail is not empty");
        self.wit.bytes[last as usize] = b'!';
        self
    }

    /// Append `text` to the bytes and return its span.
    fn text(&mut self, text: &str) -> Span {
        let start = self.wit.bytes.len();
        self.wit.bytes.extend_from_slice(text.as_bytes());
        span(start, text.len())
    }

    /// How many deliveries the batch holds.
    pub fn len(&self) -> usize {
        self.wit.deliveries.len()
    }

    /// Whether the batch holds no delivery.
    pub fn is_empty(&self) -> bool {
        self.wit.deliveries.is_empty()
    }

    /// The delivery at `index` as the plugin sees it.
    ///
    /// # Panics
    ///
    /// If there is no delivery at `index`.
    pub fn event(&self, index: usize) -> Event<'_> {
        let index = u32::try_from(index).expect("a test batch has fewer than 2^32 deliveries");
        Event::new(&self.wit, index).expect("the batch has this delivery and packed it validly")
    }

    /// The WIT record the host would hand to `handle`.
    #[doc(hidden)]
    pub fn wit(&self) -> &types::Batch {
        &self.wit
    }

    /// The WIT record, to build broken batches in the SDK's own tests.
    #[doc(hidden)]
    pub fn wit_mut(&mut self) -> &mut types::Batch {
        &mut self.wit
    }
}

/// A span from a `usize` offset and length (test batches are small).
fn span(start: usize, len: usize) -> Span {
    let fit = |n: usize| u32::try_from(n).expect("a test batch is smaller than 4 GiB");
    Span {
        start: fit(start),
        len: fit(len),
    }
}

/// How a delivery ended, as the in-memory host saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Answered `ok`.
    Ok,
    /// Answered `retry` with this message.
    Retry(String),
    /// Answered `reject` with this message.
    Reject(String),
    /// `handle` returned without answering it (the host retries it).
    Unanswered,
    /// The plugin panicked (the instance trapped) before answering it; the
    /// panic's message.
    Trapped(String),
}

/// A capability call the plugin made, with its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `archive.put`.
    ArchivePut {
        /// The delivery it was made for.
        index: u32,
        /// The key.
        key: String,
        /// The body.
        body: Vec<u8>,
        /// The content type.
        content_type: String,
    },
    /// `archive.get`.
    ArchiveGet {
        /// The delivery it was made for.
        index: u32,
        /// The key.
        key: String,
    },
    /// `metadata.put`.
    MetadataPut {
        /// The delivery it was made for.
        index: u32,
        /// Where the body was archived.
        archive_key: Option<String>,
        /// The attributes' JSON text.
        attributes: String,
    },
    /// `notify.publish`.
    Notify {
        /// The delivery it was made for.
        index: u32,
        /// The channel.
        channel: String,
        /// The subject.
        subject: String,
        /// The message.
        message: String,
        /// The attributes.
        attributes: Vec<(String, String)>,
    },
    /// `forward.send`.
    Forward {
        /// The delivery it was made for.
        index: u32,
        /// The destination.
        destination: String,
        /// The replacement detail, if any.
        detail: Option<String>,
        /// The replacement resources, if any.
        resources: Option<Vec<String>>,
    },
    /// `log.write`.
    Log {
        /// The level.
        level: Level,
        /// The message.
        message: String,
    },
}

/// A capability of the host, to make its calls fail with [`Host::fail`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Capability {
    /// `archive.put` and `archive.get`.
    Archive,
    /// `metadata.put`.
    Metadata,
    /// `notify.publish`.
    Notify,
    /// `forward.send`.
    Forward,
}

/// An in-memory host: runs a plugin on batches, records each capability
/// call and answer, and keeps archived bodies so `archive_get` finds what
/// `archive_put` stored (a different body under a stored key is refused as
/// `invalid`, as the real archive does).
#[derive(Debug, Default)]
pub struct Host {
    calls: Vec<Call>,
    archive: HashMap<String, Vec<u8>>,
    failures: HashMap<Capability, HostError>,
    answers: Vec<Answer>,
}

thread_local! {
    /// The host of the plugin call running on this thread, if any.
    static CURRENT: RefCell<Option<Host>> = const { RefCell::new(None) };
}

impl Host {
    /// A host with an empty archive and nothing recorded.
    pub fn new() -> Self {
        Self::default()
    }

    /// Initialize `P` with the rule's `config` (JSON text) as the host's
    /// `init` would, then handle `batch`; returns the answer of each delivery.
    pub fn run<P: Plugin>(&mut self, config: &str, batch: &Batch) -> Vec<Answer> {
        let instance = self.init::<P>(config);
        self.handle(&instance, batch)
    }

    /// Initialize `P` with the rule's `config` (JSON text), as the host's
    /// `init` does: the config parsed once, then [`Plugin::new`] (which may
    /// log). Keep the instance to [`handle`](Self::handle) several batches.
    ///
    /// # Panics
    ///
    /// If [`Plugin::new`] panics (in a component, `init` would trap).
    pub fn init<P: Plugin>(&mut self, config: &str) -> Result<P, PluginError> {
        match self.installed(|| crate::__private::init::<P>(config.to_owned())) {
            Ok(instance) => instance,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Handle `batch` with an instance made by [`init`](Self::init); returns
    /// the answer of each delivery. A panic is caught as a trap would be:
    /// the deliveries it left unanswered are [`Answer::Trapped`].
    pub fn handle<P: Plugin>(
        &mut self,
        instance: &Result<P, PluginError>,
        batch: &Batch,
    ) -> Vec<Answer> {
        self.answers = vec![Answer::Unanswered; batch.len()];
        let result = self.installed(|| crate::__private::handle(Some(instance), &batch.wit));
        if let Err(panic) = result {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "a panic without a message".to_owned());
            for answer in &mut self.answers {
                if *answer == Answer::Unanswered {
                    *answer = Answer::Trapped(message.clone());
                }
            }
        }
        std::mem::take(&mut self.answers)
    }

    /// Run `f` with this host installed as the thread's, so the capability
    /// calls it makes land here; a panic in `f` is caught and returned.
    fn installed<T>(&mut self, f: impl FnOnce() -> T) -> std::thread::Result<T> {
        let previous = CURRENT.replace(Some(std::mem::take(self)));
        let result = catch_unwind(AssertUnwindSafe(f));
        *self = CURRENT
            .replace(previous)
            .expect("the host stays installed while the plugin runs");
        result
    }

    /// Make every later call of `capability` fail with `error`.
    pub fn fail(&mut self, capability: Capability, error: HostError) -> &mut Self {
        self.failures.insert(capability, error);
        self
    }

    /// The capability calls made so far, in order.
    pub fn calls(&self) -> &[Call] {
        &self.calls
    }

    /// Forget the calls made so far (the archive keeps its bodies).
    pub fn take_calls(&mut self) -> Vec<Call> {
        std::mem::take(&mut self.calls)
    }

    /// The body archived under `key`, if any.
    pub fn archived(&self, key: &str) -> Option<&[u8]> {
        self.archive.get(key).map(Vec::as_slice)
    }

    /// Store `body` under `key` before the plugin runs, as if archived earlier.
    pub fn archive(&mut self, key: &str, body: &[u8]) -> &mut Self {
        self.archive.insert(key.to_owned(), body.to_vec());
        self
    }

    fn check(&self, capability: Capability) -> Result<(), HostError> {
        self.failures.get(&capability).cloned().map_or(Ok(()), Err)
    }
}

/// The imports the SDK calls natively (see `host.rs`): each one records on
/// the thread's [`Host`].
pub(crate) mod host {
    use super::{Answer, CURRENT, Call, Capability, Host, HostError, Level, Outcome};

    fn with<T>(call: &str, f: impl FnOnce(&mut Host) -> T) -> T {
        CURRENT.with_borrow_mut(|host| {
            let host = host.as_mut().unwrap_or_else(|| {
                panic!(
                    "{call} called outside a plugin run: natively, capabilities exist only \
                     while trailmark_sdk::testing::Host::run or ::handle runs the plugin"
                )
            });
            f(host)
        })
    }

    pub(crate) fn answer(index: u32, outcome: Outcome) {
        with("outcomes.answer", |host| {
            let slot = usize::try_from(index)
                .ok()
                .and_then(|index| host.answers.get_mut(index));
            // The first answer counts, as in the real host.
            if let Some(slot @ Answer::Unanswered) = slot {
                *slot = match outcome {
                    Outcome::Ok => Answer::Ok,
                    Outcome::Retry(message) => Answer::Retry(message),
                    Outcome::Reject(message) => Answer::Reject(message),
                };
            }
        });
    }

    pub(crate) fn archive_put(
        index: u32,
        key: &str,
        body: &[u8],
        content_type: &str,
    ) -> Result<(), HostError> {
        with("archive.put", |host| {
            host.calls.push(Call::ArchivePut {
                index,
                key: key.to_owned(),
                body: body.to_vec(),
                content_type: content_type.to_owned(),
            });
            host.check(Capability::Archive)?;
            crate::validate_key(key).map_err(|error| HostError::Invalid(error.to_string()))?;
            match host.archive.get(key) {
                Some(stored) if stored != body => Err(HostError::Invalid(format!(
                    "archive key {key:?} holds a different body; stored bodies are never replaced"
                ))),
                Some(_) => Ok(()),
                None => {
                    host.archive.insert(key.to_owned(), body.to_vec());
                    Ok(())
                }
            }
        })
    }

    pub(crate) fn archive_get(index: u32, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        with("archive.get", |host| {
            host.calls.push(Call::ArchiveGet {
                index,
                key: key.to_owned(),
            });
            host.check(Capability::Archive)?;
            Ok(host.archive.get(key).cloned())
        })
    }

    pub(crate) fn metadata_put(
        index: u32,
        archive_key: Option<&str>,
        attributes: &str,
    ) -> Result<(), HostError> {
        with("metadata.put", |host| {
            host.calls.push(Call::MetadataPut {
                index,
                archive_key: archive_key.map(str::to_owned),
                attributes: attributes.to_owned(),
            });
            host.check(Capability::Metadata)
        })
    }

    pub(crate) fn notify_publish(
        index: u32,
        channel: &str,
        subject: &str,
        message: &str,
        attributes: &[(String, String)],
    ) -> Result<(), HostError> {
        with("notify.publish", |host| {
            host.calls.push(Call::Notify {
                index,
                channel: channel.to_owned(),
                subject: subject.to_owned(),
                message: message.to_owned(),
                attributes: attributes.to_vec(),
            });
            host.check(Capability::Notify)
        })
    }

    pub(crate) fn forward_send(
        index: u32,
        destination: &str,
        detail: Option<&str>,
        resources: Option<&[String]>,
    ) -> Result<(), HostError> {
        with("forward.send", |host| {
            host.calls.push(Call::Forward {
                index,
                destination: destination.to_owned(),
                detail: detail.map(str::to_owned),
                resources: resources.map(<[String]>::to_vec),
            });
            host.check(Capability::Forward)
        })
    }

    pub(crate) fn log_write(level: Level, message: &str) {
        with("log.write", |host| {
            host.calls.push(Call::Log {
                level,
                message: message.to_owned(),
            });
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoConfig;

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
