//! Turning one producer entry into an [`Event`]: the checks both APIs share,
//! and the fields the host fills in as EventBridge does.

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use trailmark_backends::Event;
use trailmark_event::JsonKind;

use super::IngestState;
use super::checked_json;
use super::limits::{entry_size, json_bytes, text_exceeds_depth, value_depth};

/// One entry as a producer sent it, before any check.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Draft<'a> {
    /// `Source` / `source`.
    pub source: Option<&'a str>,
    /// `DetailType` / `detail-type`.
    pub detail_type: Option<&'a str>,
    /// `Detail` (JSON text) / `detail` (a JSON value).
    pub detail: Option<DetailInput<'a>>,
    /// `Resources` / `resources`.
    pub resources: &'a [String],
    /// `Time` / `time`.
    pub time: Option<TimeInput<'a>>,
}

/// How the producer gave the detail.
#[derive(Debug, Clone, Copy)]
pub(crate) enum DetailInput<'a> {
    /// JSON text, as PutEvents carries it.
    Text(&'a str),
    /// An already parsed value, as the native API carries it.
    Value(&'a Value),
}

/// How the producer gave the time.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TimeInput<'a> {
    /// Seconds since the Unix epoch, possibly fractional (what the AWS SDKs send).
    EpochSeconds(f64),
    /// RFC 3339 text, e.g. `2026-11-25T11:28:21Z` or with an offset.
    Rfc3339(&'a str),
}

/// The entry fields an error can be about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    Source,
    DetailType,
    Detail,
    Time,
    Entry,
}

impl Field {
    /// The field's name in the PutEvents API.
    pub(crate) fn aws_name(self) -> &'static str {
        match self {
            Field::Source => "Source",
            Field::DetailType => "DetailType",
            Field::Detail => "Detail",
            Field::Time => "Time",
            Field::Entry => "Entry",
        }
    }

    /// The field's name in the native API.
    pub(crate) fn native_name(self) -> &'static str {
        match self {
            Field::Source => "source",
            Field::DetailType => "detail-type",
            Field::Detail => "detail",
            Field::Time => "time",
            Field::Entry => "entry",
        }
    }
}

/// What kind of problem an entry has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntryErrorKind {
    /// A field is missing, empty or has a value that is not allowed.
    InvalidArgument,
    /// The detail is not valid JSON, not a JSON object, or nests too deep.
    MalformedDetail,
    /// The entry is larger than [`super::IngestLimits::max_entry_bytes`].
    TooLarge,
    /// The source is reserved (see [`super::is_reserved_source`]).
    ReservedSource,
}

/// Why one entry was refused; the other entries of the request go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {reason}", field.native_name())]
pub(crate) struct EntryError {
    pub kind: EntryErrorKind,
    pub field: Field,
    pub reason: String,
}

impl EntryError {
    fn new(kind: EntryErrorKind, field: Field, reason: impl Into<String>) -> Self {
        Self {
            kind,
            field,
            reason: reason.into(),
        }
    }
}

/// Check one entry and build the event the host will journal.
///
/// Checks run in this order and the first failure is reported: required
/// source and detail type, required detail, entry size, detail nesting depth,
/// detail JSON syntax, detail is an object, time. The host assigns `id`
/// (UUID v4), `version` `"0"`, `account` and `region`; `time` comes from the
/// entry or is now, as RFC 3339 UTC whole seconds. The detail is stored as
/// compact JSON text with the producer's key order.
pub(crate) fn build_event(draft: Draft<'_>, state: &IngestState) -> Result<Event, EntryError> {
    let limits = &state.limits;
    let source = required(draft.source, Field::Source)?;
    if super::is_reserved_source(source) {
        return Err(EntryError::new(
            EntryErrorKind::ReservedSource,
            Field::Source,
            format!(
                "{:?} is reserved: `trailmark` for the host's own records, `aws.*` for AWS services.",
                super::truncate_for_message(source, 64)
            ),
        ));
    }
    let detail_type = required(draft.detail_type, Field::DetailType)?;
    let detail = draft.detail.ok_or_else(|| {
        EntryError::new(
            EntryErrorKind::InvalidArgument,
            Field::Detail,
            "it is required (a JSON object).",
        )
    })?;

    let detail = match detail {
        DetailInput::Text(text) => {
            check_size(draft, source, detail_type, text, limits.max_entry_bytes)?;
            if text_exceeds_depth(text, limits.max_depth) {
                return Err(too_deep(limits.max_depth));
            }
            detail_text(text)?
        }
        DetailInput::Value(value) => {
            require_object(value)?;
            if value_depth(value) > limits.max_depth {
                return Err(too_deep(limits.max_depth));
            }
            let text = value.to_string();
            check_size(draft, source, detail_type, &text, limits.max_entry_bytes)?;
            text
        }
    };

    let time = match draft.time {
        Some(time) => event_time(time)?,
        None => OffsetDateTime::now_utc(),
    };

    Ok(Event {
        id: uuid::Uuid::new_v4().to_string(),
        version: "0".to_owned(),
        source: source.to_owned(),
        detail_type: detail_type.to_owned(),
        time: format_time(time)?,
        account: state.account.clone(),
        region: state.region.clone(),
        resources: draft.resources.to_vec(),
        detail,
    })
}

