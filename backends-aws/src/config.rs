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
//! Each table deserializes (unknown keys refused) into one of the enums
//! below, tagged by `type`; what they share (where the calls go, how to
//! connect, build and check) is the [`AwsBackendConfig`] trait, and
//! [`register`] offers all four to the host's backend registry.
//!
//! `build` needs the handle of a multi-thread Tokio runtime and may be
//! called from any thread (it blocks while the SDK configuration loads);
//! `check` is async and makes one read-only call naming the resource.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::runtime::Handle;
use trailmark_backend_api::registry::{
    self, BackendType, BuildContext, CheckFuture, Kind, Registry, RegistryError,
};
use trailmark_backend_api::{
    ArchiveStore, BackendError, BackendResult, Forwarder, MetadataStore, Notifier,
};

use crate::bridge::Bridge;
use crate::error::ResourceError;
use crate::sdk::AwsTarget;
use crate::{DynamoMetadata, EventBridgeForwarder, S3Archive, SnsNotifier};

/// What every AWS backend section has: where its calls go, how to connect
/// the backend it describes, and how to check that its resource is there.
///
/// Implemented by the four config enums; bring it into scope to call
/// `target`, `connect`, `build` and `check` on them.
pub trait AwsBackendConfig:
    DeserializeOwned + Clone + std::fmt::Debug + Send + Sync + 'static
{
    /// The capability it configures.
    type Kind: Kind;
    /// The backend it connects, e.g. [`S3Archive`].
    type Backend: Send + Sync + 'static;
    /// Its `type` value in `trailmark.toml`, e.g. `s3`.
    const TYPE: &'static str;

    /// Where the calls go.
    fn target(&self) -> AwsTarget;

    /// Connect the backend (async form of [`build`](Self::build)).
    fn connect(&self, handle: &Handle)
    -> impl Future<Output = BackendResult<Self::Backend>> + Send;

    /// The backend as its capability's trait object.
    fn into_store(backend: Self::Backend) -> Arc<<Self::Kind as Kind>::Store>;

    /// The resource, as check errors name it, e.g. ``S3 bucket `acme-audit` ``.
    fn resource(&self) -> String;

    /// One read-only call that fails unless the resource is there.
    fn probe(&self, sdk: aws_config::SdkConfig) -> impl Future<Output = BackendResult<()>> + Send;

    /// Open the backend this table describes.
    fn build(&self, handle: &Handle) -> BackendResult<Arc<<Self::Kind as Kind>::Store>> {
        let backend = Bridge::new(handle)?.run(self.connect(handle))?;
        Ok(Self::into_store(backend))
    }

    /// Check that the resource is there and reachable: fails naming the
    /// resource, where it was looked for, and the reason.
    fn check(&self) -> impl Future<Output = Result<(), ResourceError>> + Send {
        async move {
            let resource = self.resource();
            let sdk = self
                .target()
                .load()
                .await
                .map_err(|cause| ResourceError::new(resource.clone(), cause))?;
            let named = format!("{resource} ({})", AwsTarget::describe(&sdk));
            self.probe(sdk)
                .await
                .map_err(|cause| ResourceError::new(named, cause))
        }
    }
}

/// Register the AWS backend types: `s3` archives, `dynamodb` metadata,
/// `sns` channels and `eventbridge` forwarding.
pub fn register(registry: &mut Registry) -> Result<(), RegistryError> {
    registry
        .register(Aws::<AwsArchiveConfig>::TYPE)?
        .register(Aws::<AwsMetadataConfig>::TYPE)?
        .register(Aws::<AwsNotifyConfig>::TYPE)?
        .register(Aws::<AwsForwardConfig>::TYPE)?;
    Ok(())
}

/// The registry's view of the AWS backend type whose section is a `C`.
struct Aws<C>(PhantomData<fn() -> C>);

impl<C> Aws<C> {
    const TYPE: Self = Aws(PhantomData);
}

