//! Request-level errors of the EventBridge-compatible endpoint, in the AWS
//! JSON 1.1 error shape the AWS SDKs parse.

use axum::http::{HeaderValue, StatusCode, header::CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

use super::body::BodyError;
use super::intake::IntakeError;

/// Content type of AWS JSON 1.1 requests and responses.
pub const AMZ_JSON_1_1: &str = "application/x-amz-json-1.1";

/// A request-level failure on `POST /`, answered as
/// `{"__type": "<code>", "message": "<text>"}` with the same code in the
/// `x-amzn-ErrorType` header (the AWS SDKs read either).
///
/// Per-entry problems of PutEvents are not errors of this type: they are
/// reported in the entry's `ErrorCode`/`ErrorMessage` with HTTP 200.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AwsError {
    /// No or an unknown `X-Amz-Target`. HTTP 400 `UnknownOperationException`.
    #[error("{0}")]
    UnknownOperation(String),
    /// `Content-Type` is not `application/x-amz-json-1.1`.
    /// HTTP 415 `UnsupportedMediaTypeException`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The body is larger than the configured limit.
    /// HTTP 413 `ValidationException`.
    #[error("Request body exceeds the limit of {limit} bytes.")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body did not arrive within the body-read timeout. HTTP 408
    /// `RequestTimeoutException`.
    #[error("The request body was not received within {0:?}.")]
    RequestTimeout(std::time::Duration),
    /// The body is not JSON, or not JSON of the operation's shape (a field of
    /// the wrong type). HTTP 400 `SerializationException`.
    #[error("{0}")]
    Serialization(String),
    /// The request breaks a constraint of the operation (e.g. number of
    /// entries). HTTP 400 `ValidationException`.
    #[error("{0}")]
    Validation(String),
    /// `TestEventPattern` got a pattern that is not valid. HTTP 400
    /// `InvalidEventPatternException`, naming the JSON path and the reason.
    #[error("Event pattern is not valid. Reason: {0}")]
    InvalidEventPattern(String),
    /// The host is pushing back; retry with backoff. HTTP 503
    /// `ThrottlingException`, which the AWS SDKs classify as a throttling error
    /// and retry.
    #[error("Rate exceeded: the host cannot accept more events right now; retry with backoff.")]
    Throttling,
    /// The journal's disk is full: nothing of the request was stored. HTTP
    /// 503 `ServiceUnavailableException`, which the AWS SDKs retry.
    #[error(
        "The host's journal disk is full: nothing of this request was stored; retry with backoff once an operator frees space."
    )]
    StorageFull,
    /// The caller may not do this (e.g. put an event of another team's
    /// `source`). HTTP 403 `AccessDeniedException`.
    #[error("{0}")]
    AccessDenied(String),
    /// The events could not be made durable. HTTP 500 `InternalException`
    /// (the modeled PutEvents error); the cause is logged, not sent.
    #[error("An internal error occurred; the request was not processed.")]
    Internal,
}

impl AwsError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            AwsError::UnknownOperation(_)
            | AwsError::Serialization(_)
            | AwsError::Validation(_)
            | AwsError::InvalidEventPattern(_) => StatusCode::BAD_REQUEST,
            AwsError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AwsError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            AwsError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            AwsError::AccessDenied(_) => StatusCode::FORBIDDEN,
            AwsError::Throttling | AwsError::StorageFull => StatusCode::SERVICE_UNAVAILABLE,
            AwsError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The AWS error code (`__type`).
    pub fn code(&self) -> &'static str {
        match self {
            AwsError::UnknownOperation(_) => "UnknownOperationException",
            AwsError::UnsupportedMediaType(_) => "UnsupportedMediaTypeException",
            AwsError::PayloadTooLarge { .. } | AwsError::Validation(_) => "ValidationException",
            AwsError::Serialization(_) => "SerializationException",
            AwsError::RequestTimeout(_) => "RequestTimeoutException",
            AwsError::InvalidEventPattern(_) => "InvalidEventPatternException",
            AwsError::AccessDenied(_) => "AccessDeniedException",
            AwsError::Throttling => "ThrottlingException",
            AwsError::StorageFull => "ServiceUnavailableException",
            AwsError::Internal => "InternalException",
        }
    }
}

impl From<BodyError> for AwsError {
    fn from(error: BodyError) -> Self {
        match error {
            BodyError::TooLarge { limit } => AwsError::PayloadTooLarge { limit },
            BodyError::Timeout(after) => AwsError::RequestTimeout(after),
            BodyError::Read(reason) => {
                AwsError::Serialization(format!("The request body could not be read: {reason}"))
            }
        }
    }
}

impl From<IntakeError> for AwsError {
    fn from(error: IntakeError) -> Self {
        match error {
            IntakeError::Busy => AwsError::Throttling,
            IntakeError::Unavailable(_) => AwsError::Internal,
            IntakeError::StorageFull(_) => AwsError::StorageFull,
        }
    }
}

impl IntoResponse for AwsError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "__type": self.code(), "message": self.to_string() });
        let mut response = (self.status(), body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(AMZ_JSON_1_1));
        headers.insert("x-amzn-ErrorType", HeaderValue::from_static(self.code()));
        if let AwsError::AccessDenied(reason) = self {
            response.extensions_mut().insert(super::Refusal(reason));
        }
        response
    }
}
