//! `trailmark verify`: check the journal's hash chain offline.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;

use super::OutputFormat;

/// Arguments of `verify`.
#[derive(Debug, Args)]
#[command(
    after_help = "Reads the journal under DATA/journal without a server (stop it, or copy the data first).\n\
Exit status: 0 when the chain is intact, 1 when a record was modified, removed, inserted or reordered, 2 when it cannot be read."
)]
pub struct VerifyArgs {
    /// Data directory.
    #[arg(long, default_value = "data")]
    data: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    output: OutputFormat,
}

/// Run `verify`.
pub fn run(args: VerifyArgs) -> Result<ExitCode> {
    let dir = args.data.join("journal");
    let report =
        trailmark_journal::verify(&dir).with_context(|| format!("reading {}", dir.display()))?;
    let problems: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
    match args.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "intact": report.is_intact(),
                "segments": report.segments,
                "records": report.records,
                "first-seq": report.first_seq,
                "last-seq": report.last_seq,
                "head-hash": hex::encode(report.head_hash),
                "problems": problems,
            }))?
        ),
        OutputFormat::Table => {
            println!("journal    {}", dir.display());
            println!(
                "records    {} in {} segment(s), seq {}..{}",
                report.records, report.segments, report.first_seq, report.last_seq
            );
            println!("head hash  {}", hex::encode(report.head_hash));
            if report.is_intact() {
                println!("intact");
            } else {
                for p in &problems {
                    println!("PROBLEM    {p}");
                }
            }
        }
    }
    Ok(if report.is_intact() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
