//! The standard `slack` plugin: a message per event to a Slack incoming
//! webhook (`POST` of `{"text": …}` as JSON; Slack answers `200 ok`).
//!
//! The webhook URL is a credential: the destination reads it from the
//! environment or a 0600 file (`url: {env: SLACK_WEBHOOK_URL}`), and the
//! plugin never sees it.
//!
//! Grants: `http: [<destination>]`.
//!
//! ```yaml
//! config:
//!   destination: slack         # default: slack
//!   text: ":wastebasket: {entity-type} {entity-id} deleted by {author} ({source})"
//!   blocks: [...]              # optional Block Kit blocks, strings templated
//! ```

use serde::Deserialize;
use trailmark_sdk::serde_json::{Map, Value};
use trailmark_sdk::{Event, HttpRequest, JsonTemplate, PluginError, Template, export_plugin};

const DEFAULT_TEXT: &str = "{entity-type} {entity-id}: {operation} by {author} ({source})";

/// The rule's config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The incoming-webhook destination.
    destination: String,
    /// The message text (mrkdwn), a template.
    text: Template,
    /// Block Kit blocks, their strings templates.
    blocks: Option<JsonTemplate>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            destination: "slack".to_owned(),
            text: Template::parse(DEFAULT_TEXT).expect("the default text is a valid template"),
            blocks: None,
        }
    }
}

/// The message Slack receives for `event`.
fn message(config: &Config, event: &Event<'_>) -> Result<Value, PluginError> {
    let mut message = Map::new();
    message.insert("text".to_owned(), Value::String(config.text.render(event)?));
    if let Some(blocks) = &config.blocks {
        message.insert("blocks".to_owned(), blocks.render(event)?);
    }
    Ok(Value::Object(message))
}

fn handle(config: &Config, event: &Event<'_>) -> Result<(), PluginError> {
    let body = message(config, event)?.to_string();
    event
        .http(&HttpRequest::post_json(&config.destination, "/", body))
        .map(|_| ())
}

export_plugin!(fn handle(Config) as pub SlackPlugin);

#[cfg(test)]
mod tests {
    use trailmark_sdk::serde_json::{self, json};
    use trailmark_sdk::testing::{Answer, Batch, Host, journaled_change};

    use super::*;

    #[test]
    fn posts_the_text_as_json_to_the_webhook() {
        let detail = json!({"entity-type": "book", "entity-id": "7", "operation": "delete",
                            "ts": 1, "author": "carol \"the\" admin"});
        let mut host = Host::new();
        let answers = host.run::<SlackPlugin>(
            r#"{"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*{operation}*"}}]}"#,
            &Batch::of([journaled_change("e-1", &detail)]),
        );
        assert_eq!(answers, [Answer::Ok]);
        let sent = host.http_requests();
        assert_eq!(
            (sent[0].destination.as_str(), sent[0].path.as_str()),
            ("slack", "/")
        );
        let body: Value = serde_json::from_slice(&sent[0].body).expect("JSON");
        assert_eq!(
            body["text"],
            "book 7: delete by carol \"the\" admin (com.example.library)"
        );
        assert_eq!(body["blocks"][0]["text"]["text"], "*delete*");
    }
}
