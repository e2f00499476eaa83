//! Encryption at rest (#18) on a real server: what is in its journal files, what
//! `trailmark verify` says with and without the key, `trailmark keys rotate`, and
//! turning encryption on for a data directory that already has a plaintext journal.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{
    SERVE, Setup, assert_success, cli, files_containing, put_accepted, state_change, stdout_json,
};

const AUTHOR: &str = "alice.secret@example.com";
const BODY: &str = "078-05-1120";

fn personal_events() -> Vec<serde_json::Value> {
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
