//! `trailmark aws bootstrap`: create the AWS resources a configuration names.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;

/// AWS commands.
#[derive(Debug, Subcommand)]
pub enum AwsCommand {
    /// Create the DynamoDB table (with its indexes), S3 bucket, SNS topics,
    /// EventBridge buses and the `[ingest.sqs]` SQS queue that a
    /// trailmark.toml names. Idempotent: what exists is left as it is.
    ///
    /// For trying Trailmark out and for tests; production setups may create
    /// the same resources with their own infrastructure code (see
    /// docs/deploying-on-aws.md). Credentials and region come from the usual
    /// AWS chain; AWS_ENDPOINT_URL points it at an AWS-compatible server.
    #[command(
        after_help = "Example:\n  AWS_ENDPOINT_URL=http://127.0.0.1:5000 trailmark aws bootstrap --config examples/trailmark-aws.toml\n\n\
It prints one line per resource: created, or already there."
    )]
    Bootstrap {
        /// The configuration whose AWS resources to create.
        #[arg(long, short)]
        config: PathBuf,
    },
}

/// Run an `aws` subcommand.
#[cfg(not(feature = "aws"))]
pub fn run(cmd: AwsCommand) -> Result<ExitCode> {
    let AwsCommand::Bootstrap { .. } = cmd;
    anyhow::bail!("`trailmark aws bootstrap`: {}", crate::config::WITHOUT_AWS)
}

/// Run an `aws` subcommand.
#[cfg(feature = "aws")]
pub fn run(cmd: AwsCommand) -> Result<ExitCode> {
    use anyhow::Context;
    use trailmark_backend_api::registry::{Kind, Section};
    use trailmark_backends_aws::{BootstrapSpec, bootstrap};

    use crate::config::{Config, Overrides};

    /// The section's AWS config, if it names an AWS backend of config type `A`.
    fn aws<K: Kind, A: Clone + 'static>(section: &Section<K>) -> Option<A> {
        section.config::<A>().cloned()
    }

    let AwsCommand::Bootstrap { config } = cmd;
    let config = Config::load(Some(&config), &Overrides::default())?;
    let spec = BootstrapSpec {
        archive: aws(&config.archive),
        metadata: aws(&config.metadata),
        notify: config.notify.values().filter_map(aws).collect(),
        forward: config.forward.values().filter_map(aws).collect(),
        ingest: config.ingest.sqs.clone(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = runtime.block_on(bootstrap(&spec))?;
    print!("{report}");
    Ok(ExitCode::SUCCESS)
}
