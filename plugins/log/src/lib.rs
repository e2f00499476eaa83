//! The standard `log` plugin: writes one line per event to the host's log.
//!
//! Works for any event. The line is `key=value` pairs (logfmt; values with
//! spaces, quotes or `=` are quoted): the event id, source and detail-type,
//! and for a valid `Object State Change` also entity (`type/id`), operation
//! and author:
//!
//! ```text
//! id=0d1f… source=com.example.library detail-type="Object State Change" entity=book/978-0-13-468599-1 operation=update author=bob@example.com
//! ```
//!
//! An `Object State Change` whose detail is malformed is still logged, with
//! `invalid="<reason>"` instead of the entity fields. The host tags each
//! line with the rule and plugin.
//!
//! Grants: none (the log is always available).
//!
//! Config (optional):
//!
//! ```yaml
//! config:
//!   level: info   # trace, debug, info, warn or error
//! ```

use serde::Deserialize;
use trailmark_sdk::log::{self, Level};
use trailmark_sdk::{Event, PluginError, export_plugin};

/// The rule's config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The level to log at.
    level: Level,
}

impl Default for Config {
    fn default() -> Self {
        Self { level: Level::Info }
    }
}

/// Handle one delivery under the rule's `config`.
fn handle(config: &Config, event: &Event<'_>) -> Result<(), PluginError> {
    log::write(config.level, &line(event));
    Ok(())
}

export_plugin!(fn handle(Config) as pub Log);

/// The log line for `event`, from the fields the host parsed.
fn line(event: &Event<'_>) -> String {
    let mut line = String::new();
    field(&mut line, "id", event.id());
    field(&mut line, "source", event.source());
    field(&mut line, "detail-type", event.detail_type());
    match event.state_change() {
        Ok(change) => {
            field(
                &mut line,
                "entity",
                &format!("{}/{}", change.entity_type, change.entity_id),
            );
            field(&mut line, "operation", change.operation.as_str());
            field(&mut line, "author", change.author);
        }
        Err(error) if event.is_state_change() => field(&mut line, "invalid", error.message()),
        Err(_) => {}
    }
    line
}

/// Append ` key=value`, quoting the value when it would be ambiguous.
fn field(line: &mut String, key: &str, value: &str) {
    if !line.is_empty() {
        line.push(' ');
    }
    let plain = !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '='));
    line.push_str(key);
    line.push('=');
    if plain {
        line.push_str(value);
    } else {
        line.push_str(&format!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use trailmark_sdk::serde_json::{Value, json};
    use trailmark_sdk::testing::{Answer, Batch, Call, Host, journaled, journaled_change};

    use super::*;

    /// Run the plugin with `config` on one event; its answer and log call.
    fn run(config: &str, detail_type: &str, detail: &Value) -> (Answer, Vec<Call>) {
        let mut host = Host::new();
        let batch = Batch::of([journaled("e-1", detail_type, &detail.to_string())]);
        let answers = host.run::<Log>(config, &batch);
        (answers[0].clone(), host.take_calls())
    }

    /// The line logged at info for one event.
    fn logged(detail_type: &str, detail: Value) -> String {
        match run("", detail_type, &detail) {
            (Answer::Ok, calls) => match calls.as_slice() {
                [
                    Call::Log {
                        level: Level::Info,
                        message,
                    },
                ] => message.clone(),
                other => panic!("one info line, got {other:?}"),
            },
            (answer, _) => panic!("logging never fails, got {answer:?}"),
        }
    }

    #[test]
    fn state_changes_log_entity_operation_and_author() {
        let detail = json!({"entity-type": "book", "entity-id": 7, "operation": "update",
                            "ts": 0, "author": "Bob Smith", "data": {}});
        assert_eq!(
            logged("Object State Change", detail),
            r#"id=e-1 source=com.example.library detail-type="Object State Change" entity=book/7 operation=update author="Bob Smith""#
        );
    }

    #[test]
    fn any_event_is_logged() {
        assert_eq!(
            logged("Heartbeat", json!({"ok": true})),
            "id=e-1 source=com.example.library detail-type=Heartbeat"
        );
    }

    #[test]
    fn malformed_state_changes_say_why() {
        let logged = logged("Object State Change", json!({"entity-type": "book"}));
        assert!(
            logged.contains(r#"invalid="event e-1: detail field `operation` is missing"#),
            "{logged}"
        );
    }

    #[test]
    fn quotes_ambiguous_values() {
        let mut line = String::new();
        field(&mut line, "a", "x=y");
        field(&mut line, "b", "");
        field(&mut line, "c", "say \"hi\"\n");
        assert_eq!(line, r#"a="x=y" b="" c="say \"hi\"\n""#);
    }

    #[test]
    fn level_comes_from_config_and_is_checked() {
        let (answer, calls) = run(r#"{"level": "warn"}"#, "Heartbeat", &json!({}));
        assert_eq!(answer, Answer::Ok);
        assert!(
            matches!(
                calls.as_slice(),
                [Call::Log {
                    level: Level::Warn,
                    ..
                }]
            ),
            "{calls:?}"
        );
        let (answer, calls) = run(r#"{"level": "loud"}"#, "Heartbeat", &json!({}));
        assert!(calls.is_empty());
        assert!(
            matches!(&answer, Answer::Reject(m) if m.contains("unknown log level \"loud\"")),
            "{answer:?}"
        );
    }

    #[test]
    fn parses_no_json() {
        // The detail text is broken: a plugin that parsed it would log
        // `invalid`, one that reads the host's fields does not notice.
        let detail = json!({"entity-type": "book", "entity-id": 7, "operation": "update",
                            "ts": 0, "author": "ann", "data": {}});
        let mut batch = Batch::of([journaled_change("e-1", &detail)]);
        batch.break_detail(0);
        let mut host = Host::new();
        assert_eq!(host.run::<Log>("", &batch), [Answer::Ok]);
        assert!(
            matches!(&host.calls()[0], Call::Log { message, .. } if message.ends_with("entity=book/7 operation=update author=ann")),
            "{:?}",
            host.calls()
        );
    }
}
