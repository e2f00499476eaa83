//! The compiled matcher: every rule's pattern in one automaton.
//!
//! Each pattern is expanded into conjunctions; each conjunction becomes a sequence of
//! steps sorted by field (`detail.author has one of these values`, `detail.x is absent`).
//! Sequences share a trie of states, as in event-ruler and quamina: rules that test the
//! same field the same way share one state, and a state holds, per field, a
//! [`FieldIndex`] that turns an event value into the next states with hash lookups and
//! sorted ranges. Matching collects the event's leaves for the fields some pattern uses
//! (a key trie skips every other subtree), then walks the automaton depth-first. The walk
//! carries the array positions of the values it used, and only takes a value that is
//! array-consistent with them.

use crate::ast::Cond;
use crate::dnf::Conj;
use crate::error::EventError;
use crate::hash::FxHashMap;
use crate::index::FieldIndex;
use crate::interpret::consistent;
use crate::leaf::Leaf;
use crate::pattern::Pattern;
use crate::scan;
use serde_json::Value;
use std::cell::RefCell;
use std::sync::Arc;

/// A node of the key trie over field paths.
#[derive(Debug, Default)]
pub(crate) struct KeyNode {
    pub children: FxHashMap<String, u32>,
    pub field: Option<u32>,
}

#[derive(Debug, Default)]
struct State {
    /// Per-field value indexes leading to next states, sorted by field id.
    trans: Vec<(u32, FieldIndex)>,
    /// `exists: false` steps: taken when the event has no value for the field.
    absent: Vec<(u32, u32)>,
    /// Rule ids matched on reaching this state.
    rules: Vec<u32>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub trie: Vec<KeyNode>,
    fields: usize,
    states: Vec<State>,
    rules: usize,
}

/// One event leaf at a field some pattern uses, with its array positions.
#[derive(Debug)]
pub(crate) struct EventLeaf<'a> {
    pub field: u32,
    pub leaf: Leaf<'a>,
    pub mem_start: u32,
    pub mem_len: u32,
}

/// The leaves of one event, ready for the automaton walk.
#[derive(Debug, Default)]
pub(crate) struct EventLeaves<'a> {
    pub leaves: Vec<EventLeaf<'a>>,
    pub mems: Vec<(u32, u32)>,
}

impl EventLeaf<'_> {
    pub fn into_owned(self) -> EventLeaf<'static> {
        EventLeaf {
            field: self.field,
            leaf: self.leaf.into_owned(),
            mem_start: self.mem_start,
            mem_len: self.mem_len,
        }
    }
}

impl<'a> EventLeaves<'a> {
    pub fn push(&mut self, field: u32, leaf: Leaf<'a>, stack: &[(u32, u32)]) {
        let mem_start = self.mems.len() as u32;
        self.mems.extend_from_slice(stack);
        self.leaves.push(EventLeaf {
            field,
            leaf,
            mem_start,
            mem_len: stack.len() as u32,
        });
    }
}

/// Collects patterns under caller-chosen ids, then compiles them into a [`Matcher`].
#[derive(Debug, Default)]
pub struct MatcherBuilder {
    rules: Vec<(u32, Vec<Conj>)>,
}

#[derive(Debug)]
enum Step<'p> {
    Pos(u32, &'p [Cond]),
    Absent(u32),
}

