//! One correlation rule at work: its reorder buffer (lateness), its groups
//! (bounded, stalest evicted first) and the windows that close.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::fire::{Fire, fire_id, group_values};
use crate::model::{AfterFire, Correlation, Kind, Millis, Window};
use crate::state::{
    Chain, Counted, Distinct, MAX_FIRE_EVENTS, Seen, State, Summary, temporal_summary,
};

/// How one event takes part in one correlation: which of its rules
/// (`member`, an index into `rules` then `absent`), in which group, and the
/// digest of its counted value (`value_count`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Contribution {
    pub(crate) member: usize,
    pub(crate) key: String,
    pub(crate) value: Option<u64>,
}

/// A group's open window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Group {
    /// When the window began (tumbling bucket, session or absence anchor).
    start: Millis,
    /// The last instant that still belongs to the window; after it the
    /// window closes (and sliding state is useless).
    deadline: Millis,
    /// The last event of `rules` time (for the fire).
    last: Millis,
    /// Absence: a window is open (not cancelled).
    open: bool,
    /// Absence: the latest cancelling event.
    last_absent: Option<Millis>,
    state: State,
}

/// Counters for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleStats {
    /// Groups with an open window now.
    pub groups: u64,
    /// Groups dropped, stalest first, because the rule had too many.
    pub evictions: u64,
    /// Events that came later than the lateness allowance, skipped.
    pub late: u64,
    /// Fires.
    pub fires: u64,
}

/// Everything a runner holds between events; what a snapshot keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RunnerState {
    /// Latest time seen (events and `advance`).
    clock: Option<Millis>,
    /// Every event before this time has been correlated; an event before it
    /// now is late.
    frontier: Option<Millis>,
    /// Events waiting for the lateness allowance to pass, in (time, id)
    /// order so that their arrival order does not matter.
    #[serde(with = "as_pairs")]
    pending: BTreeMap<(Millis, String), Vec<Contribution>>,
    groups: BTreeMap<String, Group>,
    /// Group → fire time before which it stays quiet (`suppress`).
    suppressed: BTreeMap<String, Millis>,
    stats: RuleStats,
}

/// One correlation and its state.
#[derive(Debug, Clone)]
pub(crate) struct Runner {
    pub(crate) corr: Correlation,
    max_groups: usize,
    max_pending: usize,
    keep: usize,
    pub(crate) state: RunnerState,
    /// Groups by key, shared with the deadline index.
    groups: HashMap<Arc<str>, Group>,
    /// (deadline, key): which windows close first; also the eviction order.
    deadlines: BTreeSet<(Millis, Arc<str>)>,
    /// (until, key) for `suppressed`, to prune what has passed.
    suppress_index: BTreeSet<(Millis, Arc<str>)>,
    suppressed: HashMap<Arc<str>, Millis>,
}

impl Runner {
    pub(crate) fn new(corr: Correlation, max_groups: usize, max_pending: usize) -> Self {
        let sliding = corr.window == Window::Sliding;
        let keep = if sliding && !corr.is_absence() {
            corr.condition.need()
        } else {
            corr.condition.saturation()
        };
        let keep = match corr.kind {
            // A total is kept apart; remembered events only name the fire.
            Kind::EventCount if !sliding || corr.is_absence() => MAX_FIRE_EVENTS as u64,
            _ => keep,
        };
        Self {
            corr,
            max_groups: max_groups.max(1),
            max_pending: max_pending.max(1),
            keep: usize::try_from(keep).unwrap_or(usize::MAX),
            state: RunnerState::default(),
            groups: HashMap::new(),
            deadlines: BTreeSet::new(),
            suppress_index: BTreeSet::new(),
            suppressed: HashMap::new(),
        }
    }

    pub(crate) fn stats(&self) -> RuleStats {
        RuleStats {
            groups: self.groups.len() as u64,
            ..self.state.stats
        }
    }

    /// The state to snapshot.
    pub(crate) fn snapshot(&self) -> RunnerState {
        let mut state = self.state.clone();
        state.groups = self
            .groups
            .iter()
            .map(|(k, g)| (k.to_string(), g.clone()))
            .collect();
        state.suppressed = self
            .suppressed
            .iter()
            .map(|(k, t)| (k.to_string(), *t))
            .collect();
        state
    }

    /// Take a snapshot's state.
    pub(crate) fn restore(&mut self, mut state: RunnerState) {
        self.groups.clear();
        self.deadlines.clear();
        self.suppressed.clear();
        self.suppress_index.clear();
        for (k, g) in std::mem::take(&mut state.groups) {
            let k: Arc<str> = k.into();
            self.deadlines.insert((g.deadline, k.clone()));
            self.groups.insert(k, g);
        }
        for (k, t) in std::mem::take(&mut state.suppressed) {
            let k: Arc<str> = k.into();
            self.suppress_index.insert((t, k.clone()));
            self.suppressed.insert(k, t);
        }
        self.state = state;
    }

