//! One correlation rule at work: its reorder buffer (lateness), its groups
//! (bounded, stalest evicted first) and the windows that close.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use foldhash::fast::RandomState;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use crate::deadlines::{Deadlines, Due};
use crate::distinct::Distinct;
use crate::event_id::EventId;
use crate::fire::{Fire, fire_id, group_values};
use crate::groups::Groups;
use crate::kinds::{Absence, KindState, Update};
use crate::model::{AfterFire, Correlation, Kind, Millis, Window};
use crate::reorder::Reorder;
use crate::state::{Counted, Latest, MAX_FIRE_EVENTS, Seen, State, Step, Summary};

/// How one event takes part in one correlation, rule by rule: nearly always
/// once, kept inline (no allocation per event). A snapshot holds it as a
/// sequence, as it did a `Vec`.
pub(crate) type Contributions = SmallVec<[Contribution; 1]>;

/// How one event takes part in one correlation: which of its rules
/// (`member`, an index into `rules` then `absent`), in which group, and the
/// digest of its counted value (`value_count`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Contribution {
    pub(crate) member: usize,
    pub(crate) key: Box<str>,
    pub(crate) value: Option<u64>,
}

/// A group's open window as a snapshot holds it.
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

/// A group's open window as its runner keeps it, with its own type's state
/// (absence's flags are in [`Absence`], so other types' slots do not carry
/// them).
#[derive(Debug, Clone)]
pub(crate) struct Live<S> {
    /// When the window began (tumbling bucket, session or absence anchor).
    start: Millis,
    /// The last instant that still belongs to the window.
    deadline: Millis,
    /// The last event of `rules` time (for the fire).
    last: Millis,
    state: S,
}

impl<S: KindState> Live<S> {
    /// The form a snapshot holds.
    fn to_form(&self) -> Group {
        let absence = self.state.absence();
        Group {
            start: self.start,
            deadline: self.deadline,
            last: self.last,
            open: absence.is_some_and(|a| a.open),
            last_absent: absence.and_then(|a| a.last_absent),
            state: self.state.to_state(),
        }
    }

    /// Back from a snapshot's form. A state of another type (the snapshot
    /// was not written for this correlation) starts its window afresh.
    fn from_form(form: Group, corr: &Correlation) -> Self {
        let mut state = S::from_state(form.state).unwrap_or_else(|| S::fresh(corr));
        if let Some(absence) = state.absence_mut() {
            absence.open = form.open;
            absence.last_absent = form.last_absent;
        }
        Self {
            start: form.start,
            deadline: form.deadline,
            last: form.last,
            state,
        }
    }
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
    pending: Reorder,
    groups: BTreeMap<String, Group>,
    /// Group → fire time before which it stays quiet (`suppress`).
    suppressed: BTreeMap<String, Millis>,
    stats: RuleStats,
}

/// One correlation and its state, with a group table of its own type's
/// state (chosen once per rule, so an event pays no dispatch on the type
/// inside the runner and a slot is no larger than its type needs).
#[derive(Debug, Clone)]
pub(crate) enum Runner {
    /// `event_count`.
    Count(TypedRunner<Counted>),
    /// `event_count` with `absent:`.
    Absence(TypedRunner<Absence>),
    /// `value_count`.
    Distinct(TypedRunner<Distinct>),
    /// `temporal`.
    Temporal(TypedRunner<Latest>),
    /// `temporal_ordered`.
    Ordered(TypedRunner<Vec<Step>>),
}

/// `$body` with `$r` bound to the typed runner inside `$runner`.
macro_rules! each {
    ($runner:expr, $r:ident => $body:expr) => {
        match $runner {
            Runner::Count($r) => $body,
            Runner::Absence($r) => $body,
            Runner::Distinct($r) => $body,
            Runner::Temporal($r) => $body,
            Runner::Ordered($r) => $body,
        }
    };
}

impl Runner {
    pub(crate) fn new(corr: Correlation, max_groups: usize, max_pending: usize) -> Self {
        match corr.kind {
            Kind::EventCount if corr.is_absence() => {
                Self::Absence(TypedRunner::new(corr, max_groups, max_pending))
            }
            Kind::EventCount => Self::Count(TypedRunner::new(corr, max_groups, max_pending)),
            Kind::ValueCount { .. } => {
                Self::Distinct(TypedRunner::new(corr, max_groups, max_pending))
            }
            Kind::Temporal => Self::Temporal(TypedRunner::new(corr, max_groups, max_pending)),
            Kind::TemporalOrdered => Self::Ordered(TypedRunner::new(corr, max_groups, max_pending)),
        }
    }

    /// The correlation it runs.
    pub(crate) fn corr(&self) -> &Correlation {
        each!(self, r => &r.corr)
    }

