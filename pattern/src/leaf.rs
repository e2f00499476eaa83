//! [`Leaf`]: one scalar event value, borrowed from a `serde_json::Value` or decoded from
//! raw bytes, in the form conditions test.

use crate::values::{NumKey, numeric_value};
use serde_json::{Number, Value};
use std::borrow::Cow;

/// A scalar event value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Leaf<'a> {
    Str(Cow<'a, str>),
    /// By-value identity, and the value for `numeric` when inside the supported range.
    Num(NumKey, Option<f64>),
    Bool(bool),
    Null,
}

impl<'a> Leaf<'a> {
    /// The leaf for a scalar JSON value; `None` for arrays and objects.
    pub(crate) fn of(v: &'a Value) -> Option<Leaf<'a>> {
        Some(match v {
            Value::String(s) => Leaf::Str(Cow::Borrowed(s)),
            Value::Number(n) => Leaf::number(n),
            Value::Bool(b) => Leaf::Bool(*b),
            Value::Null => Leaf::Null,
            Value::Array(_) | Value::Object(_) => return None,
        })
    }

    pub(crate) fn number(n: &Number) -> Leaf<'static> {
        Leaf::Num(NumKey::of(n), numeric_value(n))
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Leaf::Str(s) => Some(s),
            _ => None,
        }
    }
}
