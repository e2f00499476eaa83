//! The native JSON API: `POST /v1/events` and `GET /v1/events/{id}`.
//!
//! `POST /v1/events` (`Content-Type: application/json`) takes one entry or an
//! array of 1..=`max_entries_per_put` entries. An entry uses the kebab-case
//! names of the EventBridge envelope:
//!
//! ```json
//! {"source": "com.example.books", "detail-type": "Object State Change",
//!  "detail": {"entity-type": "book", "entity-id": "42", "operation": "insert"},
//!  "resources": ["arn:..."], "time": "2026-11-25T11:28:21Z"}
//! ```
//!
//! `source`, `detail-type` and `detail` (a JSON object, not text) are
//! required; `resources` and `time` (RFC 3339) are optional. The host assigns
//! `id`, `version`, `account` and `region`: an entry that sets any of them, or
//! any other unknown field, is refused (`invalid-argument`), so a producer
//! never believes it chose an id. The same limits as PutEvents apply.
//!
//! The answer is `{"accepted": n, "failed": n, "entries": [...]}` with one
//! result per entry in request order, `{"id": ".."}` or
//! `{"error": "<code>", "message": ".."}`. A request is taken whole or not
//! at all: HTTP 200 when every entry was accepted; HTTP 400 when any was
//! refused, and then none is (the valid ones answer `not-accepted`), so a
//! producer fixes and resends one request. (PutEvents keeps AWS's
//! per-entry acceptance.) Request-level failures are [`NativeError`]s.
//!
//! `GET /v1/events/{id}` answers the event envelope with `detail` as an
//! object, or 404 `{"error": "not-found", ..}`.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header::RETRY_AFTER};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use trailmark_auth::Principal;
use trailmark_backends::Event;

use super::body::{BodyError, media_type, read_limited, truncate_for_message};
use super::entry::{DetailInput, Draft, EntryError, EntryErrorKind, TimeInput, build_event};
use super::intake::IntakeError;
use super::{IngestState, Shared};

/// Envelope fields the host assigns; producers may not set them.
const HOST_ASSIGNED: [&str; 4] = ["id", "version", "account", "region"];

/// A request-level failure of the native API, answered as
/// `{"error": "<code>", "message": "<text>"}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NativeError {
    /// `Content-Type` is not `application/json`. HTTP 415 `unsupported-media-type`.
    #[error("Content-Type must be application/json{0}")]
    UnsupportedMediaType(String),
    /// The body is larger than the limit. HTTP 413 `payload-too-large`.
    #[error("request body exceeds the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body did not arrive within the body-read timeout. HTTP 408
    /// `request-timeout`.
    #[error("request body was not received within {0:?}")]
    RequestTimeout(std::time::Duration),
    /// The body is not JSON. HTTP 400 `invalid-json`.
    #[error("request body is not valid JSON: {0}")]
    InvalidJson(String),
    /// The body is JSON but not one entry object or an array of 1..=max
    /// entries. HTTP 400 `invalid-request`.
    #[error("{0}")]
    InvalidRequest(String),
    /// The caller may not put these events (their `source`). HTTP 403 `forbidden`.
    #[error("{0}")]
    Forbidden(String),
    /// Backpressure. HTTP 503 `busy`, with `Retry-After: 1`.
    #[error("the host cannot accept more events right now; retry with backoff")]
    Busy,
    /// The journal's disk is full. HTTP 503 `storage-full`, with
    /// `Retry-After: 1`.
    #[error(
        "the host's journal disk is full: nothing of this request was stored; retry with backoff once an operator frees space"
    )]
    StorageFull,
    /// The events could not be made durable, or the lookup failed. HTTP 500
    /// `internal`; the cause is logged, not sent.
    #[error("internal error; the request was not processed")]
    Internal,
    /// No event with this id. HTTP 404 `not-found`.
    #[error("no event with id {0:?}")]
    NotFound(String),
}

impl NativeError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            NativeError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            NativeError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            NativeError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            NativeError::InvalidJson(_) | NativeError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            NativeError::Forbidden(_) => StatusCode::FORBIDDEN,
            NativeError::Busy | NativeError::StorageFull => StatusCode::SERVICE_UNAVAILABLE,
            NativeError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            NativeError::NotFound(_) => StatusCode::NOT_FOUND,
        }
    }

    /// The machine-readable error code.
    pub fn code(&self) -> &'static str {
        match self {
            NativeError::UnsupportedMediaType(_) => "unsupported-media-type",
            NativeError::PayloadTooLarge { .. } => "payload-too-large",
            NativeError::RequestTimeout(_) => "request-timeout",
            NativeError::InvalidJson(_) => "invalid-json",
            NativeError::InvalidRequest(_) => "invalid-request",
            NativeError::Forbidden(_) => "forbidden",
            NativeError::Busy => "busy",
            NativeError::StorageFull => "storage-full",
            NativeError::Internal => "internal",
            NativeError::NotFound(_) => "not-found",
        }
    }
}

