//! The compiled matcher: every rule's pattern in one automaton.
//!
//! Each pattern is expanded into conjunctions; each conjunction becomes a sequence of
//! steps sorted by field (`detail.author has one of these values`, `detail.x is absent`).
//! Sequences share a trie of states, as in event-ruler and quamina: rules that test the
//! same field the same way share one state, and a state holds, per field, a
//! [`FieldIndex`] that turns an event value into the next states with lookups in packed
//! string tables ([`crate::strtable::StrTable`]) and sorted ranges. Matching collects
//! the event's leaves for the fields some pattern uses (a key trie skips every other
//! subtree, see [`crate::key_trie`]), then walks the automaton depth-first. The walk
//! carries the array positions of the values it used, and only takes a value that is
//! array-consistent with them.

use crate::ast::Cond;
use crate::dnf::Conj;
use crate::error::EventError;
use crate::event::{EventLeaf, LeafVal, Scratch, leaf};
use crate::hash::FxHashMap;
use crate::index::FieldIndex;
use crate::interpret::consistent;
use crate::key_trie::{KeyNode, field_id, freeze, trie_node};
use crate::leaf::Leaf;
use crate::pattern::Pattern;
use crate::scan;
use serde_json::Value;
use std::cell::RefCell;
use std::sync::Arc;

#[derive(Debug, Default)]
pub(crate) struct State {
    /// Per-field value indexes leading to next states, sorted by field id.
    pub trans: Vec<(u32, FieldIndex)>,
    /// `exists: false` steps: taken when the event has no value for the field.
    pub absent: Vec<(u32, u32)>,
    /// Rule ids matched on reaching this state.
    pub rules: Vec<u32>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub trie: Vec<KeyNode>,
    pub fields: usize,
    pub states: Vec<State>,
    rules: usize,
    pub captures: usize,
}

/// A path registered with [`MatcherBuilder::capture`]; valid for matchers built by that
/// builder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CaptureId(pub(crate) u32);

/// Collects patterns under caller-chosen ids, then compiles them into a [`Matcher`].
#[derive(Debug, Default)]
pub struct MatcherBuilder {
    rules: Vec<(u32, Vec<Conj>)>,
    captures: Vec<Vec<String>>,
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

