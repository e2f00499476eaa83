//! The standard `webhook` plugin: sends events to an HTTP destination.
//!
//! By default it POSTs each event as JSON in the Amazon EventBridge envelope
//! (`version`, `id`, `detail-type`, `source`, `account`, `time`, `region`,
//! `resources`, `detail`, the detail exactly as journaled). With `body`, it
//! sends that JSON shape instead, each string in it a template of the event
//! (`{entity-type}`, `{detail.data.title}`, …), so the values are always
//! escaped into valid JSON. With `batch: true` a batch of deliveries goes in
//! one request, as a JSON array.
//!
//! Credentials and signatures are the destination's connection's (an
//! `hmac-signature` connection signs the body as GitHub or Stripe webhooks
//! are signed): the plugin never sees a secret.
//!
//! Grants: `http: [<destination>]`.
//!
//! ```yaml
//! config:
//!   destination: hooks          # required; defined in rules/destinations/
//!   path: /                     # under the destination's URL (default /)
//!   method: POST                # POST (default), PUT or PATCH
//!   batch: false                # true: one request per batch, a JSON array
//!   body:                       # optional: the JSON to send, strings templated
//!     text: "{entity-type} {entity-id}: {operation} by {author}"
//! ```

use serde::Deserialize;
use trailmark_sdk::{
    Event, HttpRequest, JsonTemplate, Plugin, PluginError, export_plugin, send_together,
};

/// The rule's config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// The destination to send to.
    destination: String,
    /// The path under it.
    #[serde(default = "root")]
    path: String,
    /// The method.
    #[serde(default = "post")]
    method: String,
    /// One request per batch.
    #[serde(default)]
    batch: bool,
    /// The JSON to send, its strings templates; `None`: the event.
    #[serde(default)]
    body: Option<JsonTemplate>,
}

fn root() -> String {
    "/".to_owned()
}

fn post() -> String {
    "POST".to_owned()
}

/// The plugin: its config.
pub struct Webhook {
    config: Config,
}

impl Webhook {
    /// The JSON text sent for `event`.
    fn body(&self, event: &Event<'_>) -> Result<String, PluginError> {
        match &self.config.body {
            Some(shape) => Ok(shape.render(event)?.to_string()),
            None => Ok(event.envelope_json()),
        }
    }

    fn send(&self, event: &Event<'_>, body: String) -> Result<(), PluginError> {
        let request = HttpRequest::new(
            &self.config.method,
            &self.config.destination,
            &self.config.path,
        )
        .header("content-type", "application/json")
        .body(body);
        event.http(&request).map(|_| ())
    }
}

impl Plugin for Webhook {
    type Config = Config;

    fn new(config: Config) -> Result<Self, PluginError> {
        if !["POST", "PUT", "PATCH"].contains(&config.method.to_ascii_uppercase().as_str()) {
            return Err(PluginError::reject(format!(
                "method {:?}: a webhook sends a body with POST, PUT or PATCH",
                config.method
            )));
        }
        Ok(Webhook { config })
    }

    const BATCHED: bool = true;

    fn handle(&self, event: &Event<'_>) -> Result<(), PluginError> {
        self.send(event, self.body(event)?)
    }

    fn handle_batch(&self, events: &[Event<'_>]) -> Vec<Result<(), PluginError>> {
        if !self.config.batch {
            return events.iter().map(|e| self.handle(e)).collect();
        }
        send_together(
            events,
            |event| self.body(event),
            |first, bodies| {
                let sent = self.send(first, format!("[{}]", bodies.join(",")));
                vec![sent; bodies.len()]
            },
        )
    }
}

export_plugin!(Webhook);

#[cfg(test)]
mod tests {
    use trailmark_sdk::serde_json::{self, Value, json};
    use trailmark_sdk::testing::{Answer, Batch, Host, journaled_change};
    use trailmark_sdk::{HostError, HttpResponse};

    use super::*;

    fn delete(id: &str) -> trailmark_sdk::trailmark_event::Event {
        let detail = json!({"entity-type": "book", "entity-id": "7", "operation": "delete",
                            "ts": "2026-11-25T11:59:58Z", "author": "carol \"c\" o'brien"});
        journaled_change(id, &detail)
    }

    #[test]
    fn posts_each_event_as_its_envelope() {
        let mut host = Host::new();
        let answers = host.run::<Webhook>(
            r#"{"destination": "hooks", "path": "/in"}"#,
            &Batch::of([delete("e-1"), delete("e-2")]),
        );
        assert_eq!(answers, [Answer::Ok, Answer::Ok]);
        let sent = host.http_requests();
        assert_eq!(sent.len(), 2);
        assert_eq!(
            (
                sent[0].method.as_str(),
                sent[0].destination.as_str(),
                sent[0].path.as_str()
            ),
            ("POST", "hooks", "/in")
        );
        let body: Value = serde_json::from_slice(&sent[1].body).expect("JSON");
        assert_eq!(body["id"], "e-2");
        assert_eq!(body["detail"]["author"], "carol \"c\" o'brien");
    }

    #[test]
    fn a_templated_body_stays_valid_json_and_a_batch_is_one_array() {
        let mut host = Host::new();
        let config = r#"{"destination": "hooks", "batch": true,
                         "body": {"text": "{entity-type} {entity-id} deleted by {author}", "n": 1}}"#;
        let answers = host.run::<Webhook>(config, &Batch::of([delete("e-1"), delete("e-2")]));
        assert_eq!(answers, [Answer::Ok, Answer::Ok]);
        let sent = host.http_requests();
        assert_eq!(sent.len(), 1);
        let body: Value = serde_json::from_slice(&sent[0].body).expect("JSON");
        assert_eq!(body[1]["text"], "book 7 deleted by carol \"c\" o'brien");
        assert_eq!(body[0]["n"], 1);
    }

    #[test]
    fn a_failed_batch_fails_each_of_its_deliveries() {
        let mut host = Host::new();
        host.http_answers([Err(HostError::Transient("429".into()))]);
        let answers = host.run::<Webhook>(
            r#"{"destination": "hooks", "batch": true}"#,
            &Batch::of([delete("e-1"), delete("e-2")]),
        );
        assert!(
            answers
                .iter()
                .all(|a| matches!(a, Answer::Retry(m) if m.contains("429"))),
            "{answers:?}"
        );
        let mut host = Host::new();
        host.http_answers([Ok(HttpResponse {
            status: 202,
            headers: vec![],
            body: vec![],
        })]);
        let answers =
            host.run::<Webhook>(r#"{"destination": "hooks"}"#, &Batch::of([delete("e-1")]));
        assert_eq!(answers, [Answer::Ok]);
    }
}
