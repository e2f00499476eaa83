//! `trailmark verify` on a real server's data: the chain and the signed
//! checkpoints the server made, intact and tampered with; `checkpoints export`.

use serde_json::json;

use crate::common::{Setup, cli, put_events, state_change, stdout_json};

#[test]
fn verify_checks_the_servers_signed_checkpoints_and_catches_a_modified_record() {
    let setup = Setup::new().standard();
    let server = setup.start();
    for i in 0..20 {
        let (status, body) = put_events(
            &server,
            &[state_change(
                "doc",
                &i.to_string(),
                "insert",
                "a",
                Some(json!({"i": i})),
            )],
        );
        assert_eq!(status, 200, "{body}");
    }
    // A graceful stop signs the final head.
    assert!(server.stop().success());
    let root = setup.path();

    let out = cli(root, &["verify", "--data", "data", "--output", "json"]);
    let r = stdout_json(&out);
    assert_eq!(out.status.code(), Some(0), "{r}");
    assert_eq!(r["intact"], true);
    assert!(r["checkpoints"]["verified"].as_u64() >= Some(1), "{r}");
    assert_eq!(r["checkpoints"]["records-after-last-checkpoint"], 0, "{r}");

    let out = cli(root, &["checkpoints", "export", "--data", "data", "safe"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(root.join("safe/checkpoints.jsonl").is_file());
    assert!(root.join("safe/checkpoint.key.pub").is_file());

    // Flip one byte in the middle of the journal: caught, exit 1.
    let segment = std::fs::read_dir(root.join("data/journal"))
        .expect("journal dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .max_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .expect("a segment");
    let mut bytes = std::fs::read(&segment).expect("read segment");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    std::fs::write(&segment, bytes).expect("write segment");
    let out = cli(
        root,
        &[
            "verify",
            "--data",
            "data",
            "--checkpoints",
            "safe/checkpoints.jsonl",
            "--public-key",
            "safe/checkpoint.key.pub",
            "--output",
            "json",
        ],
    );
    let r = stdout_json(&out);
    assert_eq!(out.status.code(), Some(1), "{r}");
    assert_eq!(r["intact"], false);
    assert!(
        !r["problems"].as_array().expect("problems").is_empty(),
        "{r}"
    );

    // A key that did not sign them: every checkpoint is rejected.
    std::fs::write(root.join("other.pub"), format!("{}\n", "ab".repeat(32))).expect("write key");
    let out = cli(
        root,
        &[
            "verify",
            "--data",
            "data",
            "--public-key",
            "other.pub",
            "--output",
            "json",
        ],
    );
    assert_ne!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
