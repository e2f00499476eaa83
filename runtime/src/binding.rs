//! A plugin bound to one rule: its grants, limits and config, and a small
//! pool of live instances reused across calls.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use trailmark_backends::Event;
use wasmtime::{Store, Trap, UpdateDeadline};

use crate::clocks::Forbidden;
use crate::config::Limits;
use crate::delivery::Delivery;
use crate::error::{CallError, RuntimeError};
use crate::grants::{Capabilities, Grants};
use crate::host::bindings::trailmark::plugin::types::PluginError;
use crate::host::{BindingContext, HostState, bindings, wit_event};
use crate::plugin::Plugin;
use crate::quotas::Quotas;
use crate::safe_text::bounded;

/// What a rule says about its use of a plugin.
#[derive(Debug, Clone, Default)]
pub struct BindingSpec {
    /// The rule's name, for grant errors and log fields.
    pub rule: String,
    /// The capabilities the rule grants.
    pub grants: Grants,
    /// The backends configured on the host.
    pub capabilities: Capabilities,
    /// Time and memory limits per call.
    pub limits: Limits,
    /// What one call or delivery may ask of the backends.
    pub quotas: Quotas,
    /// The rule's `config`, passed to every `handle` call as JSON text.
    pub config: serde_json::Value,
}

/// A plugin bound to one rule. [`Binding::call`] may be called from several
/// threads at once: each caller gets its own instance from the pool (or a
/// fresh one), so calls never share guest state concurrently.
pub struct Binding {
    plugin: Arc<Plugin>,
    context: Arc<BindingContext>,
    limits: Limits,
    deadline_ticks: u64,
    config: String,
    idle: Mutex<Vec<Instance>>,
    max_idle: usize,
    instantiated: AtomicU64,
    discarded: AtomicU64,
}

/// Counters of a binding's instance pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Instances created so far.
    pub instantiated: u64,
    /// Instances dropped after a trap, timeout or out-of-memory.
    pub discarded: u64,
    /// Instances idle in the pool now.
    pub idle: usize,
}

/// One live instance and its store.
struct Instance {
    store: Store<HostState>,
    plugin: bindings::Plugin,
}

impl Binding {
    /// Binds `plugin` to a rule. Fails if the limits are out of range.
    pub fn new(plugin: Arc<Plugin>, spec: BindingSpec) -> Result<Binding, RuntimeError> {
        let invalid = |message: String| RuntimeError::InvalidLimits {
            rule: spec.rule.clone(),
            message,
        };
        let max_memory = plugin.shared.max_memory_bytes;
        if spec.limits.memory_bytes == 0 || spec.limits.memory_bytes > max_memory {
            return Err(invalid(format!(
                "memory limit of {} bytes is out of range: it must be between 1 and the \
                 runtime's maximum of {max_memory} bytes",
                spec.limits.memory_bytes
            )));
        }
        if spec.limits.timeout.is_zero() {
            return Err(invalid("timeout must be positive".to_owned()));
        }
        warn_unconfigured(&spec);
        let deadline_ticks = plugin.shared.deadline_ticks(spec.limits.timeout);
        let max_idle = plugin.shared.max_idle_per_binding;
        Ok(Binding {
            context: Arc::new(BindingContext {
                rule: spec.rule.as_str().into(),
                plugin: plugin.name_arc(),
                grants: spec.grants,
                capabilities: spec.capabilities,
                quotas: spec.quotas,
            }),
            plugin,
            limits: spec.limits,
            deadline_ticks,
            config: spec.config.to_string(),
            idle: Mutex::new(Vec::new()),
            max_idle,
            instantiated: AtomicU64::new(0),
            discarded: AtomicU64::new(0),
        })
    }

    /// The rule this binding serves.
    pub fn rule(&self) -> &str {
        &self.context.rule
    }

    /// The bound plugin.
    pub fn plugin(&self) -> &Arc<Plugin> {
        &self.plugin
    }

    /// The limits applied per call.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The quotas applied per call and per delivery.
    pub fn quotas(&self) -> Quotas {
        self.context.quotas
    }

    /// Counters of the instance pool.
    pub fn stats(&self) -> PoolStats {
        PoolStats {
            instantiated: self.instantiated.load(Ordering::Relaxed),
            discarded: self.discarded.load(Ordering::Relaxed),
            idle: self.lock_idle().len(),
        }
    }

