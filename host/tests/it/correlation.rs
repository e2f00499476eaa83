//! Correlation rules in a running server: a building block counted by a
//! correlation rule, the fire journaled as an event with its deterministic
//! id and delivered to the rule's plugin, `/metrics`, and a reload that
//! keeps or drops the windows.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::common::{Server, Setup, first_event_id, put_accepted};

const WAIT: Duration = Duration::from_secs(60);

const DELETES: &str = "name: deletes\npattern: {detail: {operation: [delete]}}\n";

/// Event counts per author, with a lateness allowance of 2 s: an event
/// is correlated once the server's clock is 2 s past its time.
fn mass(plugin: &str, timespan: &str) -> String {
    format!(
        "name: mass\ncorrelation:\n  type: event_count\n  rules: [deletes]\n  group-by: [detail.author]\n  timespan: {timespan}\n  condition: {{gte: 3}}\nlateness: 2s\nplugin: {plugin}\n"
    )
}

fn now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_millis(),
    )
    .expect("fits")
}

fn delete_by(author: &str, entity: &str, ts: i64) -> Value {
    let detail = json!({
        "entity-type": "book", "entity-id": entity, "operation": "delete",
        "ts": ts, "author": author,
    });
    json!({"Source": "com.example.test", "DetailType": "Object State Change", "Detail": detail.to_string()})
}

/// `count` deletes by `author` of books `<prefix>0`, `<prefix>1`, ..., a
/// millisecond apart from `t0`.
fn deletes_by(author: &str, prefix: &str, count: i64, t0: i64) -> Vec<Value> {
    (0..count)
        .map(|i| delete_by(author, &format!("{prefix}{i}"), t0 + i))
        .collect()
}

/// Rewrite `mass.yaml` and reload.
fn reload_with(setup: &Setup, server: &Server, text: &str) {
    setup.rule("mass.yaml", text);
    let (status, body) = server
        .post("/v1/admin/reload", &Value::Null)
        .expect("reload");
    assert_eq!(status, 200, "{body}");
}

fn metric(s: &Server, name: &str, rule: &str) -> f64 {
    s.metric(&format!("{name}{{rule=\"{rule}\"}}"))
        .unwrap_or(0.0)
}

/// A setup with the log plugin, the `deletes` rule and the `mass`
/// correlation over it (5 minute windows, to the log plugin).
fn mass_setup() -> Setup {
    let setup = Setup::new();
    setup.plugin("log", "trailmark-plugin-log");
    setup.rule("deletes.yaml", DELETES);
    setup.rule("mass.yaml", &mass("log", "5m"));
    setup
}

/// Wait until `mass` holds `groups` open windows.
fn wait_groups(server: &Server, what: &str, groups: f64) {
    server.wait_until(WAIT, what, |s| {
        metric(s, "trailmark_correlation_groups", "mass") == groups
    });
}

#[test]
fn a_correlation_fire_is_a_journaled_event_delivered_to_the_rules_plugin() {
    let setup = mass_setup();
    // Not the defaults: a fire carries the server's account and region.
    setup.config("[server]\naccount = \"123456789012\"\nregion = \"eu-west-3\"\n");
    let server = setup.start();

    let t0 = now_ms();
    let ids: Vec<String> = (0..3)
        .map(|i| {
            let answer = put_accepted(&server, &[delete_by("mallory", &format!("b{i}"), t0 + i)]);
            first_event_id(&answer)
        })
        .collect();
    // Two deletes by someone else: under the threshold.
    put_accepted(&server, &deletes_by("carol", "c", 2, t0));

    server.wait_until(WAIT, "the fire delivered to the rule's plugin", |s| {
        s.delivered("mass") == Some(1.0)
    });
    assert_eq!(
        metric(&server, "trailmark_correlation_fires_total", "mass"),
        1.0
    );
    assert_eq!(
        metric(&server, "trailmark_correlation_late_events_total", "mass"),
        0.0
    );
    // Carol's group is still open; mallory's reset after the fire.
    assert_eq!(metric(&server, "trailmark_correlation_groups", "mass"), 1.0);

    // The fire is an event in the journal under its deterministic id.
    let group_key = format!("{}:{}", "mallory".len(), "mallory");
    let id = trailmark_correlate::fire_id("mass", &group_key, t0, t0 + 2, t0 + 2);
    let (status, fire) = server.get(&format!("/v1/events/{id}")).expect("fire");
    assert_eq!(status, 200, "{fire}");
    assert_eq!(fire["source"], "trailmark");
    assert_eq!(fire["detail-type"], "Correlation Match");
    assert_eq!(fire["detail"]["rule"], "mass");
    assert_eq!(fire["detail"]["count"], 3);
    assert_eq!(fire["detail"]["group"]["detail.author"], "mallory");
    assert_eq!(fire["detail"]["events"], json!(ids));
    assert_eq!(fire["account"], "123456789012");
    assert_eq!(fire["region"], "eu-west-3");
    let (_, counted) = server
        .get(&format!("/v1/events/{}", ids[0]))
        .expect("event");
    assert_eq!(
        (&counted["account"], &counted["region"]),
        (&fire["account"], &fire["region"]),
        "as the events it counted"
    );

    // The building block was delivered nowhere: no lane, no dead letter.
    assert!(
        server.dead_letters().is_empty(),
        "{:?}",
        server.dead_letters()
    );
    assert_eq!(server.delivered("deletes"), None);
}

