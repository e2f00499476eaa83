//! An EventBridge envelope as correlation reads it: a value by dot path,
//! and its event time.

use std::borrow::Cow;

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use trailmark_correlate::{Fields, Millis};

use crate::timespec::to_ms;

/// Where event time is read first: the detail's `ts`.
pub const DEFAULT_TIME_PATH: &str = "detail.ts";

/// An envelope's fields by dot path (`detail.author`, `source`). A string
/// is its text; a number or boolean its JSON text; an object, a list or
/// null is no value (a group needs one value to be placed).
pub struct JsonFields<'a>(pub &'a Value);

impl JsonFields<'_> {
    fn at(&self, path: &str) -> Option<&Value> {
        path.split('.').try_fold(self.0, |v, key| v.get(key))
    }
}

impl Fields for JsonFields<'_> {
    fn field(&self, path: &str) -> Option<Cow<'_, str>> {
        match self.at(path)? {
            Value::String(s) => Some(Cow::Borrowed(s)),
            v @ (Value::Number(_) | Value::Bool(_)) => Some(Cow::Owned(v.to_string())),
            _ => None,
        }
    }
}

/// An envelope's event time in epoch milliseconds: the value at
/// `time_path` (epoch milliseconds, or RFC 3339 text) when it has one,
/// else the envelope's `time`; `None` when neither is a time.
pub fn event_time(envelope: &Value, time_path: &str) -> Option<Millis> {
    let fields = JsonFields(envelope);
    fields
        .at(time_path)
        .and_then(time_of)
        .or_else(|| envelope.get("time").and_then(time_of))
}

fn time_of(v: &Value) -> Option<Millis> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => OffsetDateTime::parse(s, &Rfc3339).ok().map(to_ms),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_are_read_by_dot_path_as_text() {
        let e = json!({"source": "s", "detail": {"author": "a", "n": 3, "ok": true, "o": {}, "x": null}});
        let f = JsonFields(&e);
        assert_eq!(f.field("source").as_deref(), Some("s"));
        assert_eq!(f.field("detail.author").as_deref(), Some("a"));
        assert_eq!(f.field("detail.n").as_deref(), Some("3"));
        assert_eq!(f.field("detail.ok").as_deref(), Some("true"));
        assert_eq!(f.field("detail.o"), None);
        assert_eq!(f.field("detail.x"), None);
        assert_eq!(f.field("detail.missing"), None);
    }

    #[test]
    fn event_time_is_the_detail_ts_else_the_envelope_time() {
        let e = json!({"time": "2026-01-01T00:00:00Z", "detail": {"ts": 1000}});
        assert_eq!(event_time(&e, DEFAULT_TIME_PATH), Some(1000));
        let e = json!({"time": "2026-01-01T00:00:00Z", "detail": {"ts": "1970-01-01T00:00:02Z"}});
        assert_eq!(event_time(&e, DEFAULT_TIME_PATH), Some(2000));
        let e = json!({"time": "1970-01-01T00:00:03Z", "detail": {}});
        assert_eq!(event_time(&e, DEFAULT_TIME_PATH), Some(3000));
        let e = json!({"time": "1970-01-01T00:00:03Z", "detail": {"at": 7}});
        assert_eq!(event_time(&e, "detail.at"), Some(7));
        assert_eq!(event_time(&json!({"detail": {}}), DEFAULT_TIME_PATH), None);
    }
}
