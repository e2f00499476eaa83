//! Reading request bodies under a size limit, and checking content types.
//! Both APIs share these and map the failures onto their own error shapes.

use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http_body_util::LengthLimitError;

/// Why a request body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BodyError {
    /// The body is (or declares itself) larger than the limit.
    #[error("request body exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body did not arrive within the server's body-read timeout.
    #[error("request body was not received within {0:?}")]
    Timeout(std::time::Duration),
    /// The connection failed while the body was being read.
    #[error("request body could not be read: {0}")]
    Read(String),
}

/// The error a request body gives when it has not been received in full
/// within the body-read timeout (`server.body-timeout`). The server's
/// listener puts it there; readers of bodies answer 408 for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("request body was not received within {0:?}")]
pub struct BodyTimeout(pub std::time::Duration);

/// Read the whole body, refusing more than `limit` bytes: at once when
/// `Content-Length` says so, otherwise as soon as the limit is passed.
pub(crate) async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, BodyError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        let source = std::error::Error::source(&error);
        if source.is_some_and(|source| source.is::<LengthLimitError>()) {
            return BodyError::TooLarge { limit };
        }
        // The timeout comes wrapped by the body layers it went through.
        let mut cause = source;
        while let Some(e) = cause {
            if let Some(BodyTimeout(after)) = e.downcast_ref() {
                return BodyError::Timeout(*after);
            }
            cause = e.source();
        }
        BodyError::Read(error.to_string())
    })
}

/// The request's media type (the `Content-Type` without parameters,
/// lowercased), or `None` when the header is missing or not text.
pub(crate) fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next().unwrap_or_default().trim();
    Some(essence.to_ascii_lowercase())
}

/// A client-supplied value cut to at most `max` characters, with control
/// characters escaped, for echoing in error messages and records without
/// letting a client make them arbitrarily long or forge lines in them.
pub fn truncate_for_message(text: &str, max: usize) -> String {
    trailmark_auth::printable(text, max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[tokio::test]
    async fn body_over_the_limit_is_too_large() {
        let headers = HeaderMap::new();
        let error = read_limited(&headers, Body::from(vec![b'x'; 11]), 10)
            .await
            .expect_err("11 bytes > 10");
        assert_eq!(error, BodyError::TooLarge { limit: 10 });
        let bytes = read_limited(&headers, Body::from(vec![b'x'; 10]), 10)
            .await
            .expect("10 bytes fit");
        assert_eq!(bytes.len(), 10);
    }

    #[tokio::test]
    async fn declared_length_over_the_limit_is_refused_before_reading() {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("1000"));
        let error = read_limited(&headers, Body::empty(), 10)
            .await
            .expect_err("declared 1000 > 10");
        assert_eq!(error, BodyError::TooLarge { limit: 10 });
    }

    #[test]
    fn media_type_drops_parameters_and_case() {
        let mut headers = HeaderMap::new();
        assert_eq!(media_type(&headers), None);
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("Application/JSON; charset=utf-8"),
        );
        assert_eq!(media_type(&headers).as_deref(), Some("application/json"));
    }

    #[test]
    fn truncation_respects_char_boundaries_and_escapes_controls() {
        assert_eq!(truncate_for_message("héllo", 2), "hé...");
        assert_eq!(truncate_for_message("hi", 2), "hi");
        assert_eq!(truncate_for_message("a\nb", 20), "a\\u{a}b");
    }

    #[tokio::test]
    async fn a_body_that_times_out_is_a_timeout() {
        let after = std::time::Duration::from_millis(5);
        let stream = stalled_body(after);
        let error = read_limited(&HeaderMap::new(), stream, 100)
            .await
            .expect_err("timed out");
        assert_eq!(error, BodyError::Timeout(after));
    }

    /// A body whose first frame is the timeout error.
    fn stalled_body(after: std::time::Duration) -> Body {
        struct Stalled(std::time::Duration);
        impl http_body::Body for Stalled {
            type Data = Bytes;
            type Error = BodyTimeout;
            fn poll_frame(
                self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, BodyTimeout>>> {
                std::task::Poll::Ready(Some(Err(BodyTimeout(self.0))))
            }
        }
        Body::new(Stalled(after))
    }
}
