//! `POST /` (PutEvents) and the in-flight limit.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;
use trailmark_backends::Event;

use super::*;

#[tokio::test]
async fn put_events_accepts_entries_and_returns_their_ids_in_order() {
    let recorder = Arc::new(Recorder::default());
    let answer = send(
        app(recorder.clone()),
        put_events(json!([entry(1), entry(2)])),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["content-type"], AMZ_JSON_1_1);
    assert!(answer.headers.contains_key("x-amzn-requestid"));
    assert_eq!(answer.body["FailedEntryCount"], 0);
    let events = recorder.events();
    assert_eq!(events.len(), 2);
    for (result, event) in answer.body["Entries"]
        .as_array()
        .expect("entries")
        .iter()
        .zip(&events)
    {
        assert_eq!(result, &json!({ "EventId": event.id }));
    }
    assert_eq!(
        events[1].detail,
        r#"{"entity-id":"2","operation":"insert"}"#
    );
    assert_eq!(events[1].resources, vec!["book/2".to_owned()]);
    assert_eq!(events[1].time, "2025-11-25T11:28:21Z");
    assert_eq!(events[1].account, "123456789012");
    assert_eq!(recorder.submit_calls(), 1);
}

#[tokio::test]
async fn put_events_reports_bad_entries_in_place_and_keeps_the_good_ones() {
    let recorder = Arc::new(Recorder::default());
    let mut big = entry(0);
    big["Detail"] = json!(format!(r#"{{"x": "{}"}}"#, "a".repeat(262_144)));
    let deep = format!(r#"{{"a": {}{}}}"#, "[".repeat(64), "]".repeat(64));
    let entries = json!([
        entry(1),
        {"DetailType": "t", "Detail": "{}"},
        {"Source": "s", "DetailType": "", "Detail": "{}"},
        {"Source": "s", "DetailType": "t"},
        {"Source": "s", "DetailType": "t", "Detail": "[1, 2]"},
        {"Source": "s", "DetailType": "t", "Detail": "{\"a\": "},
        {"Source": "s", "DetailType": "t", "Detail": deep},
        big,
        {"Source": "s", "DetailType": "t", "Detail": "{}", "Time": "last tuesday"},
        entry(2),
    ]);
    let answer = send(app(recorder.clone()), put_events(entries)).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["FailedEntryCount"], 8);
    let results = answer.body["Entries"].as_array().expect("entries");
    let codes: Vec<_> = results.iter().map(|r| r["ErrorCode"].as_str()).collect();
    assert_eq!(
        codes,
        vec![
            None,
            Some("InvalidArgument"),
            Some("InvalidArgument"),
            Some("InvalidArgument"),
            Some("MalformedDetail"),
            Some("MalformedDetail"),
            Some("MalformedDetail"),
            Some("InvalidArgument"),
            Some("InvalidArgument"),
            None,
        ]
    );
    assert_eq!(
        results[1]["ErrorMessage"],
        "Parameter Source is not valid. Reason: a non-empty value is required."
    );
    assert!(
        results[7]["ErrorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("262144"))
    );
    let ids: Vec<_> = recorder.events().into_iter().map(|e| e.id).collect();
    assert_eq!(
        ids,
        vec![results[0]["EventId"].clone(), results[9]["EventId"].clone()]
    );
}

#[tokio::test]
async fn put_events_with_only_bad_entries_submits_nothing() {
    let recorder = Arc::new(Recorder::default());
    let answer = send(app(recorder.clone()), put_events(json!([{"Source": "s"}]))).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["FailedEntryCount"], 1);
    assert_eq!(recorder.submit_calls(), 0);
}

#[tokio::test]
async fn request_level_problems_are_aws_json_errors() {
    let recorder = Arc::new(Recorder::default());
    let eleven: Vec<_> = (0..11).map(entry).collect();
    let cases = [
        (
            put_events(json!(eleven)),
            StatusCode::BAD_REQUEST,
            "ValidationException",
        ),
        (
            put_events(json!([])),
            StatusCode::BAD_REQUEST,
            "ValidationException",
        ),
        (
            aws("AWSEvents.PutEvents", "{}"),
            StatusCode::BAD_REQUEST,
            "ValidationException",
        ),
        (
            aws("AWSEvents.PutEvents", "{\"Entries\": ["),
            StatusCode::BAD_REQUEST,
            "SerializationException",
        ),
        (
            aws("AWSEvents.PutEvents", r#"{"Entries": [{"Source": 5}]}"#),
            StatusCode::BAD_REQUEST,
            "SerializationException",
        ),
        (
            aws("AWSEvents.DeleteRule", "{}"),
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
        ),
        (
            Request::post("/")
                .header("content-type", AMZ_JSON_1_1)
                .body(Body::from("{}"))
                .expect("request"),
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
        ),
        (
            Request::post("/")
                .header("x-amz-target", "AWSEvents.PutEvents")
                .header("content-type", "application/json")
                .body(Body::from("{}"))
                .expect("request"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaTypeException",
        ),
        (
            aws(
                "AWSEvents.PutEvents",
                vec![b' '; IngestLimits::default().max_body_bytes + 1],
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
            "ValidationException",
        ),
    ];
    for (request, status, code) in cases {
        let answer = send(app(recorder.clone()), request).await;
        assert_aws_error(&answer, status, code);
    }
    assert_eq!(recorder.submit_calls(), 0);
}

#[tokio::test]
async fn busy_intake_is_a_throttling_exception_and_broken_is_internal() {
    let busy = Arc::new(Recorder::default());
    busy.refuse_next(1);
    let answer = send(app(busy.clone()), put_events(json!([entry(1)]))).await;
    assert_aws_error(
        &answer,
        StatusCode::SERVICE_UNAVAILABLE,
        "ThrottlingException",
    );
    let answer = send(app(busy.clone()), put_events(json!([entry(1)]))).await;
    assert_eq!(answer.status, StatusCode::OK, "busy only once");

    let broken = Arc::new(Recorder::default());
    broken.break_down();
    let answer = send(app(broken), put_events(json!([entry(1)]))).await;
    assert_aws_error(
        &answer,
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalException",
    );
    assert!(
        !answer.body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("fire")
    );
}

/// Holds every submit until released, announcing each one.
struct Gate {
    entered: Arc<tokio::sync::Notify>,
    release: Arc<tokio::sync::Semaphore>,
}

impl Gate {
    fn closed() -> Self {
        Self {
            entered: Arc::new(tokio::sync::Notify::new()),
            release: Arc::new(tokio::sync::Semaphore::new(0)),
        }
    }
}

impl Intake for Gate {
    fn submit(&self, _: Vec<Event>) -> BoxFuture<'static, Result<(), IntakeError>> {
        let (entered, release) = (self.entered.clone(), self.release.clone());
        Box::pin(async move {
            entered.notify_one();
            let permit = release.acquire().await.map_err(|_| IntakeError::Busy)?;
            permit.forget();
            Ok(())
        })
    }

    fn get(&self, _: &str) -> BoxFuture<'static, Result<Option<Event>, IntakeError>> {
        Box::pin(async { Ok(None) })
    }
}

#[tokio::test]
async fn requests_beyond_max_in_flight_are_throttled_at_once() {
    let gate = Arc::new(Gate::closed());
    let app = router(IngestState {
        intake: gate.clone(),
        limits: IngestLimits {
            max_in_flight: 1,
            ..IngestLimits::default()
        },
        account: "123456789012".to_owned(),
        region: "eu-west-1".to_owned(),
    });
    let first = tokio::spawn(send(app.clone(), put_events(json!([entry(1)]))));
    gate.entered.notified().await;

    let answer = send(app.clone(), put_events(json!([entry(2)]))).await;
    assert_aws_error(
        &answer,
        StatusCode::SERVICE_UNAVAILABLE,
        "ThrottlingException",
    );
    let answer = send(app.clone(), native(native_entry(2))).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.body["error"], "busy");

    gate.release.add_permits(1);
    let answer = first.await.expect("first request completes");
    assert_eq!(answer.status, StatusCode::OK);
    gate.release.add_permits(1);
    let answer = send(app, put_events(json!([entry(3)]))).await;
    assert_eq!(answer.status, StatusCode::OK, "the permit came back");
}
