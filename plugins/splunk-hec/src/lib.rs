//! The standard `splunk-hec` plugin: events into Splunk's HTTP Event
//! Collector, a batch of deliveries in one request
//! (`POST /services/collector/event`, the events one JSON object after the
//! other; Splunk answers `200 {"text":"Success","code":0}`).
//!
//! The HEC token is an `api-key` connection's (`header: Authorization`,
//! `prefix: "Splunk "`): the plugin never sees it. Each HEC event is the
//! Trailmark event in the EventBridge envelope, with `time` (epoch seconds
//! of the change for an `Object State Change`), `source`, `sourcetype` and
//! optionally `index` and `host`.
//!
//! Grants: `http: [<destination>]`.
//!
//! ```yaml
//! config:
//!   destination: splunk        # default: splunk
//!   index: audit               # optional; the token's default index otherwise
//!   sourcetype: "trailmark:event"
//! ```

use serde::Deserialize;
use trailmark_sdk::serde_json::{Map, Value};
use trailmark_sdk::{
    Event, HttpRequest, Plugin, PluginError, export_plugin, handle_one_as_batch, send_together,
};

/// The HEC endpoint for JSON events.
pub const COLLECTOR: &str = "/services/collector/event";

/// The rule's config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    destination: String,
    index: Option<String>,
    sourcetype: String,
    host: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            destination: "splunk".to_owned(),
            index: None,
            sourcetype: "trailmark:event".to_owned(),
            host: None,
        }
    }
}

/// The plugin.
pub struct SplunkHec(Config);

impl SplunkHec {
    /// One HEC event for `event`.
    fn hec_event(&self, event: &Event<'_>) -> Result<String, PluginError> {
        let config = &self.0;
        let mut object = Map::new();
        if let Ok(change) = event.state_change() {
            object.insert("time".to_owned(), Value::from(change.ts as f64 / 1000.0));
        }
        object.insert("source".to_owned(), Value::from(event.source()));
        object.insert(
            "sourcetype".to_owned(),
            Value::from(config.sourcetype.as_str()),
        );
        if let Some(index) = &config.index {
            object.insert("index".to_owned(), Value::from(index.as_str()));
        }
        if let Some(host) = &config.host {
            object.insert("host".to_owned(), Value::from(host.as_str()));
        }
        let envelope: Value = trailmark_sdk::serde_json::from_str(&event.envelope_json())
            .map_err(|e| PluginError::reject(format!("event {}: {e}", event.id())))?;
        object.insert("event".to_owned(), envelope);
        Ok(Value::Object(object).to_string())
    }
}

impl Plugin for SplunkHec {
    type Config = Config;
    const BATCHED: bool = true;

    fn new(config: Config) -> Result<Self, PluginError> {
        Ok(SplunkHec(config))
    }

    fn handle(&self, event: &Event<'_>) -> Result<(), PluginError> {
        handle_one_as_batch(self, event)
    }

    fn handle_batch(&self, events: &[Event<'_>]) -> Vec<Result<(), PluginError>> {
        send_together(
            events,
            |event| self.hec_event(event),
            |first, lines| {
                let request =
                    HttpRequest::post_json(&self.0.destination, COLLECTOR, lines.join("\n"));
                vec![first.http(&request).map(|_| ()); lines.len()]
            },
        )
    }
}

export_plugin!(SplunkHec);

#[cfg(test)]
mod tests {
    use trailmark_sdk::serde_json::{self, json};
    use trailmark_sdk::testing::{Answer, Batch, Host, journaled, journaled_change};

    use super::*;

    #[test]
    fn a_batch_is_one_request_of_concatenated_hec_events() {
        let detail = json!({"entity-type": "book", "entity-id": "7", "operation": "delete",
                            "ts": 1795602600000_i64, "author": "carol"});
        let mut host = Host::new();
        let answers = host.run::<SplunkHec>(
            r#"{"index": "audit"}"#,
            &Batch::of([
                journaled_change("e-1", &detail),
                journaled("e-2", "Login", r#"{"user":"x"}"#),
            ]),
        );
        assert_eq!(answers, [Answer::Ok, Answer::Ok]);
        let sent = host.http_requests();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].path, COLLECTOR);
        let text = String::from_utf8(sent[0].body.clone()).expect("utf-8");
        let events: Vec<Value> = serde_json::Deserializer::from_str(&text)
            .into_iter()
            .collect::<Result<_, _>>()
            .expect("concatenated JSON objects");
        assert_eq!(events.len(), 2);
        assert_eq!(events[0]["time"], 1795602600.0);
        assert_eq!(events[0]["index"], "audit");
        assert_eq!(events[0]["event"]["id"], "e-1");
        assert_eq!(events[1]["event"]["detail"]["user"], "x");
        assert!(events[1].get("time").is_none());
    }
}
