//! Every correlation rule of a rule set, fed by the matcher's output:
//! `process(event, matched) -> fires`, `advance(time) -> fires`,
//! `snapshot`/`restore`.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use crate::event_id::EventId;
use crate::fire::{Fire, key_part_len, push_key_part, value_digest};
use crate::model::{Correlation, Kind, Millis, Problem};
use crate::runner::{Contribution, Contributions, RuleStats, Runner, RunnerState};

/// Most groups one correlation rule keeps by default.
pub const DEFAULT_MAX_GROUPS: usize = 100_000;

/// Most events one correlation rule holds back for lateness by default.
pub const DEFAULT_MAX_PENDING: usize = 100_000;

/// Field lookup on an event: the value at a path (`detail.author`) as text,
/// or `None` when the event has no such field. The host implements it over
/// JSON; tests over a map.
pub trait Fields {
    /// The value at `path`.
    fn field(&self, path: &str) -> Option<Cow<'_, str>>;
}

impl Fields for BTreeMap<String, String> {
    fn field(&self, path: &str) -> Option<Cow<'_, str>> {
        self.get(path).map(|v| Cow::Borrowed(v.as_str()))
    }
}

/// One event as correlation sees it.
#[derive(Clone, Copy)]
pub struct Event<'a> {
    /// Its id (fires list the ids of their events).
    pub id: &'a str,
    /// Its event time, in milliseconds since the epoch.
    pub time: Millis,
    /// Its fields.
    pub fields: &'a dyn Fields,
}

/// Engine limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most groups per correlation rule; past it the stalest (the window
    /// that would close first) is dropped and counted.
    pub max_groups: usize,
    /// Most events per rule held back for lateness; past it the earliest
    /// are correlated early (and events before them become late).
    pub max_pending: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_groups: DEFAULT_MAX_GROUPS,
            max_pending: DEFAULT_MAX_PENDING,
        }
    }
}

/// Why a set of correlations cannot run together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// One correlation is not valid.
    #[error("correlation `{rule}`: {problem}")]
    Invalid {
        /// The correlation rule.
        rule: String,
        /// What is wrong.
        problem: Problem,
    },
    /// A correlation over another's fires allows less lateness than it:
    /// that one's fires would come too late to count.
    #[error(
        "correlation `{rule}` counts fires of `{inner}`, whose lateness allowance is larger \
         ({inner_lateness} ms against {lateness} ms); give `{rule}` at least `{inner}`'s"
    )]
    Lateness {
        /// The correlation over fires.
        rule: String,
        /// Its allowance.
        lateness: Millis,
        /// The correlation it counts.
        inner: String,
        /// That one's allowance.
        inner_lateness: Millis,
    },
    /// Correlations name each other in a loop.
    #[error("correlations name each other in a cycle: {}", cycle.join(" → "))]
    Cycle {
        /// The rule names around the loop, the first repeated at the end.
        cycle: Vec<String>,
    },
}

/// The state of every correlation, to store and restore.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    rules: BTreeMap<String, (Correlation, RunnerState)>,
}

/// What [`Engine::restore`] did with each rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Restored {
    /// Rules whose state was taken back.
    pub kept: Vec<String>,
    /// Rules that start fresh because their correlation changed (or is new).
    pub fresh: Vec<String>,
}

/// Correlation rules and their state.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    runners: Vec<Runner>,
    /// Rule name → (runner, member index): who listens to a rule's matches.
    listeners: HashMap<String, Vec<(usize, usize)>>,
    /// Per runner, per member: the field paths its events are read at
    /// (aliases resolved once, here, not per event).
    paths: Vec<Vec<MemberPaths>>,
    /// Runner indices in an order where a correlation comes after every
    /// correlation it names (fires feed later ones).
    order: Vec<usize>,
}

impl Engine {
    /// An engine for these correlations, each checked, with no loops.
    pub fn new(correlations: Vec<Correlation>, limits: Limits) -> Result<Self, EngineError> {
        for c in &correlations {
            if let Some(problem) = c.check().into_iter().next() {
                return Err(EngineError::Invalid {
                    rule: c.name.clone(),
                    problem,
                });
            }
        }
        let order = topological_order(&correlations)?;
        for outer in &correlations {
            for inner in &correlations {
                if outer.members().any(|m| m == inner.name) && inner.lateness > outer.lateness {
                    return Err(EngineError::Lateness {
                        rule: outer.name.clone(),
                        lateness: outer.lateness,
                        inner: inner.name.clone(),
                        inner_lateness: inner.lateness,
                    });
                }
            }
        }
        let mut listeners: HashMap<String, Vec<(usize, usize)>> = HashMap::new();
        for (i, c) in correlations.iter().enumerate() {
            for (m, rule) in c.members().enumerate() {
                listeners.entry(rule.to_owned()).or_default().push((i, m));
            }
        }
        let paths = correlations
            .iter()
            .map(|c| {
                c.members()
                    .enumerate()
                    .map(|(m, rule)| MemberPaths::of(c, m, rule))
                    .collect()
            })
            .collect();
        let runners = correlations
            .into_iter()
            .map(|c| Runner::new(c, limits.max_groups, limits.max_pending))
            .collect();
        Ok(Self {
            runners,
            listeners,
            paths,
            order,
        })
    }

