//! `trailmark plugins …`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use serde_json::json;

use super::{OutputFormat, ServerArg, table};

/// Plugin commands.
#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// List a running server's plugins: version hash, rules using each, calls, p99 latency.
    #[command(
        after_help = "Examples:\n  trailmark plugins list\n  trailmark plugins list --output json"
    )]
    List {
        /// The server to ask.
        #[command(flatten)]
        server: ServerArg,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
    /// Print a plugin's world version, imports, exports, size and SHA-256.
    ///
    /// Exit status: 0 for a compatible plugin, 2 for a file that is not a
    /// compatible Trailmark plugin component (the reason is on stderr).
    #[command(after_help = "Example:\n  trailmark plugins inspect plugins/archive.wasm")]
    Inspect {
        /// The .wasm file.
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
}

/// Run a `plugins` subcommand.
pub fn run(cmd: PluginsCommand) -> Result<ExitCode> {
    match cmd {
        PluginsCommand::List { server, output } => {
            let v = server.client().get("/v1/admin/plugins")?;
            match output {
                OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&v)?),
                OutputFormat::Table => {
                    let rows: Vec<Vec<String>> = v["plugins"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|p| {
                            let sha = p["sha256"].as_str().unwrap_or("");
                            vec![
                                p["name"].as_str().unwrap_or("").to_owned(),
                                sha.chars().take(12).collect(),
                                p["rules"]
                                    .as_array()
                                    .map(|r| {
                                        r.iter()
                                            .filter_map(|x| x.as_str())
                                            .collect::<Vec<_>>()
                                            .join(",")
                                    })
                                    .unwrap_or_default(),
                                p["calls"].to_string(),
                                p["p99-ms"]
                                    .as_f64()
                                    .map_or("-".to_owned(), |ms| format!("{ms:.3}")),
                            ]
                        })
                        .collect();
                    print!(
                        "{}",
                        table::render(&["NAME", "VERSION", "RULES", "CALLS", "P99-MS"], &rows)
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        PluginsCommand::Inspect { file, output } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let info = match trailmark_runtime::inspect(&bytes) {
                Ok(info) => info,
                Err(e) => {
                    eprintln!("error: {}: {e}", file.display());
                    return Ok(ExitCode::from(2));
                }
            };
            let compatible = info.compatibility();
            match output {
                OutputFormat::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({
                        "file": file,
                        "world": info.world_version,
                        "compatible": compatible.is_ok(),
                        "contract": compatible.as_ref().ok().map(|c| c.as_str()),
                        "problem": compatible.as_ref().err().map(ToString::to_string),
                        "imports": info.imports,
                        "exports": info.exports,
                        "size": info.size,
                        "sha256": info.sha256,
                    }))?
                ),
                OutputFormat::Table => {
                    println!("file     {}", file.display());
                    let how = match &compatible {
                        Ok(trailmark_runtime::Contract::V02) => {
                            " (contract 0.2: batched, config once)"
                        }
                        Ok(trailmark_runtime::Contract::V01) => {
                            " (contract 0.1: runs adapted, one call per event; rebuild \
                             against a 0.2 trailmark-sdk for batched delivery)"
                        }
                        Err(_) => "",
                    };
                    println!(
                        "world    trailmark:plugin@{}{how}",
                        info.world_version.as_deref().unwrap_or("(none)")
                    );
                    println!("size     {} bytes", info.size);
                    println!("sha256   {}", info.sha256);
                    println!("imports");
                    for i in &info.imports {
                        println!("  {i}");
                    }
                    println!("exports");
                    for e in &info.exports {
                        println!("  {e}");
                    }
                }
            }
            if let Err(e) = compatible {
                eprintln!("error: {}: {e}", file.display());
                return Ok(ExitCode::from(2));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
