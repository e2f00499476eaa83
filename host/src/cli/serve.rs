//! `trailmark serve`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;

use crate::config::{Config, Overrides};

/// Arguments of `serve`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  trailmark serve\n  trailmark serve --config /etc/trailmark/trailmark.toml\n  trailmark serve --listen 0.0.0.0:8088 --data /var/lib/trailmark\n\n\
With no flags, in a fresh clone: serves 127.0.0.1:8088 with the rules in ./rules, \
the plugins in ./plugins (build them with `cargo xtask build-plugins`) and embedded storage under ./data.\n\n\
Logs go to stderr, coloured only on a terminal (NO_COLOR=1 turns colour off there too); set RUST_LOG \
(e.g. RUST_LOG=trailmark=debug) for more, TRAILMARK_LOG_FORMAT=json for JSON lines.\n\n\
Files and directories the server creates are private to its user (0600 / 0700)."
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
    private_data_dir(&config.data)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(crate::server::serve(config))?;
    Ok(ExitCode::SUCCESS)
}

/// Keep everything the server writes private to its user: the process
/// creates files 0600 and directories 0700 from here on (umask 077: journal
/// segments, SQLite files, bodies, keys, caches alike), and the data directory
/// itself is created 0700. An existing data directory that others can read is
/// left as it is, with a warning: changing an operator's choice silently
/// would be worse.
fn private_data_dir(data: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        // SAFETY: umask only swaps the process's file-creation mask; it
        // cannot fail and touches no memory.
        unsafe {
            libc::umask(0o077);
        }
        if !data.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(data)
                .with_context(|| format!("creating the data directory {}", data.display()))?;
        }
        let mode = std::fs::metadata(data)
            .with_context(|| format!("reading the data directory {}", data.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %data.display(),
                mode = format!("{:o}", mode & 0o777),
                "the data directory is open to other users; `chmod 700` it (it holds the journal, bodies and keys)"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = data;
    Ok(())
}

/// Structured logs to stderr; `RUST_LOG` filters, `TRAILMARK_LOG_FORMAT=json` for JSON lines.
pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal, and never with NO_COLOR set
    // (https://no-color.org): a log file or journald gets plain text.
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let result = if std::env::var("TRAILMARK_LOG_FORMAT").is_ok_and(|v| v == "json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    // Already initialised (tests): keep the existing subscriber.
    let _ = result;
}
