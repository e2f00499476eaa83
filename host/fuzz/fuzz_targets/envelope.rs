//! Arbitrary bytes as an incoming event, as the host parses it.
//!
//! Input: `detail [NUL source [NUL detail-type [NUL time [NUL resource]...]]]`;
//! missing fields take realistic defaults. The detail bytes go through:
//!
//! 1. `RuleSet::matching` directly, as an envelope (the rule-set input path),
//!    checked against the pattern interpreter;
//! 2. PutEvents (`Detail` as text, `Time` as a number when it parses as one),
//!    where the entry checks and envelope filling of `ingest::entry` run; an
//!    accepted event must be well formed and its envelope must match as the
//!    interpreter says;
//! 3. the native API (`detail` as a JSON value) when the bytes are JSON,
//!    which must accept or refuse the entry exactly as PutEvents did and
//!    store the same detail.
//!
//! The entry checks (`ingest::entry::build_event`) are crate-private, so the
//! router is the nearest public path to them.
#![no_main]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use trailmark::ingest::{AMZ_JSON_1_1, IngestLimits};
use trailmark_host_fuzz::{Behaviour, Capture, check_event, check_matching, rule_set, send, state};

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|&b| b == 0);
    let detail = parts.next().unwrap_or_default();
    let text = |part: Option<&[u8]>, default: &str| {
        part.map_or_else(
            || default.to_owned(),
            |p| String::from_utf8_lossy(p).into_owned(),
        )
    };
    let source = text(parts.next(), "com.example.library");
    let detail_type = text(parts.next(), "Object State Change");
    let time = parts
        .next()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    let resources: Vec<String> = parts
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();

    // 1. The bytes as a whole envelope.
    check_matching(rule_set(), detail);

    // 2. PutEvents.
    let detail_text = String::from_utf8_lossy(detail).into_owned();
    let mut entry = json!({
        "Source": source,
        "DetailType": detail_type,
        "Detail": detail_text,
        "Resources": resources,
    });
    let numeric_time = time.as_deref().and_then(|t| t.trim().parse::<f64>().ok());
    match (&time, numeric_time) {
        (_, Some(seconds)) => entry["Time"] = json!(seconds),
        (Some(t), None) => entry["Time"] = json!(t),
        (None, None) => {}
    }
    let limits = IngestLimits::default();
    let intake = Capture::new(Behaviour::Accept);
    let request = Request::post("/")
        .header("x-amz-target", "AWSEvents.PutEvents")
        .header("content-type", AMZ_JSON_1_1)
        .body(Body::from(json!({ "Entries": [entry] }).to_string()))
        .expect("a valid request");
    let answer = send(state(intake.clone(), limits.clone()), request);
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    let body = answer.json();
    let result = &body["Entries"][0];
    let submits = intake.submits();
    let aws_event = match result["EventId"].as_str() {
        Some(id) => {
            assert_eq!(body["FailedEntryCount"], 0);
            assert_eq!(submits.len(), 1, "one accepted entry, one submit");
            let event = &submits[0][0];
            assert_eq!(event.id, id);
            assert_eq!(event.detail_type, detail_type);
            check_event(event, limits.max_depth);
            Some(event.clone())
        }
        None => {
            assert_eq!(body["FailedEntryCount"], 1);
            assert!(submits.is_empty(), "a refused entry was submitted");
            let code = result["ErrorCode"].as_str().expect("an ErrorCode");
            assert!(
                code == "InvalidArgument" || code == "MalformedDetail",
                "unexpected ErrorCode {code}"
            );
            None
        }
    };

    // A detail serde_json reads as a shallow object, with a non-empty source
    // and detail type and no time, must be accepted.
    let parsed = serde_json::from_slice::<Value>(detail).ok();
    if let Some(value @ Value::Object(_)) = &parsed {
        if !source.is_empty()
            && !detail_type.is_empty()
            && time.is_none()
            && trailmark_host_fuzz::depth(value) <= limits.max_depth
        {
            assert!(aws_event.is_some(), "a valid entry was refused: {body}");
        }
    }

    // 3. The native API, when the detail is JSON and the time is not a number
    // (the native API only takes RFC 3339 text).
    let Some(value) = parsed else { return };
    if numeric_time.is_some() {
        return;
    }
    let mut entry = json!({
        "source": source,
        "detail-type": detail_type,
        "detail": value,
        "resources": resources,
    });
    if let Some(t) = &time {
        entry["time"] = json!(t);
    }
    let intake = Capture::new(Behaviour::Accept);
    let request = Request::post("/v1/events")
        .header("content-type", "application/json")
        .body(Body::from(entry.to_string()))
        .expect("a valid request");
    let answer = send(state(intake.clone(), limits.clone()), request);
    let body = answer.json();
    let submits = intake.submits();
    match &aws_event {
        Some(aws) => {
            assert_eq!(
                answer.status,
                StatusCode::OK,
                "native refused what PutEvents took: {body}"
            );
            assert_eq!(submits.len(), 1);
            let event = &submits[0][0];
            // Finding F1: floats may move by one ULP on each parse.
            if !trailmark_host_fuzz::has_float(&value) {
                assert_eq!(
                    event.detail, aws.detail,
                    "the two APIs stored different details"
                );
            }
            assert_eq!(event.time.len(), 20);
            if time.is_some() {
                assert_eq!(
                    event.time, aws.time,
                    "the two APIs read the time differently"
                );
            }
            check_event(event, limits.max_depth);
        }
        None => {
            assert_eq!(
                answer.status,
                StatusCode::BAD_REQUEST,
                "native took what PutEvents refused: {body}"
            );
            assert!(submits.is_empty());
        }
    }
});
