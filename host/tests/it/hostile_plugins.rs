//! Purpose-built malicious plugins against a real `trailmark serve` on
//! loopback: a plugin cannot rewrite or forge the trail, outlast its
//! deadline, forward a forged event, flood the backends or forge log lines.
//! Every load is bounded: a handful of events, seconds of waiting.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{Setup, first_event_id, put_accepted, state_change};

const WAIT: Duration = Duration::from_secs(30);
/// The standard plugins' key with the event id (the SDK's default template).
const ID_TEMPLATE: &str = "{source}/{entity-type}/{entity-id}/{ts}-{operation}-{id}.json";

/// An `Object State Change` entry from `source` (`ts` in epoch
/// milliseconds, as the fixtures read it).
fn change_from(source: &str, entity_id: &str, op: &str, author: &str) -> Value {
    let detail = json!({
        "entity-type": "account", "entity-id": entity_id, "operation": op,
        "ts": 1_795_600_800_000_i64, "author": author, "data": {"balance": 100},
    });
    json!({"Source": source, "DetailType": "Object State Change", "Detail": detail.to_string()})
}

/// A dead letter's error as the plugin or host said it (without the
/// dispatcher's `rejected: `).
fn error_of(letter: &Value) -> String {
    let error = letter["error"].as_str().unwrap_or_default();
    error.strip_prefix("rejected: ").unwrap_or(error).to_owned()
}

#[test]
fn a_plugin_with_archive_and_metadata_grants_cannot_touch_another_events_trail() {
    let setup = Setup::new();
    setup.plugin("archive", "trailmark-plugin-archive");
    setup.plugin("metadata", "trailmark-plugin-metadata");
    setup.plugin("forger", "fixture-forger");
    setup.rule(
        "archive.yaml",
        &format!(
            "name: archive\npattern: {{source: [com.bank]}}\nplugin: archive\n\
             grants: {{archive: true}}\nconfig: {{key: \"{ID_TEMPLATE}\"}}\n"
        ),
    );
    setup.rule(
        "metadata.yaml",
        &format!(
            "name: metadata\npattern: {{source: [com.bank]}}\nplugin: metadata\n\
             grants: {{metadata: true}}\nconfig: {{archive-key: \"{ID_TEMPLATE}\"}}\n"
        ),
    );
    // The bank's event is stored by the standard plugins.
    let server = setup.start();
    let bank_id = first_event_id(&put_accepted(
        &server,
        &[change_from("com.bank", "acct-1", "update", "alice")],
    ));
    server.wait_until(WAIT, "the bank's change record", |s| {
        s.changes("author=alice").len() == 1
    });
    let record = server.changes("author=alice").remove(0);
    let bank_key = record["archive-key"]
        .as_str()
        .expect("archive key")
        .to_owned();
    assert!(bank_key.contains(&bank_id), "{record}");
    server.stop();

    // Now a team-a plugin with archive and metadata grants goes after it.
    setup.rule(
        "forger.yaml",
        &json!({
            "name": "forger",
            "pattern": {"source": ["com.team-a"]},
            "plugin": "forger",
            "grants": {"archive": true, "metadata": true},
            "retry": {"max-attempts": 0},
            "config": {"ops": [
                {"op": "get", "key": bank_key},
                {"op": "put", "key": bank_key},
                {"op": "put", "key": "com.bank/account/acct-1/1764064800000-delete-{id}.json"},
                // In 0.2 a record names no identity field (the host fills in
                // the delivered event's own), so what is left to try is
                // pointing its record at the bank's body.
                {"op": "metadata", "archive-key": bank_key},
            ]},
        })
        .to_string(),
    );
    let server = setup.start();
    put_accepted(
        &server,
        &[change_from("com.team-a", "t-1", "delete", "mallory")],
    );
    let letters = server.dead_letters_of("forger", 1, WAIT);
    let error = error_of(&letters[0]);
    let outcomes: Vec<&str> = error.split(" | ").collect();
    assert_eq!(outcomes.len(), 4, "{error}");
    let denied = ["get", "put", "put", "metadata"].map(|op| format!("{op}: denied: archive key"));
    for (outcome, denied) in outcomes.iter().zip(&denied) {
        assert!(outcome.starts_with(denied.as_str()), "{error}");
    }
    assert!(
        !error.contains("\"balance\""),
        "the bank's body leaked: {error}"
    );

    // The bank's body and record are as the bank's event left them.
    let versions = server.versions("account/acct-1", "");
    assert_eq!(versions.len(), 1, "{versions:?}");
    assert_eq!(versions[0]["author"], "alice", "{versions:?}");
    assert_eq!(versions[0]["body"], json!({"balance": 100}), "{versions:?}");
    assert!(server.changes("author=ceo").is_empty());
    assert!(server.changes("author=mallory").is_empty());
}

