//! `trailmark verify`: check the journal's hash chain and signed checkpoints
//! offline, then the local stores the query API reads against the journal
//! (see [`stores`]); `trailmark checkpoints export`: copy the checkpoints and
//! public key somewhere safe.

pub mod stores;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde_json::json;
use trailmark_journal::{
    JournalStart, Keyring, PublicKey, VerifyReport, read_checkpoints, verify_opening,
};

use super::OutputFormat;
use super::location::ConfigLocation;
use crate::config::Config;
use crate::engine::checkpoints::{LOG_FILE, public_key_path};
use stores::{JournalIndex, Location, StoresReport};

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
(see `trailmark checkpoints export`).\n\n\
Then the stores the query API reads are checked against the journal, for the embedded backends \
of the configuration (the SQLite metadata store and the archive directory): every change record \
must name a journaled event with the same source, entity type, entity id, operation, ts and author \
as the event's detail; every archived body's key must contain the id of a journaled event of the \
key's source (its first segment, percent-decoded), as the default key \
{source}/{entity-type}/{entity-id}/{ts}-{operation}-{id}.json does. Bodies under keys without an \
event id (written by Trailmark 0.1) are accepted when a matching change record names them. A planted \
or altered record is reported by its event id, a planted body by its key. After retention removed \
old journal segments, records and bodies whose event is gone are counted as unverifiable, not \
reported; rows and bodies the stores' own retention ([retention]) removed are counted from its \
journaled trailmark.retention records as removed by retention, never as missing. AWS backends \
(DynamoDB, S3) are not checked yet. The journal's events are held in memory \
during the check (one small entry per event).\n\
Exit status: 0 intact, 1 a problem was found, 2 the journal, checkpoints or stores cannot be read.\n\n\
Examples:\n  trailmark verify --data /var/lib/trailmark\n  \
trailmark verify --data copy-of-data --checkpoints safe/checkpoints.jsonl --public-key safe/checkpoint.key.pub --output json"
)]
pub struct VerifyArgs {
    #[command(flatten)]
    location: ConfigLocation,
    /// Signed checkpoints (JSON lines); default DATA/checkpoints.jsonl when present.
    #[arg(long)]
    checkpoints: Option<PathBuf>,
    /// The checkpoint public key (hex); default DATA/checkpoint.key.pub.
    #[arg(long)]
    public_key: Option<PathBuf>,
    /// The key-encryption key file of an encrypted journal; default the configuration's
    /// `[encryption] key-file` when encryption is on. Without it, encrypted records are
    /// chain-checked over their stored bytes but not opened, and the stores are not
    /// checked against them.
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    output: OutputFormat,
}

/// Run `verify`.
pub fn run(args: VerifyArgs) -> Result<ExitCode> {
    let config = args.location.load()?;
    let data = config.data.clone();
    let dir = data.join("journal");
    if !dir.is_dir() {
        bail!(
            "no journal at {}; point --data at a Trailmark data directory",
            dir.display()
        );
    }
    let default_log = data.join(LOG_FILE);
    let log = args
        .checkpoints
        .clone()
        .or_else(|| default_log.is_file().then_some(default_log));
    let checkpoints = match &log {
        None => None,
        Some(log) => {
            let checkpoints = read_checkpoints(log)?;
            let key_path = args
                .public_key
                .clone()
                .unwrap_or_else(|| public_key_path(&data));
            let key = PublicKey::load(&key_path).with_context(|| {
                format!(
                    "loading the checkpoint public key {} (pass --public-key FILE)",
                    key_path.display()
                )
            })?;
            Some((checkpoints, key))
        }
    };
    let keyring = match &args.key_file {
        Some(path) => Some(Keyring::load(path).map(std::sync::Arc::new)),
        // The configuration's: its key file, or its KMS key.
        None => config.encryption.keyring(&data, false).transpose(),
    }
    .transpose()
    .context("loading the key-encryption key (--key-file, or [encryption])")?;
    let mut journal = JournalIndex::default();
    let report = verify_opening(
        &dir,
        checkpoints.as_ref().map(|(c, k)| (c.as_slice(), k)),
        keyring.as_deref(),
        &mut |record| journal.add(record),
    )
    .with_context(|| format!("reading {}", dir.display()))?;
    journal.starts_at(report.first_seq);
    let (metadata, archive) = if report.encryption.unopened() > 0 {
        let why = || {
            Location::NotChecked(format!(
                "not checked: {} journal record(s) are encrypted and were not opened (pass --key-file)",
                report.encryption.unopened()
            ))
        };
        (why(), why())
    } else {
        (metadata_location(&config), archive_location(&config))
    };
    let stores = stores::check(&journal, &metadata, &archive)?;
    print(&args, &dir, log.as_deref(), &report, &stores)?;
    let explained = !matches!(report.start, JournalStart::Unexplained { .. });
    Ok(
        if report.is_intact() && explained && stores.problems.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        },
    )
}