    /// Asks every [`crate::Session`] match to report the value at `path` (object keys
    /// from the event's root, e.g. `["detail", "entity-id"]`): its byte span in the event,
    /// whatever its type, when it is present outside any array. Asking twice for one path
    /// gives the same id. Captures cost one key lookup per object level on the path; the
    /// rest of the event is skipped as before.
    pub fn capture(&mut self, path: &[&str]) -> CaptureId {
        let at = match self.captures.iter().position(|p| p.iter().eq(path.iter())) {
            Some(at) => at,
            None => {
                self.captures
                    .push(path.iter().map(|s| (*s).to_string()).collect());
                self.captures.len() - 1
            }
        };
        CaptureId(at as u32)
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
        for (slot, path) in self.captures.iter().enumerate() {
            let node = trie_node(&mut trie, path);
            trie[node].capture = Some(slot as u32);
        }
        freeze(&mut trie);
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
                captures: self.captures.len(),
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

/// All rules' patterns compiled together. Cheap to clone (an `Arc`), `Send + Sync`.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub(crate) inner: Arc<Inner>,
}

thread_local! {
    /// The buffers of [`Matcher::matches_json`] and [`Matcher::matches_value`].
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// The depth-first automaton walk over one event's sorted leaves.
struct Walk<'w> {
    inner: &'w Inner,
    leaves: &'w [EventLeaf],
    mems: &'w [(u32, u32)],
    starts: &'w [u32],
    event: &'w str,
    decoded: &'w str,
    visited: &'w mut [u32],
    generation: u32,
    out: &'w mut Vec<u32>,
    picked: &'w mut Vec<(u32, u32)>,
    targets: &'w mut Vec<u32>,
    fold: &'w mut String,
}

impl Walk<'_> {
    fn visit(&mut self, st: u32) {
        // Reached with no array constraint, a state yields everything it ever can; with
        // constraints, a subset. So one unconstrained visit makes any later visit useless.
        if self.visited[st as usize] == self.generation {
            return;
        }
        if self.picked.is_empty() {
            self.visited[st as usize] = self.generation;
        }
        let inner = self.inner;
        let state = &inner.states[st as usize];
        self.out.extend_from_slice(&state.rules);
        for (f, fx) in &state.trans {
            let (lo, hi) = (self.starts[*f as usize], self.starts[*f as usize + 1]);
            for li in lo..hi {
                let l = self.leaves[li as usize];
                let (ms, ml) = (l.mem_start as usize, l.mem_len as usize);
                let mem = &self.mems[ms..ms + ml];
                if !consistent(mem, self.picked) {
                    continue;
                }
                let base = self.targets.len();
                let value = leaf(&l.val, self.event, self.decoded);
                let targets = &mut *self.targets;
                fx.lookup(&value, self.fold, &mut |t| targets.push(t));
                if self.targets.len() == base {
                    continue;
                }
                self.targets[base..].sort_unstable();
                self.picked.extend_from_slice(mem);
                let mut k = base;
                while k < self.targets.len() {
                    let t = self.targets[k];
                    if k == base || self.targets[k - 1] != t {
                        self.visit(t);
                    }
                    k += 1;
                }
                self.targets.truncate(base);
                self.picked.truncate(self.picked.len() - ml);
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
    /// Adds the leaves of a parsed event at the fields patterns use; strings are copied
    /// into the scratch text.
    fn collect_value(&self, v: &Value, node: u32, next_array: &mut u32, sc: &mut Scratch) {
        let n = &self.trie[node as usize];
        match v {
            Value::Object(m) => {
                if !n.nested() {
                    return;
                }
                for (k, child) in m {
                    if let Some(c) = n.child(k) {
                        self.collect_value(child, c, next_array, sc);
                    }
                }
            }
            Value::Array(items) => {
                let id = *next_array;
                *next_array += 1;
                for (i, child) in items.iter().enumerate() {
                    sc.stack.push((id, i as u32));
                    self.collect_value(child, node, next_array, sc);
                    sc.stack.pop();
                }
            }
            scalar => {
                if let (Some(f), Some(leaf)) = (n.field, Leaf::of(scalar)) {
                    let val = match leaf {
                        Leaf::Str(s) => sc.owned_str(&s),
                        Leaf::Num(k, f) => LeafVal::Num(k, f),
                        Leaf::Bool(b) => LeafVal::Bool(b),
                        Leaf::Null => LeafVal::Null,
                    };
                    sc.push(f, val);
                }
            }
        }
    }

    /// Scans and matches JSON bytes into `sc`: `sc.out` then holds the sorted,
    /// deduplicated rule ids and `sc.captures` the captured spans.
    pub(crate) fn match_bytes(&self, event: &[u8], sc: &mut Scratch) -> Result<(), EventError> {
        sc.reset(self.captures);
        let (text, duplicate) = scan::scan(&self.trie, event, sc)?;
        if duplicate {
            // A key patterns use appears twice in one object: take the leaves from
            // serde_json, whose last value wins (rare; the captures stay as scanned).
            let v: Value = serde_json::from_str(text).map_err(|e| EventError {
                reason: format!("not JSON: {e}"),
            })?;
            sc.leaves.clear();
            sc.mems.clear();
            sc.text.clear();
            self.collect_value(&v, 0, &mut 0, sc);
            self.run(sc, "");
        } else {
            self.run(sc, text);
        }
        Ok(())
    }

    /// Matches a parsed event into `sc.out`.
    pub(crate) fn match_value(&self, event: &Value, sc: &mut Scratch) {
        sc.reset(self.captures);
        self.collect_value(event, 0, &mut 0, sc);
        self.run(sc, "");
    }

    /// Runs the automaton over the collected leaves: sorted, deduplicated rule ids in
    /// `sc.out`. `event` is the text `Text::Event` leaves point into.
    fn run(&self, sc: &mut Scratch, event: &str) {
        let Scratch {
            leaves,
            sorted,
            cursor,
            mems,
            text,
            starts,
            visited,
            generation,
            out,
            picked,
            targets,
            fold,
            ..
        } = sc;
        // Where each field's leaves start.
        starts.clear();
        starts.resize(self.fields + 1, 0);
        for l in leaves.iter() {
            starts[l.field as usize + 1] += 1;
        }
        for f in 0..self.fields {
            starts[f + 1] += starts[f];
        }
        // Counting sort by field when the scan did not meet the fields in id order.
        let leaves: &[EventLeaf] = if leaves.windows(2).any(|w| w[0].field > w[1].field) {
            cursor.clear();
            cursor.extend_from_slice(&starts[..self.fields]);
            sorted.clear();
            sorted.resize(leaves.len(), leaves[0]);
            for l in leaves.iter() {
                let at = &mut cursor[l.field as usize];
                sorted[*at as usize] = *l;
                *at += 1;
            }
            sorted
        } else {
            leaves
        };
        if visited.len() < self.states.len() {
            visited.resize(self.states.len(), 0);
        }
        *generation = generation.wrapping_add(1);
        if *generation == 0 {
            visited.iter_mut().for_each(|v| *v = 0);
            *generation = 1;
        }
        out.clear();
        picked.clear();
        targets.clear();
        let mut walk = Walk {
            inner: self,
            leaves,
            mems,
            starts,
            event,
            decoded: text,
            visited,
            generation: *generation,
            out,
            picked,
            targets,
            fold,
        };
        walk.visit(0);
        out.sort_unstable();
        out.dedup();
    }
}

impl Matcher {
    /// Ids of all patterns matching the JSON event, sorted and deduplicated. The event is
    /// validated as a whole and decoded only at the paths patterns use; every other
    /// subtree is skipped. Buffers are reused per thread; only the returned `Vec` is
    /// allocated (a [`Session`](crate::Session) avoids that too).
    pub fn matches_json(&self, event: &[u8]) -> Result<Vec<u32>, EventError> {
        SCRATCH.with(|cell| {
            let mut sc = cell.borrow_mut();
            self.inner.match_bytes(event, &mut sc)?;
            Ok(sc.out.clone())
        })
    }

    /// Ids of all patterns matching the event.
    pub fn matches_value(&self, event: &Value) -> Vec<u32> {
        SCRATCH.with(|cell| {
            let mut sc = cell.borrow_mut();
            self.inner.match_value(event, &mut sc);
            sc.out.clone()
        })
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
