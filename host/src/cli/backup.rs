//! `trailmark backup`, `trailmark backup verify` and `trailmark restore`.
//!
//! A backup is taken by the running server (only it can sign a checkpoint
//! of the journal it appends to); checking and restoring one are offline.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde_json::json;
use trailmark_journal::PublicKey;

use super::{OutputFormat, ServerArg};
use crate::backup::{self, PointInTime, RestoreOptions};
use trailmark_backend_api::when::{now_ms, parse_time_ms};

/// Arguments of `backup`.
#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "The running server takes the backup (a fresh signed checkpoint, consistent \
SQLite snapshots, only new files copied) into a directory on its machine or s3://BUCKET/PREFIX.\n\n\
Examples:\n  trailmark backup --to /var/backups/trailmark\n  trailmark backup --to s3://my-bucket/trailmark --keep 30\n  trailmark backup verify /var/backups/trailmark"
)]
pub struct BackupArgs {
    /// Check a backup instead of taking one.
    #[command(subcommand)]
    command: Option<BackupCommand>,
    /// Where to: a directory (on the server's machine) or s3://BUCKET/PREFIX.
    #[arg(long, required = true)]
    to: Option<String>,
    /// Backups to keep there, this one included; older ones are removed (0: all).
    #[arg(long, default_value_t = 7)]
    keep: usize,
    /// Include the checkpoint signing key, tokens and access keys (protect
    /// the backup as you protect them).
    #[arg(long)]
    include_secrets: bool,
    /// The server to ask.
    #[command(flatten)]
    server: ServerArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    output: OutputFormat,
}

/// `backup` subcommands.
#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Check a backup without restoring it: signature, every hash, the
    /// journal's chain against the checkpoints, the stores' integrity.
    #[command(
        after_help = "Exit status 0 when the backup is whole; 2 with each problem (file and offset) otherwise.\n\nExamples:\n  trailmark backup verify /var/backups/trailmark\n  trailmark backup verify s3://my-bucket/trailmark --public-key checkpoint.key.pub"
    )]
    Verify(VerifyArgs),
}

/// Arguments of `backup verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The backups: a directory or s3://BUCKET/PREFIX.
    source: String,
    /// Which backup (default: the newest).
    #[arg(long)]
    backup: Option<String>,
    /// The public key it must be signed with (default: the one in the backup).
    #[arg(long)]
    public_key: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    output: OutputFormat,
}

/// Arguments of `restore`.
#[derive(Debug, Args)]
#[command(
    after_help = "The target must be new or empty. The backup is checked first; the restored \
server re-delivers what the stores' copies may lack and journals a `trailmark.restore` event.\n\n\
Examples:\n  trailmark restore --from /var/backups/trailmark --data /srv/trailmark-restored\n  trailmark restore --from s3://my-bucket/trailmark --data new-data --to-time 2026-11-25T09:00:00Z --checkpoint-key checkpoint.key"
)]
pub struct RestoreArgs {
    /// The backups: a directory or s3://BUCKET/PREFIX.
    #[arg(long)]
    from: String,
    /// The new data directory (absent or empty).
    #[arg(long)]
    data: PathBuf,
    /// Which backup (default: the newest).
    #[arg(long)]
    backup: Option<String>,
    /// Stop at this journal record (included).
    #[arg(long, conflicts_with = "to_time")]
    to_seq: Option<u64>,
    /// Stop at the last record journaled at or before this time (RFC 3339,
    /// epoch ms, or relative: 1h).
    #[arg(long)]
    to_time: Option<String>,
    /// The checkpoint signing key, when the backup was taken without secrets.
    #[arg(long)]
    checkpoint_key: Option<PathBuf>,
    /// The public key the backup must be signed with (default: its own).
    #[arg(long)]
    public_key: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    output: OutputFormat,
}

/// Run `backup` or `backup verify`.
pub fn run(args: BackupArgs) -> Result<ExitCode> {
    if let Some(BackupCommand::Verify(verify)) = args.command {
        return run_verify(verify);
    }
    let to = args
        .to
        .context("--to is needed: a directory or s3://BUCKET/PREFIX")?;
    let to = if to.starts_with("s3://") {
        to
    } else {
        std::path::absolute(&to)
            .with_context(|| format!("{to}: cannot make it an absolute path"))?
            .display()
            .to_string()
    };
    let report = args.server.client().post_waiting(
        "/v1/admin/backup",
        &json!({"to": to, "keep": args.keep, "include-secrets": args.include_secrets}),
        Duration::from_secs(24 * 3600),
    )?;
    match args.output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        OutputFormat::Table => println!(
            "backup {} to {}: journal to record {}, {} files ({} new, {} bytes copied) in {} ms",
            report["name"].as_str().unwrap_or("?"),
            report["destination"].as_str().unwrap_or("?"),
            report["head-seq"],
            report["files"],
            report["copied"],
            report["bytes-copied"],
            report["millis"]
        ),
    }
    Ok(ExitCode::SUCCESS)
}

fn public_key(path: Option<&PathBuf>) -> Result<Option<PublicKey>> {
    path.map(|p| PublicKey::load(p).with_context(|| format!("reading {}", p.display())))
        .transpose()
}

fn run_verify(args: VerifyArgs) -> Result<ExitCode> {
    let destination = backup::open_destination(&args.source)?;
    let key = public_key(args.public_key.as_ref())?;
    match backup::verify(destination.as_ref(), args.backup.as_deref(), key.as_ref()) {
        Ok(report) => {
            match args.output {
                OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
                OutputFormat::Table => println!(
                    "backup {} ({}) is whole: {} files, {} bytes, journal records {}..={} \
                     chained and checked against {} signed checkpoint(s) of key {}",
                    report.name,
                    report.created,
                    report.files,
                    report.bytes,
                    report.first_seq,
                    report.head_seq,
                    report.checkpoints_verified,
                    report.key_id
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("trailmark: backup verify {}: {e}", args.source);
            Ok(ExitCode::from(2))
        }
    }
}

/// Run `restore`.
pub fn restore(args: RestoreArgs) -> Result<ExitCode> {
    let destination = backup::open_destination(&args.from)?;
    let to = match (args.to_seq, &args.to_time) {
        (Some(seq), _) => Some(PointInTime::Seq(seq)),
        (None, Some(time)) => Some(PointInTime::Time(
            parse_time_ms(time, now_ms()).map_err(|e| anyhow::anyhow!("--to-time: {e}"))?,
        )),
        (None, None) => None,
    };
    let options = RestoreOptions {
        target: args.data.clone(),
        backup: args.backup.clone(),
        to,
        checkpoint_key: args.checkpoint_key.clone(),
        public_key: public_key(args.public_key.as_ref())?,
    };
    let report = match backup::restore(destination.as_ref(), &options) {
        Ok(report) => report,
        Err(e) => bail!("restore from {}: {e}", args.from),
    };
    match args.output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        OutputFormat::Table => println!(
            "restored backup {} into {}: journal to record {}, stores from {} (deliveries \
             closed after record {} are re-delivered: {}); serve it with --data {}",
            report.backup,
            report.data,
            report.to_seq,
            report
                .stores_from
                .as_deref()
                .unwrap_or("none (rebuilt from the journal)"),
            report.high_water,
            report.reopened,
            report.data
        ),
    }
    Ok(ExitCode::SUCCESS)
}
