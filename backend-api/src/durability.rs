//! When a write becomes durable: at once, or at the next `sync` barrier.
//!
//! A backend opened with [`Durability::EachWrite`] makes every write durable
//! before it returns (an fsync per file write, per SQLite commit). That is
//! what a caller that records "done" right after a write needs, and it costs
//! one disk flush (milliseconds) per write.
//!
//! With [`Durability::Batched`] writes return once they are in the page cache
//! (still atomic), and the backend's `sync()` (for instance
//! [`ArchiveStore::sync`](crate::ArchiveStore::sync)) makes every write that
//! returned before it durable at once. The host uses this: it calls `sync()`
//! on every backend before it journals the outcomes of the deliveries that
//! wrote, so a delivery is never recorded as done before its writes are on
//! disk, and a crash in between only means the delivery runs again
//! (at-least-once, as always). Backends whose calls are durable when they
//! return (AWS services) ignore it.

use serde::Deserialize;

/// When a backend's writes are durable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Durability {
    /// Durable when the write returns (an fsync per write).
    #[default]
    EachWrite,
    /// Durable after the next `sync()`: one flush for every write since
    /// the last one.
    Batched,
}