impl<C: AwsBackendConfig> BackendType for Aws<C> {
    type Kind = C::Kind;
    type Config = C;
    const TYPES: &'static [&'static str] = &[C::TYPE];

    /// Builds on the Tokio runtime the caller runs in (the host builds its
    /// backends from `serve`, inside its multi-thread runtime).
    fn build(
        &self,
        config: &C,
        _: &BuildContext<'_>,
    ) -> BackendResult<Arc<<C::Kind as Kind>::Store>> {
        let handle = Handle::try_current().map_err(|_| {
            BackendError::Invalid(format!(
                "`{}` backends are built inside a Tokio runtime; none is running here",
                C::TYPE
            ))
        })?;
        config.build(&handle)
    }

    fn check<'a>(&'a self, config: &'a C) -> CheckFuture<'a> {
        Box::pin(async move { config.check().await.map_err(Into::into) })
    }
}

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

impl AwsBackendConfig for AwsArchiveConfig {
    type Kind = registry::Archive;
    type Backend = S3Archive;
    const TYPE: &'static str = "s3";

    fn target(&self) -> AwsTarget {
        let AwsArchiveConfig::S3 {
            region, endpoint, ..
        } = self;
        AwsTarget::new(region.clone(), endpoint.clone())
    }

    async fn connect(&self, handle: &Handle) -> BackendResult<S3Archive> {
        let AwsArchiveConfig::S3 { bucket, prefix, .. } = self;
        S3Archive::connect(
            bucket,
            prefix.as_deref().unwrap_or(""),
            &self.target(),
            handle,
        )
        .await
    }

    fn into_store(backend: S3Archive) -> Arc<dyn ArchiveStore> {
        Arc::new(backend)
    }

    fn resource(&self) -> String {
        let AwsArchiveConfig::S3 { bucket, .. } = self;
        format!("S3 bucket `{bucket}`")
    }