    pub(crate) fn stats(&self) -> RuleStats {
        each!(self, r => r.stats())
    }

    /// The state to snapshot.
    pub(crate) fn snapshot(&self) -> RunnerState {
        each!(self, r => r.snapshot())
    }

    /// Take a snapshot's state.
    pub(crate) fn restore(&mut self, state: RunnerState) {
        each!(self, r => r.restore(state))
    }

    /// Take one event; fires for everything its arrival let through.
    pub(crate) fn offer(
        &mut self,
        time: Millis,
        id: &EventId,
        contributions: Contributions,
        fires: &mut Vec<Fire>,
    ) {
        each!(self, r => r.offer(time, id, contributions, fires))
    }

    /// Move event time to `now` (never back).
    pub(crate) fn advance(&mut self, now: Millis, fires: &mut Vec<Fire>) {
        each!(self, r => r.advance(now, fires))
    }

    /// Correlate what is pending and close every window, as if time ran out.
    pub(crate) fn flush(&mut self, fires: &mut Vec<Fire>) {
        each!(self, r => r.flush(fires))
    }
}

/// One correlation of a type whose groups' window state is `S`.
#[derive(Debug, Clone)]
pub(crate) struct TypedRunner<S> {
    pub(crate) corr: Correlation,
    max_groups: usize,
    max_pending: usize,
    keep: usize,
    pub(crate) state: RunnerState,
    /// The live groups, each in its slot of the table that finds it by key;
    /// a group is updated in place, so an event costs one lookup and no
    /// move.
    groups: Groups<Live<S>>,
    /// Which windows close first; also the eviction order.
    deadlines: Deadlines,
    /// (until, key) for `suppressed`, to prune what has passed.
    suppress_index: BTreeSet<(Millis, Arc<str>)>,
    suppressed: HashMap<Arc<str>, Millis, RandomState>,
}

