//! The `trailmark` command line: a thin layer over the library. Offline
//! commands (`rules validate|test|match`, `plugins inspect`) need no server;
//! the others talk to one with `--server`.
//!
//! Every text this module tree prints goes through [`terminal`]: the
//! `println!`, `print!`, `eprintln!` and `eprint!` macros are shadowed below
//! (textual scope covers every submodule declared after them), so no call
//! site can forget to escape control characters, and a closed pipe ends the
//! process quietly instead of panicking.

/// `println!` through [`terminal::write_stdout`].
macro_rules! println {
    () => {
        $crate::cli::terminal::write_stdout("\n")
    };
    ($($arg:tt)*) => {
        $crate::cli::terminal::write_stdout(&format!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` through [`terminal::write_stdout`].
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::cli::terminal::write_stdout(&format!($($arg)*))
    };
}

/// `eprintln!` through [`terminal::write_stderr`].
macro_rules! eprintln {
    () => {
        $crate::cli::terminal::write_stderr("\n")
    };
    ($($arg:tt)*) => {
        $crate::cli::terminal::write_stderr(&format!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprint!` through [`terminal::write_stderr`].
macro_rules! eprint {
    ($($arg:tt)*) => {
        $crate::cli::terminal::write_stderr(&format!($($arg)*))
    };
}

pub mod access;
pub mod admin;
pub mod auth;
pub mod aws;
pub mod backup;
pub mod bench;
pub mod client;
pub mod erase;
pub mod events;
pub mod export;
pub mod hold;
pub mod init;
pub mod keys;
pub mod lake;
pub mod location;
pub mod plugin_new;
pub mod plugins;
#[cfg(feature = "aws")]
pub mod producer;
pub mod query;
pub mod rules;
mod rules_timeline;
pub mod serve;
pub mod table;
pub mod terminal;
pub mod verify;

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable text.
    Table,
    /// JSON.
    Json,
}

/// Which server a command talks to, and with what credentials.
#[derive(Debug, Clone, Args)]
pub struct ServerArg {
    /// The Trailmark server's URL.
    #[arg(long, env = "TRAILMARK_SERVER", default_value = client::DEFAULT_SERVER)]
    server: String,
    /// Bearer token to send; default: the admin token a local server created
    /// in its data directory (DATA/admin-token).
    #[arg(long, env = "TRAILMARK_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The local server's data directory, where its first start left
    /// `admin-token` and `access-key` (mode 0600).
    #[arg(long = "data", env = "TRAILMARK_DATA", default_value = "data")]
    data: PathBuf,
}

impl ServerArg {
    /// The URL.
    pub fn url(&self) -> String {
        self.server.clone()
    }

    /// The bearer token to send: `--token`, else the local admin token.
    pub fn token(&self) -> Option<String> {
        self.token.clone().or_else(|| {
            trailmark_auth::LocalCredentials::load_admin_token(&self.data)
                .ok()
                .map(|t| t.expose().to_owned())
        })
    }

    /// The token given with `--token` or `TRAILMARK_TOKEN`, if any (not the
    /// local admin token found in the data directory).
    pub fn explicit_token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The local server's data directory.
    pub fn data(&self) -> &std::path::Path {
        &self.data
    }

    /// A client with this argument's credentials.
    pub fn client(&self) -> client::Client {
        client::Client::new(&self.server, self.token())
    }

    /// The access key pair a local server created, for SigV4-signed calls.
    #[cfg(feature = "aws")]
    pub fn access_key(&self) -> Option<producer::AccessKey> {
        let local = trailmark_auth::LocalCredentials::load(&self.data).ok()?;
        Some(producer::AccessKey {
            id: local.access_key_id.clone(),
            secret: local.secret_access_key.expose().to_owned(),
        })
    }
}

/// Trailmark: a self-hosted audit engine.
///
/// Applications report who changed which entity, when and how, in the Amazon
/// EventBridge envelope; rules (EventBridge event patterns) route each event to
/// sandboxed WebAssembly plugins that archive bodies, store queryable change
/// records, alert and log.
#[derive(Debug, Parser)]
#[command(name = "trailmark", version, propagate_version = true)]
#[command(
    after_help = "Start here:\n  trailmark serve                       run on ./data with the rules in ./rules\n  trailmark events put examples/events/put-events.json\n  trailmark query --entity-type book    what changed, newest first\n  trailmark rules test --help           try a pattern against an event\n\nExit status: 0 success; 1 a negative answer (no match, nothing found); 2 invalid input or failure."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service: ingest, journal, rules, plugins, query and admin APIs.
    Serve(serve::ServeArgs),
    /// Set up a directory to serve from: default rules, trailmark.toml, the
    /// standard plugins.
    Init(init::InitArgs),
    /// Check rule files and try patterns against events; list a server's rules.
    #[command(subcommand)]
    Rules(rules::RulesCommand),
    /// Inspect plugin files.
    #[command(subcommand)]
    Plugins(plugins::PluginsCommand),
    /// Create a ready-to-build plugin crate from the sdk's template.
    #[command(name = "plugin", subcommand)]
    Plugin(plugin_new::PluginCommand),
    /// Send events to a server.
    #[command(subcommand)]
    Events(events::EventsCommand),
    /// List change records: who changed what, when, newest first.
    Query(query::QueryArgs),
    /// Every version of one entity, oldest first, with its archived body.
    History(query::HistoryArgs),
    /// Every change record a query matches, with its body, as NDJSON or CSV.
    Export(export::ExportArgs),
    /// A server's health: uptime, rules, lag, dead letters, storage.
    Status(admin::StatusArgs),
    /// Re-deliver journaled events of a time range (EventBridge's archive replay).
    Replay(admin::ReplayArgs),
    /// Dead letters: deliveries that failed for good.
    #[command(subcommand)]
    Dlq(admin::DlqCommand),
    /// Check the journal's hash chain offline: was any record modified, removed, inserted or reordered?
    Verify(verify::VerifyArgs),
    /// Make tokens and access keys for `[auth]` in trailmark.toml.
    #[command(subcommand)]
    Auth(auth::AuthCommand),
    /// Export the signed journal checkpoints for safekeeping.
    #[command(subcommand)]
    Checkpoints(verify::CheckpointsCommand),
    /// Crypto-shred one data subject on a running server (admin).
    Erase(erase::EraseArgs),
    /// Data subjects: print a value's subject id.
    #[command(subcommand)]
    Subjects(erase::SubjectsCommand),
    /// Legal holds: suspend store retention for an entity type or one entity (admin).
    Hold(hold::HoldArgs),
    /// Encryption at rest: rotate the key-encryption key.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Set up AWS resources for the AWS backends.
    #[command(subcommand)]
    Aws(aws::AwsCommand),
    /// Load-test a running server with generated audit events.
    Bench(bench::BenchArgs),
    /// Who read the trail: the access records, newest first.
    Access(access::AccessArgs),
    /// Back up a running server's data directory; `backup verify` checks a backup.
    Backup(backup::BackupArgs),
    /// Restore a backup into a new data directory, up to a point in time if asked.
    Restore(backup::RestoreArgs),
    /// Print the HTTP API's OpenAPI 3.1 description (what a server serves at /openapi.json).
    #[command(
        after_help = "Examples:\n  trailmark openapi > openapi.json\n  npx openapi-to-postmanv2 -s openapi.json -o trailmark.postman_collection.json"
    )]
    Openapi,
    /// The data lake: close open files, print DDL, compact (docs/lake.md).
    #[command(subcommand)]
    Lake(lake::LakeCommand),
    /// Read-only SQL over the change records, as a `changes` view with the lake's columns.
    Sql(lake::SqlArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(
        after_help = "Examples (where each shell looks for them):\n  trailmark completions bash > ~/.local/share/bash-completion/completions/trailmark\n  trailmark completions zsh > \"${fpath[1]}/_trailmark\"\n  trailmark completions fish > ~/.config/fish/completions/trailmark.fish"
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Read a command-line value that may be given inline, as `@FILE`, or as `@-` (stdin).
pub fn read_arg(arg: &str) -> Result<String> {
    match arg.strip_prefix('@') {
        Some("-") => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading standard input")?;
            Ok(s)
        }
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {path}")),
        None => Ok(arg.to_owned()),
    }
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Init(args) => init::run(args),
        Command::Rules(cmd) => rules::run(cmd),
        Command::Plugins(cmd) => plugins::run(cmd),
        Command::Plugin(cmd) => plugin_new::run(cmd),
        Command::Events(cmd) => events::run(cmd),
        Command::Query(args) => query::query(args),
        Command::History(args) => query::history(args),
        Command::Export(args) => export::run(args),
        Command::Status(args) => admin::status(args),
        Command::Dlq(cmd) => admin::dlq(cmd),
        Command::Replay(args) => admin::replay(args),
        Command::Bench(args) => bench::run(args),
        Command::Access(args) => access::run(args),
        Command::Backup(args) => backup::run(args),
        Command::Restore(args) => backup::restore(args),
        Command::Aws(cmd) => aws::run(cmd),
        Command::Verify(args) => verify::run(args),
        Command::Checkpoints(cmd) => verify::run_checkpoints(cmd),
        Command::Auth(cmd) => auth::run(cmd),
        Command::Openapi => {
            print!("{}", crate::server::openapi::document_json());
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys(cmd) => keys::run(cmd),
        Command::Erase(args) => erase::run(args),
        Command::Subjects(cmd) => erase::run_subjects(cmd),
        Command::Hold(args) => hold::run(args),
        Command::Lake(cmd) => lake::run(cmd),
        Command::Sql(args) => lake::run_sql(args),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "trailmark",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Every command a person runs shows how to run it: a leaf command's
    /// `--help` ends with examples.
    #[test]
    fn every_command_has_examples_in_its_help() {
        fn leaves(cmd: &clap::Command, path: String, out: &mut Vec<(String, bool)>) {
            let subs: Vec<_> = cmd
                .get_subcommands()
                .filter(|c| c.get_name() != "help")
                .collect();
            if subs.is_empty() {
                let help = cmd
                    .get_after_help()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                out.push((path.clone(), help.contains("Example")));
            }
            for sub in subs {
                leaves(sub, format!("{path} {}", sub.get_name()), out);
            }
        }
        let mut found = Vec::new();
        leaves(&Cli::command(), "trailmark".into(), &mut found);
        let missing: Vec<&str> = found
            .iter()
            .filter(|(_, has)| !has)
            .map(|(path, _)| path.as_str())
            .collect();
        assert!(found.len() > 20, "{found:?}");
        assert!(missing.is_empty(), "no examples in --help of: {missing:?}");
    }
}
