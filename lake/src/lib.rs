//! The trail as a data lake: one Parquet row per audit event, in
//! Hive-style partitions by the event's UTC date, in files named by the
//! journal sequence range they hold, so a restart or a replay rewrites the
//! same files and never adds a row twice.
//!
//! - [`Row`]: what the `changes` table keeps of an event.
//! - [`parquet_file`]: the schema, rows to Parquet bytes and back (zstd,
//!   no Arrow).
//! - [`layout`]: partitions and file names.
//! - [`LakeStore`], [`DirStore`]: where files go, each published
//!   atomically.
//! - [`Exporter`]: open files, when they close, and the [`Marker`] that
//!   says what is exported.
//! - [`ocsf`]: the same rows as OCSF Entity Management events in a
//!   Security Lake custom source's layout ([`Table::Ocsf`]).
//! - [`compact()`]: a day's small files merged into large ones.
//! - [`ddl`]: statements that define `changes` for Athena, DuckDB, Spark.
//!
//! ```
//! use std::sync::Arc;
//! use trailmark_lake::{DirStore, ExportOptions, Exporter, LakeStore, Row};
//! use trailmark_event::Event;
//!
//! let dir = tempfile::tempdir()?;
//! let store = Arc::new(DirStore::open(&dir.path().join("lake"))?);
//! let mut exporter = Exporter::open(store.clone(), &dir.path().join("marker.json"),
//!                                   ExportOptions::default(), 0)?;
//! let event = Event {
//!     id: "e-1".into(), version: "0".into(), source: "shop".into(),
//!     detail_type: "Object State Change".into(), time: "2026-11-25T10:30:00Z".into(),
//!     account: String::new(), region: String::new(), resources: vec![],
//!     detail: r#"{"entity-type":"book","entity-id":"1","operation":"insert",
//!                 "ts":"2026-11-25T10:30:00Z","author":"ann","data":{"t":"Dune"}}"#.into(),
//! };
//! exporter.offer(1, Some(Row::from_event(1, 0, &event)), 0)?;
//! let published = exporter.close(0)?;
//! assert_eq!(published.files, store.list("changes/")?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod compact;
pub mod ddl;
mod error;
mod exporter;
pub mod layout;
mod marker;
pub mod ocsf;
pub mod parquet_file;
mod row;
mod store;

pub use compact::{Compacted, compact, remove_covered};
pub use error::LakeError;
pub use exporter::{ExportOptions, Exporter, Published, Table};
pub use layout::Partitioning;
pub use marker::{Marker, MarkerState};
pub use ocsf::SecurityLakeSource;
pub use row::Row;
pub use store::{DirStore, LakeStore};
