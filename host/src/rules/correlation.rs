//! The `correlation:` section of a rule file (Sigma's keys, unchanged) and
//! our extensions beside it (`window`, `after-fire`, `lateness`, `absent`),
//! read into a [`Correlation`] with a document path for every problem.
//!
//! ```yaml
//! name: mass-deletes
//! correlation:
//!   type: event_count
//!   rules: [delete-alert]
//!   group-by: [detail.author]
//!   timespan: 5m
//!   condition: {gt: 20}
//! plugin: alert
//! ```

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use trailmark_correlate::{AfterFire, Condition, Correlation, Kind, Window, parse_timespan};

use super::document::Step;
use super::rule::RuleProblem;

/// The detail-type of fire events.
pub use trailmark_event::CORRELATION_MATCH as FIRE_DETAIL_TYPE;
/// The source of fire events.
pub use trailmark_event::HOST_SOURCE as FIRE_SOURCE;

/// The lateness allowance when a rule names none (or its timespan, when
/// shorter): producers' clocks and queues put events a little behind the
/// server's, and an event behind by more than the allowance is skipped.
pub const DEFAULT_LATENESS: trailmark_correlate::Millis = 60_000;

/// The keys of `correlation:`, as Sigma names them.
const SECTION_KEYS: &[&str] = &[
    "type",
    "rules",
    "group-by",
    "timespan",
    "condition",
    "aliases",
];

/// The keys beside `correlation:` that are ours.
pub(crate) const EXTENSION_KEYS: &[&str] = &["window", "after-fire", "lateness", "absent"];

fn key(k: &str) -> Step {
    Step::Key(k.to_owned())
}

fn problem(path: &[Step], message: impl Into<String>) -> RuleProblem {
    RuleProblem {
        path: path.to_vec(),
        at_key: false,
        message: message.into(),
    }
}

fn misplaced(path: &[Step], message: impl Into<String>) -> RuleProblem {
    RuleProblem {
        path: path.to_vec(),
        at_key: true,
        message: message.into(),
    }
}

/// The pattern a correlation rule matches: its own fires, so that the
/// journaled fire event reaches the rule's plugin like any event.
pub fn fire_pattern(name: &str) -> Value {
    json!({
        "source": [FIRE_SOURCE],
        "detail-type": [FIRE_DETAIL_TYPE],
        "detail": {"rule": [name]}
    })
}

