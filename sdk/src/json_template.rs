//! [`JsonTemplate`]: a JSON shape whose strings are [`Template`]s, for the
//! bodies of HTTP targets: the values of an event are inserted as JSON
//! strings, so a quote in an author's name cannot break the body.

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::{Event, PluginError, Template};

/// A JSON value whose every string is a template of the event, e.g. a
/// rule's `config: {body: {text: "{entity-type} {entity-id} deleted"}}`.
/// Numbers, booleans and nulls are sent as written.
///
/// ```
/// # use trailmark_sdk::JsonTemplate;
/// let shape: JsonTemplate = serde_json::from_str(r#"{"text": "{operation} by {author}", "n": 1}"#)
///     .expect("a valid template");
/// ```
#[derive(Debug, Clone)]
pub enum JsonTemplate {
    /// A string: a template.
    Text(Template),
    /// A number, boolean or null.
    Literal(Value),
    /// An array.
    List(Vec<JsonTemplate>),
    /// An object.
    Object(Vec<(String, JsonTemplate)>),
}

impl JsonTemplate {
    /// The shape of `value`, each string parsed as a [`Template`].
    pub fn from_value(value: &Value) -> Result<JsonTemplate, crate::TemplateError> {
        Ok(match value {
            Value::String(text) => JsonTemplate::Text(Template::parse(text)?),
            Value::Array(items) => JsonTemplate::List(
                items
                    .iter()
                    .map(JsonTemplate::from_value)
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => JsonTemplate::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), JsonTemplate::from_value(v)?)))
                    .collect::<Result<_, crate::TemplateError>>()?,
            ),
            other => JsonTemplate::Literal(other.clone()),
        })
    }

    /// The JSON value for `event`; rejects when a template names a field
    /// the event lacks.
    pub fn render(&self, event: &Event<'_>) -> Result<Value, PluginError> {
        Ok(match self {
            JsonTemplate::Text(template) => Value::String(template.render(event)?),
            JsonTemplate::Literal(value) => value.clone(),
            JsonTemplate::List(items) => Value::Array(
                items
                    .iter()
                    .map(|s| s.render(event))
                    .collect::<Result<_, _>>()?,
            ),
            JsonTemplate::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, s)| Ok((k.clone(), s.render(event)?)))
                    .collect::<Result<Map<_, _>, PluginError>>()?,
            ),
        })
    }
}

impl<'de> Deserialize<'de> for JsonTemplate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        JsonTemplate::from_value(&value).map_err(serde::de::Error::custom)
    }
}
