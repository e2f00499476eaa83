//! Correlation rules at work in the host: events as the correlation engine
//! sees them (fields by path, event time), fires as events, and an offline
//! run over a timeline of events (`trailmark rules test --events`).
//!
//! The state machines are `trailmark_correlate`'s; this module only adapts
//! events (as the host parsed them at ingest) to them and fires to events.

mod fields;
mod fire_event;
mod settings;
mod snapshot_file;
mod timeline;

pub use fields::{DEFAULT_TIME_PATH, EventFields, event_time};
pub use fire_event::{FireOrigin, fire_envelope, fire_event, is_fire};
pub use settings::{CorrelationSettings, check_time_path};
pub use snapshot_file::{SavedWindows, SnapshotError};
pub use snapshot_file::{load as load_snapshot, path_in as snapshot_path, save as save_snapshot};
pub use timeline::{Timeline, TimelineError, run_timeline};
