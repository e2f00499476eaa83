//! Hot reload under a running server: rules and plugins added, changed,
//! broken, fixed and removed while events stream; nothing lost or matched
//! twice; a dead letter replayed successfully after the plugin is fixed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{self, Server, Setup, put_events, state_change};

const WAIT: Duration = Duration::from_secs(60);

fn rule_names(s: &Server) -> Vec<String> {
    let (_, v) = s.get("/v1/admin/rules").expect("rules");
    v["rules"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|x| x["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn delivered(s: &Server, rule: &str) -> f64 {
    s.delivered(rule).unwrap_or(0.0)
}

#[test]
fn rules_change_under_streaming_events_without_loss_or_double_matching() {
    let setup = Setup::new();
    setup.plugin("noop", "fixture-noop");
    setup.test_rule("always", "noop", "");
    let server = setup.start();

    let sent = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let streamer = {
        let (sent, stop, url) = (sent.clone(), stop.clone(), server.url.clone());
        let token = server.token();
        std::thread::spawn(move || {
            let client = common::Client::new(&url, token);
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let ids = client
                    .try_put(&[state_change(
                        "doc",
                        &format!("d{i}"),
                        "insert",
                        "reload",
                        None,
                    )])
                    .expect("server up");
                sent.fetch_add(ids.len() as u64, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };

    // Add a rule: it takes effect without a restart.
    let added = Instant::now();
    setup.test_rule("extra", "noop", "");
    server.wait_until(WAIT, "the added rule", |s| {
        rule_names(s).contains(&"extra".to_owned())
    });
    eprintln!("rule added and active after {:?}", added.elapsed());
    server.wait_until(WAIT, "a delivery to the added rule", |s| {
        delivered(s, "extra") > 0.0
    });

    // Break it: the last good version stays active and the failure is visible.
    setup.rule(
        "extra.yaml",
        "name: extra\npattern: {source: [{prefx: com}]}\nplugin: noop\n",
    );
    server.wait_until(WAIT, "the failed reload to be reported", |s| {
        s.metric("trailmark_reload_failures_total").unwrap_or(0.0) >= 1.0
    });
    let (_, status) = server.get("/v1/admin/status").expect("status");
    assert_eq!(status["last-reload"]["ok"], false, "{status}");
    let errors = status["last-reload"]["errors"].to_string();
    assert!(
        errors.contains("extra.yaml:2:"),
        "the error names file and line: {errors}"
    );
    assert!(
        rule_names(&server).contains(&"extra".to_owned()),
        "the good version stays"
    );

    // Fix it, then delete it.
    setup.rule(
        "extra.yaml",
        "name: extra\npattern: {source: [{prefix: com.example}]}\nplugin: noop\n",
    );
    server.wait_until(WAIT, "the fixed rule", |s| {
        s.get("/v1/admin/status")
            .map(|(_, v)| v["last-reload"]["ok"] == true)
            .unwrap_or(false)
    });
    std::fs::remove_file(setup.path().join("rules").join("extra.yaml")).expect("remove rule");
    server.wait_until(WAIT, "the removed rule to go", |s| {
        !rule_names(s).contains(&"extra".to_owned())
    });

    stop.store(true, Ordering::Relaxed);
    streamer.join().expect("streamer");
    let sent = sent.load(Ordering::Relaxed) as f64;
    assert!(sent > 0.0);
    // The rule that never changed got every event exactly once, across all reloads.
    server.wait_until(WAIT, "every event delivered to `always`", |s| {
        delivered(s, "always") == sent
    });
    assert_eq!(
        server.metric("trailmark_rule_matches_total{rule=\"always\"}"),
        Some(sent)
    );
    assert_eq!(server.metric("trailmark_events_accepted_total"), Some(sent));
}

#[test]
fn a_dead_letter_replays_successfully_after_the_plugin_is_fixed_by_a_hot_reload() {
    let setup = Setup::new();
    setup.plugin("target", "fixture-rejecter");
    setup.test_rule("target", "target", "");
    let server = setup.start();
    let (status, _) = put_events(&server, &[state_change("doc", "1", "insert", "a", None)]);
    assert_eq!(status, 200);
    server.wait_until(WAIT, "the dead letter", |s| s.dead_letters().len() == 1);

    // Replace the plugin file: the next reload binds the fixed version.
    let tmp = setup.path().join("plugins").join("target.wasm.tmp");
    std::fs::copy(common::wasm("fixture-noop"), &tmp).expect("copy");
    std::fs::rename(&tmp, setup.path().join("plugins").join("target.wasm")).expect("rename");
    let (status, body) = server
        .post("/v1/admin/reload", &Value::Null)
        .expect("reload");
    assert_eq!(status, 200, "{body}");

    let (status, body) = server
        .post("/v1/admin/dlq/replay", &serde_json::json!({}))
        .expect("replay");
    assert_eq!(status, 200, "{body}");
    server.wait_until(WAIT, "the replayed delivery to succeed", |s| {
        delivered(s, "target") == 1.0
    });
    assert!(server.dead_letters().is_empty());
}

/// Where each streamed event went: the archive plugin (v1) writes
/// `archive/com.example.test/doc/<entity-id>/…`, the metadata plugin (v2)
/// stores a change record with the event id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reached {
    Nowhere,
    V1,
    V2,
    Both,
}

#[test]
fn a_plugin_replaced_broken_and_fixed_mid_stream_gets_each_event_on_exactly_one_version() {
    let setup = Setup::new();
    setup.plugin("target", "trailmark-plugin-archive");
    setup.test_rule(
        "target",
        "target",
        "grants: {archive: true, metadata: true}\n",
    );
    let server = setup.start();
    let plugin_path = setup.path().join("plugins").join("target.wasm");
    let plugin_hash = |s: &Server| -> String {
        let (_, v) = s.get("/v1/admin/plugins").expect("plugins");
        v["plugins"]
            .as_array()
            .and_then(|p| p.iter().find(|x| x["name"] == "target"))
            .map(|p| p["sha256"].to_string())
            .unwrap_or_default()
    };
    let v1_hash = plugin_hash(&server);
    assert!(!v1_hash.is_empty() && v1_hash != "null", "{v1_hash}");

    // Stream events one request at a time; remember each one's id in send order.
    let ids = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let streamer = {
        let (ids, stop, url) = (ids.clone(), stop.clone(), server.url.clone());
        let token = server.token();
        std::thread::spawn(move || {
            let client = common::Client::new(&url, token);
            while !stop.load(Ordering::Relaxed) {
                let n = ids.lock().expect("ids").len();
                let got = client
                    .try_put(&[state_change(
                        "doc",
                        &format!("d{n}"),
                        "insert",
                        "reload",
                        Some(serde_json::json!({"n": n})),
                    )])
                    .expect("server up");
                if let [id] = got.as_slice() {
                    ids.lock().expect("ids").push(id.clone());
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let sent = |ids: &std::sync::Mutex<Vec<String>>| ids.lock().expect("ids").len();
    let wait_for_more = |n: usize| {
        server.wait_until(WAIT, "more events to stream", |_| sent(&ids) >= n);
    };
    wait_for_more(20);

    // Break the plugin (a partial write, then garbage): v1 stays bound.
    std::fs::write(&plugin_path, b"\0asm garbage").expect("write garbage");
    server.wait_until(WAIT, "the failed plugin reload to be reported", |s| {
        s.metric("trailmark_reload_failures_total").unwrap_or(0.0) >= 1.0
    });
    let (_, status) = server.get("/v1/admin/status").expect("status");
    assert_eq!(status["last-reload"]["ok"], false, "{status}");
    assert!(
        status["last-reload"]["errors"]
            .to_string()
            .contains("target.wasm"),
        "the error names the file: {status}"
    );
    assert_eq!(plugin_hash(&server), v1_hash, "the last good version stays");
    let broken_at = sent(&ids);
    wait_for_more(broken_at + 20);

    // Fix it with a different plugin: v2 takes over without a restart.
    let tmp = setup.path().join("plugins").join("target.wasm.part");
    std::fs::copy(common::wasm("trailmark-plugin-metadata"), &tmp).expect("copy v2");
    std::fs::rename(&tmp, &plugin_path).expect("rename v2");
    server.wait_until(WAIT, "v2 to be bound", |s| {
        let h = plugin_hash(s);
        !h.is_empty() && h != "null" && h != v1_hash
    });
    // The hash shows once v2 is compiled, a moment before the swap; an
    // explicit reload returns only after any reload in progress has swapped.
    let (status, body) = server
        .post("/v1/admin/reload", &Value::Null)
        .expect("reload");
    assert_eq!(status, 200, "{body}");
    let swapped_at = sent(&ids);
    wait_for_more(swapped_at + 20);

    // Delete the plugin file: its rule cannot be bound, so v2 stays.
    let failures_before = server
        .metric("trailmark_reload_failures_total")
        .unwrap_or(0.0);
    std::fs::remove_file(&plugin_path).expect("delete the plugin");
    server.wait_until(WAIT, "the failed reload after the delete", |s| {
        s.metric("trailmark_reload_failures_total").unwrap_or(0.0) > failures_before
    });
    let deleted_at = sent(&ids);
    wait_for_more(deleted_at + 20);

    stop.store(true, Ordering::Relaxed);
    streamer.join().expect("streamer");
    let ids = ids.lock().expect("ids").clone();
    let total = ids.len();

    // Wait until every event reached some version, then check which.
    let reached = |server: &Server| -> Vec<Reached> {
        let v2: std::collections::HashSet<String> =
            common::all_change_ids(server, "source=com.example.test")
                .into_iter()
                .collect();
        let archived = common::archived_keys(&server.root.join("data").join("archive"));
        (0..total)
            .map(|i| {
                let prefix = format!("com.example.test/doc/d{i}/");
                let in_v1 = archived.iter().any(|key| key.starts_with(&prefix));
                match (in_v1, v2.contains(&ids[i])) {
                    (false, false) => Reached::Nowhere,
                    (true, false) => Reached::V1,
                    (false, true) => Reached::V2,
                    (true, true) => Reached::Both,
                }
            })
            .collect()
    };
    server.wait_until(WAIT, "every event delivered", |s| {
        !reached(s).contains(&Reached::Nowhere)
    });
    let reached = reached(&server);
    assert!(
        !reached.contains(&Reached::Both),
        "an event reached both versions: {reached:?}"
    );
    // Everything sent before the fix went to v1 (the broken file never ran);
    // everything after v2 was bound went to v2; in between, one cut.
    assert!(
        reached[..broken_at.max(1)]
            .iter()
            .all(|r| *r == Reached::V1),
        "{reached:?}"
    );
    assert!(
        reached[swapped_at..].iter().all(|r| *r == Reached::V2),
        "{reached:?}"
    );
    let cut = reached
        .iter()
        .position(|r| *r == Reached::V2)
        .expect("some v2");
    assert!(
        reached[cut..].iter().all(|r| *r == Reached::V2),
        "one cut in send order, at {cut}: {reached:?}"
    );
    // Plus one: the explicit reload is itself journaled as an admin action.
    assert_eq!(
        server.metric("trailmark_events_accepted_total"),
        Some(total as f64 + 1.0)
    );
    let letters = server.dead_letters();
    assert!(letters.is_empty(), "{letters:?}");
}

#[test]
fn with_watching_off_changes_wait_for_an_explicit_reload() {
    let setup = Setup::new();
    setup.plugin("noop", "fixture-noop");
    setup.config("[server]\nwatch = false\n");
    setup.test_rule("one", "noop", "");
    let server = setup.start();
    setup.test_rule("two", "noop", "");
    // Far beyond the watcher's settle time: nothing may change by itself.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(rule_names(&server), vec!["one".to_owned()]);

    let (status, body) = server
        .post("/v1/admin/reload", &Value::Null)
        .expect("reload");
    assert_eq!(status, 200, "{body}");
    let mut names = rule_names(&server);
    names.sort();
    assert_eq!(names, vec!["one".to_owned(), "two".to_owned()]);
}
