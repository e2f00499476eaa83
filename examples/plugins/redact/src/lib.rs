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
    DEFAULT_ARCHIVE_KEY, Event, Plugin, PluginError, archive, export_plugin, json, render_key,
};

/// What a masked value is replaced with.
const MASK: &str = "***";

/// The rule's `config`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Paths of the fields to redact, relative to the detail: `data.email`.
    fields: Vec<String>,
    /// How to redact them.
    #[serde(default)]
    mode: Mode,
}

/// How to redact a field.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Mode {
    /// Replace the value with `"***"`, so readers see that it was there.
    #[default]
    Mask,
    /// Remove the field.
    Remove,
}

struct Redact;

impl Plugin for Redact {
    type Config = Config;

    fn handle(event: Event, config: Config) -> Result<(), PluginError> {
        // Rejects (dead-letters) events that are not valid state changes.
        event.state_change()?;
        let mut detail = event.detail_json()?;
        redact(&mut detail, &config);
        let body = match detail.get("data") {
            Some(data) if !data.is_null() => data,
            _ => &detail,
        };
        let key = render_key(DEFAULT_ARCHIVE_KEY, &event)?;
        archive::put(&key, body.to_string().as_bytes(), "application/json")
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

    use super::*;

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
