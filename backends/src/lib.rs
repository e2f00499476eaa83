//! Host capabilities that plugins reach through the runtime: one trait per
//! capability, with the embedded local implementations beside them.
//!
//! Code above this seam (runtime, dispatch, query) only names the traits;
//! which implementation backs each one is decided by configuration.
//!
//! All traits are synchronous: plugin calls run on blocking threads, and the
//! local backends do blocking file and SQLite I/O. Async backends (AWS) bridge
//! with a runtime handle inside their implementation.
//!
//! The local (embedded, default) implementations:
//!
//! | capability | implementation | config `type` |
//! |---|---|---|
//! | [`ArchiveStore`] | [`PackArchive`]: bodies appended to pack files with an index (default); [`FsArchive`]: one file per key | `fs` (`layout = "packs"` or `"files"`) |
//! | [`MetadataStore`] | [`SqliteMetadata`]: SQLite in WAL mode, keyset pagination | `sqlite` |
//! | [`Notifier`] | [`FileNotifier`], [`WebhookNotifier`], [`StdoutNotifier`] | `file`, `webhook`, `stdout` |
//! | [`Forwarder`] | [`HttpForwarder`] (another Trailmark), [`FileForwarder`] | `http`, `file` |
//!
//! Every write returns only once it is durable, so the dispatcher may count
//! a successful call as delivered. Errors are [`BackendError::Transient`]
//! when a retry may succeed and [`BackendError::Invalid`] when it cannot.
//!
//! ```
//! use trailmark_backends::{ArchiveConfig, ChangeQuery, MetadataConfig};
//! # fn main() -> Result<(), trailmark_backends::BackendError> {
//! # let dir = tempfile::tempdir().map_err(|e| trailmark_backends::BackendError::Transient(e.to_string()))?;
//! # let data_dir = dir.path();
//! let archive = ArchiveConfig::default().build(data_dir)?; // <data>/archive
//! archive.put("book/42/evt-1.json", br#"{"title":"Dune"}"#, "application/json")?;
//! assert!(archive.get("book/42/evt-1.json")?.is_some());
//!
//! let metadata = MetadataConfig::default().build(data_dir)?; // <data>/metadata.sqlite
//! let page = metadata.query(&ChangeQuery { author: Some("alice".into()), ..Default::default() })?;
//! assert!(page.records.is_empty() && page.next_cursor.is_none());
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

use serde::{Deserialize, Serialize};

mod config;
mod dir_sync;
pub mod durability;
mod forward;
mod fs_archive;
mod http_post;
mod json_lines;
mod key;
mod notify;
mod pack_archive;
mod sqlite_metadata;
#[cfg(test)]
mod test_http;

pub use config::{
    ArchiveConfig, ArchiveLayout, ForwardConfig, MetadataConfig, NotifyConfig, humane_duration,
};
pub use durability::Durability;
pub use forward::{DEFAULT_FORWARD_TIMEOUT, FileForwarder, ForwardEntry, HttpForwarder};
pub use fs_archive::FsArchive;
pub use key::{MAX_KEY_LEN, validate_key};
pub use notify::{DEFAULT_WEBHOOK_TIMEOUT, FileNotifier, StdoutNotifier, WebhookNotifier};
pub use pack_archive::{PACK_LIMIT, PACKS_DIR, PackArchive};
pub use sqlite_metadata::{DEFAULT_LIMIT, MAX_LIMIT, SCHEMA_VERSION, SqliteMetadata, Synchronous};

/// Why a backend call failed. Maps one-to-one onto the WIT `host-error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The caller may not use this capability or resource.
    #[error("denied: {0}")]
    Denied(String),
    /// Transient failure (I/O hiccup, throttling, timeout): retrying may succeed.
    #[error("transient: {0}")]
    Transient(String),
    /// The request is invalid and will never succeed as is.
    #[error("invalid: {0}")]
    Invalid(String),
}

/// Result alias for backend calls.
pub type BackendResult<T> = Result<T, BackendError>;

/// The event type, from `trailmark-event` (re-exported while code moves to it).
pub use trailmark_event::Event;

/// One change to one entity: what the metadata capability stores and the
/// query API returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ChangeRecord {
    /// The id of the event that reported the change; the idempotency key.
    pub event_id: String,
    /// Event source.
    pub source: String,
    /// Entity type, e.g. `book`.
    pub entity_type: String,
    /// Entity id.
    pub entity_id: String,
    /// `insert`, `update` or `delete`.
    pub operation: String,
    /// When the change happened, milliseconds since the Unix epoch.
    pub ts: i64,
    /// Who made the change.
    pub author: String,
    /// Where the entity body was archived, if it was.
    pub archive_key: Option<String>,
    /// Extra attributes as a JSON object text.
    pub attributes: String,
}

/// Whether a metadata put stored a new record or found it already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The record was new and is now stored.
    Inserted,
    /// A record with the same event id was already stored; nothing changed.
    AlreadyPresent,
}

