//! What a plugin returns when it fails, and how host capability errors map to it.

use crate::bindings::trailmark::plugin::types;

/// Why a plugin could not handle an event; decides what the host does next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginError {
    /// Transient: the host retries the delivery with backoff, within the
    /// rule's `retry` policy, then dead-letters it.
    #[error("retry: {0}")]
    Retry(String),
    /// Permanent: the delivery goes to the dead-letter store at once.
    #[error("reject: {0}")]
    Reject(String),
}

impl PluginError {
    /// A transient failure: the host should try again later.
    pub fn retry(message: impl Into<String>) -> Self {
        Self::Retry(message.into())
    }

    /// A permanent failure: retrying the same event cannot succeed.
    pub fn reject(message: impl Into<String>) -> Self {
        Self::Reject(message.into())
    }

    /// The message, without saying whether it is a retry or a reject.
    pub fn message(&self) -> &str {
        match self {
            Self::Retry(message) | Self::Reject(message) => message,
        }
    }

    /// Whether the host will retry the delivery.
    pub fn is_retry(&self) -> bool {
        matches!(self, Self::Retry(_))
    }

    /// The same error with `context: ` put in front of its message.
    pub fn context(self, context: impl std::fmt::Display) -> Self {
        match self {
            Self::Retry(message) => Self::Retry(format!("{context}: {message}")),
            Self::Reject(message) => Self::Reject(format!("{context}: {message}")),
        }
    }
}

impl PluginError {
    /// The WIT outcome that answers a delivery with `result`.
    pub(crate) fn outcome(result: Result<(), PluginError>) -> types::Outcome {
        match result {
            Ok(()) => types::Outcome::Ok,
            Err(PluginError::Retry(message)) => types::Outcome::Retry(message),
            Err(PluginError::Reject(message)) => types::Outcome::Reject(message),
        }
    }
}

/// Why a host capability call failed (the WIT `host-error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// The rule did not grant this capability or resource.
    #[error("denied: {0}")]
    Denied(String),
    /// A transient backend failure (throttling, timeout, 5xx).
    #[error("transient failure: {0}")]
    Transient(String),
    /// The request itself is invalid (bad key, oversized body, unknown channel).
    #[error("invalid request: {0}")]
    Invalid(String),
}

impl From<types::HostError> for HostError {
    fn from(error: types::HostError) -> Self {
        match error {
            types::HostError::Denied(message) => Self::Denied(message),
            types::HostError::Transient(message) => Self::Transient(message),
            types::HostError::Invalid(message) => Self::Invalid(message),
        }
    }
}

/// A transient host failure is worth retrying; a denied or invalid request
/// fails the same way every time, so it is rejected.
impl From<HostError> for PluginError {
    fn from(error: HostError) -> Self {
        match error {
            HostError::Transient(_) => Self::Retry(error.to_string()),
            HostError::Denied(_) | HostError::Invalid(_) => Self::Reject(error.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_host_errors_are_retried() {
        let error = PluginError::from(HostError::Transient("throttled".into()));
        assert_eq!(error, PluginError::retry("transient failure: throttled"));
    }

    #[test]
    fn denied_and_invalid_host_errors_are_rejected() {
        let denied = PluginError::from(HostError::Denied("notify: channel ops".into()));
        assert_eq!(denied, PluginError::reject("denied: notify: channel ops"));
        let invalid = PluginError::from(HostError::Invalid("bad key".into()));
        assert!(!invalid.is_retry());
    }

    #[test]
    fn context_keeps_the_kind() {
        let error = PluginError::retry("timeout").context("archive.put a/b");
        assert_eq!(error, PluginError::retry("archive.put a/b: timeout"));
        assert_eq!(error.message(), "archive.put a/b: timeout");
    }

    #[test]
    fn converts_to_the_wit_outcome() {
        let wit = PluginError::outcome(Err(PluginError::reject("bad")));
        assert!(matches!(wit, types::Outcome::Reject(m) if m == "bad"));
        let wit = PluginError::outcome(Err(PluginError::retry("later")));
        assert!(matches!(wit, types::Outcome::Retry(m) if m == "later"));
        assert!(matches!(PluginError::outcome(Ok(())), types::Outcome::Ok));
    }
}
