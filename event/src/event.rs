//! The EventBridge envelope of an event, as journaled.

use serde::{Deserialize, Serialize};

/// The `detail-type` of a change to an entity, whose detail is a
/// [`StateChange`](crate::StateChange).
pub const STATE_CHANGE: &str = "Object State Change";

/// An event in the Amazon EventBridge envelope, as journaled.
///
/// Its serde form is the journal's: kebab-case field names and `detail` as
/// the JSON *text* of the detail object (a string), exactly as it was
/// accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Event {
    /// Unique event id (assigned by the host when the producer gave none).
    pub id: String,
    /// Envelope `version`, always `"0"` as in EventBridge.
    #[serde(default = "default_version")]
    pub version: String,
    /// Producer-chosen source, e.g. `com.example.books`.
    pub source: String,
    /// Producer-chosen type, e.g. `Object State Change`.
    pub detail_type: String,
    /// RFC 3339 UTC time of the event.
    pub time: String,
    /// Account id (configured on the host).
    pub account: String,
    /// Region (configured on the host).
    pub region: String,
    /// Resource ARNs or names the event concerns.
    #[serde(default)]
    pub resources: Vec<String>,
    /// The `detail` object as JSON text.
    pub detail: String,
}

fn default_version() -> String {
    "0".to_owned()
}

impl Event {
    /// Whether the detail-type says this is a change to an entity.
    pub fn is_state_change(&self) -> bool {
        self.detail_type == STATE_CHANGE
    }
}
