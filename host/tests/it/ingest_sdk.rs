//! The real `aws-sdk-eventbridge` client against a real ingest server.

use aws_sdk_eventbridge::error::ProvideErrorMetadata;
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use trailmark::cli::producer::{PutEntry, PutOutcome, parse_entries, put_events_via_sdk};

use crate::ingest_server::{TestServer, assert_still_serving, raw_sdk_client};

fn sdk_entry(n: usize) -> PutEventsRequestEntry {
    PutEventsRequestEntry::builder()
        .source("com.example.books")
        .detail_type("Object State Change")
        .detail(format!(
            r#"{{"entity-type": "book", "entity-id": "{n}", "operation": "insert"}}"#
        ))
        .resources(format!("arn:aws:example:::book/{n}"))
        .time(DateTime::from_secs(1_764_070_101))
        .build()
}

fn put_entry(n: usize) -> PutEntry {
    PutEntry {
        source: Some("com.example.books".to_owned()),
        detail_type: Some("Object State Change".to_owned()),
        detail: Some(format!(r#"{{"entity-id": "{n}"}}"#)),
        ..PutEntry::default()
    }
}

#[tokio::test]
async fn sdk_put_events_gets_event_ids_of_the_recorded_events() {
    let server = TestServer::start().await;
    let client = raw_sdk_client(&server, 1);
    let output = client
        .put_events()
        .entries(sdk_entry(1))
        .entries(sdk_entry(2))
        .send()
        .await
        .expect("PutEvents succeeds");
    assert_eq!(output.failed_entry_count(), 0);
    let events = server.recorder.events();
    let ids: Vec<_> = output
        .entries()
        .iter()
        .map(|e| e.event_id().map(str::to_owned))
        .collect();
    let recorded: Vec<_> = events.iter().map(|e| Some(e.id.clone())).collect();
    assert_eq!(ids, recorded);
    assert_eq!(events[0].time, "2025-11-25T11:28:21Z");
    assert_eq!(
        events[0].resources,
        vec!["arn:aws:example:::book/1".to_owned()]
    );
    assert_eq!(events[1].account, "111122223333");
    assert_eq!(events[1].region, "eu-central-1");
    assert_eq!(
        events[1].detail,
        r#"{"entity-type":"book","entity-id":"2","operation":"insert"}"#
    );
}

#[tokio::test]
async fn sdk_sees_per_entry_errors_in_request_order() {
    let server = TestServer::start().await;
    let client = raw_sdk_client(&server, 1);
    let bad = PutEventsRequestEntry::builder()
        .source("s")
        .detail_type("t")
        .detail("[\"not an object\"]")
        .build();
    let output = client
        .put_events()
        .entries(sdk_entry(1))
        .entries(bad)
        .entries(sdk_entry(3))
        .send()
        .await
        .expect("PutEvents succeeds with a failed entry");
    assert_eq!(output.failed_entry_count(), 1);
    let entries = output.entries();
    assert!(entries[0].event_id().is_some());
    assert_eq!(entries[1].error_code(), Some("MalformedDetail"));
    assert!(
        entries[1]
            .error_message()
            .is_some_and(|m| m.contains("object"))
    );
    assert!(entries[2].event_id().is_some());
    assert_eq!(server.recorder.events().len(), 2);
}

#[tokio::test]
async fn sdk_sees_eleven_entries_as_a_validation_exception() {
    let server = TestServer::start().await;
    let client = raw_sdk_client(&server, 1);
    let entries: Vec<_> = (0..11).map(sdk_entry).collect();
    let error = client
        .put_events()
        .set_entries(Some(entries))
        .send()
        .await
        .expect_err("11 entries are too many");
    assert_eq!(error.code(), Some("ValidationException"));
    assert!(
        error
            .message()
            .is_some_and(|m| m.contains("less than or equal to 10"))
    );
    assert_still_serving(&server).await;
}

#[tokio::test]
async fn busy_host_is_a_throttling_error_the_sdk_retries() {
    let server = TestServer::start().await;
    let client = raw_sdk_client(&server, 3);

    // Always busy: the SDK retries up to max_attempts, then surfaces throttling.
    server.recorder.refuse_next(usize::MAX);
    let error = client
        .put_events()
        .entries(sdk_entry(1))
        .send()
        .await
        .expect_err("host is busy");
    assert_eq!(error.code(), Some("ThrottlingException"));
    let raw = error.raw_response().expect("a service response");
    assert_eq!(raw.status().as_u16(), 503);
    assert_eq!(
        server.recorder.submit_calls(),
        3,
        "the SDK retried throttling"
    );

    // Busy once: the SDK's retry goes through and nothing is lost or doubled.
    server.recorder.refuse_next(1);
    let output = client
        .put_events()
        .entries(sdk_entry(2))
        .send()
        .await
        .expect("retry succeeds");
    assert_eq!(output.failed_entry_count(), 0);
    assert_eq!(server.recorder.events().len(), 1);
    assert_eq!(server.recorder.submit_calls(), 5);
}

#[tokio::test]
async fn client_function_batches_by_ten_and_reports_every_entry_in_order() {
    let server = TestServer::start().await;
    let mut entries: Vec<_> = (0..25).map(put_entry).collect();
    entries[12].detail = Some("not json".to_owned());
    let summary = put_events_via_sdk(&server.endpoint(), None, entries)
        .await
        .expect("put runs");
    assert_eq!(summary.entries.len(), 25);
    assert_eq!(summary.accepted(), 24);
    assert_eq!(summary.failed(), 1);
    assert_eq!(server.recorder.submit_calls(), 3, "3 calls: 10 + 10 + 5");
    let recorded: Vec<_> = server.recorder.events().into_iter().map(|e| e.id).collect();
    let accepted: Vec<_> = summary
        .entries
        .iter()
        .filter_map(|outcome| match outcome {
            PutOutcome::Accepted { event_id } => Some(event_id.clone()),
            PutOutcome::Failed { .. } => None,
        })
        .collect();
    assert_eq!(accepted, recorded);
    assert!(matches!(
        &summary.entries[12],
        PutOutcome::Failed { error_code, .. } if error_code == "MalformedDetail"
    ));
    let events = server.recorder.events();
    assert_eq!(
        events[12].detail, r#"{"entity-id":"13"}"#,
        "entry 12 was skipped"
    );
}

#[tokio::test]
async fn client_function_takes_the_aws_cli_entries_file_format() {
    let server = TestServer::start().await;
    let entries = parse_entries(
        r#"[{"Source": "com.example.books", "DetailType": "Object State Change",
             "Detail": "{\"entity-id\": \"1\"}", "Resources": ["book/1"],
             "Time": "2026-01-02T03:04:05Z", "EventBusName": "default"}]"#,
    )
    .expect("valid entries file");
    let summary = put_events_via_sdk(&server.endpoint(), None, entries)
        .await
        .expect("put runs");
    assert_eq!(summary.accepted(), 1);
    let event = &server.recorder.events()[0];
    assert_eq!(event.time, "2026-01-02T03:04:05Z");
    assert_eq!(event.resources, vec!["book/1".to_owned()]);
}

#[tokio::test]
async fn client_function_reports_an_unreachable_endpoint_per_entry() {
    let server = TestServer::start().await;
    let endpoint = server.endpoint();
    drop(server);
    // Give the aborted server task a moment to release the port.
    tokio::task::yield_now().await;
    let entries: Vec<_> = (0..15).map(put_entry).collect();
    let summary = put_events_via_sdk(&endpoint, None, entries)
        .await
        .expect("put runs");
    assert_eq!(summary.entries.len(), 15);
    assert_eq!(summary.accepted(), 0);
    assert!(matches!(
        &summary.entries[14],
        PutOutcome::Failed { error_code, .. } if error_code == "NotSent"
    ));
}
