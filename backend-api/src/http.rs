//! The `http` capability: requests a plugin sends to a named destination,
//! and [`HttpDestinations`], the host's side that resolves the name, adds
//! the connection's credentials and enforces the destination's limits.

use std::time::Duration;

use crate::BackendError;

/// A request as a plugin makes it: a destination's name and a path under
/// it, never a URL, so the plugin cannot choose the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// `GET`, `HEAD`, `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: String,
    /// Path and query appended to the destination's base URL, starting with `/`.
    pub path: String,
    /// Headers the plugin sets (never credentials: the host adds those).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// A destination's 2xx answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status, 200..=299.
    pub status: u16,
    /// Headers, names in lowercase.
    pub headers: Vec<(String, String)>,
    /// The body, within the destination's response cap.
    pub body: Vec<u8>,
}

/// Why an HTTP call failed: the error the plugin sees, and how long the
/// destination asked callers to wait before trying again (its `Retry-After`),
/// which the host, not the plugin, honours when it retries the delivery.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct HttpError {
    /// What went wrong, naming the destination.
    pub error: BackendError,
    /// The destination's `Retry-After` (of a 429 or 503), as it said it.
    pub retry_after: Option<Duration>,
}

impl From<BackendError> for HttpError {
    fn from(error: BackendError) -> Self {
        HttpError {
            error,
            retry_after: None,
        }
    }
}

/// The HTTP destinations configured on the host, by name.
///
/// Errors say what went wrong naming the destination: `Denied` for what the
/// destination does not allow (a method, a path, a redirect off it),
/// `Transient` for 429, 5xx, timeouts, connection failures and the rate
/// limit, `Invalid` for other statuses and malformed requests.
pub trait HttpDestinations: Send + Sync {
    /// Send `request` to `destination`, on behalf of `rule`.
    fn send(
        &self,
        rule: &str,
        destination: &str,
        request: HttpRequest,
    ) -> Result<HttpResponse, HttpError>;
}
