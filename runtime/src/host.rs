//! The host side of the plugin worlds: the per-instance store state (the
//! deliveries being handled and the plugin's answers), the memory limiter,
//! the deny-everything WASI context. The worlds' own glue is in `v01` and
//! `v02`, what their capability calls do in `capabilities`, and the linker
//! that joins them in `linker`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::clocks::{FrozenMonotonicClock, FrozenWallClock};
use crate::delivery::{Delivery, Refusal};
use crate::denial::Denial;
use crate::grants::{Capabilities, Grants};
use crate::output::{CapturedStream, Output, Stream};
use crate::quotas::Quotas;
use crate::staged::Staged;

/// What every instance of one binding shares: who it serves and what it may do.
pub(crate) struct BindingContext {
    pub(crate) rule: Arc<str>,
    pub(crate) plugin: Arc<str>,
    pub(crate) grants: Grants,
    pub(crate) capabilities: Capabilities,
    pub(crate) quotas: Quotas,
}

/// How the plugin answered one delivery of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Handled.
    Ok,
    /// Transient failure: retry.
    Retry(String),
    /// Transient failure, and a destination the call reached asked to be
    /// left alone this long (`Retry-After`): retry no sooner. Only the host
    /// gives this answer, when the call ends.
    RetryAfter(String, Duration),
    /// Permanent failure: dead-letter.
    Reject(String),
}

/// The data of one instance's `Store`.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) output: Output,
    /// When the current call (or instantiation) must stop.
    pub(crate) deadline: Instant,
    /// The deliveries the current call handles, by index in its batch
    /// (one for a 0.1 plugin); empty between calls (and while the instance
    /// starts or runs `init`), when every capability call is refused.
    pub(crate) deliveries: Vec<Delivery>,
    /// The plugin's answer to each delivery of the current batch, so far.
    pub(crate) answers: Vec<Option<Answer>>,
    /// Archive and metadata writes of the current call, committed when it ends.
    pub(crate) staged: Staged,
    pub(crate) context: Arc<BindingContext>,
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
            deliveries: Vec::new(),
            answers: Vec::new(),
            staged: Staged::default(),
            context,
        }
    }

    /// The binding's context and delivery `index` of the current batch, or
    /// a refusal when there is none (a capability called from start-up
    /// code or `init`, or an index outside the batch).
    pub(crate) fn delivery(
        &mut self,
        index: u32,
    ) -> Result<(&BindingContext, &mut Delivery, &mut Staged), Denial> {
        let context = &*self.context;
        let staged = &mut self.staged;
        let count = self.deliveries.len();
        match self.deliveries.get_mut(index as usize) {
            Some(delivery) => Ok((context, delivery, staged)),
            None if count == 0 => Err(context.refusal(Refusal::Denied(
                "capabilities may be used only while handling a delivery".to_owned(),
            ))),
            None => Err(context.refusal(Refusal::Invalid(format!(
                "delivery index {index} is outside the batch of {count}"
            )))),
        }
    }

    /// Record the plugin's answer to delivery `index`; the first counts.
    pub(crate) fn answer(&mut self, index: u32, answer: Answer) {
        if let Some(slot @ None) = self.answers.get_mut(index as usize) {
            *slot = Some(answer);
        }
    }
}

/// The WASI context plugins get: no files (no preopens), no environment, no
/// arguments, no stdin, no network (TCP, UDP and name lookup off, every
/// address refused), stdout/stderr captured into the log, and frozen
/// clocks (timers trap: see [`clocks`](crate::clocks)). Random numbers are the host's:
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
