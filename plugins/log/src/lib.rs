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
use trailmark_sdk::{Event, Plugin, PluginError, export_plugin};

/// The rule's config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Config {
    /// The level to log at.
    level: Level,
}

impl Default for Config {
    fn default() -> Self {
        Self { level: Level::Info }
    }
}

struct Log;

impl Plugin for Log {
    type Config = Config;

    fn handle(event: Event, config: Config) -> Result<(), PluginError> {
        log::write(config.level, &line(&event));
        Ok(())
    }
}

export_plugin!(Log);

/// The log line for `event`.
fn line(event: &Event) -> String {
    let mut line = String::new();
    field(&mut line, "id", &event.id);
    field(&mut line, "source", &event.source);
    field(&mut line, "detail-type", &event.detail_type);
    match event.state_change() {
        Ok(change) => {
            field(
                &mut line,
                "entity",
                &format!("{}/{}", change.entity_type, change.entity_id),
            );
            field(&mut line, "operation", change.operation.as_str());
            field(&mut line, "author", &change.author);
        }
        Err(error) if event.detail_type == "Object State Change" => {
            field(&mut line, "invalid", error.message())
        }
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
    use trailmark_sdk::Config as RuleConfig;
    use trailmark_sdk::serde_json::{Value, json};

    use super::*;

    fn event(detail_type: &str, detail: Value) -> Event {
        Event {
            id: "e-1".into(),
            source: "com.example.library".into(),
            detail_type: detail_type.into(),
            time: "2026-11-25T10:30:00Z".into(),
            account: String::new(),
            region: String::new(),
            resources: Vec::new(),
            detail: detail.to_string(),
        }
    }

    #[test]
    fn state_changes_log_entity_operation_and_author() {
        let detail = json!({"entity-type": "book", "entity-id": 7, "operation": "update",
                            "ts": 0, "author": "Bob Smith", "data": {}});
        assert_eq!(
            line(&event("Object State Change", detail)),
            r#"id=e-1 source=com.example.library detail-type="Object State Change" entity=book/7 operation=update author="Bob Smith""#
        );
    }

    #[test]
    fn any_event_is_logged() {
        assert_eq!(
            line(&event("Heartbeat", json!({"ok": true}))),
            "id=e-1 source=com.example.library detail-type=Heartbeat"
        );
    }

    #[test]
    fn malformed_state_changes_say_why() {
        let logged = line(&event(
            "Object State Change",
            json!({"entity-type": "book"}),
        ));
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
    fn level_defaults_to_info_and_is_checked() {
        assert_eq!(
            RuleConfig::new("")
                .parse::<Config>()
                .expect("default")
                .level,
            Level::Info
        );
        let warn: Config = RuleConfig::new(r#"{"level": "warn"}"#)
            .parse()
            .expect("valid");
        assert_eq!(warn.level, Level::Warn);
        let error = RuleConfig::new(r#"{"level": "loud"}"#)
            .parse::<Config>()
            .expect_err("unknown level");
        assert!(
            error.to_string().contains("unknown log level \"loud\""),
            "{error}"
        );
    }
}
