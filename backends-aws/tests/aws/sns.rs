//! SNS notify: published notifications reach an SQS subscriber whose
//! filter policy selects on the `operation` attribute.

use std::time::Duration;

use serde_json::Value;
use trailmark_backend_api::Notification;
use trailmark_backends_aws::{BootstrapSpec, bootstrap};

use crate::common::{ACCOUNT, REGION, drain, new_queue, runtime, sdk, sns_on_moto, unique};
use trailmark_backends_aws::AwsBackendConfig as _;

fn notification(operation: &str, author: &str) -> Notification {
    Notification {
        channel: "admins".into(),
        subject: format!("book 42 {operation}d\nby {author}"),
        message: format!("book 42 was {operation}d by {author}"),
        attributes: vec![
            ("operation".into(), operation.into()),
            ("entity-type".into(), "book".into()),
            ("source".into(), "com.example.books".into()),
            ("author".into(), author.into()),
        ],
    }
}

#[test]
fn subscribers_filter_on_the_notification_attributes() {
    let rt = runtime();
    let topic_arn = format!("arn:aws:sns:{REGION}:{ACCOUNT}:{}", unique("admins"));
    let config = sns_on_moto(topic_arn.clone());
    let (queue_url, queue_arn) = rt.block_on(async {
        bootstrap(&BootstrapSpec {
            notify: vec![config.clone()],
            ..Default::default()
        })
        .await
        .unwrap();
        let (queue_url, queue_arn) = new_queue("deletes").await;
        aws_sdk_sns::Client::new(&sdk().await)
            .subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(&queue_arn)
            .attributes("FilterPolicy", r#"{"operation": ["delete"]}"#)
            .send()
            .await
            .unwrap();
        (queue_url, queue_arn)
    });
    assert!(queue_arn.starts_with("arn:aws:sqs:"));
    rt.block_on(config.check()).unwrap();

    let notifier = config.build(rt.handle()).unwrap();
    notifier.publish(&notification("update", "alice")).unwrap();
    notifier.publish(&notification("delete", "bob")).unwrap();
    notifier.publish(&notification("insert", "")).unwrap();

    let messages = rt.block_on(drain(&queue_url, 2, Duration::from_secs(3)));
    assert_eq!(
        messages.len(),
        1,
        "only the delete passes the filter: {messages:?}"
    );
    let envelope: Value = serde_json::from_str(messages[0].body().unwrap()).unwrap();
    assert_eq!(envelope["Message"], "book 42 was deleted by bob");
    assert_eq!(
        envelope["Subject"], "book 42 deleted by bob",
        "newline made a space"
    );
    let attributes = &envelope["MessageAttributes"];
    for (name, value) in [
        ("operation", "delete"),
        ("entity-type", "book"),
        ("source", "com.example.books"),
        ("author", "bob"),
    ] {
        assert_eq!(attributes[name]["Type"], "String", "{name}: {attributes}");
        assert_eq!(attributes[name]["Value"], value, "{name}: {attributes}");
    }
}
