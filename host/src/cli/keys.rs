//! `trailmark keys rotate`: rotate the key-encryption key of an encrypted data
//! directory (re-seal every segment's data key, and those of the archived bodies and
//! dead letters; rewrite no segment, body or dead letter).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde_json::json;
use trailmark_journal::rotate_key_file;

use super::OutputFormat;
use super::location::ConfigLocation;

/// `trailmark keys ...`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Rotate the key-encryption key: add a new key to the key file, re-seal every
    /// data key with it (journal segments, archived bodies, dead letters), then remove
    /// the old key. No data is rewritten. Stop the server first (the journal's lock is
    /// taken).
    #[command(
        after_help = "Safe to run again after a crash: until the last step the key file holds both keys.\n\n\
Example:\n  systemctl stop trailmark && trailmark keys rotate --config /etc/trailmark.toml && systemctl start trailmark"
    )]
    Rotate(RotateArgs),
}

/// Arguments of `keys rotate`.
#[derive(Debug, Args)]
pub struct RotateArgs {
    #[command(flatten)]
    location: ConfigLocation,
    /// The key file [default: the configuration's `[encryption] key-file`].
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    output: OutputFormat,
}

/// Run a `keys` subcommand.
pub fn run(cmd: KeysCommand) -> Result<ExitCode> {
    let KeysCommand::Rotate(args) = cmd;
    let config = args.location.load()?;
    if config.encryption.kms.is_some() && args.key_file.is_none() {
        bail!(
            "[encryption.kms]: AWS KMS rotates the key's material itself (turn on automatic \
             key rotation for the key); data keys sealed by it stay readable and need no \
             re-sealing"
        );
    }
    let key_file = args
        .key_file
        .clone()
        .unwrap_or_else(|| config.encryption.key_file(&config.data));
    if !key_file.is_file() {
        bail!(
            "no key file at {}: is [encryption] enabled for this data directory? (pass --key-file FILE)",
            key_file.display()
        );
    }
    let journal = config.data.join("journal");
    // The journal first: its lock refuses a rotation while the server runs. Then the
    // data keys of the archived bodies and dead letters, where there are any.
    let stores: Vec<PathBuf> = crate::at_rest::key_dirs(&config.data)
        .into_iter()
        .filter(|dir| dir.is_dir())
        .collect();
    let dirs: Vec<&std::path::Path> = std::iter::once(journal.as_path())
        .chain(stores.iter().map(PathBuf::as_path))
        .collect();
    let rotation = rotate_key_file(&key_file, &dirs).with_context(|| {
        format!(
            "rotating {} for {}",
            key_file.display(),
            config.data.display()
        )
    })?;
    match args.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "key-file": key_file.display().to_string(),
                "new-key": rotation.new_key,
                "resealed": rotation.resealed,
                "retired": rotation.retired,
            }))?
        ),
        OutputFormat::Table => {
            println!("key file     {}", key_file.display());
            println!("new key      {}", rotation.new_key);
            println!("re-sealed    {} data key(s)", rotation.resealed);
            println!("retired      {}", rotation.retired.join(", "));
        }
    }
    Ok(ExitCode::SUCCESS)
}