    /// `HeadBucket`.
    async fn probe(&self, sdk: aws_config::SdkConfig) -> BackendResult<()> {
        let AwsArchiveConfig::S3 { bucket, .. } = self;
        crate::s3::check_bucket(&crate::s3::client(&sdk), bucket).await
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

impl AwsBackendConfig for AwsMetadataConfig {
    type Kind = registry::Metadata;
    type Backend = DynamoMetadata;
    const TYPE: &'static str = "dynamodb";

    fn target(&self) -> AwsTarget {
        let AwsMetadataConfig::Dynamodb {
            region, endpoint, ..
        } = self;
        AwsTarget::new(region.clone(), endpoint.clone())
    }

    async fn connect(&self, handle: &Handle) -> BackendResult<DynamoMetadata> {
        let AwsMetadataConfig::Dynamodb { table, .. } = self;
        DynamoMetadata::connect(table, &self.target(), handle).await
    }

    fn into_store(backend: DynamoMetadata) -> Arc<dyn MetadataStore> {
        Arc::new(backend)
    }

    fn resource(&self) -> String {
        let AwsMetadataConfig::Dynamodb { table, .. } = self;
        format!("DynamoDB table `{table}`")
    }

    /// `DescribeTable`: the table exists with the expected keys and indexes.
    async fn probe(&self, sdk: aws_config::SdkConfig) -> BackendResult<()> {
        let AwsMetadataConfig::Dynamodb { table, .. } = self;
        crate::dynamodb::check_table(&aws_sdk_dynamodb::Client::new(&sdk), table).await
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

impl AwsBackendConfig for AwsNotifyConfig {
    type Kind = registry::Notify;
    type Backend = SnsNotifier;
    const TYPE: &'static str = "sns";

    fn target(&self) -> AwsTarget {
        let AwsNotifyConfig::Sns {
            region, endpoint, ..
        } = self;
        AwsTarget::new(region.clone(), endpoint.clone())
    }

    async fn connect(&self, handle: &Handle) -> BackendResult<SnsNotifier> {
        let AwsNotifyConfig::Sns { topic_arn, .. } = self;
        SnsNotifier::connect(topic_arn, &self.target(), handle).await
    }

    fn into_store(backend: SnsNotifier) -> Arc<dyn Notifier> {
        Arc::new(backend)
    }

    fn resource(&self) -> String {
        let AwsNotifyConfig::Sns { topic_arn, .. } = self;
        format!("SNS topic `{topic_arn}`")
    }

    /// `GetTopicAttributes`: the topic exists and is readable.
    async fn probe(&self, sdk: aws_config::SdkConfig) -> BackendResult<()> {
        let AwsNotifyConfig::Sns { topic_arn, .. } = self;
        crate::sns::check_topic(&aws_sdk_sns::Client::new(&sdk), topic_arn).await
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

impl AwsBackendConfig for AwsForwardConfig {
    type Kind = registry::Forward;
    type Backend = EventBridgeForwarder;
    const TYPE: &'static str = "eventbridge";

    fn target(&self) -> AwsTarget {
        let AwsForwardConfig::Eventbridge {
            region, endpoint, ..
        } = self;
        AwsTarget::new(region.clone(), endpoint.clone())
    }

    async fn connect(&self, handle: &Handle) -> BackendResult<EventBridgeForwarder> {
        let AwsForwardConfig::Eventbridge { bus, source, .. } = self;
        EventBridgeForwarder::connect(bus, source.as_deref(), &self.target(), handle).await
    }

    fn into_store(backend: EventBridgeForwarder) -> Arc<dyn Forwarder> {
        Arc::new(backend)
    }

    fn resource(&self) -> String {
        let AwsForwardConfig::Eventbridge { bus, .. } = self;
        format!("EventBridge bus `{bus}`")
    }

    /// `DescribeEventBus`: the bus exists and is visible.
    async fn probe(&self, sdk: aws_config::SdkConfig) -> BackendResult<()> {
        let AwsForwardConfig::Eventbridge { bus, .. } = self;
        crate::eventbridge::check_bus(&aws_sdk_eventbridge::Client::new(&sdk), bus).await
    }
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
    fn each_registered_type_name_is_its_configs_tag() {
        let mut r = Registry::default();
        register(&mut r).expect("a fresh registry");
        assert_eq!(r.archive.names(), ["s3"]);
        assert_eq!(r.metadata.names(), ["dynamodb"]);
        assert_eq!(r.notify.names(), ["sns"]);
        assert_eq!(r.forward.names(), ["eventbridge"]);
        // The tag is known to the config: what is missing is a required key.
        let read = |text: &str| toml::from_str::<toml::Table>(text).expect("toml");
        let e = r.archive.read(read("type = \"s3\"")).unwrap_err();
        assert!(e.contains("missing field `bucket`"), "{e}");
        let e = r.metadata.read(read("type = \"dynamodb\"")).unwrap_err();
        assert!(e.contains("missing field `table`"), "{e}");
        let e = r.notify.read(read("type = \"sns\"")).unwrap_err();
        assert!(e.contains("missing field `topic-arn`"), "{e}");
        let e = r.forward.read(read("type = \"eventbridge\"")).unwrap_err();
        assert!(e.contains("missing field `bus`"), "{e}");
        let s3 = r
            .archive
            .read(read("type = \"s3\"\nbucket = \"b\""))
            .expect("s3");
        assert_eq!(s3.local_path("data".as_ref()), None);
        assert!(s3.config::<AwsArchiveConfig>().is_some());
    }

    #[test]
    fn building_outside_a_runtime_says_so() {
        let config: AwsArchiveConfig = toml::from_str("type = \"s3\"\nbucket = \"b\"").unwrap();
        let context = BuildContext::new("data".as_ref(), Default::default());
        let e = Aws::<AwsArchiveConfig>::TYPE
            .build(&config, &context)
            .err()
            .expect("no runtime");
        assert!(e.to_string().contains("Tokio runtime"), "{e}");
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
