//! The correlation stage between the matcher and dispatch: the rule set's
//! correlation rules, fed each event that matched a rule they count, and
//! the fires they produce, as events to journal.
//!
//! Off the hot path: with no correlation rule loaded, or for an event that
//! matched no rule a correlation counts, [`Correlator::observe`] is one
//! lookup per matched rule. An event a correlation counts is read as the
//! host parsed it at ingest ([`ParsedEvent`]): one lookup per group-by path,
//! no parse of the event per rule.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use tracing::{info, warn};
use trailmark_backends::Event;
use trailmark_correlate::{Engine, Fire, Limits, Millis, RuleStats};
use trailmark_event::ParsedEvent;
use trailmark_journal::Journal;

use super::envelope;
use super::records::{EventRecord, kind};
use crate::correlation::{
    CorrelationSettings, EventFields, FireOrigin, SavedWindows, event_time, fire_event, is_fire,
};
use crate::rules::RuleSet;

/// The correlation rules in force and their state.
pub struct Correlator {
    engine: Mutex<Engine>,
    /// The account and region fires carry: the server's.
    origin: FireOrigin,
    /// Where event time is read (`[correlation] time-path`).
    settings: CorrelationSettings,
    /// Fires made since start, counted under the engine's lock (shared by
    /// the correlators of successive rule sets): a snapshot taken under the
    /// same lock knows how many fires must be journaled before it is saved.
    made: Arc<AtomicU64>,
}

impl Correlator {
    /// The enabled correlation rules of `set`, fresh, their fires carrying
    /// `origin`'s account and region, event time read as `settings` say.
    /// The set was checked at load, so the engine accepts it; should it
    /// not, correlation is off (logged) rather than the server down.
    /// `made` counts the fires it makes.
    pub fn new(
        set: &RuleSet,
        origin: FireOrigin,
        settings: CorrelationSettings,
        made: Arc<AtomicU64>,
    ) -> Self {
        let engine = Engine::new(set.correlations(), Limits::default()).unwrap_or_else(|e| {
            warn!(error = %e, "correlation rules refused; correlation is off");
            Engine::default()
        });
        Self {
            engine: Mutex::new(engine),
            origin,
            settings,
            made,
        }
    }

