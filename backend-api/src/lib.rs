//! The contract between Trailmark and its backends, apart from any
//! implementation of it: one trait per capability, the records they carry,
//! their errors, the archive key rules, the [`registry`] through which
//! backend crates offer their `type`s to `trailmark.toml`, and the [`units`]
//! (durations, byte sizes) every section of that file is written in.
//!
//! | capability | trait | embedded (`trailmark-backends`) | AWS (`trailmark-backends-aws`) |
//! |---|---|---|---|
//! | archive | [`ArchiveStore`] | `fs` | `s3` |
//! | metadata | [`MetadataStore`] | `sqlite` | `dynamodb` |
//! | notify | [`Notifier`] | `file`, `webhook`, `stdout` | `sns` |
//! | forward | [`Forwarder`] | `http`, `file` | `eventbridge` |
//! | http | [`HttpDestinations`] | the host's `destinations/` | |
//!
//! Code above this seam (the plugin runtime, dispatch, query) names only
//! these traits, so it compiles without SQLite, an HTTP client or an SDK.
//!
//! All traits are synchronous: plugin calls run on blocking threads, and the
//! embedded backends do blocking file and SQLite I/O. Async backends (AWS)
//! bridge with a runtime handle inside their implementation.
//!
//! Every write returns only once it is durable (or, for a backend opened
//! with [`Durability::Batched`], once the next `sync()` returns), so the
//! dispatcher may count a successful call as delivered. Errors are
//! [`BackendError::Transient`] when a retry may succeed and
//! [`BackendError::Invalid`] when it cannot.
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::Mutex;
//! use trailmark_backend_api::{ArchiveStore, BackendResult, validate_key};
//!
//! /// An archive in memory, for tests.
//! #[derive(Default)]
//! struct MemArchive(Mutex<HashMap<String, Vec<u8>>>);
//!
//! impl ArchiveStore for MemArchive {
//!     fn put(&self, key: &str, body: &[u8], _content_type: &str) -> BackendResult<()> {
//!         validate_key(key)?;
//!         self.0.lock().expect("not poisoned").insert(key.to_owned(), body.to_vec());
//!         Ok(())
//!     }
//!     fn get(&self, key: &str) -> BackendResult<Option<Vec<u8>>> {
//!         Ok(self.0.lock().expect("not poisoned").get(key).cloned())
//!     }
//! }
//!
//! let archive = MemArchive::default();
//! archive.put("book/42/evt-1.json", b"{}", "application/json").unwrap();
//! assert!(archive.put("../etc/passwd", b"", "text/plain").is_err());
//! ```

#![warn(missing_docs)]

mod durability;
mod expiry;
mod filter;
mod http;
mod key;
mod records;
pub mod registry;
mod stores;
pub mod units;
pub mod when;

pub use durability::Durability;
pub use expiry::{Expiring, Expiry, Held, Scope};
pub use filter::{
    AnyOf, ChangeFilter, ChangeSummary, EntityKey, Histogram, SummaryRow, ValueCounts,
    summarize_records,
};
pub use http::{HttpDestinations, HttpError, HttpRequest, HttpResponse};
pub use key::{MAX_KEY_LEN, validate_key};
pub use records::{
    ChangePage, ChangeQuery, ChangeRecord, DEFAULT_LIMIT, HistoryQuery, MAX_LIMIT, Notification,
    PutOutcome, page_size,
};
pub use stores::{ArchivePut, ArchiveStore, BodyOwner, Forwarder, MetadataStore, Notifier};
/// The event type, from `trailmark-event`: what forwarders send.
pub use trailmark_event::Event;

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
