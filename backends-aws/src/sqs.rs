//! An ingest source: EventBridge events that a rule delivers to an SQS
//! queue, long-polled, deleted only after the host has journaled them.

use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use serde::Deserialize;
use trailmark_backend_api::{BackendError, BackendResult, Event};

use crate::error::{classify_code, sdk_error};
use crate::sdk::AwsTarget;

/// Longest long-poll SQS allows.
const MAX_WAIT: Duration = Duration::from_secs(20);
/// Messages per receive and entries per delete batch, SQS's maximum.
const MAX_MESSAGES: i32 = 10;

/// The `[ingest.sqs]` table.
///
/// ```toml
/// [ingest.sqs]
/// queue-url = "https://sqs.eu-west-1.amazonaws.com/123456789012/trailmark-ingest"
/// wait-seconds = 20      # long-poll time, 0-20; default 20
/// region = "eu-west-1"   # optional
/// endpoint = "http://127.0.0.1:5000"  # optional
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SqsSourceConfig {
    /// The queue's URL.
    pub queue_url: String,
    /// Long-poll time in seconds, 0 to 20; default 20.
    #[serde(default = "default_wait_seconds")]
    pub wait_seconds: u8,
    /// Region override.
    #[serde(default)]
    pub region: Option<String>,
    /// Endpoint override.
    #[serde(default)]
    pub endpoint: Option<String>,
}

fn default_wait_seconds() -> u8 {
    20
}

impl SqsSourceConfig {
    /// A config for `queue_url` with the default wait and no overrides.
    pub fn new(queue_url: &str) -> Self {
        SqsSourceConfig {
            queue_url: queue_url.to_owned(),
            wait_seconds: default_wait_seconds(),
            region: None,
            endpoint: None,
        }
    }

    /// The region and endpoint overrides.
    pub fn target(&self) -> AwsTarget {
        AwsTarget::new(self.region.clone(), self.endpoint.clone())
    }

    /// The queue's name: the last segment of its URL.
    pub fn queue_name(&self) -> &str {
        self.queue_url
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or(&self.queue_url)
    }

    /// Connect a source to the queue.
    pub async fn connect(&self) -> BackendResult<SqsSource> {
        if self.wait_seconds > 20 {
            return Err(BackendError::Invalid(format!(
                "[ingest.sqs] wait-seconds = {}: SQS long polls at most 20 s",
                self.wait_seconds
            )));
        }
        let config = self.target().load().await?;
        Ok(SqsSource {
            client: Client::new(&config),
            queue_url: self.queue_url.clone(),
            wait: Duration::from_secs(u64::from(self.wait_seconds)).min(MAX_WAIT),
        })
    }

    /// `GetQueueAttributes`: the queue exists and we may use it.
    pub async fn check(&self) -> Result<(), crate::ResourceError> {
        let resource = format!("SQS queue `{}`", self.queue_url);
        let result = async {
            let source = self.connect().await?;
            source
                .client
                .get_queue_attributes()
                .queue_url(&self.queue_url)
                .send()
                .await
                .map_err(|e| {
                    sdk_error(&format!("SQS GetQueueAttributes `{}`", self.queue_url), &e)
                })?;
            Ok(())
        }
        .await;
        result.map_err(|cause| crate::ResourceError::new(resource, cause))
    }
}

/// One received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsMessage {
    /// SQS's message id.
    pub message_id: String,
    /// Pass to [`SqsSource::delete`] once the event is journaled.
    pub receipt: String,
    /// How many times SQS has delivered this message (1 the first time).
    pub receive_count: u32,
    /// The event, or why the body is not an EventBridge event.
    pub event: Result<Event, SqsBodyError>,
}

/// A message body that is not an EventBridge event envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SQS message {message_id}: body is not an EventBridge event: {reason}")]
pub struct SqsBodyError {
    /// The message.
    pub message_id: String,
    /// What is wrong with its body.
    pub reason: String,
}

/// Parse an SQS body holding an EventBridge event (the envelope as
/// EventBridge writes it into an SQS target's queue). `detail` must be a
/// JSON object and is kept verbatim (no float rounding, key order kept).
pub(crate) fn parse_envelope(message_id: &str, body: &str) -> Result<Event, SqsBodyError> {
    let error = |reason: String| SqsBodyError {
        message_id: message_id.to_owned(),
        reason,
    };
    let event = Event::from_envelope(body).map_err(|e| error(e.to_string()))?;
    if !event.detail.trim_start().starts_with('{') {
        return Err(error("`detail` is not a JSON object".to_owned()));
    }
    Ok(event)
}

/// Long-polls one SQS queue for EventBridge events.
///
/// At-least-once: a message stays in the queue, invisible for the queue's
/// visibility timeout, until [`delete`](Self::delete) is called with its
/// receipt; journal the event first, then delete. Several hosts may poll
/// the same queue: each message goes to one of them at a time, and a host
/// that dies before deleting lets it reappear for another.
#[derive(Debug, Clone)]
pub struct SqsSource {
    client: Client,
    queue_url: String,
    wait: Duration,
}

