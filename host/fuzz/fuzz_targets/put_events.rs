//! The ingest router end to end, in process, mostly `POST /` PutEvents.
//!
//! Input: three selector bytes, then the request body.
//! - byte 0: `X-Amz-Target` (mostly `AWSEvents.PutEvents`; also
//!   TestEventPattern, missing, wrong case, unknown, non-UTF-8, repeated);
//! - byte 1: `Content-Type` (mostly AWS JSON 1.1; also with parameters and
//!   other case, missing, `application/json`, non-text);
//! - byte 2, two bits each: intake behaviour (accept, busy, unavailable),
//!   limits (default, tight, no in-flight permits), `Content-Length`
//!   (none, exact, huge, not a number), route (`POST /`,
//!   `POST /v1/events`, `PUT /`).
//!
//! Checked: no panic; no 5xx except 503 when the intake is busy or no
//! permit is left, and 500 only when the intake is unavailable; every answer
//! is JSON in its API's error shape; a PutEvents 200 has one result per
//! entry, its failure count right, and exactly the accepted events were
//! submitted, in order, each well formed and matchable.
#![no_main]

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, StatusCode};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use trailmark::ingest::{AMZ_JSON_1_1, IngestLimits};
use trailmark_host_fuzz::{Behaviour, Capture, check_event, send, state};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Aws,
    Native,
    WrongMethod,
}

fn target_headers(selector: u8) -> Vec<HeaderValue> {
    let one = |s: &'static str| vec![HeaderValue::from_static(s)];
    match selector % 16 {
        0..=9 => one("AWSEvents.PutEvents"),
        10 => one("AWSEvents.TestEventPattern"),
        11 => Vec::new(),
        12 => one("awsevents.putevents"),
        13 => one("AWSEvents.PutEventsX"),
        14 => {
            vec![HeaderValue::from_bytes(b"AWSEvents.\xffPutEvents").expect("obs-text is allowed")]
        }
        _ => vec![
            HeaderValue::from_static("AWSEvents.Nope"),
            HeaderValue::from_static("AWSEvents.PutEvents"),
        ],
    }
}

fn content_type(selector: u8, route: Route) -> Option<HeaderValue> {
    match selector % 8 {
        0..=3 if route == Route::Native => Some(HeaderValue::from_static("application/json")),
        0..=3 => Some(HeaderValue::from_static(AMZ_JSON_1_1)),
        4 => Some(HeaderValue::from_static(
            "Application/X-Amz-Json-1.1 ; charset=UTF-8",
        )),
        5 => None,
        6 => Some(HeaderValue::from_static("application/json")),
        _ => Some(HeaderValue::from_bytes(b"\xff\xfe/json").expect("obs-text is allowed")),
    }
}

fn limits(selector: u8) -> IngestLimits {
    match selector {
        2 => IngestLimits {
            max_entry_bytes: 300,
            max_entries_per_put: 3,
            max_body_bytes: 1024,
            max_depth: 4,
            max_in_flight: 1,
            max_in_flight_per_principal: 1,
        },
        3 => IngestLimits {
            max_in_flight: 0,
            ..IngestLimits::default()
        },
        _ => IngestLimits::default(),
    }
}

