//! The `AWSEvents.PutEvents` operation, shaped as the EventBridge API
//! reference documents it.
//!
//! Request: `{"Entries": [{"Source", "DetailType", "Detail", "Resources",
//! "Time", "EventBusName", "TraceHeader"}], "EndpointId"}`. `Time` is epoch
//! seconds (a number, as the SDKs send it) or RFC 3339 text. `EventBusName`,
//! `TraceHeader` and `EndpointId` are accepted and ignored: a Trailmark host
//! has one bus; `EventBusName` and `TraceHeader` must still be strings (or
//! null), else the request is a `SerializationException` as on AWS. Unknown
//! fields are ignored, as AWS does.
//!
//! Response (HTTP 200): `{"FailedEntryCount": n, "Entries": [...]}` with one
//! result per request entry, in request order: `{"EventId": ".."}` or
//! `{"ErrorCode": "..", "ErrorMessage": ".."}`. The valid entries are
//! submitted to the intake together, so they are accepted all or none.

use std::fmt;

use axum::body::Bytes;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use trailmark_auth::Principal;

use super::IngestState;
use super::aws_error::AwsError;
use super::aws_json::parse_request;
use super::checked_json::Checked;
use super::entry::{DetailInput, Draft, EntryError, EntryErrorKind, TimeInput, build_event};

/// The PutEvents request body. `EndpointId` (global endpoints) and unknown
/// fields are accepted and ignored, but read as JSON ([`Checked`]).
///
/// Read by hand rather than with `#[serde(flatten)]`, which buffers every
/// field of the object (each entry's `Detail` included) before reading it
/// again: this is the hottest parse in the host.
#[derive(Debug, Default)]
struct PutEventsRequest {
    entries: Option<Vec<RequestEntry>>,
}

/// One `PutEventsRequestEntry`. `EventBusName`, `TraceHeader` and unknown
/// fields are accepted and ignored (read as JSON).
#[derive(Debug, Default)]
struct RequestEntry {
    source: Option<String>,
    detail_type: Option<String>,
    detail: Option<String>,
    resources: Option<Vec<String>>,
    time: Option<WireTime>,
}

/// The request's fields, named as AWS names them.
#[derive(Deserialize)]
enum RequestField {
    Entries,
    #[serde(other)]
    Other,
}

/// An entry's fields, named as AWS names them.
#[derive(Deserialize)]
enum EntryField {
    Source,
    DetailType,
    Detail,
    Resources,
    Time,
    EventBusName,
    TraceHeader,
    #[serde(other)]
    Other,
}

/// Put the value of field `name` in `slot`, refusing a second one: a request
/// naming a field twice is ambiguous, and an audit trail should not guess.
fn once<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
    map: &mut A,
    slot: &mut Option<Option<T>>,
    name: &'static str,
) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(de::Error::duplicate_field(name));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

impl<'de> Deserialize<'de> for PutEventsRequest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = PutEventsRequest;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a PutEvents request object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = None;
                while let Some(field) = map.next_key()? {
                    match field {
                        RequestField::Entries => once(&mut map, &mut entries, "Entries")?,
                        RequestField::Other => {
                            map.next_value::<Checked>()?;
                        }
                    }
                }
                Ok(PutEventsRequest {
                    entries: entries.flatten(),
                })
            }
        }
        deserializer.deserialize_map(Fields)
    }
}

impl<'de> Deserialize<'de> for RequestEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = RequestEntry;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a PutEvents request entry object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let (mut source, mut detail_type, mut detail) = (None, None, None);
                let (mut resources, mut time) = (None, None);
                while let Some(field) = map.next_key()? {
                    match field {
                        EntryField::Source => once(&mut map, &mut source, "Source")?,
                        EntryField::DetailType => {
                            once(&mut map, &mut detail_type, "DetailType")?;
                        }
                        EntryField::Detail => once(&mut map, &mut detail, "Detail")?,
                        EntryField::Resources => once(&mut map, &mut resources, "Resources")?,
                        EntryField::Time => once(&mut map, &mut time, "Time")?,
                        // Ignored, but a string as documented: AWS refuses
                        // a request whose fields have the wrong JSON type.
                        EntryField::EventBusName | EntryField::TraceHeader => {
                            map.next_value::<Option<String>>()?;
                        }
                        EntryField::Other => {
                            map.next_value::<Checked>()?;
                        }
                    }
                }
                Ok(RequestEntry {
                    source: source.flatten(),
                    detail_type: detail_type.flatten(),
                    detail: detail.flatten(),
                    resources: resources.flatten(),
                    time: time.flatten(),
                })
            }
        }
        deserializer.deserialize_map(Fields)
    }
}

/// `Time` as it may arrive: epoch seconds (what the SDKs send) or text.
#[derive(Debug)]
enum WireTime {
    Seconds(f64),
    Text(String),
}