impl SqsSource {
    /// The queue's URL.
    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// Receive up to `max` messages (clamped to 1..=10), waiting up to the
    /// configured long-poll time for the first one; empty when none came.
    pub async fn receive(&self, max: i32) -> BackendResult<Vec<SqsMessage>> {
        let output = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(max.clamp(1, MAX_MESSAGES))
            .wait_time_seconds(i32::try_from(self.wait.as_secs()).unwrap_or(20))
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
            )
            .send()
            .await
            .map_err(|e| sdk_error(&format!("SQS ReceiveMessage `{}`", self.queue_url), &e))?;
        let mut messages = Vec::new();
        for message in output.messages() {
            let message_id = message.message_id().unwrap_or_default().to_owned();
            let Some(receipt) = message.receipt_handle() else {
                tracing::warn!(message_id, "SQS message without a receipt handle; skipped");
                continue;
            };
            let receive_count = message
                .attributes()
                .and_then(|a| {
                    a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
                })
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            let event = parse_envelope(&message_id, message.body().unwrap_or_default());
            messages.push(SqsMessage {
                message_id,
                receipt: receipt.to_owned(),
                receive_count,
                event,
            });
        }
        Ok(messages)
    }

    /// Delete the messages with these receipts, in batches of ten. Fails
    /// (after trying every batch) naming the receipts SQS did not delete.
    pub async fn delete(&self, receipts: &[String]) -> BackendResult<()> {
        let what = format!("SQS DeleteMessageBatch `{}`", self.queue_url);
        let mut failures: Vec<(String, String, String)> = Vec::new();
        for chunk in receipts.chunks(MAX_MESSAGES as usize) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, receipt)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(receipt)
                        .build()
                        .map_err(|e| BackendError::Invalid(format!("{what}: {e}")))
                })
                .collect::<BackendResult<Vec<_>>>()?;
            let output = self
                .client
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| sdk_error(&what, &e))?;
            for failed in output.failed() {
                let receipt = failed
                    .id()
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| chunk.get(i))
                    .cloned()
                    .unwrap_or_default();
                failures.push((
                    receipt,
                    failed.code().to_owned(),
                    failed.message().unwrap_or_default().to_owned(),
                ));
            }
        }
        let Some((_, first_code, _)) = failures.first() else {
            return Ok(());
        };
        let class = classify_code(first_code);
        let listed: Vec<String> = failures
            .iter()
            .map(|(receipt, code, message)| {
                let short: String = receipt.chars().take(24).collect();
                format!("{short}…: {code} {message}")
            })
            .collect();
        Err(class.into_error(format!(
            "{what}: {} of {} not deleted: {}",
            failures.len(),
            receipts.len(),
            listed.join("; ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DELIVERED: &str = r#"{"version":"0","id":"6a7e8feb-b491-4cf7-a9f1-bf3703467718","detail-type":"Object State Change","source":"com.example.books","account":"123456789012","time":"2026-11-25T12:00:00Z","region":"eu-west-1","resources":[],"detail":{"entity-type":"book","entity-id":"42","operation":"delete","price":1.10}}"#;

    #[test]
    fn eventbridge_deliveries_parse_with_detail_verbatim() {
        let event = parse_envelope("m1", DELIVERED).unwrap();
        assert_eq!(event.id, "6a7e8feb-b491-4cf7-a9f1-bf3703467718");
        assert_eq!(event.detail_type, "Object State Change");
        assert_eq!(event.account, "123456789012");
        assert_eq!(
            event.detail,
            r#"{"entity-type":"book","entity-id":"42","operation":"delete","price":1.10}"#
        );
    }

    #[test]
    fn other_bodies_are_reported_with_the_message_id() {
        let err = parse_envelope("m2", "hello").unwrap_err();
        assert_eq!(err.message_id, "m2");
        let no_object = DELIVERED.replace(
            r#"{"entity-type":"book","entity-id":"42","operation":"delete","price":1.10}"#,
            "[1]",
        );
        let err = parse_envelope("m3", &no_object).unwrap_err();
        assert!(err.reason.contains("not a JSON object"), "{err}");
        let err = parse_envelope("m4", r#"{"id":"x"}"#).unwrap_err();
        assert!(err.to_string().contains("m4"), "{err}");
    }

    #[test]
    fn config_parses_and_names_the_queue() {
        let config: SqsSourceConfig = toml::from_str(
            r#"queue-url = "https://sqs.eu-west-1.amazonaws.com/123456789012/ingest"
               wait-seconds = 5"#,
        )
        .unwrap();
        assert_eq!(config.queue_name(), "ingest");
        assert_eq!(config.wait_seconds, 5);
        assert!(
            toml::from_str::<SqsSourceConfig>(
                r#"queue-url = "u"
            bogus = 1"#
            )
            .is_err()
        );
    }
}
