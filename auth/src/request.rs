//! [`RequestView`]: the parts of an HTTP request that authentication reads,
//! shared by the [`Authenticator`](crate::Authenticator) and the SigV4 check.

use http::{HeaderMap, Method, Uri};

/// What the authenticator reads of an HTTP request.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    /// The request method.
    pub method: &'a Method,
    /// The request target as received (path and query still percent-encoded).
    pub uri: &'a Uri,
    /// All request headers.
    pub headers: &'a HeaderMap,
    /// The whole body for SigV4 requests (see [`needs_body`](crate::needs_body)); for bearer
    /// requests it is not read, and `&[]` will do.
    pub body: &'a [u8],
}
