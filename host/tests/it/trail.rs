//! The trail itself, on a real server with the standard rules and plugins:
//! archived versions are never overwritten, history is per source and paged,
//! one unreadable version does not break a history, and `trailmark verify`
//! checks the stores the query API reads against the journal.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{self, Server, Setup, put_accepted, stdout_json};

/// A PutEvents entry for an `Object State Change` of `account/acct-1`.
fn change(source: &str, op: &str, ts: i64, author: &str, data: Value) -> Value {
    let detail = json!({
        "entity-type": "account", "entity-id": "acct-1", "operation": op,
        "ts": ts, "author": author, "data": data,
    });
    json!({"Source": source, "DetailType": "Object State Change", "Detail": detail.to_string()})
}

/// Put `entries` and wait until the metadata rule stored `total` records.
fn put_and_wait(server: &Server, entries: &[Value], total: usize) {
    put_accepted(server, entries);
    server.wait_until(Duration::from_secs(30), "change records", |s| {
        common::all_change_ids(s, "entity-type=account").len() == total
    });
}

/// `GET` the history route with `query`; (status, body).
fn history(server: &Server, query: &str) -> (u16, Value) {
    server
        .get(&format!("/v1/entities/account/acct-1/history?{query}"))
        .expect("history")
}

/// Every version of the history, following `next-cursor` with pages of `limit`.
fn all_versions(server: &Server, source: Option<&str>, limit: usize) -> Vec<Value> {
    let mut versions = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let mut query = format!("limit={limit}");
        if let Some(source) = source {
            query.push_str(&format!("&source={source}"));
        }
        if let Some(cursor) = &cursor {
            query.push_str(&format!("&cursor={cursor}"));
        }
        let (status, page) = history(server, &query);
        assert_eq!(status, 200, "{page}");
        let items = page["versions"].as_array().expect("versions");
        assert!(items.len() <= limit, "{page}");
        versions.extend(items.iter().cloned());
        cursor = page["next-cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            return versions;
        }
    }
    panic!("more than 100 pages");
}

/// `trailmark ARGS --server URL --data data` in `root`.
fn cli(root: &Path, server: &Server, args: &[&str]) -> Output {
    let mut args = args.to_vec();
    args.extend(["--server", &server.url, "--data", "data"]);
    common::cli(root, &args)
}

fn verify(root: &Path) -> (Output, Value) {
    let out = common::cli(root, &["verify", "--data", "data", "--output", "json"]);
    let report = stdout_json(&out);
    (out, report)
}

#[test]
fn two_events_of_one_instant_keep_two_bodies_and_history_shows_each_its_own() {
    let setup = Setup::new().standard();
    let server = setup.start();
    let ts = 1_795_600_000_000;
    put_and_wait(
        &server,
        &[
            change("com.bank", "update", ts, "alice", json!({"balance": 100})),
            change(
                "com.bank",
                "update",
                ts,
                "mallory",
                json!({"balance": 1_000_000}),
            ),
        ],
        2,
    );
    let (status, page) = history(&server, "source=com.bank");
    assert_eq!(status, 200, "{page}");
    let versions = page["versions"].as_array().expect("versions");
    assert_eq!(versions.len(), 2, "{page}");
    for version in versions {
        let expected = match version["author"].as_str() {
            Some("alice") => json!({"balance": 100}),
            Some("mallory") => json!({"balance": 1_000_000}),
            other => panic!("unexpected author {other:?}"),
        };
        assert_eq!(version["body"], expected, "{version}");
        let key = version["archive-key"].as_str().expect("archive key");
        let id = version["event-id"].as_str().expect("event id");
        assert!(key.ends_with(&format!("-update-{id}.json")), "{key}");
    }
    let letters = server.dead_letters();
    assert!(letters.is_empty(), "{letters:?}");
}

