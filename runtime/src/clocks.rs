//! Plugins get no clock and no sleep: WASI's wall and monotonic clocks are
//! frozen, and subscribing to the monotonic clock (how `std::thread::sleep`
//! and every timed wait is built) stops the call at once.
//!
//! Why: a call's deadline is enforced by epoch interruption, which wasm
//! code checks but a blocking host call does not, so a plugin that slept
//! ran 20 s under a 1 s limit. Without a timer there is nothing to block
//! on (stdin is empty, stdout and stderr are always ready, sockets are off),
//! and a frozen clock keeps deliveries deterministic: the event's own
//! `time` and `ts` are the times a plugin should use.

use std::time::Duration;

use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::p2::DynPollable;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

use crate::error::RuntimeError;

/// The WASI clocks instance as `wasmtime_wasi::p2` links it.
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// The wall clock plugins see: always the Unix epoch.
pub(crate) struct FrozenWallClock;

impl HostWallClock for FrozenWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

/// The monotonic clock plugins see: always zero.
pub(crate) struct FrozenMonotonicClock;

impl HostMonotonicClock for FrozenMonotonicClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }

    fn now(&self) -> u64 {
        0
    }
}

/// A plugin used something the sandbox does not give it; the call stops.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plugins may not sleep or wait on a timer: the plugin called {call}, which stops the call")]
pub(crate) struct Forbidden {
    /// The WASI function it called.
    pub(crate) call: &'static str,
}

/// Replaces the monotonic clock's `subscribe-duration` and
/// `subscribe-instant` (already linked by WASI) with functions that trap.
pub(crate) fn forbid_timers<T: 'static>(linker: &mut Linker<T>) -> Result<(), RuntimeError> {
    let link_error =
        |e: wasmtime::Error| RuntimeError::Engine(format!("cannot replace WASI timers: {e:#}"));
    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK).map_err(link_error)?;
    for name in ["subscribe-duration", "subscribe-instant"] {
        let call = match name {
            "subscribe-duration" => "wasi:clocks/monotonic-clock.subscribe-duration",
            _ => "wasi:clocks/monotonic-clock.subscribe-instant",
        };
        clock
            .func_wrap(
                name,
                move |_store, (_when,): (u64,)| -> wasmtime::Result<(Resource<DynPollable>,)> {
                    Err(wasmtime::Error::new(Forbidden { call }))
                },
            )
            .map_err(link_error)?;
    }
    linker.allow_shadowing(false);
    Ok(())
}
