//! The seam between ingest and the rest of the host.
//!
//! Ingest validates and builds events, then hands them forward through
//! [`Intake`]; it never names the journal or the dispatcher. The host wires a
//! journal-backed implementation in; tests use an in-memory one.

use std::future::Future;
use std::pin::Pin;

use trailmark_backends::Event;

/// A boxed, sendable future, as [`Intake`] methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why the intake could not take or find events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntakeError {
    /// Backpressure: the host cannot take more right now; the producer should
    /// retry later. Answered with HTTP 503 (`ThrottlingException` on the
    /// PutEvents endpoint).
    #[error("busy: the host cannot accept more events right now")]
    Busy,
    /// The events could not be made durable (e.g. a journal I/O failure).
    /// Answered with HTTP 500 (`InternalException`); the text is logged, not
    /// sent to the client.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The journal's disk is full: nothing of the request was stored, and
    /// the host takes events again once space is freed. Answered with HTTP
    /// 503 naming the reason; the text (file paths) is logged, not sent.
    #[error("the journal's disk is full: {0}")]
    StorageFull(String),
}

/// Where accepted events go: durably accepts them, and finds them again.
pub trait Intake: Send + Sync + 'static {
    /// Durably accept the events, all or none, in the given order; resolve only
    /// once they are durable. Ingest acknowledges the producer after this
    /// resolves with `Ok`, and never calls it with an empty list.
    fn submit(&self, events: Vec<Event>) -> BoxFuture<'static, Result<(), IntakeError>>;

    /// Durably accept records the host writes about itself (refusals, admin
    /// actions), as [`Intake::submit`] but on the reserved path: never
    /// refused for backpressure (`Busy`), so producers filling the intake
    /// cannot keep them out of the journal. Callers bound how many they
    /// write. The default forwards to `submit`, for intakes without
    /// backpressure.
    fn submit_host(&self, events: Vec<Event>) -> BoxFuture<'static, Result<(), IntakeError>> {
        self.submit(events)
    }

    /// Accept the host's record of a read of the trail (an access
    /// record): as [`Intake::submit_host`], but it resolves once the record
    /// is written with the journal's group commit, before its fsync, so a
    /// read does not wait for a sync of its own. `Err` when the journal
    /// cannot take it: the read must then not be answered. The default
    /// forwards to `submit_host`.
    fn submit_access(&self, events: Vec<Event>) -> BoxFuture<'static, Result<(), IntakeError>> {
        self.submit_host(events)
    }

    /// Look up an accepted event by id.
    fn get(&self, id: &str) -> BoxFuture<'static, Result<Option<Event>, IntakeError>>;
}