/// `[correlation] time-path` places events at the time producers put
/// elsewhere; the standard `alert` and `archive` plugins take a fire as it
/// is: a notification from the fire's templates, its detail archived.
#[test]
fn fires_reach_alert_and_archive_and_event_time_comes_from_the_configured_path() {
    let setup = Setup::new();
    setup.config("[correlation]\ntime-path = \"detail.meta.when\"\n");
    setup.plugin("alert", "trailmark-plugin-alert");
    setup.plugin("archive", "trailmark-plugin-archive");
    setup.rule("deletes.yaml", DELETES);
    setup.rule(
        "mass.yaml",
        &format!("{}grants: {{notify: [admins]}}\n", mass("alert", "5m")),
    );
    setup.rule(
        "kept.yaml",
        &format!(
            "{}grants: {{archive: true}}\n",
            mass("archive", "5m").replace("name: mass", "name: kept")
        ),
    );
    let server = setup.start();

    // `ts` is a day old: read there, every event would be too late to count.
    let now = now_ms();
    let ids: Vec<String> = (0..3)
        .map(|i| {
            let mut entry = delete_by("mallory", &format!("b{i}"), now - 86_400_000);
            let mut detail: Value =
                serde_json::from_str(entry["Detail"].as_str().expect("detail")).expect("json");
            detail["meta"] = json!({"when": now + i});
            entry["Detail"] = Value::String(detail.to_string());
            let answer = put_accepted(&server, &[entry]);
            first_event_id(&answer)
        })
        .collect();

    let alerts = setup.path().join("data").join("notifications.jsonl");
    server.wait_until(WAIT, "the fire's notification", |_| {
        std::fs::read_to_string(&alerts).is_ok_and(|t| t.lines().count() == 1)
    });
    let alert: Value =
        serde_json::from_str(std::fs::read_to_string(&alerts).expect("alerts").trim())
            .expect("json line");
    assert_eq!(alert["channel"], "admins", "{alert}");
    assert_eq!(
        alert["subject"], r#"mass fired for {"detail.author":"mallory"}"#,
        "{alert}"
    );
    let message = alert["message"].as_str().expect("message");
    assert!(message.contains("3 matching events"), "{message}");
    for id in &ids {
        assert!(message.contains(id.as_str()), "{id} in {message}");
    }
    assert_eq!(
        metric(&server, "trailmark_correlation_late_events_total", "mass"),
        0.0
    );

    server.wait_until(WAIT, "the fire archived", |s| {
        s.delivered("kept") == Some(1.0)
    });
    let keys = crate::common::archived_keys(&setup.path().join("data").join("archive"));
    let group_key = format!("{}:{}", "mallory".len(), "mallory");
    let fire_id = trailmark_correlate::fire_id("kept", &group_key, now, now + 2, now + 2);
    assert_eq!(
        keys,
        [format!("trailmark/correlation/kept/{fire_id}.json")],
        "the fire, under its deterministic id"
    );
    assert!(
        server.dead_letters().is_empty(),
        "{:?}",
        server.dead_letters()
    );
}

#[test]
fn a_reload_keeps_windows_when_only_the_plugin_changes_and_drops_them_when_the_correlation_does() {
    let setup = mass_setup();
    setup.plugin("log2", "trailmark-plugin-log");
    let server = setup.start();
    let t0 = now_ms();
    put_accepted(&server, &deletes_by("mallory", "b", 2, t0));
    wait_groups(&server, "mallory's window open", 1.0);

    reload_with(&setup, &server, &mass("log2", "5m"));
    assert_eq!(
        metric(&server, "trailmark_correlation_groups", "mass"),
        1.0,
        "kept"
    );
    // The third delete completes the window opened before the reload.
    put_accepted(&server, &[delete_by("mallory", "b2", now_ms())]);
    server.wait_until(WAIT, "the fire, through the new plugin", |s| {
        s.delivered("mass") == Some(1.0)
    });

    put_accepted(&server, &[delete_by("carol", "c0", now_ms())]);
    wait_groups(&server, "carol's window open", 1.0);
    reload_with(&setup, &server, &mass("log2", "10m"));
    assert_eq!(
        metric(&server, "trailmark_correlation_groups", "mass"),
        0.0,
        "fresh"
    );
    assert!(
        server
            .log()
            .contains("correlation rule starts with empty windows"),
        "the fresh start is logged"
    );
}

