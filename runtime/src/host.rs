//! The host side of the plugin world: generated bindings, the per-instance
//! store state, and the capability functions that check grants and call the
//! backends.

use std::sync::Arc;
use std::time::Instant;

use trailmark_backends::{BackendError, ChangeRecord, Notification};
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, ResourceLimiter};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::clocks::{self, FrozenMonotonicClock, FrozenWallClock};
use crate::delivery::{Delivery, Refusal};
use crate::error::RuntimeError;
use crate::grants::{ArchiveGrant, Capabilities, Grants};
use crate::output::{CapturedStream, Output, Stream};
use crate::quotas::{Quota, Quotas, Usage};
use crate::safe_text::bounded;

/// Host bindings generated from `sdk/wit` (world `plugin`); synchronous.
pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/v0.1",
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
    pub(crate) quotas: Quotas,
}

impl BindingContext {
    fn denied(&self, what: &str) -> HostError {
        self.error(Refusal::Denied(format!(
            "rule {:?} has no grant for {what} (grants: {})",
            &*self.rule, self.grants
        )))
    }

    fn unconfigured(&self, what: &str) -> HostError {
        self.error(Refusal::Invalid(format!(
            "{what} is granted to rule {:?} but is not configured on this host",
            &*self.rule
        )))
    }

    /// The archive grant, or a denial.
    fn archive_grant(&self) -> Result<&ArchiveGrant, HostError> {
        self.grants
            .archive
            .as_ref()
            .ok_or_else(|| self.denied("archive"))
    }

    /// A refusal as the WIT error, its text bounded by the error-text quota
    /// and free of control characters.
    fn error(&self, refusal: Refusal) -> HostError {
        let max = self.quotas.error_text();
        match refusal {
            Refusal::Denied(m) => HostError::Denied(bounded(&m, max)),
            Refusal::Invalid(m) => HostError::Invalid(bounded(&m, max)),
        }
    }

    /// A backend's error as the WIT error, its text bounded likewise.
    fn backend_error(&self, error: BackendError) -> HostError {
        let max = self.quotas.error_text();
        match error {
            BackendError::Denied(m) => HostError::Denied(bounded(&m, max)),
            BackendError::Transient(m) => HostError::Transient(bounded(&m, max)),
            BackendError::Invalid(m) => HostError::Invalid(bounded(&m, max)),
        }
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
    /// The delivery the current call handles; `None` between calls (and
    /// while the instance starts), when every capability call is refused.
    pub(crate) delivery: Option<Delivery>,
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
            delivery: None,
            context,
        }
    }

    /// The binding's context and the delivery being handled, or a denial
    /// when there is none (a capability called from start-up code).
    fn delivery(&mut self) -> Result<(&BindingContext, &mut Delivery), HostError> {
        let context = &*self.context;
        match self.delivery.as_mut() {
            Some(delivery) => Ok((context, delivery)),
            None => Err(context.error(Refusal::Denied(
                "capabilities may be used only while handling a delivery".to_owned(),
            ))),
        }
    }
}

/// The WASI context plugins get: no files (no preopens), no environment, no
/// arguments, no stdin, no network (TCP, UDP and name lookup off, every
/// address refused), stdout/stderr captured into the log, and frozen
/// clocks (timers trap: see [`clocks`]). Random numbers are the host's:
/// harmless, and Rust std's `HashMap` needs them.
fn deny_all_wasi(output: &Output) -> WasiCtx {
    WasiCtxBuilder::new()
        .stdout(CapturedStream::new(output.clone(), Stream::Stdout))
        .stderr(CapturedStream::new(output.clone(), Stream::Stderr))
        .wall_clock(FrozenWallClock)
        .monotonic_clock(FrozenMonotonicClock)
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

/// Caps an instance's linear memories *together* (a component may have
/// several, each of which would otherwise get the whole cap) and records
/// that the cap was hit, so a trap that follows is reported as
/// out-of-memory.
pub(crate) struct MemoryLimiter {
    limit_bytes: u64,
    /// Bytes of all the instance's memories, counting a growth in progress.
    total_bytes: u64,
    /// The growth allowed last, taken back if the growth then fails.
    pending_bytes: u64,
    pub(crate) hit: bool,
}

/// Table elements an instance may grow to (Rust plugins use a few hundred).
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl MemoryLimiter {
    fn new(limit_bytes: u64) -> MemoryLimiter {
        MemoryLimiter {
            limit_bytes,
            total_bytes: 0,
            pending_bytes: 0,
            hit: false,
        }
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let growth = desired.saturating_sub(current) as u64;
        let total = self.total_bytes.saturating_add(growth);
        let over_max = maximum.is_some_and(|max| desired > max);
        if total > self.limit_bytes || over_max {
            self.hit = true;
            return Ok(false);
        }
        self.total_bytes = total;
        self.pending_bytes = growth;
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.total_bytes = self.total_bytes.saturating_sub(self.pending_bytes);
        self.pending_bytes = 0;
        Ok(())
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
    clocks::forbid_timers(&mut linker)?;
    bindings::Plugin::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |state| state)
        .map_err(|e| RuntimeError::Engine(format!("cannot link host capabilities: {e}")))?;
    Ok(linker)
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
        let (ctx, delivery) = self.delivery()?;
        let grant = ctx.archive_grant()?;
        let store = ctx
            .capabilities
            .archive
            .as_ref()
            .ok_or_else(|| ctx.unconfigured("archive"))?;
        delivery
            .check_write(grant, &key)
            .map_err(|r| ctx.error(r))?;
        let bytes = body.len() as u64;
        Usage::check(&ctx.quotas, Quota::ArchivePutBytes, bytes, || {
            format!("archive.put body of {bytes} bytes")
        })
        .map_err(|e| ctx.error(e.into()))?;
        let usage = &mut delivery.usage;
        usage
            .take(&ctx.quotas, Quota::ArchivePuts, 1, "archive.put")
            .and_then(|()| usage.take(&ctx.quotas, Quota::ArchiveBytes, bytes, "archive.put body"))
            .map_err(|e| ctx.error(e.into()))?;
        store
            .put(&key, &body, &content_type)
            .map_err(|e| ctx.backend_error(e))
    }

    fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, HostError> {
        let (ctx, delivery) = self.delivery()?;
        let grant = ctx.archive_grant()?;
        let store = ctx
            .capabilities
            .archive
            .as_ref()
            .ok_or_else(|| ctx.unconfigured("archive"))?;
        delivery.check_read(grant, &key).map_err(|r| ctx.error(r))?;
        delivery
            .usage
            .take(&ctx.quotas, Quota::ArchiveGets, 1, "archive.get")
            .map_err(|e| ctx.error(e.into()))?;
        store.get(&key).map_err(|e| ctx.backend_error(e))
    }
}