/// The metadata store to check.
fn metadata_location(config: &Config) -> Location {
    location(
        config.metadata.local_path(&config.data),
        config.metadata.type_name(),
    )
}

/// The archive to check.
fn archive_location(config: &Config) -> Location {
    location(
        config.archive.local_path(&config.data),
        config.archive.type_name(),
    )
}

/// Where an embedded store keeps its data; a remote one is not checked.
fn location(path: Option<PathBuf>, type_name: &str) -> Location {
    match path {
        Some(path) => Location::Local(path),
        None => Location::NotChecked(format!(
            "`{type_name}` (only embedded backends are checked yet)"
        )),
    }
}

fn print(
    args: &VerifyArgs,
    dir: &Path,
    log: Option<&Path>,
    report: &VerifyReport,
    stores: &StoresReport,
) -> Result<()> {
    let unexplained = match report.start {
        JournalStart::Unexplained { first_seq } => Some(format!(
            "{}: the journal starts at record {first_seq}, and no retention cut record in the chain explains \
             the removal of the records before it (removed outside retention, or by an earlier Trailmark \
             that did not record its cuts: the next retention pass records one)",
            dir.display()
        )),
        _ => None,
    };
    let problems: Vec<String> = report
        .problems
        .iter()
        .map(ToString::to_string)
        .chain(unexplained)
        .chain(stores.problems.iter().map(ToString::to_string))
        .collect();
    let intact = problems.is_empty();
    let counts = |c: &stores::StoreCounts| {
        json!({
            "location": c.location,
            "checked": c.checked,
            "items": c.items,
            "verified": c.verified,
            "verified-through-change-record": c.via_record,
            "unverifiable-after-retention": c.unverifiable,
            "removed-by-retention": c.removed_by_retention,
            "retention-cutoff": c.retention_cutoff,
        })
    };
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
                "intact": intact,
                "segments": report.segments,
                "records": report.records,
                "first-seq": report.first_seq,
                "last-seq": report.last_seq,
                "head-hash": hex::encode(report.head_hash),
                "start": start_json(&report.start),
                "encryption": {
                    "segments": report.encryption.segments,
                    "records": report.encryption.records,
                    "opened": report.encryption.opened,
                    "key-given": report.encryption.key_given,
                },
                "checkpoints": {
                    "file": log.map(|p| p.display().to_string()),
                    "total": c.total,
                    "verified": c.verified,
                    "skipped-by-retention": c.skipped,
                    "rejected": c.rejected,
                    "last-verified-seq": c.last_verified_seq,
                    "records-after-last-checkpoint": uncovered,
                },
                "metadata": counts(&stores.metadata),
                "archive": counts(&stores.archive),
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
            if let JournalStart::RetentionCut {
                first_seq,
                recorded_at,
            } = report.start
            {
                println!(
                    "retention    records before {first_seq} removed by a retention cut recorded at seq {recorded_at}"
                );
            }
            print_encryption(report);
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
            print_store("metadata", "change record(s)", &stores.metadata);
            print_store("archive", "body(ies)", &stores.archive);
            if intact {
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

/// How the journal begins, for the JSON output.
fn start_json(start: &JournalStart) -> serde_json::Value {
    match start {
        JournalStart::Genesis => json!({"kind": "genesis"}),
        JournalStart::RetentionCut {
            first_seq,
            recorded_at,
        } => json!({"kind": "retention-cut", "first-seq": first_seq, "recorded-at": recorded_at}),
        JournalStart::Unexplained { first_seq } => {
            json!({"kind": "unexplained", "first-seq": first_seq})
        }
    }
}

/// The encryption line of the table output, when the journal holds encrypted segments.
fn print_encryption(report: &VerifyReport) {
    let e = &report.encryption;
    if e.segments == 0 {
        return;
    }
    if e.key_given {
        println!(
            "encrypted    {} record(s) in {} segment(s): {} opened with the key",
            e.records, e.segments, e.opened
        );
    } else {
        println!(
            "encrypted    {} record(s) in {} segment(s): chain checked over the stored bytes; \
             contents NOT opened: no key (pass --key-file FILE, or configure [encryption])",
            e.records, e.segments
        );
    }
}

/// One store's line of the table output.
fn print_store(name: &str, items: &str, c: &stores::StoreCounts) {
    if !c.checked {
        println!("{name:<12} {}: not checked", c.location);
        return;
    }
    let mut line = format!(
        "{name:<12} {}: {} {items}, {} match the journal",
        c.location, c.items, c.verified
    );
    if c.via_record > 0 {
        line.push_str(&format!(
            ", {} through the change record that names them (keys without an event id)",
            c.via_record
        ));
    }
    if c.unverifiable > 0 {
        line.push_str(&format!(
            ", {} unverifiable (their events were removed by retention)",
            c.unverifiable
        ));
    }
    if let Some(cutoff) = &c.retention_cutoff {
        line.push_str(&format!(
            "; {} removed by store retention (journaled; latest cutoff {cutoff})",
            c.removed_by_retention
        ));
    }
    println!("{line}");
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
