//! `trailmark access`: who read the trail (`GET /v1/access`).

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use super::client::filters;
use super::{OutputFormat, ServerArg};

/// Arguments of `access`.
#[derive(Debug, Args)]
#[command(
    after_help = "Every authenticated read of trail data is journaled as a `Trail Access` record; this lists them, newest first.\n\nExamples:\n  trailmark access --after 1h\n  trailmark access --actor ci --route /v1/export\n  trailmark access --output json"
)]
pub struct AccessArgs {
    /// The server to ask.
    #[command(flatten)]
    server: ServerArg,
    /// Only this principal's reads (a token's or access key's name).
    #[arg(long)]
    actor: Option<String>,
    /// Only reads of this route (e.g. /v1/changes, /v1/export).
    #[arg(long)]
    route: Option<String>,
    /// Reads at or after this time (RFC 3339, epoch ms, or relative: 1h).
    #[arg(long)]
    after: Option<String>,
    /// Reads before this time.
    #[arg(long)]
    before: Option<String>,
    /// At most this many (1 to 1000).
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    output: OutputFormat,
}

/// Run `access`.
pub fn run(args: AccessArgs) -> Result<ExitCode> {
    let mut query = vec![format!("limit={}", args.limit)];
    query.extend(filters(&[
        ("actor", &args.actor),
        ("route", &args.route),
        ("after", &args.after),
        ("before", &args.before),
    ]));
    let answer = args
        .server
        .client()
        .get(&format!("/v1/access?{}", query.join("&")))?;
    match args.output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&answer)?),
        OutputFormat::Table => {
            let records = answer["access"].as_array().cloned().unwrap_or_default();
            if records.is_empty() {
                println!("no reads recorded");
                return Ok(ExitCode::from(1));
            }
            for r in &records {
                println!(
                    "{}  {:<16} {:<6} {} {}  {} → {} ({} results)",
                    r["at"].as_str().unwrap_or("?"),
                    r["principal"].as_str().unwrap_or("?"),
                    r["auth"].as_str().unwrap_or("?"),
                    r["method"].as_str().unwrap_or("?"),
                    r["path"].as_str().unwrap_or("?"),
                    r["query"].as_str().unwrap_or(""),
                    r["status"],
                    r["results"],
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
