//! Journal retention: drop segments whose events are all delivered and older
//! than the retention period, with their entries in the event index. Each cut
//! is recorded in the chain first ([`Journal::retention_cut`]), so `trailmark
//! verify` reports the journal's late start as a retention cut.
//!
//! [`Journal::retention_cut`]: trailmark_journal::Journal::retention_cut

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Result, bail};
use tracing::{info, warn};

use super::pipeline::Pipeline;
use trailmark_backend_api::when::now_ms;

/// Drop journal segments whose events are all delivered (none in memory or
/// still to be read back by a lane) and older than the retention period.
/// `lake`: the first record the lake exporter still needs, when the lake is
/// on: it and the records after it are kept until they are in the lake.
pub(crate) async fn retention_loop(
    pipeline: Arc<Pipeline>,
    retention: Duration,
    lake: Option<Arc<AtomicU64>>,
) {
    // Once a minute, or more often for a retention shorter than 4 minutes.
    let every = (retention / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let p = pipeline.clone();
        let hold = lake.as_ref().map(|l| l.load(Ordering::Acquire));
        let result =
            tokio::task::spawn_blocking(move || apply_retention_holding(&p, retention, hold)).await;
        match result {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => info!(segments = n, "journal retention removed old segments"),
            Ok(Err(e)) => warn!(error = %e, "journal retention failed"),
            Err(e) => warn!(error = %e, "journal retention task failed"),
        }
    }
}

#[cfg(test)]
pub(crate) fn apply_retention(pipeline: &Pipeline, retention: Duration) -> Result<usize> {
    apply_retention_holding(pipeline, retention, None)
}

/// [`apply_retention`], keeping every record from `hold` on besides.
pub(crate) fn apply_retention_holding(
    pipeline: &Pipeline,
    retention: Duration,
    hold: Option<u64>,
) -> Result<usize> {
    let journal = pipeline.journal();
    let cutoff = now_ms() - i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    // The first record young enough to keep, or the head if all are old.
    let mut keep_from = journal.head().seq + 1;
    for record in journal.read_from(journal.first_seq()) {
        let record = record?;
        if record.timestamp_ms >= cutoff {
            keep_from = record.seq;
            break;
        }
    }
    // What lanes still have to read back, then what is in memory: in this
    // order, a delivery moving from one to the other is seen in at least one.
    if let Some(lowest) = pipeline.dispatcher().lowest_behind() {
        keep_from = keep_from.min(lowest);
    }
    if let Some(lowest) = pipeline.open().lowest() {
        keep_from = keep_from.min(lowest);
    }
    if let Some(hold) = hold {
        keep_from = keep_from.min(hold);
    }
    if keep_from <= journal.first_seq() {
        return Ok(0);
    }
    if keep_from > journal.head().seq + 1 {
        bail!("retention computed a cut past the journal head");
    }
    let reason = format!(
        "retention {}s: delivered and older than the cutoff",
        retention.as_secs()
    );
    let removed = journal.retention_cut(keep_from, &reason)?;
    if removed > 0 {
        pipeline.event_index().remove_before(journal.first_seq());
    }
    Ok(removed)
}