impl<'de> Deserialize<'de> for WireTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Time;
        impl Visitor<'_> for Time {
            type Value = WireTime;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("epoch seconds (a number) or an RFC 3339 timestamp (a string)")
            }
            fn visit_f64<E: de::Error>(self, seconds: f64) -> Result<WireTime, E> {
                Ok(WireTime::Seconds(seconds))
            }
            fn visit_i64<E: de::Error>(self, seconds: i64) -> Result<WireTime, E> {
                Ok(WireTime::Seconds(seconds as f64))
            }
            fn visit_u64<E: de::Error>(self, seconds: u64) -> Result<WireTime, E> {
                Ok(WireTime::Seconds(seconds as f64))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<WireTime, E> {
                Ok(WireTime::Text(text.to_owned()))
            }
        }
        deserializer.deserialize_any(Time)
    }
}

/// The PutEvents response body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct PutEventsResponse {
    /// Entries refused.
    #[serde(rename = "FailedEntryCount")]
    failed_entry_count: usize,
    /// One result per entry, in request order.
    #[serde(rename = "Entries")]
    entries: Vec<ResultEntry>,
}

/// One `PutEventsResultEntry`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
enum ResultEntry {
    /// Accepted (durable).
    Accepted {
        /// The id the host gave it.
        #[serde(rename = "EventId")]
        event_id: String,
    },
    /// Refused, with AWS's code (`InvalidArgument`, `MalformedDetail`,
    /// `NotAuthorizedForSourceException`).
    Failed {
        /// The code.
        #[serde(rename = "ErrorCode")]
        error_code: &'static str,
        /// Why.
        #[serde(rename = "ErrorMessage")]
        error_message: String,
    },
}

/// The AWS `ErrorCode` for a refused entry.
fn aws_code(error: &EntryError) -> &'static str {
    match error.kind {
        EntryErrorKind::InvalidArgument | EntryErrorKind::TooLarge => "InvalidArgument",
        EntryErrorKind::MalformedDetail => "MalformedDetail",
        EntryErrorKind::ReservedSource => "NotAuthorizedForSourceException",
    }
}

/// The AWS `ErrorMessage` for a refused entry, worded as EventBridge words it.
fn aws_message(error: &EntryError) -> String {
    match error.kind {
        EntryErrorKind::MalformedDetail => format!("Detail is malformed: {}", error.reason),
        EntryErrorKind::ReservedSource => {
            format!("Not authorized for the source. Reason: {}", error.reason)
        }
        EntryErrorKind::InvalidArgument | EntryErrorKind::TooLarge => format!(
            "Parameter {} is not valid. Reason: {}",
            error.field.aws_name(),
            error.reason
        ),
    }
}

/// Run PutEvents on a body that passed the protocol checks.
pub(crate) async fn put_events(
    state: &IngestState,
    principal: Option<&Principal>,
    body: &Bytes,
) -> Result<impl Serialize, AwsError> {
    let request: PutEventsRequest = parse_request("PutEvents", body)?;
    let entries = request.entries.ok_or_else(|| {
        AwsError::Validation(
            "1 validation error detected: Value null at 'entries' failed to satisfy constraint: \
             Member must not be null"
                .to_owned(),
        )
    })?;
    if entries.is_empty() {
        return Err(AwsError::Validation(
            "1 validation error detected: Value '[]' at 'entries' failed to satisfy constraint: \
             Member must have length greater than or equal to 1"
                .to_owned(),
        ));
    }
    let max = state.limits.max_entries_per_put;
    if entries.len() > max {
        return Err(AwsError::Validation(format!(
            "1 validation error detected: Value with {} entries at 'entries' failed to satisfy \
             constraint: Member must have length less than or equal to {max}",
            entries.len()
        )));
    }

    let built: Vec<_> = entries
        .iter()
        .map(|entry| build_event(draft(entry), state))
        .collect();
    let mut accepted = Vec::new();
    let mut results = Vec::with_capacity(built.len());
    for (index, outcome) in built.into_iter().enumerate() {
        match outcome {
            Ok(event) => {
                results.push(ResultEntry::Accepted {
                    event_id: event.id.clone(),
                });
                accepted.push(event);
            }
            Err(error) => {
                tracing::debug!(index, code = aws_code(&error), error = %error, "PutEvents entry refused");
                results.push(ResultEntry::Failed {
                    error_code: aws_code(&error),
                    error_message: aws_message(&error),
                });
            }
        }
    }

    let failed_entry_count = results.len() - accepted.len();
    let accepted_count = accepted.len();
    super::check_sources(principal, &accepted).map_err(AwsError::AccessDenied)?;
    if !accepted.is_empty() {
        state.intake.submit(accepted).await.map_err(|error| {
            tracing::warn!(error = %error, entries = accepted_count, "intake refused PutEvents entries");
            AwsError::from(error)
        })?;
    }
    tracing::info!(
        accepted = accepted_count,
        failed = failed_entry_count,
        "PutEvents"
    );
    Ok(PutEventsResponse {
        failed_entry_count,
        entries: results,
    })
}

fn draft(entry: &RequestEntry) -> Draft<'_> {
    Draft {
        source: entry.source.as_deref(),
        detail_type: entry.detail_type.as_deref(),
        detail: entry.detail.as_deref().map(DetailInput::Text),
        resources: entry.resources.as_deref().unwrap_or_default(),
        time: entry.time.as_ref().map(|time| match time {
            WireTime::Seconds(seconds) => TimeInput::EpochSeconds(*seconds),
            WireTime::Text(text) => TimeInput::Rfc3339(text),
        }),
    }
}
