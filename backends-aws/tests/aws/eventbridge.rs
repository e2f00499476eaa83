//! EventBridge forward: events sent concurrently reach an SQS queue through
//! a real rule on the bus (moto's TestEventPattern is a stub, so rules are
//! the way to test), and read back with SqsSource.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use trailmark_backend_api::Event;
use trailmark_backends_aws::{AwsForwardConfig, BootstrapSpec, SqsSourceConfig, bootstrap};

use crate::common::{eventbridge_on_moto, new_queue, runtime, sdk, unique};
use trailmark_backends_aws::AwsBackendConfig as _;

fn event(i: usize, source: &str) -> Event {
    Event {
        id: format!("evt-{i}"),
        version: "0".into(),
        source: source.into(),
        detail_type: "Object State Change".into(),
        time: "2026-11-25T12:00:00Z".into(),
        account: "000000000000".into(),
        region: "eu-west-1".into(),
        resources: vec![format!("book/{i}")],
        detail: format!(
            r#"{{"entity-type":"book","entity-id":"{i}","operation":"update","price":1.10}}"#
        ),
    }
}

/// Bootstrap the forward's bus and route what `pattern` matches on it to a
/// new queue; the queue's URL.
async fn bus_rule_to_queue(config: &AwsForwardConfig, queue: &str, pattern: &str) -> String {
    let AwsForwardConfig::Eventbridge { bus, .. } = config;
    bootstrap(&BootstrapSpec {
        forward: vec![config.clone()],
        ..Default::default()
    })
    .await
    .unwrap();
    let (queue_url, queue_arn) = new_queue(queue).await;
    let events = aws_sdk_eventbridge::Client::new(&sdk().await);
    let rule = unique("rule");
    events
        .put_rule()
        .name(&rule)
        .event_bus_name(bus)
        .event_pattern(pattern)
        .send()
        .await
        .unwrap();
    let target = aws_sdk_eventbridge::types::Target::builder()
        .id("queue")
        .arn(&queue_arn)
        .build()
        .unwrap();
    events
        .put_targets()
        .rule(&rule)
        .event_bus_name(bus)
        .targets(target)
        .send()
        .await
        .unwrap();
    queue_url
}

#[test]
fn forwarded_events_reach_a_rule_target_on_the_bus() {
    let rt = runtime();
    let config = eventbridge_on_moto(unique("bus"), None);
    let queue_url = rt.block_on(bus_rule_to_queue(
        &config,
        "forwarded",
        r#"{"source": ["com.example.books"], "detail": {"operation": ["update"]}}"#,
    ));
    rt.block_on(config.check()).unwrap();
    let forwarder = config.build(rt.handle()).unwrap();

    // 5 threads × 5 events: concurrent senders share batches.
    let started = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..5 {
            let forwarder = &forwarder;
            scope.spawn(move || {
                for i in 0..5 {
                    forwarder
                        .send(&event(t * 5 + i, "com.example.books"))
                        .unwrap();
                }
            });
        }
    });
    let elapsed = started.elapsed();
    // Does not match the rule.
    forwarder.send(&event(99, "com.example.shop")).unwrap();
    eprintln!("forwarded 25 events in {elapsed:?}");

    let source = rt
        .block_on(
            SqsSourceConfig {
                wait_seconds: 1,
                ..SqsSourceConfig::new(&queue_url)
            }
            .connect(),
        )
        .unwrap();
    let mut entity_ids = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while entity_ids.len() < 25 && Instant::now() < deadline {
        let messages = rt.block_on(source.receive(10)).unwrap();
        let receipts: Vec<String> = messages.iter().map(|m| m.receipt.clone()).collect();
        for message in messages {
            let event = message.event.expect("EventBridge delivers envelopes");
            assert_eq!(event.detail_type, "Object State Change");
            assert_eq!(event.source, "com.example.books");
            assert_eq!(event.resources.len(), 1);
            // EventBridge (and moto) re-serialize `detail`; its values survive.
            let detail: serde_json::Value = serde_json::from_str(&event.detail).unwrap();
            assert_eq!(detail["price"], 1.1, "{}", event.detail);
            entity_ids.insert(
                detail["entity-id"]
                    .as_str()
                    .unwrap()
                    .parse::<usize>()
                    .unwrap(),
            );
        }
        rt.block_on(source.delete(&receipts)).unwrap();
    }
    assert_eq!(entity_ids, (0..25).collect::<BTreeSet<_>>());
}

#[test]
fn the_source_override_replaces_each_events_source() {
    let rt = runtime();
    let config = eventbridge_on_moto(unique("bus"), Some("trailmark".into()));
    let queue_url = rt.block_on(bus_rule_to_queue(
        &config,
        "renamed",
        r#"{"source": ["trailmark"]}"#,
    ));
    let forwarder = config.build(rt.handle()).unwrap();
    forwarder.send(&event(1, "com.example.books")).unwrap();
    let messages = rt.block_on(crate::common::drain(&queue_url, 1, Duration::from_secs(3)));
    assert_eq!(messages.len(), 1);
    let body: serde_json::Value = serde_json::from_str(messages[0].body().unwrap()).unwrap();
    assert_eq!(body["source"], "trailmark");
}
