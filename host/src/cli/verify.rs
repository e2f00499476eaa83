//! `trailmark verify`: check the journal's hash chain and signed checkpoints
//! offline; `trailmark checkpoints export`: copy the checkpoints and public
//! key somewhere safe.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde_json::json;
use trailmark_journal::{PublicKey, VerifyReport, read_checkpoints, verify_with_checkpoints};

use super::OutputFormat;
use crate::server::checkpoints::{LOG_FILE, public_key_path};

/// Arguments of `verify`.
#[derive(Debug, Args)]
#[command(
    after_help = "Reads the journal under DATA/journal without a server (stop it, or copy the data first).\n\
Checks every record's hash and link, then each signed checkpoint: its signature, and that the record it \
signed is still there with the signed hash. That catches records modified, removed, inserted or reordered, \
a history rewritten consistently, and truncation of checkpointed records. Records after the last checkpoint \
are protected by the hash chain alone (their removal at the very end cannot be seen): checkpoints are made \
every journal.checkpoint-interval.\n\
For real assurance pass copies kept out of the host's reach: --checkpoints and --public-key \
(see `trailmark checkpoints export`).\n\
Exit status: 0 intact, 1 a problem was found, 2 the journal or checkpoints cannot be read."
)]
pub struct VerifyArgs {
    /// Data directory.
    #[arg(long, default_value = "data")]
    data: PathBuf,
    /// Signed checkpoints (JSON lines); default DATA/checkpoints.jsonl when present.
    #[arg(long)]
    checkpoints: Option<PathBuf>,
    /// The checkpoint public key (hex); default DATA/checkpoint.key.pub.
    #[arg(long)]
    public_key: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    output: OutputFormat,
}

/// Run `verify`.
pub fn run(args: VerifyArgs) -> Result<ExitCode> {
    let dir = args.data.join("journal");
    if !dir.is_dir() {
        bail!(
            "no journal at {}; point --data at a Trailmark data directory",
            dir.display()
        );
    }
    let default_log = args.data.join(LOG_FILE);
    let log = args
        .checkpoints
        .clone()
        .or_else(|| default_log.is_file().then_some(default_log));
    let report = match &log {
        None => {
            trailmark_journal::verify(&dir).with_context(|| format!("reading {}", dir.display()))?
        }
        Some(log) => {
            let checkpoints = read_checkpoints(log)?;
            let key_path = args
                .public_key
                .clone()
                .unwrap_or_else(|| public_key_path(&args.data));
            let key = PublicKey::load(&key_path).with_context(|| {
                format!(
                    "loading the checkpoint public key {} (pass --public-key FILE)",
                    key_path.display()
                )
            })?;
            verify_with_checkpoints(&dir, &checkpoints, &key)
                .with_context(|| format!("reading {}", dir.display()))?
        }
    };
    print(&args, &dir, log.as_deref(), &report)?;
    Ok(if report.is_intact() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print(args: &VerifyArgs, dir: &Path, log: Option<&Path>, report: &VerifyReport) -> Result<()> {
    let problems: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
    let c = &report.checkpoints;
    let uncovered = match c.last_verified_seq {
        Some(seq) if report.last_seq > seq => Some(report.last_seq - seq),
        Some(_) => Some(0),
        None => None,
    };
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
                "checkpoints": {
                    "file": log.map(|p| p.display().to_string()),
                    "total": c.total,
                    "verified": c.verified,
                    "skipped-by-retention": c.skipped,
                    "rejected": c.rejected,
                    "last-verified-seq": c.last_verified_seq,
                    "records-after-last-checkpoint": uncovered,
                },
                "problems": problems,
            }))?
        ),
        OutputFormat::Table => {
            println!("journal      {}", dir.display());
            println!(
                "records      {} in {} segment(s), seq {}..{}",
                report.records, report.segments, report.first_seq, report.last_seq
            );
            println!("head hash    {}", hex::encode(report.head_hash));
            match log {
                None => println!(
                    "checkpoints  none (hash chain only: a consistent rewrite or truncation would not show)"
                ),
                Some(log) => {
                    println!(
                        "checkpoints  {} in {}: {} verified, {} before the retained records, {} rejected",
                        c.total,
                        log.display(),
                        c.verified,
                        c.skipped,
                        c.rejected
                    );
                    if let (Some(seq), Some(n)) = (c.last_verified_seq, uncovered) {
                        println!(
                            "             last verified at seq {seq}; {n} record(s) after it rely on the chain alone"
                        );
                    }
                }
            }
            if report.is_intact() {
                println!("intact");
            } else {
                for p in &problems {
                    println!("PROBLEM      {p}");
                }
            }
        }
    }
    Ok(())
}

/// `trailmark checkpoints ...`.
#[derive(Debug, Subcommand)]
pub enum CheckpointsCommand {
    /// Copy the signed checkpoints and the public key to DIR, for safekeeping
    /// out of the host's reach (another machine, write-once storage).
    ///
    /// Later, `trailmark verify --checkpoints DIR/checkpoints.jsonl
    /// --public-key DIR/checkpoint.key.pub` checks the journal against them.
    #[command(
        after_help = "Example:\n  trailmark checkpoints export --data /var/lib/trailmark /mnt/worm/trailmark-$(date +%F)"
    )]
    Export {
        /// Data directory.
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// Where to write `checkpoints.jsonl` and `checkpoint.key.pub`.
        dir: PathBuf,
    },
}

/// Run a `checkpoints` subcommand.
pub fn run_checkpoints(cmd: CheckpointsCommand) -> Result<ExitCode> {
    let CheckpointsCommand::Export { data, dir } = cmd;
    let log = data.join(LOG_FILE);
    let key = public_key_path(&data);
    // Parse before copying: never export a damaged file as if it were good.
    let checkpoints = read_checkpoints(&log)?;
    PublicKey::load(&key).with_context(|| format!("loading {}", key.display()))?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for (from, name) in [(&log, LOG_FILE), (&key, "checkpoint.key.pub")] {
        let to = dir.join(name);
        std::fs::copy(from, &to)
            .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    }
    println!(
        "exported {} checkpoint(s) (last at seq {}) and the public key to {}",
        checkpoints.len(),
        checkpoints.last().map_or(0, |c| c.seq),
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
