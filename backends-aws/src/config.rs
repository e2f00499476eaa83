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
use std::sync::Arc;

use serde::Deserialize;
use tokio::runtime::Handle;
use trailmark_backend_api::registry::{
    self, BackendConfig, BuildContext, Built, CheckFuture, Registry, RegistryError,
};
use trailmark_backend_api::{BackendError, BackendResult};

use crate::bridge::Bridge;
use crate::error::ResourceError;
use crate::sdk::AwsTarget;
use crate::{DynamoMetadata, EventBridgeForwarder, S3Archive, SnsNotifier};

/// What every AWS backend section has: where its calls go, how to connect
/// the backend it describes, and how to check that its resource is there.
///
/// Implemented by the four config enums; bring it into scope to call
/// `target`, `connect`, `build` and `check` on them.
pub trait AwsBackendConfig: BackendConfig + Clone {
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
    fn into_store(backend: Self::Backend) -> Built<Self>;

    /// The resource, as check errors name it, e.g. ``S3 bucket `acme-audit` ``.
    fn resource(&self) -> String;

    /// One read-only call that fails unless the resource is there.
    fn probe(&self, sdk: aws_config::SdkConfig) -> impl Future<Output = BackendResult<()>> + Send;

    /// Open the backend this table describes.
    fn build(&self, handle: &Handle) -> BackendResult<Built<Self>> {
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
        .register_config::<AwsArchiveConfig>()?
        .register_config::<AwsMetadataConfig>()?
        .register_config::<AwsNotifyConfig>()?
        .register_config::<AwsForwardConfig>()?;
    Ok(())
}

/// Build `config` on the Tokio runtime the caller runs in (the host builds
/// its backends from `serve`, inside its multi-thread runtime).
fn build_in_runtime<C: AwsBackendConfig>(config: &C) -> BackendResult<Built<C>> {
    let handle = Handle::try_current().map_err(|_| {
        BackendError::Invalid(format!(
            "`{}` backends are built inside a Tokio runtime; none is running here",
            C::TYPE
        ))
    })?;
    AwsBackendConfig::build(config, &handle)
}

/// One AWS section: the enum its table deserializes into (its one `type`,
/// its own keys, and the `region` and `endpoint` every AWS section has) and
/// its [`AwsBackendConfig`] impl, from what differs between the four: the
/// capability, the backend, how the resource is named, how to connect it and
/// how to probe it. Each body names the fields it reads before `;`.
macro_rules! aws_section {
    (
        $(#[doc = $doc:literal])*
        $name:ident {
            $(#[doc = $variant_doc:literal])*
            $variant:ident = $type:literal {
                $($(#[$field_meta:meta])* $field:ident: $field_type:ty,)*
            }
        }
        kind: $kind:ty,
        backend: $backend:ty,
        resource($($resource_field:ident),*) => $resource:expr,
        connect($($connect_field:ident),*; $target:ident, $handle:ident) => $connect:expr,
        $(#[doc = $probe_doc:literal])*
        probe($($probe_field:ident),*; $sdk:ident) => $probe:expr $(,)?
    ) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
        #[serde(
            deny_unknown_fields,
            tag = "type",
            rename_all = "kebab-case",
            rename_all_fields = "kebab-case"
        )]
        pub enum $name {
            $(#[doc = $variant_doc])*
            $variant {
                $($(#[$field_meta])* $field: $field_type,)*
                /// Region override; default: the standard chain.
                #[serde(default)]
                region: Option<String>,
                /// Endpoint override, e.g. a test server's; default:
                /// `AWS_ENDPOINT_URL`, else AWS (S3 then addresses buckets
                /// by path).
                #[serde(default)]
                endpoint: Option<String>,
            },
        }

        impl BackendConfig for $name {
            type Kind = $kind;
            const TYPES: &'static [&'static str] = &[$type];

            fn build(&self, _: &BuildContext<'_>) -> BackendResult<Built<Self>> {
                build_in_runtime(self)
            }

            fn check(&self) -> CheckFuture<'_> {
                Box::pin(async move { AwsBackendConfig::check(self).await.map_err(Into::into) })
            }
        }

        impl AwsBackendConfig for $name {
            type Backend = $backend;
            const TYPE: &'static str = $type;

            fn target(&self) -> AwsTarget {
                let $name::$variant {
                    region, endpoint, ..
                } = self;
                AwsTarget::new(region.clone(), endpoint.clone())
            }

            async fn connect(&self, $handle: &Handle) -> BackendResult<$backend> {
                let $name::$variant { $($connect_field,)* .. } = self;
                let $target = &self.target();
                $connect.await
            }

            fn into_store(backend: $backend) -> Built<Self> {
                Arc::new(backend)
            }

            fn resource(&self) -> String {
                let $name::$variant { $($resource_field,)* .. } = self;
                $resource
            }

            $(#[doc = $probe_doc])*
            async fn probe(&self, $sdk: aws_config::SdkConfig) -> BackendResult<()> {
                let $name::$variant { $($probe_field,)* .. } = self;
                $probe.await
            }
        }
    };
}

aws_section! {
    /// The `[archive]` table for S3.
    AwsArchiveConfig {
        /// `type = "s3"`: objects in a bucket ([`S3Archive`]).
        S3 = "s3" {
            /// Bucket name.
            bucket: String,
            /// Key prefix, e.g. `trailmark`; default none.
            #[serde(default)]
            prefix: Option<String>,
        }
    }
    kind: registry::Archive,
    backend: S3Archive,
    resource(bucket) => format!("S3 bucket `{bucket}`"),
    connect(bucket, prefix; target, handle) =>
        S3Archive::connect(bucket, prefix.as_deref().unwrap_or(""), target, handle),
    /// `HeadBucket`.
    probe(bucket; sdk) => crate::s3::check_bucket(&crate::s3::client(&sdk), bucket),
}

aws_section! {
    /// The `[metadata]` table for DynamoDB.
    AwsMetadataConfig {
        /// `type = "dynamodb"`: one table ([`DynamoMetadata`]).
        Dynamodb = "dynamodb" {
            /// Table name.
            table: String,
        }
    }
    kind: registry::Metadata,
    backend: DynamoMetadata,
    resource(table) => format!("DynamoDB table `{table}`"),
    connect(table; target, handle) => DynamoMetadata::connect(table, target, handle),
    /// `DescribeTable`: the table exists with the expected keys and indexes.
    probe(table; sdk) =>
        crate::dynamodb::check_table(&aws_sdk_dynamodb::Client::new(&sdk), table),
}

aws_section! {
    /// One `[notify.<channel>]` table for SNS.
    AwsNotifyConfig {
        /// `type = "sns"`: one topic ([`SnsNotifier`]).
        Sns = "sns" {
            /// The topic's ARN (its region is not the default region).
            topic_arn: String,
        }
    }
    kind: registry::Notify,
    backend: SnsNotifier,
    resource(topic_arn) => format!("SNS topic `{topic_arn}`"),
    connect(topic_arn; target, handle) => SnsNotifier::connect(topic_arn, target, handle),
    /// `GetTopicAttributes`: the topic exists and is readable.
    probe(topic_arn; sdk) => crate::sns::check_topic(&aws_sdk_sns::Client::new(&sdk), topic_arn),
}

aws_section! {
    /// One `[forward.<destination>]` table for EventBridge.
    AwsForwardConfig {
        /// `type = "eventbridge"`: `PutEvents` to a bus ([`EventBridgeForwarder`]).
        Eventbridge = "eventbridge" {
            /// Bus name or ARN (`default` for the account's default bus).
            bus: String,
            /// Replaces each forwarded event's `source` when set.
            #[serde(default)]
            source: Option<String>,
        }
    }
    kind: registry::Forward,
    backend: EventBridgeForwarder,
    resource(bus) => format!("EventBridge bus `{bus}`"),
    connect(bus, source; target, handle) =>
        EventBridgeForwarder::connect(bus, source.as_deref(), target, handle),
    /// `DescribeEventBus`: the bus exists and is visible.
    probe(bus; sdk) => crate::eventbridge::check_bus(&aws_sdk_eventbridge::Client::new(&sdk), bus),
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
        let e = BackendConfig::build(&config, &context)
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
