//! Crypto-shredding per data subject (#18): with `[subjects] paths`, no file
//! under the data directory holds a subject's value; the query API shows it;
//! `trailmark erase` destroys one subject's key (journaled, idempotent), after
//! which its values read as `[erased]`, others stay readable, and `trailmark
//! verify` still passes.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{
    Client, Server, Setup, assert_success, cli, files_containing, put_accepted, state_change,
    stdout_json,
};

const ALICE: &str = "alice.subject@example.com";
const BOB: &str = "bob.subject@example.com";

#[test]
fn erasing_one_subject_leaves_others_readable_is_journaled_and_verify_passes() {
    let setup = Setup::new().standard();
    setup.config(
        "[subjects]\npaths = [\"author\", \"data.email\"]\n[encryption]\nenabled = true\nkey-file = \"keys/trail.kek\"\n",
    );
    let root = setup.path();
    let server = setup.start();
    let person = |id: &str, who: &str| {
        state_change(
            "patient",
            id,
            "insert",
            who,
            Some(json!({"email": who, "ward": 7})),
        )
    };
    put_accepted(&server, &[person("p-a", ALICE), person("p-b", BOB)]);
    // The metadata and archive rules deliver independently: wait for the bodies too.
    let archived = |s: &crate::common::Server, entity: &str| {
        s.versions(entity, "")
            .first()
            .is_some_and(|v| !v["body"].is_null())
    };
    server.wait_until(Duration::from_secs(30), "both delivered", |s| {
        archived(s, "patient/p-a") && archived(s, "patient/p-b")
    });
    // Each subject made a key file, and /metrics counts them.
    assert!(
        server.metric("trailmark_subject_keys_created_total") >= Some(2.0),
        "{:?}",
        server.metric("trailmark_subject_keys_created_total")
    );
    assert!(server.metric("trailmark_subject_keys_cached ") >= Some(2.0));
    assert_eq!(
        server.metric("trailmark_subject_keys_cached_max"),
        Some(100_000.0)
    );
    let alice = server.versions("patient/p-a", "");
    assert_eq!(alice[0]["author"], ALICE, "{alice:?}");
    assert_eq!(alice[0]["body"]["email"], ALICE, "{alice:?}");

    // A query by a sealed author finds its changes, and the event reads
    // opened; the read's access record holds the token, not the value.
    let by_alice = server.changes(&format!("author={ALICE}"));
    assert_eq!(by_alice.len(), 1, "{by_alice:?}");
    assert_eq!(by_alice[0]["author"], ALICE, "{by_alice:?}");
    let id = by_alice[0]["event-id"].as_str().expect("event id");
    let (status, event) = server.get(&format!("/v1/events/{id}")).expect("event");
    assert_eq!(status, 200, "{event}");
    assert_eq!(event["detail"]["author"], ALICE, "{event}");

    let data = root.join("data");
    for who in [ALICE, BOB] {
        assert_eq!(files_containing(&data, who), Vec::<PathBuf>::new(), "{who}");
    }
    // With [encryption] on, the subject keys are sealed by the key file.
    let keys: Vec<PathBuf> = std::fs::read_dir(data.join("subject-keys"))
        .expect("subject keys")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "key"))
        .collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    for key in &keys {
        let bytes = std::fs::read(key).expect("key file");
        assert!(
            bytes.starts_with(b"\0tmseal1"),
            "{} is sealed",
            key.display()
        );
    }

    let out = server.cli(&["subjects", "id", ALICE]);
    assert_success(&out);
    let alice_id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(alice_id.len(), 32, "{alice_id}");

    let out = server.cli(&["erase", "--subject", ALICE, "--output", "json"]);
    assert_success(&out);
    let answer = stdout_json(&out);
    assert_eq!(answer["erased"], true, "{answer}");
    let out = server.cli(&["erase", "--subject", ALICE, "--output", "json"]);
    assert_success(&out);
    assert_eq!(stdout_json(&out)["already-erased"], true, "idempotent");

    let alice = server.versions("patient/p-a", "");
    assert_eq!(alice[0]["author"], "[erased]", "{alice:?}");
    assert_eq!(alice[0]["body"]["email"], "[erased]", "{alice:?}");
    assert_eq!(alice[0]["body"]["ward"], 7, "not a subject path");
    let bob = server.versions("patient/p-b", "");
    assert_eq!(bob[0]["author"], BOB, "{bob:?}");
    assert_eq!(bob[0]["body"]["email"], BOB, "{bob:?}");
    assert!(
        server.changes(&format!("author={ALICE}")).is_empty(),
        "an erased author is found no more"
    );
    assert_eq!(server.changes(&format!("author={BOB}")).len(), 1);

    let actions = server.changes("source=trailmark&entity-type=trailmark.admin-action");
    let erasures: Vec<String> = actions
        .iter()
        .filter(|c| c["attributes"]["data.action"] == "erase")
        .map(|c| {
            let id = c["event-id"].as_str().expect("event id");
            let (status, event) = server.get(&format!("/v1/events/{id}")).expect("event");
            assert_eq!(status, 200, "{event}");
            event.to_string()
        })
        .collect();
    assert_eq!(erasures.len(), 2, "each request is journaled: {actions:?}");
    for event in &erasures {
        assert!(event.contains(&alice_id), "which subject: {event}");
        assert!(event.contains("local-admin"), "who: {event}");
        assert!(!event.contains(ALICE), "never the value: {event}");
    }
    assert!(server.stop().success());

    let out = cli(root, &["verify", "--data", "data", "--output", "json"]);
    let r = stdout_json(&out);
    assert_eq!(out.status.code(), Some(0), "{r}");
    assert_eq!(r["intact"], true, "{r}");
    assert!(r["metadata"]["verified"].as_u64() >= Some(2), "{r}");
}

