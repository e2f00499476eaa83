//! Hot reload under a running server: rules and plugins added, changed,
//! broken, fixed and removed while events stream; nothing lost or matched
//! twice; a dead letter replayed successfully after the plugin is fixed.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Server, Setup, put_events, state_change};
use serde_json::Value;

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
    s.metric(&format!(
        "trailmark_deliveries_total{{rule=\"{rule}\",outcome=\"delivered\"}}"
    ))
    .unwrap_or(0.0)
}

#[test]
fn rules_change_under_streaming_events_without_loss_or_double_matching() {
    let setup = Setup::new();
    setup.plugin("noop", "fixture-noop");
    setup.rule(
        "always.yaml",
        "name: always\npattern: {source: [com.example.test]}\nplugin: noop\n",
    );
    let server = setup.start();

    let sent = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let streamer = {
        let (sent, stop, url) = (sent.clone(), stop.clone(), server.url.clone());
        std::thread::spawn(move || {
            let client = common::Client::new(&url);
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
    setup.rule(
        "extra.yaml",
        "name: extra\npattern: {source: [com.example.test]}\nplugin: noop\n",
    );
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
    setup.rule(
        "target.yaml",
        "name: target\npattern: {source: [com.example.test]}\nplugin: target\n",
    );
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