/// Read the `correlation:` section and the extension keys of a rule
/// document named `name`. `None` when the document has no `correlation:`
/// (then no extension key may be there either).
pub(crate) fn parse(
    name: &str,
    map: &Map<String, Value>,
    problems: &mut Vec<RuleProblem>,
) -> Option<Correlation> {
    let Some(section) = map.get("correlation") else {
        for k in EXTENSION_KEYS {
            if map.contains_key(*k) {
                problems.push(misplaced(
                    &[key(k)],
                    format!("`{k}` belongs to a correlation rule; this rule has no `correlation:`"),
                ));
            }
        }
        return None;
    };
    let base = [key("correlation")];
    let Some(section) = section.as_object() else {
        problems.push(problem(
            &base,
            "`correlation` must be a mapping with type, rules, group-by, timespan and condition",
        ));
        return None;
    };
    let before = problems.len();
    let at = |k: &str| [key("correlation"), key(k)];
    // A bad value points at its key; a missing one at the section.
    let at_or_section = |k: &str| {
        if section.contains_key(k) {
            at(k).to_vec()
        } else {
            base.to_vec()
        }
    };
    for k in section.keys() {
        if !SECTION_KEYS.contains(&k.as_str()) {
            problems.push(misplaced(
                &at(k),
                format!(
                    "unknown key `{k}` in `correlation`; it has {} (Trailmark's own keys, \
                     {}, go beside `correlation`, not in it)",
                    SECTION_KEYS.join(", "),
                    EXTENSION_KEYS.join(", ")
                ),
            ));
        }
    }
    let condition_map = section.get("condition").and_then(Value::as_object);
    let kind = match section.get("type").and_then(Value::as_str) {
        Some("event_count") => Some(Kind::EventCount),
        Some("value_count") => match condition_map.and_then(|c| c.get("field")) {
            Some(Value::String(f)) if !f.is_empty() => Some(Kind::ValueCount { field: f.clone() }),
            _ => {
                problems.push(problem(
                    &at("condition"),
                    "value_count counts the distinct values of a field: add `field: <path>` to \
                     `condition`",
                ));
                None
            }
        },
        Some("temporal") => Some(Kind::Temporal),
        Some("temporal_ordered") => Some(Kind::TemporalOrdered),
        Some(other @ ("value_sum" | "value_avg" | "value_percentile")) => {
            problems.push(problem(
                &at("type"),
                format!("`{other}` is not supported yet; use event_count, value_count, temporal or temporal_ordered"),
            ));
            None
        }
        _ => {
            problems.push(problem(
                &at_or_section("type"),
                "`type` must be event_count, value_count, temporal or temporal_ordered",
            ));
            None
        }
    };
    let rules = names(section.get("rules"), &at("rules"), "rules", problems);
    let group_by = match section.get("group-by") {
        None => Vec::new(),
        Some(v) => names(Some(v), &at("group-by"), "group-by", problems),
    };
    let timespan = match section.get("timespan") {
        Some(Value::String(t)) => parse_timespan(t)
            .map_err(|m| problems.push(problem(&at("timespan"), m)))
            .ok(),
        _ => {
            problems.push(problem(
                &at_or_section("timespan"),
                "`timespan` is required: a number and s, m, h or d (`30s`, `5m`, `1h`, `1d`)",
            ));
            None
        }
    };
    let condition = parse_condition(section.get("condition"), problems);
    let aliases = parse_aliases(section.get("aliases"), problems);
    let window = match map.get("window") {
        None => Window::Sliding,
        Some(Value::String(w)) if w == "sliding" => Window::Sliding,
        Some(Value::String(w)) if w == "tumbling" => Window::Tumbling,
        Some(Value::String(w)) if w == "session" => Window::Session,
        Some(_) => {
            problems.push(problem(
                &[key("window")],
                "`window` must be sliding (the default), tumbling or session",
            ));
            Window::Sliding
        }
    };
    let after_fire = match map.get("after-fire") {
        None => AfterFire::Reset,
        Some(Value::String(r)) if r == "reset" => AfterFire::Reset,
        Some(Value::Object(m)) if m.len() == 1 && m.contains_key("suppress") => {
            match m
                .get("suppress")
                .and_then(Value::as_str)
                .map(parse_timespan)
            {
                Some(Ok(d)) => AfterFire::Suppress(d),
                _ => {
                    problems.push(problem(
                        &[key("after-fire"), key("suppress")],
                        "`suppress` takes a timespan, e.g. `after-fire: {suppress: 1h}`",
                    ));
                    AfterFire::Reset
                }
            }
        }
        Some(_) => {
            problems.push(problem(
                &[key("after-fire")],
                "`after-fire` must be `reset` (the default) or `{suppress: <timespan>}`",
            ));
            AfterFire::Reset
        }
    };
    let lateness = match map.get("lateness") {
        None => None,
        Some(Value::String(t)) if t == "0s" => Some(0),
        Some(Value::String(t)) => parse_timespan(t)
            .map_err(|m| problems.push(problem(&[key("lateness")], m)))
            .ok(),
        Some(_) => {
            problems.push(problem(
                &[key("lateness")],
                "`lateness` takes a timespan, e.g. `lateness: 30s`",
            ));
            None
        }
    };
    let absent = match map.get("absent") {
        None => Vec::new(),
        Some(v) => names(Some(v), &[key("absent")], "absent", problems),
    };
    let (Some(kind), Some(timespan)) = (kind, timespan) else {
        return None;
    };
    if problems.len() > before {
        return None;
    }
    let correlation = Correlation {
        name: name.to_owned(),
        kind,
        rules,
        group_by,
        timespan,
        condition,
        aliases,
        window,
        after_fire,
        lateness: lateness.unwrap_or(DEFAULT_LATENESS.min(timespan)),
        absent,
    };
    for p in correlation.check() {
        let path: Vec<Step> = p.key.split('.').map(key).collect();
        problems.push(problem(&path, p.message));
    }
    (problems.len() == before).then_some(correlation)
}

/// A list of non-empty strings, each unique.
fn names(
    value: Option<&Value>,
    path: &[Step],
    what: &str,
    problems: &mut Vec<RuleProblem>,
) -> Vec<String> {
    let Some(Value::Array(items)) = value else {
        problems.push(problem(
            path,
            format!("`{what}` must be a list of names, e.g. {what}: [a, b]"),
        ));
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let mut at = path.to_vec();
        at.push(Step::Index(i));
        match item.as_str() {
            Some(s) if !s.is_empty() && !out.iter().any(|o| o == s) => out.push(s.to_owned()),
            Some(s) if !s.is_empty() => {
                problems.push(problem(&at, format!("`{s}` is listed twice in `{what}`")))
            }
            _ => problems.push(problem(
                &at,
                format!("each entry of `{what}` must be a non-empty string"),
            )),
        }
    }
    out
}

