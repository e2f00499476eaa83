//! Dotted paths into JSON values: `data.email`, `data.authors.0`.
//!
//! A path is a `.`-separated list of segments; a segment names an object key,
//! or, on an array, an index. Keys that contain `.` cannot be addressed. Of a
//! key given twice in one object the last counts, as in a parsed [`Value`].
//!
//! [`get_raw`] finds a path in JSON *text* without building a tree: the
//! other values are skipped, not parsed into memory, which is several times
//! cheaper than parsing the whole text into a [`Value`] to read one field.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

/// The value at `path` below `value`, if there is one.
///
/// ```
/// let detail = serde_json::json!({"data": {"authors": ["Ann", "Bo"]}});
/// assert_eq!(trailmark_sdk::json::get(&detail, "data.authors.1"), Some(&"Bo".into()));
/// assert_eq!(trailmark_sdk::json::get(&detail, "data.title"), None);
/// ```
pub fn get<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(value, step)
}

/// The value at `path` below `value`, mutably, if there is one.
pub fn get_mut<'v>(value: &'v mut Value, path: &str) -> Option<&'v mut Value> {
    path.split('.')
        .try_fold(value, |value, segment| match value {
            Value::Object(map) => map.get_mut(segment),
            Value::Array(items) => segment
                .parse::<usize>()
                .ok()
                .and_then(|index| items.get_mut(index)),
            _ => None,
        })
}

/// Remove the value at `path` below `value` and return it. Removing an
/// array element shifts the later elements down.
///
/// ```
/// let mut data = serde_json::json!({"name": "Ann", "email": "ann@example.com"});
/// assert_eq!(trailmark_sdk::json::remove(&mut data, "email"), Some("ann@example.com".into()));
/// assert_eq!(data, serde_json::json!({"name": "Ann"}));
/// ```
pub fn remove(value: &mut Value, path: &str) -> Option<Value> {
    let (parent, last) = match path.rsplit_once('.') {
        Some((parent, last)) => (get_mut(value, parent)?, last),
        None => (value, path),
    };
    match parent {
        Value::Object(map) => map.remove(last),
        Value::Array(items) => {
            let index = last
                .parse::<usize>()
                .ok()
                .filter(|&index| index < items.len())?;
            Some(items.remove(index))
        }
        _ => None,
    }
}

/// The raw JSON text of the value at `path` in the JSON `text`, if there is
/// one; an error if `text` is not JSON.
///
/// ```
/// let detail = r#"{"ts": "2026-11-25T10:30:00Z", "data": {"tags": ["a", "b"]}}"#;
/// let raw = trailmark_sdk::json::get_raw(detail, "data.tags.1")?;
/// assert_eq!(raw.map(|raw| raw.get()), Some(r#""b""#));
/// assert!(trailmark_sdk::json::get_raw(detail, "data.title")?.is_none());
/// # Ok::<(), trailmark_sdk::serde_json::Error>(())
/// ```
pub fn get_raw<'t>(text: &'t str, path: &str) -> Result<Option<&'t RawValue>, serde_json::Error> {
    let segments: Vec<&str> = path.split('.').collect();
    get_raw_segments(text, &segments)
}

/// [`get_raw`] over a path already split into segments.
pub(crate) fn get_raw_segments<'t, S: AsRef<str>>(
    text: &'t str,
    path: &[S],
) -> Result<Option<&'t RawValue>, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let found = Seek(path).deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(found)
}

/// Finds the rest of a path in the value being deserialized, skipping the
/// rest.
struct Seek<'p, S>(&'p [S]);

impl<'de, S: AsRef<str>> DeserializeSeed<'de> for Seek<'_, S> {
    type Value = Option<&'de RawValue>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        match self.0.split_first() {
            None => <&'de RawValue as serde::Deserialize>::deserialize(deserializer).map(Some),
            Some((first, rest)) => deserializer.deserialize_any(Step {
                segment: first.as_ref(),
                rest,
            }),
        }
    }
}

