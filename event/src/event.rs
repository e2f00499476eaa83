//! The EventBridge envelope of an event, as journaled.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The `detail-type` of a change to an entity, whose detail is a
/// [`StateChange`](crate::StateChange).
pub const STATE_CHANGE: &str = "Object State Change";

/// The `source` of the events Trailmark writes itself (correlation fires,
/// trail access records, admin actions).
pub const HOST_SOURCE: &str = "trailmark";

/// The `detail-type` of a correlation rule's fire: its detail names the
/// rule, the group, the count, the first and last event time and the ids of
/// the events that made it fire.
pub const CORRELATION_MATCH: &str = "Correlation Match";

/// The `detail-type` of a trail access record: one per authenticated read
/// of trail data (who, how, what route and query, how many results).
pub const TRAIL_ACCESS: &str = "Trail Access";

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

/// An event in EventBridge's own JSON form: `detail` is an object.
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Envelope<'a> {
    id: String,
    #[serde(default = "default_version")]
    version: String,
    source: String,
    detail_type: String,
    time: String,
    #[serde(default)]
    account: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(borrow)]
    detail: &'a RawValue,
}

impl Event {
    /// An event from EventBridge's own JSON form, as rule targets receive it
    /// (`examples/events/book-insert.json`): `detail` is an object, kept as
    /// the text it is written as, never re-serialized. `id`, `source`,
    /// `detail-type`, `time` and `detail` are required; `version` defaults
    /// to `"0"`, and `account`, `region` and `resources` to empty.
    pub fn from_envelope(json: &str) -> Result<Event, serde_json::Error> {
        let envelope: Envelope<'_> = serde_json::from_str(json)?;
        Ok(Event {
            id: envelope.id,
            version: envelope.version,
            source: envelope.source,
            detail_type: envelope.detail_type,
            time: envelope.time,
            account: envelope.account,
            region: envelope.region,
            resources: envelope.resources,
            detail: envelope.detail.get().to_owned(),
        })
    }

    /// Whether the detail-type says this is a change to an entity.
    pub fn is_state_change(&self) -> bool {
        self.detail_type == STATE_CHANGE
    }

    /// Whether this is a correlation rule's fire, written by the host.
    pub fn is_correlation_match(&self) -> bool {
        self.source == HOST_SOURCE && self.detail_type == CORRELATION_MATCH
    }

    /// Whether this is a trail access record (a read's trace), written by
    /// the host.
    pub fn is_trail_access(&self) -> bool {
        self.source == HOST_SOURCE && self.detail_type == TRAIL_ACCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_keeps_the_detail_text_and_defaults_the_rest() {
        let json = r#"{"id": "e-1", "source": "app", "detail-type": "Note",
                       "time": "2026-11-25T10:30:00Z", "detail": { "n" : 1 }}"#;
        let event = Event::from_envelope(json).expect("parses");
        assert_eq!(event.detail, r#"{ "n" : 1 }"#);
        assert_eq!(event.version, "0");
        assert_eq!((event.account.as_str(), event.region.as_str()), ("", ""));
        assert!(event.resources.is_empty());
        let missing = Event::from_envelope(r#"{"id": "e-1", "source": "app"}"#);
        assert!(missing.unwrap_err().to_string().contains("detail-type"));
    }
}
