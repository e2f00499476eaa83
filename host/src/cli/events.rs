//! `trailmark events put`: send events through the PutEvents endpoint with the
//! official AWS SDK client, exactly as any AWS application would.

use std::process::ExitCode;

use anyhow::Result;
#[cfg(feature = "aws")]
use anyhow::{Context, bail};
use clap::Subcommand;
#[cfg(feature = "aws")]
use serde_json::Value;

#[cfg(feature = "aws")]
use super::producer::{
    PutEntry, PutOutcome, parse_entries, put_events_with_client, sdk_client, sdk_client_with_token,
};
use super::{OutputFormat, ServerArg};
#[cfg(feature = "aws")]
use super::{read_arg, terminal};

/// Event commands.
#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Send events to a server's PutEvents endpoint (with aws-sdk-eventbridge).
    ///
    /// With --token (or TRAILMARK_TOKEN) the token authenticates the calls;
    /// otherwise they are signed with the access key in the server's data
    /// directory (DATA/access-key), as the AWS CLI would sign them.
    ///
    /// Each FILE (or - for standard input) holds either the AWS CLI's
    /// `put-events --entries` JSON (an array of {Source, DetailType, Detail, …})
    /// or EventBridge envelopes ({"source", "detail-type", "detail", …}), one or
    /// an array. Exit status: 0 when every entry was accepted, 2 otherwise.
    #[command(
        after_help = "Examples:\n  trailmark events put examples/events/put-events.json\n  trailmark events put examples/events/book-*.json\n  echo '[{\"Source\":\"app\",\"DetailType\":\"t\",\"Detail\":\"{}\"}]' | trailmark events put -"
    )]
    Put {
        /// The server to ask.
        #[command(flatten)]
        server: ServerArg,
        /// Files of entries or envelopes; `-` reads standard input.
        #[arg(required = true)]
        files: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
}

/// Turn an EventBridge envelope into a PutEvents entry.
#[cfg(feature = "aws")]
fn envelope_entry(v: &Value) -> Result<PutEntry> {
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let time = match text("time") {
        Some(t) => Some(
            time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339)
                .with_context(|| format!("`time` {t:?} is not RFC 3339"))?,
        ),
        None => None,
    };
    Ok(PutEntry {
        source: text("source"),
        detail_type: text("detail-type"),
        detail: v.get("detail").map(Value::to_string),
        resources: v.get("resources").and_then(Value::as_array).map(|r| {
            r.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        }),
        time,
        ..PutEntry::default()
    })
}

/// The envelope keys in `text` that the server assigns itself (`id`,
/// `version`, `account`, `region`): a PutEvents entry cannot carry them.
#[cfg(feature = "aws")]
fn host_assigned(text: &str) -> Vec<&'static str> {
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return Vec::new();
    };
    let items = match &value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    ["id", "version", "account", "region"]
        .into_iter()
        .filter(|key| {
            items
                .iter()
                .any(|i| i.get("detail-type").is_some() && i.get(*key).is_some())
        })
        .collect()
}

/// Parse a file's text as entries or envelopes.
#[cfg(feature = "aws")]
pub fn parse_input(text: &str) -> Result<Vec<PutEntry>> {
    let value: Value = serde_json::from_str(text).context("not valid JSON")?;
    let items = match &value {
        Value::Array(items) => items.clone(),
        Value::Object(_) => vec![value.clone()],
        _ => bail!("expected a JSON array of entries or an EventBridge envelope object"),
    };
    let is_envelope = items
        .first()
        .is_some_and(|i| i.get("detail-type").is_some() || i.get("source").is_some());
    if is_envelope {
        items.iter().map(envelope_entry).collect()
    } else if value.is_array() {
        Ok(parse_entries(text)?)
    } else {
        Ok(parse_entries(&format!("[{text}]"))?)
    }
}

/// Run an `events` subcommand: without AWS support there is no producer
/// client, and `put` says so (a server built without it still takes events
/// on `POST /v1/events` and PutEvents from any client).
#[cfg(not(feature = "aws"))]
pub fn run(cmd: EventsCommand) -> Result<ExitCode> {
    let EventsCommand::Put { .. } = cmd;
    anyhow::bail!(
        "`trailmark events put` sends with the AWS SDK, and {}; send events with a build \
         that has it, any EventBridge client, or `POST /v1/events` (Authorization: Bearer TOKEN)",
        crate::config::WITHOUT_AWS
    )
}

/// Run an `events` subcommand.
#[cfg(feature = "aws")]
pub fn run(cmd: EventsCommand) -> Result<ExitCode> {
    let EventsCommand::Put {
        server,
        files,
        output,
    } = cmd;
    let mut entries = Vec::new();
    for f in &files {
        let text = read_arg(&if f == "-" {
            "@-".to_owned()
        } else {
            format!("@{f}")
        })?;
        entries.extend(parse_input(&text).with_context(|| format!("reading events from {f}"))?);
        let assigned = host_assigned(&text);
        if !assigned.is_empty() {
            eprintln!(
                "note: {f}: the envelope's {} {} assigned by the server, not sent (each event's \
                 id is printed below)",
                assigned.join(", "),
                if assigned.len() == 1 { "is" } else { "are" }
            );
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    // A token given with --token or TRAILMARK_TOKEN (a producer's `put`
    // token) is used as it is; otherwise the request is signed with the
    // access key a local server left in its data directory.
    let summary = runtime.block_on(async {
        let client = match server.explicit_token() {
            Some(token) => sdk_client_with_token(&server.url(), token).await?,
            None => sdk_client(&server.url(), server.access_key()).await?,
        };
        put_events_with_client(&client, entries).await
    })?;
    let unreachable = summary.entries.iter().all(|o| {
        matches!(o, PutOutcome::Failed { error_code, error_message }
            if error_code == "NotSent" || (error_code == "RequestFailed" && error_message.contains("dispatch failure")))
    });
    if unreachable {
        bail!(
            "cannot reach the Trailmark server at {}; nothing was sent\n  is `trailmark serve` running? \
             Point at another one with --server URL or TRAILMARK_SERVER",
            server.url()
        );
    }
    match output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&summary)?),
        OutputFormat::Table => {
            for (i, outcome) in summary.entries.iter().enumerate() {
                match outcome {
                    PutOutcome::Accepted { event_id } => {
                        println!("{:>3}  accepted  {event_id}", i + 1)
                    }
                    PutOutcome::Failed {
                        error_code,
                        error_message,
                    } => {
                        println!(
                            "{:>3}  FAILED    {}: {}",
                            i + 1,
                            terminal::escape(error_code),
                            terminal::escape(error_message)
                        )
                    }
                }
            }
            eprintln!(
                "{} accepted, {} failed",
                summary.accepted(),
                summary.failed()
            );
        }
    }
    Ok(if summary.failed() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

#[cfg(all(test, feature = "aws"))]
mod tests {
    use super::*;

    #[test]
    fn envelope_keys_the_server_assigns_are_named() {
        let envelope = r#"{"version": "0", "id": "x", "detail-type": "t", "source": "s",
                           "account": "1", "region": "r", "detail": {}}"#;
        assert_eq!(
            host_assigned(envelope),
            ["id", "version", "account", "region"]
        );
        let entries = r#"[{"Source": "s", "DetailType": "t", "Detail": "{}"}]"#;
        assert!(
            host_assigned(entries).is_empty(),
            "PutEvents entries have none"
        );
        let entry = parse_input(envelope).expect("an envelope is an entry");
        assert_eq!(entry.len(), 1);
        assert_eq!(entry[0].source.as_deref(), Some("s"));
    }
}
