//! How each AWS backend is described in `trailmark.toml`, how to build it,
//! and how to check at start that its resource is there.
//!
//! ```toml
//! [archive]
//! type = "s3"
//! bucket = "acme-audit"
//! prefix = "trailmark"        # optional
//! region = "eu-west-1"        # optional, else the standard chain
//! endpoint = "http://127.0.0.1:5000"  # optional, else AWS_ENDPOINT_URL or AWS
//!
//! [metadata]
//! type = "dynamodb"
//! table = "trailmark-changes"
//!
//! [notify.admins]
//! type = "sns"
//! topic-arn = "arn:aws:sns:eu-west-1:123456789012:trailmark-admins"
//!
//! [forward.bus]
//! type = "eventbridge"
//! bus = "audit"
//! source = "trailmark"        # optional: replaces each event's source
//! ```
//!
//! `build` needs the handle of a multi-thread Tokio runtime and may be
//! called from any thread (it blocks while the SDK configuration loads);
//! `check` is async and makes one read-only call naming the resource.

use std::sync::Arc;

use serde::Deserialize;
use tokio::runtime::Handle;
use trailmark_backends::{ArchiveStore, BackendResult, Forwarder, MetadataStore, Notifier};

use crate::bridge::Bridge;
use crate::error::ResourceError;
use crate::sdk::AwsTarget;
use crate::{DynamoMetadata, EventBridgeForwarder, S3Archive, SnsNotifier};

/// The `[archive]` table for S3.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(
    deny_unknown_fields,
    tag = "type",
    rename_all = "kebab-case",
    rename_all_fields = "kebab-case"
)]
pub enum AwsArchiveConfig {
    /// `type = "s3"`: objects in a bucket ([`S3Archive`]).
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix, e.g. `trailmark`; default none.
        #[serde(default)]
        prefix: Option<String>,
        /// Region override.
        #[serde(default)]
        region: Option<String>,
        /// Endpoint override (path-style addressing is then used).
        #[serde(default)]
        endpoint: Option<String>,
    },
}

impl AwsArchiveConfig {
    /// Where the calls go.
    pub fn target(&self) -> AwsTarget {
        let AwsArchiveConfig::S3 {
            region, endpoint, ..
        } = self;
        AwsTarget::new(region.clone(), endpoint.clone())
    }

    /// Connect the archive (async form of [`build`](Self::build)).
    pub async fn connect(&self, handle: &Handle) -> BackendResult<S3Archive> {
        let AwsArchiveConfig::S3 { bucket, prefix, .. } = self;
        S3Archive::connect(
            bucket,
            prefix.as_deref().unwrap_or(""),
            &self.target(),
            handle,
        )
        .await
    }

    /// Open the archive this table describes.
    pub fn build(&self, handle: &Handle) -> BackendResult<Arc<dyn ArchiveStore>> {
        let archive = Bridge::new(handle)?.run(self.connect(handle))?;
        Ok(Arc::new(archive))
    }

    /// `HeadBucket`: fails naming the bucket and the reason.
    pub async fn check(&self) -> Result<(), ResourceError> {
        let AwsArchiveConfig::S3 { bucket, .. } = self;
        check_with(&self.target(), &format!("S3 bucket `{bucket}`"), |config| async move {
            crate::s3::check_bucket(&crate::s3::client(&config), bucket).await
        })
        .await
    }
}

/// The `[metadata]` table for DynamoDB.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(
    deny_unknown_fields,
    tag = "type",
    rename_all = "kebab-case",
    rename_all_fields = "kebab-case"
)]
pub enum AwsMetadataConfig {
    /// `type = "dynamodb"`: one table ([`DynamoMetadata`]).
    Dynamodb {
        /// Table name.
        table: String,
        /// Region override.
        #[serde(default)]
        region: Option<String>,
        /// Endpoint override.
        #[serde(default)]
        endpoint: Option<String>,
    },
}

