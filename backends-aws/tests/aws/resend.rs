//! EventBridge partial failures, against a scripted PutEvents endpoint on
//! loopback (moto never fails single entries): exactly the entries reported
//! failed with a retryable code are sent again.

use serde_json::{Value, json};
use trailmark_backend_api::Event;
use trailmark_backends_aws::AwsForwardConfig;

use crate::common::{REGION, runtime};
use crate::test_http::{Reply, TestServer};
use trailmark_backends_aws::AwsBackendConfig as _;

fn event(i: usize) -> Event {
    Event {
        id: format!("evt-{i}"),
        version: "0".into(),
        source: "com.example.books".into(),
        detail_type: "Object State Change".into(),
        time: "2026-11-25T12:00:00Z".into(),
        account: "1".into(),
        region: REGION.into(),
        resources: vec![],
        detail: format!(r#"{{"n":{i}}}"#),
    }
}

fn entry_details(body: &Value) -> Vec<String> {
    body["Entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Detail"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn only_entries_that_failed_retryably_are_sent_again() {
    let server = TestServer::start(vec![
        Reply::aws_json(&json!({"FailedEntryCount": 1, "Entries": [
            {"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"}
        ]})),
        Reply::aws_json(&json!({"FailedEntryCount": 0, "Entries": [{"EventId": "b"}]})),
    ]);
    let rt = runtime();
    let forwarder = AwsForwardConfig::Eventbridge {
        bus: "audit".into(),
        region: Some(REGION.into()),
        endpoint: Some(server.url("")),
        source: None,
    }
    .build(rt.handle())
    .unwrap();
    forwarder.send(&event(1)).unwrap();
    let bodies = server.json_bodies();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert_eq!(entry_details(&bodies[0]), [r#"{"n":1}"#]);
    assert_eq!(entry_details(&bodies[1]), [r#"{"n":1}"#]);
    assert_eq!(bodies[0]["Entries"][0]["EventBusName"], "audit");
}
