//! Local notification channels: a JSON-lines file, a webhook, stdout.
//!
//! Every channel sends the same JSON document:
//! `{"channel": .., "subject": .., "message": .., "attributes": {"k": "v", ..}}`.
//! Attributes become a JSON object; when a key repeats, the last value wins.

mod file;
mod stdout;
mod webhook;

use std::collections::BTreeMap;

use serde::Serialize;

pub use file::FileNotifier;
pub use stdout::StdoutNotifier;
pub use webhook::{DEFAULT_WEBHOOK_TIMEOUT, WebhookNotifier};

use crate::Notification;

/// The JSON document every local channel sends for one notification.
#[derive(Debug, Serialize)]
pub(crate) struct NotificationBody<'a> {
    channel: &'a str,
    subject: &'a str,
    message: &'a str,
    attributes: BTreeMap<&'a str, &'a str>,
}

impl<'a> From<&'a Notification> for NotificationBody<'a> {
    fn from(n: &'a Notification) -> Self {
        NotificationBody {
            channel: &n.channel,
            subject: &n.subject,
            message: &n.message,
            attributes: n
                .attributes
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
        }
    }
}

#[cfg(test)]
pub(crate) fn sample_notification() -> Notification {
    Notification {
        channel: "admins".into(),
        subject: "book 42 deleted by alice".into(),
        message: "line one\nline \"two\"".into(),
        attributes: vec![
            ("entity-type".into(), "book".into()),
            ("operation".into(), "delete".into()),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_has_attributes_as_an_object_and_the_last_duplicate_wins() {
        let mut n = sample_notification();
        n.attributes.push(("operation".into(), "purge".into()));
        let json = serde_json::to_value(NotificationBody::from(&n)).expect("json");
        assert_eq!(
            json,
            serde_json::json!({
                "channel": "admins",
                "subject": "book 42 deleted by alice",
                "message": "line one\nline \"two\"",
                "attributes": {"entity-type": "book", "operation": "purge"},
            })
        );
    }
}
