//! Backups of a serving data directory, checked and restored: taken while
//! events stream in and restored after the original was killed, copied
//! incrementally, damage found and named, an interrupted backup harmless,
//! point-in-time restores exact, S3 on the AWS-compatible test server, and
//! a non-empty target refused.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use trailmark_journal::{Journal, JournalOptions};

use crate::common::{
    Client, Server, Setup, all_change_ids, assert_success, book_insert, cli, moto_bucket, moto_env,
    put_accepted, stdout_json,
};

const WAIT: Duration = Duration::from_secs(90);

/// Small segments, so a few hundred KiB of events seal several.
const SMALL_SEGMENTS: &str = "[journal]\nsegment-size = \"64KiB\"\n";

fn book(n: usize, pad: usize) -> Value {
    book_insert(
        &format!("b{n}"),
        "alice",
        json!({"n": n, "pad": "x".repeat(pad)}),
    )
}

/// Put `count` books from `from`, `batch` per request; their event ids.
fn put_books(server: &Server, from: usize, count: usize, batch: usize, pad: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for start in (from..from + count).step_by(batch) {
        let entries: Vec<Value> = (start..(start + batch).min(from + count))
            .map(|n| book(n, pad))
            .collect();
        let body = put_accepted(server, &entries);
        ids.extend(
            body["Entries"]
                .as_array()
                .expect("entries")
                .iter()
                .map(|e| e["EventId"].as_str().expect("id").to_owned()),
        );
    }
    ids
}

/// `trailmark backup --to dest` against `server`, as JSON.
fn backup(server: &Server, dest: &Path, extra: &[&str]) -> Value {
    let dest = dest.display().to_string();
    let mut args = vec!["backup", "--to", &dest, "--output", "json"];
    args.extend_from_slice(extra);
    let out = server.cli(&args);
    assert_success(&out);
    stdout_json(&out)
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The manifests at `dest`, oldest first, as (name, manifest).
fn manifests(dest: &Path) -> Vec<(String, Value)> {
    let dir = dest.join("manifests");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                .filter(|n| n.ends_with(".json") && !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let bytes = std::fs::read(dir.join(&n)).expect("manifest");
            let signed: Value = serde_json::from_slice(&bytes).expect("JSON");
            (n, signed["manifest"].clone())
        })
        .collect()
}

/// A standard server (with `config` added, if any) and the directory its
/// backups go to.
fn serving(config: Option<&str>) -> (Setup, Server, PathBuf) {
    let setup = Setup::new().standard();
    if let Some(config) = config {
        setup.config(config);
    }
    let server = setup.start();
    let dest = setup.path().join("backups");
    (setup, server, dest)
}

/// The files a backup manifest lists.
fn files(manifest: &Value) -> impl Iterator<Item = &Value> {
    manifest["files"].as_array().expect("files").iter()
}

fn shas(manifest: &Value) -> BTreeSet<String> {
    files(manifest)
        .map(|f| f["sha256"].as_str().expect("sha").to_owned())
        .collect()
}

fn entries_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The versions of each book as the history API shows them.
fn histories(server: &Server, books: &[String]) -> BTreeMap<String, Vec<Value>> {
    books
        .iter()
        .map(|b| (b.clone(), server.versions(&format!("book/{b}"), "")))
        .collect()
}

fn restore(into: &Path, from: &Path, extra: &[&str]) -> Output {
    let from = from.display().to_string();
    let mut args = vec![
        "restore", "--from", &from, "--data", "data", "--output", "json",
    ];
    args.extend_from_slice(extra);
    cli(into, &args)
}

