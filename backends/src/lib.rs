//! The embedded (default) backends: the capability traits of
//! [`trailmark_backend_api`] on local files, SQLite and plain HTTP, and their
//! `trailmark.toml` sections, offered to the host's backend registry by
//! [`register`].
//!
//! The traits, records and errors live in `trailmark-backend-api` (so the
//! plugin runtime compiles without SQLite or an HTTP client) and are
//! re-exported here. All calls are synchronous and blocking: call them from
//! blocking threads.
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
//! use trailmark_backend_api::registry::{BackendConfig, BuildContext};
//! use trailmark_backends::{ArchiveConfig, ChangeQuery, MetadataConfig};
//! # fn main() -> Result<(), trailmark_backends::BackendError> {
//! # let dir = tempfile::tempdir().map_err(|e| trailmark_backends::BackendError::Transient(e.to_string()))?;
//! # let data_dir = dir.path();
//! let archive = ArchiveConfig::default().build(&BuildContext::durable(data_dir))?; // <data>/archive
//! archive.put("book/42/evt-1.json", br#"{"title":"Dune"}"#, "application/json")?;
//! assert!(archive.get("book/42/evt-1.json")?.is_some());
//!
//! let metadata = MetadataConfig::default().build(&BuildContext::durable(data_dir))?; // <data>/metadata.sqlite
//! let page = metadata.query(&ChangeQuery { author: Some("alice".into()), ..Default::default() })?;
//! assert!(page.records.is_empty() && page.next_cursor.is_none());
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod config;
mod dir_sync;
pub mod durability;
mod expiry_sql;
mod forward;
mod fs_archive;
mod http_post;
mod json_lines;
mod notify;
mod pack_archive;
mod sqlite_metadata;
#[cfg(test)]
mod test_http;

pub use config::{
    ArchiveConfig, ArchiveLayout, ForwardConfig, MetadataConfig, NotifyConfig, register,
};
pub use durability::Durability;
// The backend API, re-exported so code that names these through this crate
// keeps compiling; new code that needs only the API depends on
// `trailmark-backend-api` instead.
pub use forward::{DEFAULT_FORWARD_TIMEOUT, FileForwarder, ForwardEntry, HttpForwarder};
pub use fs_archive::FsArchive;
pub use notify::{DEFAULT_WEBHOOK_TIMEOUT, FileNotifier, StdoutNotifier, WebhookNotifier};
pub use pack_archive::{PACK_LIMIT, PACKS_DIR, PackArchive};
pub use sqlite_metadata::{SCHEMA_VERSION, SqliteMetadata, Synchronous};
pub use trailmark_backend_api::{
    ArchivePut, ArchiveStore, BackendError, BackendResult, BodyOwner, ChangePage, ChangeQuery,
    ChangeRecord, DEFAULT_LIMIT, Event, Forwarder, HistoryQuery, MAX_KEY_LEN, MAX_LIMIT,
    MetadataStore, Notification, Notifier, PutOutcome, page_size, validate_key,
};
