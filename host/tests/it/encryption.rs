//! Encryption at rest (#18) on a real server: what is in its journal files, what
//! `trailmark verify` says with and without the key, `trailmark keys rotate`, and
//! turning encryption on for a data directory that already has a plaintext journal;
//! archived bodies and dead letters sealed too, readable, and rotated with the journal.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{
    SERVE, Server, Setup, assert_success, cli, files_containing, put_accepted, state_change,
    stdout_json,
};

pub(crate) const AUTHOR: &str = "alice.secret@example.com";
pub(crate) const BODY: &str = "078-05-1120";

pub(crate) fn personal_events() -> Vec<serde_json::Value> {
    (0..3)
        .map(|i| {
            state_change(
                "patient",
                &format!("p-{i}"),
                "insert",
                AUTHOR,
                Some(json!({"ssn": BODY, "n": i})),
            )
        })
        .collect()
}

#[test]
fn an_encrypted_servers_journal_holds_no_plaintext_verifies_with_its_key_and_survives_rotation() {
    let setup = Setup::new().standard();
    setup.config("[encryption]\nenabled = true\nkey-file = \"keys/trail.kek\"\n");
    let root = setup.path();
    let server = setup.start();
    put_accepted(&server, &personal_events());
    server.wait_until(Duration::from_secs(30), "the events delivered", |s| {
        s.versions("patient/p-2", "").len() == 1
    });
    assert!(server.stop().success());

    let journal = root.join("data/journal");
    assert_eq!(files_containing(&journal, AUTHOR), Vec::<PathBuf>::new());
    assert_eq!(files_containing(&journal, BODY), Vec::<PathBuf>::new());
    let key_file = root.join("keys/trail.kek");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&key_file)
            .expect("key file")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    let out = cli(root, &["verify", "--data", "data", "--output", "json"]);
    let r = stdout_json(&out);
    assert_eq!(out.status.code(), Some(0), "{r}");
    assert_eq!(r["intact"], true, "{r}");
    assert!(r["encryption"]["segments"].as_u64() >= Some(1), "{r}");
    assert_eq!(r["encryption"]["opened"], r["encryption"]["records"], "{r}");
    assert!(r["metadata"]["verified"].as_u64() >= Some(3), "{r}");

    // Without the key: the chain still verifies; the contents are said to be unopened.
    std::fs::write(root.join("plain.toml"), "").expect("write");
    let out = cli(
        root,
        &["verify", "--config", "plain.toml", "--data", "data"],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("NOT opened: no key"), "{text}");

    let out = cli(
        root,
        &["keys", "rotate", "--data", "data", "--output", "json"],
    );
    assert_success(&out);
    let rotation = stdout_json(&out);
    assert!(rotation["resealed"].as_u64() >= Some(1), "{rotation}");
    assert!(
        !std::fs::read_to_string(&key_file)
            .expect("key file")
            .contains(rotation["retired"][0].as_str().expect("retired id")),
        "the old key is gone from the key file"
    );
    let out = cli(root, &["verify", "--data", "data", "--output", "json"]);
    let r = stdout_json(&out);
    assert_eq!(out.status.code(), Some(0), "{r}");
    assert_eq!(r["encryption"]["opened"], r["encryption"]["records"], "{r}");

    let server = setup.start();
    put_accepted(
        &server,
        &[state_change(
            "patient",
            "p-9",
            "insert",
            AUTHOR,
            Some(json!({"n": 9})),
        )],
    );
    server.wait_until(Duration::from_secs(30), "delivered after rotation", |s| {
        s.versions("patient/p-9", "").len() == 1
    });
    assert_eq!(server.versions("patient/p-1", "").len(), 1);
}

