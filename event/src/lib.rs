//! Trailmark's event: one type from ingest to the plugins.
//!
//! - [`Event`] is an event in the Amazon EventBridge envelope as the host
//!   journals it; `detail` is kept as the JSON text it arrived as.
//! - [`StateChange`] is the typed form of an `Object State Change` detail
//!   (entity type and id, operation, ts, author), with `detail.data` located
//!   in the detail text as a byte range rather than parsed: whoever stores the
//!   body stores the bytes the producer sent.
//! - [`ParsedEvent`] is an event with its state change parsed once, at
//!   ingest, and shared by every rule it matched: plugins, the runtime's
//!   confinement checks and the backends all read the same fields.
//!
//! The crate depends on serde, serde_json and time only, and builds for
//! `wasm32-wasip2`, so the SDK's native testing helpers parse events exactly
//! as the host does.

#![warn(missing_docs)]

pub mod delivery_table;
mod event;
mod json_kind;
mod parsed;
mod state_change;

pub use event::{CORRELATION_MATCH, Event, HOST_SOURCE, STATE_CHANGE, TRAIL_ACCESS};
pub use json_kind::{JsonKind, json_kind};
pub use parsed::ParsedEvent;
pub use state_change::{Operation, StateChange, StateChangeError};
