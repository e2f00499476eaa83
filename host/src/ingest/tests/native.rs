//! `POST /v1/events` and `GET /v1/events/{id}`.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;

use super::*;

#[tokio::test]
async fn native_put_takes_one_entry_or_an_array() {
    let recorder = Arc::new(Recorder::default());
    let answer = send(app(recorder.clone()), native(native_entry(1))).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["accepted"], 1);
    assert_eq!(answer.body["failed"], 0);
    let id = answer.body["entries"][0]["id"].clone();

    let mut bad = native_entry(3);
    bad["id"] = json!("mine");
    let answer = send(
        app(recorder.clone()),
        native(json!([native_entry(2), bad, {"source": "s", "detail-type": "t", "detail": "{}"}])),
    )
    .await;
    // Taken whole or not at all: the valid entry is not accepted either.
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.body["accepted"], 0);
    assert_eq!(answer.body["failed"], 3);
    assert_eq!(answer.body["entries"][0]["error"], "not-accepted");
    assert_eq!(answer.body["entries"][1]["error"], "invalid-argument");
    assert!(
        answer.body["entries"][1]["message"]
            .as_str()
            .is_some_and(|m| m.contains("`id`"))
    );
    assert_eq!(answer.body["entries"][2]["error"], "malformed-detail");
    assert_eq!(recorder.events().len(), 1, "only the first request's entry");

    let answer = send(app(recorder.clone()), native(json!([native_entry(2)]))).await;
    assert_eq!(answer.status, StatusCode::OK);
    let events = recorder.events();
    assert_eq!(events.len(), 2);
    assert_eq!(json!(events[0].id), id);
    assert_eq!(events[0].time, "2026-01-02T02:04:05Z");
    assert_eq!(
        events[1].detail,
        r#"{"entity-id":"2","operation":"update"}"#
    );
}

#[tokio::test]
async fn native_put_with_nothing_valid_is_a_400_with_entry_results() {
    let recorder = Arc::new(Recorder::default());
    let answer = send(app(recorder.clone()), native(json!([{"source": "s"}, 7]))).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.body["accepted"], 0);
    assert_eq!(answer.body["failed"], 2);
    assert_eq!(recorder.submit_calls(), 0);
}

#[tokio::test]
async fn native_request_level_errors() {
    let recorder = Arc::new(Recorder::default());
    let eleven: Vec<_> = (0..11).map(native_entry).collect();
    let cases = [
        (
            native(json!(eleven)),
            StatusCode::BAD_REQUEST,
            "invalid-request",
        ),
        (
            native(json!([])),
            StatusCode::BAD_REQUEST,
            "invalid-request",
        ),
        (
            native(json!("text")),
            StatusCode::BAD_REQUEST,
            "invalid-request",
        ),
        (
            Request::post("/v1/events")
                .header("content-type", "application/json")
                .body(Body::from("{"))
                .expect("request"),
            StatusCode::BAD_REQUEST,
            "invalid-json",
        ),
        (
            Request::post("/v1/events")
                .header("content-type", "text/plain")
                .body(Body::from("{}"))
                .expect("request"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
        ),
        (
            Request::get("/v1/events/nope")
                .body(Body::empty())
                .expect("request"),
            StatusCode::NOT_FOUND,
            "not-found",
        ),
        (
            Request::get("/nowhere")
                .body(Body::empty())
                .expect("request"),
            StatusCode::NOT_FOUND,
            "not-found",
        ),
        (
            Request::get("/").body(Body::empty()).expect("request"),
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
        ),
    ];
    for (request, status, code) in cases {
        let answer = send(app(recorder.clone()), request).await;
        assert_eq!(answer.status, status, "{}", answer.body);
        assert_eq!(answer.body["error"], code, "{}", answer.body);
        assert!(answer.body["message"].is_string());
    }
}

#[tokio::test]
async fn native_busy_is_503_with_retry_after() {
    let recorder = Arc::new(Recorder::default());
    recorder.refuse_next(1);
    let answer = send(app(recorder), native(native_entry(1))).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.body["error"], "busy");
    assert_eq!(answer.headers["retry-after"], "1");
}

#[tokio::test]
async fn native_get_returns_the_envelope_with_detail_as_an_object() {
    let recorder = Arc::new(Recorder::default());
    let answer = send(app(recorder.clone()), put_events(json!([entry(7)]))).await;
    let id = answer.body["Entries"][0]["EventId"]
        .as_str()
        .expect("id")
        .to_owned();
    let request = Request::get(format!("/v1/events/{id}"))
        .body(Body::empty())
        .expect("request");
    let answer = send(app(recorder), request).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.body,
        json!({
            "version": "0",
            "id": id,
            "detail-type": "Object State Change",
            "source": "com.example.books",
            "account": "123456789012",
            "time": "2025-11-25T11:28:21Z",
            "region": "eu-west-1",
            "resources": ["book/7"],
            "detail": {"entity-id": "7", "operation": "insert"},
        })
    );
    let keys: Vec<_> = answer
        .body
        .as_object()
        .expect("object")
        .keys()
        .cloned()
        .collect();
    assert_eq!(keys[..3], ["version", "id", "detail-type"]);
}

#[tokio::test]
async fn a_full_journal_disk_is_a_503_naming_it_without_the_path() {
    let recorder = Arc::new(Recorder::default());
    recorder.fill_disk();
    let answer = send(app(recorder.clone()), native(native_entry(1))).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.body["error"], "storage-full", "{}", answer.body);
    let message = answer.body["message"].as_str().unwrap_or_default();
    assert!(message.contains("disk is full"), "{message}");
    assert!(
        !message.contains(".seg"),
        "a server path reached the client: {message}"
    );
    assert!(recorder.events().is_empty());
}