    /// Delivers one event to the plugin's `handle`, synchronously.
    ///
    /// While the call runs the instance knows the delivery: capability calls
    /// are confined to this event (its own archive keys, its own change
    /// record, forwarding it unchanged in its envelope) and counted against
    /// the binding's quotas. Reasons and trap texts in the error are bounded
    /// by the error-text quota and free of control characters.
    ///
    /// Reuses an idle instance, or creates one. After a trap, timeout or
    /// out-of-memory the instance is dropped (a trapped instance cannot be
    /// entered again) and the next call gets a fresh one.
    pub fn call(&self, event: &Event) -> Result<(), CallError> {
        let idle = self.lock_idle().pop();
        let mut instance = match idle {
            Some(instance) => instance,
            None => self.instantiate()?,
        };
        let wit_event = wit_event(event);
        let started = Instant::now();
        let state = instance.store.data_mut();
        state.limiter.hit = false;
        state.deadline = started + self.limits.timeout;
        state.output.begin_call();
        state.delivery = Some(Delivery::new(event, Arc::clone(&self.context.rule)));
        instance.store.set_epoch_deadline(self.deadline_ticks);
        let result = instance
            .plugin
            .call_handle(&mut instance.store, &wit_event, &self.config);
        let elapsed = started.elapsed();
        let state = instance.store.data_mut();
        state.delivery = None;
        state.output.end_call();
        let max_text = self.context.quotas.error_text();
        match result {
            Ok(Ok(())) => {
                self.give_back(instance);
                Ok(())
            }
            Ok(Err(PluginError::Retry(message))) => {
                self.give_back(instance);
                Err(CallError::Retry(bounded(&message, max_text)))
            }
            Ok(Err(PluginError::Reject(message))) => {
                self.give_back(instance);
                Err(CallError::Reject(bounded(&message, max_text)))
            }
            Err(error) => {
                let error = self.classify(&instance.store, &error, elapsed);
                self.discarded.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    rule = %self.context.rule,
                    plugin = %self.context.plugin,
                    event_id = %event.id,
                    error = %error,
                    "plugin instance stopped; the next call gets a fresh one"
                );
                drop(instance);
                Err(error)
            }
        }
    }

    fn lock_idle(&self) -> MutexGuard<'_, Vec<Instance>> {
        // Nothing panics while holding the lock; recover the pool anyway.
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn give_back(&self, instance: Instance) {
        let surplus = {
            let mut idle = self.lock_idle();
            if idle.len() < self.max_idle {
                idle.push(instance);
                None
            } else {
                Some(instance)
            }
        };
        // Dropped outside the lock: returning slots to the pool takes a moment.
        drop(surplus);
    }

    fn instantiate(&self) -> Result<Instance, CallError> {
        let engine = &self.plugin.shared.engine;
        let started = Instant::now();
        let mut state = HostState::new(Arc::clone(&self.context), self.limits.memory_bytes);
        // Instantiation runs guest start code: it gets the same time limit.
        state.deadline = started + self.limits.timeout;
        let mut store = Store::new(engine, state);
        store.limiter(|state| &mut state.limiter);
        store.epoch_deadline_callback(|store| {
            // The epoch only approximates time: stop on the real clock.
            if Instant::now() >= store.data().deadline {
                Ok(UpdateDeadline::Interrupt)
            } else {
                Ok(UpdateDeadline::Continue(1))
            }
        });
        store.set_epoch_deadline(self.deadline_ticks);
        match self.plugin.pre.instantiate(&mut store) {
            Ok(plugin) => {
                self.instantiated.fetch_add(1, Ordering::Relaxed);
                Ok(Instance { store, plugin })
            }
            Err(error) => match self.classify(&store, &error, started.elapsed()) {
                CallError::Trap(message) => Err(CallError::Instantiate(message)),
                other => Err(other),
            },
        }
    }

    fn classify(
        &self,
        store: &Store<HostState>,
        error: &wasmtime::Error,
        elapsed: Duration,
    ) -> CallError {
        if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
            return CallError::Timeout {
                timeout: self.limits.timeout,
                elapsed,
            };
        }
        let state = store.data();
        if state.limiter.hit {
            return CallError::OutOfMemory {
                limit_bytes: self.limits.memory_bytes,
            };
        }
        if let Some(forbidden) = error.downcast_ref::<Forbidden>() {
            return CallError::Forbidden(forbidden.to_string());
        }
        let max_text = self.context.quotas.error_text();
        // The trap itself ("wasm `unreachable` instruction executed") and
        // the guest's last stderr (a panic message); the wasm backtrace goes
        // to the debug log only.
        tracing::debug!(
            rule = %self.context.rule,
            plugin = %self.context.plugin,
            error = format!("{error:?}"),
            "plugin trap details"
        );
        let cause = match error.downcast_ref::<Trap>() {
            Some(trap) => trap.to_string(),
            None => error.root_cause().to_string(),
        };
        let stderr = state.output.stderr_tail();
        if stderr.is_empty() {
            CallError::Trap(bounded(&cause, max_text))
        } else {
            CallError::Trap(bounded(
                &format!("{cause}; plugin stderr: {stderr}"),
                max_text,
            ))
        }
    }
}

impl std::fmt::Debug for Binding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Binding")
            .field("rule", &&*self.context.rule)
            .field("plugin", &&*self.context.plugin)
            .field("grants", &self.context.grants)
            .field("limits", &self.limits)
            .field("quotas", &self.context.quotas)
            .finish_non_exhaustive()
    }
}

/// Logs grants that name channels or backends the host does not configure:
/// calls to them will fail with `host-error::invalid`.
fn warn_unconfigured(spec: &BindingSpec) {
    let caps = &spec.capabilities;
    let mut missing: Vec<String> = Vec::new();
    if spec.grants.archive.is_some() && caps.archive.is_none() {
        missing.push("archive".to_owned());
    }
    if spec.grants.metadata && caps.metadata.is_none() {
        missing.push("metadata".to_owned());
    }
    for channel in spec
        .grants
        .notify
        .iter()
        .filter(|c| !caps.notify.contains_key(*c))
    {
        missing.push(format!("notify channel {channel:?}"));
    }
    for dest in spec
        .grants
        .forward
        .iter()
        .filter(|d| !caps.forward.contains_key(*d))
    {
        missing.push(format!("forward destination {dest:?}"));
    }
    if !missing.is_empty() {
        tracing::warn!(
            rule = %spec.rule,
            missing = %missing.join(", "),
            "rule grants capabilities that are not configured on this host"
        );
    }
}
