//! Values of query strings and bodies whose grammar the OpenAPI document
//! states as a pattern, so a client (or a fuzzer) can tell a valid value
//! from an invalid one without calling: times, page cursors and ids. Each
//! reads as the plain value (`#[serde(transparent)]`); the handlers check
//! it as before and answer 400 for what the pattern excludes.

use std::borrow::Cow;

use serde::Deserialize;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

/// The grammar of [`trailmark_backend_api::when::parse_time_ms`]: RFC 3339
/// (what `time` parses), a date, `now`, epoch milliseconds, or a time ago
/// (`15m`, `24h`, `3 hours ago`). Lower case here; the parser also takes
/// upper case, and durations of several parts (`1h30m`).
const TIME: &str = concat!(
    "^([12][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])",
    "(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?",
    "(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9]))?",
    "|now|[0-9]{1,15}",
    "|[0-9]{1,6} ?(ms|s|m|h|d|w|secs?|seconds?|mins?|minutes?|hrs?|hours?|days?|weeks?)( ago)?)$"
);

/// A cursor of the embedded store: hex of `<tag>:<ts>:<event id>`.
const CURSOR_TAIL: &str = "3a(2d)?(3[0-9]){1,18}3a([2-6][0-9a-f]|7[0-9a-e])*$";

fn string_schema(pattern: &str, description: &str, example: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .description(Some(description))
        .examples([example])
        .into()
}

/// A point in time as a query or body gives it: RFC 3339
/// (`2026-11-25T10:00:00Z`), a date, `now`, epoch milliseconds, or a time ago
/// (`24h`, `3 hours ago`).
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct TimeText(pub String);

impl PartialSchema for TimeText {
    fn schema() -> RefOr<Schema> {
        string_schema(
            TIME,
            "RFC 3339 (`2026-11-25T10:00:00Z`), a date (`2026-11-25`, midnight UTC), `now`, epoch \
             milliseconds, or a time ago (`15m`, `24h`, `7d`, `3 hours ago`).",
            "24h",
        )
    }
}

impl ToSchema for TimeText {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Time")
    }
}

/// The `next-cursor` of a `/v1/changes` page, passed back unchanged.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct ChangesCursor(pub String);

impl PartialSchema for ChangesCursor {
    fn schema() -> RefOr<Schema> {
        string_schema(
            &format!("^7631{CURSOR_TAIL}"),
            "The `next-cursor` of the previous page, unchanged (this pattern is the embedded \
             store's; an AWS-backed server's cursors differ).",
            "76313a313733323533333030303030303a6576656e742d31",
        )
    }
}

impl ToSchema for ChangesCursor {}

/// The `next-cursor` of a history page, passed back unchanged.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct HistoryCursor(pub String);

impl PartialSchema for HistoryCursor {
    fn schema() -> RefOr<Schema> {
        string_schema(
            &format!("^6831{CURSOR_TAIL}"),
            "The `next-cursor` of the previous history page, unchanged (the embedded store's \
             pattern; an AWS-backed server's cursors differ).",
            "68313a313733323533333030303030303a6576656e742d31",
        )
    }
}

impl ToSchema for HistoryCursor {}

/// An integer in a JSON body, also when written as a float with no
/// fraction (`7.0`): JSON Schema counts that as an integer, and some
/// clients (Python's, JavaScript's) send it so.
pub fn integer<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64>,
{
    let number = serde_json::Number::deserialize(deserializer)?;
    let whole = match (number.as_i64(), number.as_f64()) {
        (Some(whole), _) => Some(whole),
        (None, Some(float)) if float.fract() == 0.0 && float.abs() < 9.0e15 => Some(float as i64),
        _ => None,
    };
    whole
        .and_then(|w| T::try_from(w).ok())
        .ok_or_else(|| serde::de::Error::custom(format!("{number} is not an integer in range")))
}

/// A list of [`integer`]s.
pub fn integers<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64>,
{
    #[derive(Deserialize)]
    struct One<T: TryFrom<i64>>(#[serde(deserialize_with = "integer")] T);
    Vec::<One<T>>::deserialize(deserializer).map(|all| all.into_iter().map(|One(t)| t).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The patterns hold what the parsers accept (fuzzers generate from
    /// them, so a pattern wider than the parser is a failing run).
    #[test]
    fn time_pattern_examples_parse() {
        let now = trailmark_backend_api::when::now_ms();
        for text in [
            "2026-11-25T10:00:00Z",
            "2026-02-28T23:59:59.123+05:30",
            "0",
            "999999999999999",
            "15m",
            "500ms",
            "999999d",
        ] {
            assert!(
                trailmark_backend_api::when::parse_time_ms(text, now).is_ok(),
                "{text}"
            );
        }
    }

    #[test]
    fn integers_may_be_written_as_whole_floats() {
        #[derive(Deserialize)]
        struct Body {
            #[serde(deserialize_with = "integer")]
            keep: usize,
            #[serde(deserialize_with = "integers")]
            ids: Vec<i64>,
        }
        let body: Body = serde_json::from_str(r#"{"keep": 7.0, "ids": [1, 2.0, -3]}"#).unwrap();
        assert_eq!((body.keep, body.ids), (7, vec![1, 2, -3]));
        for bad in [
            r#"{"keep": 7.5, "ids": []}"#,
            r#"{"keep": -1, "ids": []}"#,
            r#"{"keep": 1, "ids": [1e300]}"#,
            r#"{"keep": "7", "ids": []}"#,
        ] {
            assert!(serde_json::from_str::<Body>(bad).is_err(), "{bad}");
        }
    }
}
