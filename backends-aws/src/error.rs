//! Map AWS SDK errors onto [`BackendError`], and the error type of the
//! start-up checks and bootstrap.
//!
//! | failure | [`BackendError`] |
//! |---|---|
//! | throttling codes, HTTP 429, HTTP 5xx, timeouts, dispatch/connection errors, unreadable responses, expired tokens | `Transient` |
//! | access denied, bad or unknown credentials (HTTP 403 without a known code too) | `Denied` |
//! | validation, missing resources, other HTTP 4xx, requests that cannot be built | `Invalid` |

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use trailmark_backend_api::BackendError;

/// A start-up check or a bootstrap step failed for one named resource.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{resource}: {cause}{hint}")]
pub struct ResourceError {
    /// The resource, e.g. ``S3 bucket `acme-audit` (region eu-west-1)``.
    pub resource: String,
    /// What went wrong, classified.
    pub cause: BackendError,
    /// What to do about it, starting with `"; "`, or empty.
    pub hint: String,
}

impl ResourceError {
    /// A failure of `resource`, with a hint chosen by the kind of cause.
    pub(crate) fn new(resource: String, cause: BackendError) -> Self {
        let hint = match &cause {
            BackendError::Denied(_) => {
                "; grant the permissions listed in docs/deploying-on-aws.md to the host's role"
            }
            BackendError::Invalid(msg) if looks_missing(msg) => {
                "; create it with `trailmark aws bootstrap --config FILE` or fix the name"
            }
            BackendError::Invalid(_) => "",
            BackendError::Transient(_) => {
                "; is the endpoint reachable and are credentials configured (AWS_PROFILE, AWS_ACCESS_KEY_ID, an instance role)?"
            }
        };
        ResourceError {
            resource,
            cause,
            hint: hint.to_owned(),
        }
    }
}

fn looks_missing(msg: &str) -> bool {
    ["NotFound", "NoSuch", "does not exist", "HTTP 404"]
        .iter()
        .any(|needle| msg.contains(needle))
}

/// How a failed call should be treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Transient,
    Denied,
    Invalid,
}

impl Class {
    pub(crate) fn into_error(self, message: String) -> BackendError {
        match self {
            Class::Transient => BackendError::Transient(message),
            Class::Denied => BackendError::Denied(message),
            Class::Invalid => BackendError::Invalid(message),
        }
    }
}

const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "ProvisionedThroughputExceededException",
    "RequestTimeout",
    "RequestTimeoutException",
    "SlowDown",
    "PriorRequestNotComplete",
    "TransactionInProgressException",
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "InternalErrorException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "KMSThrottlingException",
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
];

const DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "AuthorizationError",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "MissingAuthenticationToken",
    "IncompleteSignature",
    "KMSAccessDeniedException",
    "KMSDisabledException",
    "AllAccessDisabled",
];

/// Classify a service's answer by its error code, else its HTTP status.
pub(crate) fn classify_response(code: Option<&str>, status: u16) -> Class {
    if let Some(code) = code {
        if TRANSIENT_CODES.contains(&code) {
            return Class::Transient;
        }
        if DENIED_CODES.contains(&code) {
            return Class::Denied;
        }
    }
    match status {
        429 | 500..=599 => Class::Transient,
        401 | 403 => Class::Denied,
        _ => Class::Invalid,
    }
}

/// Classify a per-entry error code (EventBridge PutEvents, SQS batches),
/// which comes without an HTTP status.
pub(crate) fn classify_code(code: &str) -> Class {
    if TRANSIENT_CODES.contains(&code) {
        Class::Transient
    } else if DENIED_CODES.contains(&code) {
        Class::Denied
    } else {
        Class::Invalid
    }
}

/// Turn an SDK error into a [`BackendError`] whose message starts with
/// `what` (the operation and resource, e.g. ``S3 PutObject `bucket/key` ``).
pub(crate) fn sdk_error<E>(what: &str, err: &SdkError<E, HttpResponse>) -> BackendError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(context) => {
            let status = context.raw().status().as_u16();
            let code = err.code();
            let class = classify_response(code, status);
            let detail = match (code, err.message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_owned(),
                (None, Some(message)) => format!("HTTP {status}: {message}"),
                (None, None) => format!("HTTP {status}"),
            };
            class.into_error(format!("{what}: {detail}"))
        }
        SdkError::ConstructionFailure(_) => {
            BackendError::Invalid(format!("{what}: {}", DisplayErrorContext(err)))
        }
        // Timeouts, connection failures (and credential look-ups, which fail
        // in the dispatch phase) and unreadable responses may pass.
        _ => BackendError::Transient(format!("{what}: {}", DisplayErrorContext(err))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_classify_as_transient_denied_or_invalid() {
        use Class::{Denied, Invalid, Transient};
        let cases = [
            // Throttling and server errors may pass.
            (Some("ThrottlingException"), 400, Transient),
            (
                Some("ProvisionedThroughputExceededException"),
                400,
                Transient,
            ),
            (Some("SlowDown"), 503, Transient),
            (None, 500, Transient),
            (Some("Whatever"), 502, Transient),
            (None, 429, Transient),
            // Access problems are denied.
            (Some("AccessDenied"), 403, Denied),
            (Some("AuthorizationError"), 403, Denied),
            (Some("UnrecognizedClientException"), 400, Denied),
            (None, 403, Denied),
            // Validation errors and missing resources are invalid.
            (Some("ValidationException"), 400, Invalid),
            (Some("ResourceNotFoundException"), 400, Invalid),
            (Some("NoSuchBucket"), 404, Invalid),
            (None, 404, Invalid),
        ];
        for (code, status, class) in cases {
            assert_eq!(classify_response(code, status), class, "{code:?} {status}");
        }
    }

    #[test]
    fn entry_codes_classify_without_status() {
        assert_eq!(classify_code("ThrottlingException"), Class::Transient);
        assert_eq!(classify_code("InternalFailure"), Class::Transient);
        assert_eq!(classify_code("AccessDeniedException"), Class::Denied);
        assert_eq!(classify_code("MalformedDetail"), Class::Invalid);
    }

    #[test]
    fn resource_errors_carry_a_hint_by_kind() {
        let missing = ResourceError::new(
            "S3 bucket `b`".into(),
            BackendError::Invalid("S3 HeadBucket `b`: HTTP 404".into()),
        );
        assert!(
            missing.to_string().contains("trailmark aws bootstrap"),
            "{missing}"
        );
        let denied = ResourceError::new("t".into(), BackendError::Denied("x".into()));
        assert!(denied.to_string().contains("permissions"), "{denied}");
    }
}
