//! A notification channel that POSTs JSON to a URL.

use std::time::Duration;

use super::NotificationBody;
use crate::http_post::JsonPost;
use crate::{BackendResult, Notification, Notifier};

/// Timeout of a webhook call when the configuration gives none.
pub const DEFAULT_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// POSTs each notification as JSON to a URL.
///
/// 2xx is success. Connection failures, timeouts, 408, 425, 429 and 5xx are
/// [`Transient`](crate::BackendError::Transient) (the dispatcher retries);
/// redirects and other 4xx are [`Invalid`](crate::BackendError::Invalid).
#[derive(Debug)]
pub struct WebhookNotifier {
    post: JsonPost,
}

impl WebhookNotifier {
    /// A webhook on `url` (absolute `http://` or `https://`) whose calls give
    /// up after `timeout`, connect to last byte.
    pub fn new(url: &str, timeout: Duration) -> BackendResult<Self> {
        Ok(WebhookNotifier {
            post: JsonPost::new("webhook", url, timeout, None)?,
        })
    }

    /// The URL notifications are posted to.
    pub fn url(&self) -> &str {
        self.post.url()
    }
}

impl Notifier for WebhookNotifier {
    fn publish(&self, notification: &Notification) -> BackendResult<()> {
        self.post.post(&NotificationBody::from(notification))
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::BackendError;
    use crate::notify::sample_notification;
    use crate::test_http::{Reply, TestServer};

    #[test]
    fn posts_the_notification_as_json() {
        let server = TestServer::start(vec![Reply::status(204)]);
        let notifier = WebhookNotifier::new(&server.url("/hooks/admins"), Duration::from_secs(5))
            .expect("new");
        notifier.publish(&sample_notification()).expect("publish");
        let request = server.request(0);
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/hooks/admins");
        let content_type = request.header("content-type").unwrap_or_default();
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
        let body: serde_json::Value = serde_json::from_slice(&request.body).expect("json body");
        assert_eq!(body["channel"], "admins");
        assert_eq!(body["subject"], "book 42 deleted by alice");
        assert_eq!(body["attributes"]["operation"], "delete");
    }

    #[test]
    fn server_errors_and_throttling_are_transient_other_4xx_invalid() {
        for (status, transient) in [
            (500, true),
            (503, true),
            (429, true),
            (408, true),
            (400, false),
            (404, false),
            (401, false),
            (302, false),
        ] {
            let server = TestServer::start(vec![Reply::status(status).body("nope")]);
            let notifier =
                WebhookNotifier::new(&server.url("/"), Duration::from_secs(5)).expect("new");
            match (notifier.publish(&sample_notification()), transient) {
                (Err(BackendError::Transient(m)), true)
                | (Err(BackendError::Invalid(m)), false) => {
                    assert!(m.contains(&status.to_string()) && m.contains("nope"), "{m}");
                }
                (other, _) => panic!("status {status}: got {other:?}"),
            }
        }
    }

    #[test]
    fn a_slow_server_times_out_as_transient() {
        let server = TestServer::start(vec![Reply::status(200).delay(Duration::from_secs(3))]);
        let notifier =
            WebhookNotifier::new(&server.url("/"), Duration::from_millis(300)).expect("new");
        let started = Instant::now();
        let result = notifier.publish(&sample_notification());
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        match result {
            Err(BackendError::Transient(m)) => assert!(m.contains("timed out"), "{m}"),
            other => panic!("expected a transient timeout, got {other:?}"),
        }
    }

    #[test]
    fn a_closed_port_is_transient() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("addr").port()
        };
        let notifier =
            WebhookNotifier::new(&format!("http://127.0.0.1:{port}/"), Duration::from_secs(2))
                .expect("new");
        assert!(matches!(
            notifier.publish(&sample_notification()),
            Err(BackendError::Transient(_))
        ));
    }

    #[test]
    fn bad_urls_and_zero_timeouts_are_refused_up_front() {
        for url in [
            "",
            "not a url",
            "ftp://example.com/x",
            "/relative/path",
            "http://",
        ] {
            assert!(
                matches!(
                    WebhookNotifier::new(url, DEFAULT_WEBHOOK_TIMEOUT),
                    Err(BackendError::Invalid(_))
                ),
                "{url:?}"
            );
        }
        assert!(matches!(
            WebhookNotifier::new("http://127.0.0.1:9/", Duration::ZERO),
            Err(BackendError::Invalid(_))
        ));
    }
}
