//! `trailmark export`: every change record a query matches, with its body,
//! as NDJSON or CSV, streamed from a running server (`GET /v1/export`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};

use super::ServerArg;

/// The formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    /// One JSON object per line, as `trailmark query --output json` shows a record, with `body`.
    Ndjson,
    /// CSV with a header line; attributes and body as JSON text.
    Csv,
}

/// Arguments of `export`.
#[derive(Debug, Args)]
#[command(
    after_help = "The query uses the viewer's query bar syntax: author:, type:, entity: (type/id), op:, source:, \
before:, after: (RFC 3339, a date, or \"3 hours ago\"); repeat a qualifier to match any of its values, \
prefix - to exclude. Every match is exported, newest first, each with its archived body. \
The export is recorded in the trail (trailmark.export) before it runs.\n\n\
Examples:\n  trailmark export --query 'type:book -op:delete' > books.ndjson\n  \
trailmark export --query 'author:ann after:\"7 days ago\"' --format csv --output ann.csv"
)]
pub struct ExportArgs {
    #[command(flatten)]
    server: ServerArg,
    /// What to export (empty: everything).
    #[arg(long, short, default_value = "")]
    query: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Ndjson)]
    format: ExportFormat,
    /// Write here instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

/// Run `export`.
pub fn run(args: ExportArgs) -> Result<ExitCode> {
    let client = super::client::Client::new(&args.server.url(), args.server.token());
    let format = match args.format {
        ExportFormat::Ndjson => "ndjson",
        ExportFormat::Csv => "csv",
    };
    let path = format!(
        "/v1/export?format={format}&q={}",
        super::client::encode(&args.query)
    );
    let mut out: Box<dyn Write> = match &args.output {
        Some(file) => Box::new(BufWriter::new(
            File::create(file).with_context(|| format!("creating {}", file.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    client.get_to(&path, &mut out)?;
    out.flush().context("writing the export")?;
    Ok(ExitCode::SUCCESS)
}
