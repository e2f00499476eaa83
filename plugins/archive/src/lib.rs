//! The standard `archive` plugin: stores each entity body in the archive.
//!
//! For every `Object State Change` it stores `detail.data` (`application/json`)
//! under a key rendered from a template: the bytes exactly as journaled, never
//! re-serialized, so the archived body is the body the producer sent. A
//! `delete` without `data` has no body and stores nothing (the `metadata`
//! plugin records no archive key for it, so the entity's history shows the
//! delete without a body rather than the event's detail dressed up as one).
//! A correlation rule's fire (`Correlation Match`, written by the host) is
//! stored whole, its detail as journaled, under `fire-key`: the evidence of
//! what fired and on which events. Other events that are not a valid
//! `Object State Change` are rejected (dead-lettered) with the reason.
//!
//! It parses no JSON: the host hands over the typed fields and the raw
//! text of `data`. Only `pretty: true` parses the body, to re-indent it.
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
//!   pretty: false   # true: re-encode the body as indented JSON
//!   # Where a correlation fire's detail goes.
//!   fire-key: "trailmark/correlation/{detail.rule}/{id}.json"
//! ```

use std::borrow::Cow;

use serde::Deserialize;
use trailmark_sdk::{DEFAULT_ARCHIVE_KEY, Event, PluginError, Template, export_plugin, serde_json};

/// Where a correlation fire's detail is stored by default.
const DEFAULT_FIRE_KEY: &str = "trailmark/correlation/{detail.rule}/{id}.json";

/// The rule's config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct Config {
    /// Where to store the body.
    key: Template,
    /// Re-encode the stored JSON indented.
    pretty: bool,
    /// Where to store a correlation fire.
    fire_key: Template,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            key: Template::parse(DEFAULT_ARCHIVE_KEY).expect("the default key template is valid"),
            pretty: false,
            fire_key: Template::parse(DEFAULT_FIRE_KEY).expect("the default fire key is valid"),
        }
    }
}

/// Handle one delivery under the rule's `config`.
fn handle(config: &Config, event: &Event<'_>) -> Result<(), PluginError> {
    match entry(event, config)? {
        Some((key, body)) => event.archive_put(&key, &body, "application/json"),
        None => Ok(()),
    }
}

export_plugin!(fn handle(Config) as pub Archive);

/// A key and the body to store under it.
type Entry<'e> = (String, Cow<'e, [u8]>);

/// The key and body to store for `event` (the body borrowed from the
/// event unless it is re-indented), or `None` for a delete without `data`.
fn entry<'e>(event: &Event<'e>, config: &Config) -> Result<Option<Entry<'e>>, PluginError> {
    if event.is_correlation_match() {
        let key = config.fire_key.render_key(event)?;
        return Ok(Some((key, Cow::Borrowed(event.detail().as_bytes()))));
    }
    let change = event.state_change()?;
    let Some(body) = change.data else {
        return Ok(None);
    };
    let key = config.key.render_key(event)?;
    if !config.pretty {
        return Ok(Some((key, Cow::Borrowed(body.as_bytes()))));
    }
    let pretty = serde_json::from_str::<serde_json::Value>(body)
        .and_then(|value| serde_json::to_vec_pretty(&value))
        .map_err(|error| {
            PluginError::reject(format!(
                "event {}: cannot re-indent the body: {error}",
                event.id()
            ))
        })?;
    Ok(Some((key, Cow::Owned(pretty))))
}

#[cfg(test)]
mod tests {
    use trailmark_sdk::serde_json::{Value, json};
    use trailmark_sdk::testing::{Answer, Batch, Call, Host, journaled};

    use super::*;

    fn batch(detail: &str) -> Batch {
        Batch::of([journaled("e-1", "Object State Change", detail)])
    }

    fn update() -> Value {
        json!({"entity-type": "book", "entity-id": 42, "operation": "update",
               "ts": "2026-11-25T10:30:00Z", "author": "bob", "data": {"title": "Dune", "year": 1965}})
    }

    /// Run the plugin with `config` on one event; its answer and the archive put.
    fn run(config: &str, detail: &str) -> (Answer, Option<(String, Vec<u8>)>) {
        let mut host = Host::new();
        let answers = host.run::<Archive>(config, &batch(detail));
        let put = host.calls().iter().find_map(|call| match call {
            Call::ArchivePut {
                index: 0,
                key,
                body,
                content_type,
            } => {
                assert_eq!(content_type, "application/json");
                Some((key.clone(), body.clone()))
            }
            _ => None,
        });
        (answers[0].clone(), put)
    }

