//! Reloading rules and plugins without a restart: build and validate the new
//! set off the hot path, then swap it in atomically. A broken rule file or
//! plugin never replaces a good one: the last good set stays active and the
//! error is logged, kept for `status` and counted in `/metrics`.

use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tracing::{error, info};

use super::pipeline::Pipeline;
use super::plugins::PluginHost;
use crate::metrics::Metrics;
use crate::rules::RuleSet;
use crate::targets::Targets;
use trailmark_backend_api::when::now_ms;

/// The result of the last rule/plugin (re)load.
#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct ReloadStatus {
    /// When (ms since epoch).
    pub at: i64,
    /// True when the new set is active.
    pub ok: bool,
    /// Problems, as `file:line:col: message`.
    pub errors: Vec<String>,
}

/// Everything a reload needs.
pub struct Reloader {
    /// Rules directory.
    pub rules_dir: PathBuf,
    /// Plugin loading and binding.
    pub plugins: Arc<PluginHost>,
    /// The http destinations, reloaded from the rules directory with the rules.
    pub targets: Arc<Targets>,
    /// Where the new set goes.
    pub pipeline: Arc<Pipeline>,
    /// Reload counters.
    pub metrics: Arc<Metrics>,
    /// The last result, for `status`.
    pub status: Arc<Mutex<ReloadStatus>>,
    /// Serialises reloads (watcher, SIGHUP and the admin API may race).
    pub lock: tokio::sync::Mutex<()>,
}

/// The outcome of one reload.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct ReloadOutcome {
    /// True when the new set is active.
    pub ok: bool,
    /// The version in force afterwards.
    pub version: u64,
    /// Problems, as `file:line:col: message` (empty when ok).
    pub errors: Vec<String>,
    /// How long building and swapping took, in milliseconds.
    pub millis: f64,
}

impl Reloader {
    /// Load, validate and bind the rules and plugins now on disk; swap them in
    /// if all is well.
    pub async fn reload(&self, why: &str) -> ReloadOutcome {
        let _one_at_a_time = self.lock.lock().await;
        let started = Instant::now();
        let rules_dir = self.rules_dir.clone();
        let plugins = self.plugins.clone();
        // Parsing, compiling patterns and loading plugins is blocking work.
        let built = tokio::task::spawn_blocking(move || {
            // Destinations and connections first: a rule may grant one that
            // arrives in the same reload.
            let catalog = crate::targets::load(&rules_dir);
            let set = RuleSet::load(std::slice::from_ref(&rules_dir))
                .map_err(|errs| errs.iter().map(ToString::to_string).collect::<Vec<_>>());
            let (catalog, set) = match (catalog, set) {
                (Ok(catalog), Ok(set)) => {
                    let undefined = crate::targets::undefined_grants(&set, &|n| {
                        catalog.destinations.contains_key(n)
                    });
                    if !undefined.is_empty() {
                        return Err(undefined.iter().map(ToString::to_string).collect());
                    }
                    (catalog, set)
                }
                (catalog, set) => {
                    let mut errors = catalog.err().unwrap_or_default();
                    errors.extend(set.err().unwrap_or_default());
                    return Err(errors);
                }
            };
            let lanes = plugins
                .lanes(&set)
                .map_err(|errs| errs.iter().map(ToString::to_string).collect::<Vec<_>>())?;
            Ok::<_, Vec<String>>((catalog, set, lanes))
        })
        .await
        .unwrap_or_else(|e| Err(vec![format!("reload task failed: {e}")]));
        let outcome = match built {
            Ok((catalog, set, lanes)) => {
                self.targets.swap(catalog);
                let version = self.pipeline.swap(set, lanes).await;
                // Counters of removed rules go once their lanes have finished.
                let working = self.pipeline.dispatcher().working_rules();
                self.metrics.retain_rules(|rule| working.contains(rule));
                info!(
                    version,
                    why,
                    millis = started.elapsed().as_secs_f64() * 1e3,
                    "rules and plugins reloaded"
                );
                ReloadOutcome {
                    ok: true,
                    version,
                    errors: Vec::new(),
                    millis: started.elapsed().as_secs_f64() * 1e3,
                }
            }
            Err(errors) => {
                for e in &errors {
                    error!(why, problem = %e, "reload rejected; the last good rules stay active");
                }
                ReloadOutcome {
                    ok: false,
                    version: self.pipeline.rules().version,
                    errors,
                    millis: started.elapsed().as_secs_f64() * 1e3,
                }
            }
        };
        *self.status.lock().unwrap_or_else(|e| e.into_inner()) = ReloadStatus {
            at: now_ms(),
            ok: outcome.ok,
            errors: outcome.errors.clone(),
        };
        // Counted once the status says it: whoever sees the count sees the
        // status of that reload (or a later one).
        let counter = if outcome.ok {
            &self.metrics.reloads
        } else {
            &self.metrics.reload_failures
        };
        counter.fetch_add(1, Relaxed);
        outcome
    }
}
