//! Ingest limits, and the measurements they are checked against.

use serde::Deserialize;
use serde_json::Value;
use trailmark_backend_api::units;

/// Bytes a `Time` counts for in an entry's size, as EventBridge counts it.
const TIME_SIZE: usize = 14;

/// Limits on what one request may carry. [`IngestLimits::default`] gives the
/// Amazon EventBridge values where EventBridge has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestLimits {
    /// Largest entry, in bytes as EventBridge computes entry size (see
    /// [`entry_size`]). EventBridge: 256 KB = 262 144 bytes.
    pub max_entry_bytes: usize,
    /// Most entries in one request. EventBridge: 10. At least one entry is
    /// always required.
    pub max_entries_per_put: usize,
    /// Largest request body in bytes, checked before any parsing.
    pub max_body_bytes: usize,
    /// Deepest nesting of objects and arrays in an event's `detail`
    /// (`{}` is depth 1). JSON parsing itself stops at depth 128, so values
    /// above 127 behave as 127.
    pub max_depth: usize,
    /// Most `POST` requests being read, checked or awaiting the intake at
    /// once; more are answered 503 (`ThrottlingException`) at once, before
    /// their bodies are read. With `max_body_bytes` this bounds the memory
    /// ingest holds for request bodies.
    pub max_in_flight: usize,
    /// Most of those `max_in_flight` requests one principal may hold at once;
    /// more from it are answered 503 (`ThrottlingException`) while other
    /// principals go on. Keeps one credential, e.g. one that stalls its
    /// bodies, from starving every producer.
    pub max_in_flight_per_principal: usize,
}

impl Default for IngestLimits {
    fn default() -> Self {
        Self {
            max_entry_bytes: 256 * 1024,
            max_entries_per_put: 10,
            // Ten entries of 256 KB would be 2.5 MB; EventBridge caps a
            // request's entries at 1 MB, and JSON escaping can double them.
            max_body_bytes: 2 << 20,
            max_depth: 64,
            max_in_flight: 64,
            max_in_flight_per_principal: 16,
        }
    }
}

/// The `[ingest]` section of `trailmark.toml`, deserialized as is
/// (kebab-case keys, every key optional) and checked by
/// [`IngestOptions::check`]. Its defaults are [`IngestLimits::default`]'s.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct IngestOptions {
    /// Largest request body, in bytes (`"2MiB"` by default).
    #[serde(deserialize_with = "units::bytes")]
    pub max_body: u64,
    /// Deepest nesting of a `detail` (64 by default).
    pub max_depth: usize,
    /// Requests one principal may have in flight (16 by default).
    pub max_in_flight_per_principal: usize,
    /// `[ingest.sqs]`: also take events from this SQS queue.
    #[cfg(feature = "aws")]
    pub sqs: Option<trailmark_backends_aws::SqsSourceConfig>,
    /// `[ingest.sqs]` in a build without AWS support: refused by `check`.
    #[cfg(not(feature = "aws"))]
    pub sqs: Option<toml::Table>,
}

impl Default for IngestOptions {
    fn default() -> Self {
        let limits = IngestLimits::default();
        IngestOptions {
            max_body: limits.max_body_bytes as u64,
            max_depth: limits.max_depth,
            max_in_flight_per_principal: limits.max_in_flight_per_principal,
            sqs: None,
        }
    }
}

impl IngestOptions {
    /// Every value in range, or the first key that is not (`(key, why)`).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.max_in_flight_per_principal == 0 {
            return Err(("max-in-flight-per-principal", "must be at least 1".into()));
        }
        if !(1024..=(256 << 20)).contains(&self.max_body) {
            return Err(("max-body", "must be from 1KiB to 256MiB".into()));
        }
        #[cfg(not(feature = "aws"))]
        if self.sqs.is_some() {
            return Err(("sqs", crate::config::WITHOUT_AWS.to_owned()));
        }
        Ok(())
    }

    /// The limits these options set, over [`IngestLimits::default`].
    pub fn limits(&self) -> IngestLimits {
        IngestLimits {
            max_body_bytes: usize::try_from(self.max_body).unwrap_or(usize::MAX),
            max_depth: self.max_depth,
            max_in_flight_per_principal: self.max_in_flight_per_principal,
            ..IngestLimits::default()
        }
    }
}