#[test]
fn turning_encryption_on_for_a_data_directory_with_a_plaintext_journal_is_refused_clearly() {
    let setup = Setup::new().standard();
    let root = setup.path();
    let server = setup.start();
    put_accepted(&server, &personal_events());
    assert!(server.stop().success());

    setup.config("[encryption]\nenabled = true\n");
    let mut child = Command::new(env!("CARGO_BIN_EXE_trailmark"))
        .current_dir(root)
        .args(SERVE)
        .args(["--config", "trailmark.toml"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start trailmark serve");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server started on a plaintext journal with encryption on");
        }
        std::thread::sleep(Duration::from_millis(25));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr");
    assert!(!status.success());
    assert!(
        stderr.contains("unencrypted record(s), but encryption is on"),
        "{stderr}"
    );

    // Left as it was: it still serves with encryption off.
    setup.config("");
    let server = setup.start();
    server.wait_until(Duration::from_secs(30), "the old events", |s| {
        s.versions("patient/p-0", "").len() == 1
    });
}

/// A setup with encryption on, `author` a subject path (its change records hold it
/// sealed per subject), the standard rules (the lake's bodies sealed too), and a rule
/// whose plugin rejects every event, so each event is archived and dead-lettered.
fn sealed_stores_setup() -> Setup {
    let setup = Setup::new().standard();
    setup.plugin("rejecter", "fixture-rejecter");
    setup.test_rule("reject", "rejecter", "");
    setup.config(SEALED_CONFIG);
    setup
}

/// The configuration of [`sealed_stores_setup`].
const SEALED_CONFIG: &str = "[subjects]\npaths = [\"author\"]\n[encryption]\nenabled = true\nkey-file = \"keys/trail.kek\"\n";

/// Wait until every one of [`personal_events`] is archived and dead-lettered.
pub(crate) fn wait_archived_and_dead_lettered(server: &Server, within: Duration) {
    server.wait_until(within, "archived and dead-lettered", |s| {
        (0..3).all(|i| {
            s.versions(&format!("patient/p-{i}"), "")
                .first()
                .is_some_and(|v| !v["body"].is_null())
        }) && s
            .dead_letters()
            .iter()
            .filter(|d| d["rule"] == "reject")
            .count()
            == 3
    });
}

/// The three personal events read back whole: history with their bodies, dead letters
/// with their events.
pub(crate) fn assert_personal_events_read(server: &Server) {
    for i in 0..3 {
        let versions = server.versions(&format!("patient/p-{i}"), "");
        assert_eq!(versions[0]["body"]["ssn"], BODY, "{versions:?}");
        assert_eq!(versions[0]["author"], AUTHOR, "{versions:?}");
    }
    let letters = server.dead_letters_of("reject", 3, Duration::from_secs(30));
    for letter in &letters {
        assert!(
            letter["error"]
                .as_str()
                .is_some_and(|e| e.contains("rejecter always rejects")),
            "{letter}"
        );
        let (status, shown) = server
            .get(&format!("/v1/admin/dlq/{}", letter["id"]))
            .expect("dead letter");
        assert_eq!(status, 200, "{shown}");
        assert_eq!(shown["event"]["detail"]["data"]["ssn"], BODY, "{shown}");
    }
}