impl From<BodyError> for NativeError {
    fn from(error: BodyError) -> Self {
        match error {
            BodyError::TooLarge { limit } => NativeError::PayloadTooLarge { limit },
            BodyError::Timeout(after) => NativeError::RequestTimeout(after),
            BodyError::Read(reason) => NativeError::InvalidRequest(reason),
        }
    }
}

impl From<IntakeError> for NativeError {
    fn from(error: IntakeError) -> Self {
        match error {
            IntakeError::Busy => NativeError::Busy,
            IntakeError::Unavailable(_) => NativeError::Internal,
            IntakeError::StorageFull(_) => NativeError::StorageFull,
        }
    }
}

impl IntoResponse for NativeError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.code(), "message": self.to_string() });
        let mut response = (self.status(), Json(body)).into_response();
        if matches!(self, NativeError::Busy | NativeError::StorageFull) {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if let NativeError::Forbidden(reason) = self {
            response.extensions_mut().insert(super::Refusal(reason));
        }
        response
    }
}

/// One native entry. Unknown fields are refused.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct NativeEntry {
    source: Option<String>,
    detail_type: Option<String>,
    detail: Option<Value>,
    resources: Option<Vec<String>>,
    time: Option<String>,
}

/// The answer to `POST /v1/events`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct PutResponse {
    /// Entries accepted (durable).
    accepted: usize,
    /// Entries refused.
    failed: usize,
    /// One result per entry, in request order.
    entries: Vec<PutResult>,
}

/// One entry's result.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
enum PutResult {
    /// Accepted, with the id the host gave it.
    Accepted {
        /// The event's id.
        id: String,
    },
    /// Refused: `invalid-argument`, `malformed-detail`, `entry-too-large`
    /// or `reserved-source`.
    Failed {
        /// The code.
        error: &'static str,
        /// Why.
        message: String,
    },
}

/// The native error code of a refused entry.
fn entry_code(error: &EntryError) -> &'static str {
    match error.kind {
        EntryErrorKind::InvalidArgument => "invalid-argument",
        EntryErrorKind::MalformedDetail => "malformed-detail",
        EntryErrorKind::TooLarge => "entry-too-large",
        EntryErrorKind::ReservedSource => "reserved-source",
    }
}

/// What `POST /v1/events` answers with 400.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum PutRefused {
    /// No entry accepted: each result says why.
    Entries(PutResponse),
    /// The request itself is bad.
    Request(crate::server::api_error::ApiError),
}

/// Send events in the native JSON shape: one entry or an array of up to
/// the PutEvents limit, taken whole or not at all: durable before the
/// answer, or, when any entry is refused, none accepted (400, each result
/// saying why; the valid ones `not-accepted`).
#[utoipa::path(post, path = "/v1/events", tag = "ingest",
    request_body(content = super::schema::NativeInput, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every entry accepted (durable); one result per entry, with its id.", body = PutResponse),
        (status = 400, description = "Nothing accepted: an entry was refused (each result says why; valid ones say `not-accepted`), or the body is not JSON of this shape (`invalid-json`, `invalid-request`).", body = inline(PutRefused)),
        (status = 403, description = "The token may not put events of this source.", body = crate::server::api_error::ApiError),
        (status = 408, description = "The body did not arrive in time.", body = crate::server::api_error::ApiError),
        (status = 413, description = "The body is over the size limit.", body = crate::server::api_error::ApiError),
        (status = 503, description = "Busy: retry with backoff (`Retry-After`).", body = crate::server::api_error::ApiError),
    ))]
