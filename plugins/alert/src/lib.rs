//! The standard `alert` plugin: publishes a notification per state change.
//!
//! For every `Object State Change` it publishes to one channel a subject and
//! a message rendered from templates, with the attributes `operation`,
//! `entity-type`, `source` and `author` (channels may filter on them).
//! Events that are not a valid `Object State Change` are rejected
//! (dead-lettered) with the reason, as are templates that name a detail field
//! the event lacks.
//!
//! Grants: `notify: [<channel>]`.
//!
//! Config (all optional):
//!
//! ```yaml
//! config:
//!   channel: admins                      # a channel defined in trailmark.toml
//!   subject: "{entity-type} {entity-id}: {operation} by {author}"
//!   message: |-                          # the default:
//!     {entity-type} {entity-id}: {operation} by {author}.
//!
//!     Changed:  {detail.ts}
//!     Received: {time}
//!     Source:   {source}
//!     Event:    {id}
//! ```
//!
//! Templates take the placeholders of the SDK's `Template`: `{id}`,
//! `{source}`, `{detail-type}`, `{time}`, `{entity-type}`, `{entity-id}`,
//! `{operation}`, `{ts}`, `{author}` and `{detail.<path>}`.

use serde::Deserialize;
use trailmark_sdk::{Event, Plugin, PluginError, Template, export_plugin, notify};

// The operation is shown as it is ("insert", "update", "delete"): gluing a
// suffix to it reads "insertd".
const DEFAULT_SUBJECT: &str = "{entity-type} {entity-id}: {operation} by {author}";
// "Changed" is when the change happened (the producer's `ts`), "Received"
// when the host accepted the event.
const DEFAULT_MESSAGE: &str = "{entity-type} {entity-id}: {operation} by {author}.\n\
                               \n\
                               Changed:  {detail.ts}\n\
                               Received: {time}\n\
                               Source:   {source}\n\
                               Event:    {id}";

/// The rule's config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Config {
    /// The channel to publish to.
    channel: String,
    /// The subject template.
    subject: Template,
    /// The message template.
    message: Template,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            channel: "admins".to_owned(),
            subject: Template::parse(DEFAULT_SUBJECT)
                .expect("the default subject template is valid"),
            message: Template::parse(DEFAULT_MESSAGE)
                .expect("the default message template is valid"),
        }
    }
}

/// One notification, ready to publish.
#[derive(Debug, PartialEq)]
struct Alert {
    subject: String,
    message: String,
    attributes: Vec<(String, String)>,
}

struct AlertPlugin;

impl Plugin for AlertPlugin {
    type Config = Config;

    fn handle(event: Event, config: Config) -> Result<(), PluginError> {
        let alert = alert(&event, &config)?;
        notify::publish(
            &config.channel,
            &alert.subject,
            &alert.message,
            &alert.attributes,
        )
    }
}

export_plugin!(AlertPlugin);

/// The notification for `event`.
fn alert(event: &Event, config: &Config) -> Result<Alert, PluginError> {
    let change = event.state_change()?;
    Ok(Alert {
        subject: config.subject.render(event)?,
        message: config.message.render(event)?,
        attributes: vec![
            ("operation".to_owned(), change.operation.as_str().to_owned()),
            ("entity-type".to_owned(), change.entity_type),
            ("source".to_owned(), event.source.clone()),
            ("author".to_owned(), change.author),
        ],
    })
}

#[cfg(test)]
mod tests {
    use trailmark_sdk::Config as RuleConfig;
    use trailmark_sdk::serde_json::{Value, json};

    use super::*;

    fn event(detail: Value) -> Event {
        Event {
            id: "e-9".into(),
            source: "com.example.library".into(),
            detail_type: "Object State Change".into(),
            time: "2026-11-25T12:00:00Z".into(),
            account: String::new(),
            region: String::new(),
            resources: Vec::new(),
            detail: detail.to_string(),
        }
    }

    fn delete() -> Value {
        json!({"entity-type": "book", "entity-id": "978-0-13-468599-1", "operation": "delete",
               "ts": "2026-11-25T11:59:58Z", "author": "carol@example.com"})
    }

    fn config(json: &str) -> Config {
        RuleConfig::new(json).parse().expect("valid config")
    }

    #[test]
    fn default_subject_message_and_attributes() {
        let config = config("");
        assert_eq!(config.channel, "admins");
        let alert = alert(&event(delete()), &config).expect("valid event");
        assert_eq!(
            alert.subject,
            "book 978-0-13-468599-1: delete by carol@example.com"
        );
        assert_eq!(
            alert.message,
            "book 978-0-13-468599-1: delete by carol@example.com.\n\n\
             Changed:  2026-11-25T11:59:58Z\nReceived: 2026-11-25T12:00:00Z\n\
             Source:   com.example.library\nEvent:    e-9"
        );
        let attributes: Vec<(&str, &str)> = alert
            .attributes
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            attributes,
            [
                ("operation", "delete"),
                ("entity-type", "book"),
                ("source", "com.example.library"),
                ("author", "carol@example.com")
            ]
        );
        let insert = json!({"entity-type": "book", "entity-id": "1", "operation": "insert",
                            "ts": 1795602600000_i64, "author": "a", "data": {}});
        let inserted = super::alert(&event(insert), &config).expect("valid event");
        assert_eq!(inserted.subject, "book 1: insert by a");
    }

    #[test]
    fn templates_and_channel_come_from_config() {
        let config = config(
            r#"{"channel": "ops", "subject": "[{source}] {operation}", "message": "{detail.entity-id}"}"#,
        );
        assert_eq!(config.channel, "ops");
        let alert = alert(&event(delete()), &config).expect("valid event");
        assert_eq!(alert.subject, "[com.example.library] delete");
        assert_eq!(alert.message, "978-0-13-468599-1");
    }

    #[test]
    fn missing_template_fields_and_malformed_events_are_rejected() {
        let config = config(r#"{"message": "{detail.data.title}"}"#);
        let error = alert(&event(delete()), &config).expect_err("delete has no data");
        assert!(
            error.message().contains("no detail field data.title"),
            "{error}"
        );
        let error = alert(&event(json!({"entity-type": "book"})), &self::config(""))
            .expect_err("not a change");
        assert!(!error.is_retry());
        assert!(
            RuleConfig::new(r#"{"subject": "{who}"}"#)
                .parse::<Config>()
                .is_err()
        );
    }
}
