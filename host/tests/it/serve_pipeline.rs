//! `trailmark serve` end to end: a real server process, real plugins built
//! from plugins/ and the fixtures, real HTTP on loopback, real files.

use std::time::Duration;

use serde_json::json;

use crate::common::{
    self, Setup, assert_success, book_lifecycle, put_accepted, put_events, state_change,
};

const WAIT: Duration = Duration::from_secs(60);

#[test]
fn default_pipeline_archives_records_alerts_and_answers_queries() {
    let setup = Setup::new().standard();
    let server = setup.start();
    put_accepted(&server, &book_lifecycle("978-1"));

    server.wait_until(WAIT, "three change records", |s| {
        s.changes("entity-type=book").len() == 3
    });
    let changes = server.changes("entity-type=book&entity-id=978-1");
    let ops: Vec<&str> = changes
        .iter()
        .filter_map(|c| c["operation"].as_str())
        .collect();
    assert_eq!(ops.len(), 3);
    assert!(ops.contains(&"insert") && ops.contains(&"update") && ops.contains(&"delete"));
    assert_eq!(server.changes("author=bob").len(), 1);
    assert_eq!(server.changes("operation=delete").len(), 1);

    let versions = server.versions("book/978-1", "");
    assert_eq!(versions.len(), 3, "{versions:?}");
    let insert = versions
        .iter()
        .find(|v| v["operation"] == "insert")
        .expect("insert version");
    assert_eq!(insert["body"]["copies"], 3, "{versions:?}");
    let update = versions
        .iter()
        .find(|v| v["operation"] == "update")
        .expect("update version");
    assert_eq!(update["body"]["copies"], 2, "{versions:?}");

    // The delete raised exactly one alert on the default `admins` channel.
    let alerts_file = setup.path().join("data").join("notifications.jsonl");
    server.wait_until(WAIT, "the delete alert", |_| {
        std::fs::read_to_string(&alerts_file).is_ok_and(|t| t.lines().count() == 1)
    });
    let alert: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&alerts_file)
            .expect("alerts")
            .trim(),
    )
    .expect("json line");
    assert_eq!(alert["channel"], "admins");
    assert!(
        alert["subject"].as_str().unwrap_or("").contains("978-1"),
        "{alert}"
    );

    // The event itself is readable back by id.
    let id = changes[0]["event-id"].as_str().expect("event id");
    let (status, event) = server.get(&format!("/v1/events/{id}")).expect("event");
    assert_eq!(status, 200, "{event}");
    assert_eq!(event["detail-type"], "Object State Change");
    let (status, _) = server
        .get("/v1/events/00000000-0000-4000-8000-000000000000")
        .expect("missing event");
    assert_eq!(status, 404);

    server.wait_until(WAIT, "every delivery finished", |s| {
        s.delivered("log") == Some(3.0)
    });
    assert_eq!(server.metric("trailmark_events_accepted_total"), Some(3.0));
}

#[test]
fn transient_failures_are_retried_until_the_plugin_succeeds() {
    let setup = Setup::new();
    setup.plugin("flaky", "fixture-flaky");
    setup.config("[dispatch]\nretry-initial = \"20ms\"\nretry-max = \"100ms\"\n");
    setup.test_rule(
        "flaky",
        "flaky",
        "grants: {archive: {read: [flaky/], write-prefix: flaky/}}\nconfig: {succeed_after: 3}\n",
    );
    let server = setup.start();
    let (status, body) = put_events(&server, &[state_change("book", "1", "insert", "a", None)]);
    assert_eq!(status, 200, "{body}");
    server.wait_until(WAIT, "the flaky delivery to succeed", |s| {
        s.delivered("flaky") == Some(1.0)
    });
    assert_eq!(server.retries("flaky"), Some(2.0));
    assert!(server.dead_letters().is_empty());
}

