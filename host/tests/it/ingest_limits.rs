//! Every limit and malformed input over real HTTP: each gets its documented
//! error shape, nothing is submitted, and the server keeps serving.

use axum::body::Bytes;
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use trailmark::ingest::IngestLimits;

use crate::ingest_server::{
    Answer, TestServer, assert_still_serving, put_events_raw, request, wire_entry,
};

fn entries(entries: Value) -> String {
    json!({ "Entries": entries }).to_string()
}

fn assert_aws_error(answer: &Answer, status: StatusCode, code: &str, says: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.body["__type"], code, "{}", answer.body);
    let message = answer.body["message"].as_str().unwrap_or_default();
    assert!(message.contains(says), "{message:?} should say {says:?}");
    assert_eq!(answer.headers["x-amzn-errortype"], code);
}

/// PutEvents with `body` is refused whole as `code`, nothing reaches the
/// intake, and the server keeps serving.
async fn assert_refused(
    server: &TestServer,
    body: impl Into<Bytes>,
    status: StatusCode,
    code: &str,
    says: &str,
) {
    let answer = put_events_raw(server, body).await;
    assert_aws_error(&answer, status, code, says);
    assert_eq!(server.recorder.submit_calls(), 0);
    assert_still_serving(server).await;
}

fn assert_entry_error(answer: &Answer, index: usize, code: &str, says: &str) {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let entry = &answer.body["Entries"][index];
    assert_eq!(entry["ErrorCode"], code, "{}", answer.body);
    let message = entry["ErrorMessage"].as_str().unwrap_or_default();
    assert!(message.contains(says), "{message:?} should say {says:?}");
    assert!(entry.get("EventId").is_none());
}

#[tokio::test]
async fn eleven_entries_are_a_validation_exception() {
    let server = TestServer::start().await;
    let eleven: Vec<_> = (0..11).map(wire_entry).collect();
    assert_refused(
        &server,
        entries(json!(eleven)),
        StatusCode::BAD_REQUEST,
        "ValidationException",
        "less than or equal to 10",
    )
    .await;
}

#[tokio::test]
async fn no_entries_are_a_validation_exception() {
    let server = TestServer::start().await;
    let answer = put_events_raw(&server, entries(json!([]))).await;
    assert_aws_error(
        &answer,
        StatusCode::BAD_REQUEST,
        "ValidationException",
        "greater than or equal to 1",
    );
    let answer = put_events_raw(&server, "{}").await;
    assert_aws_error(
        &answer,
        StatusCode::BAD_REQUEST,
        "ValidationException",
        "must not be null",
    );
    assert_still_serving(&server).await;
}

