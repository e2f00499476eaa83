//! Create the AWS resources a configuration names, idempotently.

use std::fmt;

use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use trailmark_backend_api::{BackendError, BackendResult};

use crate::error::{ResourceError, sdk_error};
use crate::sdk::AwsTarget;
use crate::{
    AwsArchiveConfig, AwsBackendConfig, AwsForwardConfig, AwsMetadataConfig, AwsNotifyConfig,
    SqsSourceConfig,
};

/// The resources to create: the AWS parts of a `trailmark.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BootstrapSpec {
    /// `[archive]`: the bucket.
    pub archive: Option<AwsArchiveConfig>,
    /// `[metadata]`: the table, with both indexes.
    pub metadata: Option<AwsMetadataConfig>,
    /// `[notify.*]`: one topic each (named by the last part of the ARN).
    pub notify: Vec<AwsNotifyConfig>,
    /// `[forward.*]`: one bus each (`default` always exists).
    pub forward: Vec<AwsForwardConfig>,
    /// `[ingest.sqs]`: the queue (named by the last part of the URL).
    pub ingest: Option<SqsSourceConfig>,
}

/// What bootstrap did with one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootstrapOutcome {
    /// It was created.
    Created,
    /// It was already there; nothing changed.
    AlreadyExisted,
}

/// One resource and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapItem {
    /// E.g. ``DynamoDB table `trailmark-changes` ``.
    pub resource: String,
    /// Created or already there.
    pub outcome: BootstrapOutcome,
    /// Its ARN or URL when the service told it.
    pub id: Option<String>,
}

/// Every resource bootstrap looked at, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BootstrapReport {
    /// One item per resource.
    pub items: Vec<BootstrapItem>,
}

impl fmt::Display for BootstrapReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for item in &self.items {
            let outcome = match item.outcome {
                BootstrapOutcome::Created => "created",
                BootstrapOutcome::AlreadyExisted => "already exists",
            };
            write!(f, "{}: {outcome}", item.resource)?;
            if let Some(id) = &item.id {
                write!(f, " ({id})")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// Create every resource `spec` names; resources that already exist are
/// left alone and reported as such, so running it twice is harmless.
/// Stops at the first failure, naming the resource.
pub async fn bootstrap(spec: &BootstrapSpec) -> Result<BootstrapReport, ResourceError> {
    let mut report = BootstrapReport::default();
    if let Some(AwsMetadataConfig::Dynamodb { table, .. }) = &spec.metadata {
        let target = spec
            .metadata
            .as_ref()
            .map(AwsMetadataConfig::target)
            .unwrap_or_default();
        let resource = format!("DynamoDB table `{table}`");
        let created = step(&target, &resource, |config| async move {
            let client = aws_sdk_dynamodb::Client::new(&config);
            let created = crate::dynamodb::create_table(&client, table).await?;
            crate::dynamodb::check_table(&client, table).await?;
            Ok(created)
        })
        .await?;
        report.push(resource, created, None);
    }
    if let Some(archive @ AwsArchiveConfig::S3 { bucket, .. }) = &spec.archive {
        let resource = format!("S3 bucket `{bucket}`");
        let created = step(&archive.target(), &resource, |config| async move {
            create_bucket(&config, bucket).await
        })
        .await?;
        report.push(resource, created, None);
    }
    for notify in &spec.notify {
        let AwsNotifyConfig::Sns { topic_arn, .. } = notify;
        let resource = format!("SNS topic `{topic_arn}`");
        let (created, arn) = step(&notify.target(), &resource, |config| async move {
            create_topic(&config, topic_arn).await
        })
        .await?;
        report.push(resource, created, Some(arn));
    }
    for forward in &spec.forward {
        let AwsForwardConfig::Eventbridge { bus, .. } = forward;
        let resource = format!("EventBridge bus `{bus}`");
        let created = step(&forward.target(), &resource, |config| async move {
            create_bus(&config, bus).await
        })
        .await?;
        report.push(resource, created, None);
    }
    if let Some(ingest) = &spec.ingest {
        let name = ingest.queue_name();
        let resource = format!("SQS queue `{name}`");
        let (created, url) = step(&ingest.target(), &resource, |config| async move {
            create_queue(&config, name).await
        })
        .await?;
        report.push(resource, created, Some(url));
    }
    Ok(report)
}

impl BootstrapReport {
    fn push(&mut self, resource: String, created: bool, id: Option<String>) {
        let outcome = if created {
            BootstrapOutcome::Created
        } else {
            BootstrapOutcome::AlreadyExisted
        };
        self.items.push(BootstrapItem {
            resource,
            outcome,
            id,
        });
    }
}

async fn step<T, F, Fut>(target: &AwsTarget, resource: &str, work: F) -> Result<T, ResourceError>
where
    F: FnOnce(aws_config::SdkConfig) -> Fut,
    Fut: std::future::Future<Output = BackendResult<T>>,
{
    let config = target
        .load()
        .await
        .map_err(|cause| ResourceError::new(resource.to_owned(), cause))?;
    work(config)
        .await
        .map_err(|cause| ResourceError::new(resource.to_owned(), cause))
}

async fn create_bucket(config: &aws_config::SdkConfig, bucket: &str) -> BackendResult<bool> {
    let client = crate::s3::client(config);
    if crate::s3::check_bucket(&client, bucket).await.is_ok() {
        return Ok(false);
    }
    let region = config.region().map(|r| r.as_ref().to_owned());
    // us-east-1 takes no location constraint; every other region needs one.
    let location = region.filter(|r| r != "us-east-1").map(|r| {
        CreateBucketConfiguration::builder()
            .location_constraint(BucketLocationConstraint::from(r.as_str()))
            .build()
    });
    match client
        .create_bucket()
        .bucket(bucket)
        .set_create_bucket_configuration(location)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_bucket_already_owned_by_you()) =>
        {
            Ok(false)
        }
        Err(e) => Err(sdk_error(&format!("S3 CreateBucket `{bucket}`"), &e)),
    }
}

