//! The AWS SDK against moto, the AWS-compatible server `cargo xtask test`
//! starts: its URL, a runtime, the SDK configuration and an S3 client.

/// The URL of the moto server `cargo xtask test` starts (`TRAILMARK_MOTO_URL`).
pub(crate) fn moto_url() -> String {
    std::env::var("TRAILMARK_MOTO_URL")
        .expect("set TRAILMARK_MOTO_URL (cargo xtask test starts moto)")
}

/// A runtime to drive a test's AWS SDK calls to moto.
pub(crate) fn aws_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// The AWS SDK configuration for moto ([`moto_url`], in us-east-1).
pub(crate) async fn moto_sdk() -> aws_config::SdkConfig {
    trailmark_backends_aws::AwsTarget::new(Some("us-east-1".into()), Some(moto_url()))
        .load()
        .await
        .expect("sdk config")
}

/// An S3 client for moto: path-style addressing, as moto serves buckets.
pub(crate) fn moto_s3(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build(),
    )
}
