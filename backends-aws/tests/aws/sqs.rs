//! SqsSource: receive, parse, delete.

use trailmark_backends_aws::SqsSourceConfig;

use crate::common::{REGION, moto_url, new_queue, runtime, sdk};

const ENVELOPE: &str = r#"{"version":"0","id":"11111111-2222-3333-4444-555555555555","detail-type":"Object State Change","source":"com.example.books","account":"123456789012","time":"2026-11-25T12:00:00Z","region":"us-east-1","resources":[],"detail":{"entity-type":"book","entity-id":"42","operation":"delete","ts":1764072000000,"author":"alice","data":{}}}"#;

#[test]
fn messages_are_received_parsed_and_deleted() {
    let rt = runtime();
    let (queue_url, _) = rt.block_on(new_queue("ingest"));
    rt.block_on(async {
        let client = aws_sdk_sqs::Client::new(&sdk().await);
        for body in [ENVELOPE, "not json"] {
            client
                .send_message()
                .queue_url(&queue_url)
                .message_body(body)
                .send()
                .await
                .unwrap();
        }
    });
    let config = SqsSourceConfig {
        wait_seconds: 1,
        region: Some(REGION.into()),
        endpoint: Some(moto_url()),
        ..SqsSourceConfig::new(&queue_url)
    };
    rt.block_on(config.check()).unwrap();
    let source = rt.block_on(config.connect()).unwrap();
    let mut messages = Vec::new();
    for _ in 0..5 {
        messages.extend(rt.block_on(source.receive(10)).unwrap());
        if messages.len() >= 2 {
            break;
        }
    }
    assert_eq!(messages.len(), 2, "{messages:?}");
    let good = messages
        .iter()
        .find(|m| m.event.is_ok())
        .expect("the envelope parses");
    let event = good.event.as_ref().unwrap();
    assert_eq!(event.id, "11111111-2222-3333-4444-555555555555");
    assert_eq!(event.source, "com.example.books");
    assert!(event.detail.starts_with(r#"{"entity-type":"book""#));
    assert_eq!(good.receive_count, 1);
    let bad = messages
        .iter()
        .find(|m| m.event.is_err())
        .expect("the other does not");
    let err = bad.event.as_ref().unwrap_err();
    assert_eq!(err.message_id, bad.message_id);

    let receipts: Vec<String> = messages.iter().map(|m| m.receipt.clone()).collect();
    rt.block_on(source.delete(&receipts)).unwrap();
    // Deleted: nothing comes back even after the visibility timeout.
    rt.block_on(async {
        let client = aws_sdk_sqs::Client::new(&sdk().await);
        let attrs = client
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
            .send()
            .await
            .unwrap();
        let count = |name| {
            attrs
                .attributes()
                .and_then(|a| a.get(&name))
                .cloned()
                .unwrap_or_default()
        };
        use aws_sdk_sqs::types::QueueAttributeName::*;
        assert_eq!(count(ApproximateNumberOfMessages), "0");
        assert_eq!(count(ApproximateNumberOfMessagesNotVisible), "0");
    });
    assert!(rt.block_on(source.delete(&[])).is_ok());
}