    /// Whether no correlation is loaded (then nothing needs calling).
    pub fn is_empty(&self) -> bool {
        self.runners.is_empty()
    }

    /// Whether some correlation counts matches of `rule`.
    pub fn listens_to(&self, rule: &str) -> bool {
        self.listeners.contains_key(rule)
    }

    /// The correlations loaded.
    pub fn correlations(&self) -> impl Iterator<Item = &Correlation> {
        self.runners.iter().map(Runner::corr)
    }

    /// Take one event and the names of the rules it matched. Returns the
    /// fires it let through (its own, or earlier events' once the lateness
    /// allowance has passed), including fires of correlations over fires.
    ///
    /// An event no correlation listens to costs one lookup per matched rule
    /// and moves no clock.
    pub fn process(&mut self, event: &Event<'_>, matched: &[&str]) -> Vec<Fire> {
        let mut by_runner = self.contributions(event.fields, matched);
        let mut fires = Vec::new();
        if by_runner.is_empty() {
            return fires;
        }
        let id = EventId::new(event.id);
        // Every rule's time moves to the event's, those named by others
        // first, so that a fire reaches the correlations over it before
        // their own clocks pass it.
        for k in 0..self.order.len() {
            let i = self.order[k];
            let mut out = Vec::new();
            match by_runner.iter().position(|(r, _)| *r == i) {
                Some(at) => {
                    let (_, mut contributions) = by_runner.swap_remove(at);
                    // Member order, whatever order the matcher named the
                    // rules in: an event of both `rules` and `absent` opens,
                    // then cancels.
                    contributions.sort_by_key(|c| c.member);
                    self.runners[i].offer(event.time, &id, contributions, &mut out);
                }
                None => self.runners[i].advance(event.time, &mut out),
            }
            self.cascade(out, &mut fires);
        }
        fires
    }

    /// Each listening runner and how the event takes part in it (an empty
    /// list when a group-by field is missing: its clock still moves).
    fn contributions(
        &self,
        fields: &dyn Fields,
        matched: &[&str],
    ) -> SmallVec<[(usize, Contributions); 1]> {
        let mut by_runner: SmallVec<[(usize, Contributions); 1]> = SmallVec::new();
        for rule in matched {
            for &(runner, member) in self.listeners.get(*rule).into_iter().flatten() {
                let at = match by_runner.iter().position(|(r, _)| *r == runner) {
                    Some(at) => at,
                    None => {
                        by_runner.push((runner, Contributions::new()));
                        by_runner.len() - 1
                    }
                };
                if let Some(c) = self.paths[runner][member].contribution(member, fields) {
                    by_runner[at].1.push(c);
                }
            }
        }
        by_runner
    }

    /// Move event time to `now`: windows that closed before it and events
    /// whose lateness allowance has passed are decided.
    pub fn advance(&mut self, now: Millis) -> Vec<Fire> {
        let mut fires = Vec::new();
        for k in 0..self.order.len() {
            let i = self.order[k];
            let mut out = Vec::new();
            self.runners[i].advance(now, &mut out);
            self.cascade(out, &mut fires);
        }
        fires
    }

    /// Decide everything, as if time ran out: for an offline run over a
    /// finished file of events.
    pub fn flush(&mut self) -> Vec<Fire> {
        let mut fires = Vec::new();
        for k in 0..self.order.len() {
            let i = self.order[k];
            let mut out = Vec::new();
            self.runners[i].flush(&mut out);
            self.cascade(out, &mut fires);
        }
        fires
    }

    /// Each rule's counters.
    pub fn stats(&self) -> Vec<(&str, RuleStats)> {
        self.runners
            .iter()
            .map(|r| (r.corr().name.as_str(), r.stats()))
            .collect()
    }

