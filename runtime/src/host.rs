//! The host side of the plugin world: generated bindings, the per-instance
//! store state, and the capability functions that check grants and call the
//! backends.

use std::sync::Arc;
use std::time::Instant;

use trailmark_backends::{BackendError, ChangeRecord, Notification};
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, ResourceLimiter};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::error::RuntimeError;
use crate::grants::{Capabilities, Grants};
use crate::output::{CapturedStream, Output, Stream};

/// Host bindings generated from `sdk/wit` (world `plugin`); synchronous.
pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        path: "../sdk/wit",
        world: "plugin",
    });
}

use bindings::trailmark::plugin::types::{Event as WitEvent, HostError};
use bindings::trailmark::plugin::{archive, forward, log, metadata, notify, types};

/// What every instance of one binding shares: who it serves and what it may do.
pub(crate) struct BindingContext {
    pub(crate) rule: Arc<str>,
    pub(crate) plugin: Arc<str>,
    pub(crate) grants: Grants,
    pub(crate) capabilities: Capabilities,
}

impl BindingContext {
    fn denied(&self, what: &str) -> HostError {
        HostError::Denied(format!(
            "rule {:?} has no grant for {what} (grants: {})",
            &*self.rule, self.grants
        ))
    }

    fn unconfigured(&self, what: &str) -> HostError {
        HostError::Invalid(format!(
            "{what} is granted to rule {:?} but is not configured on this host",
            &*self.rule
        ))
    }
}

/// The data of one instance's `Store`.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) output: Output,
    /// When the current call (or instantiation) must stop.
    pub(crate) deadline: Instant,
    context: Arc<BindingContext>,
}

impl HostState {
    /// State for a fresh instance: a deny-everything WASI context whose
    /// stdout and stderr go to `output`.
    pub(crate) fn new(context: Arc<BindingContext>, memory_bytes: u64) -> HostState {
        let output = Output::new(Arc::clone(&context.rule), Arc::clone(&context.plugin));
        HostState {
            wasi: deny_all_wasi(&output),
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(memory_bytes),
            output,
            deadline: Instant::now(),
            context,
        }
    }
}

/// The WASI context plugins get: no files (no preopens), no environment, no
/// arguments, no stdin, no network (TCP, UDP and name lookup off, every
/// address refused), stdout/stderr captured into the log. Clocks and random
/// numbers are the host's: harmless, and Rust std needs them.
fn deny_all_wasi(output: &Output) -> WasiCtx {
    WasiCtxBuilder::new()
        .stdout(CapturedStream::new(output.clone(), Stream::Stdout))
        .stderr(CapturedStream::new(output.clone(), Stream::Stderr))
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }))
        .build()
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Caps an instance's linear memory and records that the cap was hit, so a
/// trap that follows is reported as out-of-memory.
pub(crate) struct MemoryLimiter {
    limit_bytes: u64,
    pub(crate) hit: bool,
}

/// Table elements an instance may grow to (Rust plugins use a few hundred).
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl MemoryLimiter {
    fn new(limit_bytes: u64) -> MemoryLimiter {
        MemoryLimiter {
            limit_bytes,
            hit: false,
        }
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let over_cap = u64::try_from(desired).map_or(true, |d| d > self.limit_bytes);
        let over_max = maximum.is_some_and(|max| desired > max);
        if over_cap || over_max {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS && maximum.is_none_or(|max| desired <= max))
    }

    fn instances(&self) -> usize {
        32
    }

    fn tables(&self) -> usize {
        32
    }

    fn memories(&self) -> usize {
        4
    }
}

/// A linker with WASI p2 and our capabilities, shared by every plugin.
pub(crate) fn linker(engine: &Engine) -> Result<Linker<HostState>, RuntimeError> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
        .map_err(|e| RuntimeError::Engine(format!("cannot link WASI: {e}")))?;
    bindings::Plugin::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |state| state)
        .map_err(|e| RuntimeError::Engine(format!("cannot link host capabilities: {e}")))?;
    Ok(linker)
}

fn host_error(error: BackendError) -> HostError {
    match error {
        BackendError::Denied(m) => HostError::Denied(m),
        BackendError::Transient(m) => HostError::Transient(m),
        BackendError::Invalid(m) => HostError::Invalid(m),
    }
}

