//! `trailmark init [DIR]`: a directory `trailmark serve` runs in as it is:
//! the default rules, a commented `trailmark.toml`, and the four standard
//! plugins when this binary carries them (`cargo xtask` builds embed them).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use serde_json::json;

use super::OutputFormat;
use super::plugin_new::write;

/// What `init` writes: (path in the directory, contents). See `host/build.rs`.
const STARTER: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/starter.rs"));

/// Arguments of `init`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  trailmark init /srv/trailmark && cd /srv/trailmark && trailmark serve\n  trailmark init --output json"
)]
pub struct InitArgs {
    /// The directory to set up [default: the current one]. It must not
    /// exist or be empty; nothing in it is ever replaced.
    pub dir: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// Whether this binary carries the standard plugins.
pub fn has_plugins() -> bool {
    STARTER.iter().any(|(path, _)| path.starts_with("plugins/"))
}

/// Run `init`. Exit status: 0 when written, 2 when the directory is not
/// empty or cannot be written.
pub fn run(args: InitArgs) -> Result<ExitCode> {
    let dir = args.dir.unwrap_or_else(|| PathBuf::from("."));
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    for (path, contents) in STARTER.iter().filter(|(p, _)| !p.starts_with("plugins/")) {
        files.push((
            PathBuf::from(path),
            String::from_utf8_lossy(contents).into_owned(),
        ));
    }
    if let Err(e) = write(&dir, &files) {
        eprintln!("error: {e}");
        return Ok(ExitCode::from(2));
    }
    let mut written: Vec<&str> = STARTER.iter().map(|(p, _)| *p).collect();
    if let Err(e) = write_plugins(&dir) {
        eprintln!("error: {e}");
        return Ok(ExitCode::from(2));
    }
    if !has_plugins() {
        written.retain(|p| !p.starts_with("plugins/"));
    }
    match args.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "dir": dir,
                "files": written,
                "standard-plugins": has_plugins(),
            }))?
        ),
        OutputFormat::Table => {
            println!("Set up {} for trailmark serve:", dir.display());
            for path in &written {
                println!("  {path}");
            }
            if !has_plugins() {
                println!(
                    "\nThis binary does not carry the standard plugins (it was built without \
                     `cargo xtask`). Build them in a Trailmark checkout with \
                     `cargo xtask build-plugins` and copy its plugins/*.wasm into {}/plugins/.",
                    dir.display()
                );
            }
            println!(
                "\nNext: cd {} && trailmark serve   (it creates data/ and an admin token on first start)",
                dir.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The embedded plugins, as files (binary: not through `write`'s text).
fn write_plugins(dir: &Path) -> std::io::Result<()> {
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins)?;
    for (path, contents) in STARTER.iter().filter(|(p, _)| p.starts_with("plugins/")) {
        let file = dir.join(path);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&file)
            .and_then(|mut f| std::io::Write::write_all(&mut f, contents))?;
    }
    Ok(())
}
