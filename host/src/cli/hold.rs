//! `trailmark hold add|list|remove`: legal holds on a running server.

use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::{OutputFormat, ServerArg};
use trailmark_backend_api::when::format_ms;

/// `trailmark hold ...`.
#[derive(Debug, Args)]
#[command(
    after_help = "A legal hold suspends retention ([retention] in trailmark.toml) for the change \
records and archived bodies of an entity type, or of one entity: nothing it covers is removed while it \
stands, however old. Holds are kept in the server's data directory (holds.sqlite) and survive restarts. \
Adding or removing one is journaled as a trailmark.admin-action (who, when, what). Removing a hold lets \
the next retention pass remove what has expired meanwhile.\n\n\
The journal's own retention ([journal] retention) removes whole segments and is not suspended by holds: \
it keeps the trail, the stores keep the records.\n\n\
Examples:\n  trailmark hold add --entity-type invoice --reason \"case 2026-17\"\n  \
trailmark hold add --entity-type user --entity-id u-42 --reason \"subpoena\"\n  \
trailmark hold list\n  trailmark hold remove 3"
)]
pub struct HoldArgs {
    #[command(subcommand)]
    command: HoldCommand,
}

/// What every hold subcommand takes: the server and the output format.
#[derive(Debug, Args)]
struct Common {
    /// The server to ask.
    #[command(flatten)]
    server: ServerArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    output: OutputFormat,
}

/// The hold subcommands.
#[derive(Debug, Subcommand)]
enum HoldCommand {
    /// Hold an entity type, or one entity: retention removes none of its records or bodies.
    #[command(
        after_help = "In force when the command returns. Journaled as a trailmark.admin-action.\n\n\
Examples:\n  trailmark hold add --entity-type invoice --reason \"case 2026-17\"\n  \
trailmark hold add --entity-type user --entity-id u-42"
    )]
    Add {
        /// The entity type (as in the events' `entity-type`).
        #[arg(long)]
        entity_type: String,
        /// One entity of the type (`entity-id`); without it, every entity of the type.
        #[arg(long)]
        entity_id: Option<String>,
        /// Why: a case or ticket number (journaled with the hold).
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// List the holds in force.
    #[command(after_help = "Examples:\n  trailmark hold list\n  trailmark hold list --output json")]
    List {
        #[command(flatten)]
        common: Common,
    },
    /// Remove a hold by its id (from `hold list`).
    #[command(
        after_help = "What the hold kept is removed by the next retention pass if it has expired. \
Journaled as a trailmark.admin-action.\n\nExample:\n  trailmark hold remove 3"
    )]
    Remove {
        /// The hold's id.
        id: i64,
        #[command(flatten)]
        common: Common,
    },
}

/// Run `hold`.
pub fn run(args: HoldArgs) -> Result<ExitCode> {
    let (answer, output) = match args.command {
        HoldCommand::Add {
            entity_type,
            entity_id,
            reason,
            common,
        } => (
            common.server.client().post(
                "/v1/admin/holds",
                &json!({"entity-type": entity_type, "entity-id": entity_id, "reason": reason}),
            )?,
            common.output,
        ),
        HoldCommand::List { common } => (
            common.server.client().get("/v1/admin/holds")?,
            common.output,
        ),
        HoldCommand::Remove { id, common } => (
            common
                .server
                .client()
                .post("/v1/admin/holds/remove", &json!({"id": id}))?,
            common.output,
        ),
    };
    match output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&answer)?),
        OutputFormat::Table => match answer.get("holds").and_then(Value::as_array) {
            Some(holds) if holds.is_empty() => println!("no legal holds"),
            Some(holds) => holds.iter().for_each(|h| println!("{}", line(h))),
            None => println!("{}", line(&answer)),
        },
    }
    Ok(ExitCode::SUCCESS)
}

/// `3  invoice/*  since 2026-…  by admin  (case 7)`.
fn line(hold: &Value) -> String {
    let text = |k: &str| hold[k].as_str().unwrap_or_default().to_owned();
    let entity = match hold["entity-id"].as_str() {
        Some(id) => format!("{}/{id}", text("entity-type")),
        None => format!("{}/*", text("entity-type")),
    };
    let since = hold["added-ms"].as_i64().map(format_ms).unwrap_or_default();
    let mut out = format!("{}\t{entity}\tsince {since}\tby {}", hold["id"], text("by"));
    if let Some(reason) = hold["reason"].as_str() {
        out.push_str(&format!("\t({reason})"));
    }
    out
}