impl AwsMetadataConfig {
    /// Where the calls go.
    pub fn target(&self) -> AwsTarget {
        let AwsMetadataConfig::Dynamodb {
            region, endpoint, ..
        } = self;
        AwsTarget::new(region.clone(), endpoint.clone())
    }

    /// Connect the store (async form of [`build`](Self::build)).
    pub async fn connect(&self, handle: &Handle) -> BackendResult<DynamoMetadata> {
        let AwsMetadataConfig::Dynamodb { table, .. } = self;
        DynamoMetadata::connect(table, &self.target(), handle).await
    }

    /// Open the metadata store this table describes.
    pub fn build(&self, handle: &Handle) -> BackendResult<Arc<dyn MetadataStore>> {
        let store = Bridge::new(handle)?.run(self.connect(handle))?;
        Ok(Arc::new(store))
    }

    /// `DescribeTable`: the table exists with the expected keys and indexes.
    pub async fn check(&self) -> Result<(), ResourceError> {
        let AwsMetadataConfig::Dynamodb { table, .. } = self;
        check_with(
            &self.target(),
            &format!("DynamoDB table `{table}`"),
            |config| async move {
                crate::dynamodb::check_table(&aws_sdk_dynamodb::Client::new(&config), table).await
            },
        )
        .await
    }
}

/// One `[notify.<channel>]` table for SNS.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(
    deny_unknown_fields,
    tag = "type",
    rename_all = "kebab-case",
    rename_all_fields = "kebab-case"
)]
pub enum AwsNotifyConfig {
    /// `type = "sns"`: one topic ([`SnsNotifier`]).
    Sns {
        /// The topic's ARN.
        topic_arn: String,
        /// Region override (default: the standard chain, not the ARN's).
        #[serde(default)]
        region: Option<String>,
        /// Endpoint override.
        #[serde(default)]
        endpoint: Option<String>,
    },
}

impl AwsNotifyConfig {
    /// Where the calls go.
    pub fn target(&self) -> AwsTarget {
        let AwsNotifyConfig::Sns {
            region, endpoint, ..
        } = self;
        AwsTarget::new(region.clone(), endpoint.clone())
    }

    /// Connect the notifier (async form of [`build`](Self::build)).
    pub async fn connect(&self, handle: &Handle) -> BackendResult<SnsNotifier> {
        let AwsNotifyConfig::Sns { topic_arn, .. } = self;
        SnsNotifier::connect(topic_arn, &self.target(), handle).await
    }

    /// Open the channel this table describes.
    pub fn build(&self, handle: &Handle) -> BackendResult<Arc<dyn Notifier>> {
        let notifier = Bridge::new(handle)?.run(self.connect(handle))?;
        Ok(Arc::new(notifier))
    }

    /// `GetTopicAttributes`: the topic exists and is readable.
    pub async fn check(&self) -> Result<(), ResourceError> {
        let AwsNotifyConfig::Sns { topic_arn, .. } = self;
        check_with(
            &self.target(),
            &format!("SNS topic `{topic_arn}`"),
            |config| async move {
                crate::sns::check_topic(&aws_sdk_sns::Client::new(&config), topic_arn).await
            },
        )
        .await
    }
}

/// One `[forward.<destination>]` table for EventBridge.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(
    deny_unknown_fields,
    tag = "type",
    rename_all = "kebab-case",
    rename_all_fields = "kebab-case"
)]
pub enum AwsForwardConfig {
    /// `type = "eventbridge"`: `PutEvents` to a bus ([`EventBridgeForwarder`]).
    Eventbridge {
        /// Bus name or ARN (`default` for the account's default bus).
        bus: String,
        /// Region override.
        #[serde(default)]
        region: Option<String>,
        /// Endpoint override.
        #[serde(default)]
        endpoint: Option<String>,
        /// Replaces each forwarded event's `source` when set.
        #[serde(default)]
        source: Option<String>,
    },
}

