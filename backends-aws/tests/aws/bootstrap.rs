//! Bootstrap creates every named resource once; a second run changes
//! nothing, and every start-up check then passes.

use trailmark_backends_aws::{
    AwsArchiveConfig, AwsForwardConfig, AwsMetadataConfig, AwsNotifyConfig, BootstrapOutcome,
    BootstrapSpec, SqsSourceConfig, bootstrap,
};

use crate::common::{ACCOUNT, REGION, moto_url, runtime, sns_on_moto, unique};
use trailmark_backends_aws::AwsBackendConfig as _;

#[test]
fn bootstrap_is_idempotent_and_leaves_checkable_resources() {
    let rt = runtime();
    let endpoint = Some(moto_url());
    let region = Some(REGION.to_owned());
    let queue_name = unique("ingest");
    let spec = BootstrapSpec {
        archive: Some(AwsArchiveConfig::S3 {
            bucket: unique("bucket"),
            prefix: None,
            region: region.clone(),
            endpoint: endpoint.clone(),
        }),
        metadata: Some(AwsMetadataConfig::Dynamodb {
            table: unique("table"),
            region: region.clone(),
            endpoint: endpoint.clone(),
        }),
        notify: vec![AwsNotifyConfig::Sns {
            topic_arn: format!("arn:aws:sns:{REGION}:{ACCOUNT}:{}", unique("topic")),
            region: region.clone(),
            endpoint: endpoint.clone(),
        }],
        forward: vec![AwsForwardConfig::Eventbridge {
            bus: unique("bus"),
            region: region.clone(),
            endpoint: endpoint.clone(),
            source: None,
        }],
        ingest: Some(SqsSourceConfig {
            region: region.clone(),
            endpoint: endpoint.clone(),
            ..SqsSourceConfig::new(&format!("{}/{ACCOUNT}/{queue_name}", moto_url()))
        }),
    };
    let first = rt.block_on(bootstrap(&spec)).unwrap();
    assert_eq!(first.items.len(), 5, "{first}");
    assert!(
        first
            .items
            .iter()
            .all(|i| i.outcome == BootstrapOutcome::Created),
        "{first}"
    );
    let queue = first.items.last().unwrap();
    assert!(
        queue.id.as_deref().unwrap().ends_with(&queue_name),
        "{first}"
    );

    let second = rt.block_on(bootstrap(&spec)).unwrap();
    assert_eq!(second.items.len(), 5);
    assert!(
        second
            .items
            .iter()
            .all(|i| i.outcome == BootstrapOutcome::AlreadyExisted),
        "{second}"
    );
    assert!(second.to_string().contains("already exists"));

    rt.block_on(async {
        spec.archive.as_ref().unwrap().check().await.unwrap();
        spec.metadata.as_ref().unwrap().check().await.unwrap();
        spec.notify[0].check().await.unwrap();
        spec.forward[0].check().await.unwrap();
    });
}

#[test]
fn a_topic_arn_of_another_account_is_refused() {
    let rt = runtime();
    let spec = BootstrapSpec {
        notify: vec![sns_on_moto(format!(
            "arn:aws:sns:{REGION}:999999999999:{}",
            unique("topic")
        ))],
        ..Default::default()
    };
    let err = rt.block_on(bootstrap(&spec)).unwrap_err();
    assert!(err.to_string().contains("999999999999"), "{err}");
}
