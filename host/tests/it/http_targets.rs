//! The `http` capability end to end: destinations, connections and rules
//! added to a running server, credentials the plugin never sees, and
//! everything the host refuses on the plugin's behalf, against real HTTP
//! servers on loopback.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::common::{Server, Setup, put_accepted, state_change};
use crate::test_http::{Reply, TestServer};

const WAIT: Duration = Duration::from_secs(60);

/// Write `rules/<dir>/<name>.yaml`.
fn target_file(root: &Path, dir: &str, name: &str, text: &str) {
    let dir = root.join("rules").join(dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    // Written whole, then renamed in: the watcher never reads half a file.
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, dir.join(format!("{name}.yaml"))).expect("rename");
}

/// A secret file only its owner may read.
fn secret_file(root: &Path, name: &str, value: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = root.join(name);
    std::fs::write(&path, value).expect("write secret");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    path.display().to_string()
}

fn destination(name: &str, url: &str, extra: &str) -> String {
    format!("name: {name}\nurl: {url}\nallow-http: true\n{extra}")
}

fn reloads(server: &Server) -> f64 {
    server.metric("trailmark_reloads_total").unwrap_or(0.0)
}

fn wait_received(server: &Server, receiver: &TestServer, count: usize) {
    server.wait_until(WAIT, &format!("{count} requests at the receiver"), |_| {
        receiver.received() >= count
    });
}

/// The dead letters of `rule`, once there are `count`.
fn dead_letters_of(server: &Server, rule: &str, count: usize) -> Vec<String> {
    let of_rule = |s: &Server| -> Vec<String> {
        s.dead_letters()
            .into_iter()
            .filter(|d| d["rule"] == rule)
            .map(|d| d["error"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    server.wait_until(WAIT, &format!("{count} dead letters of {rule}"), |s| {
        of_rule(s).len() >= count
    });
    of_rule(server)
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
    let id = answer["Entries"][0]["EventId"]
        .as_str()
        .expect("id")
        .to_owned();
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
    // Another destination, not granted.
    assert!(
        answers[1].contains("denied") && answers[1].contains(r#"http destination "other""#),
        "{error}"
    );
    // Paths outside the destination's, and methods it does not allow.
    assert!(
        answers[2].contains("denied") && answers[2].contains("not a plain path"),
        "{error}"
    );
    assert!(
        answers[3].contains("denied") && answers[3].contains("outside its allowed paths"),
        "{error}"
    );
    assert!(
        answers[4].contains("denied") && answers[4].contains(r#"method "DELETE""#),
        "{error}"
    );
    // The connection's header is the host's to set.
    assert!(
        answers[5].contains("denied") && answers[5].contains("set by the host"),
        "{error}"
    );
    // A redirect off the destination is not followed.
    assert!(
        answers[6].contains("denied") && answers[6].contains("leaves the destination"),
        "{error}"
    );
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
    let setup = Setup::new();
    setup.plugin("webhook", "trailmark-plugin-webhook");
    let root = setup.path();
    target_file(
        root,
        "destinations",
        "hooks",
        &destination("hooks", &receiver.url(""), ""),
    );
    setup.test_rule(
        "hook",
        "webhook",
        "grants: {http: [hooks]}\nconfig: {destination: hooks}\nretry: {max-attempts: 1, max-age: 60s}\n",
    );
    setup.config(
        "[dispatch]\nretry-initial = \"10ms\"\nretry-max = \"20ms\"\nconcurrency = 1\nbatch = 1\n",
    );
    let server = setup.start();
    put_accepted(&server, &[state_change("book", "1", "update", "a", None)]);
    wait_received(&server, &receiver, 2);
    server.wait_until(WAIT, "the throttled event delivered", |s| {
        s.metric("trailmark_deliveries_total{rule=\"hook\",outcome=\"delivered\"}") == Some(1.0)
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
