//! Crypto-shredding per data subject (#18): with `[subjects] paths`, no file
//! under the data directory holds a subject's value; the query API shows it;
//! `trailmark erase` destroys one subject's key (journaled, idempotent), after
//! which its values read as `[erased]`, others stay readable, and `trailmark
//! verify` still passes.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use crate::common::{
    Setup, assert_success, cli, files_containing, put_accepted, state_change, stdout_json,
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
    let alice = server.versions("patient/p-a", "");
    assert_eq!(alice[0]["author"], ALICE, "{alice:?}");
    assert_eq!(alice[0]["body"]["email"], ALICE, "{alice:?}");

    let data = root.join("data");
    for who in [ALICE, BOB] {
        assert_eq!(files_containing(&data, who), Vec::<PathBuf>::new(), "{who}");
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
