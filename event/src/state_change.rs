//! The `Object State Change` detail: one change to one entity.

use std::fmt;
use std::str::FromStr;

use std::fmt::Formatter;
use std::ops::Range;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::json_kind;

/// What happened to the entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// The entity was created.
    Insert,
    /// The entity was changed.
    Update,
    /// The entity was removed.
    Delete,
}

impl Operation {
    /// The operation as the detail spells it: `insert`, `update` or `delete`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Insert => "insert",
            Self::Update => "update",
            Self::Delete => "delete",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Operation {
    type Err = StateChangeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "insert" => Ok(Self::Insert),
            "update" => Ok(Self::Update),
            "delete" => Ok(Self::Delete),
            other => Err(StateChangeError::Invalid {
                field: "operation",
                problem: format!("is {other:?}; expected \"insert\", \"update\" or \"delete\""),
            }),
        }
    }
}

/// Why a detail is not a valid `Object State Change`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateChangeError {
    /// The detail is not a JSON object.
    #[error(
        "detail is not a JSON object; an Object State Change detail is an object with {FIELDS}"
    )]
    NotAnObject,
    /// A required field is absent (or `null`).
    #[error("detail field `{0}` is missing; an Object State Change detail has {FIELDS}")]
    Missing(&'static str),
    /// The detail is not valid JSON (ingest accepts only JSON objects, so
    /// this means the journal or a test handed over something else).
    #[error("detail is not valid JSON: {0}")]
    Malformed(String),
    /// A field is present with a value of the wrong type or form.
    #[error("detail field `{field}` {problem}")]
    Invalid {
        /// The field, e.g. `ts`.
        field: &'static str,
        /// What is wrong with it and what would be valid.
        problem: String,
    },
}

/// The fields every error message lists, so a producer knows the whole shape.
const FIELDS: &str = "entity-type, entity-id, operation (insert|update|delete), ts \
                      (RFC 3339 or epoch milliseconds), author, and data (optional for delete)";

/// One change to one entity: the typed fields of an `Object State Change`
/// detail, with `data` located in the detail text rather than parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    /// The kind of entity, e.g. `book`.
    pub entity_type: String,
    /// The entity's id; numbers in the detail become their decimal text.
    pub entity_id: String,
    /// What happened to it.
    pub operation: Operation,
    /// When it happened, milliseconds since the Unix epoch.
    pub ts: i64,
    /// Who made the change.
    pub author: String,
    /// Where the JSON text of `data` (the entity's body after the change) is
    /// in the detail text, as a byte range; always present for insert and
    /// update, optional for delete. Read it with [`StateChange::data`].
    pub data: Option<Range<usize>>,
}

impl StateChange {
    /// Parse an `Object State Change` detail from its JSON text.
    ///
    /// - `entity-type`: non-empty string;
    /// - `entity-id`: non-empty string, or a number (kept as its JSON text);
    /// - `operation`: `insert`, `update` or `delete`;
    /// - `ts`: an RFC 3339 string (`2026-11-25T10:30:00Z`, any offset) or an
    ///   integer number of milliseconds since the Unix epoch;
    /// - `author`: non-empty string;
    /// - `data`: any JSON value other than `null`; required unless the
    ///   operation is `delete`. Not parsed beyond finding where it ends.
    ///
    /// Other fields are allowed and skipped; of a field given twice the last
    /// counts, as in a JSON object read into a map.
    pub fn parse(detail: &str) -> Result<Self, StateChangeError> {
        if !detail.trim_start().starts_with('{') {
            return Err(StateChangeError::NotAnObject);
        }
        let fields: Fields<'_> = serde_json::from_str(detail)
            .map_err(|error| StateChangeError::Malformed(error.to_string()))?;
        let operation = required_string(fields.operation, "operation")?.parse::<Operation>()?;
        let data = fields
            .data
            .filter(|raw| raw.get() != "null")
            .map(|raw| offset_in(detail, raw.get()));
        if data.is_none() && operation != Operation::Delete {
            return Err(StateChangeError::Missing("data"));
        }
        Ok(Self {
            entity_type: required_string(fields.entity_type, "entity-type")?,
            entity_id: entity_id(fields.entity_id)?,
            operation,
            ts: ts(fields.ts)?,
            author: required_string(fields.author, "author")?,
            data,
        })
    }

    /// The JSON text of `data` in `detail`, the text this change was parsed
    /// from; `None` for a delete without data.
    pub fn data<'d>(&self, detail: &'d str) -> Option<&'d str> {
        self.data.clone().and_then(|range| detail.get(range))
    }
}