#[test]
fn a_backup_taken_while_events_stream_restores_every_acknowledged_event_after_kill_9() {
    let (setup, server, dest) = serving(Some(SMALL_SEGMENTS));

    // A producer streams books until told to stop.
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let producer = {
        let (acked, stop) = (acked.clone(), stop.clone());
        let client = Client::new(&server.url, server.token());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let entries: Vec<Value> = (n..n + 5).map(|i| book(i, 200)).collect();
                if let Some(ids) = client.try_put(&entries) {
                    let mut acked = acked.lock().expect("lock");
                    for (i, id) in ids.into_iter().enumerate() {
                        acked.push((format!("b{}", n + i), id));
                    }
                }
                n += 5;
            }
        })
    };
    server.wait_until(WAIT, "events acknowledged", |_| {
        acked.lock().expect("lock").len() >= 100
    });
    let before: Vec<(String, String)> = acked.lock().expect("lock").clone();
    let report = backup(&server, &dest, &["--include-secrets"]);
    stop.store(true, Ordering::Relaxed);
    producer.join().expect("producer");
    assert!(report["head-seq"].as_u64().expect("head") > 0, "{report}");

    // The original has delivered what was acknowledged before the backup;
    // its history of those books is what the restored copy must show.
    let ids: BTreeSet<String> = before.iter().map(|(_, id)| id.clone()).collect();
    server.wait_until(WAIT, "the acknowledged events delivered", |s| {
        let stored: BTreeSet<String> = all_change_ids(s, "entity-type=book").into_iter().collect();
        ids.is_subset(&stored)
    });
    let books: Vec<String> = before.iter().map(|(b, _)| b.clone()).collect();
    let original = histories(&server, &books);
    server.kill();

    let out = cli(
        setup.path(),
        &["backup", "verify", &dest.display().to_string()],
    );
    assert_success(&out);
    assert!(text(&out).contains("is whole"), "{}", text(&out));

    let restored = Setup::new().standard();
    let out = restore(restored.path(), &dest, &[]);
    assert_success(&out);
    let report = stdout_json(&out);
    assert_eq!(
        report["backup"].as_str(),
        Some(&*manifests(&dest)[0].0.replace(".json", ""))
    );

    let server = restored.start();
    server.wait_until(
        WAIT,
        "every acknowledged event in the restored stores",
        |s| {
            let stored: BTreeSet<String> =
                all_change_ids(s, "entity-type=book").into_iter().collect();
            ids.is_subset(&stored)
        },
    );
    assert_eq!(histories(&server, &books), original, "the same history");
    for id in ids.iter().take(5) {
        assert_eq!(
            server.get(&format!("/v1/events/{id}")).expect("event").0,
            200
        );
    }
    // The restore is itself on the trail.
    let restore_id = report["restore-event"].as_str().expect("id").to_owned();
    server.wait_until(WAIT, "the restore event journaled", |s| {
        s.get(&format!("/v1/events/{restore_id}"))
            .is_ok_and(|(status, _)| status == 200)
    });
    let (_, event) = server
        .get(&format!("/v1/events/{restore_id}"))
        .expect("event");
    assert!(event.to_string().contains("trailmark.restore"), "{event}");
    server.stop();

    let out = cli(restored.path(), &["verify", "--data", "data"]);
    assert_success(&out);
}

