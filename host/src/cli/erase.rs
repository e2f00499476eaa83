//! `trailmark erase --subject VALUE`: crypto-shred one data subject on a
//! running server; `trailmark subjects id VALUE`: the subject id of a value.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::json;

use super::{OutputFormat, ServerArg};
use crate::subjects::SubjectKeys;
use crate::subjects::keys::DIR;

/// Arguments of `erase`.
#[derive(Debug, Args)]
#[command(
    after_help = "The subject's key is destroyed: every value sealed with it (in the journal, the archive, the \
metadata store, dead letters, exports) reads as [erased] from then on, while the hash chain over the sealed \
values still verifies. The erasure is journaled as a trailmark.admin-action (who, when, the subject id; never \
the value). Running it again answers already-erased.\n\n\
Example:\n  trailmark erase --subject alice@example.com"
)]
pub struct EraseArgs {
    /// The subject: a value that was sealed (an author, an email), as it was sent.
    #[arg(long)]
    subject: String,
    #[command(flatten)]
    server: ServerArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    output: OutputFormat,
}

/// `trailmark subjects ...`.
#[derive(Debug, Subcommand)]
pub enum SubjectsCommand {
    /// Print the subject id of a value (a keyed hash: the data directory's secret is needed).
    #[command(
        after_help = "Example:\n  trailmark subjects id alice@example.com --data /var/lib/trailmark"
    )]
    Id {
        /// The value.
        value: String,
        /// Data directory.
        #[arg(long, env = "TRAILMARK_DATA", default_value = "data")]
        data: PathBuf,
    },
}

/// The subject id of `value` with the secret of the data directory `data`.
fn subject_id(data: &std::path::Path, value: &str) -> Result<String> {
    let dir = data.join(DIR);
    if !dir.is_dir() {
        anyhow::bail!(
            "no subject key store at {}: is [subjects] configured, and is --data the server's data directory?",
            dir.display()
        );
    }
    Ok(SubjectKeys::open(&dir)
        .with_context(|| format!("opening {}", dir.display()))?
        .subject_id(value))
}

/// Run `erase`.
pub fn run(args: EraseArgs) -> Result<ExitCode> {
    let id = subject_id(args.server.data(), &args.subject)?;
    let answer = args
        .server
        .client()
        .post("/v1/admin/erase", &json!({"subject-id": id}))?;
    match args.output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&answer)?),
        OutputFormat::Table => {
            if answer["erased"] == true {
                println!("erased subject {id}");
            } else {
                println!("subject {id} was already erased (or never seen)");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Run a `subjects` subcommand.
pub fn run_subjects(cmd: SubjectsCommand) -> Result<ExitCode> {
    let SubjectsCommand::Id { value, data } = cmd;
    println!("{}", subject_id(&data, &value)?);
    Ok(ExitCode::SUCCESS)
}
