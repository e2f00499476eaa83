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
use trailmark_sdk::{Event, PluginError, Template, export_plugin};

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
pub struct Config {
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

/// Handle one delivery under the rule's `config`.
fn handle(config: &Config, event: &Event<'_>) -> Result<(), PluginError> {
    let alert = alert(event, config)?;
    event.notify(
        &config.channel,
        &alert.subject,
        &alert.message,
        &alert.attributes,
    )
}

export_plugin!(fn handle(Config) as pub AlertPlugin);

/// The notification for `event`.
fn alert(event: &Event<'_>, config: &Config) -> Result<Alert, PluginError> {
    let change = event.state_change()?;
    Ok(Alert {
        subject: config.subject.render(event)?,
        message: config.message.render(event)?,
        attributes: vec![
            ("operation".to_owned(), change.operation.as_str().to_owned()),
            ("entity-type".to_owned(), change.entity_type.to_owned()),
            ("source".to_owned(), event.source().to_owned()),
            ("author".to_owned(), change.author.to_owned()),
        ],
    })
}

#[cfg(test)]
mod tests {
    use trailmark_sdk::serde_json::{Value, json};
    use trailmark_sdk::testing::{Answer, Batch, Call, Host, journaled};

    use super::*;

    fn delete() -> Value {
        json!({"entity-type": "book", "entity-id": "978-0-13-468599-1", "operation": "delete",
               "ts": "2026-11-25T11:59:58Z", "author": "carol@example.com"})
    }

    /// Run the plugin with `config` on one event (id `e-9`, received at
    /// noon); its answer and the notification.
    fn run(config: &str, detail: &Value) -> (Answer, Option<Call>) {
        let mut host = Host::new();
        let event = trailmark_sdk::trailmark_event::Event {
            time: "2026-11-25T12:00:00Z".into(),
            ..journaled("e-9", "Object State Change", &detail.to_string())
        };
        let answers = host.run::<AlertPlugin>(config, &Batch::of([event]));
        (answers[0].clone(), host.calls().first().cloned())
    }

    #[test]
    fn default_channel_subject_message_and_attributes() {
        let (answer, call) = run("", &delete());
        assert_eq!(answer, Answer::Ok);
        let Some(Call::Notify {
            index: 0,
            channel,
            subject,
            message,
            attributes,
        }) = call
        else {
            panic!("one notification, got {call:?}");
        };
        assert_eq!(channel, "admins");
        assert_eq!(
            subject,
            "book 978-0-13-468599-1: delete by carol@example.com"
        );
        assert_eq!(
            message,
            "book 978-0-13-468599-1: delete by carol@example.com.\n\n\
             Changed:  2026-11-25T11:59:58Z\nReceived: 2026-11-25T12:00:00Z\n\
             Source:   com.example.library\nEvent:    e-9"
        );
        let attributes: Vec<(&str, &str)> = attributes
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
        let (_, call) = run("", &insert);
        assert!(
            matches!(&call, Some(Call::Notify { subject, .. }) if subject == "book 1: insert by a"),
            "{call:?}"
        );
    }

    #[test]
    fn templates_and_channel_come_from_config() {
        let config = r#"{"channel": "ops", "subject": "[{source}] {operation}", "message": "{detail.entity-id}"}"#;
        let (_, call) = run(config, &delete());
        let Some(Call::Notify {
            channel,
            subject,
            message,
            ..
        }) = call
        else {
            panic!("one notification, got {call:?}");
        };
        assert_eq!(channel, "ops");
        assert_eq!(subject, "[com.example.library] delete");
        assert_eq!(message, "978-0-13-468599-1");
    }

    #[test]
    fn missing_template_fields_and_malformed_events_are_rejected() {
        let (answer, call) = run(r#"{"message": "{detail.data.title}"}"#, &delete());
        assert!(call.is_none());
        assert!(
            matches!(&answer, Answer::Reject(m) if m.contains("no detail field data.title")),
            "{answer:?}"
        );
        let (answer, _) = run("", &json!({"entity-type": "book"}));
        assert!(matches!(answer, Answer::Reject(_)), "{answer:?}");
        let (answer, _) = run(r#"{"subject": "{who}"}"#, &delete());
        assert!(
            matches!(&answer, Answer::Reject(m) if m.contains("unknown placeholder {who}")),
            "{answer:?}"
        );
    }

    #[test]
    fn templates_of_fields_parse_no_json() {
        let mut batch = Batch::of([journaled(
            "e-9",
            "Object State Change",
            &delete().to_string(),
        )]);
        batch.break_detail(0);
        let mut host = Host::new();
        let config = r#"{"message": "{entity-type} {entity-id} {operation}d by {author} at {ts}"}"#;
        assert_eq!(host.run::<AlertPlugin>(config, &batch), [Answer::Ok]);
        assert!(
            matches!(&host.calls()[0], Call::Notify { message, .. }
                if message == "book 978-0-13-468599-1 deleted by carol@example.com at 1795607998000"),
            "{:?}",
            host.calls()
        );
    }
}
