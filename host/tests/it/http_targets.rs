//! The `http` capability end to end: destinations, connections and rules
//! added to a running server, credentials the plugin never sees, and
//! everything the host refuses on the plugin's behalf, against real HTTP
//! servers on loopback.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::common::{Server, Setup, first_event_id, put_accepted, state_change};
use crate::test_http::{Reply, TestServer};

pub(crate) const WAIT: Duration = Duration::from_secs(60);

/// Write `rules/<dir>/<name>.yaml`.
pub(crate) fn target_file(root: &Path, dir: &str, name: &str, text: &str) {
    let dir = root.join("rules").join(dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    // Written whole, then renamed in: the watcher never reads half a file.
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, dir.join(format!("{name}.yaml"))).expect("rename");
}

/// A secret file only its owner may read.
pub(crate) fn secret_file(root: &Path, name: &str, value: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = root.join(name);
    std::fs::write(&path, value).expect("write secret");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    path.display().to_string()
}

pub(crate) fn destination(name: &str, url: &str, extra: &str) -> String {
    format!("name: {name}\nurl: {url}\nallow-http: true\n{extra}")
}

fn reloads(server: &Server) -> f64 {
    server.metric("trailmark_reloads_total").unwrap_or(0.0)
}

pub(crate) fn wait_received(server: &Server, receiver: &TestServer, count: usize) {
    server.wait_until(WAIT, &format!("{count} requests at the receiver"), |_| {
        receiver.received() >= count
    });
}

