//! Open the configured backends (checking AWS ones are reachable first) and
//! hand them to the runtime as capabilities.

use anyhow::{Context, Result};
use tokio::runtime::Handle;
use trailmark_runtime::Capabilities;

use crate::config::Config;

/// Check every configured AWS resource, naming the ones that are not reachable.
pub async fn check(config: &Config) -> Result<()> {
    let mut problems = Vec::new();
    if let Err(e) = config.archive.check().await {
        problems.push(format!("[archive] {e}"));
    }
    if let Err(e) = config.metadata.check().await {
        problems.push(format!("[metadata] {e}"));
    }
    for (name, c) in &config.notify {
        if let Err(e) = c.check().await {
            problems.push(format!("[notify.{name}] {e}"));
        }
    }
    for (name, c) in &config.forward {
        if let Err(e) = c.check().await {
            problems.push(format!("[forward.{name}] {e}"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("backends are not reachable:\n{}", problems.join("\n"))
    }
}

/// Build every configured backend; a failure names the section.
pub fn build(config: &Config, handle: &Handle) -> Result<Capabilities> {
    let data = &config.data;
    let mut caps = Capabilities {
        archive: Some(config.archive.build(data, handle).context("[archive]")?),
        metadata: Some(config.metadata.build(data, handle).context("[metadata]")?),
        ..Capabilities::default()
    };
    for (name, c) in &config.notify {
        caps.notify.insert(
            name.clone(),
            c.build(data, handle)
                .with_context(|| format!("[notify.{name}]"))?,
        );
    }
    for (name, c) in &config.forward {
        caps.forward.insert(
            name.clone(),
            c.build(data, handle)
                .with_context(|| format!("[forward.{name}]"))?,
        );
    }
    Ok(caps)
}
