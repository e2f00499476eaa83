//! `trailmark serve`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;

use crate::config::{Config, Overrides};

/// Arguments of `serve`.
#[derive(Debug, Args)]
#[command(
    after_help = "With no flags, in a fresh clone: serves 127.0.0.1:8088 with the rules in ./rules, \
the plugins in ./plugins (build them with `cargo xtask build-plugins`) and embedded storage under ./data.\n\n\
Logs go to stderr; set RUST_LOG (e.g. RUST_LOG=trailmark=debug) for more, TRAILMARK_LOG_FORMAT=json for JSON lines."
)]
pub struct ServeArgs {
    /// Configuration file [default: ./trailmark.toml if present].
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8088 (port 0 picks a free port).
    #[arg(long)]
    listen: Option<String>,
    /// Data directory (journal, embedded storage, caches).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Rules directory.
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Plugins directory (`<name>.wasm` files).
    #[arg(long)]
    plugins: Option<PathBuf>,
}

/// Run the server.
pub fn run(args: ServeArgs) -> Result<ExitCode> {
    init_logging();
    let config = Config::load(
        args.config.as_deref(),
        &Overrides {
            listen: args.listen,
            data: args.data,
            rules: args.rules,
            plugins: args.plugins,
        },
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(crate::server::serve(config))?;
    Ok(ExitCode::SUCCESS)
}

/// Structured logs to stderr; `RUST_LOG` filters, `TRAILMARK_LOG_FORMAT=json` for JSON lines.
pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = if std::env::var("TRAILMARK_LOG_FORMAT").is_ok_and(|v| v == "json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    // Already initialised (tests): keep the existing subscriber.
    let _ = result;
}
