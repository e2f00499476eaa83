//! [`Staged`]: the archive and metadata writes a plugin made during a call,
//! held until the call ends.

use std::time::Duration;

use trailmark_backend_api::{BackendError, ChangeRecord};

/// A body a plugin stored during the current call, written to the archive
/// when the call ends.
pub(crate) struct StagedPut {
    /// The delivery it was stored for.
    pub(crate) index: u32,
    pub(crate) key: String,
    pub(crate) body: Vec<u8>,
    pub(crate) content_type: String,
}

/// The archive and metadata writes of the current call. They are checked
/// when the plugin makes them and committed together when the call ends
/// (one `put_many` per store), for the deliveries the plugin answered: a
/// write that then fails fails its delivery (retried if transient,
/// dead-lettered if invalid). Writes for deliveries left unanswered (the
/// instance trapped) are dropped: those deliveries run again.
///
/// It also holds the `http.send` calls that failed: a delivery whose call
/// failed cannot be answered `ok` (the host, not the plugin, decides that a
/// 429 is retried and a 404 is not delivered).
#[derive(Default)]
pub(crate) struct Staged {
    pub(crate) archive: Vec<StagedPut>,
    pub(crate) metadata: Vec<(u32, ChangeRecord)>,
    /// Failed `http.send` calls: the delivery, what was called, why.
    pub(crate) http_failures: Vec<(u32, String, BackendError)>,
    /// The longest `Retry-After` a destination answered during the call:
    /// the deliveries of the call that end in a retry wait at least this.
    pub(crate) retry_after: Option<Duration>,
}
