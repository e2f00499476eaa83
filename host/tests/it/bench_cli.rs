//! `trailmark bench` against a real server: what it reports is what the
//! server counted, and it reports a delivery rate only once every delivery
//! is done.

use serde_json::Value;

use crate::common::Setup;

fn bench(server: &crate::common::Server, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "bench",
        "--duration",
        "2s",
        "--rate",
        "200",
        "--connections",
        "2",
    ];
    args.extend_from_slice(extra);
    let out = server.cli(&args);
    crate::common::assert_success(&out);
    out
}

#[test]
fn bench_reports_what_the_server_accepted_once_every_delivery_is_done() {
    let setup = Setup::new();
    setup.plugin("log", "trailmark-plugin-log");
    setup.rule(
        "log.yaml",
        "name: log\npattern: {detail-type: [Object State Change]}\nplugin: log\n",
    );
    let server = setup.start();

    let out = bench(&server, &["--output", "json"]);
    let report: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    let accepted = report["accepted"].as_u64().expect("accepted");
    assert!(accepted > 0, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    assert!(
        report["all-delivered-after-seconds"].is_number()
            && report["delivered-per-second"].is_number(),
        "{report}"
    );
    // Reported as drained: every accepted event was delivered by then.
    assert_eq!(
        server.metric("trailmark_events_accepted_total"),
        Some(accepted as f64)
    );
    assert_eq!(server.delivered("log"), Some(accepted as f64));
}

/// Deliveries still owed when the wait ends (a plugin that works ~50 ms
/// per event, given 200 events a second): no delivery rate, and the table
/// says why.
#[test]
fn bench_reports_no_delivery_rate_while_deliveries_are_owed() {
    let setup = Setup::new();
    setup.plugin("slow", "fixture-slow");
    setup.rule(
        "slow.yaml",
        "name: slow\npattern: {detail-type: [Object State Change]}\nplugin: slow\n\
         config: {millis: 50}\n",
    );
    let server = setup.start();

    let out = bench(&server, &["--drain-wait", "1s", "--output", "json"]);
    let report: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    assert!(report["accepted"].as_u64() > Some(0), "{report}");
    assert_eq!(
        report["all-delivered-after-seconds"],
        Value::Null,
        "{report}"
    );
    assert_eq!(report["delivered-per-second"], Value::Null, "{report}");

    let out = bench(&server, &["--drain-wait", "1s"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("not all delivered") && !table.contains("all delivered after"),
        "{table}"
    );
}
