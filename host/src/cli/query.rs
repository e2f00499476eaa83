//! `trailmark query` and `trailmark history`: read the audit trail of a
//! running server.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use serde_json::Value;

use super::client::{encode, filters};
use super::{OutputFormat, ServerArg, table, terminal};

/// Arguments of `query`.
#[derive(Debug, Args)]
#[command(
    after_help = "Times are RFC 3339 (2026-11-25T10:00:00Z), epoch milliseconds, or relative: 15m, 1h, 7d (that long ago).\n\
Exit status: 0 with changes; 1 when none match (table output; JSON prints []); 2 on error.\n\n\
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
#[command(
    after_help = "An entity is (source, type, id): with --source, only that source's versions; without it, \
every source's versions of TYPE and ID, each with its SOURCE.\n\
Versions come oldest first, --limit at a time (at most 1000); when more exist, the command says so and \
prints the --cursor that continues.\n\n\
Examples:\n  trailmark history --source com.example.books book 978-0-13-468599-1\n  \
trailmark history --limit 10 --output json book 42"
)]
pub struct HistoryArgs {
    #[command(flatten)]
    server: ServerArg,
    /// Only the versions this event source reported.
    #[arg(long)]
    source: Option<String>,
    /// Versions per page, 1 to 1000.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=1000))]
    limit: u16,
    /// Continue after this cursor (printed at the end of the previous page).
    #[arg(long)]
    cursor: Option<String>,
    /// Entity type, e.g. book.
    entity_type: String,
    /// Entity id.
    entity_id: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    output: OutputFormat,
}

/// The string field `k` of `v`, escaped for one line of terminal output.
fn text(v: &Value, k: &str) -> String {
    terminal::escape(v.get(k).and_then(Value::as_str).unwrap_or("")).into_owned()
}

/// Run `query`.
pub fn query(args: QueryArgs) -> Result<ExitCode> {
    let client = args.server.client();
    let params = filters(&[
        ("author", &args.author),
        ("entity-type", &args.entity_type),
        ("entity-id", &args.entity_id),
        ("operation", &args.operation),
        ("source", &args.source),
        ("since", &args.since),
        ("until", &args.until),
    ]);
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
            if changes.is_empty() {
                // The documented negative answer, as `history` gives it.
                eprintln!("no changes match");
                return Ok(ExitCode::from(1));
            }
            if cursor.is_some() {
                eprintln!(
                    "{} change(s), the newest; older ones may exist: raise --limit (up to any number, \
                     fetched a page at a time) or narrow with --since/--until",
                    changes.len()
                );
            } else {
                eprintln!("{} change(s)", changes.len());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Run `history`: one page of versions, each row followed by its body.
pub fn history(args: HistoryArgs) -> Result<ExitCode> {
    let client = args.server.client();
    let mut params = vec![format!("limit={}", args.limit)];
    if let Some(source) = &args.source {
        params.push(format!("source={}", encode(source)));
    }
    if let Some(cursor) = &args.cursor {
        params.push(format!("cursor={}", encode(cursor)));
    }
    let page = client.get(&format!(
        "/v1/entities/{}/{}/history?{}",
        encode(&args.entity_type),
        encode(&args.entity_id),
        params.join("&")
    ))?;
    let versions = page
        .get("versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let next_cursor = page.get("next-cursor").and_then(Value::as_str);
    match args.output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&page)?),
        OutputFormat::Table => {
            if versions.is_empty() && args.cursor.is_none() {
                eprintln!(
                    "no recorded changes for {} {}{}",
                    args.entity_type,
                    args.entity_id,
                    args.source
                        .as_deref()
                        .map(|s| format!(" from source {s}"))
                        .unwrap_or_default()
                );
                return Ok(ExitCode::from(1));
            }
            print_versions(&versions)?;
        }
    }
    if let Some(cursor) = next_cursor {
        let source = args
            .source
            .as_deref()
            .map(|s| format!(" --source {}", shell_word(s)))
            .unwrap_or_default();
        eprintln!(
            "more versions follow; next page: trailmark history{source} --limit {} --cursor {cursor} {} {}",
            args.limit,
            shell_word(&args.entity_type),
            shell_word(&args.entity_id)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A table of versions (#, time, operation, source, author, event), each
/// row followed by the version's body, indented, or why there is none.
fn print_versions(versions: &[Value]) -> Result<()> {
    let rows: Vec<Vec<String>> = versions
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut row = vec![format!("#{}", i + 1)];
            row.extend(
                ["time", "operation", "source", "author", "event-id"]
                    .iter()
                    .map(|k| text(v, k)),
            );
            row
        })
        .collect();
    let rendered = table::render(
        &["#", "TIME", "OPERATION", "SOURCE", "AUTHOR", "EVENT"],
        &rows,
    );
    let mut lines = rendered.lines();
    if let Some(header) = lines.next() {
        println!("{header}");
    }
    for (line, v) in lines.zip(versions) {
        println!("{line}");
        match (v.get("body"), v.get("body-error").and_then(Value::as_str)) {
            (_, Some(error)) => println!("    (body unreadable: {error})"),
            (Some(Value::Null) | None, None) if text(v, "operation") == "delete" => {
                println!("    (deleted: no body)")
            }
            (Some(Value::Null) | None, None) => println!("    (no body archived)"),
            (Some(body), None) => {
                for line in serde_json::to_string_pretty(body)?.lines() {
                    println!("    {line}");
                }
            }
        }
    }
    Ok(())
}

/// `word` quoted for a POSIX shell when it needs it, so the printed next-page
/// command can be pasted as is.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.,:/@%+=".contains(&b));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}