/// One segment of a path, applied to an object (key) or an array (index);
/// any other value has no field.
struct Step<'p, S> {
    segment: &'p str,
    rest: &'p [S],
}

impl<'de, S: AsRef<str>> Visitor<'de> for Step<'_, S> {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut found = None;
        while let Some(matches) = map.next_key_seed(KeyIs(self.segment))? {
            if matches {
                found = map.next_value_seed(Seek(self.rest))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let wanted = self.segment.parse::<usize>().ok();
        let mut found = None;
        let mut index = 0;
        loop {
            if Some(index) == wanted {
                match seq.next_element_seed(Seek(self.rest))? {
                    Some(value) => found = value,
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            index += 1;
        }
        Ok(found)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// Whether an object key is `segment` (escaped keys compare unescaped),
/// without allocating for it.
struct KeyIs<'p>(&'p str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
}

fn step<'v>(value: &'v Value, segment: &str) -> Option<&'v Value> {
    match value {
        Value::Object(map) => map.get(segment),
        Value::Array(items) => segment
            .parse::<usize>()
            .ok()
            .and_then(|index| items.get(index)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn walks_objects_and_arrays() {
        let value = json!({"a": {"b": [10, {"c": true}]}, "x.y": 1});
        assert_eq!(get(&value, "a.b.0"), Some(&json!(10)));
        assert_eq!(get(&value, "a.b.1.c"), Some(&json!(true)));
        assert_eq!(get(&value, "a.b.2"), None);
        assert_eq!(get(&value, "a.b.first"), None);
        assert_eq!(get(&value, "a.b.0.z"), None);
        assert_eq!(
            get(&value, "x.y"),
            None,
            "keys with dots are not addressable"
        );
    }

    #[test]
    fn get_raw_finds_what_get_finds_in_the_text() {
        let text = r#"{"a": {"b": [10, {"c": true}], "s": "x\u00e9"}, "x.y": 1, "n": null,
                       "d": 1, "d": {"e": [ 1, 2 ]}, "a\u002dz": "esc"}"#;
        let value: Value = serde_json::from_str(text).expect("JSON");
        for path in [
            "a.b.0",
            "a.b.1.c",
            "a.b.1",
            "a.b.2",
            "a.b.first",
            "a.b.0.z",
            "x.y",
            "a.s",
            "n",
            "d",
            "d.e.1",
            "a-z",
            "a.s.0",
            "missing.deep",
        ] {
            let raw = get_raw(text, path).expect("JSON");
            let parsed = raw.map(|raw| serde_json::from_str::<Value>(raw.get()).expect("raw JSON"));
            assert_eq!(parsed.as_ref(), get(&value, path), "{path}");
        }
        assert_eq!(
            get_raw(text, "d.e").expect("JSON").map(RawValue::get),
            Some("[ 1, 2 ]")
        );
    }

    #[test]
    fn get_raw_rejects_text_that_is_not_json() {
        assert!(get_raw(r#"{"a": 1"#, "a").is_err());
        assert!(get_raw(r#"{"a": 1} x"#, "a").is_err());
        assert!(get_raw(r#"{"a": tru}"#, "b").is_err());
    }

    #[test]
    fn get_mut_changes_in_place() {
        let mut value = json!({"data": {"ssn": "123"}});
        *get_mut(&mut value, "data.ssn").expect("present") = json!("***");
        assert_eq!(value, json!({"data": {"ssn": "***"}}));
        assert!(get_mut(&mut value, "data.email").is_none());
    }

    #[test]
    fn remove_takes_fields_and_elements() {
        let mut value = json!({"data": {"tags": ["a", "b", "c"], "email": "e"}});
        assert_eq!(remove(&mut value, "data.tags.1"), Some(json!("b")));
        assert_eq!(remove(&mut value, "data.email"), Some(json!("e")));
        assert_eq!(remove(&mut value, "data.email"), None);
        assert_eq!(remove(&mut value, "data.tags.5"), None);
        assert_eq!(remove(&mut value, "nothing.here"), None);
        assert_eq!(value, json!({"data": {"tags": ["a", "c"]}}));
    }
}
