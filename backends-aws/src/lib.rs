//! Trailmark's AWS backends: the capability traits of [`trailmark_backend_api`]
//! implemented on AWS services, plus the pieces a host needs to run on AWS.
//!
//! | capability | implementation | config `type` |
//! |---|---|---|
//! | [`ArchiveStore`](trailmark_backend_api::ArchiveStore) | [`S3Archive`] | `s3` |
//! | [`MetadataStore`](trailmark_backend_api::MetadataStore) | [`DynamoMetadata`] (table design in [`dynamodb`]) | `dynamodb` |
//! | [`Notifier`](trailmark_backend_api::Notifier) | [`SnsNotifier`] | `sns` |
//! | [`Forwarder`](trailmark_backend_api::Forwarder) | [`EventBridgeForwarder`] (batches PutEvents) | `eventbridge` |
//! | ingest | [`SqsSource`]: EventBridge events delivered to an SQS queue | `[ingest.sqs]` |
//!
//! Plus [`bootstrap`] (create the resources a configuration names,
//! idempotently) and [`check`](AwsBackendConfig::check) on every config type
//! (is the resource there and reachable, asked once at start).
//!
//! # Clients
//!
//! Every client is built from aws-config's standard chains: credentials
//! (environment, profile, web identity, ECS, instance metadata) and region
//! (`region` key, else `AWS_REGION`, profile, instance metadata). The
//! endpoint is the backend's `endpoint` key, else `AWS_ENDPOINT_URL` (and the
//! service-specific `AWS_ENDPOINT_URL_<SERVICE>`), else AWS. TLS is rustls on
//! ring; nothing here builds aws-lc.
//!
//! # Sync traits over an async SDK
//!
//! The capability traits are synchronous. Each backend holds the
//! [`Handle`](tokio::runtime::Handle) of a **multi-thread** Tokio runtime
//! (refused otherwise) and runs the SDK future with
//! `block_in_place(|| handle.block_on(..))`. That works from plain threads,
//! from `spawn_blocking` threads (where plugin calls run) and even from an
//! async worker thread, but on a worker it takes the thread away from the
//! scheduler for the whole call: call the backends from blocking threads.
//!
//! ```no_run
//! use trailmark_backends_aws::{AwsArchiveConfig, AwsBackendConfig};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
//! let config: AwsArchiveConfig = toml::from_str(r#"
//!     type = "s3"
//!     bucket = "acme-audit"
//!     prefix = "trailmark"
//! "#)?;
//! runtime.block_on(config.check())?;           // HeadBucket: clear error if missing
//! let archive = config.build(runtime.handle())?;
//! archive.put("book/42/evt-1.json", b"{}", "application/json")?;
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod bootstrap;
mod bridge;
mod config;
pub mod dynamodb;
mod error;
mod eventbridge;
mod s3;
mod sdk;
mod sns;
mod sqs;
#[cfg(test)]
#[path = "../../backends/src/test_http.rs"]
mod test_http;

pub use bootstrap::{BootstrapItem, BootstrapOutcome, BootstrapReport, BootstrapSpec, bootstrap};
pub use config::{
    AwsArchiveConfig, AwsBackendConfig, AwsForwardConfig, AwsMetadataConfig, AwsNotifyConfig,
    register,
};
pub use dynamodb::DynamoMetadata;
pub use error::ResourceError;
pub use eventbridge::{EventBridgeForwarder, MAX_BATCH_ENTRIES};
pub use s3::S3Archive;
pub use sdk::AwsTarget;
pub use sns::SnsNotifier;
pub use sqs::{SqsBodyError, SqsMessage, SqsSource, SqsSourceConfig};
