//! Each operator command against a running server, through the real binary.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::common::{
    Server, Setup, assert_success, book_insert, put_events, state_change, stdout_json,
};

const WAIT: Duration = Duration::from_secs(60);

/// The JSON a successful CLI run printed.
fn json(out: &Output) -> Value {
    assert_success(out);
    stdout_json(out)
}

/// Put `n` inserts of `book/0..n` by alice and wait until all are recorded.
fn record_books(server: &Server, n: usize) {
    let entries: Vec<Value> = (0..n)
        .map(|i| {
            let data = serde_json::json!({ "n": i });
            state_change("book", &i.to_string(), "insert", "alice", Some(data))
        })
        .collect();
    assert_eq!(put_events(server, &entries).0, 200);
    server.wait_until(WAIT, "all recorded", |s| s.changes("").len() >= n);
}

#[test]
fn admin_commands_against_a_running_server() {
    let setup = Setup::new();
    setup.plugin("noop", "fixture-noop");
    setup.plugin("rejecter", "fixture-rejecter");
    setup.test_rule("ok", "noop", "description: accepts all\n");
    setup.test_rule("bad", "rejecter", "");
    let server = setup.start();
    let (status, _) = put_events(
        &server,
        &[
            state_change("doc", "1", "insert", "a", None),
            state_change("doc", "2", "insert", "a", None),
        ],
    );
    assert_eq!(status, 200);
    server.wait_until(WAIT, "two dead letters", |s| s.dead_letters().len() == 2);

    // status
    let v = json(&server.cli(&["status", "--output", "json"]));
    assert_eq!(v["rules"], 2);
    assert_eq!(v["events-accepted"], 2);
    assert_eq!(v["dead-letters"], 2);
    let text = server.cli(&["status"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("dead letters     2"), "{text}");
    // Sizes and durations in units a person reads; per-rule backlog as a table.
    assert!(!text.contains(" bytes"), "{text}");
    assert!(
        text.contains("RULE") && text.contains("IN JOURNAL"),
        "{text}"
    );

    // rules list / show
    let v = json(&server.cli(&["rules", "list", "--output", "json"]));
    let names: Vec<&str> = v["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(names, ["bad", "ok"]);
    let v = json(&server.cli(&["rules", "show", "ok", "--output", "json"]));
    assert_eq!(v["description"], "accepts all");
    assert_eq!(v["matches"], 2);
    let missing = server.cli(&["rules", "show", "nope"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no rule named `nope`"));

    // plugins list
    let v = json(&server.cli(&["plugins", "list", "--output", "json"]));
    let noop = v["plugins"]
        .as_array()
        .expect("plugins")
        .iter()
        .find(|p| p["name"] == "noop")
        .expect("noop")
        .clone();
    assert_eq!(noop["rules"], serde_json::json!(["ok"]));
    assert_eq!(noop["calls"], 2);

    // dlq list / show / replay / purge
    let v = json(&server.cli(&["dlq", "list", "--rule", "bad", "--output", "json"]));
    let ids: Vec<i64> = v
        .as_array()
        .expect("letters")
        .iter()
        .filter_map(|d| d["id"].as_i64())
        .collect();
    assert_eq!(ids.len(), 2);
    let v = json(&server.cli(&["dlq", "show", &ids[0].to_string(), "--output", "json"]));
    assert_eq!(v["rule"], "bad");
    assert_eq!(v["event"]["detail-type"], "Object State Change");
    // The detail is an object, and the event goes back into `rules test` as it is.
    assert!(v["event"]["detail"]["entity-type"].is_string(), "{v}");
    let event_file = setup.path().join("dead-event.json");
    std::fs::write(&event_file, v["event"].to_string()).expect("write event");
    let test = server.cli(&[
        "rules",
        "test",
        "--pattern",
        r#"{"detail-type": ["Object State Change"]}"#,
        "--event",
        &format!("@{}", event_file.display()),
    ]);
    assert!(
        test.status.success(),
        "{}",
        String::from_utf8_lossy(&test.stderr)
    );
    let v = json(&server.cli(&["dlq", "replay", &ids[0].to_string(), "--output", "json"]));
    assert_eq!(v["replayed"], serde_json::json!([ids[0]]));
    server.wait_until(WAIT, "the replay to fail again", |s| {
        s.metric("trailmark_dead_letters_total{rule=\"bad\"}") == Some(3.0)
    });
    let refused = server.cli(&["dlq", "purge", "--rule", "bad"]);
    assert_eq!(
        refused.status.code(),
        Some(2),
        "purge asks first and stdin is closed"
    );
    assert_eq!(
        server.dead_letters().len(),
        2,
        "nothing purged without confirmation"
    );
    let v = json(&server.cli(&["dlq", "purge", "--rule", "bad", "--yes", "--output", "json"]));
    assert_eq!(v["purged"].as_array().map(Vec::len), Some(2));
    assert!(server.dead_letters().is_empty());

    // replay from the journal: both events again, to `ok` only
    let v = json(&server.cli(&[
        "replay", "--since", "1h", "--rule", "ok", "--output", "json",
    ]));
    assert_eq!(v["events"], 2);
    assert_eq!(v["deliveries"], 2);
    server.wait_until(WAIT, "the replayed deliveries", |s| {
        s.delivered("ok") == Some(4.0)
    });

    // completions need no server
    let out = server.cli(&["completions", "bash"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("trailmark"));
}

#[test]
fn commands_say_what_to_do_when_no_server_answers() {
    let out = Command::new(env!("CARGO_BIN_EXE_trailmark"))
        .args(["status", "--server", "http://127.0.0.1:9"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot reach the Trailmark server at http://127.0.0.1:9"),
        "{stderr}"
    );
    assert!(stderr.contains("--server"), "{stderr}");
}

/// Whether `text` holds a character that can drive a terminal: a control
/// character other than the layout's own newline, or a bidi override.
fn raw_control(text: &str) -> Option<char> {
    text.chars().find(|&c| {
        (c.is_control() && c != '\n')
            || matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    })
}

#[test]
fn query_and_history_never_print_raw_control_characters() {
    let setup = Setup::new().standard();
    let server = setup.start();
    // Clear the screen, set the title, then a newline and a well-aligned forged row.
    let author = "eve\u{1b}[2J\u{1b}]0;owned\u{7}\n2026-11-25T10:00:00Z  delete  book  1  ceo\u{202e}\u{9b}\u{7f}\r";
    let (status, _) = put_events(
        &server,
        &[state_change(
            "book\u{1b}[31m",
            "1\u{2066}",
            "update",
            author,
            Some(serde_json::json!({"title": "x\u{85}\u{1b}[0m"})),
        )],
    );
    assert_eq!(status, 200);
    server.wait_until(WAIT, "the change is recorded", |s| {
        !s.changes("").is_empty()
    });

    for args in [
        vec!["query"],
        vec!["query", "--output", "json"],
        vec!["history", "book\u{1b}[31m", "1\u{2066}"],
        vec!["history", "book\u{1b}[31m", "1\u{2066}", "--output", "json"],
    ] {
        let out = server.cli(&args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {stderr}");
        assert!(stdout.contains("eve"), "{args:?}: {stdout}");
        assert_eq!(raw_control(&stdout), None, "{args:?} stdout: {stdout:?}");
        assert_eq!(raw_control(&stderr), None, "{args:?} stderr: {stderr:?}");
        if args.contains(&"json") {
            let value: Value = serde_json::from_str(&stdout).expect("escaped output is still JSON");
            // The escapes are JSON escapes: the value reads back unchanged.
            assert!(value.to_string().contains("ceo\u{202e}"), "{value}");
        } else {
            // One header line and one row: the author's newline forged nothing.
            if args[0] == "query" {
                assert_eq!(stdout.lines().count(), 2, "{stdout}");
            }
        }
    }
}

#[test]
fn a_closed_pipe_ends_the_cli_quietly() {
    let setup = Setup::new().standard();
    let server = setup.start();
    record_books(&server, 10);
    let mut child = Command::new(env!("CARGO_BIN_EXE_trailmark"))
        .args(["query"])
        .env("TRAILMARK_SERVER", &server.url)
        .env("TRAILMARK_DATA", server.root.join("data"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run trailmark");
    // Close the reading end before the CLI has its answer, as `| head -0`
    // would: its first write meets a closed pipe.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(out.status.code(), Some(101), "{stderr}");
}

#[cfg(unix)]
#[test]
fn everything_the_server_writes_is_private_to_its_user() {
    use std::os::unix::fs::PermissionsExt;
    let setup = Setup::new().standard();
    // A fresh data directory, created by the server itself.
    std::fs::remove_dir(setup.path().join("data")).expect("rmdir");
    let server = setup.start();
    let (status, _) = put_events(
        &server,
        &[book_insert("1", "alice", serde_json::json!({"t": 1}))],
    );
    assert_eq!(status, 200);
    server.wait_until(WAIT, "recorded", |s| !s.changes("").is_empty());
    let data = server.root.join("data");
    let mut checked = 0;
    let mut stack = vec![data.clone()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path).expect("stat");
        let mode = meta.permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{} is {mode:o}", path.display());
        checked += 1;
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).expect("read dir") {
                stack.push(entry.expect("entry").path());
            }
        }
    }
    assert!(checked > 5, "only {checked} paths under {}", data.display());
}

#[test]
fn query_says_when_nothing_matches_and_when_more_exist() {
    let setup = Setup::new().standard();
    let server = setup.start();
    record_books(&server, 3);

    let none = server.cli(&["query", "--author", "nobody"]);
    assert_eq!(
        none.status.code(),
        Some(1),
        "the documented negative answer"
    );
    assert!(String::from_utf8_lossy(&none.stderr).contains("no changes match"));
    let none_json = server.cli(&["query", "--author", "nobody", "--output", "json"]);
    assert_eq!(json(&none_json), serde_json::json!([]));

    let some = server.cli(&["query", "--limit", "2"]);
    assert!(some.status.success());
    let stderr = String::from_utf8_lossy(&some.stderr);
    assert!(stderr.contains("older ones may exist"), "{stderr}");
    let all = server.cli(&["query"]);
    let stderr = String::from_utf8_lossy(&all.stderr);
    assert!(!stderr.contains("older ones may exist"), "{stderr}");
}
