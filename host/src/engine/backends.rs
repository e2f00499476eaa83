//! Open the configured backends (checking first that what they name is
//! there) and hand them to the runtime as capabilities. Every section is
//! handled alike, whatever its `type`: the registry behind
//! [`Config`](crate::config::Config) knows how to check and build each.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use anyhow::{Context, Result};
use trailmark_backend_api::Durability;
use trailmark_backend_api::registry::{BuildContext, CheckFuture, Kind, Section};
use trailmark_runtime::Capabilities;

use crate::config::Config;

/// Check every configured backend (AWS ones make one read-only call each),
/// naming every section whose resource is not reachable.
pub async fn check(config: &Config) -> Result<()> {
    let mut checks: Vec<(String, CheckFuture<'_>)> = vec![
        ("[archive]".to_owned(), config.archive.check()),
        ("[metadata]".to_owned(), config.metadata.check()),
    ];
    checks.extend(named(&config.notify).map(|(label, s)| (label, s.check())));
    checks.extend(named(&config.forward).map(|(label, s)| (label, s.check())));
    let mut problems = Vec::new();
    for (label, check) in checks {
        if let Err(e) = check.await {
            problems.push(format!("{label} {e}"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("backends are not reachable:\n{}", problems.join("\n"))
    }
}

/// Build every configured backend; a failure names the section.
///
/// Embedded backends open in batched durability: their writes are durable
/// only after `sync()` (the host syncs before it journals delivery outcomes;
/// see `server::outcomes`). AWS ones are durable when a call returns, and
/// are built on the Tokio runtime this is called from.
pub fn build(config: &Config) -> Result<Capabilities> {
    let context = BuildContext::new(&config.data, Durability::Batched);
    Ok(Capabilities {
        archive: Some(config.archive.build(&context).context("[archive]")?),
        metadata: Some(config.metadata.build(&context).context("[metadata]")?),
        notify: build_named(&config.notify, &context)?,
        forward: build_named(&config.forward, &context)?,
        // The rules directory's destinations, not a trailmark.toml section:
        // the engine sets them (they reload with the rules).
        http: None,
    })
}

/// `[KIND.NAME]` sections with their labels.
fn named<K: Kind>(
    sections: &BTreeMap<String, Section<K>>,
) -> impl Iterator<Item = (String, &Section<K>)> {
    sections
        .iter()
        .map(|(name, section)| (format!("[{}.{name}]", K::SECTION), section))
}

/// Build `[KIND.NAME]` sections by name.
fn build_named<K: Kind>(
    sections: &BTreeMap<String, Section<K>>,
    context: &BuildContext<'_>,
) -> Result<HashMap<String, Arc<K::Store>>> {
    sections
        .iter()
        .map(|(name, section)| {
            let store = section
                .build(context)
                .with_context(|| format!("[{}.{name}]", K::SECTION))?;
            Ok((name.clone(), store))
        })
        .collect()
}