fn required(value: Option<&str>, field: Field) -> Result<&str, EntryError> {
    match value {
        Some(text) if !text.is_empty() => Ok(text),
        _ => Err(EntryError::new(
            EntryErrorKind::InvalidArgument,
            field,
            "a non-empty value is required.",
        )),
    }
}

fn check_size(
    draft: Draft<'_>,
    source: &str,
    detail_type: &str,
    detail: &str,
    max: usize,
) -> Result<(), EntryError> {
    let size = entry_size(
        draft.time.is_some(),
        source,
        detail_type,
        detail,
        draft.resources,
    );
    if size > max {
        return Err(EntryError::new(
            EntryErrorKind::TooLarge,
            Field::Entry,
            format!(
                "entry size {size} bytes exceeds the limit of {max} bytes \
                 (Source, DetailType, Detail and Resources in UTF-8, plus 14 bytes for Time)."
            ),
        ));
    }
    Ok(())
}

fn too_deep(max: usize) -> EntryError {
    EntryError::new(
        EntryErrorKind::MalformedDetail,
        Field::Detail,
        format!("objects and arrays nest deeper than the limit of {max} levels."),
    )
}

/// The detail as the producer sent it, once checked to be a JSON object,
/// without the whitespace between tokens: what the journal holds, the
/// matcher scans and plugins get are the producer's bytes (numbers and
/// escapes exactly as written, so a 30-digit id stays exact). An object
/// naming a key twice is the exception: it is written out as `serde_json`
/// reads it (the last value of each key), so the matcher, plugins and
/// readers cannot disagree about which value counts.
fn detail_text(text: &str) -> Result<String, EntryError> {
    let malformed = |e: serde_json::Error| {
        EntryError::new(
            EntryErrorKind::MalformedDetail,
            Field::Detail,
            format!("not valid JSON: {e}."),
        )
    };
    let shape = checked_json::check(text).map_err(malformed)?;
    if shape.kind != JsonKind::Object {
        return Err(not_an_object(shape.kind));
    }
    if shape.duplicate_keys {
        let value: Value = serde_json::from_str(text).map_err(malformed)?;
        return Ok(value.to_string());
    }
    Ok(minified(text))
}

/// `text`, valid JSON, without whitespace outside strings.
fn minified(text: &str) -> String {
    let out: Vec<u8> = json_bytes(text)
        .filter(|&(byte, quoted)| quoted || !matches!(byte, b' ' | b'\t' | b'\n' | b'\r'))
        .map(|(byte, _)| byte)
        .collect();
    // Only ASCII whitespace was left out, between tokens of valid UTF-8.
    String::from_utf8(out).expect("removing ASCII whitespace keeps UTF-8 valid")
}

fn require_object(value: &Value) -> Result<(), EntryError> {
    match JsonKind::of(value) {
        JsonKind::Object => Ok(()),
        kind => Err(not_an_object(kind)),
    }
}

fn not_an_object(kind: JsonKind) -> EntryError {
    EntryError::new(
        EntryErrorKind::MalformedDetail,
        Field::Detail,
        format!("must be a JSON object, got {}.", kind.described()),
    )
}

fn invalid_time(reason: impl Into<String>) -> EntryError {
    EntryError::new(EntryErrorKind::InvalidArgument, Field::Time, reason)
}

fn event_time(time: TimeInput<'_>) -> Result<OffsetDateTime, EntryError> {
    match time {
        TimeInput::EpochSeconds(seconds) => {
            // `as` saturates; out-of-range values fail just below.
            let whole = seconds.floor();
            if !whole.is_finite() {
                return Err(invalid_time("not a finite number of seconds."));
            }
            OffsetDateTime::from_unix_timestamp(whole as i64).map_err(|_| {
                invalid_time(format!(
                    "{seconds} seconds since the epoch is out of range."
                ))
            })
        }
        TimeInput::Rfc3339(text) => OffsetDateTime::parse(text, &Rfc3339)
            .map(|time| time.to_offset(time::UtcOffset::UTC))
            .map_err(|e| invalid_time(format!("{text:?} is not an RFC 3339 timestamp ({e})."))),
    }
}

