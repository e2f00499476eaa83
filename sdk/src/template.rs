//! String templates over an event: `{entity-type} {entity-id} {operation}d by {author}`.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::{Event, PluginError, StateChange};

/// The placeholders a template may use, for error messages.
const PLACEHOLDERS: &str = "{id}, {source}, {detail-type}, {time}, {account}, {region}, \
                            {entity-type}, {entity-id}, {operation}, {ts}, {author}, \
                            {detail} and {detail.<path>} such as {detail.data.title}";

/// A parsed template: literal text with `{placeholder}`s filled from an event.
///
/// Placeholders:
///
/// | placeholder | value |
/// |---|---|
/// | `{id}`, `{source}`, `{detail-type}`, `{time}`, `{account}`, `{region}` | the envelope fields |
/// | `{entity-type}`, `{entity-id}`, `{operation}`, `{author}` | the [`StateChange`] fields |
/// | `{ts}` | the state change's time, milliseconds since the Unix epoch |
/// | `{detail}` | the whole detail, its JSON text as journaled |
/// | `{detail.a.b}` | the detail field at that path; a number segment indexes an array |
///
/// Strings are inserted as they are; other JSON values as compact JSON
/// (`42`, `true`, `["a","b"]`). `{{` and `}}` stand for `{` and `}`.
///
/// Parsing rejects unknown placeholders and unbalanced braces, so a bad
/// template in a rule's config fails on the first event (or at config
/// parsing, if the config holds a [`Template`]). Rendering rejects an event
/// that lacks a field the template uses: a `{detail.…}` path that is absent,
/// or a state-change placeholder on an event that is not a valid
/// `Object State Change`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    text: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Field(Field),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Field {
    Id,
    Source,
    DetailType,
    Time,
    Account,
    Region,
    EntityType,
    EntityId,
    Operation,
    Ts,
    Author,
    Detail(Vec<String>),
}

impl Field {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "id" => Self::Id,
            "source" => Self::Source,
            "detail-type" => Self::DetailType,
            "time" => Self::Time,
            "account" => Self::Account,
            "region" => Self::Region,
            "entity-type" => Self::EntityType,
            "entity-id" => Self::EntityId,
            "operation" => Self::Operation,
            "ts" => Self::Ts,
            "author" => Self::Author,
            "detail" => Self::Detail(Vec::new()),
            _ => {
                let path = name.strip_prefix("detail.")?;
                let segments: Vec<String> = path.split('.').map(str::to_owned).collect();
                if segments.iter().any(String::is_empty) {
                    return None;
                }
                Self::Detail(segments)
            }
        })
    }

    fn needs_state_change(&self) -> bool {
        matches!(
            self,
            Self::EntityType | Self::EntityId | Self::Operation | Self::Ts | Self::Author
        )
    }
}

/// Why a template could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A `{` without its `}`.
    #[error(
        "template {template:?}: `{{` at byte {at} is not closed; write `{{{{` for a literal brace"
    )]
    Unclosed {
        /// The template text.
        template: String,
        /// Byte offset of the `{`.
        at: usize,
    },
    /// A `}` without a `{` before it.
    #[error(
        "template {template:?}: `}}` at byte {at} closes nothing; write `}}}}` for a literal brace"
    )]
    UnmatchedClose {
        /// The template text.
        template: String,
        /// Byte offset of the `}`.
        at: usize,
    },
    /// A placeholder that is not one of the known names.
    #[error("template {template:?}: unknown placeholder {{{name}}}; expected {PLACEHOLDERS}")]
    Unknown {
        /// The template text.
        template: String,
        /// The name between the braces.
        name: String,
    },
}

impl From<TemplateError> for PluginError {
    /// A bad template fails the same way for every event: reject.
    fn from(error: TemplateError) -> Self {
        PluginError::reject(error.to_string())
    }
}

impl Template {
    /// Parse `text`, checking every placeholder.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text.char_indices().peekable();
        while let Some((at, c)) = rest.next() {
            match c {
                '{' if rest.peek().map(|&(_, next)| next) == Some('{') => {
                    rest.next();
                    literal.push('{');
                }
                '}' if rest.peek().map(|&(_, next)| next) == Some('}') => {
                    rest.next();
                    literal.push('}');
                }
                '}' => {
                    return Err(TemplateError::UnmatchedClose {
                        template: text.to_owned(),
                        at,
                    });
                }
                '{' => {
                    let close =
                        text[at..]
                            .find('}')
                            .map(|offset| at + offset)
                            .ok_or_else(|| TemplateError::Unclosed {
                                template: text.to_owned(),
                                at,
                            })?;
                    let name = &text[at + 1..close];
                    let field = Field::parse(name).ok_or_else(|| TemplateError::Unknown {
                        template: text.to_owned(),
                        name: name.to_owned(),
                    })?;
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Field(field));
                    while rest.peek().is_some_and(|&(i, _)| i <= close) {
                        rest.next();
                    }
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Self {
            text: text.to_owned(),
            parts,
        })
    }

