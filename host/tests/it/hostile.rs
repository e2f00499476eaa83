//! Hostile input against a real server, through the auth layer: each kind of
//! oversized or malformed request, rule file and plugin gets a clear refusal,
//! and the server stays healthy and unchanged. (Per-field ingest limits are
//! covered in depth by `ingest_limits.rs`.)

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Server, Setup, agent, put_events, state_change};

const WAIT: Duration = Duration::from_secs(60);

/// What is sent, the headers, the body, and the status expected.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<u8>, u16);

/// POST raw bytes to `/` as PutEvents with the given extra headers.
fn raw_put(server: &Server, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, Value) {
    let agent = agent(WAIT);
    let mut r = agent
        .post(&format!("{}/", server.url))
        .header("X-Amz-Target", "AWSEvents.PutEvents")
        .header("Content-Type", "application/x-amz-json-1.1");
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    match r.send(&body[..]) {
        Ok(mut response) => {
            let text = response.body_mut().read_to_string().unwrap_or_default();
            (
                response.status().as_u16(),
                serde_json::from_str(&text).unwrap_or(Value::String(text)),
            )
        }
        // The server may close the connection on a body it refuses to read.
        Err(e) => (0, Value::String(e.to_string())),
    }
}

fn healthy(server: &Server) {
    let (status, body) = put_events(
        server,
        &[state_change(
            "doc",
            "ok",
            "insert",
            "a",
            Some(json!({"ok": true})),
        )],
    );
    assert_eq!(status, 200, "still serving: {body}");
    assert_eq!(body["FailedEntryCount"], 0, "{body}");
}

fn rule_version(server: &Server) -> u64 {
    let (_, v) = server.get("/v1/admin/rules").expect("rules");
    v["version"].as_u64().expect("version")
}

#[test]
fn oversized_and_malformed_requests_get_a_clear_4xx_and_change_nothing() {
    let setup = Setup::new().standard();
    let server = setup.start();
    let token = format!("Bearer {}", server.token().expect("token"));
    let before = server
        .metric("trailmark_events_accepted_total")
        .unwrap_or(0.0);
    let host_before = server.metric("trailmark_host_records_total").unwrap_or(0.0);
    let sigv4 = "AWS4-HMAC-SHA256 Credential=TMKAAAAAAAAAAAAAAAAA/20261125/us-east-1/events/aws4_request, \
                 SignedHeaders=host;x-amz-date, Signature=00";

    let junk = "j".repeat(100 << 10);
    // Expected status; 4 means any 4xx (which one depends on the HTTP layer).
    let cases: Vec<Case> = vec![
        (
            "a body over the limit",
            vec![("Authorization", &token)],
            vec![b'x'; 3 << 20],
            413,
        ),
        // Refused on its headers (the signature is malformed) before a byte
        // of the body is read: 401, no longer 413 after reading it.
        (
            "a body over the limit, signed",
            vec![("Authorization", sigv4)],
            vec![b'x'; 3 << 20],
            401,
        ),
        (
            "garbage JSON",
            vec![("Authorization", &token)],
            b"{\"Entries\": [".to_vec(),
            400,
        ),
        (
            "invalid UTF-8",
            vec![("Authorization", &token)],
            vec![0xff, 0xfe, 0x00],
            400,
        ),
        (
            "nesting 10,000 deep",
            vec![("Authorization", &token)],
            {
                let detail = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
                json!({"Entries": [{"Source": "s", "DetailType": "t", "Detail": detail}]})
                    .to_string()
                    .into_bytes()
            },
            200,
        ),
        (
            "eleven entries",
            vec![("Authorization", &token)],
            {
                let e = state_change("doc", "x", "insert", "a", None);
                json!({"Entries": vec![e; 11]}).to_string().into_bytes()
            },
            400,
        ),
        (
            "a 1 MiB source",
            vec![("Authorization", &token)],
            {
                json!({"Entries": [{"Source": "s".repeat(1 << 20), "DetailType": "t", "Detail": "{}"}]}).to_string().into_bytes()
            },
            200,
        ),
        (
            "a garbage signature",
            vec![("Authorization", sigv4), ("X-Amz-Date", "20261125T000000Z")],
            b"{}".to_vec(),
            401,
        ),
        (
            "an unknown scheme",
            vec![("Authorization", "Basic YWRtaW46YWRtaW4=")],
            b"{}".to_vec(),
            401,
        ),
        (
            "a header 100 KiB long",
            vec![("Authorization", &token), ("X-Junk", &junk)],
            b"{}".to_vec(),
            4,
        ),
    ];
    for (what, headers, body, expected) in cases {
        // A body or head refused unread may reset the connection under the
        // client while it is still sending (heads past 64 KiB get 431).
        let oversized = body.len() > 2 << 20 || headers.iter().any(|(_, v)| v.len() > 64 << 10);
        let (status, answer) = raw_put(&server, &headers, body);
        if expected == 200 {
            // Entry-level refusals: HTTP 200 with the entry failed, as EventBridge does.
            assert_eq!(status, 200, "{what}: {answer}");
            assert_eq!(answer["FailedEntryCount"], 1, "{what}: {answer}");
            assert!(
                answer["Entries"][0]["ErrorMessage"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty()),
                "{what}: {answer}"
            );
        } else if expected == 4 {
            assert!(
                (400..500).contains(&status) || (status == 0 && oversized),
                "{what}: {status} {answer}"
            );
        } else if status != 0 || !oversized {
            assert_eq!(status, expected, "{what}: {answer}");
            let message = answer["message"].as_str().unwrap_or("");
            assert!(!message.is_empty(), "{what} says why: {answer}");
        }
        healthy(&server);
    }
    // Only the health checks' events were accepted.
    let after = server
        .metric("trailmark_events_accepted_total")
        .unwrap_or(0.0);
    let audit_events = server.metric("trailmark_host_records_total").unwrap_or(0.0) - host_before;
    assert!(audit_events >= 1.0, "the refusals were journaled");
    assert_eq!(
        after - before,
        10.0 + audit_events,
        "10 health checks plus the journaled refusals (the host's own records)"
    );
}