    #[test]
    fn stores_data_under_the_default_key() {
        let (answer, put) = run("", &update().to_string());
        assert_eq!(answer, Answer::Ok);
        let (key, body) = put.expect("archived");
        assert_eq!(
            key,
            "com.example.library/book/42/1795602600000-update-e-1.json"
        );
        assert_eq!(body, br#"{"title":"Dune","year":1965}"#);
    }

    #[test]
    fn stores_the_data_bytes_exactly_as_journaled() {
        let detail = r#"{"entity-type":"book","entity-id":"42","operation":"insert","ts":1,"author":"a",
                         "data": { "z" : 1.50, "a" : "\u00e9" } }"#;
        let (answer, put) = run("{}", detail);
        assert_eq!(answer, Answer::Ok);
        assert_eq!(
            put.expect("archived").1,
            br#"{ "z" : 1.50, "a" : "\u00e9" }"#
        );
    }

    #[test]
    fn honours_key_template_and_pretty() {
        let config = r#"{"key": "{entity-type}/{entity-id}/{id}.json", "pretty": true}"#;
        let (key, body) = run(config, &update().to_string()).1.expect("archived");
        assert_eq!(key, "book/42/e-1.json");
        assert_eq!(
            String::from_utf8(body).expect("utf-8"),
            "{\n  \"title\": \"Dune\",\n  \"year\": 1965\n}"
        );
    }

    #[test]
    fn a_delete_without_data_stores_nothing_and_one_with_data_stores_it() {
        let detail = r#"{"entity-type": "book", "entity-id": "42", "operation": "delete", "ts": 1795602600000, "author": "carol"}"#;
        let (answer, put) = run("{}", detail);
        assert_eq!(answer, Answer::Ok);
        assert_eq!(put, None);
        let with_data = r#"{"entity-type": "book", "entity-id": "42", "operation": "delete", "ts": 1795602600000, "author": "carol", "data": {"title": "Dune"}}"#;
        let (key, body) = run("{}", with_data).1.expect("archived");
        assert_eq!(
            key,
            "com.example.library/book/42/1795602600000-delete-e-1.json"
        );
        assert_eq!(body, br#"{"title": "Dune"}"#);
    }

    #[test]
    fn malformed_audit_events_are_rejected_with_the_reason() {
        let mut detail = update();
        detail["operation"] = json!("merge");
        let (answer, put) = run("", &detail.to_string());
        assert!(put.is_none());
        assert!(
            matches!(&answer, Answer::Reject(m) if m.contains("`operation` is \"merge\"")),
            "{answer:?}"
        );
        let (answer, _) = run("", r#"{"hello": "world"}"#);
        assert!(
            matches!(&answer, Answer::Reject(m) if m.contains("is missing")),
            "{answer:?}"
        );
    }

    #[test]
    fn bad_config_rejects_every_delivery() {
        let (answer, put) = run(r#"{"key": "{entity}/x"}"#, &update().to_string());
        assert!(put.is_none());
        assert!(
            matches!(&answer, Answer::Reject(m) if m.contains("unknown placeholder {entity}")),
            "{answer:?}"
        );
        let (answer, _) = run(r#"{"keys": "x"}"#, &update().to_string());
        assert!(matches!(&answer, Answer::Reject(m) if m.contains("unknown field `keys`")));
    }

    #[test]
    fn parses_no_json() {
        // The detail text is broken after its data: a plugin that parsed it
        // would reject, one that reads the host's fields does not notice.
        let mut batch = batch(&update().to_string());
        batch.break_detail(0);
        let mut host = Host::new();
        assert_eq!(host.run::<Archive>("", &batch), [Answer::Ok]);
        assert!(
            matches!(&host.calls()[0], Call::ArchivePut { body, .. } if body == br#"{"title":"Dune","year":1965}"#),
            "{:?}",
            host.calls()
        );
    }

    #[test]
    fn a_correlation_fire_is_stored_whole_under_the_fire_key() {
        let detail =
            r#"{"rule":"mass-deletes","fire-id":"f-1","group":{"detail.author":"m"},"count":21}"#;
        let fire = trailmark_sdk::trailmark_event::Event {
            source: "trailmark".into(),
            ..journaled("f-1", "Correlation Match", detail)
        };
        let mut host = Host::new();
        assert_eq!(host.run::<Archive>("", &Batch::of([fire])), [Answer::Ok]);
        assert!(
            matches!(&host.calls()[0], Call::ArchivePut { key, body, .. }
                if key == "trailmark/correlation/mass-deletes/f-1.json" && body == detail.as_bytes()),
            "{:?}",
            host.calls()
        );
        // Only the host writes fires: the same event from a producer is not one.
        let forged = journaled("f-2", "Correlation Match", detail);
        let answers = Host::new().run::<Archive>("", &Batch::of([forged]));
        assert!(matches!(&answers[0], Answer::Reject(_)), "{answers:?}");
    }
}
