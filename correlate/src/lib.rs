//! Correlation rules over time windows, compatible with Sigma's correlation
//! specification: pure state machines fed by the matcher's output. No I/O,
//! no clock, no async: time is the events' own, and [`Engine::advance`]
//! moves it when the host says so.
//!
//! ```
//! use std::collections::BTreeMap;
//! use trailmark_correlate::{Condition, Correlation, Engine, Event, Kind, Limits};
//!
//! // More than 2 deletes by one author within 5 minutes.
//! let rule = Correlation::new(
//!     "mass-deletes",
//!     Kind::EventCount,
//!     vec!["delete".into()],
//!     vec!["detail.author".into()],
//!     5 * 60_000,
//!     Condition { gt: Some(2), ..Condition::default() },
//! );
//! let mut engine = Engine::new(vec![rule], Limits::default()).unwrap();
//! let fields = BTreeMap::from([("detail.author".to_owned(), "mallory".to_owned())]);
//! let mut fires = Vec::new();
//! for (i, t) in [0, 60_000, 120_000].into_iter().enumerate() {
//!     let id = format!("e{i}");
//!     let event = Event { id: &id, time: t, fields: &fields };
//!     fires.extend(engine.process(&event, &["delete"]));
//! }
//! fires.extend(engine.advance(120_001));
//! assert_eq!(fires.len(), 1);
//! assert_eq!(fires[0].count, 3);
//! assert_eq!(fires[0].events, ["e0", "e1", "e2"]);
//! ```
//!
//! Semantics, in short (the full page is `docs/correlation.md`):
//! - events are correlated in (event time, id) order once the rule's
//!   lateness allowance has passed, so any arrival order within the
//!   allowance gives the same fires; an event older than that is late,
//!   counted and skipped;
//! - a sliding window is `[t - timespan, t]`, both ends included; a
//!   tumbling one `[k·timespan, (k+1)·timespan)`; a session lasts while
//!   events come at most `timespan` apart;
//! - conditions with only lower bounds fire as soon as they hold; those with
//!   an upper bound (`lt`, `lte`, `eq`, `neq`) when the window closes;
//! - after a fire the group resets (default) or stays quiet for a while;
//! - memory is bounded: groups per rule are capped (stalest evicted and
//!   counted), and a group keeps state sized by its threshold.

mod deadlines;
mod distinct;
mod engine;
mod event_id;
mod fire;
mod groups;
mod kinds;
mod model;
mod reorder;
mod runner;
mod state;

pub use engine::{
    DEFAULT_MAX_GROUPS, DEFAULT_MAX_PENDING, Engine, EngineError, Event, Fields, Limits, Restored,
    Snapshot,
};
pub use fire::{Fire, fire_id, value_digest};
pub use model::{
    AfterFire, Condition, Correlation, Kind, MAX_MEMBER_RULES, MAX_THRESHOLD, MAX_TIMESPAN, Millis,
    Problem, Window, format_millis, parse_timespan,
};
pub use runner::RuleStats;
pub use state::MAX_FIRE_EVENTS;
