//! The `Object State Change` detail: one change to one entity.

use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

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

/// One change to one entity: the parsed detail of an `Object State Change`.
#[derive(Debug, Clone, PartialEq)]
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
    /// The entity's body after the change; always present for insert and
    /// update, optional for delete.
    pub data: Option<Value>,
}

impl StateChange {
    /// Parse an `Object State Change` detail.
    ///
    /// - `entity-type`: non-empty string;
    /// - `entity-id`: non-empty string, or a number (kept as its JSON text);
    /// - `operation`: `insert`, `update` or `delete`;
    /// - `ts`: an RFC 3339 string (`2026-11-25T10:30:00Z`, any offset) or an
    ///   integer number of milliseconds since the Unix epoch;
    /// - `author`: non-empty string;
    /// - `data`: any JSON value other than `null`; required unless the
    ///   operation is `delete`.
    ///
    /// Other fields are allowed and ignored.
    pub fn from_detail(detail: &Value) -> Result<Self, StateChangeError> {
        let detail = detail.as_object().ok_or(StateChangeError::NotAnObject)?;
        let operation = required_string(detail, "operation")?.parse::<Operation>()?;
        let data = detail.get("data").filter(|data| !data.is_null()).cloned();
        if data.is_none() && operation != Operation::Delete {
            return Err(StateChangeError::Missing("data"));
        }
        Ok(Self {
            entity_type: required_string(detail, "entity-type")?.to_owned(),
            entity_id: entity_id(detail)?,
            operation,
            ts: ts(detail)?,
            author: required_string(detail, "author")?.to_owned(),
            data,
        })
    }
}

/// The field `name`, present and not `null`.
fn required<'a>(
    detail: &'a Map<String, Value>,
    name: &'static str,
) -> Result<&'a Value, StateChangeError> {
    detail
        .get(name)
        .filter(|value| !value.is_null())
        .ok_or(StateChangeError::Missing(name))
}

/// The field `name` as a non-empty string.
fn required_string<'a>(
    detail: &'a Map<String, Value>,
    name: &'static str,
) -> Result<&'a str, StateChangeError> {
    match required(detail, name)? {
        Value::String(text) if !text.is_empty() => Ok(text),
        Value::String(_) => Err(invalid(
            name,
            "is empty; expected a non-empty string".into(),
        )),
        other => Err(invalid(
            name,
            format!("is {}; expected a string", kind(other)),
        )),
    }
}

fn entity_id(detail: &Map<String, Value>) -> Result<String, StateChangeError> {
    const NAME: &str = "entity-id";
    match required(detail, NAME)? {
        Value::String(text) if !text.is_empty() => Ok(text.clone()),
        Value::String(_) => Err(invalid(
            NAME,
            "is empty; expected a non-empty string or a number".into(),
        )),
        Value::Number(number) => Ok(number.to_string()),
        other => Err(invalid(
            NAME,
            format!("is {}; expected a string or a number", kind(other)),
        )),
    }
}

fn ts(detail: &Map<String, Value>) -> Result<i64, StateChangeError> {
    const NAME: &str = "ts";
    const EXPECTED: &str = "expected an RFC 3339 time such as \"2026-11-25T10:30:00Z\" \
                            or integer milliseconds since the Unix epoch";
    match required(detail, NAME)? {
        Value::String(text) => {
            let time = OffsetDateTime::parse(text, &Rfc3339).map_err(|error| {
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
        other => Err(invalid(NAME, format!("is {}; {EXPECTED}", kind(other)))),
    }
}

fn invalid(field: &'static str, problem: String) -> StateChangeError {
    StateChangeError::Invalid { field, problem }
}

/// The JSON type of `value`, for error messages.
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
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
        StateChange::from_detail(&detail)
            .expect_err("should be invalid")
            .to_string()
    }

    #[test]
    fn parses_a_full_detail() {
        let change = StateChange::from_detail(&detail()).expect("valid");
        assert_eq!(change.entity_type, "book");
        assert_eq!(change.entity_id, "978-0-13-468599-1");
        assert_eq!(change.operation, Operation::Update);
        assert_eq!(change.ts, 1_795_602_600_000);
        assert_eq!(change.author, "bob@example.com");
        assert_eq!(change.data, Some(json!({"title": "Rust"})));
    }

    #[test]
    fn ts_accepts_offsets_fractions_and_epoch_millis() {
        let utc = StateChange::from_detail(&detail()).expect("valid").ts;
        let offset = with("ts", json!("2026-11-25T11:30:00.250+01:00"));
        assert_eq!(
            StateChange::from_detail(&offset).expect("valid").ts,
            utc + 250
        );
        let millis = with("ts", json!(1_795_602_600_123_i64));
        assert_eq!(
            StateChange::from_detail(&millis).expect("valid").ts,
            1_795_602_600_123
        );
        let before_epoch = with("ts", json!("1969-12-31T23:59:59.999Z"));
        assert_eq!(
            StateChange::from_detail(&before_epoch).expect("valid").ts,
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
        let change = StateChange::from_detail(&with("entity-id", json!(42))).expect("valid");
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
        let change = StateChange::from_detail(&Value::Object(delete)).expect("valid");
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
}