#[test]
fn each_delivery_of_a_batch_gets_its_own_outcome_with_real_plugins() {
    // Five events in one request, so each lane is handed them together (up
    // to `dispatch.batch`): `calm` ones pass the panicker, the other traps
    // (retried alone, then dead-lettered); flaky retries each once; the
    // rejecter dead-letters each; noop delivers each once.
    let setup = Setup::new();
    for (name, fixture) in [
        ("panicker", "fixture-panicker"),
        ("flaky", "fixture-flaky"),
        ("rejecter", "fixture-rejecter"),
        ("noop", "fixture-noop"),
    ] {
        setup.plugin(name, fixture);
    }
    setup.config("[dispatch]\nretry-initial = \"20ms\"\nretry-max = \"100ms\"\nbatch = 8\n");
    setup.test_rule("mixed", "panicker", "retry: {max-attempts: 2}\n");
    setup.test_rule(
        "flaky",
        "flaky",
        "grants: {archive: {read: [flaky/], write-prefix: flaky/}}\nconfig: {succeed_after: 2}\n",
    );
    setup.test_rule("reject", "rejecter", "");
    setup.test_rule("ok", "noop", "");
    let server = setup.start();
    let entries: Vec<_> = (1..=5)
        .map(|i| {
            let author = if i == 3 { "storm" } else { "calm" };
            state_change(
                "book",
                &i.to_string(),
                "insert",
                author,
                Some(json!({"n": i})),
            )
        })
        .collect();
    let body = put_accepted(&server, &entries);

    let delivered = |s: &common::Server, rule: &str| s.delivered(rule).unwrap_or(0.0);
    server.wait_until(WAIT, "every delivery finished", |s| {
        s.dead_letters().len() == 6
            && delivered(s, "mixed") == 4.0
            && delivered(s, "flaky") == 5.0
            && delivered(s, "ok") == 5.0
    });
    let letters = server.dead_letters();
    let mixed: Vec<_> = letters.iter().filter(|l| l["rule"] == "mixed").collect();
    assert_eq!(mixed.len(), 1, "only the trapping delivery: {letters:?}");
    assert_eq!(mixed[0]["attempts"], 3, "{}", mixed[0]);
    assert_eq!(
        mixed[0]["event-id"], body["Entries"][2]["EventId"],
        "the third event, the one that traps: {}",
        mixed[0]
    );
    let rejected = letters.iter().filter(|l| l["rule"] == "reject").count();
    assert_eq!(rejected, 5, "each rejected delivery, once: {letters:?}");
    assert!(
        letters
            .iter()
            .filter(|l| l["rule"] == "reject")
            .all(|l| l["attempts"] == 1)
    );
    let retries = |rule: &str| server.retries(rule).unwrap_or(0.0);
    assert_eq!(retries("mixed"), 2.0, "the trapping delivery alone retried");
    assert_eq!(retries("flaky"), 5.0, "each flaky delivery retried once");
    assert_eq!(retries("ok"), 0.0);
    // Nothing more arrives: the healthy deliveries were made exactly once.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(delivered(&server, "mixed"), 4.0);
    assert_eq!(delivered(&server, "ok"), 5.0);
    assert_eq!(delivered(&server, "flaky"), 5.0);
    assert_eq!(server.dead_letters().len(), 6);
}

#[test]
fn a_rejecting_plugin_ends_in_dead_letters_and_replay_reports_it() {
    let setup = Setup::new();
    setup.plugin("rejecter", "fixture-rejecter");
    setup.plugin("noop", "fixture-noop");
    setup.test_rule("reject", "rejecter", "");
    setup.test_rule("ok", "noop", "");
    let server = setup.start();
    let (status, _) = put_events(&server, &[state_change("book", "1", "insert", "a", None)]);
    assert_eq!(status, 200);
    server.wait_until(WAIT, "a dead letter", |s| s.dead_letters().len() == 1);
    let letter = &server.dead_letters()[0];
    assert_eq!(letter["rule"], "reject");
    assert_eq!(letter["attempts"], 1, "a reject is not retried: {letter}");
    assert!(
        letter["error"].as_str().unwrap_or("").contains("rejected"),
        "{letter}"
    );
    // The healthy rule beside it was not affected.
    server.wait_until(WAIT, "the healthy rule", |s| s.delivered("ok") == Some(1.0));
    // Replaying still fails (the plugin still rejects): it lands back in dead letters.
    let (status, body) = server
        .post("/v1/admin/dlq/replay", &json!({"rule": "reject"}))
        .expect("replay");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["replayed"].as_array().map(Vec::len), Some(1), "{body}");
    server.wait_until(WAIT, "the replayed delivery to fail again", |s| {
        s.metric("trailmark_dead_letters_total{rule=\"reject\"}") == Some(2.0)
            && s.dead_letters().len() == 1
    });
}

#[test]
fn ingest_keeps_accepting_when_a_lane_falls_behind() {
    // A lane that falls behind keeps its backlog in the journal: ingest
    // answers 503 only when the journal itself cannot keep up (see
    // backlog.rs for the load version of this).
    let setup = Setup::new();
    setup.plugin("slow", "fixture-slow");
    setup.config("[dispatch]\nmax-pending = 4\nconcurrency = 1\n");
    setup.rule(
        "slow.yaml",
        // `slow` counts work, not time (plugins have no clock): a long
        // timeout keeps a loaded machine from turning it into retries.
        "name: slow\npattern: {source: [com.example.test]}\nplugin: slow\nconfig: {millis: 300}\nlimits: {timeout: 30s}\n",
    );
    let server = setup.start();
    for i in 0..50 {
        let (status, body) = put_events(
            &server,
            &[state_change("book", &i.to_string(), "insert", "a", None)],
        );
        assert_eq!(
            status, 200,
            "put {i} refused while the lane is behind: {body}"
        );
    }
    assert!(
        server
            .metric("trailmark_lane_spilled{rule=\"slow\"}")
            .unwrap_or(0.0)
            > 0.0,
        "the lane's backlog waits in the journal"
    );
    assert!(
        server
            .metric("trailmark_lane_lag{rule=\"slow\"}")
            .unwrap_or(99.0)
            <= 4.0
    );
    assert_eq!(server.get("/healthz").expect("healthz").0, 200);
    server.wait_until(WAIT, "the lane to catch up", |s| {
        s.delivered("slow") == Some(50.0)
            && s.metric("trailmark_lane_spilled{rule=\"slow\"}") == Some(0.0)
    });
}

