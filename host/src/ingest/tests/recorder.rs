//! The recording intake: an in-memory [`Intake`] that keeps what it is given,
//! for the handler tests beside it and for the host's integration tests
//! (`host/tests/it/ingest_server.rs` includes this file), so both exercise
//! ingest against the same double. The parent module brings `Intake`,
//! `IntakeError` and `BoxFuture` into scope, from `crate::ingest` or from
//! `trailmark::ingest`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use trailmark_backends::Event;

use super::{BoxFuture, Intake, IntakeError};

/// Records submitted events. Refuses the next `refuse_next(n)` submits with
/// `Busy`, every submit with `Unavailable` once `break_down()` is called and
/// with `StorageFull` once `fill_disk()` is; counts every call.
#[derive(Default)]
pub(crate) struct Recorder {
    events: Mutex<Vec<Event>>,
    busy: AtomicUsize,
    broken: AtomicBool,
    full: AtomicBool,
    submits: AtomicUsize,
}

impl Recorder {
    /// Everything accepted so far, in order.
    pub(crate) fn events(&self) -> Vec<Event> {
        self.events.lock().expect("recorder lock").clone()
    }

    /// Refuse the next `n` submits with `Busy`.
    pub(crate) fn refuse_next(&self, n: usize) {
        self.busy.store(n, Ordering::SeqCst);
    }

    /// Refuse every submit from now on with `StorageFull`, as a journal
    /// whose disk is full does.
    #[allow(dead_code, reason = "the integration tests never fill the disk")]
    pub(crate) fn fill_disk(&self) {
        self.full.store(true, Ordering::SeqCst);
    }

    /// Refuse every submit from now on with `Unavailable`, as a journal
    /// that cannot write does.
    #[allow(dead_code, reason = "the integration tests never break the intake")]
    pub(crate) fn break_down(&self) {
        self.broken.store(true, Ordering::SeqCst);
    }

    /// How many times `submit` was called.
    pub(crate) fn submit_calls(&self) -> usize {
        self.submits.load(Ordering::SeqCst)
    }
}

impl Intake for Recorder {
    fn submit(&self, events: Vec<Event>) -> BoxFuture<'static, Result<(), IntakeError>> {
        self.submits.fetch_add(1, Ordering::SeqCst);
        let result = if self.broken.load(Ordering::SeqCst) {
            Err(IntakeError::Unavailable("disk on fire".to_owned()))
        } else if self.full.load(Ordering::SeqCst) {
            Err(IntakeError::StorageFull(
                "/j/00000000000000000001.seg: write failed: No space left on device".to_owned(),
            ))
        } else if self
            .busy
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            Err(IntakeError::Busy)
        } else {
            self.events.lock().expect("recorder lock").extend(events);
            Ok(())
        };
        Box::pin(async move { result })
    }

    fn get(&self, id: &str) -> BoxFuture<'static, Result<Option<Event>, IntakeError>> {
        let found = self.events().into_iter().find(|event| event.id == id);
        Box::pin(async move { Ok(found) })
    }
}
