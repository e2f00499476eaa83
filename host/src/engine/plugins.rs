//! Binding rules to plugins: load each rule's `.wasm` (compiled once, cached),
//! bind it with the rule's grants, limits and config, and wrap it as the
//! dispatcher's [`Deliver`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use trailmark_event::ParsedEvent;
use trailmark_runtime::{Binding, BindingSpec, CallError, Capabilities, Limits, Plugin, Runtime};

use crate::dispatch::{Deliver, Failure, LaneSpec};
use crate::rules::document::Position;
use crate::rules::{LoadedRule, RuleSet};

/// A rule's plugin binding as a dispatcher deliverer.
pub struct PluginDeliver(pub Binding);

impl Deliver for PluginDeliver {
    fn deliver(&self, events: &[Arc<ParsedEvent>]) -> Vec<Result<(), Failure>> {
        self.0.call_batch(events).into_iter().map(failure).collect()
    }
}

/// A plugin call's result as the dispatcher sees it.
fn failure(result: Result<(), CallError>) -> Result<(), Failure> {
    result.map_err(|e| match (e.retry_after(), e) {
        (Some(wait), e) => Failure::RetryAfter(e.to_string(), wait),
        (None, e) if e.is_retryable() => Failure::Retry(e.to_string()),
        (None, CallError::Reject(m)) => Failure::Reject(m),
        (None, e) => Failure::Reject(e.to_string()),
    })
}

/// A loaded plugin and the SHA-256 of the file it came from.
pub type LoadedPlugin = ([u8; 32], Arc<Plugin>);

/// Where plugin files are and what every binding gets by default.
pub struct PluginHost {
    /// The wasm runtime.
    pub runtime: Runtime,
    /// `plugins/` directory.
    pub dir: PathBuf,
    /// Configured backends.
    pub capabilities: Capabilities,
    /// Server-wide default limits.
    pub default_limits: Limits,
    /// Plugins loaded so far, by name, with the SHA-256 of their file: a
    /// reload reuses a plugin whose file did not change.
    pub loaded: std::sync::Mutex<HashMap<String, LoadedPlugin>>,
}

/// A problem binding a rule to its plugin.
#[derive(Debug, Clone)]
pub struct BindError {
    /// The rule file.
    pub file: PathBuf,
    /// Where in it: the plugin's name, or the grants.
    pub position: Position,
    /// The rule.
    pub rule: String,
    /// What went wrong and what to do.
    pub message: String,
}

impl std::fmt::Display for BindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: rule `{}`: {}",
            self.file.display(),
            self.position.line,
            self.position.col,
            self.rule,
            self.message
        )
    }
}

/// Which names the server configures for grants to name.
pub struct Configured<'a> {
    /// Is `[notify.NAME]` configured?
    pub notify: &'a dyn Fn(&str) -> bool,
    /// Is `[forward.NAME]` configured?
    pub forward: &'a dyn Fn(&str) -> bool,
}

/// A rule's notify and forward grants name only configured channels and
/// destinations.
fn check_grants(rule: &crate::rules::Rule, configured: &Configured<'_>) -> Result<(), String> {
    for channel in &rule.grants.notify {
        if !(configured.notify)(channel) {
            return Err(format!(
                "grants notify channel `{channel}`, which trailmark.toml does not define; add [notify.{channel}]"
            ));
        }
    }
    for dest in &rule.grants.forward {
        if !(configured.forward)(dest) {
            return Err(format!(
                "grants forward destination `{dest}`, which trailmark.toml does not define; add [forward.{dest}]"
            ));
        }
    }
    Ok(())
}

