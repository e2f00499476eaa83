//! Operator commands against a running server: status and dead letters.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::{OutputFormat, ServerArg, table, terminal};

/// Arguments of `status`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  trailmark status\n  trailmark status --server http://audit.internal:8088 --token \"$ADMIN_TOKEN\" --output json"
)]
pub struct StatusArgs {
    /// The server to ask.
    #[command(flatten)]
    server: ServerArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    output: OutputFormat,
}

/// Dead-letter commands.
#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// List dead letters, oldest first.
    #[command(
        after_help = "Examples:\n  trailmark dlq list\n  trailmark dlq list --rule archive --output json"
    )]
    List {
        /// The server to ask.
        #[command(flatten)]
        server: ServerArg,
        /// Only this rule's.
        #[arg(long)]
        rule: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
    /// Show one dead letter with its event.
    #[command(after_help = "Example:\n  trailmark dlq show 12")]
    Show {
        /// The server to ask.
        #[command(flatten)]
        server: ServerArg,
        /// Dead-letter id (from `dlq list`).
        id: i64,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
    /// Deliver dead letters again (all, one rule's, or the given ids).
    #[command(
        after_help = "Examples (fix the plugin or the backend first; a hot reload is enough):\n  trailmark dlq replay --rule archive\n  trailmark dlq replay 12 13"
    )]
    Replay(Selection),
    /// Delete dead letters for good (asks first unless --yes).
    #[command(
        after_help = "Examples:\n  trailmark dlq purge 12 13\n  trailmark dlq purge --rule alert --yes"
    )]
    Purge {
        /// Which dead letters.
        #[command(flatten)]
        selection: Selection,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

/// Which dead letters a command acts on.
#[derive(Debug, Args)]
pub struct Selection {
    /// The server to ask.
    #[command(flatten)]
    server: ServerArg,
    /// Only this rule's.
    #[arg(long)]
    rule: Option<String>,
    /// Dead-letter ids; none means all (of --rule, if given).
    ids: Vec<i64>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    output: OutputFormat,
}

impl Selection {
    fn body(&self) -> Value {
        json!({"ids": self.ids, "rule": self.rule})
    }
}

/// Run `status`.
pub fn status(args: StatusArgs) -> Result<ExitCode> {
    let s = args.server.client().get("/v1/admin/status")?;
    match args.output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&s)?),
        OutputFormat::Table => {
            println!("server           {}", args.server.url());
            println!(
                "uptime           {}",
                human_duration(s["uptime-seconds"].as_u64().unwrap_or(0))
            );
            println!(
                "rule set         version {} ({} rules)",
                s["ruleset-version"], s["rules"]
            );
            let reload = &s["last-reload"];
            println!(
                "last reload      {}",
                if reload["ok"].as_bool() == Some(true) {
                    "ok".to_owned()
                } else {
                    format!("failed: {}", reload["errors"])
                }
            );
            println!("events accepted  {}", s["events-accepted"]);
            println!(
                "pending          {} in memory, {} in the journal",
                s["pending-deliveries"],
                s["spilled-deliveries"].as_u64().unwrap_or(0)
            );
            println!("dead letters     {}", s["dead-letters"]);
            println!(
                "journal          seq {}..{}, {}",
                s["journal"]["first-seq"],
                s["journal"]["head-seq"],
                human_bytes(s["journal"]["bytes"].as_u64().unwrap_or(0))
            );
            println!(
                "storage          {}",
                human_bytes(s["storage-bytes"].as_u64().unwrap_or(0))
            );
            // One table, so long rule names keep the columns aligned.
            let rows: Vec<Vec<String>> = if let Some(backlog) = s["backlog"].as_object() {
                backlog
                    .iter()
                    .map(|(rule, b)| {
                        vec![
                            rule.clone(),
                            b["in-memory"].to_string(),
                            b["spilled"].to_string(),
                            b["spilled-from"]
                                .as_u64()
                                .map_or_else(|| "-".to_owned(), |seq| seq.to_string()),
                        ]
                    })
                    .collect()
            } else {
                s["lag"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(rule, n)| vec![rule.clone(), n.to_string(), "0".into(), "-".into()])
                    .collect()
            };
            if !rows.is_empty() {
                println!();
                print!(
                    "{}",
                    table::render(
                        &["RULE", "IN MEMORY", "IN JOURNAL", "BEHIND FROM SEQ"],
                        &rows
                    )
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn confirm(question: &str) -> Result<bool> {
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// Run a `dlq` subcommand.
pub fn dlq(cmd: DlqCommand) -> Result<ExitCode> {
    match cmd {
        DlqCommand::List {
            server,
            rule,
            output,
        } => {
            let path = match &rule {
                Some(r) => format!("/v1/admin/dlq?rule={r}"),
                None => "/v1/admin/dlq".to_owned(),
            };
            let v = server.client().get(&path)?;
            let letters = v["dead-letters"].as_array().cloned().unwrap_or_default();
            match output {
                OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&letters)?),
                OutputFormat::Table => {
                    let rows: Vec<Vec<String>> = letters
                        .iter()
                        .map(|d| {
                            vec![
                                d["id"].to_string(),
                                d["rule"].as_str().unwrap_or("").to_owned(),
                                d["event-id"].as_str().unwrap_or("").to_owned(),
                                d["attempts"].to_string(),
                                d["failed-at"].as_str().unwrap_or("").to_owned(),
                                d["error"].as_str().unwrap_or("").to_owned(),
                            ]
                        })
                        .collect();
                    print!(
                        "{}",
                        table::render(
                            &["ID", "RULE", "EVENT", "ATTEMPTS", "FAILED", "ERROR"],
                            &rows
                        )
                    );
                }
            }
        }
        DlqCommand::Show { server, id, output } => {
            let v = server.client().get(&format!("/v1/admin/dlq/{id}"))?;
            match output {
                OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&v)?),
                OutputFormat::Table => {
                    for k in ["id", "rule", "event-id", "attempts", "failed-at", "error"] {
                        let value = v[k]
                            .as_str()
                            .map_or_else(|| v[k].to_string(), str::to_owned);
                        println!("{k:<10} {}", terminal::escape(&value));
                    }
                    println!("event\n{}", serde_json::to_string_pretty(&v["event"])?);
                }
            }
        }
        DlqCommand::Replay(sel) => {
            let v = sel
                .server
                .client()
                .post("/v1/admin/dlq/replay", &sel.body())?;
            report(&v, "replayed", sel.output)?;
            if v["failed"].as_array().is_some_and(|f| !f.is_empty()) {
                return Ok(ExitCode::from(2));
            }
        }
        DlqCommand::Purge { selection, yes } => {
            let what = if selection.ids.is_empty() {
                match &selection.rule {
                    Some(r) => format!("all dead letters of rule `{r}`"),
                    None => "ALL dead letters".to_owned(),
                }
            } else {
                format!("dead letters {:?}", selection.ids)
            };
            if !yes && !confirm(&format!("Delete {what} for good?"))? {
                bail!("not confirmed; nothing deleted (pass --yes to skip the question)");
            }
            let v = selection
                .server
                .client()
                .post("/v1/admin/dlq/purge", &selection.body())?;
            report(&v, "purged", selection.output)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn report(v: &Value, key: &str, output: OutputFormat) -> Result<()> {
    match output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(v)?),
        OutputFormat::Table => {
            let ids = v[key].as_array().cloned().unwrap_or_default();
            println!("{key} {} dead letter(s)", ids.len());
            for f in v["failed"].as_array().into_iter().flatten() {
                println!(
                    "failed {}: {}",
                    f["id"],
                    terminal::escape(f["message"].as_str().unwrap_or(""))
                );
            }
        }
    }
    Ok(())
}

/// Arguments of `replay`.
#[derive(Debug, Args)]
#[command(
    after_help = "Times are RFC 3339, epoch milliseconds, or relative (1h = an hour ago).\n\nExamples:\n  trailmark replay --since 1h\n  trailmark replay --since 2026-11-25T09:00:00Z --until 2026-11-25T10:00:00Z --rule archive"
)]
pub struct ReplayArgs {
    /// The server to ask.
    #[command(flatten)]
    server: ServerArg,
    /// Events accepted at or after this time.
    #[arg(long)]
    since: String,
    /// Events accepted before this time [default: now].
    #[arg(long)]
    until: Option<String>,
    /// Only this rule (default: every rule an event matches now).
    #[arg(long)]
    rule: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    output: OutputFormat,
}

