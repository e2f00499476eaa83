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
        // Sealed here while every subject's key is in memory (the usual
        // case: a few microseconds an event). From the first event with a
        // new subject on, the rest go to the blocking pool, where the new
        // key is created and fsynced off the async threads.
        let mut sealed = Vec::with_capacity(events.len());
        let mut events = events.into_iter();
        let mut needs_key = None;
        for mut event in events.by_ref() {
            if !self.subjects.seal_event_cached(&mut event) {
                needs_key = Some(event);
                break;
            }
            sealed.push(event);
        }
        let rest: Vec<Event> = needs_key.into_iter().chain(events).collect();
        let subjects = self.subjects.clone();
        let inner = self.inner.clone();
        Box::pin(async move {
            if !rest.is_empty() {
                let more = tokio::task::spawn_blocking(move || {
                    rest.into_iter()
                        .map(|e| subjects.seal_event(e))
                        .collect::<Result<Vec<Event>, _>>()
                })
                .await
                .map_err(|e| IntakeError::Unavailable(e.to_string()))?;
                match more {
                    Ok(more) => sealed.extend(more),
                    Err(e) => {
                        tracing::error!(error = %e, "sealing subject values failed; events refused");
                        return Err(IntakeError::Unavailable(e.to_string()));
                    }
                }
            }
            inner.submit(sealed).await
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
