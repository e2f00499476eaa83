//! What the server writes into the journal, and how recovery reads it back.
//!
//! Every record is JSON (the journal hashes the exact bytes). The delivery
//! state of an (event, rule) pair is the last record that names it:
//! an [`EventRecord`] opens a delivery for each matched rule, an
//! [`OutcomeRecord`] closes it, a [`ReopenRecord`] (replay) opens it again.

use serde::{Deserialize, Serialize};
use trailmark_backends::Event;

/// Journal record kinds.
pub mod kind {
    /// An accepted event and the rules it matched.
    pub const EVENT: u8 = 1;
    /// A delivery finished (delivered or dead-lettered).
    pub const OUTCOME: u8 = 2;
    /// A delivery reopened (dead-letter replay or `trailmark replay`).
    pub const REOPEN: u8 = 3;
}

/// An accepted event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventRecord {
    /// The event.
    pub event: Event,
    /// Names of the rules it matched, in rule-set order.
    pub rules: Vec<String>,
    /// Version of the rule set it was matched against.
    pub ruleset: u64,
}

/// An [`EventRecord`] as the pipeline writes it, borrowing the event: the
/// same JSON.
#[derive(Debug, Serialize)]
pub struct EventRecordRef<'a> {
    /// The event.
    pub event: &'a Event,
    /// Names of the rules it matched, in rule-set order.
    pub rules: &'a [String],
    /// Version of the rule set it was matched against.
    pub ruleset: u64,
}

/// A finished delivery.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutcomeRecord {
    /// The event's journal sequence number.
    pub seq: u64,
    /// The rule.
    pub rule: String,
    /// `delivered` or `dead-lettered`.
    pub outcome: String,
    /// Dead-letter id, when dead-lettered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter: Option<i64>,
}

/// A delivery opened again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReopenRecord {
    /// The event's journal sequence number.
    pub seq: u64,
    /// The rule.
    pub rule: String,
    /// Why (e.g. `dead-letter replay 12`).
    pub reason: String,
}