impl AwsForwardConfig {
    /// Where the calls go.
    pub fn target(&self) -> AwsTarget {
        let AwsForwardConfig::Eventbridge {
            region, endpoint, ..
        } = self;
        AwsTarget::new(region.clone(), endpoint.clone())
    }

    /// Connect the forwarder (async form of [`build`](Self::build)).
    pub async fn connect(&self, handle: &Handle) -> BackendResult<EventBridgeForwarder> {
        let AwsForwardConfig::Eventbridge { bus, source, .. } = self;
        EventBridgeForwarder::connect(bus, source.as_deref(), &self.target(), handle).await
    }

    /// Open the destination this table describes.
    pub fn build(&self, handle: &Handle) -> BackendResult<Arc<dyn Forwarder>> {
        let forwarder = Bridge::new(handle)?.run(self.connect(handle))?;
        Ok(Arc::new(forwarder))
    }

    /// `DescribeEventBus`: the bus exists and is visible.
    pub async fn check(&self) -> Result<(), ResourceError> {
        let AwsForwardConfig::Eventbridge { bus, .. } = self;
        check_with(
            &self.target(),
            &format!("EventBridge bus `{bus}`"),
            |config| async move {
                crate::eventbridge::check_bus(&aws_sdk_eventbridge::Client::new(&config), bus).await
            },
        )
        .await
    }
}

/// Load `target`'s configuration and run `probe`; any failure becomes a
/// [`ResourceError`] naming `resource` and where it was looked for.
async fn check_with<F, Fut>(
    target: &AwsTarget,
    resource: &str,
    probe: F,
) -> Result<(), ResourceError>
where
    F: FnOnce(aws_config::SdkConfig) -> Fut,
    Fut: std::future::Future<Output = BackendResult<()>>,
{
    let config = target
        .load()
        .await
        .map_err(|cause| ResourceError::new(resource.to_owned(), cause))?;
    let named = format!("{resource} ({})", AwsTarget::describe(&config));
    probe(config)
        .await
        .map_err(|cause| ResourceError::new(named, cause))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_parse_with_kebab_case_keys() {
        let archive: AwsArchiveConfig =
            toml::from_str("type = \"s3\"\nbucket = \"b\"\nprefix = \"p\"").unwrap();
        assert_eq!(
            archive,
            AwsArchiveConfig::S3 {
                bucket: "b".into(),
                prefix: Some("p".into()),
                region: None,
                endpoint: None
            }
        );
        let notify: AwsNotifyConfig =
            toml::from_str("type = \"sns\"\ntopic-arn = \"arn:aws:sns:us-east-1:1:t\"").unwrap();
        assert!(
            matches!(notify, AwsNotifyConfig::Sns { ref topic_arn, .. } if topic_arn.ends_with(":t"))
        );
        let forward: AwsForwardConfig = toml::from_str(
            "type = \"eventbridge\"\nbus = \"audit\"\nsource = \"trailmark\"\nregion = \"eu-west-1\"",
        )
        .unwrap();
        assert_eq!(forward.target().region.as_deref(), Some("eu-west-1"));
        let metadata: AwsMetadataConfig =
            toml::from_str("type = \"dynamodb\"\ntable = \"t\"\nendpoint = \"http://x\"").unwrap();
        assert_eq!(metadata.target().endpoint.as_deref(), Some("http://x"));
    }

    #[test]
    fn unknown_keys_and_types_are_refused() {
        let err = toml::from_str::<AwsArchiveConfig>("type = \"s3\"\nbucket = \"b\"\nbukket = 1")
            .unwrap_err();
        assert!(err.to_string().contains("bukket"), "{err}");
        assert!(toml::from_str::<AwsMetadataConfig>("type = \"sqlite\"\ntable = \"t\"").is_err());
        assert!(toml::from_str::<AwsNotifyConfig>("type = \"sns\"\ntopic_arn = \"x\"").is_err());
    }
}
