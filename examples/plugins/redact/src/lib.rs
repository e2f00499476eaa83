//! Example Trailmark plugin: archive entity bodies without PII.
//!
//! For every `Object State Change` it removes or masks the configured fields
//! of the detail, then archives the body (`detail.data`, or the whole detail
//! for a delete without data) as JSON under the standard archive key, the
//! same key the standard `archive` and `metadata` plugins use. Fields the
//! event does not have are skipped.
//!
//! This is the plugin `docs/writing-a-plugin.md` builds, step by step.
//!
//! Grants: `archive: true`.
//!
//! Config:
//!
//! ```yaml
//! config:
//!   fields: ["data.email", "data.ssn"]   # paths in the detail
//!   mode: mask                           # mask (replace with "***", the default) or remove
//! ```

use serde::Deserialize;
use trailmark_sdk::serde_json::Value;
use trailmark_sdk::{
    DEFAULT_ARCHIVE_KEY, Event, Plugin, PluginError, Template, export_plugin, json,
};

/// What a masked value is replaced with.
const MASK: &str = "***";

/// The rule's `config`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Paths of the fields to redact, relative to the detail: `data.email`.
    fields: Vec<String>,
    /// How to redact them.
    #[serde(default)]
    mode: Mode,
}

/// How to redact a field.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Replace the value with `"***"`, so readers see that it was there.
    #[default]
    Mask,
    /// Remove the field.
    Remove,
}

/// The plugin: its config and the archive key template, both parsed once
/// per instance.
pub struct Redact {
    config: Config,
    key: Template,
}

impl Plugin for Redact {
    type Config = Config;

    fn new(config: Config) -> Result<Self, PluginError> {
        let key = Template::parse(DEFAULT_ARCHIVE_KEY)?;
        Ok(Self { config, key })
    }

    fn handle(&self, event: &Event<'_>) -> Result<(), PluginError> {
        // Rejects (dead-letters) events that are not valid state changes.
        event.state_change()?;
        // Redacting needs the detail as a tree: parse it (once) and copy it.
        let mut detail = event.detail_json()?.clone();
        redact(&mut detail, &self.config);
        let body = match detail.get("data") {
            Some(data) if !data.is_null() => data,
            _ => &detail,
        };
        let key = self.key.render_key(event)?;
        event.archive_put(&key, body.to_string().as_bytes(), "application/json")
    }
}

export_plugin!(Redact);

/// Remove or mask each configured field of `detail` that is present.
fn redact(detail: &mut Value, config: &Config) {
    for path in &config.fields {
        match config.mode {
            Mode::Remove => {
                json::remove(detail, path);
            }
            Mode::Mask => {
                if let Some(value) = json::get_mut(detail, path) {
                    *value = Value::from(MASK);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use trailmark_sdk::serde_json::json;
    use trailmark_sdk::testing::{Answer, Batch, Call, Host, journaled_change};

    use super::*;

    /// The test `docs/writing-a-plugin.md` shows, word for word.
    #[test]
    fn archives_the_masked_body_under_the_standard_key() {
        let detail = json!({"entity-type": "customer", "entity-id": 7, "operation": "insert",
                            "ts": 0, "author": "app",
                            "data": {"name": "Ann", "email": "ann@example.com"}});
        let batch = Batch::of([journaled_change("e-1", &detail)]);
        let mut host = Host::new();
        let answers = host.run::<Redact>(r#"{"fields": ["data.email"]}"#, &batch);
        assert_eq!(answers, [Answer::Ok]);
        let [
            Call::ArchivePut {
                index: 0,
                key,
                body,
                content_type,
            },
        ] = host.calls()
        else {
            panic!("one archive put: {:?}", host.calls());
        };
        assert_eq!(key, "com.example.library/customer/7/0-insert-e-1.json");
        assert_eq!(content_type, "application/json");
        let body: Value = trailmark_sdk::serde_json::from_slice(body).expect("JSON body");
        assert_eq!(body, json!({"name": "Ann", "email": "***"}));
    }

    fn config(json: &str) -> Config {
        trailmark_sdk::Config::new(json)
            .parse()
            .expect("valid config")
    }

    fn customer() -> Value {
        json!({"entity-type": "customer", "entity-id": 7, "operation": "insert", "ts": 0, "author": "app",
               "data": {"name": "Ann", "email": "ann@example.com", "ssn": "123-45-6789"}})
    }

    #[test]
    fn masks_by_default() {
        let mut detail = customer();
        redact(
            &mut detail,
            &config(r#"{"fields": ["data.email", "data.ssn"]}"#),
        );
        assert_eq!(
            detail["data"],
            json!({"name": "Ann", "email": "***", "ssn": "***"})
        );
    }

    #[test]
    fn removes_when_asked_and_skips_absent_fields() {
        let mut detail = customer();
        redact(
            &mut detail,
            &config(r#"{"fields": ["data.email", "data.phone"], "mode": "remove"}"#),
        );
        assert_eq!(detail["data"], json!({"name": "Ann", "ssn": "123-45-6789"}));
    }

    #[test]
    fn config_needs_fields_and_a_known_mode() {
        let missing = trailmark_sdk::Config::new("{}")
            .parse::<Config>()
            .expect_err("no fields");
        assert!(
            missing.to_string().contains("missing field `fields`"),
            "{missing}"
        );
        let mode =
            trailmark_sdk::Config::new(r#"{"fields": [], "mode": "hash"}"#).parse::<Config>();
        assert!(
            mode.expect_err("unknown mode")
                .to_string()
                .contains("unknown variant `hash`")
        );
    }
}
