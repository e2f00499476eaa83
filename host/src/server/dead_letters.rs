//! Replaying and purging dead letters: what `POST /v1/admin/dlq/replay`
//! and `/v1/admin/dlq/purge` do (and so `trailmark dlq replay|purge`), and
//! what the viewer's operations page does, through the same functions.

use std::sync::Arc;

use crate::dispatch::DeadLetter;
use crate::engine::pipeline::Pipeline;

/// The dead-letter store could not be read or changed.
#[derive(Debug, thiserror::Error)]
#[error("the dead-letter store failed: {0}")]
pub struct DeadLetterStoreError(String);

/// What a replay did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Replayed {
    /// Letters taken out of the store and queued again.
    pub replayed: Vec<i64>,
    /// Letters left in the store, with why.
    pub failed: Vec<(i64, String)>,
}

/// Queue each letter's delivery again and take it out of the store.
/// A letter whose event cannot be read or whose rule is gone stays, with
/// the reason in [`Replayed::failed`].
pub async fn replay(
    pipeline: &Arc<Pipeline>,
    letters: Vec<DeadLetter>,
) -> Result<Replayed, DeadLetterStoreError> {
    let mut out = Replayed::default();
    for d in letters {
        let Ok(event) = serde_json::from_str::<trailmark_backends::Event>(&d.event) else {
            out.failed
                .push((d.id, "stored event is unreadable".to_owned()));
            continue;
        };
        if !pipeline
            .rules()
            .set
            .rules()
            .iter()
            .any(|r| r.rule.name == d.rule)
        {
            out.failed.push((
                d.id,
                format!(
                    "rule `{}` no longer exists; purge it or restore the rule",
                    d.rule
                ),
            ));
            continue;
        }
        // Journal first (a crash after this still owes the delivery), then take
        // it out of the store, then queue it: a new failure lands back in the
        // store as a fresh dead letter.
        if let Err(e) = pipeline
            .journal_reopen(d.seq, &d.rule, &format!("dead-letter replay {}", d.id))
            .await
        {
            out.failed.push((d.id, e.to_string()));
            continue;
        }
        remove(pipeline, vec![d.id]).await?;
        pipeline.deliver(
            d.seq,
            Arc::new(event.into()),
            trailmark_backend_api::when::now_ms(),
            std::slice::from_ref(&d.rule),
        );
        out.replayed.push(d.id);
    }
    tracing::info!(
        replayed = out.replayed.len(),
        failed = out.failed.len(),
        "dead letters replayed"
    );
    Ok(out)
}

/// Delete these letters from the store; how many were there.
pub async fn purge(pipeline: &Arc<Pipeline>, ids: Vec<i64>) -> Result<usize, DeadLetterStoreError> {
    let n = remove(pipeline, ids).await?;
    tracing::info!(purged = n, "dead letters purged");
    Ok(n)
}

/// The letters with these ids (those still held), in the order asked.
pub async fn get(
    pipeline: &Arc<Pipeline>,
    ids: Vec<i64>,
) -> Result<Vec<DeadLetter>, DeadLetterStoreError> {
    let store = pipeline.dispatcher().dead_letters().clone();
    tokio::task::spawn_blocking(move || {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(d) = store
                .get(id)
                .map_err(|e| DeadLetterStoreError(e.to_string()))?
            {
                out.push(d);
            }
        }
        Ok(out)
    })
    .await
    .map_err(|e| DeadLetterStoreError(e.to_string()))?
}

async fn remove(pipeline: &Arc<Pipeline>, ids: Vec<i64>) -> Result<usize, DeadLetterStoreError> {
    let store = pipeline.dispatcher().dead_letters().clone();
    tokio::task::spawn_blocking(move || store.remove(&ids))
        .await
        .map_err(|e| DeadLetterStoreError(e.to_string()))?
        .map_err(|e| DeadLetterStoreError(e.to_string()))
}
