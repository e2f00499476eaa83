//! S3 archive: put/get, missing keys, invalid keys, the prefix.

use std::sync::Arc;

use trailmark_backend_api::{ArchiveStore, BackendError};
use trailmark_backends_aws::{AwsArchiveConfig, BootstrapSpec, bootstrap};

use crate::common::{runtime, s3_on_moto, sdk, unique};
use trailmark_backends_aws::AwsBackendConfig as _;

fn archive_config(prefix: Option<&str>) -> AwsArchiveConfig {
    s3_on_moto(unique("bucket"), prefix.map(str::to_owned))
}

/// Create `config`'s bucket and connect the archive in it.
fn create(rt: &tokio::runtime::Runtime, config: &AwsArchiveConfig) -> Arc<dyn ArchiveStore> {
    let spec = BootstrapSpec {
        archive: Some(config.clone()),
        ..Default::default()
    };
    rt.block_on(bootstrap(&spec)).unwrap();
    config.build(rt.handle()).unwrap()
}

#[test]
fn bodies_round_trip_under_the_prefix_with_their_content_type() {
    let rt = runtime();
    let config = archive_config(Some("audit/v1"));
    let archive = create(&rt, &config);
    let body = br#"{"title":"Dune","price":1.10}"#;
    archive
        .put("book/42/evt-1.json", body, "application/json")
        .unwrap();
    assert_eq!(
        archive.get("book/42/evt-1.json").unwrap().as_deref(),
        Some(&body[..])
    );
    // Never replaced: the same bytes again succeed, different ones fail.
    archive
        .put("book/42/evt-1.json", body, "application/json")
        .unwrap();
    match archive.put("book/42/evt-1.json", b"v2", "text/plain") {
        Err(BackendError::Invalid(msg)) => {
            assert!(msg.contains("\"book/42/evt-1.json\""), "{msg}");
            assert!(msg.contains("never overwritten"), "{msg}");
        }
        other => panic!("a different body must be refused, got {other:?}"),
    }
    assert_eq!(
        archive.get("book/42/evt-1.json").unwrap().as_deref(),
        Some(&body[..])
    );
    // Empty bodies are bodies.
    archive
        .put("empty", b"", "application/octet-stream")
        .unwrap();
    assert_eq!(archive.get("empty").unwrap(), Some(Vec::new()));

    let AwsArchiveConfig::S3 { bucket, .. } = &config;
    let head = rt
        .block_on(async {
            aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(&sdk().await)
                    .force_path_style(true)
                    .build(),
            )
            .head_object()
            .bucket(bucket)
            .key("audit/v1/book/42/evt-1.json")
            .send()
            .await
        })
        .expect("the object is under the prefix");
    assert_eq!(head.content_type(), Some("application/json"));
}

#[test]
fn a_missing_key_is_none() {
    let rt = runtime();
    let config = archive_config(None);
    let archive = create(&rt, &config);
    assert_eq!(archive.get("book/42/never.json").unwrap(), None);
}

#[test]
fn invalid_keys_are_refused_as_the_local_archive_refuses_them() {
    let rt = runtime();
    let config = archive_config(None);
    let archive = create(&rt, &config);
    for key in ["", "/abs", "../x", "a//b", "a/./b", "a\\b", "a/"] {
        let put = archive.put(key, b"x", "text/plain");
        assert!(
            matches!(put, Err(BackendError::Invalid(_))),
            "{key:?}: {put:?}"
        );
        let get = archive.get(key);
        assert!(
            matches!(get, Err(BackendError::Invalid(_))),
            "{key:?}: {get:?}"
        );
    }
}
