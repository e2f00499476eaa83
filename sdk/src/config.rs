//! The rule's `config`, as JSON text, and its typed form.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::PluginError;

/// The rule's `config` as the host passes it: JSON text.
///
/// A rule without `config` is treated as an empty object, so config structs
/// whose fields all have defaults need no config at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    text: String,
}

/// The config does not have the shape the plugin expects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid plugin config: {0}")]
pub struct ConfigError(String);

impl From<ConfigError> for PluginError {
    /// A bad config fails the same way for every event: reject.
    fn from(error: ConfigError) -> Self {
        PluginError::reject(error.to_string())
    }
}

impl Config {
    /// Wrap the JSON text of a rule's `config`.
    pub fn new(text: impl Into<String>) -> Self {
        Self { text: text.into() }
    }

    /// The JSON text, as the host passed it.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Deserialize the config into `T`.
    ///
    /// Empty text and `null` read as `{}`. The error names the problem as
    /// serde reports it (unknown or missing field, wrong type, with line and
    /// column), and converts into a reject.
    ///
    /// ```
    /// #[derive(serde::Deserialize)]
    /// struct Settings { channel: String }
    ///
    /// let config = trailmark_sdk::Config::new(r#"{"channel": "ops"}"#);
    /// assert_eq!(config.parse::<Settings>()?.channel, "ops");
    /// let error = trailmark_sdk::Config::new("{}").parse::<Settings>().err().unwrap();
    /// assert!(error.to_string().contains("missing field `channel`"));
    /// # Ok::<(), trailmark_sdk::ConfigError>(())
    /// ```
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        let text = self.text.trim();
        let text = if text.is_empty() || text == "null" {
            "{}"
        } else {
            text
        };
        serde_json::from_str(text).map_err(|error| ConfigError(error.to_string()))
    }
}

/// A [`Config`] can itself be a plugin's [`Plugin::Config`](crate::Plugin::Config),
/// for plugins that read their config in their own way.
impl<'de> Deserialize<'de> for Config {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        Ok(Self::new(value.to_string()))
    }
}

/// The config of a plugin that takes none: only an empty object (or no
/// config at all) is accepted, so a misplaced config is reported, not ignored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoConfig {}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Settings {
        channel: String,
        fields: Vec<String>,
    }

    impl Default for Settings {
        fn default() -> Self {
            Self {
                channel: "admins".into(),
                fields: Vec::new(),
            }
        }
    }

    #[test]
    fn empty_and_null_config_read_as_empty_object() {
        for text in ["", "  ", "null", "{}"] {
            assert_eq!(
                Config::new(text).parse::<Settings>(),
                Ok(Settings::default()),
                "{text:?}"
            );
            assert_eq!(
                Config::new(text).parse::<NoConfig>(),
                Ok(NoConfig {}),
                "{text:?}"
            );
        }
    }

    #[test]
    fn parses_typed_config() {
        let config = Config::new(r#"{"channel": "ops", "fields": ["data.email"]}"#);
        let settings: Settings = config.parse().expect("valid");
        assert_eq!(settings.channel, "ops");
        assert_eq!(settings.fields, ["data.email"]);
    }

    #[test]
    fn bad_config_is_rejected_naming_the_problem() {
        let error = Config::new(r#"{"chanel": "ops"}"#)
            .parse::<Settings>()
            .expect_err("typo");
        assert!(
            error
                .to_string()
                .starts_with("invalid plugin config: unknown field `chanel`"),
            "{error}"
        );
        let error = Config::new(r#"{"fields": "data.email"}"#)
            .parse::<Settings>()
            .expect_err("type");
        assert!(
            error.to_string().contains("invalid type: string"),
            "{error}"
        );
        let rejected = PluginError::from(error);
        assert!(!rejected.is_retry());
    }

    #[test]
    fn no_config_refuses_settings() {
        let error = Config::new(r#"{"level": "warn"}"#)
            .parse::<NoConfig>()
            .expect_err("none taken");
        assert!(
            error.to_string().contains("unknown field `level`"),
            "{error}"
        );
    }

    #[test]
    fn config_deserializes_as_itself() {
        let config: Config = Config::new(r#"{"a": [1, 2]}"#).parse().expect("any JSON");
        assert_eq!(config.as_str(), r#"{"a":[1,2]}"#);
    }
}