pub(crate) async fn put(
    State(shared): State<Arc<Shared>>,
    principal: Option<Extension<Principal>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, NativeError> {
    let principal = principal.as_ref().map(|Extension(p)| p);
    let result = match shared.admit(principal) {
        Some(_permit) => put_inner(&shared.state, principal, &headers, body).await,
        None => Err(NativeError::Busy),
    };
    if let Err(error) = &result {
        tracing::info!(code = error.code(), error = %error, "native put refused");
    }
    result
}

async fn put_inner(
    state: &IngestState,
    principal: Option<&Principal>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, NativeError> {
    match media_type(headers) {
        Some(media) if media == "application/json" => {}
        Some(media) => {
            return Err(NativeError::UnsupportedMediaType(format!(
                ", got {}",
                truncate_for_message(&media, 100)
            )));
        }
        None => {
            return Err(NativeError::UnsupportedMediaType(
                " (header missing)".to_owned(),
            ));
        }
    }
    let body = read_limited(headers, body, state.limits.max_body_bytes).await?;
    let value: Value =
        serde_json::from_slice(&body).map_err(|e| NativeError::InvalidJson(e.to_string()))?;
    let items = match value {
        Value::Array(items) => items,
        Value::Object(_) => vec![value],
        _ => {
            return Err(NativeError::InvalidRequest(
                "body must be one entry object or an array of entry objects".to_owned(),
            ));
        }
    };
    let max = state.limits.max_entries_per_put;
    if items.is_empty() || items.len() > max {
        return Err(NativeError::InvalidRequest(format!(
            "a request carries 1 to {max} entries, got {}",
            items.len()
        )));
    }

    let mut accepted = Vec::new();
    let mut results = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        match entry_event(item, state) {
            Ok(event) => {
                results.push(PutResult::Accepted {
                    id: event.id.clone(),
                });
                accepted.push(event);
            }
            Err(error) => {
                tracing::debug!(index, code = entry_code(&error), error = %error, "native entry refused");
                results.push(PutResult::Failed {
                    error: entry_code(&error),
                    message: error.to_string(),
                });
            }
        }
    }
    let refused = results.len() - accepted.len();
    if refused > 0 {
        // A request is taken whole or not at all: the valid entries are
        // not journaled either, so a producer resends one request, fixed.
        for result in &mut results {
            if matches!(result, PutResult::Accepted { .. }) {
                *result = PutResult::Failed {
                    error: "not-accepted",
                    message: "another entry of this request was refused, so none was accepted"
                        .to_owned(),
                };
            }
        }
        accepted.clear();
    }
    let accepted_count = accepted.len();
    let failed = results.len() - accepted_count;
    super::check_sources(principal, &accepted).map_err(NativeError::Forbidden)?;
    if !accepted.is_empty() {
        state.intake.submit(accepted).await.map_err(|error| {
            tracing::warn!(error = %error, entries = accepted_count, "intake refused native entries");
            NativeError::from(error)
        })?;
    }
    tracing::info!(accepted = accepted_count, failed, "native put");
    let status = if accepted_count == 0 {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let response = PutResponse {
        accepted: accepted_count,
        failed,
        entries: results,
    };
    Ok((status, Json(response)).into_response())
}

fn entry_event(item: Value, state: &IngestState) -> Result<Event, EntryError> {
    let invalid = |reason: String| EntryError {
        kind: EntryErrorKind::InvalidArgument,
        field: super::entry::Field::Entry,
        reason,
    };
    let Value::Object(map) = &item else {
        return Err(invalid("each entry must be a JSON object".to_owned()));
    };
    if let Some(field) = HOST_ASSIGNED.iter().find(|field| map.contains_key(**field)) {
        return Err(invalid(format!(
            "`{field}` is assigned by the host; producers may not set it"
        )));
    }
    let entry: NativeEntry = serde_json::from_value(item).map_err(|e| invalid(e.to_string()))?;
    let draft = Draft {
        source: entry.source.as_deref(),
        detail_type: entry.detail_type.as_deref(),
        detail: entry.detail.as_ref().map(DetailInput::Value),
        resources: entry.resources.as_deref().unwrap_or_default(),
        time: entry.time.as_deref().map(TimeInput::Rfc3339),
    };
    build_event(draft, state)
}

/// One event by its id, in the EventBridge envelope.
#[utoipa::path(get, path = "/v1/events/{id}", tag = "trail",
    params(("id" = String, Path, description = "The event's id (from PutEvents' `EventId`).")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The event.", body = super::schema::Envelope),
        (status = 404, description = "No event with this id (or it is past retention).", body = crate::server::api_error::ApiError),
        (status = 500, description = "The lookup failed.", body = crate::server::api_error::ApiError),
    ))]
pub(crate) async fn get(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<(Extension<crate::server::access::ResultCount>, Json<Value>), NativeError> {
    match shared.state.intake.get(&id).await {
        Ok(Some(event)) => Ok((
            Extension(crate::server::access::ResultCount(1)),
            Json(envelope(event)),
        )),
        Ok(None) => Err(NativeError::NotFound(truncate_for_message(&id, 100))),
        Err(error) => {
            tracing::warn!(error = %error, "intake lookup failed");
            Err(error.into())
        }
    }
}

/// The event in the EventBridge envelope, `detail` as an object.
fn envelope(event: Event) -> Value {
    let detail = serde_json::from_str(&event.detail).unwrap_or_else(|error| {
        // Ingest only stores object text; keep the text rather than fail.
        tracing::warn!(event_id = %event.id, error = %error, "stored detail is not JSON");
        Value::String(event.detail.clone())
    });
    serde_json::json!({
        "version": event.version,
        "id": event.id,
        "detail-type": event.detail_type,
        "source": event.source,
        "account": event.account,
        "time": event.time,
        "region": event.region,
        "resources": event.resources,
        "detail": detail,
    })
}