/// Filters for listing change records, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeQuery {
    /// Only changes by this author.
    pub author: Option<String>,
    /// Only changes to entities of this type.
    pub entity_type: Option<String>,
    /// Only changes to this entity id (usually with `entity_type`).
    pub entity_id: Option<String>,
    /// Only this operation.
    pub operation: Option<String>,
    /// Only this event source.
    pub source: Option<String>,
    /// Only changes with `ts >= since` (ms since epoch).
    pub since: Option<i64>,
    /// Only changes with `ts < until` (ms since epoch).
    pub until: Option<i64>,
    /// At most this many records (the backend may cap it).
    pub limit: usize,
    /// Continue after this opaque cursor from a previous page.
    pub cursor: Option<String>,
}

/// Which versions of one entity to list, oldest first, paginated.
///
/// An entity is (source, entity type, entity id): with `source`, only that
/// source's versions; without it, every source's versions of that type and
/// id, each record naming its source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryQuery {
    /// Entity type, e.g. `book`.
    pub entity_type: String,
    /// Entity id.
    pub entity_id: String,
    /// Only versions reported by this event source.
    pub source: Option<String>,
    /// At most this many records: 0 means [`DEFAULT_LIMIT`], larger than
    /// [`MAX_LIMIT`] means [`MAX_LIMIT`].
    pub limit: usize,
    /// Continue after this opaque cursor from a previous page of the same
    /// history.
    pub cursor: Option<String>,
}

/// One page of change records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangePage {
    /// Records, newest first for [`MetadataStore::query`], oldest first for
    /// [`MetadataStore::history`].
    pub records: Vec<ChangeRecord>,
    /// Pass as `cursor` to get the next page; `None` when this was the last.
    pub next_cursor: Option<String>,
}

/// Stores entity bodies by key.
pub trait ArchiveStore: Send + Sync {
    /// Store `body` under `key`, atomically. A stored body is never
    /// replaced: a put of the same bytes again succeeds (a redelivery), one
    /// of different bytes fails with [`BackendError::Invalid`] naming the key.
    fn put(&self, key: &str, body: &[u8], content_type: &str) -> BackendResult<()>;
    /// Fetch the body under `key`, if any.
    fn get(&self, key: &str) -> BackendResult<Option<Vec<u8>>>;
    /// Store several bodies, one result per put, in order, as if each were
    /// a [`put`](ArchiveStore::put) in turn (a later put of a key an earlier
    /// one stored is checked against it). The runtime hands a plugin batch's
    /// puts over together, so a backend can write them in one go.
    fn put_many(&self, puts: &[ArchivePut<'_>]) -> Vec<BackendResult<()>> {
        puts.iter()
            .map(|p| self.put(p.key, p.body, p.content_type))
            .collect()
    }
    /// Make every put that returned before this call durable. A backend whose
    /// puts are durable when they return (the default) has nothing to do.
    fn sync(&self) -> BackendResult<()> {
        Ok(())
    }
}

/// One body to store, for [`ArchiveStore::put_many`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchivePut<'a> {
    /// Where.
    pub key: &'a str,
    /// The bytes.
    pub body: &'a [u8],
    /// Their media type, e.g. `application/json`.
    pub content_type: &'a str,
}

/// Stores queryable change records, idempotent on event id.
pub trait MetadataStore: Send + Sync {
    /// Store a record unless one with the same event id exists.
    fn put(&self, change: &ChangeRecord) -> BackendResult<PutOutcome>;
    /// Store several records, one result per record, in order, as if each
    /// were a [`put`](MetadataStore::put) in turn; a backend may commit them
    /// in one transaction.
    fn put_many(&self, changes: &[ChangeRecord]) -> Vec<BackendResult<PutOutcome>> {
        changes.iter().map(|c| self.put(c)).collect()
    }
    /// List records matching `query`, newest first, paginated.
    fn query(&self, query: &ChangeQuery) -> BackendResult<ChangePage>;
    /// The recorded changes of one entity, oldest first, one page at a time
    /// (ordered by `ts`, then event id).
    fn history(&self, query: &HistoryQuery) -> BackendResult<ChangePage>;
    /// Make every put that returned before this call durable (see
    /// [`ArchiveStore::sync`]).
    fn sync(&self) -> BackendResult<()> {
        Ok(())
    }
}

/// A notification to publish on a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    /// Channel name as configured (and granted to the rule).
    pub channel: String,
    /// Short subject line.
    pub subject: String,
    /// Message body.
    pub message: String,
    /// Key/value attributes subscribers can filter on.
    pub attributes: Vec<(String, String)>,
}

/// Publishes notifications to one configured channel.
pub trait Notifier: Send + Sync {
    /// Publish one notification.
    fn publish(&self, notification: &Notification) -> BackendResult<()>;
    /// Make every publish that returned before this call durable (see
    /// [`ArchiveStore::sync`]).
    fn sync(&self) -> BackendResult<()> {
        Ok(())
    }
}

/// Sends events on to one configured destination.
pub trait Forwarder: Send + Sync {
    /// Send one event.
    fn send(&self, event: &Event) -> BackendResult<()>;
    /// Make every send that returned before this call durable (see
    /// [`ArchiveStore::sync`]).
    fn sync(&self) -> BackendResult<()> {
        Ok(())
    }
}
