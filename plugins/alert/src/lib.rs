//! The standard `alert` plugin: publishes a notification per state change.
//!
//! For every `Object State Change` it publishes to one channel a subject and
//! a message rendered from templates, with the attributes `operation`,
//! `entity-type`, `source` and `author` (channels may filter on them).
//! A correlation rule's fire (`Correlation Match`, written by the host) is
//! published too, from its own templates, with the attributes `source`,
//! `detail-type` and `rule`. Other events that are not a valid
//! `Object State Change` are rejected (dead-lettered) with the reason, as
//! are templates that name a detail field the event lacks.
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
//!   fire-subject: "{detail.rule} fired for {detail.group}"
//!   fire-message: |-                     # the default:
//!     Correlation rule {detail.rule} fired: {detail.count} matching events
//!     for {detail.group}, from {detail.first} to {detail.last}.
//!
//!     Events: {detail.events}
//!     Fire:   {id}
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
// A fire's detail: rule, group (an object of the group-by values), count,
// first and last event time, the contributing event ids.
const DEFAULT_FIRE_SUBJECT: &str = "{detail.rule} fired for {detail.group}";
const DEFAULT_FIRE_MESSAGE: &str = "Correlation rule {detail.rule} fired: {detail.count} matching events\n\
                                    for {detail.group}, from {detail.first} to {detail.last}.\n\
                                    \n\
                                    Events: {detail.events}\n\
                                    Fire:   {id}";

/// The rule's config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct Config {
    /// The channel to publish to.
    channel: String,
    /// The subject template.
    subject: Template,
    /// The message template.
    message: Template,
    /// The subject template of a correlation fire.
    fire_subject: Template,
    /// The message template of a correlation fire.
    fire_message: Template,
    /// A fire's rule name, for its `rule` attribute (not configurable).
    #[serde(skip)]
    fire_rule: Template,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            channel: "admins".to_owned(),
            subject: Template::parse(DEFAULT_SUBJECT)
                .expect("the default subject template is valid"),
            message: Template::parse(DEFAULT_MESSAGE)
                .expect("the default message template is valid"),
            fire_subject: Template::parse(DEFAULT_FIRE_SUBJECT)
                .expect("the default fire subject template is valid"),
            fire_message: Template::parse(DEFAULT_FIRE_MESSAGE)
                .expect("the default fire message template is valid"),
            fire_rule: Template::parse("{detail.rule}").expect("a valid template"),
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
    if event.is_correlation_match() {
        return fire_alert(event, config);
    }
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

/// The notification for a correlation rule's fire.
fn fire_alert(event: &Event<'_>, config: &Config) -> Result<Alert, PluginError> {
    let rule = config.fire_rule.render(event)?;
    Ok(Alert {
        subject: config.fire_subject.render(event)?,
        message: config.fire_message.render(event)?,
        attributes: vec![
            ("source".to_owned(), event.source().to_owned()),
            ("detail-type".to_owned(), event.detail_type().to_owned()),
            ("rule".to_owned(), rule),
        ],
    })
}

#[cfg(test)]
mod tests {
    use trailmark_sdk::serde_json::{Value, json};
    use trailmark_sdk::testing::{Answer, Batch, Call, Host, journaled, journaled_change};

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
            ..journaled_change("e-9", detail)
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
        let mut batch = Batch::of([journaled_change("e-9", &delete())]);
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

    #[test]
    fn a_correlation_fire_is_published_from_the_fire_templates() {
        let detail = json!({"rule": "mass-deletes", "fire-id": "f-1",
            "group": {"detail.author": "mallory"}, "count": 21,
            "first": "2026-11-25T11:55:00Z", "last": "2026-11-25T11:59:58Z",
            "ts": 1795607998000_i64, "events": ["e-1", "e-2"]});
        let fire = trailmark_sdk::trailmark_event::Event {
            source: "trailmark".into(),
            ..journaled("f-1", "Correlation Match", &detail.to_string())
        };
        let mut host = Host::new();
        assert_eq!(
            host.run::<AlertPlugin>("", &Batch::of([fire.clone()])),
            [Answer::Ok]
        );
        let Some(Call::Notify {
            channel,
            subject,
            message,
            attributes,
            ..
        }) = host.calls().first().cloned()
        else {
            panic!("one notification, got {:?}", host.calls());
        };
        assert_eq!(channel, "admins");
        assert_eq!(
            subject,
            r#"mass-deletes fired for {"detail.author":"mallory"}"#
        );
        assert_eq!(
            message,
            "Correlation rule mass-deletes fired: 21 matching events\n\
             for {\"detail.author\":\"mallory\"}, from 2026-11-25T11:55:00Z to 2026-11-25T11:59:58Z.\n\n\
             Events: [\"e-1\",\"e-2\"]\nFire:   f-1"
        );
        assert_eq!(
            attributes,
            [
                ("source".to_owned(), "trailmark".to_owned()),
                ("detail-type".to_owned(), "Correlation Match".to_owned()),
                ("rule".to_owned(), "mass-deletes".to_owned())
            ]
        );
        // A producer cannot pass its own event off as a fire.
        let forged = journaled("f-2", "Correlation Match", &detail.to_string());
        let answers = Host::new().run::<AlertPlugin>("", &Batch::of([forged]));
        assert!(matches!(&answers[0], Answer::Reject(_)), "{answers:?}");
        let config = r#"{"fire-subject": "{detail.count} x {detail.rule}"}"#;
        let mut host = Host::new();
        host.run::<AlertPlugin>(config, &Batch::of([fire]));
        assert!(
            matches!(&host.calls()[0], Call::Notify { subject, .. } if subject == "21 x mass-deletes"),
            "{:?}",
            host.calls()
        );
    }
}
