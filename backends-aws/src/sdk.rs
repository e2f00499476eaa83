//! Shared SDK configuration: the standard credential and region chains, an
//! optional endpoint override, and an HTTP client on rustls with ring.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use trailmark_backend_api::{BackendError, BackendResult};

/// Time allowed for one attempt of one call. Long enough for an SQS long
/// poll (at most 20 s) to complete.
pub(crate) const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// Time allowed for one call, retries included.
pub(crate) const OPERATION_TIMEOUT: Duration = Duration::from_secs(60);
/// Time allowed to open a connection.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a backend's AWS calls go: a region and an endpoint, each optional.
///
/// `None` means the standard chain decides: the region comes from
/// `AWS_REGION`/`AWS_DEFAULT_REGION`, the profile, or instance metadata; the
/// endpoint from `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_<SERVICE>`), else AWS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsTarget {
    /// Region override, e.g. `eu-west-1`.
    pub region: Option<String>,
    /// Endpoint override, e.g. `http://127.0.0.1:5000` for moto or LocalStack.
    pub endpoint: Option<String>,
}

impl AwsTarget {
    /// A target with these overrides.
    pub fn new(region: Option<String>, endpoint: Option<String>) -> Self {
        AwsTarget { region, endpoint }
    }

    /// Load the SDK configuration for this target.
    ///
    /// Fails with [`BackendError::Invalid`] when the endpoint is not an
    /// `http://` or `https://` URL or when no region can be found.
    pub async fn load(&self) -> BackendResult<SdkConfig> {
        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .operation_attempt_timeout(ATTEMPT_TIMEOUT)
            .operation_timeout(OPERATION_TIMEOUT)
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http_client)
            .timeout_config(timeouts);
        if let Some(region) = &self.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(endpoint) = &self.endpoint {
            if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
                return Err(BackendError::Invalid(format!(
                    "endpoint {endpoint:?} is not a URL; expected e.g. \"http://127.0.0.1:5000\""
                )));
            }
            loader = loader.endpoint_url(endpoint);
        }
        let config = loader.load().await;
        if config.region().is_none() {
            return Err(BackendError::Invalid(
                "no AWS region: set `region` in the backend's table or AWS_REGION".to_owned(),
            ));
        }
        Ok(config)
    }

    /// The region the configuration resolved to, for messages.
    pub(crate) fn describe(config: &SdkConfig) -> String {
        let region = config.region().map_or("?", |r| r.as_ref());
        match config.endpoint_url() {
            Some(url) => format!("region {region}, endpoint {url}"),
            None => format!("region {region}"),
        }
    }
}