fn format_time(time: OffsetDateTime) -> Result<String, EntryError> {
    let time = time.to_offset(time::UtcOffset::UTC);
    if !(0..=9999).contains(&time.year()) {
        return Err(invalid_time(format!(
            "year {} is outside 0000-9999.",
            time.year()
        )));
    }
    time.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))
    .map_err(|e| invalid_time(format!("cannot be formatted as RFC 3339: {e}.")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{BoxFuture, IngestLimits, Intake, IntakeError};
    use std::sync::Arc;

    struct NoIntake;
    impl Intake for NoIntake {
        fn submit(&self, _: Vec<Event>) -> BoxFuture<'static, Result<(), IntakeError>> {
            Box::pin(async { Err(IntakeError::Busy) })
        }
        fn get(&self, _: &str) -> BoxFuture<'static, Result<Option<Event>, IntakeError>> {
            Box::pin(async { Ok(None) })
        }
    }

    fn state() -> IngestState {
        IngestState {
            intake: Arc::new(NoIntake),
            limits: IngestLimits::default(),
            account: "123456789012".to_owned(),
            region: "eu-west-1".to_owned(),
        }
    }

    fn draft(detail: &str) -> Draft<'_> {
        Draft {
            source: Some("com.example.books"),
            detail_type: Some("Object State Change"),
            detail: Some(DetailInput::Text(detail)),
            resources: &[],
            time: None,
        }
    }

    #[test]
    fn fills_the_envelope_like_eventbridge() {
        let mut d = draft(r#"{ "b" : 1, "a" : [ true, null ] }"#);
        d.time = Some(TimeInput::EpochSeconds(1_764_070_101.75));
        let event = build_event(d, &state()).expect("valid entry");
        assert_eq!(event.version, "0");
        assert_eq!(event.account, "123456789012");
        assert_eq!(event.region, "eu-west-1");
        assert_eq!(event.time, "2025-11-25T11:28:21Z");
        assert_eq!(event.detail, r#"{"b":1,"a":[true,null]}"#);
        let id = uuid::Uuid::parse_str(&event.id).expect("id is a UUID");
        assert_eq!(id.get_version_num(), 4);
    }

    #[test]
    fn the_detail_keeps_the_producers_numbers_and_escapes() {
        let sent =
            r#"{"n": 123456789012345678901234567890, "f": 1.0e2, "s": "\u00e9 \" x", "t": "a  b"}"#;
        let event = build_event(draft(sent), &state()).expect("valid entry");
        assert_eq!(
            event.detail,
            r#"{"n":123456789012345678901234567890,"f":1.0e2,"s":"\u00e9 \" x","t":"a  b"}"#
        );
    }

    #[test]
    fn a_key_named_twice_keeps_its_last_value_everywhere() {
        let event = build_event(draft(r#"{"a": 1, "b": {"c": 2, "c": 3}}"#), &state())
            .expect("valid entry");
        assert_eq!(event.detail, r#"{"a":1,"b":{"c":3}}"#);
    }

    #[test]
    fn rfc3339_time_is_converted_to_utc_seconds() {
        let mut d = draft("{}");
        d.time = Some(TimeInput::Rfc3339("2026-01-02T03:04:05.678+02:00"));
        let event = build_event(d, &state()).expect("valid entry");
        assert_eq!(event.time, "2026-01-02T01:04:05Z");
    }

    #[test]
    fn bad_times_are_invalid_arguments() {
        for time in [
            TimeInput::EpochSeconds(f64::NAN),
            TimeInput::EpochSeconds(1e300),
            TimeInput::Rfc3339("yesterday"),
        ] {
            let mut d = draft("{}");
            d.time = Some(time);
            let error = build_event(d, &state()).expect_err("time is invalid");
            assert_eq!(error.kind, EntryErrorKind::InvalidArgument);
            assert_eq!(error.field, Field::Time);
        }
    }

    #[test]
    fn detail_problems_are_malformed_detail() {
        let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
        let deep = format!(r#"{{"a":{deep}}}"#);
        for text in ["[1]", "\"x\"", "{", "{\"a\":1,}", deep.as_str()] {
            let error = build_event(draft(text), &state()).expect_err(text);
            assert_eq!(error.kind, EntryErrorKind::MalformedDetail, "{text}");
        }
    }

    #[test]
    fn reserved_sources_are_refused() {
        for source in ["trailmark", "aws.s3", "aws.foo"] {
            let mut d = draft("{}");
            d.source = Some(source);
            let error = build_event(d, &state()).expect_err(source);
            assert_eq!(error.kind, EntryErrorKind::ReservedSource, "{source}");
            assert_eq!(error.field, Field::Source);
        }
        for source in ["trailmark.example", "awsome", "com.aws.x", "Trailmark"] {
            let mut d = draft("{}");
            d.source = Some(source);
            assert!(build_event(d, &state()).is_ok(), "{source}");
        }
    }

    #[test]
    fn empty_source_is_refused() {
        let mut d = draft("{}");
        d.source = Some("");
        let error = build_event(d, &state()).expect_err("empty source");
        assert_eq!(error.field, Field::Source);
        assert_eq!(error.reason, "a non-empty value is required.");
    }
}