/// The byte range of `part`, a slice of `whole`, within `whole`.
fn offset_in(whole: &str, part: &str) -> Range<usize> {
    let start = (part.as_ptr() as usize).saturating_sub(whole.as_ptr() as usize);
    start..start + part.len()
}

/// The six fields of a detail, as raw JSON borrowed from its text.
#[derive(Default)]
struct Fields<'a> {
    entity_type: Option<&'a RawValue>,
    entity_id: Option<&'a RawValue>,
    operation: Option<&'a RawValue>,
    ts: Option<&'a RawValue>,
    author: Option<&'a RawValue>,
    data: Option<&'a RawValue>,
}

/// Which field a key names.
enum Field {
    EntityType,
    EntityId,
    Operation,
    Ts,
    Author,
    Data,
    Other,
}

impl<'de> de::Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl Visitor<'_> for FieldVisitor {
            type Value = Field;
            fn expecting(&self, f: &mut Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<Field, E> {
                Ok(match name {
                    "entity-type" => Field::EntityType,
                    "entity-id" => Field::EntityId,
                    "operation" => Field::Operation,
                    "ts" => Field::Ts,
                    "author" => Field::Author,
                    "data" => Field::Data,
                    _ => Field::Other,
                })
            }
        }
        deserializer.deserialize_identifier(FieldVisitor)
    }
}

