//! `trailmark init DIR` sets up a directory that `trailmark serve` runs in as
//! it is: the default rules, trailmark.toml, and the standard plugins when
//! the binary carries them (`cargo xtask` builds do; `cargo xtask test`
//! builds this test's binary so, and then the pipeline is checked end to end).

use std::time::Duration;

use crate::common::{Server, book_insert, cli, put_events};

#[test]
fn init_writes_a_directory_serve_runs_in() {
    let root = tempfile::tempdir().expect("temp dir");
    let out = cli(root.path(), &["init", "srv", "--output", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let dir = root.path().join("srv");
    for file in [
        "trailmark.toml",
        "rules/archive.yaml",
        "rules/delete-alert.yaml",
    ] {
        assert!(dir.join(file).is_file(), "{file} was not written");
    }
    let embedded = report["standard-plugins"] == true;
    if std::env::var_os("TRAILMARK_EMBED_PLUGINS").is_some() {
        assert!(
            embedded,
            "a binary built with TRAILMARK_EMBED_PLUGINS carries them"
        );
    }

    // Never over an existing directory's files.
    let again = cli(root.path(), &["init", "srv"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("not an empty directory"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    if !embedded {
        let out = cli(root.path(), &["init", "other"]);
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("does not carry the standard plugins"),
            "init says how to get them"
        );
        return;
    }
    // The default rules' plugins, and the HTTP target plugins for the
    // first target a newcomer adds (docs/targets.md).
    for name in [
        "archive",
        "metadata",
        "alert",
        "log",
        "webhook",
        "slack",
        "pagerduty",
        "splunk-hec",
        "opensearch",
    ] {
        let wasm = std::fs::read(dir.join(format!("plugins/{name}.wasm"))).expect("plugin");
        assert_eq!(&wasm[..4], b"\0asm", "{name}.wasm is WebAssembly");
    }
    // The directory as written: serve it (on a free port) and see an event
    // archived and recorded.
    let server = Server::start(&dir);
    let (status, body) = put_events(
        &server,
        &[book_insert(
            "1",
            "ann",
            serde_json::json!({"title": "Dune"}),
        )],
    );
    assert_eq!(status, 200, "{body}");
    server.wait_until(Duration::from_secs(60), "the change record", |s| {
        !s.changes("entity-type=book").is_empty()
    });
}