#[tokio::test]
async fn oversize_entry_fails_alone_by_the_eventbridge_size_formula() {
    let server = TestServer::start().await;
    let limit = IngestLimits::default().max_entry_bytes;
    let source = "s";
    let detail_type = "t";
    // Exactly at the limit: 14 (Time) + 1 + 1 + detail + resource bytes.
    let resource = "r".repeat(100);
    let padding = limit - 14 - 2 - resource.len() - r#"{"x":""}"#.len();
    let fits = json!({"Source": source, "DetailType": detail_type, "Time": 1_764_070_101,
        "Resources": [resource], "Detail": format!(r#"{{"x":"{}"}}"#, "a".repeat(padding))});
    let mut over = fits.clone();
    over["Resources"] = json!([format!("{resource}r")]);
    let answer = put_events_raw(&server, entries(json!([fits, over, wire_entry(1)]))).await;
    assert_eq!(answer.body["FailedEntryCount"], 1, "{}", answer.body);
    assert!(answer.body["Entries"][0]["EventId"].is_string());
    assert_entry_error(
        &answer,
        1,
        "InvalidArgument",
        &format!("{} bytes", limit + 1),
    );
    assert!(answer.body["Entries"][2]["EventId"].is_string());
    assert_eq!(server.recorder.events().len(), 2);
    assert_still_serving(&server).await;
}

#[tokio::test]
async fn bad_detail_is_malformed_detail() {
    let server = TestServer::start().await;
    let deep = format!(r#"{{"a":{}1{}}}"#, "[".repeat(64), "]".repeat(64));
    let cases = [
        ("[1, 2]", "must be a JSON object, got an array"),
        ("\"text\"", "must be a JSON object, got a string"),
        ("{\"a\": tru}", "not valid JSON"),
        ("", "not valid JSON"),
        (deep.as_str(), "deeper than the limit of 64"),
    ];
    for (detail, says) in cases {
        let entry = json!({"Source": "s", "DetailType": "t", "Detail": detail});
        let answer = put_events_raw(&server, entries(json!([entry]))).await;
        assert_entry_error(&answer, 0, "MalformedDetail", says);
    }
    // 64 levels is allowed.
    let ok = format!(r#"{{"a":{}1{}}}"#, "[".repeat(63), "]".repeat(63));
    let answer = put_events_raw(
        &server,
        entries(json!([{"Source": "s", "DetailType": "t", "Detail": ok}])),
    )
    .await;
    assert_eq!(answer.body["FailedEntryCount"], 0, "{}", answer.body);
    assert_still_serving(&server).await;
}

#[tokio::test]
async fn missing_source_or_detail_type_is_invalid_argument() {
    let server = TestServer::start().await;
    let cases = [
        (
            json!({"DetailType": "t", "Detail": "{}"}),
            "Parameter Source is not valid",
        ),
        (
            json!({"Source": "", "DetailType": "t", "Detail": "{}"}),
            "Parameter Source is not valid",
        ),
        (
            json!({"Source": "s", "Detail": "{}"}),
            "Parameter DetailType is not valid",
        ),
        (
            json!({"Source": "s", "DetailType": "t"}),
            "Parameter Detail is not valid",
        ),
        (
            json!({"Source": "s", "DetailType": "t", "Detail": "{}", "Time": "soon"}),
            "Parameter Time is not valid",
        ),
    ];
    for (entry, says) in cases {
        let answer = put_events_raw(&server, entries(json!([entry]))).await;
        assert_entry_error(&answer, 0, "InvalidArgument", says);
    }
    assert_eq!(server.recorder.submit_calls(), 0);
    assert_still_serving(&server).await;
}

#[tokio::test]
async fn oversized_body_is_refused_with_413() {
    let server = TestServer::start_with(IngestLimits {
        max_body_bytes: 4096,
        ..IngestLimits::default()
    })
    .await;
    let big = json!({"Source": "s", "DetailType": "t", "Detail": format!(r#"{{"x":"{}"}}"#, "a".repeat(5000))});
    assert_refused(
        &server,
        entries(json!([big])),
        StatusCode::PAYLOAD_TOO_LARGE,
        "ValidationException",
        "4096 bytes",
    )
    .await;
}

#[tokio::test]
async fn a_wrong_or_missing_content_type_or_target_is_refused_naming_what_it_should_be() {
    let server = TestServer::start().await;
    let body = entries(json!([wire_entry(1)]));
    let (put, amz_json) = (
        Some("AWSEvents.PutEvents"),
        Some("application/x-amz-json-1.1"),
    );
    let media_type = (
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UnsupportedMediaTypeException",
        "application/x-amz-json-1.1",
    );
    let operation = (
        StatusCode::BAD_REQUEST,
        "UnknownOperationException",
        "X-Amz-Target",
    );
    let cases = [
        (Some("application/json"), put, media_type),
        (Some("text/plain"), put, media_type),
        (None, put, media_type),
        (amz_json, Some("AWSEvents.ListRules"), operation),
        (amz_json, Some("Nonsense"), operation),
        (amz_json, None, operation),
    ];
    for (content_type, target, (status, code, says)) in cases {
        let headers: Vec<(&str, &str)> = [("content-type", content_type), ("x-amz-target", target)]
            .into_iter()
            .filter_map(|(name, value)| Some((name, value?)))
            .collect();
        let answer = request(&server, Method::POST, "/", &headers, body.clone()).await;
        assert_aws_error(&answer, status, code, says);
    }
    assert_still_serving(&server).await;
}

#[tokio::test]
async fn invalid_json_body_is_a_serialization_exception() {
    let server = TestServer::start().await;
    let deep_body = format!("{}{}", "[".repeat(500), "]".repeat(500));
    let cases = [
        "{\"Entries\": [",
        "not json",
        "",
        r#"{"Entries": {"Source": "s"}}"#,
        r#"{"Entries": [{"Source": ["s"]}]}"#,
        r#"{"Entries": [{"Source": "s", "DetailType": "t", "Detail": "{}", "Time": true}]}"#,
        deep_body.as_str(),
    ];
    for body in cases {
        let answer = put_events_raw(&server, body.to_owned()).await;
        assert_aws_error(
            &answer,
            StatusCode::BAD_REQUEST,
            "SerializationException",
            "not a valid PutEvents request",
        );
    }
    assert_eq!(server.recorder.submit_calls(), 0);
    assert_still_serving(&server).await;
}
