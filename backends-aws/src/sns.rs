//! The notify capability on SNS: one channel, one topic.

use std::collections::HashMap;

use aws_sdk_sns::Client;
use aws_sdk_sns::types::MessageAttributeValue;
use tokio::runtime::Handle;
use trailmark_backend_api::{BackendError, BackendResult, Notification, Notifier};

use crate::bridge::Bridge;
use crate::error::sdk_error;
use crate::sdk::AwsTarget;

/// SNS subjects are at most this many characters.
const MAX_SUBJECT: usize = 100;

/// Publishes a channel's notifications to one SNS topic.
///
/// The notification's attributes (the alert plugin sends `operation`,
/// `entity-type`, `source`, `author`) become SNS message attributes of type
/// `String`, so subscriptions can filter on them with a filter policy such as
/// `{"operation": ["delete"]}`. SNS refuses empty attribute values: such
/// attributes are left out. Attribute names must be 1-256 characters of
/// `A-Z a-z 0-9 _ - .`, not starting with `AWS.` or `Amazon.`; other names
/// are refused as [`BackendError::Invalid`].
///
/// The subject is made acceptable to SNS (ASCII without control
/// characters, at most 100 characters) rather than refused.
#[derive(Debug, Clone)]
pub struct SnsNotifier {
    client: Client,
    topic_arn: String,
    bridge: Bridge,
}

impl SnsNotifier {
    /// Connect to the topic `topic_arn`.
    pub async fn connect(
        topic_arn: &str,
        target: &AwsTarget,
        handle: &Handle,
    ) -> BackendResult<Self> {
        let bridge = Bridge::new(handle)?;
        let config = target.load().await?;
        Ok(SnsNotifier {
            client: Client::new(&config),
            topic_arn: topic_arn.to_owned(),
            bridge,
        })
    }
}

impl Notifier for SnsNotifier {
    fn publish(&self, notification: &Notification) -> BackendResult<()> {
        let attributes = message_attributes(&notification.attributes)?;
        let subject = subject(&notification.subject);
        let request = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .message(&notification.message)
            .set_subject((!subject.is_empty()).then_some(subject))
            .set_message_attributes((!attributes.is_empty()).then_some(attributes));
        self.bridge.run(request.send()).map_err(|e| {
            sdk_error(
                &format!(
                    "SNS Publish `{}` (channel {})",
                    self.topic_arn, notification.channel
                ),
                &e,
            )
        })?;
        Ok(())
    }
}

/// An SNS-acceptable subject: control characters become spaces, other
/// non-ASCII characters `?`, trimmed, cut to [`MAX_SUBJECT`].
fn subject(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| match c {
            c if c.is_ascii_control() || c.is_control() => ' ',
            c if c.is_ascii() => c,
            _ => '?',
        })
        .take(MAX_SUBJECT)
        .collect();
    cleaned.trim().to_owned()
}

fn message_attributes(
    attributes: &[(String, String)],
) -> BackendResult<HashMap<String, MessageAttributeValue>> {
    let mut out = HashMap::new();
    for (name, value) in attributes {
        check_attribute_name(name)?;
        if value.is_empty() {
            continue;
        }
        let value = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
            .map_err(|e| BackendError::Invalid(format!("SNS attribute {name:?}: {e}")))?;
        out.insert(name.clone(), value);
    }
    Ok(out)
}

fn check_attribute_name(name: &str) -> BackendResult<()> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    let reserved = ["AWS.", "Amazon."].iter().any(|p| {
        name.to_ascii_lowercase()
            .starts_with(&p.to_ascii_lowercase())
    });
    if name.is_empty()
        || name.len() > 256
        || !ok_chars
        || reserved
        || name.starts_with('.')
        || name.ends_with('.')
        || name.contains("..")
    {
        return Err(BackendError::Invalid(format!(
            "notification attribute name {name:?} is not a valid SNS message attribute name \
             (1-256 of A-Z a-z 0-9 _ - ., no leading/trailing/double `.`, not AWS./Amazon.)"
        )));
    }
    Ok(())
}

/// `GetTopicAttributes`: the topic exists and we may read it.
pub(crate) async fn check_topic(client: &Client, topic_arn: &str) -> BackendResult<()> {
    client
        .get_topic_attributes()
        .topic_arn(topic_arn)
        .send()
        .await
        .map_err(|e| sdk_error(&format!("SNS GetTopicAttributes `{topic_arn}`"), &e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_made_acceptable() {
        assert_eq!(subject("book 42 deleted"), "book 42 deleted");
        assert_eq!(subject("line\nbreak"), "line break");
        assert_eq!(subject("livre é"), "livre ?");
        assert_eq!(subject(&"x".repeat(300)).len(), MAX_SUBJECT);
        assert_eq!(subject("  \n "), "");
    }

    #[test]
    fn attributes_keep_values_and_drop_empty_ones() {
        let attrs = message_attributes(&[
            ("operation".into(), "delete".into()),
            ("author".into(), "".into()),
        ])
        .unwrap();
        assert_eq!(attrs.len(), 1);
        assert_eq!(attrs["operation"].string_value(), Some("delete"));
        assert_eq!(attrs["operation"].data_type(), "String");
    }

    #[test]
    fn bad_attribute_names_are_invalid() {
        for name in ["", "AWS.x", "amazon.y", "has space", "a..b", ".a", "é"] {
            assert!(
                matches!(check_attribute_name(name), Err(BackendError::Invalid(_))),
                "{name:?}"
            );
        }
        assert!(check_attribute_name("entity-type").is_ok());
    }
}
