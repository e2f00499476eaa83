//! Plugins reach only what their rule grants: no files, network,
//! environment; bounded output; capability calls checked against grants.

mod common;

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::sync::Arc;

use common::{
    MemArchive, RecordingNotifier, assert_noop_still_works, bind, bind_with, capture_logs, event,
    rejection,
};
use trailmark_backends::Notifier;
use trailmark_runtime::{
    ArchiveGrant, CallError, Capabilities, Grants, Limits, OUTPUT_LIMIT_PER_CALL,
};

#[test]
fn escape_cannot_read_files() {
    let binding = bind("escape", "escape-file", serde_json::json!({"try": "file"}));
    let text = rejection(binding.call(&event("file")));
    assert!(text.starts_with("file: failed:"), "{text}");
    assert_noop_still_works();
}

#[test]
fn escape_cannot_open_sockets() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("address").port();
    let binding = bind(
        "escape",
        "escape-socket",
        serde_json::json!({"try": "socket", "port": port}),
    );
    let text = rejection(binding.call(&event("socket")));
    assert!(text.starts_with("socket: failed:"), "{text}");
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the plugin reached the listener: {other:?}"),
    }
    assert_noop_still_works();
}

#[test]
fn escape_sees_no_environment() {
    assert!(
        std::env::vars().count() > 0,
        "the host itself has an environment"
    );
    let binding = bind("escape", "escape-env", serde_json::json!({"try": "env"}));
    let text = rejection(binding.call(&event("env")));
    assert!(text.starts_with("env: failed:"), "{text}");
}

#[test]
fn escape_stdout_flood_is_truncated_in_the_log() {
    let binding = bind(
        "escape",
        "escape-stdout",
        serde_json::json!({"try": "stdout"}),
    );
    let (result, logs) = capture_logs(|| binding.call(&event("flood")));
    let text = rejection(result);
    // The guest is not failed for writing; its output is contained instead.
    assert!(text.starts_with("stdout: wrote 10485761 bytes"), "{text}");
    assert!(logs.contains("truncated"), "says it truncated");
    assert!(logs.contains("rule=escape-stdout"), "tagged with the rule");
    assert!(logs.contains("plugin=escape"), "tagged with the plugin");
    assert!(
        logs.len() < OUTPUT_LIMIT_PER_CALL + 4096,
        "the log got {} bytes of a 10 MiB line",
        logs.len()
    );
    // The budget is per call: the instance is reused and logs again.
    let (_, again) = capture_logs(|| binding.call(&event("flood2")));
    assert!(again.contains("truncated"));
    assert_eq!(binding.stats().instantiated, 1);
    assert_noop_still_works();
}

fn notifiers(names: &[&str]) -> (Capabilities, Vec<Arc<RecordingNotifier>>) {
    let mut capabilities = Capabilities::default();
    let mut recorders = Vec::new();
    for name in names {
        let recorder = Arc::new(RecordingNotifier::default());
        let notifier: Arc<dyn Notifier> = recorder.clone();
        capabilities.notify.insert((*name).to_owned(), notifier);
        recorders.push(recorder);
    }
    capabilities.archive = Some(Arc::new(MemArchive::default()));
    (capabilities, recorders)
}

fn grants_notify(channels: &[&str]) -> Grants {
    Grants {
        notify: channels
            .iter()
            .map(|c| (*c).to_owned())
            .collect::<BTreeSet<_>>(),
        ..Grants::default()
    }
}

#[test]
fn ungranted_capabilities_are_denied_by_name() {
    let (capabilities, recorders) = notifiers(&["admins", "ops"]);
    let binding = bind_with(
        "ungranted",
        "x",
        grants_notify(&["admins"]),
        capabilities,
        Limits::default(),
        serde_json::json!({"channel": "ops"}),
    );
    let text = rejection(binding.call(&event("u1")));
    assert_eq!(
        text,
        "notify: denied: rule \"x\" has no grant for notify channel \"ops\" (grants: notify: [admins]); \
         archive: denied: rule \"x\" has no grant for archive (grants: notify: [admins])"
    );
    assert!(
        recorders
            .iter()
            .all(|r| r.published.lock().expect("list").is_empty())
    );
    assert_noop_still_works();
}

