//! Error mapping, start-up checks that name the resource, and the
//! sync-over-async bridge from every kind of thread.

use std::net::TcpListener;

use trailmark_backend_api::{BackendError, ChangeQuery, ChangeRecord, Event, Notification};
use trailmark_backends_aws::{
    AwsArchiveConfig, AwsForwardConfig, AwsMetadataConfig, AwsNotifyConfig, SqsSourceConfig,
};

use crate::common::{
    ACCOUNT, REGION, dynamodb_on_moto, eventbridge_on_moto, moto_url, new_store, runtime,
    s3_on_moto, sns_on_moto, unique,
};
use trailmark_backends_aws::AwsBackendConfig as _;

fn missing_bucket() -> AwsArchiveConfig {
    s3_on_moto(unique("missing"), None)
}

fn missing_table() -> AwsMetadataConfig {
    dynamodb_on_moto(unique("missing"))
}

fn missing_topic() -> AwsNotifyConfig {
    sns_on_moto(format!(
        "arn:aws:sns:{REGION}:{ACCOUNT}:{}",
        unique("missing")
    ))
}

fn missing_bus() -> AwsForwardConfig {
    eventbridge_on_moto(unique("missing"), None)
}

fn record() -> ChangeRecord {
    ChangeRecord {
        event_id: "evt-1".into(),
        source: "s".into(),
        entity_type: "book".into(),
        entity_id: "1".into(),
        operation: "insert".into(),
        ts: 1,
        author: "a".into(),
        archive_key: None,
        attributes: "{}".into(),
        rules: Vec::new(),
    }
}

#[test]
fn missing_resources_are_invalid() {
    let rt = runtime();
    let archive = missing_bucket().build(rt.handle()).unwrap();
    let err = archive.put("a/b", b"x", "text/plain").unwrap_err();
    assert!(
        matches!(&err, BackendError::Invalid(m) if m.contains("NoSuchBucket")),
        "{err:?}"
    );
    let err = archive.get("a/b").unwrap_err();
    assert!(matches!(err, BackendError::Invalid(_)), "{err:?}");

    let store = missing_table().build(rt.handle()).unwrap();
    let err = store.put(&record()).unwrap_err();
    assert!(
        matches!(&err, BackendError::Invalid(m) if m.contains("ResourceNotFound")),
        "{err:?}"
    );
    let err = store.query(&ChangeQuery::default()).unwrap_err();
    assert!(matches!(err, BackendError::Invalid(_)), "{err:?}");

    let notifier = missing_topic().build(rt.handle()).unwrap();
    let err = notifier
        .publish(&Notification {
            channel: "admins".into(),
            subject: "s".into(),
            message: "m".into(),
            attributes: vec![],
        })
        .unwrap_err();
    assert!(matches!(err, BackendError::Invalid(_)), "{err:?}");

    let forwarder = missing_bus().build(rt.handle()).unwrap();
    let err = forwarder
        .send(&Event {
            id: "e".into(),
            version: "0".into(),
            source: "com.example".into(),
            detail_type: "Object State Change".into(),
            time: "2026-11-25T12:00:00Z".into(),
            account: "1".into(),
            region: REGION.into(),
            resources: vec![],
            detail: "{}".into(),
        })
        .unwrap_err();
    assert!(matches!(err, BackendError::Invalid(_)), "{err:?}");
}

