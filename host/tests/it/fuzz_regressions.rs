//! Reproducers of the fuzz findings (see FUZZING.md), each fed through the
//! same public path the fuzz target used. Minimized inputs; the original
//! libFuzzer artifacts are listed in FUZZING.md.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;
use trailmark::ingest::{AMZ_JSON_1_1, IngestLimits, IngestState, router};
use trailmark::rules::document::{Document, Step};
use trailmark::rules::load_file;
use trailmark_backends::Event;

use crate::ingest_server::Recorder;

/// Send one AWS JSON 1.1 request; answer the status, the body as JSON and
/// what reached the intake.
async fn aws(target: &str, body: Vec<u8>) -> (StatusCode, Value, Vec<Event>) {
    let recorder = Arc::new(Recorder::default());
    let app = router(IngestState {
        intake: recorder.clone(),
        limits: IngestLimits::default(),
        account: "123456789012".to_owned(),
        region: "eu-west-1".to_owned(),
    });
    let request = Request::post("/")
        .header("x-amz-target", target)
        .header("content-type", AMZ_JSON_1_1)
        .body(Body::from(body))
        .expect("valid request");
    let response = app.oneshot(request).await.expect("router is infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body reads");
    let json = serde_json::from_slice(&bytes).expect("ingest answers JSON");
    (status, json, recorder.events())
}

/// F1 (envelope): floats in `detail` were stored off by one ULP, and the
/// stored text did not read back as itself (serde_json without
/// `float_roundtrip`). Audit data must keep the producer's numbers: the
/// detail is now stored as sent (whitespace between tokens aside), so even
/// a number no double can hold (9007199254740993) stays exact.
#[tokio::test]
async fn f1_detail_floats_are_stored_exactly() {
    let detail = r#"{"a":-1.5e-300,"b":1.2345678901234567e30,"c":9007199254740993.0}"#;
    let body = serde_json::json!({ "Entries": [{
        "Source": "com.example.library",
        "DetailType": "Object State Change",
        "Detail": detail,
    }]});
    let (status, answer, events) = aws("AWSEvents.PutEvents", body.to_string().into_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["FailedEntryCount"], 0, "{answer}");
    assert_eq!(events.len(), 1);
    let stored = &events[0].detail;
    assert_eq!(stored, detail, "the producer's bytes");
    let again: Value = serde_json::from_str(stored).expect("stored detail is JSON");
    assert_eq!(again["a"].as_f64(), Some(-1.5e-300));
}

/// F2 (rule_file): a value with a custom YAML tag and no content
/// (`name: !b`) was reported at line 0: the tagged node's inner value has no
/// position and overwrote the tag's.
#[test]
fn f2_tagged_empty_value_is_placed_on_its_line() {
    let text = "plugin: log\npattern: {source: [a]}\nname: !b\n";
    let doc = Document::parse(text).expect("valid YAML");
    let position = doc.value_position(&[Step::Key("name".into())]);
    assert_eq!((position.line, position.col), (3, 7));

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tagged.yaml");
    std::fs::write(&path, text).expect("write rule file");
    let errors = load_file(&path).expect_err("a null name is refused");
    assert_eq!(errors.len(), 1, "{errors:?}");
    let error = &errors[0];
    assert!(error.message.contains("`name` must be a string"), "{error}");
    assert_eq!((error.position.line, error.position.col), (3, 7), "{error}");
}

/// F3 (put_events): a body with invalid UTF-8, or a lone surrogate escape,
/// inside a field PutEvents ignores was accepted (serde_json's typed parsing
/// does not check the values it skips). Such a body is not JSON: refuse it
/// as EventBridge does.
#[tokio::test]
async fn f3_invalid_text_in_an_ignored_field_is_a_serialization_exception() {
    let bodies: [&[u8]; 4] = [
        b"{\"Entries\":[{\"Source\":\"s\",\"DetailType\":\"t\",\"Detail\":\"{}\",\"X\":\"\xff\"}]}",
        br#"{"Entries":[{"Source":"s","DetailType":"t","Detail":"{}","TraceHeader":"\ud800"}]}"#,
        // Ignored fields at the top level and nested in ignored values.
        br#"{"EndpointId":{"a":["\udc00"]},"Entries":[{"Source":"s","DetailType":"t","Detail":"{}"}]}"#,
        br#"{"Entries":[{"Source":"s","DetailType":"t","Detail":"{}","X":[1e400]}]}"#,
    ];
    for body in bodies {
        let (status, answer, events) = aws("AWSEvents.PutEvents", body.to_vec()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(answer["__type"], "SerializationException", "{answer}");
        assert!(
            answer["message"]
                .as_str()
                .is_some_and(|m| m.contains("it is not JSON")),
            "{answer}"
        );
        assert!(events.is_empty(), "nothing is submitted");
    }

    let body = b"{\"EventPattern\":\"{}\",\"Event\":\"{}\",\"X\":\"\xff\"}";
    let (status, answer, _) = aws("AWSEvents.TestEventPattern", body.to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["__type"], "SerializationException", "{answer}");
}

/// F4 (schemathesis, put_events): `EventBusName` given as a number was
/// ignored and the request answered 200, though the API types it as a
/// string. Ignored fields the API names keep their type: the request is a
/// SerializationException, as on EventBridge.
#[tokio::test]
async fn f4_a_named_ignored_field_of_the_wrong_type_is_a_serialization_exception() {
    for field in [r#""EventBusName":4.2e16"#, r#""TraceHeader":{"a":1}"#] {
        let body =
            format!(r#"{{"Entries":[{{"Source":"s","DetailType":"t","Detail":"{{}}",{field}}}]}}"#);
        let (status, answer, events) = aws("AWSEvents.PutEvents", body.into_bytes()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field}: {answer}");
        assert_eq!(answer["__type"], "SerializationException", "{answer}");
        assert!(events.is_empty(), "nothing is submitted");
    }
    let body = br#"{"Entries":[{"Source":"s","DetailType":"t","Detail":"{}","EventBusName":null,"TraceHeader":"Root=1"}]}"#;
    let (status, answer, events) = aws("AWSEvents.PutEvents", body.to_vec()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(events.len(), 1, "{answer}");
}
