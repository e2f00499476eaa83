//! A destination's `Retry-After` holds back the retry of the delivery it
//! throttled, on a running server against a scripted loopback receiver,
//! without holding back the rest of the rule's lane.

use std::time::Duration;

use serde_json::Value;

use crate::common::{put_accepted, state_change};
use crate::http_targets::{WAIT, webhook_to};
use crate::test_http::{Reply, TestServer};

/// The `id` of the event a webhook request carries.
fn event_id(request: &crate::test_http::Request) -> String {
    let body: Value = serde_json::from_slice(&request.body).expect("a JSON event");
    body["id"].as_str().expect("id").to_owned()
}

#[test]
fn a_retry_after_longer_than_the_inline_wait_holds_only_that_delivery_back_as_long_as_asked() {
    let receiver = TestServer::start(vec![
        // The first event: throttled for 3 s, longer than the host waits
        // inside a call (2 s), so the lane must hold its retry back.
        Reply::status(429).header("retry-after", "3"),
        // The second event, while the first waits.
        Reply::status(200),
        // The first event again.
        Reply::status(200),
    ]);
    // The backoff alone would retry within 20 ms.
    let setup = webhook_to(&receiver, 5);
    let server = setup.start();
    let answer = put_accepted(
        &server,
        &[
            state_change("book", "1", "update", "a", None),
            state_change("book", "2", "update", "a", None),
        ],
    );
    let ids: Vec<String> = (0..2)
        .map(|i| {
            answer["Entries"][i]["EventId"]
                .as_str()
                .expect("id")
                .to_owned()
        })
        .collect();
    server.wait_until(WAIT, "both events delivered", |s| {
        s.delivered("hook") == Some(2.0)
    });
    assert_eq!(
        receiver.received(),
        3,
        "one throttled call and two deliveries"
    );
    let (throttled, other, retried) = (
        receiver.request(0),
        receiver.request(1),
        receiver.request(2),
    );
    assert_eq!(event_id(&throttled), ids[0]);
    assert_eq!(
        event_id(&other),
        ids[1],
        "the lane went on with the next delivery while the first waited"
    );
    assert_eq!(
        event_id(&retried),
        ids[0],
        "the first event, delivered once"
    );
    let waited = retried.at.duration_since(throttled.at);
    assert!(
        waited >= Duration::from_secs(3),
        "the retry came {waited:?} after the 429 asking for 3 s"
    );
    assert_eq!(server.retries("hook"), Some(1.0));
    assert!(server.dead_letters().is_empty());
}
