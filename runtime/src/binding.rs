//! A plugin bound to one rule: its grants, limits and config, and a small
//! pool of live instances reused across calls.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use trailmark_backend_api::{ArchivePut, BackendError, Event};
use trailmark_event::ParsedEvent;
use wasmtime::{Store, Trap, UpdateDeadline};

use crate::clocks::Forbidden;
use crate::config::Limits;
use crate::delivery::Delivery;
use crate::error::{CallError, RuntimeError};
use crate::grants::{Capabilities, Grants};
use crate::host::{Answer, BindingContext, HostState};
use crate::plugin::{Plugin, Pre};
use crate::quotas::Quotas;
use crate::safe_text::bounded;
use crate::staged::StagedPut;
use crate::v01::bindings::trailmark::plugin::types::PluginError;
use crate::{v01, v02};

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
    /// The rule's `config`, passed as JSON text to a 0.2 plugin's `init`
    /// once per instance (to a 0.1 plugin's `handle` on every call).
    pub config: serde_json::Value,
}

/// A plugin bound to one rule. [`Binding::call_batch`] may be called from
/// several threads at once: each caller gets its own instance from the pool
/// (or a fresh one), so calls never share guest state concurrently.
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
    bound: Bound,
}

/// A live instance in the world its plugin targets.
enum Bound {
    V01(v01::bindings::Plugin),
    V02 {
        plugin: v02::bindings::Plugin,
        /// The batch buffer, reused across calls.
        batch: v02::bindings::trailmark::plugin::types::Batch,
        /// What `init` said of the rule's config.
        init: Result<(), String>,
    },
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