    /// Every rule's state, with the correlation it belongs to.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            rules: self
                .runners
                .iter()
                .map(|r| (r.corr().name.clone(), (r.corr().clone(), r.snapshot())))
                .collect(),
        }
    }

    /// Take back the state of every rule whose correlation is unchanged
    /// (name, rules, windows, conditions: everything but its plugin, config
    /// and grants, which are not part of it); others start fresh.
    pub fn restore(&mut self, mut snapshot: Snapshot) -> Restored {
        let mut restored = Restored::default();
        for runner in &mut self.runners {
            match snapshot.rules.remove(&runner.corr().name) {
                Some((corr, state)) if corr == *runner.corr() => {
                    runner.restore(state);
                    restored.kept.push(corr.name);
                }
                _ => restored.fresh.push(runner.corr().name.clone()),
            }
        }
        restored
    }

    /// Feed fires to the correlations that name their rule (later in
    /// `order`, not yet moved to the current time), and collect all of them.
    fn cascade(&mut self, fires: Vec<Fire>, out: &mut Vec<Fire>) {
        for fire in fires {
            let fields: BTreeMap<String, String> = fire.group.iter().cloned().collect();
            let by_runner = self.contributions(&fields, &[fire.rule.as_str()]);
            let (at, id) = (fire.at, EventId::new(&fire.id));
            out.push(fire);
            for (j, mut contributions) in by_runner {
                contributions.sort_by_key(|c| c.member);
                let mut more = Vec::new();
                self.runners[j].offer(at, &id, contributions, &mut more);
                self.cascade(more, out);
            }
        }
    }
}

/// Where one member rule's events are read: each `group-by` field and the
/// counted field (`value_count`), aliases resolved.
#[derive(Debug, Clone)]
struct MemberPaths {
    group: Vec<String>,
    value: Option<String>,
}

impl MemberPaths {
    fn of(corr: &Correlation, member: usize, rule: &str) -> Self {
        Self {
            group: corr
                .group_by
                .iter()
                .map(|name| corr.field_for(name, rule).to_owned())
                .collect(),
            value: match &corr.kind {
                Kind::ValueCount { field } if member < corr.rules.len() => {
                    Some(corr.field_for(field, rule).to_owned())
                }
                _ => None,
            },
        }
    }

    /// How an event of this member takes part: its group (every `group-by`
    /// field present) and counted value; `None` when a field is missing, so
    /// the event cannot be placed. One lookup per path; the key is built
    /// straight from the values the event lends, in one allocation of its
    /// exact size (growing it, then trimming it to a `Box<str>`, was three).
    fn contribution(&self, member: usize, fields: &dyn Fields) -> Option<Contribution> {
        let mut values: SmallVec<[Cow<'_, str>; 4]> = SmallVec::new();
        for path in &self.group {
            values.push(fields.field(path)?);
        }
        let len = values.iter().map(|v| key_part_len(v)).sum();
        let mut key = String::with_capacity(len);
        for v in &values {
            push_key_part(&mut key, v);
        }
        let value = match &self.value {
            Some(path) => Some(value_digest(&fields.field(path)?)),
            None => None,
        };
        Some(Contribution {
            member,
            key: key.into_boxed_str(),
            value,
        })
    }
}

/// Correlations in an order where each comes after those it names; a cycle
/// is an error naming it.
fn topological_order(correlations: &[Correlation]) -> Result<Vec<usize>, EngineError> {
    let index: HashMap<&str, usize> = correlations
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_str(), i))
        .collect();
    // 0 = unvisited, 1 = on the path, 2 = done.
    let mut mark = vec![0u8; correlations.len()];
    let mut order = Vec::new();
    fn visit(
        i: usize,
        correlations: &[Correlation],
        index: &HashMap<&str, usize>,
        mark: &mut [u8],
        path: &mut Vec<usize>,
        order: &mut Vec<usize>,
    ) -> Result<(), EngineError> {
        match mark[i] {
            2 => return Ok(()),
            1 => {
                let from = path.iter().position(|&p| p == i).unwrap_or(0);
                let mut cycle: Vec<String> = path[from..]
                    .iter()
                    .map(|&p| correlations[p].name.clone())
                    .collect();
                cycle.push(correlations[i].name.clone());
                return Err(EngineError::Cycle { cycle });
            }
            _ => {}
        }
        mark[i] = 1;
        path.push(i);
        for member in correlations[i].members() {
            if let Some(&j) = index.get(member) {
                visit(j, correlations, index, mark, path, order)?;
            }
        }
        path.pop();
        mark[i] = 2;
        order.push(i);
        Ok(())
    }
    for i in 0..correlations.len() {
        visit(
            i,
            correlations,
            &index,
            &mut mark,
            &mut Vec::new(),
            &mut order,
        )?;
    }
    Ok(order)
}
