//! The standard `archive` plugin: stores each entity body in the archive.
//!
//! For every `Object State Change` it stores `detail.data` as JSON
//! (`application/json`) under a key rendered from a template. A `delete`
//! without `data` stores the whole detail instead (entity type and id,
//! operation, ts, author), so every change has a body at its key and the key
//! the `metadata` plugin records always exists. Events that are not a valid
//! `Object State Change` are rejected (dead-lettered) with the reason.
//!
//! Grants: `archive: true`.
//!
//! Config (all optional):
//!
//! ```yaml
//! config:
//!   # Key template; placeholder values are percent-encoded so each stays in
//!   # its segment. Keep it equal to the metadata plugin's `archive-key`.
//!   # The default ends with the event id, so each event has a key of its own
//!   # (the archive never overwrites a body with different bytes).
//!   key: "{source}/{entity-type}/{entity-id}/{ts}-{operation}-{id}.json"
//!   pretty: false   # true: indented JSON
//! ```

use serde::Deserialize;
use trailmark_sdk::{
    DEFAULT_ARCHIVE_KEY, Event, Plugin, PluginError, Template, archive, export_plugin, serde_json,
};

/// The rule's config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
struct Config {
    /// Where to store the body.
    key: Template,
    /// Indent the stored JSON.
    pretty: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            key: Template::parse(DEFAULT_ARCHIVE_KEY).expect("the default key template is valid"),
            pretty: false,
        }
    }
}

struct Archive;

impl Plugin for Archive {
    type Config = Config;

    fn handle(event: Event, config: Config) -> Result<(), PluginError> {
        let (key, body) = entry(&event, &config)?;
        archive::put(&key, &body, "application/json")
    }
}

export_plugin!(Archive);

/// The key and body to store for `event`.
fn entry(event: &Event, config: &Config) -> Result<(String, Vec<u8>), PluginError> {
    let change = event.state_change()?;
    let key = config.key.render_key(event)?;
    let body = match change.data {
        Some(data) => data,
        None => event.detail_json()?,
    };
    let bytes = if config.pretty {
        serde_json::to_vec_pretty(&body)
    } else {
        serde_json::to_vec(&body)
    };
    let bytes = bytes.map_err(|error| {
        PluginError::reject(format!("event {}: cannot encode body: {error}", event.id))
    })?;
    Ok((key, bytes))
}

#[cfg(test)]
mod tests {
    use trailmark_sdk::Config as RuleConfig;
    use trailmark_sdk::serde_json::{self, Value, json};

    use super::*;

    fn event(detail: Value) -> Event {
        Event {
            id: "e-1".into(),
            source: "com.example.library".into(),
            detail_type: "Object State Change".into(),
            time: "2026-11-25T10:30:00Z".into(),
            account: String::new(),
            region: String::new(),
            resources: Vec::new(),
            detail: detail.to_string(),
        }
    }

    fn update() -> Value {
        json!({"entity-type": "book", "entity-id": 42, "operation": "update",
               "ts": "2026-11-25T10:30:00Z", "author": "bob", "data": {"title": "Dune", "year": 1965}})
    }

    fn config(json: &str) -> Config {
        RuleConfig::new(json).parse().expect("valid config")
    }

    #[test]
    fn stores_data_under_the_default_key() {
        let (key, body) = entry(&event(update()), &config("")).expect("valid event");
        assert_eq!(
            key,
            "com.example.library/book/42/1795602600000-update-e-1.json"
        );
        assert_eq!(body, br#"{"title":"Dune","year":1965}"#);
    }

    #[test]
    fn honours_key_template_and_pretty() {
        let config = config(r#"{"key": "{entity-type}/{entity-id}/{id}.json", "pretty": true}"#);
        let (key, body) = entry(&event(update()), &config).expect("valid event");
        assert_eq!(key, "book/42/e-1.json");
        assert_eq!(
            String::from_utf8(body).expect("utf-8"),
            "{\n  \"title\": \"Dune\",\n  \"year\": 1965\n}"
        );
    }

    #[test]
    fn delete_without_data_stores_the_detail() {
        let detail = json!({"entity-type": "book", "entity-id": "42", "operation": "delete",
                            "ts": 1_795_602_600_000_i64, "author": "carol"});
        let (key, body) = entry(&event(detail.clone()), &config("{}")).expect("valid delete");
        assert_eq!(
            key,
            "com.example.library/book/42/1795602600000-delete-e-1.json"
        );
        assert_eq!(
            serde_json::from_slice::<Value>(&body).expect("JSON"),
            detail
        );
    }

    #[test]
    fn malformed_audit_events_are_rejected_with_the_reason() {
        let mut detail = update();
        detail["operation"] = json!("merge");
        let error = entry(&event(detail), &config("")).expect_err("bad operation");
        assert!(!error.is_retry());
        assert!(
            error.message().contains("`operation` is \"merge\""),
            "{error}"
        );
        let error =
            entry(&event(json!({"hello": "world"})), &config("")).expect_err("not a change");
        assert!(error.message().contains("is missing"), "{error}");
    }

    #[test]
    fn bad_config_is_a_config_error() {
        let error = RuleConfig::new(r#"{"key": "{entity}/x"}"#)
            .parse::<Config>()
            .expect_err("bad template");
        assert!(
            error.to_string().contains("unknown placeholder {entity}"),
            "{error}"
        );
        assert!(
            RuleConfig::new(r#"{"keys": "x"}"#)
                .parse::<Config>()
                .is_err()
        );
    }
}