    /// Make an instance now, running a 0.2 plugin's `init` with the rule's
    /// config, and keep it for the first call. Says why the plugin cannot
    /// start or refused the config, so a rule with a bad config is refused
    /// when it is loaded (with its file and line) instead of having every
    /// delivery rejected.
    pub fn prepare(&self) -> Result<(), String> {
        let instance = self.instantiate().map_err(|e| e.to_string())?;
        if let Bound::V02 {
            init: Err(message), ..
        } = &instance.bound
        {
            return Err(format!(
                "the plugin refused the rule's config: {}",
                bounded(message, self.context.quotas.error_text())
            ));
        }
        self.give_back(instance);
        Ok(())
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

    /// Delivers one event, synchronously: [`Binding::call_batch`] of one.
    pub fn call(&self, event: &Event) -> Result<(), CallError> {
        let parsed = Arc::new(ParsedEvent::new(event.clone()));
        self.call_batch(std::slice::from_ref(&parsed))
            .pop()
            .unwrap_or_else(|| Err(CallError::Retry("no outcome".to_owned())))
    }

    /// Delivers `events` (of this binding's rule) to the plugin,
    /// synchronously, and returns one outcome per event, in order.
    ///
    /// A 0.2 plugin gets them in one `handle` call (the deadline is the
    /// rule's timeout times their number) and answers each on its own; a 0.1
    /// plugin gets one `handle` call per event. While a delivery is handled,
    /// capability calls made for it are confined to its event (its own
    /// archive keys, its own change record, forwarding it in its envelope)
    /// and counted against its quotas. Reasons and trap texts are bounded by
    /// the error-text quota and free of control characters.
    ///
    /// Reuses an idle instance, or creates one. After a trap, timeout or
    /// out-of-memory the instance is dropped (a trapped instance cannot be
    /// entered again); the deliveries the plugin had answered keep their
    /// answers, and those it had not are delivered again one by one, each on
    /// a fresh instance, so only the event that causes the trap fails.
    pub fn call_batch(&self, events: &[Arc<ParsedEvent>]) -> Vec<Result<(), CallError>> {
        if events.is_empty() {
            return Vec::new();
        }
        let instance = match self.lock_idle().pop() {
            Some(instance) => instance,
            None => match self.instantiate() {
                Ok(instance) => instance,
                Err(error) => return vec![Err(error); events.len()],
            },
        };
        match instance.bound {
            Bound::V01(_) => self.call_each_v01(instance, events),
            Bound::V02 { .. } => self.call_v02(instance, events),
        }
    }

    /// The 0.1 adapter: one `handle(event, config)` per event.
    fn call_each_v01(
        &self,
        first: Instance,
        events: &[Arc<ParsedEvent>],
    ) -> Vec<Result<(), CallError>> {
        let mut results = Vec::with_capacity(events.len());
        let mut next = Some(first);
        for parsed in events {
            let instance = match next.take() {
                Some(instance) => instance,
                None => match self.instantiate() {
                    Ok(instance) => instance,
                    Err(error) => {
                        results.push(Err(error));
                        continue;
                    }
                },
            };
            let (result, kept) = self.call_v01(instance, parsed);
            next = kept;
            results.push(result);
        }
        if let Some(instance) = next {
            self.give_back(instance);
        }
        results
    }

    fn call_v01(
        &self,
        mut instance: Instance,
        parsed: &Arc<ParsedEvent>,
    ) -> (Result<(), CallError>, Option<Instance>) {
        let Bound::V01(plugin) = &instance.bound else {
            return (Err(CallError::Retry("instance world changed".into())), None);
        };
        let wit_event = v01::wit_event(parsed.event());
        let started = self.begin(&mut instance.store, std::slice::from_ref(parsed));
        let result = plugin.call_handle(&mut instance.store, &wit_event, &self.config);
        let elapsed = started.elapsed();
        let answer = match &result {
            Ok(Ok(())) => Some(Answer::Ok),
            Ok(Err(PluginError::Retry(message))) => Some(Answer::Retry(message.clone())),
            Ok(Err(PluginError::Reject(message))) => Some(Answer::Reject(message.clone())),
            Err(_) => None,
        };
        let answer = self.end(&mut instance.store, vec![answer]).pop().flatten();
        match (result, answer) {
            (Err(error), _) => {
                let error = self.stopped(instance, &error, elapsed, &parsed.event().id);
                (Err(error), None)
            }
            (Ok(_), Some(answer)) => (self.result_of(answer), Some(instance)),
            (Ok(_), None) => (
                Err(CallError::Retry("no outcome".to_owned())),
                Some(instance),
            ),
        }
    }

    /// One batched `handle` call of a 0.2 plugin.
    fn call_v02(
        &self,
        mut instance: Instance,
        events: &[Arc<ParsedEvent>],
    ) -> Vec<Result<(), CallError>> {
        let Bound::V02 {
            plugin,
            batch,
            init,
        } = &mut instance.bound
        else {
            return vec![Err(CallError::Retry("instance world changed".into())); events.len()];
        };
        if let Err(message) = init {
            let error = CallError::Reject(bounded(
                &format!("the rule's config was refused by the plugin: {message}"),
                self.context.quotas.error_text(),
            ));
            self.give_back(instance);
            return vec![Err(error); events.len()];
        }
        if v02::pack(events, batch).is_err() {
            // Over 4 GiB of text: cannot be addressed by the batch's spans.
            return match events {
                [_] => vec![Err(CallError::Reject(
                    "the event is too large to hand to a plugin".into(),
                ))],
                _ => events
                    .iter()
                    .flat_map(|e| self.call_batch(std::slice::from_ref(e)))
                    .collect(),
            };
        }
        let started = self.begin(&mut instance.store, events);
        let result = plugin.call_handle(&mut instance.store, batch);
        let elapsed = started.elapsed();
        let answers = std::mem::take(&mut instance.store.data_mut().answers);
        let answers = self.end(&mut instance.store, answers);
        let answered = |answer: Answer| self.result_of(answer);
        match result {
            Ok(()) => {
                self.give_back(instance);
                answers
                    .into_iter()
                    .map(|answer| match answer {
                        Some(answer) => answered(answer),
                        None => Err(CallError::Retry(
                            "the plugin returned without answering this delivery".into(),
                        )),
                    })
                    .collect()
            }
            Err(error) => {
                let unanswered = answers.iter().filter(|a| a.is_none()).count();
                let first_id = &events[0].event().id;
                let error = self.stopped(instance, &error, elapsed, first_id);
                if events.len() == 1 {
                    return vec![
                        answers
                            .into_iter()
                            .next()
                            .flatten()
                            .map_or(Err(error), answered),
                    ];
                }
                tracing::debug!(
                    rule = %self.context.rule,
                    batch = events.len(),
                    unanswered,
                    "retrying the unanswered deliveries of a stopped batch one by one"
                );
                answers
                    .into_iter()
                    .zip(events)
                    .map(|(answer, event)| match answer {
                        Some(answer) => answered(answer),
                        None => self
                            .call_batch(std::slice::from_ref(event))
                            .pop()
                            .unwrap_or_else(|| Err(error.clone())),
                    })
                    .collect()
            }
        }
    }

    /// Prepare the store for a call handling `events`; returns when it started.
    fn begin(&self, store: &mut Store<HostState>, events: &[Arc<ParsedEvent>]) -> Instant {
        let started = Instant::now();
        let count = u32::try_from(events.len()).unwrap_or(u32::MAX);
        let state = store.data_mut();
        state.limiter.hit = false;
        state.deadline = started + self.limits.timeout.saturating_mul(count);
        state.output.begin_call();
        state.deliveries = events
            .iter()
            .map(|e| Delivery::new(Arc::clone(e), Arc::clone(&self.context.rule)))
            .collect();
        state.answers = vec![None; events.len()];
        store.set_epoch_deadline(self.deadline_ticks.saturating_mul(u64::from(count)));
        started
    }

    /// Clear the store after a call, and commit the archive and metadata
    /// writes staged for the deliveries the plugin answered; a write that
    /// fails turns its delivery's `ok` into a retry (transient) or a reject.
    /// Returns the answers so amended.
    fn end(
        &self,
        store: &mut Store<HostState>,
        mut answers: Vec<Option<Answer>>,
    ) -> Vec<Option<Answer>> {
        let state = store.data_mut();
        // Each archived body's owner (its event's source, entity and ts) is
        // what retention expires it by.
        let parsed: Vec<Arc<trailmark_event::ParsedEvent>> = state
            .deliveries
            .iter()
            .map(|d| Arc::clone(d.parsed()))
            .collect();
        state.deliveries.clear();
        state.answers.clear();
        state.output.end_call();
        let staged = std::mem::take(&mut state.staged);
        let answered = |index: u32| matches!(answers.get(index as usize), Some(Some(_)));
        let archive: Vec<&StagedPut> = staged
            .archive
            .iter()
            .filter(|p| answered(p.index))
            .collect();
        let metadata: Vec<&(u32, trailmark_backend_api::ChangeRecord)> = staged
            .metadata
            .iter()
            .filter(|(index, _)| answered(*index))
            .collect();
        let mut failures: Vec<(u32, String, BackendError)> = Vec::new();
        if let (false, Some(store)) = (archive.is_empty(), &self.context.capabilities.archive) {
            let puts: Vec<ArchivePut<'_>> = archive
                .iter()
                .map(|p| ArchivePut {
                    key: &p.key,
                    body: &p.body,
                    content_type: &p.content_type,
                    owner: parsed.get(p.index as usize).and_then(|e| body_owner(e)),
                })
                .collect();
            for (put, result) in archive.iter().zip(store.put_many(&puts)) {
                if let Err(error) = result {
                    failures.push((put.index, format!("archive.put {:?}", put.key), error));
                }
            }
        }
        if let (false, Some(store)) = (metadata.is_empty(), &self.context.capabilities.metadata) {
            let records: Vec<_> = metadata.iter().map(|(_, r)| r.clone()).collect();
            for ((index, record), result) in metadata.iter().zip(store.put_many(&records)) {
                if let Err(error) = result {
                    failures.push((
                        *index,
                        format!("metadata.put of event {}", record.event_id),
                        error,
                    ));
                }
            }
        }
        failures.extend(
            staged
                .http_failures
                .into_iter()
                .filter(|(index, _, _)| answered(*index)),
        );
        for (index, what, error) in failures {
            let Some(slot @ Some(Answer::Ok)) = answers.get_mut(index as usize) else {
                continue;
            };
            let text = format!("{what}: {}", self.context.backend(error.clone()).text());
            *slot = Some(match error {
                BackendError::Transient(_) => Answer::Retry(text),
                _ => Answer::Reject(text),
            });
        }
        // A destination said when to come back: every delivery of the call
        // that is retried waits for it (a batch sent in one request is sent
        // for one of its deliveries, and the others go as it went).
        if let Some(wait) = staged.retry_after {
            for slot in answers.iter_mut() {
                if let Some(Answer::Retry(message)) = slot {
                    *slot = Some(Answer::RetryAfter(std::mem::take(message), wait));
                }
            }
        }
        answers
    }

    /// A delivery's result from the plugin's answer, its text bounded.
    fn result_of(&self, answer: Answer) -> Result<(), CallError> {
        let max_text = self.context.quotas.error_text();
        match answer {
            Answer::Ok => Ok(()),
            Answer::Retry(message) => Err(CallError::Retry(bounded(&message, max_text))),
            Answer::RetryAfter(message, wait) => Err(CallError::RetryAfter {
                message: bounded(&message, max_text),
                wait,
            }),
            Answer::Reject(message) => Err(CallError::Reject(bounded(&message, max_text))),
        }
    }

    /// The error of a call that stopped the instance (trap, timeout,
    /// out-of-memory), which is dropped.
    fn stopped(
        &self,
        instance: Instance,
        error: &wasmtime::Error,
        elapsed: Duration,
        event_id: &str,
    ) -> CallError {
        let error = self.classify(&instance.store, error, elapsed);
        self.discarded.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            rule = %self.context.rule,
            plugin = %self.context.plugin,
            event_id = %event_id,
            error = %error,
            "plugin instance stopped; the next call gets a fresh one"
        );
        drop(instance);
        error
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
        let bound = match &self.plugin.pre {
            Pre::V01(pre) => pre.instantiate(&mut store).map(Bound::V01),
            Pre::V02(pre) => pre.instantiate(&mut store).and_then(|plugin| {
                // The config, once per instance; a refusal is kept and
                // answers every delivery (the rule's config must change).
                let init = plugin.call_init(&mut store, &self.config)?;
                Ok(Bound::V02 {
                    plugin,
                    batch: v02::empty_batch(),
                    init,
                })
            }),
        };
        match bound {
            Ok(bound) => {
                self.instantiated.fetch_add(1, Ordering::Relaxed);
                Ok(Instance { store, bound })
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

/// The owner of a body put for `event`: its source, entity and `ts`, when
/// it is an `Object State Change` (retention knows no other).
fn body_owner(
    event: &trailmark_event::ParsedEvent,
) -> Option<trailmark_backend_api::BodyOwner<'_>> {
    let change = event.change()?.as_ref().ok()?;
    Some(trailmark_backend_api::BodyOwner {
        source: &event.event().source,
        entity_type: &change.entity_type,
        entity_id: &change.entity_id,
        ts: change.ts,
    })
}