#[test]
fn a_sleeping_plugin_is_stopped_at_once_while_other_producers_get_200() {
    let setup = Setup::new();
    setup.plugin("sleeper", "fixture-sleeper");
    setup.plugin("noop", "fixture-noop");
    // A small backlog: before plugins lost their timers, five 20 s sleeps
    // filled it and every producer got 503.
    setup.config("[dispatch]\nmax-pending = 4\nconcurrency = 1\n");
    setup.rule(
        "sleeper.yaml",
        "name: sleeper\npattern: {source: [com.sleepy]}\nplugin: sleeper\n\
         config: {mode: sleep, ms: 20000}\nlimits: {timeout: 1s}\n",
    );
    setup.test_rule("others", "noop", "");
    let server = setup.start();
    let started = Instant::now();
    for i in 0..5 {
        put_accepted(
            &server,
            &[change_from("com.sleepy", &i.to_string(), "insert", "zed")],
        );
    }
    // Other producers keep getting 200 meanwhile (about 3 s of puts).
    let mut accepted = 0;
    let puts_end = Instant::now() + Duration::from_secs(3);
    while Instant::now() < puts_end {
        put_accepted(
            &server,
            &[state_change("book", "b", "insert", "ann", Some(json!({})))],
        );
        accepted += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(accepted > 10, "{accepted}");
    // Each sleep was stopped at once: all five are dead letters well within
    // the time one of them would have slept.
    let letters = server.dead_letters_of("sleeper", 5, Duration::from_secs(5));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    for letter in &letters {
        assert!(
            error_of(letter).contains("plugins may not sleep"),
            "{letter}"
        );
    }
    assert_eq!(
        letters[0]["attempts"], 1,
        "a forbidden call is not retried: {}",
        letters[0]
    );
}

#[test]
fn a_shutdown_during_a_sleeping_or_slow_delivery_exits_cleanly() {
    let setup = Setup::new();
    setup.plugin("spin", "fixture-spin");
    setup.plugin("sleeper", "fixture-sleeper");
    setup.test_rule("spin", "spin", "limits: {timeout: 5s}\n");
    // Before plugins lost their timers, a shutdown during this sleep
    // panicked (the sleep's timer was on the runtime being shut down).
    setup.test_rule(
        "sleeper",
        "sleeper",
        "config: {mode: sleep, ms: 20000}\nlimits: {timeout: 5s}\n",
    );
    let server = setup.start();
    put_accepted(
        &server,
        &[state_change("book", "b", "insert", "ann", Some(json!({})))],
    );
    server.wait_until(WAIT, "the delivery to start", |s| {
        s.metric("trailmark_lane_lag{rule=\"spin\"}") == Some(1.0)
    });
    std::thread::sleep(Duration::from_millis(200));
    let root_log = server.root.clone();
    let log_before = server.log();
    let status = server.stop();
    let log = std::fs::read_dir(&root_log)
        .expect("root")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("server-"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect::<String>();
    assert!(!log.contains("panicked"), "{log_before}\n---\n{log}");
    assert!(status.success(), "{status:?}: {log}");
}

#[test]
fn a_forwarding_plugin_forwards_the_envelope_unchanged() {
    let setup = Setup::new();
    setup.plugin("reforwarder", "fixture-reforwarder");
    let forwarded = setup.path().join("data").join("forwarded.jsonl");
    setup.config(&format!(
        "[forward.out]\ntype = \"file\"\npath = \"{}\"\n",
        forwarded.display()
    ));
    // In 0.2 a plugin hands over only a detail and resources: the rest of
    // the envelope is the delivered event's.
    setup.rule(
        "enrich.yaml",
        "name: enrich\npattern: {source: [com.team-a]}\nplugin: reforwarder\n\
         grants: {forward: [out]}\nconfig: {destination: out, set: {detail: '{\"enriched\":true}'}}\n",
    );
    let server = setup.start();
    let id = first_event_id(&put_accepted(
        &server,
        &[change_from("com.team-a", "t-1", "delete", "ceo")],
    ));
    server.wait_until(WAIT, "the enriched event to be forwarded", |_| {
        std::fs::read_to_string(&forwarded).is_ok_and(|t| t.lines().count() == 1)
    });
    let text = std::fs::read_to_string(&forwarded).expect("forwarded");
    let event: Value = serde_json::from_str(text.trim()).expect("json line");
    assert_eq!(event["id"], json!(id), "{event}");
    assert_eq!(event["source"], "com.team-a", "{event}");
    assert!(
        event["resources"]
            .as_array()
            .is_some_and(|r| r.contains(&json!("trailmark:rule/enrich"))),
        "{event}"
    );
    assert!(!text.contains("com.bank"), "{text}");
}

#[test]
fn each_quota_stops_its_flood_with_a_clear_error() {
    let setup = Setup::new();
    setup.plugin("flooder", "fixture-flooder");
    setup.config("[notify.ops]\ntype = \"file\"\n[forward.out]\ntype = \"file\"\n");
    let floods = [
        (
            "body",
            "{flood: body, bytes: 2000000}",
            "",
            "limits.archive-put-bytes (1048576 bytes per put)",
        ),
        (
            "puts",
            "{flood: puts, count: 100000}",
            "",
            "limits.archive-puts (16 calls per delivery)",
        ),
        (
            "volume",
            "{flood: puts, count: 100, bytes: 1000000}",
            "",
            "limits.archive-bytes (8388608 bytes per delivery)",
        ),
        (
            "gets",
            "{flood: gets, count: 1000000}",
            "",
            "limits.archive-gets (64 calls per delivery)",
        ),
        (
            "notifications",
            "{flood: notifications, count: 100000}",
            "",
            "limits.notifications (8 calls per delivery)",
        ),
        (
            "forwards",
            "{flood: forwards, count: 100000}",
            "",
            "limits.forward-sends (4 calls per delivery)",
        ),
        (
            "records",
            "{flood: metadata, count: 100000}",
            "",
            "limits.metadata-puts (4 calls per delivery)",
        ),
        (
            "attributes",
            "{flood: attributes, bytes: 1000000}",
            "",
            "limits.attribute-bytes (16384 bytes per record)",
        ),
        (
            "custom",
            "{flood: notifications, count: 100}",
            ", notifications: 2",
            "limits.notifications (2 calls per delivery)",
        ),
    ];
    for (name, config, limits, _) in &floods {
        setup.rule(
            &format!("{name}.yaml"),
            &format!(
                "name: {name}\npattern: {{source: [com.flood.{name}]}}\nplugin: flooder\n\
                 grants: {{archive: true, metadata: true, notify: [ops], forward: [out]}}\n\
                 retry: {{max-attempts: 0}}\nlimits: {{timeout: 10s{limits}}}\nconfig: {config}\n"
            ),
        );
    }
    let server = setup.start();
    let entries: Vec<Value> = floods
        .iter()
        .map(|(name, ..)| change_from(&format!("com.flood.{name}"), "f", "insert", "ann"))
        .collect();
    put_accepted(&server, &entries);
    for (name, _, _, quota) in &floods {
        let letters = server.dead_letters_of(name, 1, WAIT);
        let error = error_of(&letters[0]);
        assert!(error.starts_with("stopped after "), "{name}: {error}");
        assert!(
            error.contains(&format!("over the quota {quota}")),
            "{name}: {error}"
        );
    }
    // The floods stored no more than their quotas allowed.
    let archived = walk_bytes(&setup.path().join("data").join("archive"));
    assert!(archived < 20 << 20, "archived {archived} bytes");
    let notifications =
        std::fs::read_to_string(setup.path().join("data").join("notifications.jsonl"))
            .unwrap_or_default();
    assert_eq!(notifications.lines().count(), 8 + 2);
}

fn walk_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => walk_bytes(&e.path()),
            _ => e.metadata().map(|m| m.len()).unwrap_or(0),
        })
        .sum()
}

