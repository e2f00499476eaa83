//! The linker every plugin instance is made with: WASI p2 with its timers
//! forbidden, and the capabilities of both plugin worlds on [`HostState`].

use wasmtime::Engine;
use wasmtime::component::{HasSelf, Linker};

use crate::clocks;
use crate::error::RuntimeError;
use crate::host::HostState;
use crate::{v01, v02};

/// A linker with WASI p2 and the capabilities of both plugin worlds,
/// shared by every plugin.
pub(crate) fn linker(engine: &Engine) -> Result<Linker<HostState>, RuntimeError> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
        .map_err(|e| RuntimeError::Engine(format!("cannot link WASI: {e}")))?;
    clocks::forbid_timers(&mut linker)?;
    let link_error =
        |e: wasmtime::Error| RuntimeError::Engine(format!("cannot link host capabilities: {e}"));
    v01::bindings::Plugin::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |state| {
        state
    })
    .map_err(link_error)?;
    v02::bindings::Plugin::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |state| {
        state
    })
    .map_err(link_error)?;
    Ok(linker)
}
