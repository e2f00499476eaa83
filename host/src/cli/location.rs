//! `--config` and `--data`: where an offline command finds the server's
//! configuration and data directory, read the way `serve` reads them.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::config::{Config, Overrides};

/// The server's configuration file and data directory, for commands that
/// work on a data directory beside (or instead of) a running server.
#[derive(Debug, Clone, Args)]
pub struct ConfigLocation {
    /// The server's configuration file [default: ./trailmark.toml if present].
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// The data directory [default: the configuration's, else ./data].
    #[arg(long, env = "TRAILMARK_DATA")]
    data: Option<PathBuf>,
}

impl ConfigLocation {
    /// The configuration, with `--data` applied over its data directory.
    pub fn load(&self) -> Result<Config> {
        Ok(Config::load(
            self.config.as_deref(),
            &Overrides {
                data: self.data.clone(),
                ..Overrides::default()
            },
        )?)
    }
}
