//! Naming a JSON value's type in error messages.

use serde_json::Value;

/// The JSON type of `value` with its article, for error messages:
/// `null`, `a boolean`, `a number`, `a string`, `an array`, `an object`.
pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