    /// The correlator for a reloaded rule set: each rule whose correlation
    /// is unchanged keeps its state (its plugin, config or grants may have
    /// changed); the others start fresh, and say so.
    pub fn reloaded(&self, set: &RuleSet) -> Self {
        let next = Self::new(
            set,
            self.origin.clone(),
            self.settings.clone(),
            self.made.clone(),
        );
        let snapshot = self.lock().snapshot();
        let restored = next.lock().restore(snapshot);
        for rule in &restored.fresh {
            info!(rule = %rule, "correlation rule starts with empty windows (new or changed)");
        }
        next
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Engine> {
        self.engine.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether no correlation rule is loaded.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Whether some correlation rule counts matches of one of `rules`.
    pub fn counts_any<'a>(&self, mut rules: impl Iterator<Item = &'a String>) -> bool {
        let engine = self.lock();
        rules.any(|r| engine.listens_to(r))
    }

    /// Feed one event, as parsed at ingest, and every rule it matched
    /// (building blocks included); returns the fire events it let through.
    /// Event time is at `[correlation] time-path` (the detail's `ts` by
    /// default; else the envelope's `time`), never later than `now`: one
    /// producer cannot push the clock ahead and make the others late.
    pub fn observe(&self, event: &ParsedEvent, matched: &[String], now: Millis) -> Vec<Event> {
        let mut engine = self.lock();
        if engine.is_empty() || !matched.iter().any(|r| engine.listens_to(r)) {
            return Vec::new();
        }
        if is_fire(event.event()) {
            // The engine fed its own fires to the correlations over them.
            return Vec::new();
        }
        let time = event_time(event, &self.settings.time_path).map_or(now, |t| t.min(now));
        let names: Vec<&str> = matched.iter().map(String::as_str).collect();
        let fields = EventFields(event);
        let fires = engine.process(
            &trailmark_correlate::Event {
                id: &event.event().id,
                time,
                fields: &fields,
            },
            &names,
        );
        self.made.fetch_add(fires.len() as u64, Relaxed);
        self.fire_events(&fires)
    }

    /// The windows' snapshot, how many fires had been made when it was
    /// taken, and what `first` returned: `first` runs once the engine is
    /// locked, before the snapshot is taken, so whatever it releases (the
    /// pipeline's gate) lets requests go on while events wait only to be
    /// correlated. (Taking the snapshot itself is cheaper than a clone of
    /// the engine: `correlate/benches/snapshot.rs`.)
    pub fn snapshot_with<T>(
        &self,
        first: impl FnOnce() -> T,
    ) -> (T, trailmark_correlate::Snapshot, u64) {
        let engine = self.lock();
        let before = first();
        let made = self.made.load(Relaxed);
        (before, engine.snapshot(), made)
    }

    fn fire_events(&self, fires: &[Fire]) -> Vec<Event> {
        fires.iter().map(|f| fire_event(f, &self.origin)).collect()
    }

    /// Rebuild the windows after a start from the journal: every event
    /// journaled within the longest timespan (plus lateness) of the loaded
    /// correlation rules (found by time, [`Journal::first_seq_at`]), matched
    /// again with `set`, in journal order, each at the time it was journaled.
    /// With `saved` windows of this journal, of the same correlations and
    /// not older than that, they are taken back and only the events after
    /// them are replayed. Returns the fires this re-creates;
    /// those journaled before the restart have the same ids, and the
    /// pipeline skips them, so a crash loses no fire and doubles none.
    pub fn catch_up(
        &self,
        journal: &Journal,
        set: &RuleSet,
        now: Millis,
        saved: Option<SavedWindows>,
    ) -> Vec<Event> {
        let mut engine = self.lock();
        let horizon = engine
            .correlations()
            .map(|c| c.timespan.saturating_add(c.lateness))
            .max();
        let Some(horizon) = horizon else {
            return Vec::new();
        };
        let since = now.saturating_sub(horizon);
        // Straight to the window's first record: reading the whole retained
        // journal made a restart's cost grow with retention, not the window.
        let window_start = journal.first_seq_at(since).unwrap_or_else(|e| {
            warn!(error = %e, "correlation catch-up reads the whole journal: its times could not be searched");
            journal.first_seq()
        });
        let start = match saved
            .map(|saved| restore_saved(&mut engine, journal, window_start, saved))
        {
            Some(Ok(through)) => {
                info!(through, "correlation windows restored from their snapshot");
                through + 1
            }
            Some(Err(why)) => {
                info!(why = %why, "correlation snapshot not used; the windows are rebuilt from the journal");
                window_start
            }
            None => window_start,
        };
        let mut fires = Vec::new();
        let mut replayed = 0u64;
        let mut bytes = Vec::new();
        for record in journal.read_from(start) {
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    warn!(error = %e, "correlation catch-up stopped at an unreadable record");
                    break;
                }
            };
            if record.kind != kind::EVENT || record.timestamp_ms < since {
                continue;
            }
            let Ok(stored) = serde_json::from_slice::<EventRecord>(&record.payload) else {
                continue;
            };
            if is_fire(&stored.event) {
                continue;
            }
            // Matched as the pipeline matched it at ingest.
            envelope::write_for_matching(&stored.event, &mut bytes);
            let Ok(matched) = set
                .matching_all(&bytes)
                .or_else(|_| set.matching_all(&envelope::to_json(&stored.event)))
            else {
                continue;
            };
            let names: Vec<&str> = matched.iter().map(|r| r.rule.name.as_str()).collect();
            if !names.iter().any(|n| engine.listens_to(n)) {
                continue;
            }
            // As the clock ticked then, so that what was late is late again.
            fires.extend(engine.advance(record.timestamp_ms));
            let event = ParsedEvent::new(stored.event);
            let time = event_time(&event, &self.settings.time_path)
                .map_or(record.timestamp_ms, |t| t.min(record.timestamp_ms));
            let fields = EventFields(&event);
            fires.extend(engine.process(
                &trailmark_correlate::Event {
                    id: &event.event().id,
                    time,
                    fields: &fields,
                },
                &names,
            ));
            replayed += 1;
        }
        if replayed > 0 {
            info!(
                events = replayed,
                from = start,
                fires = fires.len(),
                "correlation windows caught up from the journal"
            );
        }
        self.made.fetch_add(fires.len() as u64, Relaxed);
        drop(engine);
        self.fire_events(&fires)
    }

    /// Move event time to `now`: windows that closed and events whose
    /// lateness allowance passed are decided.
    pub fn advance(&self, now: Millis) -> Vec<Event> {
        let mut engine = self.lock();
        if engine.is_empty() {
            return Vec::new();
        }
        let fires = engine.advance(now);
        self.made.fetch_add(fires.len() as u64, Relaxed);
        drop(engine);
        self.fire_events(&fires)
    }

    /// Each correlation rule's counters, for `/metrics`.
    pub fn stats(&self) -> Vec<(String, RuleStats)> {
        self.lock()
            .stats()
            .into_iter()
            .map(|(name, s)| (name.to_owned(), s))
            .collect()
    }
}

