//! [`Pattern`]: one parsed, validated event pattern with the reference interpreter.

use crate::ast::{Cond, Field, Node};
use crate::dnf::{self, Conj};
use crate::error::{Mismatch, PatternError};
use crate::{interpret, parse};
use serde_json::Value;

/// One parsed and validated EventBridge event pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    root: Node,
    pub(crate) dnf: Vec<Conj>,
}

impl Pattern {
    /// Parses and validates a pattern given as a JSON value.
    pub fn parse(value: &Value) -> Result<Pattern, PatternError> {
        let root = parse::parse_root(value)?;
        let dnf = dnf::expand(&root)?;
        Ok(Pattern { root, dnf })
    }

    /// Parses and validates a pattern given as JSON text; JSON syntax errors are reported
    /// at path `$`.
    pub fn parse_str(json: &str) -> Result<Pattern, PatternError> {
        let value: Value = serde_json::from_str(json)
            .map_err(|e| PatternError::new(&[], format!("invalid JSON: {e}")))?;
        Pattern::parse(&value)
    }

    /// Whether the event matches (the reference interpreter; [`crate::Matcher`] gives the
    /// same answers faster for many patterns).
    pub fn matches(&self, event: &Value) -> bool {
        interpret::matches(&self.dnf, event)
    }

    /// `None` when the event matches; otherwise the first failing field and condition
    /// (for a pattern with `$or`, of the alternative that came closest).
    pub fn explain(&self, event: &Value) -> Option<Mismatch> {
        interpret::explain(&self.dnf, event)
    }

    /// Every alternative's verdict on the event, in pattern order (one for a
    /// pattern without `$or`): `Ok` with the conditions it tests when it
    /// matches (`detail.operation = "delete"`), `Err` with its first failing
    /// condition when it does not. The event matches when any is `Ok`.
    pub fn explain_each(&self, event: &Value) -> Vec<Result<Vec<String>, Mismatch>> {
        interpret::explain_each(&self.dnf, event)
    }

    /// Every field path the pattern tests, as segment lists, in pattern order, without
    /// duplicates.
    pub fn field_paths(&self) -> Vec<Vec<String>> {
        let mut out: Vec<Vec<String>> = Vec::new();
        collect_paths(&self.root, &mut Vec::new(), &mut out);
        out
    }

    /// Every field path the pattern tests, dotted (`detail.operation`), without duplicates.
    pub fn fields(&self) -> Vec<String> {
        self.field_paths().iter().map(|p| p.join(".")).collect()
    }

    /// How many alternatives (conjunctions) the pattern expands to through `$or`.
    pub fn alternatives(&self) -> usize {
        self.dnf.len()
    }

    /// A short one-line human summary, e.g.
    /// `detail-type = "Object State Change", detail.operation = "delete"`.
    pub fn summary(&self) -> String {
        summarize(&self.root, &[])
    }
}

fn collect_paths(node: &Node, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    for (k, f) in &node.fields {
        prefix.push(k.clone());
        match f {
            Field::Nested(child) => collect_paths(child, prefix, out),
            Field::Leaf(_) => {
                if !out.contains(prefix) {
                    out.push(prefix.clone());
                }
            }
        }
        prefix.pop();
    }
    for group in &node.ors {
        for alt in group {
            collect_paths(alt, prefix, out);
        }
    }
}

fn summarize(node: &Node, prefix: &[String]) -> String {
    let mut parts = Vec::new();
    for (k, f) in &node.fields {
        let mut path = prefix.to_vec();
        path.push(k.clone());
        match f {
            Field::Nested(child) => parts.push(summarize(child, &path)),
            Field::Leaf(conds) => parts.push(summarize_leaf(&path.join("."), conds)),
        }
    }
    for group in &node.ors {
        let alts: Vec<String> = group.iter().map(|a| summarize(a, prefix)).collect();
        parts.push(format!("({})", alts.join(" | ")));
    }
    parts.join(", ")
}

fn summarize_leaf(path: &str, conds: &[Cond]) -> String {
    if let [only] = conds {
        return format!("{path} {}", only.describe());
    }
    let exact: Option<Vec<String>> = conds
        .iter()
        .map(|c| match c {
            Cond::Exact(s) => Some(s.describe()),
            _ => None,
        })
        .collect();
    match exact {
        Some(vals) => format!("{path} in [{}]", vals.join(", ")),
        None => {
            let alts: Vec<String> = conds.iter().map(Cond::describe).collect();
            format!("{path} ({})", alts.join(" or "))
        }
    }
}
