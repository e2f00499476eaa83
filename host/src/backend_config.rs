//! Which implementation backs each capability: the embedded local ones
//! (files, SQLite) or AWS (S3, DynamoDB, SNS, EventBridge), chosen by the
//! `type` key of each `trailmark.toml` section. Plugins and rules do not
//! change when the backends do.

use std::path::Path;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use tokio::runtime::Handle;
use trailmark_backends::{
    ArchiveConfig, ArchiveStore, BackendResult, Durability, ForwardConfig, Forwarder,
    MetadataConfig, MetadataStore, Notifier, NotifyConfig,
};
use trailmark_backends_aws::{
    AwsArchiveConfig, AwsForwardConfig, AwsMetadataConfig, AwsNotifyConfig, ResourceError,
};

/// A backend section: local or AWS, by its `type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend<L, A> {
    /// An embedded backend.
    Local(L),
    /// An AWS service.
    Aws(A),
}

/// The `[archive]` section.
pub type ArchiveBackend = Backend<ArchiveConfig, AwsArchiveConfig>;
/// The `[metadata]` section.
pub type MetadataBackend = Backend<MetadataConfig, AwsMetadataConfig>;
/// A `[notify.NAME]` section.
pub type NotifyBackend = Backend<NotifyConfig, AwsNotifyConfig>;
/// A `[forward.NAME]` section.
pub type ForwardBackend = Backend<ForwardConfig, AwsForwardConfig>;

/// The `type` values that select AWS implementations.
const AWS_TYPES: [&str; 4] = ["s3", "dynamodb", "sns", "eventbridge"];

impl<L: DeserializeOwned, A: DeserializeOwned> Backend<L, A> {
    /// Read a section, dispatching on its `type`.
    pub fn from_table(table: toml::Table) -> Result<Self, String> {
        let is_aws = table
            .get("type")
            .and_then(toml::Value::as_str)
            .is_some_and(|t| AWS_TYPES.contains(&t));
        let value = toml::Value::Table(table);
        if is_aws {
            A::deserialize(value)
                .map(Backend::Aws)
                .map_err(|e| e.to_string())
        } else {
            L::deserialize(value)
                .map(Backend::Local)
                .map_err(|e| e.to_string())
        }
    }
}

impl Default for ArchiveBackend {
    fn default() -> Self {
        Backend::Local(ArchiveConfig::default())
    }
}

impl Default for MetadataBackend {
    fn default() -> Self {
        Backend::Local(MetadataConfig::default())
    }
}

/// `build` and `check` for one capability's section: the same two lines for
/// each, dispatching to the local or the AWS implementation.
macro_rules! backend_section {
    ($section:ty, $store:ty) => {
        impl $section {
            /// Open it. Local backends open in batched durability: their
            /// writes are durable only after `sync()` (the host syncs before it
            /// journals delivery outcomes; see `server::outcomes`). AWS ones are
            /// durable when a call returns.
            pub fn build(&self, data: &Path, handle: &Handle) -> BackendResult<Arc<$store>> {
                match self {
                    Backend::Local(c) => c.build_with(data, Durability::Batched),
                    Backend::Aws(c) => c.build(handle),
                }
            }

            /// Check an AWS resource is reachable (local ones always are).
            pub async fn check(&self) -> Result<(), ResourceError> {
                match self {
                    Backend::Local(_) => Ok(()),
                    Backend::Aws(c) => c.check().await,
                }
            }
        }
    };
}

backend_section!(ArchiveBackend, dyn ArchiveStore);
backend_section!(MetadataBackend, dyn MetadataStore);
backend_section!(NotifyBackend, dyn Notifier);
backend_section!(ForwardBackend, dyn Forwarder);

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        text.parse().expect("toml")
    }

    #[test]
    fn type_selects_the_implementation() {
        let local = ArchiveBackend::from_table(table("type = \"fs\"")).unwrap();
        assert!(matches!(local, Backend::Local(_)));
        let aws = ArchiveBackend::from_table(table("type = \"s3\"\nbucket = \"b\"")).unwrap();
        assert!(matches!(aws, Backend::Aws(_)));
        let err = ArchiveBackend::from_table(table("type = \"s3\"")).unwrap_err();
        assert!(err.contains("bucket"), "{err}");
        let err =
            MetadataBackend::from_table(table("type = \"dynamodb\"\ntable = \"t\"\ncolour = 1"))
                .unwrap_err();
        assert!(err.contains("colour"), "{err}");
    }
}