/// Take `saved` back into `engine` when it is of this journal (its last
/// record is there, with the same hash), no older than the window that
/// starts at `window_start`, and of the same correlations; returns the seq
/// it covers, or why it is not used (the engine is then untouched).
fn restore_saved(
    engine: &mut Engine,
    journal: &Journal,
    window_start: u64,
    saved: SavedWindows,
) -> Result<u64, String> {
    let through = saved.through;
    if through + 1 < window_start {
        return Err(format!(
            "it covers the journal through seq {through}, before the window (from seq {window_start})"
        ));
    }
    let record = journal
        .read(through)
        .map_err(|e| format!("its last record {through} cannot be read: {e}"))?
        .ok_or_else(|| format!("its last record {through} is not in the journal"))?;
    if hex::encode(record.hash) != saved.hash {
        return Err(format!(
            "record {through} is not the one it covers (another journal, or a repaired tail)"
        ));
    }
    let mut restored = engine.clone();
    let outcome = restored.restore(saved.state);
    if !outcome.fresh.is_empty() {
        return Err(format!(
            "these correlations changed or are new: {}",
            outcome.fresh.join(", ")
        ));
    }
    *engine = restored;
    Ok(through)
}

/// One metric: name, type, help, and how to read it from a rule's stats.
type Series = (
    &'static str,
    &'static str,
    &'static str,
    fn(&RuleStats) -> u64,
);

/// The correlation counters in Prometheus text: groups (gauge), evictions,
/// late events and fires (counters since the rule's state began), per rule.
/// Empty when no correlation rule is loaded. `journaled`: fire events
/// journaled since start; `snapshots`: the seq the last saved snapshot
/// covers (0: none since start) and how many were skipped.
pub fn render_metrics(
    stats: &[(String, RuleStats)],
    journaled: u64,
    snapshots: (u64, u64),
) -> String {
    if stats.is_empty() {
        return String::new();
    }
    let (through, skipped) = snapshots;
    let mut out = format!(
        "# HELP trailmark_correlation_fires_journaled_total Fire events journaled (a fire re-created by a replay and already journaled is skipped).\n\
         # TYPE trailmark_correlation_fires_journaled_total counter\n\
         trailmark_correlation_fires_journaled_total {journaled}\n\
         # HELP trailmark_correlation_snapshot_through The journal seq the last saved correlation snapshot covers (0: none since start).\n\
         # TYPE trailmark_correlation_snapshot_through gauge\n\
         trailmark_correlation_snapshot_through {through}\n\
         # HELP trailmark_correlation_snapshots_skipped_total Correlation snapshots not saved because a fire made before them was not journaled (in time).\n\
         # TYPE trailmark_correlation_snapshots_skipped_total counter\n\
         trailmark_correlation_snapshots_skipped_total {skipped}\n"
    );
    let series: [Series; 4] = [
        (
            "trailmark_correlation_groups",
            "gauge",
            "Groups with an open window, per correlation rule.",
            |s| s.groups,
        ),
        (
            "trailmark_correlation_evictions_total",
            "counter",
            "Groups dropped (stalest first) because the rule had too many.",
            |s| s.evictions,
        ),
        (
            "trailmark_correlation_late_events_total",
            "counter",
            "Events later than the rule's lateness allowance, skipped.",
            |s| s.late,
        ),
        (
            "trailmark_correlation_fires_total",
            "counter",
            "Fires, per correlation rule.",
            |s| s.fires,
        ),
    ];
    for (name, kind, help, value) in series {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for (rule, s) in stats {
            out.push_str(&format!("{name}{{rule=\"{rule}\"}} {}\n", value(s)));
        }
    }
    out
}
