//! Correlation rule files: what they mean, and where their errors point,
//! alone and among the rules they name.

use std::path::Path;

use trailmark_correlate::{AfterFire, Kind, Window};

use crate::rules::{LoadedRule, RuleSet, load_str};

const DELETE: &str = "name: delete\npattern: {detail: {operation: [delete]}}\n";

fn load(name: &str, text: &str) -> LoadedRule {
    load_str(Path::new(name), text).unwrap_or_else(|e| panic!("valid rule: {e:?}"))
}

/// Assert that the set of (file name, text) is refused, its errors saying
/// `needle`.
#[track_caller]
fn assert_refused(files: &[(&str, &str)], needle: &str) {
    let errors = set_errors(files);
    assert!(
        errors.contains(needle),
        "{:?}: `{needle}` missing from:\n{errors}",
        files.iter().map(|(name, _)| name).collect::<Vec<_>>()
    );
}

/// Every error of a set of (file name, text), as `file:line:col: message`.
fn set_errors(files: &[(&str, &str)]) -> String {
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    for (name, text) in files {
        match load_str(Path::new(name), text) {
            Ok(r) => rules.push(r),
            Err(e) => errors.extend(e),
        }
    }
    if errors.is_empty()
        && let Err(e) = RuleSet::from_rules(rules)
    {
        errors = e;
    }
    assert!(!errors.is_empty(), "expected errors for {files:?}");
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

const MASS: &str = "\
name: mass-deletes
correlation:
  type: event_count
  rules: [delete]
  group-by: [detail.author]
  timespan: 5m
  condition: {gt: 20}
window: tumbling
after-fire: {suppress: 1h}
lateness: 30s
plugin: alert
";

#[test]
fn a_correlation_rule_reads_sigma_keys_and_our_extensions() {
    let r = load("mass.yaml", MASS).rule;
    let c = r.correlation.expect("a correlation");
    assert_eq!(c.kind, Kind::EventCount);
    assert_eq!(c.rules, ["delete"]);
    assert_eq!(c.group_by, ["detail.author"]);
    assert_eq!(c.timespan, 300_000);
    assert_eq!(c.condition.gt, Some(20));
    assert_eq!(c.window, Window::Tumbling);
    assert_eq!(c.after_fire, AfterFire::Suppress(3_600_000));
    assert_eq!(c.lateness, 30_000);
    // Its pattern is its own fires, so the fire reaches its plugin.
    assert_eq!(
        r.pattern_json["detail"]["rule"][0], "mass-deletes",
        "{}",
        r.pattern_json
    );
    assert_eq!(r.plugin.as_deref(), Some("alert"));
}

#[test]
fn a_rule_with_a_pattern_and_no_plugin_is_a_building_block() {
    let block = load("delete.yaml", DELETE);
    assert_eq!(block.rule.plugin, None);
    let set = RuleSet::from_rules(vec![block, load("mass.yaml", MASS)]).expect("valid set");
    let event = br#"{"version":"0","id":"1","detail-type":"x","source":"s","account":"1","time":"2024-01-01T00:00:00Z","region":"r","resources":[],"detail":{"operation":"delete","author":"a"}}"#;
    assert!(
        set.matching(event).expect("json").is_empty(),
        "delivered nowhere"
    );
    let all: Vec<&str> = set
        .matching_all(event)
        .expect("json")
        .iter()
        .map(|r| r.rule.name.as_str())
        .collect();
    assert_eq!(all, ["delete"], "but counted by correlations");
    assert_eq!(set.correlations().len(), 1);
}

#[test]
fn a_building_block_refuses_what_only_a_plugin_uses() {
    let errors = set_errors(&[("b.yaml", &format!("{DELETE}grants: {{archive: true}}\n"))]);
    assert!(
        errors.starts_with("b.yaml:3:1: `grants` is for the rule's plugin"),
        "{errors}"
    );
}

#[test]
fn unknown_rule_names_point_at_the_name() {
    let errors = set_errors(&[
        ("delete.yaml", DELETE),
        ("mass.yaml", &MASS.replace("[delete]", "[delete, purge]")),
    ]);
    assert!(
        errors.starts_with("mass.yaml:4:19: no rule is named `purge`; a correlation names rules loaded beside it: delete"),
        "{errors}"
    );
}

#[test]
fn cycles_between_correlation_rules_are_refused() {
    let a = "name: a\ncorrelation:\n  type: event_count\n  rules: [b]\n  timespan: 5m\n  condition: {gte: 2}\n";
    let b = "name: b\ncorrelation:\n  type: event_count\n  rules: [a]\n  timespan: 5m\n  condition: {gte: 2}\n";
    assert_refused(
        &[("a.yaml", a), ("b.yaml", b)],
        "a.yaml:3:3: correlations name each other in a cycle: a → b → a",
    );
}

#[test]
fn a_timespan_over_the_maximum_is_refused_where_it_is_written() {
    let errors = set_errors(&[("mass.yaml", &MASS.replace("timespan: 5m", "timespan: 8d"))]);
    assert!(
        errors.starts_with("mass.yaml:6:13: the timespan must be more than 0 and at most 7d"),
        "{errors}"
    );
    assert_refused(
        &[(
            "mass.yaml",
            &MASS.replace("timespan: 5m", "timespan: 5 minutes"),
        )],
        "mass.yaml:6:13: `5 minutes` is not a timespan",
    );
}

#[test]
fn group_by_paths_that_cannot_exist_are_refused() {
    let errors = set_errors(&[
        ("delete.yaml", DELETE),
        (
            "mass.yaml",
            &MASS.replace("[detail.author]", "[author, source.name]"),
        ),
    ]);
    assert!(
        errors.contains("mass.yaml:5:14: group-by `author`: in events of `delete`, `author` cannot exist in an event: paths start at the envelope"),
        "{errors}"
    );
    assert!(
        errors.contains("mass.yaml:5:22: group-by `source.name`: in events of `delete`, `source.name` cannot exist in an event: `source` has no fields below it"),
        "{errors}"
    );
}

#[test]
fn a_chained_correlation_groups_by_the_inner_groups_names() {
    let outer = "name: outer\ncorrelation:\n  type: event_count\n  rules: [mass-deletes]\n  group-by: [detail.user]\n  timespan: 1h\n  condition: {gte: 2}\n";
    assert_refused(
        &[
            ("delete.yaml", DELETE),
            ("mass.yaml", MASS),
            ("outer.yaml", outer),
        ],
        "outer.yaml:5:14: group-by `detail.user`: `mass-deletes` is a correlation rule whose fires carry only its group (detail.author)",
    );
}

#[test]
fn misplaced_and_unsupported_keys_say_what_is_valid() {
    assert_refused(
        &[("d.yaml", &format!("{DELETE}window: tumbling\n"))],
        "d.yaml:3:1: `window` belongs to a correlation rule",
    );
    assert_refused(
        &[(
            "m.yaml",
            &MASS.replace("type: event_count", "type: value_sum"),
        )],
        "m.yaml:3:9: `value_sum` is not supported yet",
    );
    assert_refused(
        &[(
            "m.yaml",
            &MASS.replace("  timespan: 5m\n", "  timespan: 5m\n  window: session\n"),
        )],
        "m.yaml:7:3: unknown key `window` in `correlation`",
    );
    assert_refused(
        &[("m.yaml", &format!("{MASS}pattern: {{source: [a]}}\n"))],
        "a correlation rule has no `pattern`",
    );
    assert_refused(
        &[(
            "m.yaml",
            &MASS.replace("type: event_count", "type: value_count"),
        )],
        "add `field: <path>` to `condition`",
    );
}

#[test]
fn a_bad_type_or_timespan_points_at_its_key_and_a_missing_one_at_the_section() {
    for (text, needle) in [
        (
            MASS.replace("type: event_count", "type: 7"),
            "m.yaml:3:9: `type` must be event_count",
        ),
        (
            MASS.replace("  type: event_count\n", ""),
            "m.yaml:3:3: `type` must be event_count",
        ),
        (
            MASS.replace("timespan: 5m", "timespan: 5"),
            "m.yaml:6:13: `timespan` is required",
        ),
        (
            MASS.replace("  timespan: 5m\n", ""),
            "m.yaml:3:3: `timespan` is required",
        ),
    ] {
        assert_refused(&[("m.yaml", &text)], needle);
    }
}