    /// Take one event; fires for everything its arrival let through.
    pub(crate) fn offer(
        &mut self,
        time: Millis,
        id: &str,
        contributions: Vec<Contribution>,
        fires: &mut Vec<Fire>,
    ) {
        if self.state.frontier.is_some_and(|f| time < f) {
            self.state.stats.late += 1;
            return;
        }
        self.state
            .pending
            .entry((time, id.to_owned()))
            .or_insert(contributions);
        self.state.clock = Some(self.state.clock.map_or(time, |c| c.max(time)));
        self.release(fires);
    }

    /// Move event time to `now` (never back).
    pub(crate) fn advance(&mut self, now: Millis, fires: &mut Vec<Fire>) {
        self.state.clock = Some(self.state.clock.map_or(now, |c| c.max(now)));
        self.release(fires);
    }

    /// Correlate what is pending and close every window, as if time ran out.
    pub(crate) fn flush(&mut self, fires: &mut Vec<Fire>) {
        self.release_before(Millis::MAX, fires);
    }

    fn release(&mut self, fires: &mut Vec<Fire>) {
        let Some(clock) = self.state.clock else {
            return;
        };
        let mut to = clock.saturating_sub(self.corr.lateness);
        // Bounded buffer: past the cap, the earliest go through early.
        if self.state.pending.len() > self.max_pending
            && let Some(((t, _), _)) = self
                .state
                .pending
                .iter()
                .nth(self.state.pending.len() - self.max_pending)
        {
            to = to.max(*t);
        }
        self.release_before(to, fires);
    }

    /// Correlate every pending event before `to`, in (time, id) order, and
    /// close every window whose last instant is before `to`.
    fn release_before(&mut self, to: Millis, fires: &mut Vec<Fire>) {
        if self.state.frontier.is_some_and(|f| to <= f) {
            return;
        }
        self.state.frontier = Some(to);
        while let Some(entry) = self.state.pending.first_entry() {
            if entry.key().0 >= to {
                break;
            }
            let ((time, id), contributions) = entry.remove_entry();
            self.close_before(time, fires);
            for c in contributions {
                self.apply(time, &id, c, fires);
            }
        }
        self.close_before(to, fires);
    }

    fn close_before(&mut self, t: Millis, fires: &mut Vec<Fire>) {
        while let Some((deadline, key)) = self.deadlines.first().cloned() {
            if deadline >= t {
                break;
            }
            self.deadlines.pop_first();
            if let Some(group) = self.groups.remove(&key) {
                self.close(&key, group, fires);
            }
        }
        // After the closes above, which may still be quiet.
        while let Some((until, key)) = self.suppress_index.first().cloned() {
            if until >= t {
                break;
            }
            self.suppress_index.pop_first();
            self.suppressed.remove(&key);
        }
    }

    /// A window has closed: decide a condition that needed it to.
    fn close(&mut self, key: &str, group: Group, fires: &mut Vec<Fire>) {
        let corr = &self.corr;
        let decide = if corr.is_absence() {
            group.open
        } else {
            corr.window != Window::Sliding && corr.condition.has_upper_bound()
        };
        if !decide {
            return;
        }
        let Some(summary) = self.summary(&group.state, Millis::MIN) else {
            return;
        };
        let quiet = self
            .suppressed
            .get(key)
            .is_some_and(|&until| group.deadline <= until);
        if summary.count > 0 && corr.condition.holds(summary.count) && !quiet {
            self.fire(key, summary, group.last, group.deadline, fires);
        }
    }

    fn summary(&self, state: &State, since: Millis) -> Option<Summary> {
        let sliding = since != Millis::MIN;
        match state {
            State::Count(c) => c.summary(sliding),
            State::Distinct(d) => d.summary(since),
            State::Temporal(seen) => temporal_summary(seen, since),
            State::Ordered(_) => None,
        }
    }

    fn fresh_state(&self) -> State {
        match self.corr.kind {
            Kind::EventCount => State::Count(Counted::default()),
            Kind::ValueCount { .. } => State::Distinct(Distinct::default()),
            Kind::Temporal => State::Temporal(vec![None; self.corr.rules.len()]),
            Kind::TemporalOrdered => {
                State::Ordered(vec![Default::default(); self.corr.rules.len()])
            }
        }
    }

    fn set_deadline(&mut self, key: &Arc<str>, group: &mut Group, deadline: Millis) {
        if group.deadline != deadline {
            self.deadlines.remove(&(group.deadline, key.clone()));
            group.deadline = deadline;
        }
        self.deadlines.insert((deadline, key.clone()));
    }

    fn take_group(&mut self, key: &str, t: Millis) -> (Arc<str>, Group) {
        if let Some((k, g)) = self.groups.remove_entry(key) {
            return (k, g);
        }
        if self.groups.len() >= self.max_groups
            && let Some((_, stalest)) = self.deadlines.pop_first()
        {
            self.groups.remove(&stalest);
            self.state.stats.evictions += 1;
        }
        let span = self.corr.timespan;
        let start = match self.corr.window {
            Window::Tumbling => t.div_euclid(span) * span,
            Window::Sliding | Window::Session => t,
        };
        let group = Group {
            start,
            deadline: Millis::MIN,
            last: t,
            open: false,
            last_absent: None,
            state: self.fresh_state(),
        };
        (key.into(), group)
    }

