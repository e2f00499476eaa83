//! The native JSON API over real HTTP.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use trailmark::ingest::IngestLimits;

use crate::ingest_server::{Answer, TestServer, assert_still_serving, request};

const JSON: (&str, &str) = ("content-type", "application/json");

async fn post_events(server: &TestServer, body: &Value) -> Answer {
    request(
        server,
        Method::POST,
        "/v1/events",
        &[JSON],
        body.to_string(),
    )
    .await
}

async fn get_event(server: &TestServer, id: &str) -> Answer {
    request(server, Method::GET, &format!("/v1/events/{id}"), &[], "").await
}

fn book_change(id: &str, operation: &str) -> Value {
    json!({
        "source": "com.example.books",
        "detail-type": "Object State Change",
        "resources": [format!("book/{id}")],
        "detail": {"entity-type": "book", "entity-id": id, "operation": operation,
                   "author": "ana", "data": {"title": "Dune", "tags": ["sf", 1965]}},
    })
}

#[tokio::test]
async fn single_entry_is_accepted_and_can_be_read_back() {
    let server = TestServer::start().await;
    let answer = post_events(&server, &book_change("42", "insert")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["accepted"], 1);
    assert_eq!(answer.body["failed"], 0);
    let id = answer.body["entries"][0]["id"]
        .as_str()
        .expect("an id")
        .to_owned();

    let answer = get_event(&server, &id).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["id"], id.as_str());
    assert_eq!(answer.body["version"], "0");
    assert_eq!(answer.body["account"], "111122223333");
    assert_eq!(answer.body["region"], "eu-central-1");
    assert_eq!(answer.body["detail"], book_change("42", "insert")["detail"]);
    assert!(
        answer.body["time"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z') && t.len() == 20)
    );
}

#[tokio::test]
async fn array_results_follow_request_order() {
    let server = TestServer::start().await;
    let mut with_id = book_change("2", "update");
    with_id["id"] = json!("producer-chosen");
    let mut with_time = book_change("3", "delete");
    with_time["time"] = json!("2026-03-04T05:06:07.999-05:00");
    let body = json!([book_change("1", "insert"), with_id, with_time, {"source": "s", "detail-type": "t", "detail": [1]}]);
    let answer = post_events(&server, &body).await;
    // Taken whole or not at all: two refused entries refuse the request.
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    assert_eq!(answer.body["accepted"], 0);
    assert_eq!(answer.body["failed"], 4);
    let results = answer.body["entries"].as_array().expect("entries");
    assert_eq!(results[0]["error"], "not-accepted");
    assert_eq!(results[1]["error"], "invalid-argument");
    assert!(
        results[1]["message"]
            .as_str()
            .is_some_and(|m| m.contains("assigned by the host"))
    );
    assert_eq!(results[2]["error"], "not-accepted");
    assert_eq!(results[3]["error"], "malformed-detail");
    assert!(server.recorder.events().is_empty(), "nothing journaled");

    // The valid entries alone are taken, in order, with their times.
    let body = json!([book_change("1", "insert"), with_time]);
    let answer = post_events(&server, &body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["accepted"], 2);
    assert_eq!(answer.body["failed"], 0);
    let results = answer.body["entries"].as_array().expect("entries");
    let events = server.recorder.events();
    assert_eq!(events.len(), 2);
    assert_eq!(json!(events[0].id), results[0]["id"]);
    assert_eq!(json!(events[1].id), results[1]["id"]);
    assert_eq!(events[1].time, "2026-03-04T10:06:07Z");
}

#[tokio::test]
async fn unknown_id_is_a_json_404() {
    let server = TestServer::start().await;
    let answer = get_event(&server, "00000000-0000-4000-8000-000000000000").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.body["error"], "not-found");
    assert_still_serving(&server).await;
}

#[tokio::test]
async fn native_limits_and_malformed_input() {
    let server = TestServer::start().await;
    let eleven: Vec<_> = (0..11)
        .map(|n| book_change(&n.to_string(), "insert"))
        .collect();
    let answer = post_events(&server, &json!(eleven)).await;
    assert_eq!(
        (answer.status, &answer.body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid-request"))
    );

    let mut big = book_change("1", "insert");
    big["detail"]["data"] = json!("x".repeat(300_000));
    let answer = post_events(&server, &json!([big, book_change("2", "insert")])).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.body["entries"][0]["error"], "entry-too-large");
    assert_eq!(answer.body["entries"][1]["error"], "not-accepted");

    let answer = request(&server, Method::POST, "/v1/events", &[JSON], "{\"source\":").await;
    assert_eq!(
        (answer.status, &answer.body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid-json"))
    );

    let answer = request(&server, Method::POST, "/v1/events", &[], "{}").await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(answer.body["error"], "unsupported-media-type");

    let answer = request(
        &server,
        Method::POST,
        "/v1/events",
        &[JSON],
        // One byte past the default cap.
        vec![b' '; IngestLimits::default().max_body_bytes + 1],
    )
    .await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer.body["error"], "payload-too-large");

    let answer = post_events(&server, &json!([{"source": "s"}])).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.body["accepted"], 0);

    // Every request above had a refused entry or was refused whole.
    assert!(server.recorder.events().is_empty());
    assert_still_serving(&server).await;
}

#[tokio::test]
async fn busy_host_answers_503_with_retry_after() {
    let server = TestServer::start().await;
    server.recorder.refuse_next(1);
    let answer = post_events(&server, &book_change("1", "insert")).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.body["error"], "busy");
    assert_eq!(answer.headers["retry-after"], "1");
    assert!(server.recorder.events().is_empty());
    let answer = post_events(&server, &book_change("1", "insert")).await;
    assert_eq!(answer.status, StatusCode::OK);
}