#[test]
fn an_incremental_backup_copies_only_what_is_new() {
    let (_setup, server, dest) = serving(Some(SMALL_SEGMENTS));
    put_books(&server, 0, 60, 10, 4000);
    let first = backup(&server, &dest, &[]);
    assert_eq!(
        first["copied"], first["files"],
        "the first copies everything: {first}"
    );

    put_books(&server, 60, 60, 10, 4000);
    let second = backup(&server, &dest, &[]);
    let all = manifests(&dest);
    assert_eq!(all.len(), 2);
    let (old, new) = (shas(&all[0].1), shas(&all[1].1));
    let fresh = new.difference(&old).count();
    assert_eq!(second["copied"].as_u64(), Some(fresh as u64), "{second}");
    assert!(
        fresh < new.len(),
        "sealed segments and packs are not copied again: {second}"
    );
    let sealed_again = files(&all[1].1)
        .filter(|f| {
            f["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("journal/"))
        })
        .filter(|f| old.contains(f["sha256"].as_str().expect("sha")))
        .count();
    assert!(sealed_again > 0, "journal segments shared by both backups");
    assert_eq!(
        entries_in(&dest.join("blobs")).len(),
        old.union(&new).count(),
        "one blob per distinct file"
    );
}

#[test]
fn a_backup_with_one_byte_changed_fails_verify_naming_the_file() {
    let (setup, server, dest) = serving(None);
    put_books(&server, 0, 20, 10, 100);
    backup(&server, &dest, &[]);
    let (_, manifest) = manifests(&dest).remove(0);
    let segment = files(&manifest)
        .find(|f| {
            f["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("journal/"))
        })
        .expect("a journal segment")
        .clone();
    let blob = dest
        .join("blobs")
        .join(segment["sha256"].as_str().expect("sha"));
    let mut bytes = std::fs::read(&blob).expect("blob");
    bytes[100] ^= 0x01;
    std::fs::write(&blob, bytes).expect("write");

    let out = cli(
        setup.path(),
        &["backup", "verify", &dest.display().to_string()],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let said = text(&out);
    let path = segment["path"].as_str().expect("path");
    assert!(said.contains(&format!("{path}: offset 0")), "{said}");

    // A restore checks first, and leaves nothing behind.
    let restored = Setup::new();
    let key = setup.path().join("data").join("checkpoint.key");
    let out = restore(
        restored.path(),
        &dest,
        &["--checkpoint-key", &key.display().to_string()],
    );
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(path), "{}", text(&out));
    assert!(entries_in(&restored.path().join("data")).is_empty());
}

#[test]
fn a_backup_killed_midway_leaves_the_previous_valid_and_the_next_completes() {
    let (setup, server, dest) = serving(Some(SMALL_SEGMENTS));
    put_books(&server, 0, 10, 10, 100);
    backup(&server, &dest, &[]);
    let blobs_before = entries_in(&dest.join("blobs")).len();
    // Enough small segments that the next backup takes a while.
    put_books(&server, 10, 400, 10, 20_000);

    let running = {
        let dest = dest.display().to_string();
        let (url, data) = (server.url.clone(), setup.path().join("data"));
        std::thread::spawn(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_trailmark"))
                .args(["backup", "--to", &dest])
                .env("TRAILMARK_SERVER", url)
                .env("TRAILMARK_DATA", data)
                .output()
                .expect("run trailmark")
        })
    };
    // Kill it once the backup has copied something but written no manifest.
    let deadline = Instant::now() + WAIT;
    while entries_in(&dest.join("blobs")).len() <= blobs_before {
        assert!(
            Instant::now() < deadline,
            "the backup never started copying"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    server.kill();
    let out = running.join().expect("backup thread");
    assert!(!out.status.success(), "the backup was cut short");
    assert_eq!(
        manifests(&dest).len(),
        1,
        "no manifest for the interrupted backup"
    );

    let out = cli(
        setup.path(),
        &["backup", "verify", &dest.display().to_string()],
    );
    assert_success(&out);

    let server = setup.start();
    backup(&server, &dest, &[]);
    assert_eq!(manifests(&dest).len(), 2);
    let left: Vec<String> = entries_in(&dest.join("blobs"))
        .into_iter()
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "temporaries removed: {left:?}");
    let out = cli(
        setup.path(),
        &["backup", "verify", &dest.display().to_string()],
    );
    assert_success(&out);
}

/// A journal record as the point-in-time test compares them: seq, kind, hash.
type Record = (u64, u8, [u8; 32]);

/// (seq, event id) of every event record in the journal at `dir`, and
/// every record's (seq, kind, hash).
fn journal_records(dir: &Path) -> (Vec<(u64, String)>, Vec<Record>) {
    let journal = Journal::open(dir, JournalOptions::default()).expect("open journal");
    let mut events = Vec::new();
    let mut all = Vec::new();
    for record in journal.read_from(journal.first_seq()) {
        let record = record.expect("record");
        all.push((record.seq, record.kind, record.hash));
        if record.kind == 1 {
            let payload: Value = serde_json::from_slice(&record.payload).expect("JSON");
            if payload["event"]["source"] == "com.example.test" {
                let id = payload["event"]["id"].as_str().expect("id").to_owned();
                events.push((record.seq, id));
            }
        }
    }
    journal.close().expect("close");
    (events, all)
}

#[test]
fn a_point_in_time_restore_stops_exactly_at_the_sequence() {
    let (setup, server, dest) = serving(None);
    for n in 0..30 {
        put_books(&server, n, 1, 1, 10);
    }
    backup(&server, &dest, &["--include-secrets"]);
    server.stop();
    let (events, original) = journal_records(&setup.path().join("data").join("journal"));
    let (to_seq, _) = events[14];

    let restored = Setup::new().standard();
    let out = restore(restored.path(), &dest, &["--to-seq", &to_seq.to_string()]);
    assert_success(&out);
    assert_eq!(stdout_json(&out)["to-seq"], to_seq);
    let (_, copy) = journal_records(&restored.path().join("data").join("journal"));
    let upto: Vec<_> = original.iter().filter(|r| r.0 <= to_seq).cloned().collect();
    assert_eq!(&copy[..upto.len()], &upto[..], "records 1..=N unchanged");
    assert!(
        copy[upto.len()..].iter().all(|(_, kind, _)| *kind == 3),
        "after N only the restore's reopen records"
    );

    let server = restored.start();
    let kept: BTreeSet<String> = events
        .iter()
        .filter(|(seq, _)| *seq <= to_seq)
        .map(|(_, id)| id.clone())
        .collect();
    server.wait_until(WAIT, "the events up to N in the stores", |s| {
        let stored: BTreeSet<String> = all_change_ids(s, "entity-type=book").into_iter().collect();
        stored == kept
    });
    for (seq, id) in &events {
        let (status, _) = server.get(&format!("/v1/events/{id}")).expect("event");
        assert_eq!(status, if *seq <= to_seq { 200 } else { 404 }, "seq {seq}");
    }
    server.stop();
    assert_success(&cli(restored.path(), &["verify", "--data", "data"]));
}

#[test]
fn restore_refuses_a_directory_that_is_not_empty() {
    let (_setup, server, dest) = serving(None);
    put_books(&server, 0, 5, 5, 10);
    backup(&server, &dest, &["--include-secrets"]);
    let target = Setup::new();
    let precious = target.path().join("data").join("precious.txt");
    std::fs::write(&precious, "keep me").expect("write");
    let out = restore(target.path(), &dest, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("not empty"), "{}", text(&out));
    assert_eq!(entries_in(&target.path().join("data")), ["precious.txt"]);
    assert_eq!(std::fs::read_to_string(precious).expect("read"), "keep me");
}

#[test]
fn a_backup_without_secrets_restores_only_with_the_signing_key() {
    let (setup, server, dest) = serving(None);
    put_books(&server, 0, 5, 5, 10);
    backup(&server, &dest, &[]);
    let (_, manifest) = manifests(&dest).remove(0);
    let paths: Vec<&str> = files(&manifest)
        .filter_map(|f| f["path"].as_str())
        .collect();
    for secret in ["checkpoint.key", "admin-token", "access-key"] {
        assert!(!paths.contains(&secret), "{secret} left out: {paths:?}");
    }
    let target = Setup::new().standard();
    let out = restore(target.path(), &dest, &[]);
    assert!(!out.status.success());
    assert!(text(&out).contains("--checkpoint-key"), "{}", text(&out));
    let key = setup.path().join("data").join("checkpoint.key");
    let out = restore(
        target.path(),
        &dest,
        &["--checkpoint-key", &key.display().to_string()],
    );
    assert_success(&out);
    let server = target.start();
    server.wait_until(WAIT, "the books restored", |s| {
        all_change_ids(s, "entity-type=book").len() == 5
    });
}

#[test]
fn a_backup_to_s3_restores_the_same_way() {
    let bucket = moto_bucket("backups");
    let setup = Setup::new().standard();
    let server = Server::start_with(setup.path(), moto_env);
    let ids = put_books(&server, 0, 20, 10, 100);
    let dest = format!("s3://{bucket}/trailmark/prod");
    let out = server.cli(&["backup", "--to", &dest, "--include-secrets"]);
    assert_success(&out);
    put_books(&server, 20, 5, 5, 100);
    let out = server.cli(&[
        "backup",
        "--to",
        &dest,
        "--include-secrets",
        "--output",
        "json",
    ]);
    assert_success(&out);
    let second = stdout_json(&out);
    assert!(
        second["copied"].as_u64() < second["files"].as_u64(),
        "{second}"
    );
    server.kill();

    let run = |dir: &Path, args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_trailmark"));
        cmd.current_dir(dir).args(args);
        moto_env(&mut cmd);
        cmd.output().expect("run trailmark")
    };
    assert_success(&run(setup.path(), &["backup", "verify", &dest]));
    let restored = Setup::new().standard();
    assert_success(&run(
        restored.path(),
        &["restore", "--from", &dest, "--data", "data"],
    ));
    let server = restored.start();
    let ids: BTreeSet<String> = ids.into_iter().collect();
    server.wait_until(WAIT, "the books restored from S3", |s| {
        let stored: BTreeSet<String> = all_change_ids(s, "entity-type=book").into_iter().collect();
        ids.is_subset(&stored) && stored.len() == 25
    });
}

#[test]
fn scheduled_backups_run_keep_the_newest_and_say_when_they_are_late() {
    let setup = Setup::new().standard();
    let dest = setup.path().join("backups");
    setup.config(&format!(
        "[backup]\nevery = \"1s\"\nto = \"{}\"\nkeep = 2\n",
        dest.display()
    ));
    let server = setup.start();
    put_books(&server, 0, 5, 5, 10);
    server.wait_until(WAIT, "two scheduled backups", |_| {
        manifests(&dest).len() == 2
    });
    let first = manifests(&dest)[0].0.clone();
    server.wait_until(WAIT, "a third, and the oldest removed", |_| {
        let names = manifests(&dest);
        names.len() == 2 && names[0].0 != first
    });
    let age = server
        .metric("trailmark_backup_last_success_age_seconds")
        .expect("the metric");
    assert!((0.0..60.0).contains(&age), "{age}");
    assert_success(&cli(
        setup.path(),
        &["backup", "verify", &dest.display().to_string()],
    ));
    let (_, ready) = server.get("/readyz").expect("readyz");
    assert!(ready.get("warnings").is_none(), "{ready}");
    server.stop();

    // A destination that cannot be written: /readyz warns once the last
    // good backup is older than twice the interval, and stays 200.
    let blocked = setup.path().join("not-a-directory");
    std::fs::write(&blocked, "").expect("write");
    setup.config(&format!(
        "[backup]\nevery = \"1s\"\nto = \"{}\"\n",
        blocked.display()
    ));
    let server = setup.start();
    server.wait_until(WAIT, "a warning about late backups", |s| {
        s.get("/readyz")
            .is_ok_and(|(status, ready)| status == 200 && ready["warnings"][0].is_string())
    });
    assert_eq!(server.metric("trailmark_backup_failing"), Some(1.0));
}

#[test]
fn an_encrypted_backup_holds_the_sealed_data_keys_of_the_archive() {
    let (_setup, server, dest) = serving(Some("[encryption]\nenabled = true\n"));
    put_books(&server, 0, 5, 5, 100);
    server.wait_until(WAIT, "the bodies archived", |s| {
        (0..5).all(|n| {
            s.versions(&format!("book/b{n}"), "")
                .first()
                .is_some_and(|v| v["body"].is_object())
        })
    });
    let report = backup(&server, &dest, &[]);
    let (_, manifest) = manifests(&dest).pop().expect("a manifest");
    let keys: Vec<&str> = files(&manifest)
        .filter_map(|f| f["path"].as_str())
        .filter(|p| p.starts_with("seal-keys/archive/") && p.ends_with(".dek"))
        .collect();
    assert!(!keys.is_empty(), "{report} {manifest}");
}