#[test]
fn log_output_from_a_plugin_cannot_forge_a_line() {
    let setup = Setup::new();
    setup.plugin("flooder", "fixture-flooder");
    setup.rule(
        "log.yaml",
        "name: logs\npattern: {source: [com.example.test]}\nplugin: flooder\nconfig: {flood: log}\n",
    );
    setup.test_rule(
        "text",
        "flooder",
        "retry: {max-attempts: 0}\nconfig: {flood: error-text, bytes: 1000000}\n",
    );
    let server = setup.start();
    put_accepted(
        &server,
        &[state_change("book", "b", "insert", "ann", Some(json!({})))],
    );
    let letters = server.dead_letters_of("text", 1, WAIT);
    let error = error_of(&letters[0]);
    assert!(error.len() <= 4096, "{}", error.len());
    assert!(error.ends_with("bytes in all]"), "{error}");
    server.wait_until(WAIT, "the plugin's log lines", |s| {
        s.log().contains("forged stdout line")
    });
    let log = server.log();
    let mut seen = 0;
    for line in log.lines() {
        assert!(
            !line.trim_start().starts_with("INFO trailmark: forged"),
            "forged: {line}"
        );
        // (The server may color its own levels; the plugin's sequences must not pass.)
        assert!(
            !line.contains('\r') && !line.contains("\u{1b}[2J") && !line.contains("\u{1b}[31m"),
            "raw control: {line:?}"
        );
        if line.contains("forged") {
            seen += 1;
            assert!(
                line.contains("\\nINFO trailmark: forged")
                    || line.contains("\\rINFO trailmark: forged"),
                "{line}"
            );
        }
    }
    assert!(seen >= 2, "{log}");
}