fn parse_condition(value: Option<&Value>, problems: &mut Vec<RuleProblem>) -> Condition {
    let mut condition = Condition::default();
    let base = [key("correlation"), key("condition")];
    let Some(value) = value else {
        return condition;
    };
    let Some(map) = value.as_object() else {
        problems.push(problem(
            &base,
            "`condition` must be a mapping, e.g. condition: {gte: 100}",
        ));
        return condition;
    };
    for (k, v) in map {
        let mut at = base.to_vec();
        at.push(key(k));
        let slot = match k.as_str() {
            "gt" => &mut condition.gt,
            "gte" => &mut condition.gte,
            "lt" => &mut condition.lt,
            "lte" => &mut condition.lte,
            "eq" => &mut condition.eq,
            "neq" => &mut condition.neq,
            "field" => continue,
            other => {
                problems.push(misplaced(
                    &at,
                    format!("unknown condition `{other}`; use gt, gte, lt, lte, eq, neq (and field for value_count)"),
                ));
                continue;
            }
        };
        match v.as_u64() {
            Some(n) => *slot = Some(n),
            None => problems.push(problem(
                &at,
                format!("`{k}` takes a whole number of 0 or more"),
            )),
        }
    }
    condition
}

fn parse_aliases(
    value: Option<&Value>,
    problems: &mut Vec<RuleProblem>,
) -> BTreeMap<String, BTreeMap<String, String>> {
    let base = [key("correlation"), key("aliases")];
    let mut out = BTreeMap::new();
    let Some(value) = value else {
        return out;
    };
    let shape = "`aliases` maps an alias to each rule's field: aliases: {ip: {rule-a: detail.src, rule-b: detail.dst}}";
    let Some(map) = value.as_object() else {
        problems.push(problem(&base, shape));
        return out;
    };
    for (alias, by_rule) in map {
        let mut at = base.to_vec();
        at.push(key(alias));
        let Some(by_rule) = by_rule.as_object() else {
            problems.push(problem(&at, shape));
            continue;
        };
        let mut fields = BTreeMap::new();
        for (rule, field) in by_rule {
            match field.as_str() {
                Some(f) if !f.is_empty() => {
                    fields.insert(rule.clone(), f.to_owned());
                }
                _ => {
                    let mut at = at.clone();
                    at.push(key(rule));
                    problems.push(problem(
                        &at,
                        "an alias names a field path, a non-empty string",
                    ));
                }
            }
        }
        out.insert(alias.clone(), fields);
    }
    out
}

/// The envelope keys a group-by path may start with, and whether a path
/// may go on below them (only `detail`'s does: the rest are scalars or, for
/// `resources`, a list).
const ENVELOPE_KEYS: &[(&str, bool)] = &[
    ("version", false),
    ("id", false),
    ("detail-type", false),
    ("source", false),
    ("account", false),
    ("time", false),
    ("region", false),
    ("resources", false),
    ("detail", true),
];

/// Why an event's field path can never hold a value, or `None` when it can.
pub(crate) fn impossible_path(path: &str) -> Option<String> {
    let (head, rest) = match path.split_once('.') {
        Some((h, r)) => (h, Some(r)),
        None => (path, None),
    };
    let valid = || {
        ENVELOPE_KEYS
            .iter()
            .map(|(k, _)| *k)
            .collect::<Vec<_>>()
            .join(", ")
    };
    match ENVELOPE_KEYS.iter().find(|(k, _)| *k == head) {
        None => Some(format!(
            "`{path}` cannot exist in an event: paths start at the envelope ({}), e.g. detail.author",
            valid()
        )),
        Some((_, false)) if rest.is_some() => Some(format!(
            "`{path}` cannot exist in an event: `{head}` has no fields below it"
        )),
        Some((_, true)) if rest.is_none_or(|r| r.is_empty() || r.split('.').any(str::is_empty)) => {
            Some(format!(
                "`{path}` names no field of the detail; write detail.<field>, e.g. detail.author"
            ))
        }
        _ => None,
    }
}

#[cfg(test)]
#[path = "correlation_tests.rs"]
mod tests;