    fn apply(&mut self, t: Millis, id: &str, c: Contribution, fires: &mut Vec<Fire>) {
        let (key, mut group) = self.take_group(&c.key, t);
        let span = self.corr.timespan;
        let seen = Seen {
            time: t,
            id: id.to_owned(),
        };
        let keep = self.keep;
        let sliding = self.corr.window == Window::Sliding;
        let since = if sliding {
            t.saturating_sub(span)
        } else {
            Millis::MIN
        };
        let mut deadline = match self.corr.window {
            Window::Tumbling => group.start.saturating_add(span - 1),
            Window::Sliding | Window::Session => t.saturating_add(span),
        };
        let mut fire = None;
        if self.corr.is_absence() {
            if c.member >= self.corr.rules.len() {
                group.last_absent = Some(t);
                group.open = false;
                group.state = self.fresh_state();
                deadline = t;
            } else if group.last_absent != Some(t) {
                if !group.open {
                    group.open = true;
                    group.start = t;
                    group.state = self.fresh_state();
                }
                group.last = t;
                if let State::Count(counted) = &mut group.state {
                    counted.add(seen, keep, Millis::MIN);
                }
                deadline = group.start.saturating_add(span);
            } else {
                deadline = group.deadline;
            }
        } else {
            group.last = t;
            match &mut group.state {
                State::Count(counted) => counted.add(seen, keep, since),
                State::Distinct(distinct) => {
                    if let Some(digest) = c.value {
                        distinct.add(digest, seen, keep, sliding);
                    }
                }
                State::Temporal(latest) => latest[c.member] = Some(seen),
                State::Ordered(steps) => {
                    let chain = if c.member == 0 {
                        Some(Chain {
                            start: t,
                            ids: vec![id.to_owned()],
                        })
                    } else {
                        steps[c.member - 1]
                            .before(t)
                            .filter(|chain| chain.start >= since)
                            .map(|chain| {
                                let mut ids = chain.ids.clone();
                                ids.push(id.to_owned());
                                Chain {
                                    start: chain.start,
                                    ids,
                                }
                            })
                    };
                    match chain {
                        Some(chain) if c.member + 1 == steps.len() => {
                            fire = Some(Summary {
                                count: steps.len() as u64,
                                first: chain.start,
                                ids: chain.ids,
                            });
                        }
                        Some(chain) => steps[c.member].record(t, chain),
                        None => {}
                    }
                }
            }
            // Counted first, without building the fire's list of ids: most
            // events do not fire.
            if fire.is_none()
                && !self.corr.condition.has_upper_bound()
                && self.corr.condition.holds(count(&group.state, since))
            {
                fire = self.summary(&group.state, since);
            }
        }
        let mut keep_group = true;
        if let Some(summary) = fire
            && self.suppressed.get(&key).is_none_or(|&until| t > until)
        {
            self.fire(&key, summary, t, t, fires);
            if self.corr.after_fire == AfterFire::Reset {
                group.state = self.fresh_state();
                keep_group = !sliding;
            }
        }
        if keep_group {
            self.set_deadline(&key, &mut group, deadline);
            self.groups.insert(key, group);
        } else {
            self.deadlines.remove(&(group.deadline, key));
        }
    }

    fn fire(
        &mut self,
        key: &str,
        summary: Summary,
        last: Millis,
        at: Millis,
        fires: &mut Vec<Fire>,
    ) {
        let corr = &self.corr;
        let id = fire_id(&corr.name, key, summary.first, last, at);
        let group = corr
            .group_by
            .iter()
            .cloned()
            .zip(group_values(key))
            .collect();
        self.state.stats.fires += 1;
        if let AfterFire::Suppress(d) = corr.after_fire {
            let until = at.saturating_add(d);
            let key: Arc<str> = key.into();
            if let Some(old) = self.suppressed.insert(key.clone(), until) {
                self.suppress_index.remove(&(old, key.clone()));
            }
            self.suppress_index.insert((until, key));
        }
        fires.push(Fire {
            at,
            rule: corr.name.clone(),
            id,
            group,
            count: summary.count,
            first: summary.first,
            last,
            events: summary.ids,
        });
    }
}

/// What a group's state counts at `since` (see [`Runner::summary`]), with
/// no allocation.
fn count(state: &State, since: Millis) -> u64 {
    let sliding = since != Millis::MIN;
    match state {
        State::Count(c) if sliding => c.recent.len() as u64,
        State::Count(c) => c.total,
        State::Distinct(d) => d.values.iter().filter(|(_, s)| s.time >= since).count() as u64,
        State::Temporal(seen) => seen.iter().flatten().filter(|s| s.time >= since).count() as u64,
        State::Ordered(_) => 0,
    }
}

/// A map with tuple keys as a list of pairs: JSON keys must be strings.
mod as_pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<K: Serialize, V: Serialize, S: Serializer>(
        map: &BTreeMap<K, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter())
    }

    pub(super) fn deserialize<'de, K, V, D>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}