#[test]
fn a_server_refuses_to_start_on_invalid_rules_and_says_where() {
    let setup = Setup::new();
    setup.rule(
        "bad.yaml",
        "name: bad\npattern:\n  detail:\n    operation: [{prefx: \"d\"}]\nplugin: log\n",
    );
    let out = common::cli(setup.path(), &common::SERVE);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.yaml:4:"), "{stderr}");
    assert!(stderr.contains("prefx"), "{stderr}");
}

#[test]
#[cfg(feature = "aws")]
fn the_aws_sdk_puts_events_through_trailmark_events_put() {
    let setup = Setup::new().standard();
    let server = setup.start();
    let samples = common::workspace().join("examples").join("events");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_trailmark"))
        .args(["events", "put", "--server", &server.url, "--output", "json"])
        .env("TRAILMARK_DATA", server.root.join("data"))
        .arg(samples.join("put-events.json"))
        .arg(samples.join("book-insert.json"))
        .output()
        .expect("run events put");
    assert_success(&out);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json summary");
    let ids: Vec<&str> = summary["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["event-id"].as_str())
        .collect();
    assert_eq!(ids.len(), 4, "{summary}");
    server.wait_until(WAIT, "four change records", |s| {
        s.changes("entity-type=book").len() == 4
    });
    for id in ids {
        let (status, _) = server.get(&format!("/v1/events/{id}")).expect("event");
        assert_eq!(status, 200);
    }
}

#[test]
fn a_rule_whose_plugin_is_missing_is_held_and_delivered_once_the_plugin_arrives() {
    // One missing plugin must not keep the audit service down after a
    // restart: the server starts, says which rule is held and why, journals
    // the rule's events, and delivers them once the plugin is there.
    let setup = Setup::new();
    setup.rule(
        "late.yaml",
        "name: late\npattern: {source: [com.example.test]}\nplugin: noop\n",
    );
    let server = setup.start();
    let (status, body) = put_events(&server, &[state_change("book", "1", "insert", "a", None)]);
    assert_eq!(
        status, 200,
        "events are accepted while the rule is held: {body}"
    );

    let (status, ready) = server.get("/readyz").expect("readyz");
    assert_eq!(status, 200, "{ready}");
    let held = ready["reload"]["errors"][0].as_str().unwrap_or_default();
    assert!(
        held.contains("late.yaml") && held.contains("noop.wasm") && held.contains("held"),
        "readyz names the held rule and its problem: {ready}"
    );
    assert!(
        server.log().contains("rule held"),
        "the log says so: {}",
        server.log()
    );

    setup.plugin("noop", "fixture-noop");
    server.wait_until(WAIT, "the held event to be delivered", |s| {
        s.delivered("late") == Some(1.0)
    });
    assert!(
        server.dead_letters().is_empty(),
        "nothing was dead-lettered"
    );
}

#[test]
fn a_removed_rule_leaves_metrics_once_its_lane_has_finished() {
    let setup = Setup::new();
    setup.plugin("noop", "fixture-noop");
    for name in ["kept", "gone"] {
        setup.rule(
            &format!("{name}.yaml"),
            &format!("name: {name}\npattern: {{source: [com.example.test]}}\nplugin: noop\n"),
        );
    }
    let server = setup.start();
    let (status, body) = put_events(&server, &[state_change("book", "1", "insert", "a", None)]);
    assert_eq!(status, 200, "{body}");
    let gone = "trailmark_deliveries_total{rule=\"gone\",outcome=\"delivered\"}";
    server.wait_until(WAIT, "both deliveries", |s| s.metric(gone) == Some(1.0));

    std::fs::remove_file(setup.path().join("rules/gone.yaml")).expect("remove rule");
    let (status, body) = server.post("/v1/admin/reload", &json!({})).expect("reload");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        server.metric(gone),
        None,
        "the removed rule's series are gone"
    );
    assert_eq!(
        server.delivered("kept"),
        Some(1.0),
        "the rule in force keeps its counters"
    );
}
