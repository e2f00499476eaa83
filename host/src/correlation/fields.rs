//! An event as correlation reads it: a value by dot path, and its event
//! time, from what the host parsed at ingest.
//!
//! The host already holds each event as a [`ParsedEvent`]: the envelope's
//! fields typed, the detail as the JSON text it came as, and for an `Object
//! State Change` the typed fields of the detail. A path is answered from
//! those: an envelope key or a state change's field directly, any other
//! detail path by one scan of the detail text that borrows what it finds.
//! Nothing is serialized or parsed into a tree per event.

use std::borrow::Cow;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use trailmark_correlate::{Fields, Millis};
use trailmark_event::ParsedEvent;

use trailmark_backend_api::when::to_ms;

/// Where event time is read first: the detail's `ts`.
pub const DEFAULT_TIME_PATH: &str = "detail.ts";

/// An event's fields by dot path (`detail.author`, `source`). A string is
/// its text; a number its JSON text (as `serde_json` writes it); a boolean
/// `true` or `false`; an object, a list or null is no value (a group needs
/// one value to be placed).
pub struct EventFields<'a>(pub &'a ParsedEvent);

/// What is at a path.
enum Found<'a> {
    /// Text of the envelope or a state change's typed field.
    Text(&'a str),
    /// A JSON value in the detail text.
    Json(&'a RawValue),
}

impl<'a> EventFields<'a> {
    fn find(&self, path: &str) -> Option<Found<'a>> {
        let event = self.0.event();
        let Some(rest) = path.strip_prefix("detail.") else {
            return match path {
                "id" => Some(Found::Text(&event.id)),
                "version" => Some(Found::Text(&event.version)),
                "source" => Some(Found::Text(&event.source)),
                "detail-type" => Some(Found::Text(&event.detail_type)),
                "time" => Some(Found::Text(&event.time)),
                "account" => Some(Found::Text(&event.account)),
                "region" => Some(Found::Text(&event.region)),
                // `resources` is a list, `detail` an object: no one value.
                _ => None,
            };
        };
        if let Some(Ok(change)) = self.0.change() {
            match rest {
                "entity-type" => return Some(Found::Text(&change.entity_type)),
                "author" => return Some(Found::Text(&change.author)),
                "operation" => return Some(Found::Text(change.operation.as_str())),
                _ => {}
            }
        }
        let mut keys = rest.split('.');
        let mut raw = member(&event.detail, keys.next()?)?;
        for key in keys {
            raw = member(raw.get(), key)?;
        }
        Some(Found::Json(raw))
    }
}

impl Fields for EventFields<'_> {
    fn field(&self, path: &str) -> Option<Cow<'_, str>> {
        match self.find(path)? {
            Found::Text(text) => Some(Cow::Borrowed(text)),
            Found::Json(raw) => text_of(raw),
        }
    }
}

/// A JSON value as a field's text: see [`EventFields`].
fn text_of(raw: &RawValue) -> Option<Cow<'_, str>> {
    let json = raw.get();
    match json.as_bytes().first()? {
        b'"' => serde_json::from_str::<Cow<'_, str>>(json).ok(),
        b't' | b'f' => Some(Cow::Borrowed(json)),
        b'-' | b'0'..=b'9' => serde_json::from_str::<serde_json::Number>(json)
            .ok()
            .map(|n| Cow::Owned(n.to_string())),
        _ => None,
    }
}

/// The value of `key` in the JSON object `json` (the last, when it is given
/// twice, as when the object is read into a map); `None` when `json` is not
/// an object or has no such key.
fn member<'a>(json: &'a str, key: &str) -> Option<&'a RawValue> {
    if !json.trim_start().starts_with('{') {
        return None;
    }
    let mut de = serde_json::Deserializer::from_str(json);
    Member { key }.deserialize(&mut de).ok().flatten()
}

/// Finds one key of an object, skipping the others' values unparsed.
struct Member<'k> {
    key: &'k str,
}