/// Run `replay`.
pub fn replay(args: ReplayArgs) -> Result<ExitCode> {
    let v = args.server.client().post(
        "/v1/admin/replay",
        &json!({"since": args.since, "until": args.until, "rule": args.rule}),
    )?;
    match args.output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&v)?),
        OutputFormat::Table => println!(
            "queued {} deliveries of {} events",
            v["deliveries"], v["events"]
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// `1d 2h 3m 4s`-style, largest units first, zero units left out.
fn human_duration(seconds: u64) -> String {
    let parts = [
        (seconds / 86_400, "d"),
        (seconds / 3_600 % 24, "h"),
        (seconds / 60 % 60, "m"),
        (seconds % 60, "s"),
    ];
    let shown: Vec<String> = parts
        .iter()
        .skip_while(|(n, _)| *n == 0)
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    if shown.is_empty() {
        "0s".to_owned()
    } else {
        shown.join(" ")
    }
}

/// Bytes in binary units with one decimal (`1.5 MiB`), exact below 1 KiB.
fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::{human_bytes, human_duration};

    #[test]
    fn durations_read_in_their_largest_units() {
        assert_eq!(human_duration(0), "0s");
        assert_eq!(human_duration(59), "59s");
        assert_eq!(human_duration(3_600), "1h");
        assert_eq!(human_duration(93_784), "1d 2h 3m 4s");
    }

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
    }
}