#[test]
fn archived_bodies_and_dead_letters_are_sealed_read_back_and_survive_rotation() {
    let setup = sealed_stores_setup();
    // A correlation grouped by the personal value itself: its windows,
    // saved at shutdown, hold it as a group key (event time is the time of
    // receipt: the events' own `ts` is too old to be counted).
    setup.config(&format!(
        "{SEALED_CONFIG}[correlation]\ntime-path = \"time\"\n"
    ));
    setup.rule(
        "by-ssn.yaml",
        "name: by-ssn\ncorrelation:\n  type: event_count\n  rules: [archive]\n  \
         group-by: [detail.data.ssn]\n  timespan: 1h\n  condition: {gte: 100}\nplugin: log\n",
    );
    let root = setup.path();
    let server = setup.start();
    put_accepted(&server, &personal_events());
    wait_archived_and_dead_lettered(&server, Duration::from_secs(30));
    assert_personal_events_read(&server);
    // The lake's files too (its bodies are sealed; the scan covers them).
    let lake = crate::lake::flush(&server);
    assert!(lake["rows"].as_u64() >= Some(3), "{lake}");
    assert!(server.stop().success());

    let data = root.join("data");
    assert!(
        data.join("correlation.snapshot").is_file(),
        "the correlation windows were saved at shutdown, and the scan covers them"
    );
    assert_eq!(files_containing(&data, BODY), Vec::<PathBuf>::new());
    assert_eq!(files_containing(&data, AUTHOR), Vec::<PathBuf>::new());
    for store in ["archive", "dead-letters"] {
        let keys = std::fs::read_dir(data.join("seal-keys").join(store))
            .expect("the store's data keys")
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "dek"))
            })
            .count();
        assert_eq!(keys, 1, "{store}: one data key for the day");
    }

    let out = cli(
        root,
        &["keys", "rotate", "--data", "data", "--output", "json"],
    );
    assert_success(&out);
    let rotation = stdout_json(&out);
    assert!(
        rotation["resealed"].as_u64() >= Some(3),
        "the journal's, the archive's and the dead letters' data keys: {rotation}"
    );
    assert_eq!(files_containing(&data, BODY), Vec::<PathBuf>::new());

    let server = setup.start();
    assert_personal_events_read(&server);
    // Replay reads the sealed events: each is delivered again (and rejected again).
    let (status, replayed) = server
        .post("/v1/admin/dlq/replay", &json!({"rule": "reject"}))
        .expect("replay");
    assert_eq!(status, 200, "{replayed}");
    assert_eq!(
        replayed["replayed"].as_array().map(Vec::len),
        Some(3),
        "{replayed}"
    );
    assert_eq!(replayed["failed"], json!([]), "{replayed}");
    let again = server.dead_letters_of("reject", 3, Duration::from_secs(30));
    assert!(
        again.iter().all(|d| d["attempts"].as_u64() >= Some(1)),
        "{again:?}"
    );
    assert_personal_events_read(&server);
}

#[test]
fn bodies_archived_before_encryption_was_on_still_read_after_it_is_turned_on() {
    const OLD: &str = "old-plaintext-body-17";
    const NEW: &str = "new-sealed-body-42";
    let setup = Setup::new().standard();
    let root = setup.path();
    let shared = root.join("shared");
    let stores = format!(
        "[archive]\ntype = \"fs\"\npath = \"{}\"\n[metadata]\ntype = \"sqlite\"\npath = \"{}\"\n",
        shared.join("archive").display(),
        shared.join("metadata.sqlite").display()
    );
    setup.config(&stores);
    let server = setup.start();
    put_accepted(
        &server,
        &[state_change(
            "patient",
            "old",
            "insert",
            "bob",
            Some(json!({"note": OLD})),
        )],
    );
    server.wait_until(Duration::from_secs(30), "the old body archived", |s| {
        s.versions("patient/old", "").len() == 1
    });
    assert!(server.stop().success());

    // A journal is never encrypted after the fact: a new data directory, the same
    // archive and metadata store.
    std::fs::rename(root.join("data"), root.join("data-plain")).expect("set aside");
    std::fs::create_dir(root.join("data")).expect("new data directory");
    setup.config(&format!(
        "{stores}[encryption]\nenabled = true\nkey-file = \"keys/trail.kek\"\n"
    ));
    let server = setup.start();
    put_accepted(
        &server,
        &[state_change(
            "patient",
            "new",
            "insert",
            "bob",
            Some(json!({"note": NEW})),
        )],
    );
    server.wait_until(Duration::from_secs(30), "the new body archived", |s| {
        s.versions("patient/new", "")
            .first()
            .is_some_and(|v| !v["body"].is_null())
    });
    let old = server.versions("patient/old", "");
    assert_eq!(old[0]["body"]["note"], OLD, "{old:?}");
    let new = server.versions("patient/new", "");
    assert_eq!(new[0]["body"]["note"], NEW, "{new:?}");
    assert!(server.stop().success());

    assert_ne!(
        files_containing(&shared.join("archive"), OLD),
        Vec::<PathBuf>::new(),
        "the old body is not rewritten"
    );
    assert_eq!(
        files_containing(&shared.join("archive"), NEW),
        Vec::<PathBuf>::new(),
        "the new one is sealed"
    );
}