/// The dead letters of `rule`, once there are `count`.
pub(crate) fn dead_letters_of(server: &Server, rule: &str, count: usize) -> Vec<String> {
    server
        .dead_letters_of(rule, count, WAIT)
        .iter()
        .map(|d| d["error"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn a_destination_connection_and_webhook_rule_added_while_running_deliver_with_its_credentials() {
    let receiver = TestServer::start((0..4).map(|_| Reply::status(204)).collect());
    let setup = Setup::new();
    setup.plugin("webhook", "trailmark-plugin-webhook");
    let server = setup.start();
    let root = setup.path();

    // Added while the server runs: a connection, a destination, a rule.
    let before = reloads(&server);
    let token = secret_file(root, "hooks-token", "s3cret-token\n");
    target_file(
        root,
        "connections",
        "hooks-auth",
        &format!("name: hooks-auth\nauth:\n  bearer: {{token: {{file: {token}}}}}\n"),
    );
    target_file(
        root,
        "destinations",
        "hooks",
        &destination(
            "hooks",
            &receiver.url("/audit"),
            "connection: hooks-auth\npaths: [/in]\n",
        ),
    );
    let rule = |grants: &str| {
        format!(
            "name: to-hooks\npattern: {{source: [com.example.test]}}\nplugin: webhook\n\
             {grants}config: {{destination: hooks, path: /in/deletes}}\n"
        )
    };
    setup.rule("to-hooks.yaml", &rule("grants: {http: [hooks]}\n"));
    server.wait_until(WAIT, "the reload with the rule", |s| {
        reloads(s) > before
            && s.get("/v1/admin/rules")
                .is_ok_and(|(_, v)| v.to_string().contains("to-hooks"))
    });

    let answer = put_accepted(
        &server,
        &[state_change("book", "1", "delete", "carol", None)],
    );
    let id = first_event_id(&answer);
    wait_received(&server, &receiver, 1);
    let request = receiver.request(0);
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/audit/in/deletes");
    assert_eq!(
        request.header("authorization").as_deref(),
        Some("Bearer s3cret-token")
    );
    assert_eq!(
        request.header("content-type").as_deref(),
        Some("application/json")
    );
    let body: Value = serde_json::from_slice(&request.body).expect("JSON body");
    assert_eq!(body["id"], id.as_str());
    assert_eq!(body["detail"]["operation"], "delete");
    server.wait_until(WAIT, "the call counted", |s| {
        s.metric("trailmark_http_destination_calls_total{destination=\"hooks\",outcome=\"ok\"}")
            == Some(1.0)
    });

    // The grant removed: the next call is denied, naming the destination.
    let before = reloads(&server);
    setup.rule("to-hooks.yaml", &rule(""));
    server.wait_until(WAIT, "the reload without the grant", |s| {
        reloads(s) > before
    });
    put_accepted(
        &server,
        &[state_change("book", "2", "delete", "carol", None)],
    );
    let errors = dead_letters_of(&server, "to-hooks", 1);
    assert!(
        errors[0].contains("denied") && errors[0].contains(r#"http destination "hooks""#),
        "{errors:?}"
    );
    assert_eq!(receiver.received(), 1, "nothing more was sent");
    assert!(
        !server.log().contains("s3cret-token"),
        "the secret is never logged"
    );
}

#[test]
fn a_plugin_cannot_reach_ungranted_urls_see_secrets_leave_by_redirect_or_pass_the_rate_limit() {
    let receiver = TestServer::start(vec![
        // The first call: answered 200.
        Reply::status(200).body("hello"),
        // The redirect off the destination.
        Reply::status(307),
        // The rate-limited destination's one call.
        Reply::status(200),
    ]);
    let setup = Setup::new();
    setup.plugin("prober", "fixture-httpprober");
    let root = setup.path();
    target_file(
        root,
        "connections",
        "key",
        "name: key\nauth:\n  api-key: {header: X-Api-Key, value: {env: PROBER_KEY}}\n",
    );
    target_file(
        root,
        "destinations",
        "hooks",
        &destination(
            "hooks",
            &receiver.url("/base"),
            "connection: key\nmethods: [POST, GET]\npaths: [/ok, /moved]\nrate: 1000\n",
        ),
    );
    target_file(
        root,
        "destinations",
        "limited",
        &destination("limited", &receiver.url("/limited"), "rate: 1\n"),
    );
    target_file(
        root,
        "destinations",
        "other",
        &destination("other", &receiver.url("/other"), ""),
    );
    let calls = r#"[
        {"destination": "hooks", "path": "/ok"},
        {"destination": "other", "path": "/"},
        {"destination": "hooks", "path": "/../other"},
        {"destination": "hooks", "path": "/elsewhere"},
        {"destination": "hooks", "path": "/ok", "method": "DELETE"},
        {"destination": "hooks", "path": "/ok", "headers": [["X-Api-Key", "mine"]]},
        {"destination": "hooks", "path": "/moved"},
        {"destination": "limited", "path": "/"},
        {"destination": "limited", "path": "/"},
        {"destination": "limited", "path": "/"}
    ]"#;
    setup.test_rule(
        "probe",
        "prober",
        &format!(
            "grants: {{http: [hooks, limited]}}\nconfig: {{calls: {}, env: [PROBER_KEY]}}\n",
            calls.replace('\n', " ")
        ),
    );
    let server = Server::start_with(root, |cmd| {
        cmd.env("PROBER_KEY", "k3y-never-shown");
    });
    put_accepted(
        &server,
        &[state_change("book", "1", "delete", "carol", None)],
    );
    let error = dead_letters_of(&server, "probe", 1).remove(0);
    let answers: Vec<&str> = error.split(" | ").collect();
    assert_eq!(answers.len(), 11, "{error}");
    // A granted call goes through with the connection's key.
    assert!(answers[0].ends_with("ok 200 hello"), "{error}");
    assert_eq!(receiver.request(0).path, "/base/ok");
    assert_eq!(
        receiver.request(0).header("x-api-key").as_deref(),
        Some("k3y-never-shown")
    );
    // Denied, each saying why: another destination, not granted; paths
    // outside the destination's and methods it does not allow; the
    // connection's header, which is the host's to set; a redirect off the
    // destination, which is not followed.
    for (i, why) in [
        (1, r#"http destination "other""#),
        (2, "not a plain path"),
        (3, "outside its allowed paths"),
        (4, r#"method "DELETE""#),
        (5, "set by the host"),
        (6, "leaves the destination"),
    ] {
        assert!(
            answers[i].contains("denied") && answers[i].contains(why),
            "call {i} is denied saying `{why}`: {error}"
        );
    }
    // One call a second: the burst's first goes, the others wait for a retry.
    assert!(answers[7].starts_with("ok 200"), "{error}");
    assert!(
        answers[8].contains("transient") && answers[8].contains("rate limit"),
        "{error}"
    );
    // The plugin's environment is empty: the secret is the host's alone.
    assert!(answers[10].ends_with("env PROBER_KEY: unset"), "{error}");
    assert!(!error.contains("k3y-never-shown"), "{error}");
    assert!(
        !server.log().contains("k3y-never-shown"),
        "the secret is never logged"
    );
    assert_eq!(
        receiver.received(),
        3,
        "only the allowed calls reached the server"
    );
}

/// A server directory whose rule `hook` sends every event with the
/// `webhook` plugin to `receiver` (destination `hooks`), one delivery at a
/// time, retried `max_attempts` times within a minute with a backoff of
/// 10–20 ms.
pub(crate) fn webhook_to(receiver: &TestServer, max_attempts: u32) -> Setup {
    let setup = Setup::new();
    setup.plugin("webhook", "trailmark-plugin-webhook");
    target_file(
        setup.path(),
        "destinations",
        "hooks",
        &destination("hooks", &receiver.url(""), ""),
    );
    setup.test_rule(
        "hook",
        "webhook",
        &format!(
            "grants: {{http: [hooks]}}\nconfig: {{destination: hooks}}\n\
             retry: {{max-attempts: {max_attempts}, max-age: 60s}}\n"
        ),
    );
    setup.config(
        "[dispatch]\nretry-initial = \"10ms\"\nretry-max = \"20ms\"\nconcurrency = 1\nbatch = 1\n",
    );
    setup
}

#[test]
fn throttling_and_outages_are_retried_then_dead_lettered_and_4xx_rejected() {
    let receiver = TestServer::start(vec![
        // Event 1: throttled with a short Retry-After, waited for in the call.
        Reply::status(429).header("retry-after", "1"),
        Reply::status(200),
        // Event 2: a bad request, rejected at once.
        Reply::status(400).body("bad field"),
        // Event 3: an outage that outlasts the rule's retry policy.
        Reply::status(503),
        Reply::status(503),
    ]);
    let setup = webhook_to(&receiver, 1);
    let server = setup.start();
    put_accepted(&server, &[state_change("book", "1", "update", "a", None)]);
    wait_received(&server, &receiver, 2);
    server.wait_until(WAIT, "the throttled event delivered", |s| {
        s.delivered("hook") == Some(1.0)
    });
    put_accepted(&server, &[state_change("book", "2", "update", "a", None)]);
    let errors = dead_letters_of(&server, "hook", 1);
    assert!(
        errors[0].contains("answered 400") && errors[0].contains("bad field"),
        "{errors:?}"
    );
    put_accepted(&server, &[state_change("book", "3", "update", "a", None)]);
    let errors = dead_letters_of(&server, "hook", 2);
    let outage = errors
        .iter()
        .find(|e| e.contains("503"))
        .expect("the outage's dead letter");
    assert!(outage.contains("gave up after 2 attempt"), "{errors:?}");
    assert_eq!(receiver.received(), 5);
}

/// What one vendor's test sets up and expects.
struct Vendor {
    plugin: &'static str,
    /// `rules/destinations/<plugin>.yaml` after `name`, given the receiver's URL.
    destination: fn(&str) -> String,
    /// `rules/connections/<plugin>.yaml`, if any.
    connection: Option<&'static str>,
    /// The server's environment (secrets), given the receiver's URL.
    env: fn(&str) -> Vec<(&'static str, String)>,
    /// What the vendor answers when all is well.
    success: fn() -> Reply,
    /// Checks the request that arrived.
    check: fn(&crate::test_http::Request, &str),
}

/// The vendor's plugin on a real loopback server: throttled once (429),
/// then delivered; then an outage that outlasts the rule's retry policy
/// ends in a dead letter.
fn vendor_round_trip(vendor: &Vendor) {
    let receiver = TestServer::start(vec![
        Reply::status(429),
        (vendor.success)(),
        Reply::status(503),
        Reply::status(503),
    ]);
    let setup = Setup::new();
    let package = format!("trailmark-plugin-{}", vendor.plugin);
    setup.plugin(vendor.plugin, &package);
    let root = setup.path();
    let url = receiver.url("");
    let mut text = format!(
        "name: {}\nallow-http: true\n{}",
        vendor.plugin,
        (vendor.destination)(&url)
    );
    if let Some(connection) = vendor.connection {
        target_file(
            root,
            "connections",
            vendor.plugin,
            &format!("name: {}\n{connection}", vendor.plugin),
        );
        text.push_str(&format!("connection: {}\n", vendor.plugin));
    }
    target_file(root, "destinations", vendor.plugin, &text);
    setup.test_rule(
        "vendor",
        vendor.plugin,
        &format!(
            "grants: {{http: [{0}]}}\nconfig: {{destination: {0}}}\nretry: {{max-attempts: 1, max-age: 60s}}\n",
            vendor.plugin
        ),
    );
    setup.config(
        "[dispatch]\nretry-initial = \"10ms\"\nretry-max = \"20ms\"\nbatch = 1\nconcurrency = 1\n",
    );
    let env = (vendor.env)(&url);
    let server = Server::start_with(root, |cmd| {
        for (k, v) in &env {
            cmd.env(k, v);
        }
    });
    let answer = put_accepted(
        &server,
        &[state_change("book", "42", "delete", "carol", None)],
    );
    let id = first_event_id(&answer);
    server.wait_until(WAIT, "delivered after the 429", |s| {
        s.delivered("vendor") == Some(1.0)
    });
    assert_eq!(receiver.received(), 2);
    let (throttled, delivered) = (receiver.request(0), receiver.request(1));
    assert_eq!(
        throttled.body, delivered.body,
        "the retry sends the same request"
    );
    (vendor.check)(&delivered, &id);
    put_accepted(
        &server,
        &[state_change("book", "43", "delete", "carol", None)],
    );
    let errors = dead_letters_of(&server, "vendor", 1);
    assert!(
        errors[0].contains("gave up after 2 attempt") && errors[0].contains("503"),
        "{errors:?}"
    );
    for (_, secret) in &env {
        assert!(
            !server.log().contains(secret.as_str()),
            "{secret} is never logged"
        );
    }
}

#[test]
fn slack_gets_a_json_text_message_at_its_secret_webhook_url() {
    vendor_round_trip(&Vendor {
        plugin: "slack",
        destination: |_| "url: {env: SLACK_WEBHOOK_URL}\n".to_owned(),
        connection: None,
        env: |url| {
            vec![(
                "SLACK_WEBHOOK_URL",
                format!("{url}/services/T000/B000/XXXX"),
            )]
        },
        success: || Reply::status(200).body("ok"),
        check: |request, _| {
            assert_eq!(request.path, "/services/T000/B000/XXXX");
            assert_eq!(
                request.header("content-type").as_deref(),
                Some("application/json")
            );
            let body: Value = serde_json::from_slice(&request.body).expect("JSON");
            assert_eq!(body["text"], "book 42: delete by carol (com.example.test)");
        },
    });
}

#[test]
fn pagerduty_gets_an_events_v2_trigger_with_the_routing_key_and_a_stable_dedup_key() {
    vendor_round_trip(&Vendor {
        plugin: "pagerduty",
        destination: |url| format!("url: {url}\n"),
        connection: Some(
            "auth:\n  body-field: {field: routing_key, value: {env: PD_ROUTING_KEY}}\n",
        ),
        env: |_| {
            vec![(
                "PD_ROUTING_KEY",
                "R0UT1NGKEY0123456789012345678901".to_owned(),
            )]
        },
        success: || {
            Reply::status(202)
                .body(r#"{"status":"success","message":"Event processed","dedup_key":"x"}"#)
        },
        check: |request, id| {
            assert_eq!(request.path, "/v2/enqueue");
            let body: Value = serde_json::from_slice(&request.body).expect("JSON");
            assert_eq!(body["routing_key"], "R0UT1NGKEY0123456789012345678901");
            assert_eq!(body["event_action"], "trigger");
            assert_eq!(body["dedup_key"], id);
            assert_eq!(body["payload"]["summary"], "book 42: delete by carol");
            assert_eq!(body["payload"]["source"], "com.example.test");
            assert_eq!(body["payload"]["severity"], "warning");
        },
    });
}

#[test]
fn splunk_hec_gets_hec_events_with_the_splunk_token() {
    vendor_round_trip(&Vendor {
        plugin: "splunk-hec",
        destination: |url| format!("url: {url}\n"),
        connection: Some(
            "auth:\n  api-key: {header: Authorization, prefix: \"Splunk \", value: {env: HEC_TOKEN}}\n",
        ),
        env: |_| {
            vec![(
                "HEC_TOKEN",
                "12345678-1234-1234-1234-1234567890AB".to_owned(),
            )]
        },
        success: || Reply::status(200).body(r#"{"text":"Success","code":0}"#),
        check: |request, id| {
            assert_eq!(request.path, "/services/collector/event");
            assert_eq!(
                request.header("authorization").as_deref(),
                Some("Splunk 12345678-1234-1234-1234-1234567890AB")
            );
            let body: Value = serde_json::from_slice(&request.body).expect("one HEC event");
            assert_eq!(body["event"]["id"], id);
            assert_eq!(body["sourcetype"], "trailmark:event");
            assert_eq!(body["source"], "com.example.test");
            assert!(body["time"].is_number(), "{body}");
        },
    });
}

#[test]
fn opensearch_gets_a_bulk_index_by_event_id_with_basic_auth() {
    vendor_round_trip(&Vendor {
        plugin: "opensearch",
        destination: |url| format!("url: {url}\n"),
        connection: Some("auth:\n  basic: {username: trailmark, password: {env: OS_PASSWORD}}\n"),
        env: |_| vec![("OS_PASSWORD", "os-pa55word".to_owned())],
        success: || {
            Reply::status(200)
                .body(r#"{"took":2,"errors":false,"items":[{"index":{"_id":"x","status":201}}]}"#)
        },
        check: |request, id| {
            use base64::Engine as _;
            assert_eq!(request.path, "/_bulk");
            assert_eq!(
                request.header("content-type").as_deref(),
                Some("application/x-ndjson")
            );
            let expected =
                base64::engine::general_purpose::STANDARD.encode("trailmark:os-pa55word");
            assert_eq!(
                request.header("authorization"),
                Some(format!("Basic {expected}"))
            );
            let text = String::from_utf8(request.body.clone()).expect("utf-8");
            let lines: Vec<Value> = text
                .lines()
                .map(|l| serde_json::from_str(l).expect("JSON"))
                .collect();
            assert_eq!(lines[0]["index"]["_id"], id);
            assert!(
                lines[0]["index"]["_index"]
                    .as_str()
                    .is_some_and(|i| i.starts_with("trailmark-20")),
                "{text}"
            );
            assert_eq!(lines[1]["event-id"], id);
            assert_eq!(lines[1]["operation"], "delete");
        },
    });
}