/// Entry size as EventBridge computes it ("Calculating PutEvents event entry
/// size"): 14 bytes if `Time` is given, plus the UTF-8 bytes of `Source`,
/// `DetailType`, `Detail` and each of `Resources`. JSON syntax and the other
/// fields do not count.
pub fn entry_size(
    has_time: bool,
    source: &str,
    detail_type: &str,
    detail: &str,
    resources: &[String],
) -> usize {
    let time = if has_time { TIME_SIZE } else { 0 };
    time + source.len()
        + detail_type.len()
        + detail.len()
        + resources.iter().map(String::len).sum::<usize>()
}

/// Whether the JSON text nests objects and arrays deeper than `max`.
///
/// Scans the text without parsing or recursion, so it is safe on any input;
/// brackets inside strings do not count. Malformed text is left for the
/// parser to reject.
pub(crate) fn text_exceeds_depth(text: &str, max: usize) -> bool {
    let mut depth = 0usize;
    for (byte, quoted) in json_bytes(text) {
        match byte {
            _ if quoted => {}
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Each byte of JSON text with whether it is inside a string literal (its
/// closing quote included, its opening quote not), so structure can be read
/// off the text in one pass without parsing it.
pub(crate) fn json_bytes(text: &str) -> impl Iterator<Item = (u8, bool)> + '_ {
    let (mut in_string, mut escaped) = (false, false);
    text.bytes().map(move |byte| {
        let quoted = in_string;
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if byte == b'"' {
            in_string = true;
        }
        (byte, quoted)
    })
}

/// Nesting depth of objects and arrays in a parsed value (`{}` is 1, a
/// scalar 0), computed without recursion.
pub(crate) fn value_depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 0usize)];
    while let Some((value, above)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Object(map) => Box::new(map.values()),
            Value::Array(items) => Box::new(items.iter()),
            _ => continue,
        };
        let depth = above + 1;
        deepest = deepest.max(depth);
        stack.extend(children.map(|child| (child, depth)));
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> String {
        format!("{}{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn text_depth_counts_objects_and_arrays_but_not_strings() {
        assert!(!text_exceeds_depth(r#"{"a":[{"b":"[[[[{{{{"}]}"#, 3));
        assert!(text_exceeds_depth(r#"{"a":[{"b":[1]}]}"#, 3));
        assert!(!text_exceeds_depth(r#"{"a":"\"[[[[\\"}"#, 1));
        assert!(!text_exceeds_depth(&nested(64), 64));
        assert!(text_exceeds_depth(&nested(65), 64));
        assert!(!text_exceeds_depth("42", 0));
    }

    #[test]
    fn value_depth_matches_text_depth() {
        for depth in [0usize, 1, 2, 10, 64] {
            let text = if depth == 0 {
                "1".to_owned()
            } else {
                nested(depth)
            };
            let value: Value = serde_json::from_str(&text).expect("test JSON is valid");
            assert_eq!(value_depth(&value), depth, "{text}");
        }
        let value = serde_json::json!({"a": 1, "b": {"c": [1, {"d": {}}]}});
        assert_eq!(value_depth(&value), 5);
    }

    #[test]
    fn entry_size_follows_the_eventbridge_formula() {
        let resources = vec!["arn:a".to_owned(), "é".to_owned()];
        assert_eq!(entry_size(false, "src", "type", "{}", &[]), 9);
        assert_eq!(
            entry_size(true, "src", "type", "{}", &resources),
            9 + 14 + 5 + 2
        );
    }

    #[test]
    fn defaults_are_the_eventbridge_values() {
        let limits = IngestLimits::default();
        assert_eq!(limits.max_entry_bytes, 262_144);
        assert_eq!(limits.max_entries_per_put, 10);
    }
}
