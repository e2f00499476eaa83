//! A bucket and key prefix the host writes into itself (backups, the data
//! lake), with a blocking S3 client: `s3://BUCKET/PREFIX` parsed, and the
//! client built from the standard AWS chain (`AWS_REGION`,
//! `AWS_ENDPOINT_URL`, credentials) on a one-thread runtime of its own.

use aws_sdk_s3::Client;
use trailmark_backends_aws::AwsTarget;

/// A bucket, a prefix (empty, or ending in `/`) and a client for them.
pub(crate) struct S3Prefix {
    /// The client.
    pub client: Client,
    /// The bucket.
    pub bucket: String,
    /// Keys start with this.
    pub prefix: String,
    /// Runs the client's calls for blocking callers.
    pub runtime: tokio::runtime::Runtime,
}

/// Why an [`S3Prefix`] could not be opened.
#[derive(Debug)]
pub(crate) enum OpenError {
    /// `spec` names no bucket.
    NoBucket,
    /// The runtime could not start.
    Runtime(std::io::Error),
    /// The AWS configuration could not be loaded.
    Config(String),
}

impl S3Prefix {
    /// `BUCKET/PREFIX` (what follows `s3://`); `thread` names the runtime's
    /// worker thread.
    pub(crate) fn open(spec: &str, thread: &str) -> Result<S3Prefix, OpenError> {
        let (bucket, prefix) = spec.split_once('/').unwrap_or((spec, ""));
        if bucket.is_empty() {
            return Err(OpenError::NoBucket);
        }
        let prefix = prefix.trim_matches('/');
        let prefix = if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}/")
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(thread)
            .enable_all()
            .build()
            .map_err(OpenError::Runtime)?;
        let config = runtime
            .block_on(AwsTarget::default().load())
            .map_err(|e| OpenError::Config(e.to_string()))?;
        // A custom endpoint (moto, MinIO) wants path-style addressing.
        let path_style = config.endpoint_url().is_some();
        let client = Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(path_style)
                .build(),
        );
        Ok(S3Prefix {
            client,
            bucket: bucket.to_owned(),
            prefix,
            runtime,
        })
    }
}
