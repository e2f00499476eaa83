//! A forward destination that is another Trailmark's native ingest API.

use std::time::Duration;

use serde::Serialize;
use serde_json::value::RawValue;

use crate::http_post::JsonPost;
use crate::{BackendError, BackendResult, Event, Forwarder};

/// Timeout of a forward call when the configuration gives none.
pub const DEFAULT_FORWARD_TIMEOUT: Duration = Duration::from_secs(5);

/// The entry `POST /v1/events` takes: the producer's fields only. The
/// receiving host assigns its own `id`, `version`, `account` and `region`
/// (it refuses entries that set them), and `detail` is an object, not text.
#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ForwardEntry<'a> {
    /// Event source.
    pub source: &'a str,
    /// Event detail type.
    pub detail_type: &'a str,
    /// The detail object, passed through verbatim.
    pub detail: &'a RawValue,
    /// Resources, omitted when empty.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub resources: &'a [String],
    /// The original event time (RFC 3339).
    pub time: &'a str,
}

impl<'a> ForwardEntry<'a> {
    /// The entry that forwards `event`; its `detail` must be JSON.
    pub fn from_event(event: &'a Event) -> BackendResult<Self> {
        let detail: &RawValue = serde_json::from_str(&event.detail).map_err(|e| {
            BackendError::Invalid(format!(
                "forward: event {} has a detail that is not JSON: {e}",
                event.id
            ))
        })?;
        Ok(ForwardEntry {
            source: &event.source,
            detail_type: &event.detail_type,
            detail,
            resources: &event.resources,
            time: &event.time,
        })
    }
}

/// Sends each event to `<base-url>/v1/events` of another Trailmark.
///
/// Error mapping as for the webhook: connection failures, timeouts, 408, 425,
/// 429 (and the receiver's 503 backpressure) and 5xx are transient; other
/// 4xx (the receiver refused the entry) are invalid.
#[derive(Debug)]
pub struct HttpForwarder {
    post: JsonPost,
}

impl HttpForwarder {
    /// A forwarder to the Trailmark at `base_url` (e.g. `http://audit:8080`),
    /// each call bounded by `timeout`. With `bearer_token`, requests carry
    /// `Authorization: Bearer <token>` (for a receiver behind an
    /// authenticating proxy).
    pub fn new(
        base_url: &str,
        timeout: Duration,
        bearer_token: Option<String>,
    ) -> BackendResult<Self> {
        let url = format!("{}/v1/events", base_url.trim_end_matches('/'));
        Ok(HttpForwarder {
            post: JsonPost::new("forward", &url, timeout, bearer_token)?,
        })
    }

    /// The full URL events are posted to.
    pub fn url(&self) -> &str {
        self.post.url()
    }
}

impl Forwarder for HttpForwarder {
    fn send(&self, event: &Event) -> BackendResult<()> {
        self.post.post(&ForwardEntry::from_event(event)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forward::sample_event;
    use crate::test_http::{Reply, TestServer};

    #[test]
    fn posts_a_native_entry_to_v1_events() {
        let server = TestServer::start(vec![Reply::status(200).body(r#"{"accepted":1}"#)]);
        let forwarder = HttpForwarder::new(
            &server.url("/"),
            DEFAULT_FORWARD_TIMEOUT,
            Some("s3cret".into()),
        )
        .expect("new");
        assert!(forwarder.url().ends_with("/v1/events") && !forwarder.url().contains("//v1"));
        forwarder.send(&sample_event()).expect("send");
        let request = server.request(0);
        assert_eq!(
            (request.method.as_str(), request.path.as_str()),
            ("POST", "/v1/events")
        );
        assert_eq!(
            request.header("authorization").as_deref(),
            Some("Bearer s3cret")
        );
        let body: serde_json::Value = serde_json::from_slice(&request.body).expect("json");
        assert_eq!(
            body,
            serde_json::json!({
                "source": "com.example.books",
                "detail-type": "Object State Change",
                "detail": {"entity-type": "book", "entity-id": "42",
                           "operation": "delete", "author": "alice"},
                "resources": ["book/42"],
                "time": "2026-11-25T11:28:21Z",
            })
        );
    }

    #[test]
    fn receiver_backpressure_is_transient_and_refusal_invalid() {
        let server = TestServer::start(vec![
            Reply::status(503).body("busy"),
            Reply::status(400).body(r#"{"error":"invalid-argument"}"#),
        ]);
        let forwarder =
            HttpForwarder::new(&server.url(""), DEFAULT_FORWARD_TIMEOUT, None).expect("new");
        assert!(matches!(
            forwarder.send(&sample_event()),
            Err(BackendError::Transient(_))
        ));
        match forwarder.send(&sample_event()) {
            Err(BackendError::Invalid(m)) => assert!(m.contains("invalid-argument"), "{m}"),
            other => panic!("expected Invalid, got {other:?}"),
        }
        assert_eq!(server.request(0).header("authorization"), None);
    }

    #[test]
    fn an_event_whose_detail_is_not_json_is_invalid_without_a_request() {
        let mut event = sample_event();
        event.detail = "{not json".into();
        let forwarder =
            HttpForwarder::new("http://127.0.0.1:9", DEFAULT_FORWARD_TIMEOUT, None).expect("new");
        assert!(matches!(
            forwarder.send(&event),
            Err(BackendError::Invalid(_))
        ));
    }
}
