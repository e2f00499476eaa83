//! `trailmark query` and `trailmark history`: read the audit trail of a
//! running server.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use serde_json::Value;

use super::{OutputFormat, ServerArg, table, terminal};

/// Arguments of `query`.
#[derive(Debug, Args)]
#[command(
    after_help = "Times are RFC 3339 (2026-11-25T10:00:00Z), epoch milliseconds, or relative: 15m, 1h, 7d (that long ago).\n\n\
Examples:\n  trailmark query --author alice@example.com --since 1d\n  trailmark query --entity-type book --operation delete --output json"
)]
pub struct QueryArgs {
    #[command(flatten)]
    server: ServerArg,
    /// Only changes by this author.
    #[arg(long)]
    author: Option<String>,
    /// Only this entity type.
    #[arg(long)]
    entity_type: Option<String>,
    /// Only this entity id.
    #[arg(long)]
    entity_id: Option<String>,
    /// Only this operation: insert, update or delete.
    #[arg(long)]
    operation: Option<String>,
    /// Only this event source.
    #[arg(long)]
    source: Option<String>,
    /// Only changes at or after this time.
    #[arg(long)]
    since: Option<String>,
    /// Only changes before this time.
    #[arg(long)]
    until: Option<String>,
    /// At most this many changes (newest first); pages are fetched as needed.
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    output: OutputFormat,
}

/// Arguments of `history`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  trailmark history book 978-0-13-468599-1")]
pub struct HistoryArgs {
    #[command(flatten)]
    server: ServerArg,
    /// Entity type, e.g. book.
    entity_type: String,
    /// Entity id.
    entity_id: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    output: OutputFormat,
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The string field `k` of `v`, escaped for one line of terminal output.
fn text(v: &Value, k: &str) -> String {
    terminal::escape(v.get(k).and_then(Value::as_str).unwrap_or("")).into_owned()
}

/// Run `query`.
pub fn query(args: QueryArgs) -> Result<ExitCode> {
    let client = args.server.client();
    let mut params = Vec::new();
    for (k, v) in [
        ("author", &args.author),
        ("entity-type", &args.entity_type),
        ("entity-id", &args.entity_id),
        ("operation", &args.operation),
        ("source", &args.source),
        ("since", &args.since),
        ("until", &args.until),
    ] {
        if let Some(v) = v {
            params.push(format!("{k}={}", encode(v)));
        }
    }
    let mut changes: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    while changes.len() < args.limit {
        let mut p = params.clone();
        p.push(format!("limit={}", (args.limit - changes.len()).min(1000)));
        if let Some(c) = &cursor {
            p.push(format!("cursor={}", encode(c)));
        }
        let page = client.get(&format!("/v1/changes?{}", p.join("&")))?;
        if let Some(items) = page.get("changes").and_then(Value::as_array) {
            changes.extend(items.iter().cloned());
        }
        cursor = page
            .get("next-cursor")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    match args.output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&changes)?),
        OutputFormat::Table => {
            let rows: Vec<Vec<String>> = changes
                .iter()
                .map(|c| {
                    [
                        "time",
                        "operation",
                        "entity-type",
                        "entity-id",
                        "author",
                        "source",
                        "event-id",
                    ]
                    .iter()
                    .map(|k| text(c, k))
                    .collect()
                })
                .collect();
            print!(
                "{}",
                table::render(
                    &[
                        "TIME",
                        "OPERATION",
                        "TYPE",
                        "ID",
                        "AUTHOR",
                        "SOURCE",
                        "EVENT"
                    ],
                    &rows
                )
            );
            eprintln!("{} change(s)", changes.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Run `history`.
pub fn history(args: HistoryArgs) -> Result<ExitCode> {
    let client = args.server.client();
    let h = client.get(&format!(
        "/v1/entities/{}/{}/history",
        encode(&args.entity_type),
        encode(&args.entity_id)
    ))?;
    let versions = h
        .get("versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    match args.output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&h)?),
        OutputFormat::Table => {
            if versions.is_empty() {
                eprintln!(
                    "no recorded changes for {} {}",
                    args.entity_type, args.entity_id
                );
                return Ok(ExitCode::from(1));
            }
            for (i, v) in versions.iter().enumerate() {
                println!(
                    "#{}  {}  {}  by {}  (event {})",
                    i + 1,
                    text(v, "time"),
                    text(v, "operation"),
                    text(v, "author"),
                    text(v, "event-id")
                );
                match v.get("body") {
                    Some(Value::Null) | None => println!("    (no body archived)"),
                    Some(body) => {
                        for line in serde_json::to_string_pretty(body)?.lines() {
                            println!("    {line}");
                        }
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
