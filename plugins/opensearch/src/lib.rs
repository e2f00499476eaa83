//! The standard `opensearch` plugin: change records into OpenSearch (or
//! Elasticsearch) with the `_bulk` API, a batch of deliveries per request,
//! into one index per day (`trailmark-2026.11.25`), each document's `_id`
//! the event id, so a retried delivery rewrites the same document instead
//! of adding one.
//!
//! OpenSearch answers `_bulk` with `200` and a status per item: each
//! delivery is answered by its own item (2xx delivered; 429 and 5xx retried;
//! others rejected with the item's error), so one bad document does not fail
//! the batch. Credentials are the destination's connection's (basic or an
//! API key).
//!
//! Grants: `http: [<destination>]`.
//!
//! ```yaml
//! config:
//!   destination: opensearch    # default: opensearch
//!   index-prefix: trailmark-   # default: trailmark-; the day is appended
//! ```

use serde::Deserialize;
use trailmark_sdk::serde_json::{self, Value, json};
use trailmark_sdk::{
    Event, HttpRequest, Plugin, PluginError, export_plugin, handle_one_as_batch, send_together,
};

/// The bulk endpoint.
pub const BULK: &str = "/_bulk";

/// The rule's config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct Config {
    destination: String,
    index_prefix: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            destination: "opensearch".to_owned(),
            index_prefix: "trailmark-".to_owned(),
        }
    }
}

/// The plugin.
pub struct OpenSearch(Config);

impl OpenSearch {
    /// The action and document lines of `event`.
    fn lines(&self, event: &Event<'_>) -> Result<String, PluginError> {
        let day = event
            .time()
            .get(..10)
            .filter(|d| d.bytes().all(|b| b.is_ascii_digit() || b == b'-'))
            .ok_or_else(|| {
                PluginError::reject(format!(
                    "event {}: time {:?} is not RFC 3339",
                    event.id(),
                    event.time()
                ))
            })?
            .replace('-', ".");
        let action = json!({"index": {"_index": format!("{}{day}", self.0.index_prefix), "_id": event.id()}});
        let document = match event.state_change() {
            Ok(change) => {
                let data: Value = match event.data() {
                    Some(raw) => serde_json::from_str(raw).map_err(|e| {
                        PluginError::reject(format!("event {}: data: {e}", event.id()))
                    })?,
                    None => Value::Null,
                };
                json!({
                    "event-id": event.id(),
                    "source": event.source(),
                    "time": event.time(),
                    "entity-type": change.entity_type,
                    "entity-id": change.entity_id,
                    "operation": change.operation.as_str(),
                    "ts": change.ts,
                    "author": change.author,
                    "data": data,
                })
            }
            Err(_) => serde_json::from_str(&event.envelope_json())
                .map_err(|e| PluginError::reject(format!("event {}: {e}", event.id())))?,
        };
        Ok(format!("{action}\n{document}\n"))
    }
}

/// Each item's outcome in a `_bulk` answer, in order.
fn item_results(body: &[u8], count: usize) -> Vec<Result<(), PluginError>> {
    let Ok(answer) = serde_json::from_slice::<Value>(body) else {
        return vec![Err(PluginError::retry("the _bulk answer is not JSON")); count];
    };
    let items = answer["items"].as_array().cloned().unwrap_or_default();
    (0..count)
        .map(|i| {
            let item = items
                .get(i)
                .and_then(|v| v.as_object())
                .and_then(|o| o.values().next());
            let Some(item) = item else {
                return Err(PluginError::retry(
                    "the _bulk answer has no item for this event",
                ));
            };
            let status = item["status"].as_u64().unwrap_or(0);
            let reason = || format!("_bulk item status {status}: {}", item["error"]);
            match status {
                200..=299 => Ok(()),
                429 | 500..=599 => Err(PluginError::retry(reason())),
                _ => Err(PluginError::reject(reason())),
            }
        })
        .collect()
}

impl Plugin for OpenSearch {
    type Config = Config;
    const BATCHED: bool = true;

    fn new(config: Config) -> Result<Self, PluginError> {
        Ok(OpenSearch(config))
    }

    fn handle(&self, event: &Event<'_>) -> Result<(), PluginError> {
        handle_one_as_batch(self, event)
    }

    fn handle_batch(&self, events: &[Event<'_>]) -> Vec<Result<(), PluginError>> {
        send_together(
            events,
            |event| self.lines(event),
            |first, lines| {
                let request = HttpRequest::new("POST", &self.0.destination, BULK)
                    .header("content-type", "application/x-ndjson")
                    .body(lines.concat());
                match first.http(&request) {
                    Ok(response) => item_results(&response.body, lines.len()),
                    Err(error) => vec![Err(error); lines.len()],
                }
            },
        )
    }
}

export_plugin!(OpenSearch);

#[cfg(test)]
mod tests {
    use trailmark_sdk::HttpResponse;
    use trailmark_sdk::testing::{Answer, Batch, Host, journaled_change};

    use super::*;

    #[test]
    fn bulk_indexes_per_day_by_event_id_and_answers_each_item() {
        let detail = json!({"entity-type": "book", "entity-id": "7", "operation": "update",
                            "ts": 1, "author": "carol", "data": {"title": "Dune"}});
        let mut host = Host::new();
        let answer = json!({"took": 3, "errors": true, "items": [
            {"index": {"_id": "e-1", "status": 201}},
            {"index": {"_id": "e-2", "status": 400, "error": {"type": "mapper_parsing_exception"}}},
            {"index": {"_id": "e-3", "status": 429}},
        ]});
        host.http_answers([Ok(HttpResponse {
            status: 200,
            headers: vec![],
            body: answer.to_string().into_bytes(),
        })]);
        let events = ["e-1", "e-2", "e-3"].map(|id| trailmark_sdk::trailmark_event::Event {
            time: "2026-11-25T12:00:00Z".into(),
            ..journaled_change(id, &detail)
        });
        let answers = host.run::<OpenSearch>("", &Batch::of(events));
        assert_eq!(answers[0], Answer::Ok);
        assert!(
            matches!(&answers[1], Answer::Reject(m) if m.contains("mapper_parsing_exception")),
            "{answers:?}"
        );
        assert!(
            matches!(&answers[2], Answer::Retry(m) if m.contains("429")),
            "{answers:?}"
        );
        let sent = host.http_requests();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].path, BULK);
        let text = String::from_utf8(sent[0].body.clone()).expect("utf-8");
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect();
        assert_eq!(lines.len(), 6);
        assert_eq!(lines[0]["index"]["_index"], "trailmark-2026.11.25");
        assert_eq!(lines[0]["index"]["_id"], "e-1");
        assert_eq!(lines[1]["data"]["title"], "Dune");
        assert_eq!(lines[1]["operation"], "update");
        assert!(text.ends_with('\n'), "a _bulk body ends with a newline");
    }
}
