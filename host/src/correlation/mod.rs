//! Correlation rules at work in the host: events as the correlation engine
//! sees them (fields by path, event time), fires as events, and an offline
//! run over a timeline of events (`trailmark rules test --events`).
//!
//! The state machines are `trailmark_correlate`'s; this module only adapts
//! envelopes to them and them to envelopes.

mod fields;
mod fire_event;
mod timeline;

pub use fields::{DEFAULT_TIME_PATH, JsonFields, event_time};
pub use fire_event::{fire_envelope, is_fire};
pub use timeline::{Timeline, TimelineError, run_timeline};