#[test]
fn oversized_rule_sets_rule_files_patterns_and_plugins_never_replace_the_good_ones() {
    let setup = Setup::new().standard();
    let server = setup.start();
    let rules = setup.path().join("rules");
    let failures = |s: &Server| s.metric("trailmark_reload_failures_total").unwrap_or(0.0);
    let mut expected_failures = 0.0;
    let mut refused = |what: &str, says: &str, version: u64, undo: &dyn Fn()| {
        expected_failures += 1.0;
        server.wait_until(WAIT, what, |s| failures(s) >= expected_failures);
        let (_, status) = server.get("/v1/admin/status").expect("status");
        let errors = status["last-reload"]["errors"].to_string();
        assert!(errors.contains(says), "{what}: {errors}");
        assert_eq!(
            rule_version(&server),
            version,
            "{what}: the good rules stay"
        );
        healthy(&server);
        undo();
        server.wait_until(WAIT, "the good set back", |s| {
            s.get("/v1/admin/status")
                .map(|(_, v)| v["last-reload"]["ok"] == true)
                .unwrap_or(false)
        });
    };

    // A rule file of 100 KiB.
    let version = rule_version(&server);
    let big = rules.join("big.yaml");
    std::fs::write(
        &big,
        format!(
            "name: big\n# {}\npattern: {{source: [x]}}\nplugin: log\n",
            "x".repeat(100 << 10)
        ),
    )
    .expect("write");
    refused("an oversized rule file", "big.yaml:1:1", version, &|| {
        std::fs::remove_file(&big).expect("rm")
    });

    // A pattern beyond EventBridge's 2048 characters.
    let version = rule_version(&server);
    let long = rules.join("long.yaml");
    let values: Vec<String> = (0..400).map(|i| format!("\"value-{i}\"")).collect();
    std::fs::write(
        &long,
        format!(
            "name: long\npattern: {{source: [{}]}}\nplugin: log\n",
            values.join(", ")
        ),
    )
    .expect("write");
    refused(
        "a pattern over 2048 characters",
        "long.yaml:",
        version,
        &|| std::fs::remove_file(&long).expect("rm"),
    );

    // More rules than a host loads.
    let version = rule_version(&server);
    let many = setup.path().join("many");
    std::fs::create_dir_all(&many).expect("mkdir");
    for i in 0..300 {
        std::fs::write(
            many.join(format!("r{i:03}.yaml")),
            format!("name: r{i:03}\npattern: {{source: [s{i}]}}\nplugin: log\n"),
        )
        .expect("write");
    }
    for i in 0..300 {
        let name = format!("r{i:03}.yaml");
        std::fs::rename(many.join(&name), rules.join(&name)).expect("move");
    }
    refused("301 and more rules", "at most 300", version, &|| {
        for i in 0..300 {
            let _ = std::fs::remove_file(rules.join(format!("r{i:03}.yaml")));
        }
    });

    // A plugin over the size cap: the file first (no rule uses it yet, so
    // that reload succeeds), then a rule that binds it.
    let huge = setup.path().join("plugins").join("huge.wasm");
    let rule = rules.join("huge.yaml");
    let before_file = rule_version(&server);
    std::fs::write(&huge, vec![0u8; (32 << 20) + 1]).expect("write plugin");
    server.wait_until(WAIT, "the reload for the new file", |s| {
        rule_version(s) > before_file
    });
    let version = rule_version(&server);
    std::fs::write(&rule, "name: huge\npattern: {source: [x]}\nplugin: huge\n")
        .expect("write rule");
    refused("a plugin over 32 MiB", "at most", version, &|| {
        std::fs::remove_file(&rule).expect("rm");
        std::fs::remove_file(&huge).expect("rm");
    });
}
