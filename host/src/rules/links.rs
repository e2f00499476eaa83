//! Checks between rules, once every rule file is loaded: the rules a
//! correlation names exist, correlations do not name each other in a loop,
//! and every `group-by` path can exist in the events it is read from.

use std::collections::HashMap;

use trailmark_correlate::{Correlation, Engine, EngineError, Kind, Limits};

use super::correlation::impossible_path;
use super::document::Position;
use super::set::{LoadedRule, RuleError};

/// Every problem between the rules of a set.
pub(crate) fn check(rules: &[LoadedRule]) -> Vec<RuleError> {
    let by_name: HashMap<&str, &LoadedRule> =
        rules.iter().map(|r| (r.rule.name.as_str(), r)).collect();
    let mut errors = Vec::new();
    for r in rules {
        let Some(corr) = &r.rule.correlation else {
            continue;
        };
        let at = |position: Position, message: String| RuleError {
            file: r.file.clone(),
            position,
            message,
        };
        let positions = &r.correlation_positions;
        let mut all_known = true;
        for (i, member) in corr.members().enumerate() {
            let position = positions
                .members
                .get(i)
                .copied()
                .unwrap_or(positions.section);
            if !by_name.contains_key(member) {
                all_known = false;
                let mut names: Vec<&str> = by_name
                    .keys()
                    .copied()
                    .filter(|n| *n != r.rule.name)
                    .collect();
                names.sort_unstable();
                errors.push(at(
                    position,
                    format!(
                        "no rule is named `{member}`; a correlation names rules loaded beside it: {}",
                        if names.is_empty() { "(none)".to_owned() } else { names.join(", ") }
                    ),
                ));
            } else if member == r.rule.name {
                all_known = false;
                errors.push(at(
                    position,
                    "a correlation rule cannot count its own fires".to_owned(),
                ));
            }
        }
        if !all_known {
            continue;
        }
        for (i, name) in corr.group_by.iter().enumerate() {
            let position = positions
                .group_by
                .get(i)
                .copied()
                .unwrap_or(positions.section);
            for member in corr.members() {
                if let Some(why) = field_problem(corr, name, member, &by_name) {
                    errors.push(at(position, format!("group-by `{name}`: {why}")));
                }
            }
        }
        if let Kind::ValueCount { field } = &corr.kind {
            for member in &corr.rules {
                if let Some(why) = field_problem(corr, field, member, &by_name) {
                    errors.push(at(positions.field, format!("field `{field}`: {why}")));
                }
            }
        }
    }
    if errors.is_empty() {
        errors.extend(engine_problems(rules));
    }
    errors
}

/// Why `name` (a group-by entry or field, maybe an alias) cannot be read
/// from the events `member` matches.
fn field_problem(
    corr: &Correlation,
    name: &str,
    member: &str,
    by_name: &HashMap<&str, &LoadedRule>,
) -> Option<String> {
    let path = corr.field_for(name, member);
    match by_name
        .get(member)
        .and_then(|m| m.rule.correlation.as_ref())
    {
        // A fire carries its own rule's group, by its group-by names.
        Some(inner) if !inner.group_by.iter().any(|g| g == path) => Some(format!(
            "`{member}` is a correlation rule whose fires carry only its group ({}); \
             group by one of those names, or map it with `aliases`",
            if inner.group_by.is_empty() {
                "none".to_owned()
            } else {
                inner.group_by.join(", ")
            }
        )),
        Some(_) => None,
        None => impossible_path(path).map(|why| format!("in events of `{member}`, {why}")),
    }
}

/// What the correlation engine refuses about the set as a whole (cycles,
/// lateness between chained correlations), at the rule it concerns.
fn engine_problems(rules: &[LoadedRule]) -> Vec<RuleError> {
    let correlations: Vec<Correlation> = rules
        .iter()
        .filter_map(|r| r.rule.correlation.clone())
        .collect();
    if correlations.is_empty() {
        return Vec::new();
    }
    let err = match Engine::new(correlations, Limits::default()) {
        Ok(_) => return Vec::new(),
        Err(e) => e,
    };
    let rule = match &err {
        EngineError::Invalid { rule, .. } | EngineError::Lateness { rule, .. } => rule.clone(),
        EngineError::Cycle { cycle } => cycle.first().cloned().unwrap_or_default(),
    };
    let Some(r) = rules.iter().find(|r| r.rule.name == rule) else {
        return Vec::new();
    };
    vec![RuleError {
        file: r.file.clone(),
        position: r.correlation_positions.section,
        message: err.to_string(),
    }]
}