impl<'de> DeserializeSeed<'de> for Member<'_> {
    type Value = Option<&'de RawValue>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Member<'_> {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == self.key {
                found = Some(map.next_value::<&'de RawValue>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// An event's time in epoch milliseconds: the value at `time_path` (epoch
/// milliseconds, or RFC 3339 text) when it has one, else the envelope's
/// `time`; `None` when neither is a time. A state change's `ts` was parsed
/// at ingest and is taken as it is.
pub fn event_time(event: &ParsedEvent, time_path: &str) -> Option<Millis> {
    let typed = match event.change() {
        Some(Ok(change)) if time_path == DEFAULT_TIME_PATH => Some(change.ts),
        _ => None,
    };
    typed
        .or_else(|| match EventFields(event).find(time_path)? {
            Found::Text(text) => rfc3339(text),
            Found::Json(raw) => time_of(raw),
        })
        .or_else(|| rfc3339(&event.event().time))
}

fn time_of(raw: &RawValue) -> Option<Millis> {
    let json = raw.get();
    if json.starts_with('"') {
        rfc3339(&serde_json::from_str::<Cow<'_, str>>(json).ok()?)
    } else {
        serde_json::from_str::<i64>(json).ok()
    }
}

fn rfc3339(text: &str) -> Option<Millis> {
    OffsetDateTime::parse(text, &Rfc3339).ok().map(to_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use trailmark_backends::Event;

    fn event(detail_type: &str, time: &str, detail: &str) -> ParsedEvent {
        ParsedEvent::new(Event {
            id: "e-1".into(),
            version: "0".into(),
            source: "s".into(),
            detail_type: detail_type.into(),
            time: time.into(),
            account: "123456789012".into(),
            region: "eu-west-1".into(),
            resources: vec!["r".into()],
            detail: detail.into(),
        })
    }

    #[test]
    fn fields_are_read_by_dot_path_as_text() {
        let e = event(
            "Note",
            "2026-01-01T00:00:00Z",
            r#"{"author": "a", "n": 3, "f": 1.5, "ok": true, "o": {"deep": {"k": "v"}},
                "x": null, "l": [1], "esc": "a\"b", "dup": 1, "dup": 2}"#,
        );
        let f = EventFields(&e);
        assert_eq!(f.field("source").as_deref(), Some("s"));
        assert_eq!(f.field("account").as_deref(), Some("123456789012"));
        assert_eq!(f.field("region").as_deref(), Some("eu-west-1"));
        assert_eq!(f.field("resources"), None);
        assert_eq!(f.field("detail.author").as_deref(), Some("a"));
        assert_eq!(f.field("detail.n").as_deref(), Some("3"));
        assert_eq!(f.field("detail.f").as_deref(), Some("1.5"));
        assert_eq!(f.field("detail.ok").as_deref(), Some("true"));
        assert_eq!(f.field("detail.o.deep.k").as_deref(), Some("v"));
        assert_eq!(f.field("detail.esc").as_deref(), Some("a\"b"));
        assert_eq!(f.field("detail.dup").as_deref(), Some("2"));
        for none in [
            "detail.o",
            "detail.x",
            "detail.l",
            "detail.missing",
            "detail.author.below",
            "detail",
            "nowhere",
        ] {
            assert_eq!(f.field(none), None, "{none}");
        }
    }

    #[test]
    fn a_state_change_is_read_from_its_typed_fields() {
        let e = event(
            trailmark_event::STATE_CHANGE,
            "2026-01-01T00:00:00Z",
            r#"{"entity-type": "book", "entity-id": 7, "operation": "delete",
                "ts": "1970-01-01T00:00:05Z", "author": "mallory", "extra": {"k": "v"}}"#,
        );
        assert!(matches!(e.change(), Some(Ok(_))));
        let f = EventFields(&e);
        assert_eq!(f.field("detail.author").as_deref(), Some("mallory"));
        assert_eq!(f.field("detail.operation").as_deref(), Some("delete"));
        assert_eq!(f.field("detail.entity-type").as_deref(), Some("book"));
        assert_eq!(f.field("detail.entity-id").as_deref(), Some("7"));
        assert_eq!(f.field("detail.extra.k").as_deref(), Some("v"));
        assert_eq!(event_time(&e, DEFAULT_TIME_PATH), Some(5000));
    }

    #[test]
    fn event_time_is_the_detail_ts_else_the_envelope_time() {
        let at = |detail: &str, path: &str| {
            event_time(&event("Note", "1970-01-01T00:00:03Z", detail), path)
        };
        assert_eq!(at(r#"{"ts": 1000}"#, DEFAULT_TIME_PATH), Some(1000));
        assert_eq!(
            at(r#"{"ts": "1970-01-01T00:00:02Z"}"#, DEFAULT_TIME_PATH),
            Some(2000)
        );
        assert_eq!(at("{}", DEFAULT_TIME_PATH), Some(3000));
        assert_eq!(at(r#"{"ts": "soon"}"#, DEFAULT_TIME_PATH), Some(3000));
        assert_eq!(at(r#"{"at": 7}"#, "detail.at"), Some(7));
        assert_eq!(at("{}", "time"), Some(3000));
        let no_time = event("Note", "", "{}");
        assert_eq!(event_time(&no_time, DEFAULT_TIME_PATH), None);
    }
}