/// Carol's third delete, her first two at `tc`: the window opened then
/// fires, counting three, and the fire is journaled.
fn carols_third_delete_fires(server: &Server, tc: i64) {
    let t2 = now_ms();
    put_accepted(server, &[delete_by("carol", "c2", t2)]);
    let carol = trailmark_correlate::fire_id("mass", "5:carol", tc, t2, t2);
    server.wait_until(WAIT, "carol's fire journaled", |s| {
        s.get(&format!("/v1/events/{carol}"))
            .is_ok_and(|(status, _)| status == 200)
    });
    let (_, fire) = server.get(&format!("/v1/events/{carol}")).expect("fire");
    assert_eq!(fire["detail"]["count"], 3);
}

/// Since this start, one fire was journaled: carol's (mallory's, from
/// before the crash, was not journaled twice).
fn only_carols_fire_was_journaled(server: &Server) {
    server.wait_until(WAIT, "carol's fire counted", |s| {
        s.metric("trailmark_correlation_fires_journaled_total") >= Some(1.0)
    });
    assert_eq!(
        server.metric("trailmark_correlation_fires_journaled_total"),
        Some(1.0),
        "mallory's fire was not journaled twice"
    );
}

/// [`mass_setup`], saving its windows every second.
fn snapshotting_setup() -> Setup {
    let setup = mass_setup();
    setup.config("[correlation]\nsnapshot-every = \"1s\"\n");
    setup
}

/// Wait until a correlation snapshot begun after now is saved in `setup`'s
/// data directory, then kill the server.
fn kill_after_a_snapshot(setup: &Setup, server: Server) {
    let path = setup.path().join("data").join("correlation.snapshot");
    std::thread::sleep(Duration::from_millis(20));
    let after = SystemTime::now();
    server.wait_until(WAIT, "a correlation snapshot saved", |_| {
        std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .is_ok_and(|modified| modified > after)
    });
    server.wait_until(WAIT, "its position in /metrics", |s| {
        s.metric("trailmark_correlation_snapshot_through") >= Some(1.0)
    });
    assert_eq!(
        server.metric("trailmark_correlation_snapshots_skipped_total"),
        Some(0.0)
    );
    server.kill();
}

#[test]
fn after_sigkill_the_windows_come_back_from_their_snapshot() {
    let setup = snapshotting_setup();
    let server = setup.start();
    let t0 = now_ms();
    put_accepted(&server, &deletes_by("mallory", "b", 3, t0));
    let tc = now_ms();
    put_accepted(&server, &deletes_by("carol", "c", 2, tc));
    server.wait_until(WAIT, "mallory's fire journaled", |s| {
        s.metric("trailmark_correlation_fires_journaled_total") == Some(1.0)
    });
    // A snapshot begun after mallory's fire is in the journal holds
    // carol's two deletes.
    kill_after_a_snapshot(&setup, server);

    let server = setup.start();
    let log = server.log();
    assert!(
        log.contains("correlation windows restored from their snapshot"),
        "{log}"
    );
    assert!(!log.contains("snapshot not used"), "{log}");
    // Carol's window is back: her third delete completes it.
    carols_third_delete_fires(&server, tc);
    only_carols_fire_was_journaled(&server);
}

#[test]
fn a_snapshot_of_a_changed_correlation_is_not_used_and_the_journal_rebuilds_it() {
    let setup = snapshotting_setup();
    let server = setup.start();
    let tc = now_ms();
    put_accepted(&server, &deletes_by("carol", "c", 2, tc));
    wait_groups(&server, "carol's window open", 1.0);
    kill_after_a_snapshot(&setup, server);

    // Its timespan changed while the server was down.
    setup.rule("mass.yaml", &mass("log", "10m"));
    let server = setup.start();
    let log = server.log();
    assert!(log.contains("correlation snapshot not used"), "{log}");
    assert!(
        log.contains("these correlations changed or are new: mass"),
        "{log}"
    );
    // Rebuilt from the journal instead: carol's two deletes count.
    let t2 = now_ms();
    put_accepted(&server, &[delete_by("carol", "c2", t2)]);
    server.wait_until(WAIT, "carol's fire journaled", |s| {
        s.metric("trailmark_correlation_fires_journaled_total") == Some(1.0)
    });
}

#[test]
fn after_sigkill_the_windows_are_rebuilt_and_no_fire_is_journaled_twice() {
    let setup = mass_setup();
    let server = setup.start();
    let t0 = now_ms();
    put_accepted(&server, &deletes_by("mallory", "b", 3, t0));
    server.wait_until(WAIT, "mallory's fire journaled", |s| {
        s.metric("trailmark_correlation_fires_journaled_total") == Some(1.0)
    });
    // Two of carol's three, then the crash.
    let tc = now_ms();
    put_accepted(&server, &deletes_by("carol", "c", 2, tc));
    server.kill();

    let server = setup.start();
    // Mallory's fire is re-created from the journal, found, not journaled
    // again; carol's open window is back, and her third delete completes it.
    // Event time is the producer's `ts`, no later than the server's clock.
    carols_third_delete_fires(&server, tc);
    assert_eq!(
        metric(&server, "trailmark_correlation_fires_total", "mass"),
        2.0,
        "mallory's fire re-created from the journal, carol's new"
    );
    only_carols_fire_was_journaled(&server);
}
