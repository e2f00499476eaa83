//! Run SDK futures from the synchronous capability traits.

use std::future::Future;

use tokio::runtime::{Handle, RuntimeFlavor};
use trailmark_backend_api::{BackendError, BackendResult};

/// A multi-thread Tokio runtime handle that synchronous code blocks on.
#[derive(Debug, Clone)]
pub(crate) struct Bridge {
    handle: Handle,
}

impl Bridge {
    /// Wrap `handle`; a current-thread runtime is refused, because nothing
    /// would drive its I/O while a plugin thread blocks on it.
    pub(crate) fn new(handle: &Handle) -> BackendResult<Self> {
        if handle.runtime_flavor() == RuntimeFlavor::CurrentThread {
            return Err(BackendError::Invalid(
                "AWS backends need a multi-thread Tokio runtime, got a current-thread one"
                    .to_owned(),
            ));
        }
        Ok(Bridge {
            handle: handle.clone(),
        })
    }

    /// Run `future` to completion on the runtime and return its output.
    ///
    /// Works from plain threads and `spawn_blocking` threads; on an async
    /// worker thread, `block_in_place` first hands the worker's other tasks
    /// to another thread (so it does not panic, but it costs a thread).
    pub(crate) fn run<F: Future>(&self, future: F) -> F::Output {
        tokio::task::block_in_place(|| self.handle.block_on(future))
    }
}