impl<'de: 'a, 'a> de::Deserialize<'de> for Fields<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Fields<'de>, M::Error> {
                let mut fields = Fields::default();
                while let Some(field) = map.next_key::<Field>()? {
                    let slot = match field {
                        Field::EntityType => &mut fields.entity_type,
                        Field::EntityId => &mut fields.entity_id,
                        Field::Operation => &mut fields.operation,
                        Field::Ts => &mut fields.ts,
                        Field::Author => &mut fields.author,
                        Field::Data => &mut fields.data,
                        Field::Other => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    *slot = Some(map.next_value::<&'de RawValue>()?);
                }
                Ok(fields)
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

/// The field `name`, present and not `null`, parsed (these are small).
fn required(raw: Option<&RawValue>, name: &'static str) -> Result<Value, StateChangeError> {
    let value = raw
        .map(|raw| serde_json::from_str::<Value>(raw.get()).unwrap_or(Value::Null))
        .unwrap_or(Value::Null);
    if value.is_null() {
        return Err(StateChangeError::Missing(name));
    }
    Ok(value)
}

/// The field `name` as a non-empty string.
fn required_string(raw: Option<&RawValue>, name: &'static str) -> Result<String, StateChangeError> {
    match required(raw, name)? {
        Value::String(text) if !text.is_empty() => Ok(text),
        Value::String(_) => Err(invalid(
            name,
            "is empty; expected a non-empty string".into(),
        )),
        other => Err(invalid(
            name,
            format!("is {}; expected a string", json_kind(&other)),
        )),
    }
}

fn entity_id(raw: Option<&RawValue>) -> Result<String, StateChangeError> {
    const NAME: &str = "entity-id";
    match required(raw, NAME)? {
        Value::String(text) if !text.is_empty() => Ok(text),
        Value::String(_) => Err(invalid(
            NAME,
            "is empty; expected a non-empty string or a number".into(),
        )),
        Value::Number(number) => Ok(number.to_string()),
        other => Err(invalid(
            NAME,
            format!("is {}; expected a string or a number", json_kind(&other)),
        )),
    }
}

fn ts(raw: Option<&RawValue>) -> Result<i64, StateChangeError> {
    const NAME: &str = "ts";
    const EXPECTED: &str = "expected an RFC 3339 time such as \"2026-11-25T10:30:00Z\" \
                            or integer milliseconds since the Unix epoch";
    match required(raw, NAME)? {
        Value::String(text) => {
            let time = OffsetDateTime::parse(&text, &Rfc3339).map_err(|error| {
                invalid(
                    NAME,
                    format!("{text:?} is not RFC 3339 ({error}); {EXPECTED}"),
                )
            })?;
            let millis = time.unix_timestamp_nanos().div_euclid(1_000_000);
            i64::try_from(millis).map_err(|_| invalid(NAME, format!("{text:?} is out of range")))
        }
        Value::Number(number) => number
            .as_i64()
            .ok_or_else(|| invalid(NAME, format!("is {number}; {EXPECTED}"))),
        other => Err(invalid(
            NAME,
            format!("is {}; {EXPECTED}", json_kind(&other)),
        )),
    }
}

fn invalid(field: &'static str, problem: String) -> StateChangeError {
    StateChangeError::Invalid { field, problem }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn detail() -> Value {
        json!({
            "entity-type": "book",
            "entity-id": "978-0-13-468599-1",
            "operation": "update",
            "ts": "2026-11-25T10:30:00Z",
            "author": "bob@example.com",
            "data": {"title": "Rust"}
        })
    }

    fn with(field: &str, value: Value) -> Value {
        let mut detail = detail();
        detail[field] = value;
        detail
    }

    fn without(field: &str) -> Value {
        let mut detail = detail();
        detail.as_object_mut().expect("object").remove(field);
        detail
    }

    fn error_for(detail: Value) -> String {
        StateChange::parse(&detail.to_string())
            .expect_err("should be invalid")
            .to_string()
    }

    #[test]
    fn parses_a_full_detail() {
        let change = StateChange::parse(&detail().to_string()).expect("valid");
        assert_eq!(change.entity_type, "book");
        assert_eq!(change.entity_id, "978-0-13-468599-1");
        assert_eq!(change.operation, Operation::Update);
        assert_eq!(change.ts, 1_795_602_600_000);
        assert_eq!(change.author, "bob@example.com");
        let text = detail().to_string();
        let change = StateChange::parse(&text).expect("valid");
        assert_eq!(change.data(&text), Some(r#"{"title":"Rust"}"#));
    }

    #[test]
    fn ts_accepts_offsets_fractions_and_epoch_millis() {
        let utc = StateChange::parse(&detail().to_string()).expect("valid").ts;
        let offset = with("ts", json!("2026-11-25T11:30:00.250+01:00"));
        assert_eq!(
            StateChange::parse(&(offset).to_string()).expect("valid").ts,
            utc + 250
        );
        let millis = with("ts", json!(1_795_602_600_123_i64));
        assert_eq!(
            StateChange::parse(&(millis).to_string()).expect("valid").ts,
            1_795_602_600_123
        );
        let before_epoch = with("ts", json!("1969-12-31T23:59:59.999Z"));
        assert_eq!(
            StateChange::parse(&(before_epoch).to_string())
                .expect("valid")
                .ts,
            -1
        );
    }

    #[test]
    fn ts_rejects_other_forms() {
        assert!(error_for(with("ts", json!("yesterday"))).contains("not RFC 3339"));
        assert!(error_for(with("ts", json!(1.5))).contains("integer milliseconds"));
        assert!(error_for(with("ts", json!(true))).contains("is a boolean"));
        assert!(error_for(without("ts")).starts_with("detail field `ts` is missing"));
    }

    #[test]
    fn numeric_entity_ids_become_text() {
        let change = StateChange::parse(&with("entity-id", json!(42)).to_string()).expect("valid");
        assert_eq!(change.entity_id, "42");
        assert!(error_for(with("entity-id", json!(""))).contains("is empty"));
        assert!(error_for(with("entity-id", json!([1]))).contains("is an array"));
    }

    #[test]
    fn operation_must_be_one_of_three() {
        let message = error_for(with("operation", json!("upsert")));
        assert_eq!(
            message,
            "detail field `operation` is \"upsert\"; expected \"insert\", \"update\" or \"delete\""
        );
        assert_eq!("delete".parse::<Operation>(), Ok(Operation::Delete));
        assert_eq!(Operation::Insert.to_string(), "insert");
    }

    #[test]
    fn data_is_optional_only_for_delete() {
        assert!(error_for(without("data")).starts_with("detail field `data` is missing"));
        assert!(error_for(with("data", Value::Null)).contains("`data` is missing"));
        let delete = with("operation", json!("delete"));
        let mut delete = delete.as_object().expect("object").clone();
        delete.remove("data");
        let change = StateChange::parse(&Value::Object(delete).to_string()).expect("valid");
        assert_eq!(change.data, None);
    }

    #[test]
    fn names_each_missing_or_wrong_field() {
        for field in ["entity-type", "author"] {
            assert!(error_for(without(field)).contains(&format!("`{field}` is missing")));
            assert!(error_for(with(field, json!(7))).contains(&format!("`{field}` is a number")));
        }
        assert!(
            error_for(json!(["not", "an", "object"])).starts_with("detail is not a JSON object")
        );
    }

    #[test]
    fn last_of_a_repeated_field_counts_and_escaped_keys_are_read() {
        let text = r#"{"author":"x","entity\u002dtype":"book","entity-id":"1","operation":"insert",
                       "ts":1,"author":"ann","data":1,"data":{"a":[1,2]}}"#;
        let change = StateChange::parse(text).expect("valid");
        assert_eq!(change.author, "ann");
        assert_eq!(change.entity_type, "book");
        assert_eq!(change.data(text), Some(r#"{"a":[1,2]}"#));
        assert!(matches!(
            StateChange::parse("{\"a\":"),
            Err(StateChangeError::Malformed(_))
        ));
    }
}