fuzz_target!(|data: &[u8]| {
    let at = |i: usize| data.get(i).copied().unwrap_or(0);
    let (target, ctype, flags) = (at(0), at(1), at(2));
    let body = data.get(3..).unwrap_or_default().to_vec();
    let behaviour = match flags & 3 {
        2 => Behaviour::Busy,
        3 => Behaviour::Unavailable,
        _ => Behaviour::Accept,
    };
    let limits = limits((flags >> 2) & 3);
    let route = match (flags >> 6) & 3 {
        2 => Route::Native,
        3 => Route::WrongMethod,
        _ => Route::Aws,
    };

    let (method, uri) = match route {
        Route::Aws => (Method::POST, "/"),
        Route::Native => (Method::POST, "/v1/events"),
        Route::WrongMethod => (Method::PUT, "/"),
    };
    let mut request = Request::builder().method(method).uri(uri);
    let headers = request.headers_mut().expect("the builder has no error");
    for value in target_headers(target) {
        headers.append("x-amz-target", value);
    }
    if let Some(value) = content_type(ctype, route) {
        headers.insert("content-type", value);
    }
    match (flags >> 4) & 3 {
        1 => {
            headers.insert("content-length", HeaderValue::from(body.len()));
        }
        2 => {
            headers.insert(
                "content-length",
                HeaderValue::from_static("99999999999999999999"),
            );
        }
        3 => {
            headers.insert("content-length", HeaderValue::from_static("ten"));
        }
        _ => {}
    }
    let request = request
        .body(Body::from(body.clone()))
        .expect("a valid request");

    let intake = Capture::new(behaviour);
    let answer = send(state(intake.clone(), limits.clone()), request);
    let submits = intake.submits();
    let status = answer.status;

    // Server errors only where the design puts them.
    // Only the POST handlers take an in-flight permit.
    let no_permit = limits.max_in_flight == 0 && route != Route::WrongMethod;
    let throttled = no_permit || (behaviour == Behaviour::Busy && !submits.is_empty());
    let broken = behaviour == Behaviour::Unavailable && !submits.is_empty();
    match status {
        StatusCode::SERVICE_UNAVAILABLE => assert!(throttled, "503 without backpressure"),
        StatusCode::INTERNAL_SERVER_ERROR => assert!(broken, "500 with a working intake"),
        s if s.is_server_error() => panic!("unexpected {s}"),
        _ => {
            assert!(!throttled, "backpressure answered {status}");
            assert!(!broken, "intake failure answered {status}");
        }
    }
    assert!(submits.len() <= 1, "one request, at most one submit");

    let json = answer.json();
    match route {
        Route::Aws => {
            assert!(answer.headers.contains_key("x-amzn-requestid"));
            assert_eq!(answer.headers["content-type"], AMZ_JSON_1_1);
            if status != StatusCode::OK {
                let code = json["__type"].as_str().expect("an AWS error has __type");
                assert_eq!(answer.headers["x-amzn-errortype"], code);
                assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()));
            }
        }
        Route::Native if status != StatusCode::OK => {
            assert!(
                json["error"].is_string() || json["entries"].is_array(),
                "{json}"
            );
        }
        Route::Native => assert!(json["accepted"].as_u64().is_some_and(|n| n >= 1)),
        Route::WrongMethod => assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED),
    }

    // Every submitted event is well formed and matchable.
    for event in submits.iter().flatten() {
        check_event(event, limits.max_depth);
    }

    // A PutEvents answer accounts for every entry of the request.
    if route == Route::Aws && target % 16 <= 9 && status == StatusCode::OK {
        // Finding F3: the host accepts invalid UTF-8 and lone surrogate
        // escapes inside fields it ignores; count entries only when the body
        // is strict JSON.
        let request: Value = match serde_json::from_slice(&body) {
            Ok(request) => request,
            Err(_) => return,
        };
        let sent = request["Entries"]
            .as_array()
            .expect("a 200 request has Entries")
            .len();
        let results = json["Entries"]
            .as_array()
            .expect("a 200 answer has Entries");
        assert_eq!(results.len(), sent, "one result per entry");
        assert!((1..=limits.max_entries_per_put).contains(&sent));
        let ids: Vec<&str> = results
            .iter()
            .filter_map(|r| r["EventId"].as_str())
            .collect();
        let failed = results
            .iter()
            .filter(|r| r["ErrorCode"].is_string())
            .count();
        assert_eq!(ids.len() + failed, sent, "each result is an id or an error");
        assert_eq!(json["FailedEntryCount"], failed);
        let submitted: Vec<&str> = submits.iter().flatten().map(|e| e.id.as_str()).collect();
        assert_eq!(
            ids, submitted,
            "the accepted entries are the submitted events"
        );
    }
});
