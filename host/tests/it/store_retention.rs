//! Retention per store, source and entity type, with legal holds (#18):
//! a server whose `[retention]` expires change records removes them in the
//! background, keeps what overrides and holds keep, journals each pass as a
//! `trailmark.retention` record, survives a kill -9 in the middle of a pass,
//! and `trailmark verify` still passes afterwards.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Server, Setup, assert_success, cli, put_accepted, stdout_json};

const OLD: &str = "2020-01-01T00:00:00Z";

/// A PutEvents entry: `type/id` from `source` at `ts`.
fn change(source: &str, entity_type: &str, id: &str, ts: &str) -> Value {
    let detail = json!({
        "entity-type": entity_type, "entity-id": id, "operation": "update",
        "ts": ts, "author": "alice", "data": {"n": 1},
    });
    json!({"Source": source, "DetailType": "Object State Change", "Detail": detail.to_string()})
}

fn now() -> String {
    trailmark_backend_api::when::format_ms(trailmark_backend_api::when::now_ms())
}

/// Producers' change records in the metadata store (the host's own aside).
fn stored(root: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open_with_flags(
        root.join("data/metadata.sqlite"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open metadata");
    let mut stmt = conn
        .prepare(
            "SELECT entity_type || '/' || entity_id FROM changes
             WHERE source <> 'trailmark' ORDER BY 1",
        )
        .expect("prepare");
    stmt.query_map([], |row| row.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

fn count(root: &Path) -> usize {
    stored(root).len()
}

/// The details of the `trailmark.retention` records journaled so far.
fn retention_records(server: &Server) -> Vec<Value> {
    server
        .changes("source=trailmark&entity-type=trailmark.retention&limit=100")
        .iter()
        .map(|c| {
            let id = c["event-id"].as_str().expect("event id");
            let (status, event) = server.get(&format!("/v1/events/{id}")).expect("event");
            assert_eq!(status, 200, "{event}");
            let detail = event["detail"].clone();
            match detail {
                Value::String(text) => serde_json::from_str(&text).expect("detail JSON"),
                other => other,
            }
        })
        .collect()
}

/// `trailmark verify` passes; its report.
fn verify_passes(root: &Path) -> Value {
    let out = cli(root, &["verify", "--data", "data", "--output", "json"]);
    let report = stdout_json(&out);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_eq!(report["problems"], json!([]), "{report}");
    report
}

#[test]
fn overrides_and_holds_decide_what_retention_removes_and_verify_still_passes() {
    let setup = Setup::new().standard();
    let root = setup.path();
    // Phase 1, no retention: everything is stored, holds are added.
    let server = setup.start();
    put_accepted(
        &server,
        &[
            change("com.example.test", "book", "b-old", OLD),
            change("com.example.test", "book", "b-new", &now()),
            change("com.example.pay", "payment", "p-2020", OLD),
            change(
                "com.example.pay",
                "payment",
                "p-2010",
                "2010-01-01T00:00:00Z",
            ),
            change("com.example.test", "contract", "c-1", OLD),
            change("com.example.test", "invoice", "i-1", OLD),
        ],
    );
    put_accepted(
        &server,
        &[
            change("com.example.test", "user", "u-1", OLD),
            change("com.example.test", "user", "u-2", OLD),
        ],
    );
    server.wait_until(Duration::from_secs(30), "8 records stored", |_| {
        count(root) == 8
    });
    let out = server.cli(&[
        "hold",
        "add",
        "--entity-type",
        "invoice",
        "--reason",
        "case 7",
        "--output",
        "json",
    ]);
    assert_success(&out);
    let invoice_hold = stdout_json(&out)["id"].as_i64().expect("hold id");
    assert_success(&server.cli(&["hold", "add", "--entity-type", "user", "--entity-id", "u-1"]));
    assert!(server.stop().success());

    // Phase 2: records expire after 30 days, payments after 10 years,
    // contracts never.
    setup.config(
        "[retention]\nmetadata = \"30d\"\nevery = \"1s\"\n\
         [[retention.override]]\nsource = \"com.example.pay\"\nmetadata = \"3650d\"\n\
         [[retention.override]]\nentity-type = \"contract\"\nmetadata = \"forever\"\n",
    );
    let server = setup.start();
    server.wait_until(Duration::from_secs(30), "expired records removed", |_| {
        count(root) == 5
    });
    assert_eq!(
        stored(root),
        [
            "book/b-new",
            "contract/c-1",
            "invoice/i-1",
            "payment/p-2020",
            "user/u-1"
        ]
    );
    let out = server.cli(&["hold", "list", "--output", "json"]);
    assert_success(&out);
    assert_eq!(
        stdout_json(&out)["holds"].as_array().map(Vec::len),
        Some(2),
        "kept across restarts"
    );
    // The pass is in the trail: store, rule, cutoff, count.
    server.wait_until(Duration::from_secs(30), "the pass journaled", |s| {
        !retention_records(s).is_empty()
    });
    let records = retention_records(&server);
    let removed: u64 = records
        .iter()
        .map(|r| r["data"]["count"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(removed, 3, "{records:?}");
    let first = &records[records.len() - 1]["data"]["removed"];
    assert!(
        first.to_string().contains("\"store\":\"metadata\""),
        "{first}"
    );

    // The hold lifted, the invoice goes at the next pass; the user stays.
    assert_success(&server.cli(&["hold", "remove", &invoice_hold.to_string()]));
    server.wait_until(
        Duration::from_secs(30),
        "the invoice removed and journaled",
        |s| {
            count(root) == 4
                && retention_records(s)
                    .iter()
                    .map(|r| r["data"]["count"].as_u64().unwrap_or(0))
                    .sum::<u64>()
                    == 4
        },
    );
    assert!(stored(root).contains(&"user/u-1".to_owned()));
    let actions = server.changes("source=trailmark&entity-type=trailmark.admin-action&limit=100");
    assert!(
        actions
            .iter()
            .any(|a| a["attributes"].to_string().contains("holds/remove")),
        "{actions:?}"
    );
    assert!(server.stop().success());
    let report = verify_passes(root);
    assert_eq!(report["metadata"]["removed-by-retention"], 4, "{report}");
    assert!(
        report["metadata"]["retention-cutoff"].is_string(),
        "{report}"
    );
    assert_eq!(report["archive"]["removed-by-retention"], 0, "{report}");
}

#[test]
fn a_kill_during_a_pass_loses_nothing_unexpired_and_the_next_pass_finishes() {
    let setup = Setup::new().standard();
    let root = setup.path();
    let server = setup.start();
    const OLD_ROWS: usize = 3_000;
    for batch in 0..OLD_ROWS / 10 {
        let entries: Vec<Value> = (0..10)
            .map(|i| change("com.example.test", "book", &format!("old-{batch}-{i}"), OLD))
            .collect();
        put_accepted(&server, &entries);
    }
    let recent: Vec<Value> = (0..10)
        .map(|i| change("com.example.test", "book", &format!("new-{i}"), &now()))
        .collect();
    put_accepted(&server, &recent);
    server.wait_until(Duration::from_secs(120), "every record stored", |_| {
        count(root) == OLD_ROWS + 10
    });
    assert!(server.stop().success());

    // One row per transaction: a pass of 3,000 transactions, killed midway.
    setup.config("[retention]\nmetadata = \"30d\"\nevery = \"1s\"\nchunk = 1\n");
    let server = setup.start();
    let mut left = OLD_ROWS + 10;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while left == OLD_ROWS + 10 && std::time::Instant::now() < deadline {
        left = count(root);
    }
    server.kill();
    assert!(
        left > 10 && left < OLD_ROWS + 10,
        "the kill came during the pass ({left} rows left)"
    );
    assert!(
        root.join("data/retention-pass").exists(),
        "the pass was under way"
    );

    let server = setup.start();
    server.wait_until(Duration::from_secs(60), "the next pass to finish", |_| {
        count(root) == 10
    });
    let mut kept = stored(root);
    kept.sort();
    let mut expected: Vec<String> = (0..10).map(|i| format!("book/new-{i}")).collect();
    expected.sort();
    assert_eq!(kept, expected, "nothing unexpired lost");
    server.wait_until(
        Duration::from_secs(30),
        "the pass after the kill journaled",
        |s| {
            retention_records(s)
                .iter()
                .any(|r| r["data"]["after-interrupted-pass"] == true)
        },
    );
    server.wait_until(Duration::from_secs(30), "the marker removed", |_| {
        !root.join("data/retention-pass").exists()
    });
    assert!(server.stop().success());
    // What the killed pass removed is covered by the next pass's cutoff,
    // not by its count.
    let report = verify_passes(root);
    let removed = report["metadata"]["removed-by-retention"].as_u64();
    assert!(
        removed.is_some_and(|n| n > 0 && n <= OLD_ROWS as u64),
        "{report}"
    );
}

#[test]
fn expired_bodies_leave_the_archive_and_history_says_retention_removed_them() {
    let setup = Setup::new().standard();
    let root = setup.path();
    let server = setup.start();
    put_accepted(
        &server,
        &[
            change("com.example.test", "book", "old", OLD),
            change("com.example.test", "book", "new", &now()),
            change("com.example.test", "invoice", "held", OLD),
        ],
    );
    server.wait_until(Duration::from_secs(30), "bodies archived", |s| {
        ["book/old", "book/new", "invoice/held"].iter().all(|e| {
            s.versions(e, "")
                .first()
                .is_some_and(|v| v["body"]["n"] == 1)
        })
    });
    assert_success(&server.cli(&["hold", "add", "--entity-type", "invoice"]));
    assert!(server.stop().success());

    setup.config("[retention]\narchive = \"30d\"\nevery = \"1s\"\n");
    let server = setup.start();
    server.wait_until(Duration::from_secs(30), "the old body removed", |s| {
        s.versions("book/old", "")[0]["body"].is_null()
    });
    let old = &server.versions("book/old", "")[0];
    assert_eq!(
        old["body-removed"], "removed by retention (archive default: 30d)",
        "{old}"
    );
    assert!(old.get("body-error").is_none(), "not an error: {old}");
    assert_eq!(server.versions("book/new", "")[0]["body"]["n"], 1);
    assert_eq!(
        server.versions("invoice/held", "")[0]["body"]["n"],
        1,
        "held"
    );
    assert_eq!(count(root), 3, "change records have no retention here");
    server.wait_until(Duration::from_secs(30), "the pass journaled", |s| {
        retention_records(s)
            .iter()
            .any(|r| r["data"]["removed"][0]["store"] == "archive")
    });
    assert!(server.stop().success());
    let report = verify_passes(root);
    assert_eq!(report["archive"]["removed-by-retention"], 1, "{report}");
}

#[test]
fn retention_on_an_aws_store_is_refused_at_start_with_what_does_it_there() {
    let setup = Setup::new().standard();
    setup.config(
        "[metadata]\ntype = \"dynamodb\"\ntable = \"t\"\nregion = \"us-east-1\"\n\
         [retention]\nmetadata = \"400d\"\n",
    );
    let out = cli(setup.path(), &crate::common::SERVE);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("[retention] metadata") && stderr.contains("DynamoDB TTL"),
        "{stderr}"
    );
}
