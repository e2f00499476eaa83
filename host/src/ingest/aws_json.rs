//! `POST /`: the AWS JSON 1.1 protocol endpoint, dispatching on the
//! `X-Amz-Target` header to one operation.
//!
//! Every operation shares the protocol checks done here, in this order:
//! known target (400 `UnknownOperationException`), content type (415
//! `UnsupportedMediaTypeException`), body size (413 `ValidationException`).
//! The operation then parses the body itself.

use std::sync::Arc;

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header::CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};
use trailmark_auth::Principal;

use super::aws_error::{AMZ_JSON_1_1, AwsError};
use super::body::{media_type, read_limited, truncate_for_message};
use super::checked_json::Checked;
use super::put_events::put_events;
use super::{IngestState, Shared};

/// The operations served on `POST /`, by `X-Amz-Target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsOperation {
    /// `AWSEvents.PutEvents`: see [`super::put_events`].
    PutEvents,
    /// `AWSEvents.TestEventPattern`: see [`super::test_pattern`].
    TestEventPattern,
}

impl AwsOperation {
    /// The operation a target header names, if it is one we serve.
    pub fn from_target(target: &str) -> Option<Self> {
        match target {
            "AWSEvents.PutEvents" => Some(Self::PutEvents),
            "AWSEvents.TestEventPattern" => Some(Self::TestEventPattern),
            _ => None,
        }
    }
}

/// What `POST /` answers with 200, by operation.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum AwsOutput {
    /// `PutEvents`.
    PutEvents(super::put_events::PutEventsResponse),
    /// `TestEventPattern`.
    TestEventPattern(super::test_pattern::TestEventPatternResponse),
}

/// Call one operation on an already checked body. Add new operations here.
async fn dispatch(
    operation: AwsOperation,
    state: &IngestState,
    principal: Option<&Principal>,
    body: &Bytes,
) -> Result<Response, AwsError> {
    match operation {
        AwsOperation::PutEvents => put_events(state, principal, body)
            .await
            .map(aws_json_response),
        AwsOperation::TestEventPattern => {
            super::test_pattern::test_event_pattern(body).map(aws_json_response)
        }
    }
}

/// The AWS JSON 1.1 endpoint: `X-Amz-Target: AWSEvents.PutEvents` (what
/// `aws events put-events --endpoint-url` and every AWS SDK send) or
/// `AWSEvents.TestEventPattern`. Per-entry refusals of PutEvents come back
/// with 200 in the entry's `ErrorCode`.
#[utoipa::path(post, path = "/", tag = "ingest",
    params(("X-Amz-Target" = String, Header, pattern = "^AWSEvents\\.PutEvents$", description = "`AWSEvents.PutEvents`. (`AWSEvents.TestEventPattern` is served too, with the AWS API's TestEventPattern body; OpenAPI describes one body per operation.)", example = "AWSEvents.PutEvents")),
    request_body(content = super::schema::PutEventsInput, content_type = "application/x-amz-json-1.1"),
    security(("sigv4" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "PutEvents: one result per entry. TestEventPattern: whether the pattern matches.", content_type = "application/x-amz-json-1.1", body = inline(AwsOutput)),
        (status = 400, description = "`UnknownOperationException`, `SerializationException`, `ValidationException` or `InvalidEventPatternException`.", content_type = "application/x-amz-json-1.1", body = crate::server::api_error::AwsErrorBody),
        (status = 403, description = "`AccessDeniedException`: this key may not put events of this source.", content_type = "application/x-amz-json-1.1", body = crate::server::api_error::AwsErrorBody),
        (status = 408, description = "`RequestTimeoutException`: the body did not arrive in time.", content_type = "application/x-amz-json-1.1", body = crate::server::api_error::AwsErrorBody),
        (status = 413, description = "`ValidationException`: the body is over the size limit.", content_type = "application/x-amz-json-1.1", body = crate::server::api_error::AwsErrorBody),
        (status = 415, description = "`UnsupportedMediaTypeException`: the body is not `application/x-amz-json-1.1`.", content_type = "application/x-amz-json-1.1", body = crate::server::api_error::AwsErrorBody),
        (status = 503, description = "`ThrottlingException`: retry with backoff (the AWS SDKs do).", content_type = "application/x-amz-json-1.1", body = crate::server::api_error::AwsErrorBody),
    ))]
