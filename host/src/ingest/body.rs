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
    /// The connection failed while the body was being read.
    #[error("request body could not be read: {0}")]
    Read(String),
}

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
        let limited =
            std::error::Error::source(&error).is_some_and(|source| source.is::<LengthLimitError>());
        if limited {
            BodyError::TooLarge { limit }
        } else {
            BodyError::Read(error.to_string())
        }
    })
}

/// The request's media type (the `Content-Type` without parameters,
/// lowercased), or `None` when the header is missing or not text.
pub(crate) fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next().unwrap_or_default().trim();
    Some(essence.to_ascii_lowercase())
}

/// A header value cut to at most `max` characters, for echoing in error
/// messages without letting a client make them arbitrarily long.
pub fn truncate_for_message(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
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
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_for_message("héllo", 2), "hé...");
        assert_eq!(truncate_for_message("hi", 2), "hi");
    }
}