    /// The template text, as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether rendering needs the event to be a valid `Object State Change`.
    pub fn needs_state_change(&self) -> bool {
        self.parts
            .iter()
            .any(|part| matches!(part, Part::Field(field) if field.needs_state_change()))
    }

    /// Fill the placeholders from `event`.
    ///
    /// Envelope and state-change placeholders read the fields the host
    /// parsed; a `{detail.<path>}` finds its value in the detail text,
    /// skipping the rest (see [`json::get_raw`](crate::json::get_raw)),
    /// rather than parsing the whole detail.
    pub fn render(&self, event: &Event<'_>) -> Result<String, PluginError> {
        self.render_with(event, |value| Cow::Borrowed(value))
    }

    /// Fill the placeholders from `event`, passing each substituted value
    /// (never the literal text) through `encode`.
    pub(crate) fn render_with(
        &self,
        event: &Event<'_>,
        encode: fn(&str) -> Cow<'_, str>,
    ) -> Result<String, PluginError> {
        let change = if self.needs_state_change() {
            Some(
                event
                    .state_change()
                    .map_err(|error| error.context(format_args!("template {:?}", self.text)))?,
            )
        } else {
            None
        };
        let mut out = String::with_capacity(self.text.len() + 32);
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Field(field) => {
                    let value = self.value(field, event, change.as_ref())?;
                    out.push_str(&encode(&value));
                }
            }
        }
        Ok(out)
    }

    fn value<'e>(
        &self,
        field: &Field,
        event: &'e Event<'_>,
        change: Option<&StateChange<'e>>,
    ) -> Result<Cow<'e, str>, PluginError> {
        // Fetched above whenever a field needs it.
        let change = || change.expect("state change fetched for state-change placeholders");
        Ok(match field {
            Field::Id => Cow::Borrowed(event.id()),
            Field::Source => Cow::Borrowed(event.source()),
            Field::DetailType => Cow::Borrowed(event.detail_type()),
            Field::Time => Cow::Borrowed(event.time()),
            Field::Account => Cow::Borrowed(event.account()),
            Field::Region => Cow::Borrowed(event.region()),
            Field::EntityType => Cow::Borrowed(change().entity_type),
            Field::EntityId => Cow::Borrowed(change().entity_id),
            Field::Operation => Cow::Borrowed(change().operation.as_str()),
            Field::Ts => Cow::Owned(change().ts.to_string()),
            Field::Author => Cow::Borrowed(change().author),
            Field::Detail(path) if path.is_empty() => Cow::Borrowed(event.detail()),
            Field::Detail(path) => {
                let raw = crate::json::get_raw_segments(event.detail(), path)
                    .map_err(|error| {
                        PluginError::reject(format!(
                            "event {}: detail is not valid JSON: {error}",
                            event.id()
                        ))
                    })?
                    .ok_or_else(|| {
                        PluginError::reject(format!(
                            "template {:?}: event {} has no detail field {}",
                            self.text,
                            event.id(),
                            path.join(".")
                        ))
                    })?;
                // Strings as they are, other values as compact JSON: only
                // the value found is parsed.
                let value: Value = serde_json::from_str(raw.get()).map_err(|error| {
                    PluginError::reject(format!(
                        "event {}: detail field {} is not valid JSON: {error}",
                        event.id(),
                        path.join(".")
                    ))
                })?;
                match value {
                    Value::String(text) => Cow::Owned(text),
                    other => Cow::Owned(other.to_string()),
                }
            }
        })
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Template {
    type Err = TemplateError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

/// Deserializes from a string and parses it, so a bad template in a rule's
/// config is a config error.
impl<'de> Deserialize<'de> for Template {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Render `template` with the values of `event`; see [`Template`] for the
/// placeholders.
///
/// Parses the template on each call: parse it once into a [`Template`]
/// (e.g. in the plugin's config) where it renders for every event.
///
/// ```
/// # use trailmark_sdk::render;
/// # let batch = trailmark_sdk::testing::Batch::from_json(&[r#"{"id": "e-1", "source": "app",
/// #   "detail-type": "Object State Change", "time": "2026-11-25T10:00:00Z",
/// #   "detail": {"entity-type": "book", "entity-id": 42, "operation": "delete", "ts": 0, "author": "ann"}}"#])?;
/// # let event = batch.event(0);
/// assert_eq!(render("{entity-type} {entity-id} {operation}d by {author}", &event)?, "book 42 deleted by ann");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn render(template: &str, event: &Event<'_>) -> Result<String, PluginError> {
    Template::parse(template)?.render(event)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testing::{BOOK_UPDATE, Batch};

    fn book() -> Batch {
        Batch::from_json(&[BOOK_UPDATE]).expect("sample event parses")
    }

    fn with_detail(detail_type: &str, detail: serde_json::Value) -> Batch {
        let mut batch = Batch::default();
        batch.push_detail(detail_type, &detail.to_string());
        batch
    }

    fn rendered(template: &str) -> String {
        render(template, &book().event(0)).expect("renders")
    }

    #[test]
    fn fills_envelope_and_state_change_placeholders() {
        assert_eq!(
            rendered("{entity-type} {entity-id} {operation}d by {author}"),
            "book 978-0-13-468599-1 updated by bob@example.com"
        );
        assert_eq!(
            rendered("{source}|{detail-type}|{id}|{time}|{ts}|{account}|{region}"),
            "com.example.library|Object State Change|0d1f0c43-7c5e-4a0b-9a3f-2f4f1b6c8e21|\
             2026-11-25T10:30:00Z|1795602600000|123456789012|eu-west-1"
        );
    }

    #[test]
    fn fills_detail_paths_with_strings_raw_and_other_values_as_json() {
        assert_eq!(
            rendered("{detail.data.title}"),
            "The Rust Programming Language"
        );
        assert_eq!(rendered("{detail.data.year}"), "2023");
        assert_eq!(rendered("{detail.data.authors.1}"), "Carol Nichols");
        assert_eq!(
            rendered("{detail.data.authors}"),
            r#"["Steve Klabnik","Carol Nichols"]"#
        );
        assert_eq!(rendered("{detail.entity-type}"), "book");
    }

    #[test]
    fn whole_detail_is_its_text_as_journaled() {
        let batch = Batch::from_json(&[r#"{"id": "e-1", "source": "s", "detail-type": "Note",
            "time": "2026-11-25T10:00:00Z", "detail": { "b" : 2, "a" : 1 }}"#])
        .expect("valid");
        assert_eq!(
            render("{detail}", &batch.event(0)).expect("renders"),
            r#"{ "b" : 2, "a" : 1 }"#
        );
    }

    #[test]
    fn doubled_braces_are_literal() {
        assert_eq!(rendered("{{{entity-type}}} {{x}}"), "{book} {x}");
        assert_eq!(rendered("no placeholders"), "no placeholders");
        assert_eq!(rendered(""), "");
    }

    #[test]
    fn unknown_placeholders_and_bad_braces_fail_to_parse() {
        let unknown = Template::parse("{entity} x").expect_err("unknown");
        assert!(matches!(&unknown, TemplateError::Unknown { name, .. } if name == "entity"));
        assert!(
            unknown
                .to_string()
                .contains("unknown placeholder {entity}; expected {id}")
        );
        assert!(Template::parse("{detail.}").is_err());
        assert!(Template::parse("{detail..a}").is_err());
        assert!(Template::parse("{}").is_err());
        assert!(matches!(
            Template::parse("a {source"),
            Err(TemplateError::Unclosed { at: 2, .. })
        ));
        assert!(matches!(
            Template::parse("a } b"),
            Err(TemplateError::UnmatchedClose { at: 2, .. })
        ));
        let rejected = render("{nope}", &book().event(0)).expect_err("unknown");
        assert!(!rejected.is_retry());
    }

    #[test]
    fn missing_detail_path_rejects_naming_it() {
        let error = render("{detail.data.isbn13}", &book().event(0)).expect_err("absent");
        assert!(!error.is_retry());
        assert!(
            error.message().contains("has no detail field data.isbn13"),
            "{error}"
        );
    }

    #[test]
    fn state_change_placeholders_need_a_state_change() {
        let batch = with_detail("Object State Change", json!({"anything": "else"}));
        let event = batch.event(0);
        assert_eq!(
            render("{source} {detail.anything}", &event).expect("no state change needed"),
            "com.example.library else"
        );
        let error = render("{entity-id}", &event).expect_err("not a state change");
        assert!(
            error.message().contains("`operation` is missing"),
            "{error}"
        );
        let batch = with_detail("Login", json!({"user": "ann"}));
        let error = render("{author}", &batch.event(0)).expect_err("another detail-type");
        assert!(
            error.message().contains("not \"Object State Change\""),
            "{error}"
        );
    }

    #[test]
    fn non_ascii_text_survives() {
        let batch = with_detail("Note", json!({"name": "Zoë ✓"}));
        assert_eq!(
            render("«{detail.name}»", &batch.event(0)).expect("renders"),
            "«Zoë ✓»"
        );
    }

    #[test]
    fn deserializes_and_checks_templates_in_config() {
        #[derive(Debug, Deserialize)]
        struct Settings {
            subject: Template,
        }
        let ok: Settings = crate::Config::new(r#"{"subject": "{author}"}"#)
            .parse()
            .expect("valid");
        assert_eq!(ok.subject.as_str(), "{author}");
        assert!(ok.subject.needs_state_change());
        let bad = crate::Config::new(r#"{"subject": "{autor}"}"#).parse::<Settings>();
        assert!(
            bad.expect_err("typo")
                .to_string()
                .contains("unknown placeholder {autor}")
        );
    }
}