/// The topic name of an SNS topic ARN (`arn:aws:sns:region:account:name`).
fn topic_name(topic_arn: &str) -> BackendResult<&str> {
    let parts: Vec<&str> = topic_arn.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "sns", _, _, name] if !name.is_empty() => Ok(name),
        _ => Err(BackendError::Invalid(format!(
            "{topic_arn:?} is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"
        ))),
    }
}

async fn create_topic(
    config: &aws_config::SdkConfig,
    topic_arn: &str,
) -> BackendResult<(bool, String)> {
    let client = aws_sdk_sns::Client::new(config);
    let name = topic_name(topic_arn)?;
    if crate::sns::check_topic(&client, topic_arn).await.is_ok() {
        return Ok((false, topic_arn.to_owned()));
    }
    let output = client
        .create_topic()
        .name(name)
        .send()
        .await
        .map_err(|e| sdk_error(&format!("SNS CreateTopic `{name}`"), &e))?;
    let arn = output.topic_arn().unwrap_or_default().to_owned();
    if arn != topic_arn {
        return Err(BackendError::Invalid(format!(
            "created topic `{name}` as {arn}, not {topic_arn}: is the ARN's account or region the one the credentials use?"
        )));
    }
    Ok((true, arn))
}

async fn create_bus(config: &aws_config::SdkConfig, bus: &str) -> BackendResult<bool> {
    let client = aws_sdk_eventbridge::Client::new(config);
    if crate::eventbridge::check_bus(&client, bus).await.is_ok() {
        return Ok(false);
    }
    match client.create_event_bus().name(bus).send().await {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_already_exists_exception()) =>
        {
            Ok(false)
        }
        Err(e) => Err(sdk_error(
            &format!("EventBridge CreateEventBus `{bus}`"),
            &e,
        )),
    }
}

async fn create_queue(config: &aws_config::SdkConfig, name: &str) -> BackendResult<(bool, String)> {
    let client = aws_sdk_sqs::Client::new(config);
    if let Ok(output) = client.get_queue_url().queue_name(name).send().await {
        return Ok((false, output.queue_url().unwrap_or_default().to_owned()));
    }
    let output = client
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .map_err(|e| sdk_error(&format!("SQS CreateQueue `{name}`"), &e))?;
    Ok((true, output.queue_url().unwrap_or_default().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_come_from_arns() {
        assert_eq!(
            topic_name("arn:aws:sns:eu-west-1:123456789012:admins").unwrap(),
            "admins"
        );
        assert!(topic_name("admins").is_err());
        assert!(topic_name("arn:aws:sqs:eu-west-1:1:q").is_err());
    }

    #[test]
    fn reports_list_every_resource() {
        let mut report = BootstrapReport::default();
        report.push("S3 bucket `b`".into(), true, None);
        report.push("SQS queue `q`".into(), false, Some("http://q".into()));
        assert_eq!(
            report.to_string(),
            "S3 bucket `b`: created\nSQS queue `q`: already exists (http://q)\n"
        );
    }
}