impl<S: KindState> TypedRunner<S> {
    fn new(corr: Correlation, max_groups: usize, max_pending: usize) -> Self {
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
            groups: Groups::default(),
            deadlines: Deadlines::default(),
            suppress_index: BTreeSet::new(),
            suppressed: HashMap::default(),
        }
    }

    fn stats(&self) -> RuleStats {
        RuleStats {
            groups: self.groups.len() as u64,
            ..self.state.stats
        }
    }

    /// The state to snapshot.
    fn snapshot(&self) -> RunnerState {
        let mut state = self.state.clone();
        state.groups = self
            .groups
            .iter()
            .map(|s| (s.key.to_string(), s.group.to_form()))
            .collect();
        state.suppressed = self
            .suppressed
            .iter()
            .map(|(k, t)| (k.to_string(), *t))
            .collect();
        state
    }

    /// Take a snapshot's state.
    fn restore(&mut self, mut state: RunnerState) {
        self.groups.clear();
        self.deadlines.clear();
        self.suppressed.clear();
        self.suppress_index.clear();
        for (k, g) in std::mem::take(&mut state.groups) {
            let group = Live::from_form(g, &self.corr);
            self.insert_group(k.into(), group);
        }
        for (k, t) in std::mem::take(&mut state.suppressed) {
            let k: Arc<str> = k.into();
            self.suppress_index.insert((t, k.clone()));
            self.suppressed.insert(k, t);
        }
        self.state = state;
    }

    /// Take one event; fires for everything its arrival let through.
    fn offer(
        &mut self,
        time: Millis,
        id: &EventId,
        contributions: Contributions,
        fires: &mut Vec<Fire>,
    ) {
        if self.state.frontier.is_some_and(|f| time < f) {
            self.state.stats.late += 1;
            return;
        }
        self.state.pending.insert((time, id.clone()), contributions);
        self.state.clock = Some(self.state.clock.map_or(time, |c| c.max(time)));
        self.release(fires);
    }

    /// Move event time to `now` (never back).
    fn advance(&mut self, now: Millis, fires: &mut Vec<Fire>) {
        self.state.clock = Some(self.state.clock.map_or(now, |c| c.max(now)));
        self.release(fires);
    }

    /// Correlate what is pending and close every window, as if time ran out.
    fn flush(&mut self, fires: &mut Vec<Fire>) {
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
        while self.state.pending.first().is_some_and(|(t, _)| *t < to) {
            let Some(((time, id), contributions)) = self.state.pending.pop_first() else {
                break;
            };
            self.close_before(time, fires);
            for c in contributions {
                self.apply(time, &id, c, fires);
            }
        }
        self.close_before(to, fires);
    }

    /// The slot of the group an entry of the heap names, when the entry is
    /// that group's live one.
    fn live(&self, due: &Due) -> Option<(u32, &Live<S>)> {
        let at = self.groups.find(&due.key)?;
        self.groups
            .get(at)
            .filter(|s| Arc::ptr_eq(&s.key, &due.key) && s.queued == due.at)
            .map(|s| (at, &s.group))
    }

    /// A live entry that came up: its group's slot when the group's window
    /// really closes there; else the entry goes back in at the group's
    /// deadline.
    fn due_now(&mut self, due: Due) -> Option<(Due, u32)> {
        let (at, group) = self.live(&due)?;
        let deadline = group.deadline;
        if deadline == due.at {
            return Some((due, at));
        }
        if let Some(slot) = self.groups.get_mut(at) {
            slot.queued = deadline;
        }
        self.deadlines.push(deadline, due.key);
        None
    }

    fn close_before(&mut self, t: Millis, fires: &mut Vec<Fire>) {
        let mut closing = Vec::new();
        while let Some(due) = self.deadlines.pop_before(t) {
            if let Some((due, at)) = self.due_now(due) {
                let group = self.remove_group(at);
                closing.push((due, group));
            }
        }
        // The order an ordered index would give, whatever order the lazy
        // entries came up in.
        closing.sort_by(|a, b| a.0.cmp(&b.0));
        for (due, group) in closing {
            self.close(&due.key, group, fires);
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
    fn close(&mut self, key: &str, group: Live<S>, fires: &mut Vec<Fire>) {
        let corr = &self.corr;
        let decide = if let Some(absence) = group.state.absence() {
            absence.open
        } else {
            corr.window != Window::Sliding && corr.condition.has_upper_bound()
        };
        if !decide {
            return;
        }
        let Some(summary) = group.state.summary(Millis::MIN) else {
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

    /// A new group, its entry in the heap (none yet when its deadline is
    /// `Millis::MAX`: a group being opened).
    fn insert_group(&mut self, key: Arc<str>, group: Live<S>) -> u32 {
        let deadline = group.deadline;
        let at = self.groups.insert(key.clone(), deadline, group);
        if deadline != Millis::MAX {
            self.deadlines.push(deadline, key);
        }
        at
    }

    /// Take a group out of its slot (its heap entry goes stale).
    fn remove_group(&mut self, at: u32) -> Live<S> {
        self.groups
            .remove(at)
            .expect("a live entry names a live slot")
            .group
    }

    /// Give the group updated in slot `at` its new deadline.
    fn settle(&mut self, at: u32, deadline: Millis) {
        let slot = self
            .groups
            .get_mut(at)
            .expect("a group updated in place is in its slot");
        slot.group.deadline = deadline;
        if deadline < slot.queued {
            // Earlier than its entry (an absence cancelled, a group just
            // opened): a new entry.
            slot.queued = deadline;
            let key = slot.key.clone();
            self.deadlines.push(deadline, key);
        }
    }

    /// Stale entries (of groups reset by a fire before their window
    /// closed) come up only at their time; past twice the live ones, the
    /// heap is built again from the live groups, so it stays bounded by the
    /// group cap, not by the events of a timespan.
    fn compact_deadlines(&mut self) {
        if self.deadlines.len() > 2 * self.groups.len() + 1024 {
            let live = self.groups.iter().map(|s| Due {
                at: s.queued,
                key: s.key.clone(),
            });
            self.deadlines.rebuild(live);
        }
    }

    /// Drop the group whose window would close first.
    fn evict_stalest(&mut self) {
        while let Some(due) = self.deadlines.pop_first() {
            if let Some((_, at)) = self.due_now(due) {
                self.remove_group(at);
                self.state.stats.evictions += 1;
                return;
            }
        }
    }

    /// The slot of the group under `key`, opened when there is none. The
    /// group is updated where it is: moving it out and back (a few hundred
    /// bytes) cost a copy each way on every event.
    fn slot_for(&mut self, key: &str, t: Millis) -> u32 {
        if let Some(at) = self.groups.find(key) {
            return at;
        }
        if self.groups.len() >= self.max_groups {
            self.evict_stalest();
        }
        let span = self.corr.timespan;
        let start = match self.corr.window {
            Window::Tumbling => t.div_euclid(span) * span,
            Window::Sliding | Window::Session => t,
        };
        let group = Live {
            start,
            deadline: Millis::MIN,
            last: t,
            state: S::fresh(&self.corr),
        };
        // No heap entry until its deadline is set (`settle`): any is
        // earlier than `Millis::MAX`.
        self.groups.insert(key.into(), Millis::MAX, group)
    }

    fn apply(&mut self, t: Millis, id: &EventId, c: Contribution, fires: &mut Vec<Fire>) {
        let at = self.slot_for(&c.key, t);
        // The contribution's own copy of the key text: the slot's shared one
        // lives in another allocation, a cache miss per event to read.
        let key: &str = &c.key;
        let span = self.corr.timespan;
        let seen = Seen {
            time: t,
            id: id.clone(),
        };
        let keep = self.keep;
        let sliding = self.corr.window == Window::Sliding;
        let since = if sliding {
            t.saturating_sub(span)
        } else {
            Millis::MIN
        };
        let corr = &self.corr;
        let group = &mut self
            .groups
            .get_mut(at)
            .expect("a group found or opened is in its slot")
            .group;
        let mut deadline = match corr.window {
            Window::Tumbling => group.start.saturating_add(span - 1),
            Window::Sliding | Window::Session => t.saturating_add(span),
        };
        let update = Update {
            member: c.member,
            value: c.value,
            seen,
            keep,
            since,
            sliding,
        };
        let mut fire = None;
        if let Some(absence) = group.state.absence_mut() {
            if c.member >= corr.rules.len() {
                absence.last_absent = Some(t);
                absence.open = false;
                absence.counted = Counted::default();
                deadline = t;
            } else if absence.last_absent != Some(t) {
                if !absence.open {
                    absence.open = true;
                    group.start = t;
                    absence.counted = Counted::default();
                }
                group.last = t;
                // Every event since the window opened.
                absence.add(update);
                deadline = group.start.saturating_add(span);
            } else {
                deadline = group.deadline;
            }
        } else {
            group.last = t;
            fire = group.state.add(update);
            // Counted first, without building the fire's list of ids: most
            // events do not fire.
            if fire.is_none()
                && !corr.condition.has_upper_bound()
                && corr.condition.holds(group.state.count(since))
            {
                fire = group.state.summary(since);
            }
        }
        let mut keep_group = true;
        if let Some(summary) = fire
            && self.suppressed.get(key).is_none_or(|&until| t > until)
        {
            self.fire(key, summary, t, t, fires);
            if self.corr.after_fire == AfterFire::Reset {
                keep_group = !sliding;
                if let Some(slot) = self.groups.get_mut(at) {
                    slot.group.state = S::fresh(&self.corr);
                }
            }
        }
        if keep_group {
            self.settle(at, deadline);
        } else {
            self.remove_group(at);
            self.compact_deadlines();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Condition;

    fn offer(r: &mut TypedRunner<Counted>, t: Millis, id: &str, key: &str, fires: &mut Vec<Fire>) {
        let c = Contribution {
            member: 0,
            key: key.into(),
            value: None,
        };
        r.offer(t, &EventId::new(id), Contributions::from_elem(c, 1), fires);
    }

    #[test]
    fn groups_reset_by_fires_leave_the_deadline_heap_bounded_and_windows_closing() {
        let corr = Correlation::new(
            "c",
            Kind::EventCount,
            vec!["r".into()],
            vec!["g".into()],
            1000,
            Condition::at_least(2),
        );
        let mut r = TypedRunner::<Counted>::new(corr, 100_000, 100_000);
        let mut fires = Vec::new();
        // Each group opens (a heap entry), then fires and resets (the entry
        // goes stale).
        for (t, id) in [(10, "a"), (11, "b")] {
            for g in 0..5000 {
                offer(&mut r, t, &format!("{id}{g}"), &format!("g{g}"), &mut fires);
            }
        }
        r.advance(12, &mut fires);
        assert_eq!(fires.len(), 5000);
        assert_eq!(r.stats().groups, 0);
        assert!(
            r.deadlines.len() <= 1024 + 1,
            "stale entries were compacted: {}",
            r.deadlines.len()
        );
        // A window opened now still closes when its time comes.
        offer(&mut r, 20, "c", "1:x", &mut fires);
        r.advance(21, &mut fires);
        assert_eq!(r.stats().groups, 1);
        r.advance(20 + 1000 + 1, &mut fires);
        assert_eq!(r.stats().groups, 0);
    }

    /// At 100k groups a slot is out of the caches on nearly every event, so
    /// its size is much of an event's cost: each type's slot holds its own
    /// state only (272 bytes for every type when one enum held any type's
    /// state and the slot a hash and the key's length). Growing one past
    /// its bound is a choice to make knowingly, with a benchmark.
    #[test]
    fn each_type_s_group_slot_holds_only_its_own_state() {
        use crate::groups::Slot;
        use crate::state::Step;
        let sizes = [
            ("event_count", size_of::<Slot<Live<Counted>>>(), 192),
            ("absence", size_of::<Slot<Live<Absence>>>(), 192),
            ("value_count", size_of::<Slot<Live<Distinct>>>(), 128),
            ("temporal", size_of::<Slot<Live<Latest>>>(), 256),
            ("temporal_ordered", size_of::<Slot<Live<Vec<Step>>>>(), 128),
        ];
        for (kind, size, bound) in sizes {
            assert!(
                size <= bound,
                "{kind}: a slot of {size} bytes, over {bound}"
            );
        }
    }
}
