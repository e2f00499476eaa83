//! Replay: re-deliver journaled events accepted in a time range to the rules
//! they match now (all, or one), as EventBridge's archive replay does.

use std::sync::Arc;

use trailmark_backends::Event;
use trailmark_event::ParsedEvent;
use trailmark_journal::JournalError;

use super::envelope;
use super::pipeline::Pipeline;
use super::records::{EventRecord, kind};

/// Why a replay could not be done.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The rule named does not exist.
    #[error("no rule named `{0}`")]
    NoSuchRule(String),
    /// Reading the journal failed.
    #[error("reading the journal: {0}")]
    Journal(#[from] JournalError),
    /// Matching an event failed (a bug: journaled events are valid).
    #[error("matching a journaled event: {0}")]
    Match(String),
    /// Journaling the reopen records failed.
    #[error("journaling the replay: {0}")]
    Reopen(String),
}

/// What a replay queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Replayed {
    /// Events that matched at least one rule.
    pub events: usize,
    /// Deliveries queued (events × the rules each matched).
    pub deliveries: usize,
}

/// Re-deliver events accepted in `since..until` (ms since the epoch) to the
/// rules they match now, or only to `only`. Each delivery is journaled as
/// reopened first, so it survives a crash like any other.
pub async fn replay(
    pipeline: &Arc<Pipeline>,
    since: i64,
    until: i64,
    only: Option<String>,
    now: i64,
) -> Result<Replayed, ReplayError> {
    if let Some(rule) = &only
        && pipeline.rules().set.get(rule).is_none()
    {
        return Err(ReplayError::NoSuchRule(rule.clone()));
    }
    // Collect first (blocking journal reads), then reopen and queue.
    let scan = pipeline.clone();
    let found =
        tokio::task::spawn_blocking(move || scan_range(&scan, since, until, only.as_deref()))
            .await
            .map_err(|e| ReplayError::Match(e.to_string()))??;
    let mut deliveries = 0;
    for (seq, event, rules) in &found {
        for rule in rules {
            pipeline
                .journal_reopen(*seq, rule, "replay")
                .await
                .map_err(|e| ReplayError::Reopen(e.to_string()))?;
        }
        let parsed = ParsedEvent::new(event.clone()).with_matched(rules.clone());
        pipeline.deliver(*seq, Arc::new(parsed), now, rules);
        deliveries += rules.len();
    }
    tracing::info!(events = found.len(), deliveries, "journal replay queued");
    Ok(Replayed {
        events: found.len(),
        deliveries,
    })
}

/// The events in the time range with the rules (all, or `only`) they match.
fn scan_range(
    pipeline: &Pipeline,
    since: i64,
    until: i64,
    only: Option<&str>,
) -> Result<Vec<(u64, Event, Vec<String>)>, ReplayError> {
    let journal = pipeline.journal();
    let active = pipeline.rules();
    let mut out = Vec::new();
    for record in journal.read_from(journal.first_seq()) {
        let record = record?;
        if record.kind != kind::EVENT || record.timestamp_ms < since || record.timestamp_ms >= until
        {
            continue;
        }
        let Ok(er) = serde_json::from_slice::<EventRecord>(&record.payload) else {
            continue;
        };
        let json = envelope::to_json(&er.event);
        let rules: Vec<String> = active
            .set
            .matching(&json)
            .map_err(|e| ReplayError::Match(e.to_string()))?
            .into_iter()
            .map(|r| r.rule.name.clone())
            .filter(|n| only.is_none_or(|o| o == n))
            .collect();
        if !rules.is_empty() {
            out.push((record.seq, er.event, rules));
        }
    }
    Ok(out)
}