/// Kill -9 while an erasure runs, with events streaming in (#18): at any
/// moment of it, after restart every acknowledged event is there, the chain
/// verifies, the other subject still reads, and running the erasure again
/// finishes it (erased now, or already).
#[test]
fn a_kill_during_an_erasure_loses_nothing_and_running_it_again_finishes_it() {
    // Before the CLI has connected, while the key is destroyed, after it.
    for delay in [0, 3, 8, 25] {
        kill_during_erasure(Duration::from_millis(delay));
    }
}

fn kill_during_erasure(delay: Duration) {
    let setup = Setup::new().standard();
    setup.config("[subjects]\npaths = [\"author\"]\n[encryption]\nenabled = true\n");
    let root = setup.path();
    let server = setup.start();
    put_accepted(
        &server,
        &[
            state_change("patient", "p-a", "insert", ALICE, Some(json!({"ward": 7}))),
            state_change("patient", "p-b", "insert", BOB, Some(json!({"ward": 8}))),
        ],
    );
    server.wait_until(Duration::from_secs(30), "both delivered", |s| {
        s.versions("patient/p-a", "").len() == 1 && s.versions("patient/p-b", "").len() == 1
    });

    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let streaming = Arc::new(AtomicBool::new(true));
    let load = std::thread::spawn({
        let client = Client::new(&server.url, server.token());
        let (acked, streaming) = (acked.clone(), streaming.clone());
        move || {
            let mut n = 0;
            while streaming.load(Ordering::Relaxed) {
                let who = if n % 2 == 0 { ALICE } else { BOB };
                let data = Some(json!({"n": n}));
                let batch = [state_change(
                    "patient",
                    &format!("s-{n}"),
                    "update",
                    who,
                    data,
                )];
                match client.try_put(&batch) {
                    Some(ids) => acked.lock().expect("lock").extend(ids),
                    None => break,
                }
                n += 1;
            }
        }
    });
    let mut erase = Command::new(env!("CARGO_BIN_EXE_trailmark"))
        .args(["erase", "--subject", ALICE, "--output", "json"])
        .env("TRAILMARK_SERVER", &server.url)
        .env("TRAILMARK_DATA", root.join("data"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run trailmark erase");
    std::thread::sleep(delay);
    server.kill();
    streaming.store(false, Ordering::Relaxed);
    load.join().expect("load thread");
    let _ = erase.wait();
    let acked = std::mem::take(&mut *acked.lock().expect("lock"));

    let server = Server::start(root);
    for id in &acked {
        let (status, event) = server.get(&format!("/v1/events/{id}")).expect("event");
        assert_eq!(
            status, 200,
            "{delay:?}: acknowledged event {id} lost: {event}"
        );
    }
    let bob = server.versions("patient/p-b", "");
    assert_eq!(bob[0]["author"], BOB, "{delay:?}: {bob:?}");
    let out = server.cli(&["erase", "--subject", ALICE, "--output", "json"]);
    assert_success(&out);
    let answer: Value = stdout_json(&out);
    assert!(
        answer["erased"] == true || answer["already-erased"] == true,
        "{delay:?}: {answer}"
    );
    let alice = server.versions("patient/p-a", "");
    assert_eq!(alice[0]["author"], "[erased]", "{delay:?}: {alice:?}");
    assert!(server.stop().success());

    let out = cli(root, &["verify", "--data", "data", "--output", "json"]);
    let r = stdout_json(&out);
    assert_eq!(out.status.code(), Some(0), "{delay:?}: {r}");
    assert_eq!(r["intact"], true, "{delay:?}: {r}");
}