/// The WIT form of a journaled event.
pub(crate) fn wit_event(event: &trailmark_backends::Event) -> WitEvent {
    WitEvent {
        id: event.id.clone(),
        source: event.source.clone(),
        detail_type: event.detail_type.clone(),
        time: event.time.clone(),
        account: event.account.clone(),
        region: event.region.clone(),
        resources: event.resources.clone(),
        detail: event.detail.clone(),
    }
}

fn backend_event(event: WitEvent) -> trailmark_backends::Event {
    trailmark_backends::Event {
        id: event.id,
        version: "0".to_owned(),
        source: event.source,
        detail_type: event.detail_type,
        time: event.time,
        account: event.account,
        region: event.region,
        resources: event.resources,
        detail: event.detail,
    }
}

impl types::Host for HostState {}

impl archive::Host for HostState {
    fn put(&mut self, key: String, body: Vec<u8>, content_type: String) -> Result<(), HostError> {
        let ctx = &self.context;
        if !ctx.grants.archive {
            return Err(ctx.denied("archive"));
        }
        let store = ctx
            .capabilities
            .archive
            .as_ref()
            .ok_or_else(|| ctx.unconfigured("archive"))?;
        store.put(&key, &body, &content_type).map_err(host_error)
    }

    fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, HostError> {
        let ctx = &self.context;
        if !ctx.grants.archive {
            return Err(ctx.denied("archive"));
        }
        let store = ctx
            .capabilities
            .archive
            .as_ref()
            .ok_or_else(|| ctx.unconfigured("archive"))?;
        store.get(&key).map_err(host_error)
    }
}

impl metadata::Host for HostState {
    fn put(&mut self, c: metadata::Change) -> Result<(), HostError> {
        let ctx = &self.context;
        if !ctx.grants.metadata {
            return Err(ctx.denied("metadata"));
        }
        let store = ctx
            .capabilities
            .metadata
            .as_ref()
            .ok_or_else(|| ctx.unconfigured("metadata"))?;
        let record = ChangeRecord {
            event_id: c.event_id,
            source: c.source,
            entity_type: c.entity_type,
            entity_id: c.entity_id,
            operation: c.operation,
            ts: c.ts,
            author: c.author,
            archive_key: c.archive_key,
            attributes: c.attributes,
        };
        // Idempotent on event id: storing a record again is a success.
        store.put(&record).map(|_outcome| ()).map_err(host_error)
    }
}

impl notify::Host for HostState {
    fn publish(
        &mut self,
        channel: String,
        subject: String,
        message: String,
        attributes: Vec<(String, String)>,
    ) -> Result<(), HostError> {
        let ctx = &self.context;
        if !ctx.grants.notify.contains(&channel) {
            return Err(ctx.denied(&format!("notify channel {channel:?}")));
        }
        let notifier = ctx
            .capabilities
            .notify
            .get(&channel)
            .ok_or_else(|| ctx.unconfigured(&format!("notify channel {channel:?}")))?;
        notifier
            .publish(&Notification {
                channel,
                subject,
                message,
                attributes,
            })
            .map_err(host_error)
    }
}

impl forward::Host for HostState {
    fn send(&mut self, destination: String, e: WitEvent) -> Result<(), HostError> {
        let ctx = &self.context;
        if !ctx.grants.forward.contains(&destination) {
            return Err(ctx.denied(&format!("forward destination {destination:?}")));
        }
        let forwarder = ctx
            .capabilities
            .forward
            .get(&destination)
            .ok_or_else(|| ctx.unconfigured(&format!("forward destination {destination:?}")))?;
        forwarder.send(&backend_event(e)).map_err(host_error)
    }
}

impl log::Host for HostState {
    fn write(&mut self, level: log::Level, message: String) {
        let level = match level {
            log::Level::Trace => tracing::Level::TRACE,
            log::Level::Debug => tracing::Level::DEBUG,
            log::Level::Info => tracing::Level::INFO,
            log::Level::Warn => tracing::Level::WARN,
            log::Level::Error => tracing::Level::ERROR,
        };
        self.output.log(level, &message);
    }
}