pub(crate) async fn handle(
    State(shared): State<Arc<Shared>>,
    principal: Option<Extension<Principal>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let principal = principal.as_ref().map(|Extension(p)| p);
    let result = match shared.admit(principal) {
        Some(_permit) => serve(&shared.state, principal, &headers, body).await,
        None => Err(AwsError::Throttling),
    };
    let mut response = match result {
        Ok(response) => response,
        Err(error) => {
            tracing::info!(
                request_id = %request_id,
                code = error.code(),
                status = error.status().as_u16(),
                error = %error,
                "AWS JSON request refused"
            );
            error.into_response()
        }
    };
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-amzn-RequestId", value);
    }
    response
}

async fn serve(
    state: &IngestState,
    principal: Option<&Principal>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, AwsError> {
    let operation = operation(headers)?;
    match media_type(headers) {
        Some(media) if media == AMZ_JSON_1_1 => {}
        Some(media) => {
            return Err(AwsError::UnsupportedMediaType(format!(
                "Content-Type must be {AMZ_JSON_1_1}, got {}.",
                truncate_for_message(&media, 100)
            )));
        }
        None => {
            return Err(AwsError::UnsupportedMediaType(format!(
                "Content-Type must be {AMZ_JSON_1_1}; the header is missing."
            )));
        }
    }
    let body = read_limited(headers, body, state.limits.max_body_bytes).await?;
    dispatch(operation, state, principal, &body).await
}

/// Parse an operation's request body (`name`, e.g. `PutEvents`) in one pass.
///
/// The request types keep the fields they ignore in [`IgnoredFields`], which
/// reads them as JSON values: a body that is not JSON at all (invalid UTF-8 or
/// a lone surrogate escape in a field the operation ignores) is refused like
/// any other, as EventBridge does (fuzz finding F3), without a second parse.
pub(crate) fn parse_request<T: DeserializeOwned>(name: &str, body: &[u8]) -> Result<T, AwsError> {
    serde_json::from_slice(body).map_err(|error| {
        AwsError::Serialization(if error.is_data() {
            format!("The request body is not a valid {name} request: {error}.")
        } else {
            format!("The request body is not a valid {name} request: it is not JSON: {error}.")
        })
    })
}

/// The fields of a request object that an operation accepts and ignores
/// (`EventBusName`, `TraceHeader`, `EndpointId`, unknown ones). Put in a
/// request type as `#[serde(flatten)]`: serde then reads each such field as a
/// JSON value (strings decoded, numbers in range) instead of skipping its
/// bytes unchecked, which is what makes [`parse_request`] refuse non-JSON.
#[derive(Debug, Default)]
pub(crate) struct IgnoredFields;

impl<'de> Deserialize<'de> for IgnoredFields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // serde collected the values for the flattened field; they are
        // checked as every ignored field is, and dropped.
        Checked::deserialize(deserializer)?;
        Ok(IgnoredFields)
    }
}

fn operation(headers: &HeaderMap) -> Result<AwsOperation, AwsError> {
    let Some(target) = headers.get("x-amz-target") else {
        return Err(AwsError::UnknownOperation(
            "Missing X-Amz-Target header; expected AWSEvents.PutEvents.".to_owned(),
        ));
    };
    let target = String::from_utf8_lossy(target.as_bytes());
    AwsOperation::from_target(&target).ok_or_else(|| {
        AwsError::UnknownOperation(format!(
            "Unknown operation X-Amz-Target: {}.",
            truncate_for_message(&target, 100)
        ))
    })
}

/// A 200 response with an AWS JSON 1.1 body.
pub fn aws_json_response(body: impl Serialize) -> Response {
    match serde_json::to_string(&body) {
        Ok(text) => (
            StatusCode::OK,
            [(CONTENT_TYPE, HeaderValue::from_static(AMZ_JSON_1_1))],
            text,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(error = %error, "AWS JSON response could not be serialized");
            AwsError::Internal.into_response()
        }
    }
}