#[test]
fn checks_name_the_missing_resource_and_what_to_do() {
    let rt = runtime();
    let bucket = missing_bucket();
    let AwsArchiveConfig::S3 { bucket: name, .. } = &bucket;
    let err = rt.block_on(bucket.check()).unwrap_err().to_string();
    assert!(err.contains(&format!("S3 bucket `{name}`")), "{err}");
    assert!(err.contains("trailmark aws bootstrap"), "{err}");

    let table = missing_table();
    let AwsMetadataConfig::Dynamodb { table: name, .. } = &table;
    let err = rt.block_on(table.check()).unwrap_err().to_string();
    assert!(err.contains(&format!("DynamoDB table `{name}`")), "{err}");
    assert!(err.contains("ResourceNotFound"), "{err}");

    let topic = missing_topic();
    let AwsNotifyConfig::Sns { topic_arn, .. } = &topic;
    let err = rt.block_on(topic.check()).unwrap_err().to_string();
    assert!(err.contains(topic_arn.as_str()), "{err}");

    let bus = missing_bus();
    let AwsForwardConfig::Eventbridge { bus: name, .. } = &bus;
    let err = rt.block_on(bus.check()).unwrap_err().to_string();
    assert!(err.contains(&format!("EventBridge bus `{name}`")), "{err}");

    let queue = SqsSourceConfig {
        region: Some(REGION.into()),
        endpoint: Some(moto_url()),
        ..SqsSourceConfig::new(&format!("{}/{ACCOUNT}/{}", moto_url(), unique("missing")))
    };
    let err = rt.block_on(queue.check()).unwrap_err().to_string();
    assert!(err.contains("SQS queue"), "{err}");
}

#[test]
fn a_table_without_the_indexes_fails_its_check() {
    let rt = runtime();
    let name = unique("bare");
    rt.block_on(async {
        use aws_sdk_dynamodb::types::*;
        let client = aws_sdk_dynamodb::Client::new(&crate::common::sdk().await);
        client
            .create_table()
            .table_name(&name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("sk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("pk")
                    .key_type(KeyType::Hash)
                    .build()
                    .unwrap(),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("sk")
                    .key_type(KeyType::Range)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    });
    let config = dynamodb_on_moto(name.clone());
    let err = rt.block_on(config.check()).unwrap_err().to_string();
    assert!(err.contains("by-author"), "{err}");
}

#[test]
fn an_unreachable_endpoint_is_transient() {
    let rt = runtime();
    // A port nothing listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = AwsArchiveConfig::S3 {
        bucket: "b".into(),
        prefix: None,
        region: Some(REGION.into()),
        endpoint: Some(format!("http://127.0.0.1:{port}")),
    };
    let archive = config.build(rt.handle()).unwrap();
    let err = archive.get("k").unwrap_err();
    assert!(matches!(err, BackendError::Transient(_)), "{err:?}");
    let err = rt.block_on(config.check()).unwrap_err();
    assert!(matches!(err.cause, BackendError::Transient(_)), "{err}");
    assert!(err.to_string().contains("endpoint reachable"), "{err}");
}

#[test]
fn bad_configuration_is_invalid_at_build() {
    let rt = runtime();
    let config = s3_on_moto("b".into(), Some("../up".into()));
    assert!(matches!(
        config.build(rt.handle()),
        Err(BackendError::Invalid(_))
    ));
    let config = AwsArchiveConfig::S3 {
        bucket: "b".into(),
        prefix: None,
        region: Some(REGION.into()),
        endpoint: Some("127.0.0.1:5000".into()),
    };
    assert!(
        matches!(config.build(rt.handle()), Err(BackendError::Invalid(m)) if m.contains("not a URL"))
    );
    let single = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert!(matches!(
        missing_bucket().build(single.handle()),
        Err(BackendError::Invalid(m)) if m.contains("multi-thread")
    ));
}

#[test]
fn backends_work_from_blocking_threads_and_async_workers() {
    let rt = runtime();
    let store = new_store(&rt, "threads");
    let from_blocking = {
        let store = store.clone();
        rt.block_on(rt.spawn_blocking(move || store.put(&record())))
            .unwrap()
    };
    assert!(from_blocking.is_ok(), "{from_blocking:?}");
    let from_worker = {
        let store = store.clone();
        let query = trailmark_backend_api::HistoryQuery {
            entity_type: "book".into(),
            entity_id: "1".into(),
            ..Default::default()
        };
        rt.block_on(rt.spawn(async move { store.history(&query) }))
            .unwrap()
    };
    assert_eq!(from_worker.unwrap().records.len(), 1);
}
