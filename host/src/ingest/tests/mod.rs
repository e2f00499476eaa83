//! Handler tests through `tower::ServiceExt::oneshot`, with an in-memory intake.

mod native;
mod put_events;
mod recorder;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::*;
use recorder::Recorder;

fn app(recorder: Arc<Recorder>) -> axum::Router {
    router(IngestState {
        intake: recorder,
        limits: IngestLimits::default(),
        account: "123456789012".to_owned(),
        region: "eu-west-1".to_owned(),
    })
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
}

async fn send(app: axum::Router, request: Request<Body>) -> Answer {
    let response = app.oneshot(request).await.expect("router is infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body reads");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

fn aws(target: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post("/")
        .header("x-amz-target", target)
        .header("content-type", AMZ_JSON_1_1)
        .body(body.into())
        .expect("valid request")
}

fn put_events(entries: Value) -> Request<Body> {
    aws(
        "AWSEvents.PutEvents",
        json!({ "Entries": entries }).to_string(),
    )
}

fn native(body: Value) -> Request<Body> {
    Request::post("/v1/events")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("valid request")
}

fn entry(n: usize) -> Value {
    json!({
        "Source": "com.example.books",
        "DetailType": "Object State Change",
        "Detail": format!(r#"{{"entity-id": "{n}", "operation": "insert"}}"#),
        "Resources": [format!("book/{n}")],
        "Time": 1_764_070_101,
    })
}

fn assert_aws_error(answer: &Answer, status: StatusCode, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.body["__type"], code, "{}", answer.body);
    assert!(
        answer.body["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    assert_eq!(answer.headers["x-amzn-errortype"], code);
    assert_eq!(answer.headers["content-type"], AMZ_JSON_1_1);
}

fn native_entry(n: usize) -> Value {
    json!({
        "source": "com.example.books",
        "detail-type": "Object State Change",
        "detail": {"entity-id": n.to_string(), "operation": "update"},
        "time": "2026-01-02T03:04:05+01:00",
    })
}