#[test]
fn a_delete_without_data_has_no_body_in_history_and_verifies() {
    let setup = Setup::new().standard();
    let server = setup.start();
    let insert = change(
        "com.bank",
        "insert",
        1_795_600_000_000,
        "alice",
        json!({"balance": 5}),
    );
    let detail = json!({
        "entity-type": "account", "entity-id": "acct-1", "operation": "delete",
        "ts": 1_795_600_000_001_i64, "author": "bob",
    });
    let delete = json!({"Source": "com.bank", "DetailType": "Object State Change",
                        "Detail": detail.to_string()});
    put_and_wait(&server, &[insert, delete], 2);
    // The change records are in; the archive rule's lane may still be
    // storing the insert's body.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let versions = loop {
        let versions = all_versions(&server, None, 100);
        if versions.first().is_some_and(|v| !v["body"].is_null())
            || std::time::Instant::now() > deadline
        {
            break versions;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(versions.len(), 2, "{versions:?}");
    assert_eq!(versions[0]["body"], json!({"balance": 5}), "{versions:?}");
    assert_eq!(versions[1]["operation"], "delete", "{versions:?}");
    // No body, and no error: the delete carried none (before, the event's
    // detail was archived and shown as if it were the entity's body).
    assert!(versions[1]["body"].is_null(), "{versions:?}");
    assert!(versions[1].get("body-error").is_none(), "{versions:?}");

    let root = setup.path();
    let out = cli(root, &server, &["history", "account", "acct-1"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert_eq!(stdout.matches("(deleted: no body)").count(), 1, "{stdout}");
    assert!(stdout.contains("\"balance\": 5"), "{stdout}");
    assert!(!stdout.contains("\"author\": \"bob\""), "{stdout}");
    drop(server);
    let (out, report) = verify(root);
    assert!(out.status.success(), "{report}");
}

#[test]
fn history_is_per_source_in_the_api_and_the_cli_and_pages_return_each_version_once() {
    let setup = Setup::new().standard();
    let server = setup.start();
    let mut entries = Vec::new();
    for i in 0..7 {
        // Pairs share a ts, so pages end inside runs of equal times.
        let ts = 1_795_600_000_000 + i / 2;
        entries.push(change("com.bank", "update", ts, "alice", json!({"n": i})));
    }
    entries.push(change(
        "com.evil",
        "delete",
        1_795_600_000_001,
        "alice",
        json!({}),
    ));
    put_and_wait(&server, &entries, 8);

    for limit in [1, 2, 3, 100] {
        let bank = all_versions(&server, Some("com.bank"), limit);
        assert_eq!(bank.len(), 7, "limit {limit}");
        assert!(bank.iter().all(|v| v["source"] == "com.bank"), "{bank:?}");
        let mut ids: Vec<&str> = bank.iter().filter_map(|v| v["event-id"].as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 7, "each version exactly once (limit {limit})");
        let all = all_versions(&server, None, limit);
        assert_eq!(all.len(), 8);
        assert_eq!(all.iter().filter(|v| v["source"] == "com.evil").count(), 1);
    }
    let (status, page) = history(&server, "source=com.evil");
    assert_eq!(
        (status, page["versions"].as_array().map(Vec::len)),
        (200, Some(1))
    );
    let (status, page) = history(&server, "limit=0");
    assert_eq!(status, 400, "{page}");
    let (status, page) = history(&server, "limit=1001");
    assert_eq!(status, 400, "{page}");

    let root = setup.path();
    let out = cli(
        root,
        &server,
        &["history", "--source", "com.bank", "account", "acct-1"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.lines().next().is_some_and(|h| h.contains("SOURCE")),
        "{stdout}"
    );
    assert_eq!(stdout.matches("com.bank").count(), 7, "{stdout}");
    assert!(!stdout.contains("com.evil"), "{stdout}");

    // A short page says how to get the next one; following it ends the history.
    let out = cli(
        root,
        &server,
        &["history", "--limit", "5", "account", "acct-1"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("SOURCE"));
    let cursor = stderr
        .split("--cursor ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no next-page command in {stderr:?}"));
    let out = cli(
        root,
        &server,
        &[
            "history", "--limit", "5", "--cursor", cursor, "account", "acct-1",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with('#')).count(),
        1 + 3,
        "{stdout}"
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("--cursor"));
}

#[test]
fn an_unreadable_version_answers_200_with_its_error_and_no_host_path() {
    let setup = Setup::new().standard();
    let server = setup.start();
    put_and_wait(
        &server,
        &[change(
            "com.bank",
            "insert",
            1,
            "alice",
            json!({"balance": 1}),
        )],
        1,
    );
    // Records whose bodies cannot be read: a key that would escape the
    // archive, a segment too long for the file system, a missing body.
    let db = rusqlite::Connection::open(setup.path().join("data/metadata.sqlite")).expect("open");
    let long = format!("com.bank/{}/x.json", "s".repeat(300));
    for (id, ts, key) in [
        ("bad-escape", 2, "../admin-token"),
        ("bad-long", 3, long.as_str()),
        (
            "bad-missing",
            4,
            "com.bank/account/acct-1/4-update-bad-missing.json",
        ),
    ] {
        db.execute(
            "INSERT INTO changes (event_id, source, entity_type, entity_id, operation, ts, author,
             archive_key, attributes) VALUES (?1, 'com.bank', 'account', 'acct-1', 'update', ?2,
             'mallory', ?3, '{}')",
            rusqlite::params![id, ts, key],
        )
        .expect("plant a record");
    }
    let (status, page) = history(&server, "source=com.bank");
    assert_eq!(status, 200, "{page}");
    let versions = page["versions"].as_array().expect("versions");
    assert_eq!(versions.len(), 4, "{page}");
    assert_eq!(versions[0]["body"], json!({"balance": 1}));
    assert!(versions[0].get("body-error").is_none(), "{page}");
    for bad in &versions[1..] {
        assert_eq!(bad["body"], Value::Null, "{bad}");
        assert!(
            bad["body-error"].as_str().is_some_and(|e| !e.is_empty()),
            "{bad}"
        );
    }
    let text = page.to_string();
    let root = setup.path().canonicalize().expect("canonical root");
    for host_path in [setup.path().to_string_lossy(), root.to_string_lossy()] {
        assert!(!text.contains(&*host_path), "host path in {text}");
    }
    assert!(!text.contains("/tmp/"), "host path in {text}");
}

#[test]
fn verify_reports_a_planted_change_record_and_a_planted_body_and_passes_a_clean_store() {
    let setup = Setup::new().standard();
    let server = setup.start();
    put_and_wait(
        &server,
        &[
            change("com.bank", "insert", 1, "alice", json!({"balance": 1})),
            change("com.bank", "update", 2, "bob", json!({"balance": 2})),
        ],
        2,
    );
    assert!(server.stop().success());
    let root = setup.path();
    let (out, report) = verify(root);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_eq!(report["intact"], true, "{report}");
    assert_eq!(report["metadata"]["verified"], 2, "{report}");
    assert_eq!(report["archive"]["verified"], 2, "{report}");

    // A record for an event that was never journaled, and a real event's
    // record with its author changed.
    let db = rusqlite::Connection::open(root.join("data/metadata.sqlite")).expect("open");
    db.execute(
        "INSERT INTO changes (event_id, source, entity_type, entity_id, operation, ts, author,
         archive_key, attributes) VALUES ('forged-1', 'com.bank', 'account', 'acct-1', 'delete',
         3, 'ceo', NULL, '{}')",
        [],
    )
    .expect("plant a record");
    let (out, report) = verify(root);
    assert_eq!(out.status.code(), Some(1), "{report}");
    let problems = report["problems"].to_string();
    assert!(
        problems.contains("forged-1") && problems.contains("no such event"),
        "{report}"
    );
    db.execute("DELETE FROM changes WHERE event_id = 'forged-1'", [])
        .expect("remove it");
    db.execute("UPDATE changes SET author = 'ceo' WHERE ts = 2", [])
        .expect("alter a record");
    let (out, report) = verify(root);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report["problems"]
            .to_string()
            .contains(r#"author is \"ceo\", the event's \"bob\""#),
        "{report}"
    );
    db.execute("UPDATE changes SET author = 'bob' WHERE ts = 2", [])
        .expect("restore it");
    drop(db);
    let (out, report) = verify(root);
    assert_eq!(out.status.code(), Some(0), "{report}");

    // A body no journaled event accounts for, planted in the packs.
    {
        use trailmark_backends::ArchiveStore as _;
        let archive = trailmark_backends::PackArchive::open_with(
            root.join("data/archive"),
            trailmark_backends::Durability::EachWrite,
        )
        .expect("open the archive");
        archive
            .put(
                "com.bank/account/acct-1/3-update-forged-2.json",
                br#"{"balance":0}"#,
                "application/json",
            )
            .expect("plant a body");
    }
    let (out, report) = verify(root);
    assert_eq!(out.status.code(), Some(1), "{report}");
    let problems = report["problems"].to_string();
    assert!(
        problems.contains("com.bank/account/acct-1/3-update-forged-2.json"),
        "{report}"
    );

    // And one planted as a file, the layout of archives written before packs.
    let planted = root.join("data/archive/com.bank/account/acct-1/4-update-forged-3.json");
    std::fs::create_dir_all(planted.parent().expect("parent")).expect("dirs");
    std::fs::write(&planted, br#"{"balance":1}"#).expect("plant a file");
    let (out, report) = verify(root);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report["problems"]
            .to_string()
            .contains("com.bank/account/acct-1/4-update-forged-3.json"),
        "{report}"
    );
}
