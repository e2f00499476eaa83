//! [`AuthFailure`]: why a request was not let in, as an HTTP status, an AWS
//! error code and a message a person can act on.

use std::fmt;
use std::time::Duration;

/// Why a request was refused. The messages never contain a secret: tokens,
/// secret keys and unrecognised `Authorization` values are not repeated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthFailure {
    /// No `Authorization` header.
    #[error(
        "missing credentials: send `Authorization: Bearer <token>` or sign the request \
         with AWS Signature Version 4"
    )]
    MissingCredentials,
    /// An `Authorization` header that cannot be read.
    #[error("malformed Authorization header: {reason}")]
    Malformed {
        /// What is wrong with it.
        reason: String,
    },
    /// A scheme or form of authentication Trailmark does not accept.
    #[error("unsupported authentication: {what}")]
    UnsupportedScheme {
        /// What was presented and what to use instead.
        what: String,
    },
    /// A bearer token that matches no configured token hash.
    #[error("unknown token: it matches no configured token")]
    UnknownToken,
    /// A SigV4 access key id that is not configured.
    #[error("unknown access key {key_id:?}")]
    UnknownAccessKey {
        /// The access key id from the credential scope (not a secret), as
        /// [`crate::printable`] makes it: at most 64 characters, controls
        /// escaped, since the client chose every byte of it.
        key_id: String,
    },
    /// The SigV4 credential scope names a service or region this server
    /// does not answer for.
    #[error("{reason}")]
    CredentialScope {
        /// Which part, what was sent and what is accepted.
        reason: String,
    },
    /// The SigV4 signature does not match the request.
    #[error(
        "signature mismatch: the signature we calculated does not match the one provided; \
         check the secret key and that the request was not changed after signing"
    )]
    SignatureMismatch,
    /// `x-amz-date` is too far from the server's clock (replay window).
    #[error(
        "request time {request_time} is {} {}; the allowed clock skew is {}",
        human(*offset),
        if *in_future { "in the future" } else { "in the past" },
        human(*allowed)
    )]
    RequestTimeOutsideWindow {
        /// The `x-amz-date` value.
        request_time: String,
        /// How far it is from the server's clock.
        offset: Duration,
        /// Whether it is ahead of the server's clock.
        in_future: bool,
        /// The configured allowed skew.
        allowed: Duration,
    },
    /// The body does not match the signed payload hash.
    #[error("payload hash mismatch: {reason}")]
    PayloadHashMismatch {
        /// What was presented.
        reason: String,
    },
    /// Authenticated, but not allowed to do this.
    #[error("access denied: {principal} may not use {what}")]
    AccessDenied {
        /// The principal's name.
        principal: String,
        /// What was refused (a scope, a source).
        what: String,
    },
}

impl AuthFailure {
    pub(crate) fn malformed(reason: impl Into<String>) -> Self {
        Self::Malformed {
            reason: reason.into(),
        }
    }

    /// The HTTP status: 401 when the caller is not identified (missing,
    /// malformed, unsupported or unknown credentials), 403 when it is
    /// identified but the proof is wrong or stale, or it lacks permission.
    pub fn status(&self) -> u16 {
        match self {
            Self::MissingCredentials
            | Self::Malformed { .. }
            | Self::UnsupportedScheme { .. }
            | Self::UnknownToken
            | Self::UnknownAccessKey { .. } => 401,
            Self::SignatureMismatch
            | Self::RequestTimeOutsideWindow { .. }
            | Self::PayloadHashMismatch { .. }
            | Self::CredentialScope { .. }
            | Self::AccessDenied { .. } => 403,
        }
    }

    /// The error code AWS JSON-protocol services (EventBridge among them)
    /// send for the same failure, for the `__type` of a PutEvents error.
    ///
    /// AWS answers a bad or expired signature with
    /// `InvalidSignatureException` on JSON services (EventBridge, DynamoDB);
    /// `SignatureDoesNotMatch` belongs to the query/XML services (S3, STS),
    /// so it is not used here.
    pub fn aws_code(&self) -> &'static str {
        match self {
            Self::MissingCredentials => "MissingAuthenticationTokenException",
            Self::Malformed { .. } | Self::UnsupportedScheme { .. } => {
                "IncompleteSignatureException"
            }
            Self::UnknownToken | Self::UnknownAccessKey { .. } => "UnrecognizedClientException",
            Self::SignatureMismatch
            | Self::RequestTimeOutsideWindow { .. }
            | Self::PayloadHashMismatch { .. }
            | Self::CredentialScope { .. } => "InvalidSignatureException",
            Self::AccessDenied { .. } => "AccessDeniedException",
        }
    }
}

/// A duration as `1h 2m 3s` (whole seconds; `0s` when under one).
fn human(d: Duration) -> impl fmt::Display {
    struct Human(u64);
    impl fmt::Display for Human {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let (h, m, s) = (self.0 / 3600, self.0 / 60 % 60, self.0 % 60);
            let mut parts = Vec::new();
            if h > 0 {
                parts.push(format!("{h}h"));
            }
            if m > 0 {
                parts.push(format!("{m}m"));
            }
            if s > 0 || parts.is_empty() {
                parts.push(format!("{s}s"));
            }
            f.write_str(&parts.join(" "))
        }
    }
    Human(d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_message_says_by_how_much_and_the_allowed_skew() {
        let failure = AuthFailure::RequestTimeOutsideWindow {
            request_time: "20150830T123600Z".into(),
            offset: Duration::from_secs(3723),
            in_future: false,
            allowed: Duration::from_secs(300),
        };
        assert_eq!(
            failure.to_string(),
            "request time 20150830T123600Z is 1h 2m 3s in the past; the allowed clock skew is 5m"
        );
        assert_eq!(failure.status(), 403);
        assert_eq!(failure.aws_code(), "InvalidSignatureException");
    }

    #[test]
    fn statuses_split_unidentified_from_refused() {
        assert_eq!(AuthFailure::MissingCredentials.status(), 401);
        assert_eq!(
            AuthFailure::MissingCredentials.aws_code(),
            "MissingAuthenticationTokenException"
        );
        assert_eq!(AuthFailure::UnknownToken.status(), 401);
        assert_eq!(
            AuthFailure::UnknownToken.aws_code(),
            "UnrecognizedClientException"
        );
        assert_eq!(
            AuthFailure::malformed("x").aws_code(),
            "IncompleteSignatureException"
        );
        assert_eq!(AuthFailure::SignatureMismatch.status(), 403);
        assert_eq!(human(Duration::from_millis(400)).to_string(), "0s");
        assert_eq!(human(Duration::from_secs(7200)).to_string(), "2h");
    }
}
