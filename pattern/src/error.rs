//! Error and diagnostic types: where a pattern is invalid, why an event is unusable,
//! and why an event did not match.

use std::fmt;

/// One step of a JSON path inside a pattern: an object key or an array index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathSegment {
    /// An object member name.
    Key(String),
    /// A position inside a JSON array.
    Index(usize),
}

/// Renders a path as `$.detail.operation[0]`; keys that are not plain identifiers are
/// quoted (`$["a.b"]`) so that `{"a.b": ..}` and `{"a": {"b": ..}}` stay distinguishable.
pub fn display_path(path: &[PathSegment]) -> String {
    let mut out = String::from("$");
    for seg in path {
        match seg {
            PathSegment::Key(k) => {
                let plain = !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_alphanumeric() || c == '-' || c == '_' || c == '$');
                if plain {
                    out.push('.');
                    out.push_str(k);
                } else {
                    out.push('[');
                    out.push_str(&serde_json::Value::String(k.clone()).to_string());
                    out.push(']');
                }
            }
            PathSegment::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }
    out
}

/// An invalid event pattern, in the spirit of EventBridge's `InvalidEventPatternException`:
/// the JSON path of the offending element and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {reason}", display_path(path))]
pub struct PatternError {
    /// Where in the pattern the problem is (empty = the whole pattern).
    pub path: Vec<PathSegment>,
    /// What is wrong and, where it helps, what would be valid.
    pub reason: String,
}

impl PatternError {
    pub(crate) fn new(path: &[PathSegment], reason: impl Into<String>) -> Self {
        PatternError {
            path: path.to_vec(),
            reason: reason.into(),
        }
    }

    /// The path rendered as `$.detail.operation[0]`.
    pub fn path_display(&self) -> String {
        display_path(&self.path)
    }
}

/// An event the matcher cannot use: not JSON, or not a JSON object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid event: {reason}")]
pub struct EventError {
    /// Why the event was rejected.
    pub reason: String,
}

/// Why an event does not match a pattern: the first failing field and its condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// Dotted field path, e.g. `detail.operation`.
    pub path: String,
    /// The condition that failed, e.g. `= "delete"` or `prefix "arn:"`.
    pub condition: String,
    /// The event's value(s) at that path as JSON text, `None` when the field is missing.
    pub found: Option<String>,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.found {
            Some(found) => write!(
                f,
                "field `{}` is {} but the pattern requires {}",
                self.path, found, self.condition
            ),
            None => write!(
                f,
                "field `{}` is missing but the pattern requires {}",
                self.path, self.condition
            ),
        }
    }
}
