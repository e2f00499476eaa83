//! The intake that seals subject values before the pipeline sees the events.

use std::sync::Arc;

use trailmark_backends::Event;

use super::Subjects;
use crate::ingest::{BoxFuture, Intake, IntakeError};

/// Seals every producer event's subject values, then hands them on. The host's
/// own records (refusals, admin actions, access records) are passed as they
/// are: their author is a credential's name, not a data subject.
pub struct SealingIntake {
    /// The intake the sealed events go to.
    pub inner: Arc<dyn Intake>,
    /// The subject paths and keys.
    pub subjects: Arc<Subjects>,
}

impl Intake for SealingIntake {
    fn submit(&self, events: Vec<Event>) -> BoxFuture<'static, Result<(), IntakeError>> {
        let subjects = self.subjects.clone();
        let inner = self.inner.clone();
        Box::pin(async move {
            // Off the async threads: a new subject's key is created and fsynced.
            let sealed = tokio::task::spawn_blocking(move || {
                events
                    .into_iter()
                    .map(|e| subjects.seal_event(e))
                    .collect::<Result<Vec<Event>, _>>()
            })
            .await
            .map_err(|e| IntakeError::Unavailable(e.to_string()))?;
            match sealed {
                Ok(events) => inner.submit(events).await,
                Err(e) => {
                    tracing::error!(error = %e, "sealing subject values failed; events refused");
                    Err(IntakeError::Unavailable(e.to_string()))
                }
            }
        })
    }

    fn submit_host(&self, events: Vec<Event>) -> BoxFuture<'static, Result<(), IntakeError>> {
        self.inner.submit_host(events)
    }

    fn submit_access(&self, events: Vec<Event>) -> BoxFuture<'static, Result<(), IntakeError>> {
        self.inner.submit_access(events)
    }

    fn get(&self, id: &str) -> BoxFuture<'static, Result<Option<Event>, IntakeError>> {
        self.inner.get(id)
    }
}
