//! The standard `metadata` plugin: stores a queryable change record per event.
//!
//! For every `Object State Change` it stores, through `metadata.put`, the
//! event id, source, entity type and id, operation, ts (epoch milliseconds),
//! author, the archive key of the body, and chosen detail fields as
//! attributes. The host stores each event id once, so redeliveries are
//! harmless. Events that are not a valid `Object State Change` are rejected
//! (dead-lettered) with the reason.
//!
//! Grants: `metadata: true`.
//!
//! Config (all optional):
//!
//! ```yaml
//! config:
//!   # The key the archive plugin stores the body under: keep both equal
//!   # (this default is the archive plugin's). `null` when bodies are not
//!   # archived, so no record points at a missing body.
//!   archive-key: "{source}/{entity-type}/{entity-id}/{ts}-{operation}-{id}.json"
//!   # Detail paths copied into the record's `attributes` JSON object, keyed
//!   # by the path: {"data.title": "Dune"}. Absent paths are left out.
//!   attributes: ["data.title", "data.shelf"]
//! ```

use serde::Deserialize;
use trailmark_sdk::metadata::{self, Change};
use trailmark_sdk::serde_json::{self, Map};
use trailmark_sdk::{
    DEFAULT_ARCHIVE_KEY, Event, Plugin, PluginError, Template, export_plugin, json,
};

/// The rule's config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
struct Config {
    /// The archive key template, or `None` when bodies are not archived.
    archive_key: Option<Template>,
    /// Detail paths to copy into `attributes`.
    attributes: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            archive_key: Some(
                Template::parse(DEFAULT_ARCHIVE_KEY).expect("the default key template is valid"),
            ),
            attributes: Vec::new(),
        }
    }
}

struct Metadata;

impl Plugin for Metadata {
    type Config = Config;

    fn handle(event: Event, config: Config) -> Result<(), PluginError> {
        metadata::put(&change(&event, &config)?)
    }
}

export_plugin!(Metadata);

/// The change record for `event`.
fn change(event: &Event, config: &Config) -> Result<Change, PluginError> {
    let state = event.state_change()?;
    let archive_key = config
        .archive_key
        .as_ref()
        .map(|template| template.render_key(event))
        .transpose()?;
    let mut attributes = Map::new();
    if !config.attributes.is_empty() {
        let detail = event.detail_json()?;
        for path in &config.attributes {
            if let Some(value) = json::get(&detail, path) {
                attributes.insert(path.clone(), value.clone());
            }
        }
    }
    Ok(Change {
        event_id: event.id.clone(),
        source: event.source.clone(),
        entity_type: state.entity_type,
        entity_id: state.entity_id,
        operation: state.operation.as_str().to_owned(),
        ts: state.ts,
        author: state.author,
        archive_key,
        attributes: serde_json::Value::Object(attributes).to_string(),
    })
}

#[cfg(test)]
mod tests {
    use trailmark_sdk::Config as RuleConfig;
    use trailmark_sdk::serde_json::{Value, json};

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

    fn insert() -> Value {
        json!({"entity-type": "book", "entity-id": "b/1", "operation": "insert",
               "ts": 1_795_602_600_000_i64, "author": "ann",
               "data": {"title": "Dune", "tags": ["sf"], "shelf": null}})
    }

    fn config(json: &str) -> Config {
        RuleConfig::new(json).parse().expect("valid config")
    }

    #[test]
    fn records_the_change_with_the_archive_plugins_key() {
        let change = change(&event(insert()), &config("")).expect("valid event");
        assert_eq!(change.event_id, "e-1");
        assert_eq!(change.source, "com.example.library");
        assert_eq!(
            (change.entity_type.as_str(), change.entity_id.as_str()),
            ("book", "b/1")
        );
        assert_eq!(change.operation, "insert");
        assert_eq!(change.ts, 1_795_602_600_000);
        assert_eq!(change.author, "ann");
        assert_eq!(
            change.archive_key.as_deref(),
            Some("com.example.library/book/b%2F1/1795602600000-insert-e-1.json")
        );
        assert_eq!(change.attributes, "{}");
    }

    #[test]
    fn picks_attributes_by_path_and_skips_absent_ones() {
        let config =
            config(r#"{"attributes": ["data.title", "data.tags", "data.shelf", "data.isbn"]}"#);
        let change = change(&event(insert()), &config).expect("valid event");
        let attributes: Value = serde_json::from_str(&change.attributes).expect("JSON");
        assert_eq!(
            attributes,
            json!({"data.title": "Dune", "data.tags": ["sf"], "data.shelf": null})
        );
    }

    #[test]
    fn archive_key_follows_config_or_is_left_out() {
        let custom = config(r#"{"archive-key": "{entity-type}/{id}.json"}"#);
        let change_with = change(&event(insert()), &custom).expect("valid event");
        assert_eq!(change_with.archive_key.as_deref(), Some("book/e-1.json"));
        let none = config(r#"{"archive-key": null}"#);
        assert_eq!(
            change(&event(insert()), &none)
                .expect("valid event")
                .archive_key,
            None
        );
    }

    #[test]
    fn malformed_audit_events_are_rejected() {
        let mut detail = insert();
        detail["ts"] = json!("last tuesday");
        let error = change(&event(detail), &config("")).expect_err("bad ts");
        assert!(!error.is_retry());
        assert!(error.message().contains("`ts`"), "{error}");
    }
}
