//! The standard `metadata` plugin: stores a queryable change record per event.
//!
//! For every `Object State Change` it stores, through `metadata.put`, the
//! archive key of the body (none for a delete without `data`, which has no
//! body: the `archive` plugin stores nothing for it) and chosen detail
//! fields as attributes; the host
//! adds the event's own fields (event id, source, entity type and id,
//! operation, ts in epoch milliseconds, author). The host stores each event
//! id once, so redeliveries are harmless. Without `attributes` it reads no
//! JSON; with them, only the values it copies are parsed. Events that are
//! not a valid `Object State Change` are rejected (dead-lettered) with the
//! reason.
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
use trailmark_sdk::serde_json::{self, Map};
use trailmark_sdk::{DEFAULT_ARCHIVE_KEY, Event, PluginError, Template, export_plugin, json};

/// The rule's config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct Config {
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

/// Handle one delivery under the rule's `config`.
fn handle(config: &Config, event: &Event<'_>) -> Result<(), PluginError> {
    // Only a valid state change has a change record; reject others here
    // with the reason rather than let the host refuse the call.
    let has_body = event.state_change()?.data.is_some();
    let archive_key = config
        .archive_key
        .as_ref()
        .filter(|_| has_body)
        .map(|template| template.render_key(event))
        .transpose()?;
    let attributes = attributes(event, &config.attributes)?;
    event.metadata_put(archive_key.as_deref(), &attributes)
}

export_plugin!(fn handle(Config) as pub Metadata);

/// The JSON text of the attributes of `event`: the value at each of `paths`
/// in the detail, keyed by the path. Each value is found in the detail text
/// without parsing the rest ([`json::get_raw`]); with no paths, nothing is
/// read.
fn attributes(event: &Event<'_>, paths: &[String]) -> Result<String, PluginError> {
    if paths.is_empty() {
        return Ok("{}".to_owned());
    }
    let invalid = |error: serde_json::Error| {
        PluginError::reject(format!(
            "event {}: detail is not valid JSON: {error}",
            event.id()
        ))
    };
    let mut attributes = Map::new();
    for path in paths {
        if let Some(raw) = json::get_raw(event.detail(), path).map_err(invalid)? {
            let value: serde_json::Value = serde_json::from_str(raw.get()).map_err(invalid)?;
            attributes.insert(path.clone(), value);
        }
    }
    Ok(serde_json::Value::Object(attributes).to_string())
}

#[cfg(test)]
mod tests {
    use trailmark_sdk::serde_json::{Value, json};
    use trailmark_sdk::testing::{Answer, Batch, Call, Host, journaled_change};

    use super::*;

    fn insert() -> Value {
        json!({"entity-type": "book", "entity-id": "b/1", "operation": "insert",
               "ts": 1_795_602_600_000_i64, "author": "ann",
               "data": {"title": "Dune", "tags": ["sf"], "shelf": null}})
    }

    /// Run the plugin with `config` on one event; its answer and the put.
    fn run(config: &str, detail: &Value) -> (Answer, Option<(Option<String>, String)>) {
        let mut host = Host::new();
        let batch = Batch::of([journaled_change("e-1", detail)]);
        let answers = host.run::<Metadata>(config, &batch);
        let put = host.calls().iter().find_map(|call| match call {
            Call::MetadataPut {
                index: 0,
                archive_key,
                attributes,
            } => Some((archive_key.clone(), attributes.clone())),
            _ => None,
        });
        (answers[0].clone(), put)
    }

    #[test]
    fn records_the_change_with_the_archive_plugins_key() {
        let (answer, put) = run("", &insert());
        assert_eq!(answer, Answer::Ok);
        let (archive_key, attributes) = put.expect("stored");
        assert_eq!(
            archive_key.as_deref(),
            Some("com.example.library/book/b%2F1/1795602600000-insert-e-1.json")
        );
        assert_eq!(attributes, "{}");
    }

    #[test]
    fn a_delete_without_data_points_at_no_body() {
        let delete = json!({"entity-type": "book", "entity-id": "b/1", "operation": "delete",
                            "ts": 1_795_602_600_000_i64, "author": "ann"});
        let (answer, put) = run("", &delete);
        assert_eq!(answer, Answer::Ok);
        assert_eq!(put.expect("stored").0, None);
        let mut with_data = delete.clone();
        with_data["data"] = json!({"title": "Dune"});
        let (_, put) = run("", &with_data);
        assert_eq!(
            put.expect("stored").0.as_deref(),
            Some("com.example.library/book/b%2F1/1795602600000-delete-e-1.json")
        );
    }

    #[test]
    fn picks_attributes_by_path_and_skips_absent_ones() {
        let config = r#"{"attributes": ["data.title", "data.tags", "data.shelf", "data.isbn"]}"#;
        let (_, put) = run(config, &insert());
        let attributes: Value = serde_json::from_str(&put.expect("stored").1).expect("JSON");
        assert_eq!(
            attributes,
            json!({"data.title": "Dune", "data.tags": ["sf"], "data.shelf": null})
        );
    }

    #[test]
    fn archive_key_follows_config_or_is_left_out() {
        let (_, put) = run(r#"{"archive-key": "{entity-type}/{id}.json"}"#, &insert());
        assert_eq!(put.expect("stored").0.as_deref(), Some("book/e-1.json"));
        let (_, put) = run(r#"{"archive-key": null}"#, &insert());
        assert_eq!(put.expect("stored").0, None);
    }

    #[test]
    fn malformed_audit_events_are_rejected() {
        let mut detail = insert();
        detail["ts"] = json!("last tuesday");
        let (answer, put) = run("", &detail);
        assert!(put.is_none());
        assert!(
            matches!(&answer, Answer::Reject(m) if m.contains("`ts`")),
            "{answer:?}"
        );
    }

    #[test]
    fn parses_no_json_without_attributes() {
        let mut batch = Batch::of([journaled_change("e-1", &insert())]);
        batch.break_detail(0);
        let mut host = Host::new();
        assert_eq!(host.run::<Metadata>("", &batch), [Answer::Ok]);
        assert!(matches!(
            host.calls(),
            [Call::MetadataPut {
                archive_key: Some(_),
                ..
            }]
        ));
    }
}