#[test]
fn granted_but_unconfigured_channel_is_invalid() {
    let (capabilities, _recorders) = notifiers(&["admins"]);
    let binding = bind_with(
        "ungranted",
        "y",
        grants_notify(&["ops"]),
        capabilities,
        Limits::default(),
        serde_json::json!({"channel": "ops"}),
    );
    let text = rejection(binding.call(&event("u2")));
    assert!(
        text.starts_with(
            "notify: invalid: notify channel \"ops\" is granted to rule \"y\" but is not configured on this host;"
        ),
        "{text}"
    );
}

#[test]
fn granted_capabilities_reach_the_backends() {
    let (capabilities, recorders) = notifiers(&["ops"]);
    let archive = Arc::new(MemArchive::default());
    let capabilities = trailmark_runtime::Capabilities {
        archive: Some(archive.clone()),
        ..capabilities
    };
    // The fixture writes `ungranted/<event id>`: outside its source, so
    // the rule grants that prefix.
    let grants = Grants {
        archive: Some(ArchiveGrant {
            write_prefix: Some("ungranted/".to_owned()),
            ..ArchiveGrant::default()
        }),
        ..grants_notify(&["ops"])
    };
    let binding = bind_with(
        "ungranted",
        "z",
        grants,
        capabilities,
        Limits::default(),
        serde_json::json!({"channel": "ops"}),
    );
    let text = rejection(binding.call(&event("u3")));
    assert_eq!(text, "notify: ok; archive: ok");
    let published = recorders[0].published.lock().expect("list");
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].channel, "ops");
    assert_eq!(
        archive.bodies.lock().expect("map").get("ungranted/u3"),
        Some(&b"body".to_vec())
    );
}

#[test]
fn flaky_counts_attempts_across_instances_then_succeeds() {
    let archive = Arc::new(MemArchive::default());
    let capabilities = Capabilities {
        archive: Some(archive.clone()),
        ..Capabilities::default()
    };
    // The fixture counts in `flaky/<event id>`: outside its source, so the
    // rule grants that prefix to write and to read.
    let grants = Grants {
        archive: Some(ArchiveGrant {
            read: ["flaky/".to_owned()].into(),
            write_prefix: Some("flaky/".to_owned()),
        }),
        ..Grants::default()
    };
    let config = serde_json::json!({"succeed_after": 3});
    let first = bind_with(
        "flaky",
        "flaky",
        grants.clone(),
        capabilities.clone(),
        Limits::default(),
        config.clone(),
    );
    for attempt in 1..=2 {
        let err = first.call(&event("f1")).expect_err("retry");
        assert_eq!(
            err,
            CallError::Retry(format!("flaky: attempt {attempt} of 3"))
        );
        assert!(err.is_retryable());
    }
    // A different binding (a fresh instance) sees the count in the archive.
    let second = bind_with(
        "flaky",
        "flaky",
        grants,
        capabilities,
        Limits::default(),
        config,
    );
    second.call(&event("f1")).expect("third attempt succeeds");
    // One key per attempt: archived bodies are never overwritten.
    let bodies = archive.bodies.lock().expect("map");
    assert!(bodies.contains_key("flaky/f1/3") && !bodies.contains_key("flaky/f1/4"));
}

#[test]
fn log_output_is_tagged_with_rule_and_plugin() {
    let binding = bind("panicker", "tagged", serde_json::json!({}));
    let (result, logs) = capture_logs(|| binding.call(&event("tag")));
    assert!(matches!(result, Err(CallError::Trap(_))));
    let panic_line = logs
        .lines()
        .find(|l| l.contains("panics on purpose"))
        .unwrap_or_else(|| panic!("stderr was logged: {logs}"));
    assert!(panic_line.contains("rule=tagged"), "{panic_line}");
    assert!(panic_line.contains("plugin=panicker"), "{panic_line}");
    assert!(panic_line.contains("source=\"stderr\""), "{panic_line}");
}
