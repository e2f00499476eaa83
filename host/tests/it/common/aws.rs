//! The AWS SDK against moto, the AWS-compatible server `cargo xtask test`
//! starts: its URL, a runtime, the SDK configuration, an S3 client, new
//! buckets, and the environment that points a `trailmark` process at it.

use std::process::Command;

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

/// `<prefix>-<pid>-<random>`: a resource name no other test shares.
pub(crate) fn unique(prefix: &str) -> String {
    format!("{prefix}-{}-{}", std::process::id(), fastrand::u32(..))
}

/// A new bucket in moto, named [`unique`] from `prefix`: its name.
pub(crate) fn moto_bucket(prefix: &str) -> String {
    let bucket = unique(prefix);
    aws_runtime().block_on(async {
        moto_s3(&moto_sdk().await)
            .create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .expect("create bucket");
    });
    bucket
}

/// Point the AWS SDK of a `trailmark` process at moto, in us-east-1 with
/// its test credentials.
pub(crate) fn moto_env(cmd: &mut Command) {
    cmd.env("AWS_ENDPOINT_URL", moto_url())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing");
}