impl metadata::Host for HostState {
    fn put(&mut self, c: metadata::Change) -> Result<(), HostError> {
        let (ctx, delivery) = self.delivery()?;
        if !ctx.grants.metadata {
            return Err(ctx.denied("metadata"));
        }
        let store = ctx
            .capabilities
            .metadata
            .as_ref()
            .ok_or_else(|| ctx.unconfigured("metadata"))?;
        let claimed = ChangeRecord {
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
        let record = delivery
            .change_record(ctx.grants.archive.as_ref(), &ctx.quotas, claimed)
            .map_err(|r| ctx.error(r))?;
        // Idempotent on event id: storing a record again is a success.
        store
            .put(&record)
            .map(|_outcome| ())
            .map_err(|e| ctx.backend_error(e))
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
        let (ctx, delivery) = self.delivery()?;
        if !ctx.grants.notify.contains(&channel) {
            return Err(ctx.denied(&format!("notify channel {:?}", bounded(&channel, 64))));
        }
        let notifier = ctx
            .capabilities
            .notify
            .get(&channel)
            .ok_or_else(|| ctx.unconfigured(&format!("notify channel {channel:?}")))?;
        delivery
            .usage
            .take(&ctx.quotas, Quota::Notifications, 1, "notify.publish")
            .map_err(|e| ctx.error(e.into()))?;
        notifier
            .publish(&Notification {
                channel,
                subject,
                message,
                attributes,
            })
            .map_err(|e| ctx.backend_error(e))
    }
}

impl forward::Host for HostState {
    fn send(&mut self, destination: String, e: WitEvent) -> Result<(), HostError> {
        let (ctx, delivery) = self.delivery()?;
        if !ctx.grants.forward.contains(&destination) {
            return Err(ctx.denied(&format!(
                "forward destination {:?}",
                bounded(&destination, 64)
            )));
        }
        let forwarder = ctx
            .capabilities
            .forward
            .get(&destination)
            .ok_or_else(|| ctx.unconfigured(&format!("forward destination {destination:?}")))?;
        let event = delivery
            .forwarded(backend_event(e))
            .map_err(|r| ctx.error(r))?;
        delivery
            .usage
            .take(&ctx.quotas, Quota::ForwardSends, 1, "forward.send")
            .map_err(|e| ctx.error(e.into()))?;
        forwarder.send(&event).map_err(|e| ctx.backend_error(e))
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

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    #[test]
    fn memory_cap_holds_across_all_memories() {
        let mut limiter = MemoryLimiter::new(64 << 20);
        // Four memories of 40 MiB each: the cap is the instance's, not each one's.
        assert!(limiter.memory_growing(0, 40 * MIB, None).expect("first"));
        assert!(!limiter.memory_growing(0, 40 * MIB, None).expect("second"));
        assert!(limiter.hit);
        // The rest of the cap is still there for another memory, or for growth.
        assert!(limiter.memory_growing(0, 16 * MIB, None).expect("third"));
        assert!(
            limiter
                .memory_growing(40 * MIB, 48 * MIB, None)
                .expect("growth")
        );
        assert!(
            !limiter
                .memory_growing(16 * MIB, 17 * MIB, None)
                .expect("over")
        );
    }

    #[test]
    fn a_failed_growth_is_given_back() {
        let mut limiter = MemoryLimiter::new(64 << 20);
        assert!(limiter.memory_growing(0, 60 * MIB, None).expect("grow"));
        limiter
            .memory_grow_failed(wasmtime::Error::msg("no room"))
            .expect("noted");
        assert!(
            limiter
                .memory_growing(0, 64 * MIB, None)
                .expect("whole cap again")
        );
    }
}
