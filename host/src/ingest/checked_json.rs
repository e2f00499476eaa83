//! JSON read and checked as strictly as a parse into `serde_json::Value`
//! (strings decoded, so a lone surrogate escape is refused; numbers in
//! range; nothing after the value), without building one.
//!
//! Ingest keeps an event's `detail` as the text it came in, so what the
//! journal holds, the matcher scans and `archive` stores are the producer's
//! bytes. Checking it costs one pass with no allocation (keys are borrowed
//! unless they hold escapes), where a `Value` round trip allocated every key
//! and value and then wrote the text out again. The same check reads the
//! request fields an operation ignores ([`Checked`]).

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::Deserializer;
use serde::de::{self, Deserialize, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use trailmark_event::JsonKind as Kind;

/// What checking a text found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    /// The kind of the top-level value.
    pub kind: Kind,
    /// Some object, at any depth, names a key twice. A `Value` keeps the
    /// last one; the text keeps both, so the caller decides.
    pub duplicate_keys: bool,
}

/// Check that `text` is one JSON value and say what it is.
pub(crate) fn check(text: &str) -> Result<Shape, serde_json::Error> {
    let mut duplicate_keys = false;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let kind = ValueSeed {
        duplicate_keys: &mut duplicate_keys,
    }
    .deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(Shape {
        kind,
        duplicate_keys,
    })
}

/// A request field an operation accepts and does not keep: read and checked
/// as JSON (see the module docs), then dropped.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Checked;

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut duplicate_keys = false;
        ValueSeed {
            duplicate_keys: &mut duplicate_keys,
        }
        .deserialize(deserializer)?;
        Ok(Checked)
    }
}

/// Reads one value of any kind, recording duplicate keys.
struct ValueSeed<'a> {
    duplicate_keys: &'a mut bool,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Kind;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Kind, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Kind;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Kind, E> {
        Ok(Kind::Bool)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Kind, E> {
        Ok(Kind::Number)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Kind, E> {
        Ok(Kind::Number)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Kind, E> {
        Ok(Kind::Number)
    }

    fn visit_str<E>(self, _: &str) -> Result<Kind, E> {
        Ok(Kind::String)
    }

    fn visit_unit<E>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Kind, A::Error> {
        while seq
            .next_element_seed(ValueSeed {
                duplicate_keys: &mut *self.duplicate_keys,
            })?
            .is_some()
        {}
        Ok(Kind::Array)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Kind, A::Error> {
        let mut seen = SeenKeys::default();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            if !*self.duplicate_keys && !seen.insert(key) {
                *self.duplicate_keys = true;
            }
            map.next_value_seed(ValueSeed {
                duplicate_keys: &mut *self.duplicate_keys,
            })?;
        }
        Ok(Kind::Object)
    }
}

/// Keys up to this many are searched in order: most objects are small, and
/// a list needs no hashing.
const LINEAR_KEYS: usize = 16;

/// The keys of one object seen so far: a short list, then a hash set, so an
/// object with very many keys (a hostile detail) costs linear time, not
/// quadratic.
#[derive(Default)]
struct SeenKeys<'de> {
    few: Vec<Cow<'de, str>>,
    many: HashSet<Cow<'de, str>>,
}

impl<'de> SeenKeys<'de> {
    /// Record `key`; false if it was seen before.
    fn insert(&mut self, key: Cow<'de, str>) -> bool {
        if self.many.is_empty() {
            if self.few.contains(&key) {
                return false;
            }
            if self.few.len() < LINEAR_KEYS {
                self.few.push(key);
                return true;
            }
            self.many.extend(self.few.drain(..));
        }
        self.many.insert(key)
    }
}

/// Reads an object key, borrowed from the text unless it holds escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(key))
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(key.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever `serde_json::Value` accepts, `check` accepts, and the other
    /// way round; the kinds agree.
    #[test]
    fn accepts_and_refuses_what_a_value_parse_does() {
        let cases = [
            r#"{"a":1,"b":[true,null,"x"],"c":{"d":-1.5e3}}"#,
            "  {\"a\" : \"\\u00e9\\n\"}  ",
            "[1,2]",
            "\"text\"",
            "12",
            "null",
            "true",
            r#"{"a":"\ud800"}"#,
            r#"{"a":"\ud83d\ude00"}"#,
            r#"{"\ud800":1}"#,
            r#"{"a":1e400}"#,
            r#"{"a":1} x"#,
            r#"{"a":1,}"#,
            r#"{"a":01}"#,
            "{\"a\":\"\u{1}\"}",
            r#"{"a":1"#,
            "",
            r#"{"a":18446744073709551616}"#,
        ];
        for text in cases {
            let value = serde_json::from_str::<serde_json::Value>(text);
            let shape = check(text);
            assert_eq!(
                value.is_ok(),
                shape.is_ok(),
                "{text:?}: value {value:?}, check {shape:?}"
            );
            if let (Ok(value), Ok(shape)) = (value, shape) {
                assert_eq!(shape.kind, Kind::of(&value), "{text:?}");
            }
        }
    }

    #[test]
    fn finds_duplicate_keys_at_any_depth() {
        let found = |text: &str| check(text).expect("valid").duplicate_keys;
        assert!(!found(r#"{"a":1,"b":{"a":2}}"#));
        assert!(found(r#"{"a":1,"a":2}"#));
        assert!(found(r#"{"x":[{"k":1,"k":1}]}"#));
        // The same key, once escaped: still the same key.
        assert!(found(r#"{"é":1,"\u00e9":2}"#));
        // Past the short list, in the hash set: found all the same.
        let many: Vec<String> = (0..40).map(|i| format!("\"k{i}\":{i}")).collect();
        let distinct = format!("{{{}}}", many.join(","));
        assert!(!found(&distinct));
        let repeated = format!("{{{},\"k3\":0}}", many.join(","));
        assert!(found(&repeated));
    }

    #[test]
    fn checked_fields_refuse_what_a_value_parse_refuses() {
        #[derive(serde::Deserialize)]
        struct Request {
            #[serde(rename = "Other")]
            _other: Option<Checked>,
        }
        assert!(serde_json::from_str::<Request>(r#"{"Other":{"a":[1,"x"]}}"#).is_ok());
        assert!(serde_json::from_str::<Request>(r#"{"Other":"\udc00"}"#).is_err());
    }
}
