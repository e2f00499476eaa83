//! Helpers shared by the moto tests.

use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{Message, QueueAttributeName};
use std::sync::Arc;
use tokio::runtime::Runtime;

use trailmark_backend_api::MetadataStore;
use trailmark_backends_aws::{
    AwsArchiveConfig, AwsBackendConfig, AwsForwardConfig, AwsMetadataConfig, AwsNotifyConfig,
    AwsTarget, BootstrapSpec, bootstrap,
};

/// moto's account id.
pub(crate) const ACCOUNT: &str = "123456789012";
/// The region every test uses.
pub(crate) const REGION: &str = "us-east-1";

/// The moto server's URL; fails the test (never skips it) when unset.
pub(crate) fn moto_url() -> String {
    match std::env::var("TRAILMARK_MOTO_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!("set TRAILMARK_MOTO_URL (cargo xtask test starts moto)"),
    }
}

/// A multi-thread runtime, as the host runs.
pub(crate) fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime can be built")
}

/// A name no other test (or earlier run) uses: lowercase, fit for buckets.
pub(crate) fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("tm-{prefix}-{}", &id[..12])
}

/// moto, region us-east-1, through the per-backend `endpoint` key.
pub(crate) fn target() -> AwsTarget {
    AwsTarget::new(Some(REGION.to_owned()), Some(moto_url()))
}

/// The SDK configuration for [`target`].
pub(crate) async fn sdk() -> aws_config::SdkConfig {
    target().load().await.expect("moto configuration loads")
}

/// An `s3` section for `bucket` on moto.
pub(crate) fn s3_on_moto(bucket: String, prefix: Option<String>) -> AwsArchiveConfig {
    AwsArchiveConfig::S3 {
        bucket,
        prefix,
        region: Some(REGION.to_owned()),
        endpoint: Some(moto_url()),
    }
}

/// A `dynamodb` section for `table` on moto.
pub(crate) fn dynamodb_on_moto(table: String) -> AwsMetadataConfig {
    AwsMetadataConfig::Dynamodb {
        table,
        region: Some(REGION.to_owned()),
        endpoint: Some(moto_url()),
    }
}

/// An `sns` section for `topic_arn` on moto.
pub(crate) fn sns_on_moto(topic_arn: String) -> AwsNotifyConfig {
    AwsNotifyConfig::Sns {
        topic_arn,
        region: Some(REGION.to_owned()),
        endpoint: Some(moto_url()),
    }
}

/// An `eventbridge` section for `bus` on moto.
pub(crate) fn eventbridge_on_moto(bus: String, source: Option<String>) -> AwsForwardConfig {
    AwsForwardConfig::Eventbridge {
        bus,
        region: Some(REGION.to_owned()),
        endpoint: Some(moto_url()),
        source,
    }
}

/// A metadata config for a new table, created through bootstrap.
pub(crate) async fn new_table(prefix: &str) -> AwsMetadataConfig {
    let config = dynamodb_on_moto(unique(prefix));
    let spec = BootstrapSpec {
        metadata: Some(config.clone()),
        ..Default::default()
    };
    bootstrap(&spec).await.expect("table is created");
    config
}

/// A metadata store on a new table (see [`new_table`]), connected on `rt`.
pub(crate) fn new_store(rt: &Runtime, prefix: &str) -> Arc<dyn MetadataStore> {
    rt.block_on(new_table(prefix))
        .build(rt.handle())
        .expect("the new table's store")
}

/// Create a queue; returns its URL and ARN.
pub(crate) async fn new_queue(prefix: &str) -> (String, String) {
    let client = aws_sdk_sqs::Client::new(&sdk().await);
    let url = client
        .create_queue()
        .queue_name(unique(prefix))
        .send()
        .await
        .expect("queue is created")
        .queue_url()
        .expect("CreateQueue answers a URL")
        .to_owned();
    let attributes = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes");
    let arn = attributes
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .expect("queue has an ARN")
        .clone();
    (url, arn)
}

/// Receive from `queue_url` until `want` messages came or `patience` passed
/// without a new one; deletes what it receives.
pub(crate) async fn drain(queue_url: &str, want: usize, patience: Duration) -> Vec<Message> {
    let client = aws_sdk_sqs::Client::new(&sdk().await);
    let mut got = Vec::new();
    let mut quiet_since = Instant::now();
    while got.len() < want && quiet_since.elapsed() < patience {
        let output = client
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        for message in output.messages() {
            if let Some(receipt) = message.receipt_handle() {
                client
                    .delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(receipt)
                    .send()
                    .await
                    .expect("delete");
            }
            got.push(message.clone());
            quiet_since = Instant::now();
        }
    }
    got
}
