//! An offline run of a rule set's correlation rules over a file of timed
//! events, one EventBridge envelope per line: what `trailmark rules test
//! --events` prints.

use serde_json::{Map, Value};
use trailmark_correlate::{Engine, EngineError, Event, Fire, Limits, RuleStats};
use trailmark_event::ParsedEvent;

use super::fields::{EventFields, event_time};
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
        let Value::Object(envelope) = envelope else {
            return Err(bad(
                "an event is a JSON object (an EventBridge envelope)".into()
            ));
        };
        if !envelope.get("id").is_some_and(Value::is_string) {
            return Err(bad(
                "the event has no `id` (fires list their events by id)".into()
            ));
        }
        // As the server holds it, so that fields and time are read the same
        // way offline and in the server.
        let event = ParsedEvent::new(lenient_event(&envelope));
        let time = event_time(&event, time_path).ok_or_else(|| {
            bad(format!(
                "the event has no time: neither `{time_path}` (epoch ms or RFC 3339) nor `time`"
            ))
        })?;
        events += 1;
        if is_fire(event.event()) {
            continue;
        }
        let matched = set
            .matching_all(line.as_bytes())
            .map_err(|e| bad(format!("cannot be matched: {e}")))?;
        let names: Vec<&str> = matched.iter().map(|r| r.rule.name.as_str()).collect();
        let fields = EventFields(&event);
        let event = Event {
            id: &event.event().id,
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

/// An envelope of a timeline as an event: a key that is missing or not a
/// string is empty (offline, only `id` and a time are required), and the
/// detail is its JSON text.
fn lenient_event(envelope: &Map<String, Value>) -> trailmark_backends::Event {
    let text = |key: &str| {
        envelope
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    trailmark_backends::Event {
        id: text("id"),
        version: "0".to_owned(),
        source: text("source"),
        detail_type: text("detail-type"),
        time: text("time"),
        account: text("account"),
        region: text("region"),
        resources: Vec::new(),
        detail: envelope
            .get("detail")
            .map_or_else(|| "{}".to_owned(), Value::to_string),
    }
}
