//! An offline run of a rule set's correlation rules over a file of timed
//! events, one EventBridge envelope per line: what `trailmark rules test
//! --events` prints.

use serde_json::Value;
use trailmark_correlate::{Engine, EngineError, Event, Fire, Limits, RuleStats};

use super::fields::{JsonFields, event_time};
use super::fire_event::is_fire;
use crate::rules::RuleSet;

/// The outcome of a run.
#[derive(Debug)]
pub struct Timeline {
    /// Every fire, in the order produced.
    pub fires: Vec<Fire>,
    /// Each correlation rule's counters at the end (late events among them).
    pub stats: Vec<(String, RuleStats)>,
    /// Events read.
    pub events: u64,
}

/// Why a timeline could not be run.
#[derive(Debug, thiserror::Error)]
pub enum TimelineError {
    /// The rule set has no correlation rule.
    #[error(
        "no correlation rule in the rules given; a correlation rule has a `correlation:` section"
    )]
    NoCorrelation,
    /// The correlations cannot run together.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A line is not an event.
    #[error("line {line}: {reason}")]
    BadEvent {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// Run `set`'s correlation rules over `text`, JSON Lines of envelopes in
/// arrival order; blank lines are skipped. Disabled correlation rules run
/// too. Event time is read at
/// `time_path` (else the envelope's `time`); there is no ingest clock
/// offline, so nothing is clamped. At the end every window is closed.
pub fn run_timeline(set: &RuleSet, text: &str, time_path: &str) -> Result<Timeline, TimelineError> {
    // Disabled correlation rules too: trying a rule before enabling it is
    // what an offline run is for.
    let correlations: Vec<_> = set
        .rules()
        .iter()
        .filter_map(|r| r.rule.correlation.clone())
        .collect();
    if correlations.is_empty() {
        return Err(TimelineError::NoCorrelation);
    }
    let mut engine = Engine::new(correlations, Limits::default())?;
    let mut fires = Vec::new();
    let mut events = 0;
    for (i, line) in text.lines().enumerate() {
        let bad = |reason: String| TimelineError::BadEvent {
            line: i + 1,
            reason,
        };
        if line.trim().is_empty() {
            continue;
        }
        let envelope: Value =
            serde_json::from_str(line).map_err(|e| bad(format!("not JSON: {e}")))?;
        if !envelope.is_object() {
            return Err(bad(
                "an event is a JSON object (an EventBridge envelope)".into()
            ));
        }
        let id = envelope
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("the event has no `id` (fires list their events by id)".into()))?
            .to_owned();
        let time = event_time(&envelope, time_path).ok_or_else(|| {
            bad(format!(
                "the event has no time: neither `{time_path}` (epoch ms or RFC 3339) nor `time`"
            ))
        })?;
        events += 1;
        if is_fire(&envelope) {
            continue;
        }
        let matched = set
            .matching_all(line.as_bytes())
            .map_err(|e| bad(format!("cannot be matched: {e}")))?;
        let names: Vec<&str> = matched.iter().map(|r| r.rule.name.as_str()).collect();
        let fields = JsonFields(&envelope);
        let event = Event {
            id: &id,
            time,
            fields: &fields,
        };
        fires.extend(engine.process(&event, &names));
    }
    fires.extend(engine.flush());
    let stats = engine
        .stats()
        .into_iter()
        .map(|(name, s)| (name.to_owned(), s))
        .collect();
    Ok(Timeline {
        fires,
        stats,
        events,
    })
}