impl PluginHost {
    /// The file of plugin `name`.
    pub fn plugin_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.wasm"))
    }

    fn load(
        &self,
        name: &str,
        cache: &mut HashMap<String, Arc<Plugin>>,
    ) -> Result<Arc<Plugin>, String> {
        if let Some(p) = cache.get(name) {
            return Ok(p.clone());
        }
        let path = self.plugin_path(name);
        if !path.is_file() {
            return Err(format!(
                "plugin file {} not found; build the standard plugins with `cargo xtask build-plugins`, \
                 or put your plugin's .wasm there",
                path.display()
            ));
        }
        let size = std::fs::metadata(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?
            .len();
        if size > trailmark_runtime::MAX_PLUGIN_BYTES as u64 {
            return Err(format!(
                "{} is {size} bytes; plugins may be at most {} bytes (build with --release, strip = true)",
                path.display(),
                trailmark_runtime::MAX_PLUGIN_BYTES
            ));
        }
        let bytes =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let digest: [u8; 32] = Sha256::digest(&bytes).into();
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        let plugin = match loaded.get(name) {
            Some((d, p)) if *d == digest => p.clone(),
            _ => {
                let p = self
                    .runtime
                    .load(name, &bytes)
                    .map_err(|e| format!("cannot load {}: {e}", path.display()))?;
                loaded.insert(name.to_owned(), (digest, p.clone()));
                p
            }
        };
        cache.insert(name.to_owned(), plugin.clone());
        Ok(plugin)
    }

    fn bind(&self, r: &LoadedRule, plugin: Arc<Plugin>) -> Result<Binding, BindError> {
        let rule = &r.rule;
        let mut limits = self.default_limits;
        if let Some(t) = rule.limits.timeout {
            limits.timeout = t;
        }
        if let Some(m) = rule.limits.memory_bytes {
            limits.memory_bytes = m;
        }
        let capabilities = &self.capabilities;
        check_grants(
            rule,
            &Configured {
                notify: &|name| capabilities.notify.contains_key(name),
                forward: &|name| capabilities.forward.contains_key(name),
            },
        )
        .map_err(|m| bind_error(r, r.grants_position, m))?;
        let spec = BindingSpec {
            rule: rule.name.clone(),
            grants: rule.grants.clone(),
            capabilities: self.capabilities.clone(),
            limits,
            quotas: rule.limits.quotas,
            config: rule.config.clone(),
        };
        let binding = Binding::new(plugin, spec)
            .map_err(|e| bind_error(r, r.plugin_position, e.to_string()))?;
        binding
            .prepare()
            .map_err(|m| bind_error(r, r.config_position, m))?;
        Ok(binding)
    }

    /// What binding `set` would check, without binding it or any backend:
    /// each rule's plugin file loads as a plugin of a supported contract, its
    /// grants name only what `configured` says the server configures, and
    /// the plugin's `init` accepts its config.
    /// For `trailmark rules validate`.
    pub fn check(&self, set: &RuleSet, configured: &Configured<'_>) -> Vec<BindError> {
        let mut cache = HashMap::new();
        let mut errors = Vec::new();
        for r in set.rules() {
            // A building block delivers nowhere: nothing to bind.
            let Some(plugin_name) = &r.rule.plugin else {
                continue;
            };
            let plugin = match self.load(plugin_name, &mut cache) {
                Ok(plugin) => plugin,
                Err(m) => {
                    errors.push(bind_error(r, r.plugin_position, m));
                    continue;
                }
            };
            if let Err(m) = check_grants(&r.rule, configured) {
                errors.push(bind_error(r, r.grants_position, m));
                continue;
            }
            // The plugin's own check of the config: its `init`, on an
            // instance with no backends (none is called from `init`).
            let spec = BindingSpec {
                rule: r.rule.name.clone(),
                grants: Default::default(),
                capabilities: Capabilities::default(),
                limits: self.default_limits,
                quotas: r.rule.limits.quotas,
                config: r.rule.config.clone(),
            };
            let prepared = Binding::new(plugin, spec)
                .map_err(|e| e.to_string())
                .and_then(|binding| binding.prepare());
            if let Err(m) = prepared {
                errors.push(bind_error(r, r.config_position, m));
            }
        }
        errors
    }

    /// Bind every rule of a set; all problems are reported together.
    pub fn lanes(&self, set: &RuleSet) -> Result<Vec<LaneSpec>, Vec<BindError>> {
        let (lanes, errors) = self.bind_all(set);
        if errors.is_empty() {
            Ok(lanes)
        } else {
            Err(errors)
        }
    }

    /// Bind every rule of a set, at start: a rule whose plugin cannot be
    /// loaded or bound gets a [`Held`] lane instead of keeping the whole
    /// service down, and its problem is returned to be reported.
    pub fn lanes_or_held(&self, set: &RuleSet) -> (Vec<LaneSpec>, Vec<BindError>) {
        let (mut lanes, errors) = self.bind_all(set);
        for error in &errors {
            if let Some(r) = set.get(&error.rule) {
                lanes.push(LaneSpec {
                    rule: error.rule.clone(),
                    deliver: Arc::new(Held(error.message.clone())),
                    retry: r.rule.retry,
                    order: r.rule.order,
                });
            }
        }
        (lanes, errors)
    }

    fn bind_all(&self, set: &RuleSet) -> (Vec<LaneSpec>, Vec<BindError>) {
        let mut cache = HashMap::new();
        let mut lanes = Vec::new();
        let mut errors = Vec::new();
        for r in set.rules() {
            let Some(plugin_name) = &r.rule.plugin else {
                continue;
            };
            let bound = self
                .load(plugin_name, &mut cache)
                .map_err(|m| bind_error(r, r.plugin_position, m))
                .and_then(|plugin| self.bind(r, plugin));
            match bound {
                Ok(binding) => lanes.push(LaneSpec {
                    rule: r.rule.name.clone(),
                    deliver: Arc::new(PluginDeliver(binding)),
                    retry: r.rule.retry,
                    order: r.rule.order,
                }),
                Err(error) => errors.push(error),
            }
        }
        (lanes, errors)
    }
}

/// The lane of a rule whose plugin could not be bound at start: every
/// delivery is retried (with the rule's retry policy, so nothing is dropped
/// and what outlives it is dead-lettered, replayable) until a reload binds
/// the rule and its lane takes the real plugin.
pub struct Held(pub String);

impl Deliver for Held {
    fn deliver(&self, events: &[Arc<ParsedEvent>]) -> Vec<Result<(), Failure>> {
        events
            .iter()
            .map(|_| {
                Err(Failure::Retry(format!(
                    "the rule is held until its plugin can be bound: {}",
                    self.0
                )))
            })
            .collect()
    }
}

fn bind_error(r: &LoadedRule, position: Position, message: String) -> BindError {
    BindError {
        file: r.file.clone(),
        position,
        rule: r.rule.name.clone(),
        message,
    }
}

/// True when `path` is a plugin file.
pub fn is_plugin_file(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()) == Some("wasm")
}
