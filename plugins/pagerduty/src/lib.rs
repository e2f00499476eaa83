//! The standard `pagerduty` plugin: an Events API v2 `trigger` per event
//! (`POST /v2/enqueue`; PagerDuty answers `202`).
//!
//! The dedup key comes from the event (its id by default), so a retried
//! delivery updates the same alert instead of paging twice. The routing
//! (integration) key is a credential: a `body-field` connection puts it into
//! the body as `routing_key`, and the plugin never sees it.
//!
//! Grants: `http: [<destination>]`.
//!
//! ```yaml
//! config:
//!   destination: pagerduty     # default: pagerduty
//!   summary: "{entity-type} {entity-id}: {operation} by {author}"
//!   severity: warning          # critical, error, warning or info
//!   dedup-key: "{id}"          # a template; the event id by default
//! ```

use serde::Deserialize;
use trailmark_sdk::serde_json::{Value, json};
use trailmark_sdk::{Event, HttpRequest, PluginError, Template, export_plugin};

/// The Events API v2 path.
pub const ENQUEUE: &str = "/v2/enqueue";
/// The longest summary PagerDuty takes.
const MAX_SUMMARY: usize = 1024;

/// The rule's config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct Config {
    /// The Events API destination.
    destination: String,
    /// The alert's summary.
    summary: Template,
    /// `critical`, `error`, `warning` or `info`.
    severity: Severity,
    /// What makes two events the same alert.
    dedup_key: Template,
}

/// PagerDuty's severities.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Severity {
    Critical,
    Error,
    Warning,
    Info,
}

impl Severity {
    fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            destination: "pagerduty".to_owned(),
            summary: Template::parse("{entity-type} {entity-id}: {operation} by {author}")
                .expect("the default summary is a valid template"),
            severity: Severity::Warning,
            dedup_key: Template::parse("{id}").expect("the default dedup key is a valid template"),
        }
    }
}

/// The Events API v2 body for `event`, without its routing key.
fn trigger(config: &Config, event: &Event<'_>) -> Result<Value, PluginError> {
    let mut summary = config.summary.render(event)?;
    if summary.len() > MAX_SUMMARY {
        let mut end = MAX_SUMMARY;
        while !summary.is_char_boundary(end) {
            end -= 1;
        }
        summary.truncate(end);
    }
    let component = event
        .state_change()
        .map(|c| c.entity_type.to_owned())
        .unwrap_or_else(|_| event.detail_type().to_owned());
    Ok(json!({
        "event_action": "trigger",
        "dedup_key": config.dedup_key.render(event)?,
        "payload": {
            "summary": summary,
            "source": event.source(),
            "severity": config.severity.as_str(),
            "timestamp": event.time(),
            "component": component,
            "custom_details": event.detail_json()?,
        },
    }))
}

fn handle(config: &Config, event: &Event<'_>) -> Result<(), PluginError> {
    let body = trigger(config, event)?.to_string();
    event
        .http(&HttpRequest::post_json(&config.destination, ENQUEUE, body))
        .map(|_| ())
}

export_plugin!(fn handle(Config) as pub PagerDutyPlugin);

#[cfg(test)]
mod tests {
    use trailmark_sdk::serde_json;
    use trailmark_sdk::testing::{Answer, Batch, Host, journaled_change};

    use super::*;

    #[test]
    fn triggers_with_the_event_id_as_dedup_key() {
        let detail = json!({"entity-type": "book", "entity-id": "7", "operation": "delete",
                            "ts": 1, "author": "carol"});
        let mut host = Host::new();
        let answers = host.run::<PagerDutyPlugin>(
            r#"{"severity": "critical"}"#,
            &Batch::of([journaled_change("e-1", &detail)]),
        );
        assert_eq!(answers, [Answer::Ok]);
        let sent = host.http_requests();
        assert_eq!(sent[0].path, ENQUEUE);
        let body: Value = serde_json::from_slice(&sent[0].body).expect("JSON");
        assert_eq!(body["event_action"], "trigger");
        assert_eq!(body["dedup_key"], "e-1");
        assert_eq!(body["payload"]["severity"], "critical");
        assert_eq!(body["payload"]["summary"], "book 7: delete by carol");
        assert_eq!(body["payload"]["custom_details"]["author"], "carol");
        assert!(body.get("routing_key").is_none(), "the connection adds it");
    }
}
