//! The event a plugin receives: the EventBridge envelope.

use serde::Deserialize;
use serde_json::Value;

use crate::bindings::trailmark::plugin::types;
use crate::{PluginError, StateChange};

/// An event in the Amazon EventBridge envelope, as the host received and
/// journaled it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The event id, unique per event (the host assigns one if the producer did not).
    pub id: String,
    /// Who sent it, e.g. `com.example.library`.
    pub source: String,
    /// What kind of event it is, e.g. `Object State Change`.
    pub detail_type: String,
    /// When it happened, RFC 3339 UTC, e.g. `2026-11-25T10:00:00Z`.
    pub time: String,
    /// The AWS account id of the producer, or empty.
    pub account: String,
    /// The AWS region of the producer, or empty.
    pub region: String,
    /// ARNs or other identifiers of the resources involved.
    pub resources: Vec<String>,
    /// The JSON text of the `detail` object.
    pub detail: String,
}

/// The envelope as EventBridge's JSON spells it (kebab-case, `detail` an object).
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Envelope {
    id: String,
    source: String,
    detail_type: String,
    time: String,
    #[serde(default)]
    account: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    resources: Vec<String>,
    detail: Value,
}

impl Event {
    /// Read an event from its EventBridge JSON form, as in
    /// `examples/events/book-insert.json`: `id`, `source`, `detail-type`,
    /// `time` and `detail` are required; `account`, `region` and `resources`
    /// default to empty. Mostly useful in tests.
    ///
    /// ```
    /// let event = trailmark_sdk::Event::from_json(r#"{
    ///     "id": "e-1", "source": "com.example.library",
    ///     "detail-type": "Object State Change", "time": "2026-11-25T10:00:00Z",
    ///     "detail": {"entity-type": "book", "entity-id": 42, "operation": "insert",
    ///                "ts": 1795600800000, "author": "ann", "data": {"title": "Dune"}}
    /// }"#)?;
    /// assert_eq!(event.state_change()?.entity_id, "42");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        let envelope: Envelope = serde_json::from_str(json)?;
        Ok(Self {
            id: envelope.id,
            source: envelope.source,
            detail_type: envelope.detail_type,
            time: envelope.time,
            account: envelope.account,
            region: envelope.region,
            resources: envelope.resources,
            detail: envelope.detail.to_string(),
        })
    }

    /// The `detail` parsed as JSON, on each call.
    ///
    /// Rejects (a permanent failure) if the text is not JSON, which the host
    /// should never deliver.
    pub fn detail_json(&self) -> Result<Value, PluginError> {
        serde_json::from_str(&self.detail).map_err(|error| {
            PluginError::reject(format!(
                "event {}: detail is not valid JSON: {error}",
                self.id
            ))
        })
    }

    /// The `detail` parsed as an `Object State Change`: entity type and id,
    /// operation, ts, author and data.
    ///
    /// Rejects with a message naming the missing or invalid field when the
    /// detail does not have that shape; see [`StateChange::from_detail`].
    pub fn state_change(&self) -> Result<StateChange, PluginError> {
        StateChange::from_detail(&self.detail_json()?)
            .map_err(|error| PluginError::reject(format!("event {}: {error}", self.id)))
    }

    /// The event as the WIT record, for [`forward::send`](crate::forward::send).
    pub(crate) fn to_wit(&self) -> types::Event {
        types::Event {
            id: self.id.clone(),
            source: self.source.clone(),
            detail_type: self.detail_type.clone(),
            time: self.time.clone(),
            account: self.account.clone(),
            region: self.region.clone(),
            resources: self.resources.clone(),
            detail: self.detail.clone(),
        }
    }
}

impl From<types::Event> for Event {
    fn from(event: types::Event) -> Self {
        Self {
            id: event.id,
            source: event.source,
            detail_type: event.detail_type,
            time: event.time,
            account: event.account,
            region: event.region,
            resources: event.resources,
            detail: event.detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::BOOK_UPDATE as UPDATE;

    #[test]
    fn reads_the_eventbridge_envelope() {
        let event = Event::from_json(UPDATE).expect("sample event parses");
        assert_eq!(event.id, "0d1f0c43-7c5e-4a0b-9a3f-2f4f1b6c8e21");
        assert_eq!(event.detail_type, "Object State Change");
        assert_eq!(event.region, "eu-west-1");
        assert_eq!(event.resources.len(), 1);
        let detail = event.detail_json().expect("detail is JSON");
        assert_eq!(detail["data"]["shelf"], "B-14");
    }

    #[test]
    fn envelope_without_detail_is_an_error() {
        let json = r#"{"id":"1","source":"s","detail-type":"t","time":"2026-11-25T10:00:00Z"}"#;
        let error = Event::from_json(json).expect_err("detail is required");
        assert!(error.to_string().contains("detail"), "{error}");
    }

    #[test]
    fn invalid_detail_text_is_rejected() {
        let mut event = Event::from_json(UPDATE).expect("sample event parses");
        event.detail = "{not json".into();
        let error = event.detail_json().expect_err("not JSON");
        assert!(!error.is_retry());
        assert!(error.message().contains("not valid JSON"), "{error}");
    }

    #[test]
    fn round_trips_through_the_wit_record() {
        let event = Event::from_json(UPDATE).expect("sample event parses");
        assert_eq!(Event::from(event.to_wit()), event);
    }
}
