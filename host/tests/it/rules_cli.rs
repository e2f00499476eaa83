//! `trailmark rules validate` checks what `trailmark serve` checks at start:
//! the rule files, each rule's plugin, and the channels its grants name.

use std::path::Path;
use std::process::Output;

use crate::common::{Setup, cli};

/// `trailmark rules validate <args>` in `dir`, which must exit with `code`;
/// its stdout.
fn validate(dir: &Path, args: &[&str], code: i32) -> String {
    let out = rules(dir, "validate", args);
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(code),
        "validate {args:?}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// `trailmark rules <command> <args>` in `dir`.
fn rules(dir: &Path, command: &str, args: &[&str]) -> Output {
    cli(dir, &[&["rules", command], args].concat())
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const ALERT: &str = "name: alert\n\
                     pattern: {source: [com.example.test]}\n\
                     plugin: noop\n\
                     grants:\n  notify: [pager]\n";

#[test]
fn validate_refuses_what_serve_would_refuse_and_says_where() {
    let setup = Setup::new();
    setup.plugin("noop", "fixture-noop");
    setup.rule("alert.yaml", ALERT);
    setup.rule(
        "lost.yaml",
        "name: lost\npattern: {source: [com.example.test]}\nplugin: missing\n",
    );
    let text = validate(setup.path(), &[], 2);
    assert!(
        text.contains("rules/alert.yaml:5:3: rule `alert`:")
            && text.contains("notify channel `pager`, which trailmark.toml does not define"),
        "an undefined channel, at the grants: {text}"
    );
    assert!(
        text.contains(
            "rules/lost.yaml:3:9: rule `lost`: plugin file plugins/missing.wasm not found"
        ),
        "a missing plugin, at its name: {text}"
    );

    // The rule files alone are fine.
    validate(setup.path(), &["--syntax-only"], 0);

    // With the channel defined and the plugin there, all is well.
    setup.config("[notify.pager]\ntype = \"file\"\n");
    setup.plugin("missing", "fixture-noop");
    let text = validate(setup.path(), &["--output", "json"], 0);
    let report: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(report["valid"], true);
}

#[test]
fn validate_says_when_there_is_no_plugins_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("rules")).expect("rules dir");
    std::fs::write(dir.path().join("rules/alert.yaml"), ALERT).expect("rule");
    let text = validate(dir.path(), &[], 2);
    assert!(
        text.contains("plugins: the plugins directory does not exist")
            && text.contains("--syntax-only"),
        "{text}"
    );
}

#[test]
fn a_config_the_plugin_refuses_is_refused_at_its_line() {
    let setup = Setup::new();
    setup.plugin("alert", "trailmark-plugin-alert");
    setup.rule(
        "typo.yaml",
        "name: typo\n\
         pattern: {source: [com.example.test]}\n\
         plugin: alert\n\
         grants: {notify: [admins]}\n\
         config:\n  channel: admins\n  subjcet: \"{entity-id} deleted\"\n",
    );
    let text = validate(setup.path(), &[], 2);
    assert!(
        text.contains("rules/typo.yaml:6:3: rule `typo`: the plugin refused the rule's config")
            && text.contains("subjcet"),
        "the plugin's own check of its config, at the config: {text}"
    );

    // The server holds the rule (instead of rejecting every event) and says why.
    let server = setup.start();
    let (_, ready) = server.get("/readyz").expect("readyz");
    let held = ready["reload"]["errors"][0].as_str().unwrap_or_default();
    assert!(
        held.contains("typo.yaml:6:3") && held.contains("refused the rule's config"),
        "{ready}"
    );
}

fn rules_test(dir: &Path, args: &[&str]) -> Output {
    rules(dir, "test", args)
}

#[test]
fn rules_test_runs_the_shipped_correlation_over_a_timeline_and_prints_the_fire() {
    let root = crate::common::workspace();
    let shipped = |extra: &[&str]| {
        let timeline = [
            "--rules",
            "rules",
            "--events",
            "examples/events/mass-deletes.jsonl",
        ];
        rules_test(&root, &[&timeline[..], extra].concat())
    };
    let out = shipped(&[]);
    let text = stdout(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{text}{err}");
    let fires: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("mass-deletes"))
        .collect();
    assert_eq!(
        fires.len(),
        1,
        "mallory's 21 deletes, not carol's 20: {text}"
    );
    assert!(
        fires[0].contains("detail.author=mallory@example.com"),
        "{text}"
    );
    assert!(fires[0].contains(" 21 "), "{text}");
    assert!(err.contains("41 event(s), 1 fire(s)"), "{err}");

    let out = shipped(&["--output", "json"]);
    let fire: serde_json::Value =
        serde_json::from_str(stdout(&out).trim()).expect("one fire event per line");
    assert_eq!(fire["detail-type"], "Correlation Match");
    assert_eq!(fire["id"], fire["detail"]["fire-id"]);
    assert_eq!(fire["detail"]["events"].as_array().map(Vec::len), Some(21));
}

#[test]
fn rules_test_says_which_line_of_the_timeline_is_bad() {
    let setup = Setup::new();
    setup.rule(
        "deletes.yaml",
        "name: deletes\npattern: {detail: {operation: [delete]}}\n",
    );
    setup.rule(
        "mass.yaml",
        "name: mass\ncorrelation:\n  type: event_count\n  rules: [deletes]\n  group-by: [detail.author]\n  timespan: 5m\n  condition: {gte: 2}\n",
    );
    std::fs::write(
        setup.path().join("events.jsonl"),
        "{\"id\": \"a\", \"time\": \"2026-01-01T00:00:00Z\", \"detail\": {}}\n\n{\"id\": \"b\"}\n",
    )
    .expect("write events");
    let out = rules_test(
        setup.path(),
        &["--rules", "rules", "--events", "events.jsonl"],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("events.jsonl:3: the event has no time"),
        "{err}"
    );

    // A time path that cannot hold a time is refused before any event is read.
    let out = rules_test(
        setup.path(),
        &[
            "--rules",
            "rules",
            "--events",
            "events.jsonl",
            "--time-path",
            "ts",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`ts` cannot hold an event time"), "{err}");
}