impl MatcherBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a pattern under `id`. Several patterns may share an id (any of them matching
    /// reports the id once).
    pub fn add(&mut self, id: u32, pattern: &Pattern) {
        self.rules.push((id, pattern.dnf.clone()));
    }

    /// Compiles everything added so far.
    pub fn build(self) -> Matcher {
        let mut trie = vec![KeyNode::default()];
        let mut fields = 0u32;
        let mut states = vec![State::default()];
        let mut edges: FxHashMap<(u32, u32, String), u32> = FxHashMap::default();
        let mut ids: Vec<u32> = self.rules.iter().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        for (id, dnf) in &self.rules {
            for conj in dnf {
                // Steps are ordered cheapest and most selective first (hash-indexed
                // values, then ranges, then per-rule tests, then absences), then by field:
                // the expensive tests then sit in states few events reach.
                let mut steps: Vec<(u8, u32, String, Step<'_>)> = Vec::new();
                for p in &conj.positives {
                    let f = field_id(&mut trie, &mut fields, &p.path);
                    let label: Vec<String> = p.conds.iter().map(|c| c.describe()).collect();
                    let cost = p.conds.iter().map(step_cost).max().unwrap_or(0);
                    steps.push((cost, f, label.join("\u{0}"), Step::Pos(f, &p.conds)));
                }
                for a in &conj.absent {
                    let f = field_id(&mut trie, &mut fields, a);
                    steps.push((ABSENT_COST, f, String::new(), Step::Absent(f)));
                }
                steps.sort_by(|a, b| (a.0, a.1, &a.2).cmp(&(b.0, b.1, &b.2)));
                steps.dedup_by(|a, b| (a.0, a.1, &a.2) == (b.0, b.1, &b.2));
                let mut st = 0u32;
                for (cost, f, label, step) in steps {
                    let kind = u8::from(cost == ABSENT_COST);
                    let key = (
                        st,
                        f,
                        if kind == 1 {
                            "\u{1}".to_string()
                        } else {
                            label
                        },
                    );
                    st = match edges.get(&key) {
                        Some(&next) => next,
                        None => {
                            let next = states.len() as u32;
                            states.push(State::default());
                            let from = &mut states[st as usize];
                            match step {
                                Step::Pos(f, conds) => {
                                    let at = match from.trans.iter().position(|(g, _)| *g == f) {
                                        Some(at) => at,
                                        None => {
                                            from.trans.push((f, FieldIndex::default()));
                                            from.trans.len() - 1
                                        }
                                    };
                                    for c in conds {
                                        from.trans[at].1.add(c, next);
                                    }
                                }
                                Step::Absent(f) => from.absent.push((f, next)),
                            }
                            edges.insert(key, next);
                            next
                        }
                    };
                }
                states[st as usize].rules.push(*id);
            }
        }
        for s in &mut states {
            s.trans.sort_by_key(|(f, _)| *f);
            s.trans.iter_mut().for_each(|(_, fx)| fx.finish());
            s.rules.sort_unstable();
            s.rules.dedup();
        }
        Matcher {
            inner: Arc::new(Inner {
                trie,
                fields: fields as usize,
                states,
                rules: ids.len(),
            }),
        }
    }
}

const ABSENT_COST: u8 = 9;

/// Relative cost of a condition in a state's index, used to order steps.
fn step_cost(c: &Cond) -> u8 {
    match c {
        Cond::Exact(_) | Cond::EqualsCi(_) => 0,
        Cond::Prefix(_) | Cond::PrefixCi(_) | Cond::Suffix(_) | Cond::SuffixCi(_) => 1,
        Cond::Cidr(..) | Cond::Numeric(_) => 2,
        Cond::Wildcard(_) => 3,
        Cond::Exists(_) => 4,
        Cond::AnythingBut(_) => 5,
    }
}

fn field_id(trie: &mut Vec<KeyNode>, fields: &mut u32, path: &[String]) -> u32 {
    let mut node = 0usize;
    for seg in path {
        node = match trie[node].children.get(seg) {
            Some(&n) => n as usize,
            None => {
                let n = trie.len();
                trie.push(KeyNode::default());
                trie[node].children.insert(seg.clone(), n as u32);
                n
            }
        };
    }
    *trie[node].field.get_or_insert_with(|| {
        *fields += 1;
        *fields - 1
    })
}

/// All rules' patterns compiled together. Cheap to clone (an `Arc`), `Send + Sync`.
#[derive(Debug, Clone)]
pub struct Matcher {
    inner: Arc<Inner>,
}

/// Per-thread reusable buffers, so a match allocates little.
#[derive(Default)]
struct Scratch {
    visited: Vec<u32>,
    generation: u32,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

struct Walk<'e, 'a> {
    inner: &'e Inner,
    ev: &'e EventLeaves<'a>,
    /// `starts[f]..starts[f + 1]` are the leaves of field `f` in `ev.leaves`.
    starts: Vec<u32>,
    visited: &'e mut Vec<u32>,
    generation: u32,
    out: Vec<u32>,
    picked: Vec<(u32, u32)>,
    targets: Vec<u32>,
}

impl Walk<'_, '_> {
    fn mem(&self, l: &EventLeaf<'_>) -> &[(u32, u32)] {
        &self.ev.mems[l.mem_start as usize..(l.mem_start + l.mem_len) as usize]
    }

    fn visit(&mut self, st: u32) {
        // Reached with no array constraint, a state yields everything it ever can; with
        // constraints, a subset. So one unconstrained visit makes any later visit useless.
        if self.visited[st as usize] == self.generation {
            return;
        }
        if self.picked.is_empty() {
            self.visited[st as usize] = self.generation;
        }
        let state = &self.inner.states[st as usize];
        self.out.extend_from_slice(&state.rules);
        for (f, fx) in &state.trans {
            let (lo, hi) = (self.starts[*f as usize], self.starts[*f as usize + 1]);
            for li in lo..hi {
                let leaf = &self.ev.leaves[li as usize];
                if !consistent(self.mem(leaf), &self.picked) {
                    continue;
                }
                let base = self.targets.len();
                fx.lookup(&leaf.leaf, &mut |t| self.targets.push(t));
                if self.targets.len() == base {
                    continue;
                }
                self.targets[base..].sort_unstable();
                let added = leaf.mem_len as usize;
                let (ms, ml) = (leaf.mem_start as usize, leaf.mem_len as usize);
                self.picked.extend_from_slice(&self.ev.mems[ms..ms + ml]);
                let mut k = base;
                while k < self.targets.len() {
                    let t = self.targets[k];
                    if k == base || self.targets[k - 1] != t {
                        self.visit(t);
                    }
                    k += 1;
                }
                self.targets.truncate(base);
                self.picked.truncate(self.picked.len() - added);
            }
        }
        for &(f, next) in &state.absent {
            if self.starts[f as usize] == self.starts[f as usize + 1] {
                self.visit(next);
            }
        }
    }
}

impl Inner {
    pub(crate) fn collect_value<'a>(
        &self,
        v: &'a Value,
        node: u32,
        stack: &mut Vec<(u32, u32)>,
        next_array: &mut u32,
        ev: &mut EventLeaves<'a>,
    ) {
        let n = &self.trie[node as usize];
        match v {
            Value::Object(m) => {
                if n.children.is_empty() {
                    return;
                }
                for (k, child) in m {
                    if let Some(&c) = n.children.get(k.as_str()) {
                        self.collect_value(child, c, stack, next_array, ev);
                    }
                }
            }
            Value::Array(items) => {
                let id = *next_array;
                *next_array += 1;
                for (i, child) in items.iter().enumerate() {
                    stack.push((id, i as u32));
                    self.collect_value(child, node, stack, next_array, ev);
                    stack.pop();
                }
            }
            scalar => {
                if let (Some(f), Some(leaf)) = (n.field, Leaf::of(scalar)) {
                    ev.push(f, leaf, stack);
                }
            }
        }
    }

    /// Runs the automaton over an event's leaves: sorted, deduplicated rule ids.
    pub(crate) fn run(&self, mut ev: EventLeaves<'_>) -> Vec<u32> {
        // Counting sort of the leaves by field (stable, no comparisons).
        let mut starts = vec![0u32; self.fields + 1];
        for l in &ev.leaves {
            starts[l.field as usize + 1] += 1;
        }
        for f in 0..self.fields {
            starts[f + 1] += starts[f];
        }
        if ev.leaves.windows(2).any(|w| w[0].field > w[1].field) {
            let mut slots: Vec<Option<EventLeaf<'_>>> = Vec::with_capacity(ev.leaves.len());
            slots.resize_with(ev.leaves.len(), || None);
            let mut next = starts.clone();
            for l in ev.leaves.drain(..) {
                let at = &mut next[l.field as usize];
                slots[*at as usize] = Some(l);
                *at += 1;
            }
            ev.leaves = slots.into_iter().flatten().collect();
        }
        SCRATCH.with(|cell| {
            let mut guard = cell.borrow_mut();
            let scratch = &mut *guard;
            if scratch.visited.len() < self.states.len() {
                scratch.visited.resize(self.states.len(), 0);
            }
            scratch.generation = scratch.generation.wrapping_add(1);
            if scratch.generation == 0 {
                scratch.visited.iter_mut().for_each(|v| *v = 0);
                scratch.generation = 1;
            }
            let generation = scratch.generation;
            let mut walk = Walk {
                inner: self,
                ev: &ev,
                starts,
                visited: &mut scratch.visited,
                generation,
                out: Vec::new(),
                picked: Vec::new(),
                targets: Vec::new(),
            };
            walk.visit(0);
            let mut out = walk.out;
            out.sort_unstable();
            out.dedup();
            out
        })
    }
}

impl Matcher {
    /// Ids of all patterns matching the JSON event, sorted and deduplicated. The event is
    /// parsed once, and subtrees under keys no pattern uses are skipped while parsing.
    pub fn matches_json(&self, event: &[u8]) -> Result<Vec<u32>, EventError> {
        let ev = scan::collect(&self.inner, event)?;
        Ok(self.inner.run(ev))
    }

    /// Ids of all patterns matching the event.
    pub fn matches_value(&self, event: &Value) -> Vec<u32> {
        let mut ev = EventLeaves::default();
        self.inner
            .collect_value(event, 0, &mut Vec::new(), &mut 0, &mut ev);
        self.inner.run(ev)
    }

    /// Number of distinct rule ids added.
    pub fn len(&self) -> usize {
        self.inner.rules
    }

    /// Whether no rule was added.
    pub fn is_empty(&self) -> bool {
        self.inner.rules == 0
    }

    /// Number of automaton states (a measure of how much the rules share).
    pub fn states(&self) -> usize {
        self.inner.states.len()
    }
}
