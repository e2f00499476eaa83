//! Authentication and authorization on a real server: credentials on every
//! route but /healthz, scoped tokens, source patterns, SigV4 from the real
//! AWS SDK, first-start credentials, and refusals and admin actions journaled
//! as audit events.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use aws_sdk_eventbridge::error::ProvideErrorMetadata;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use serde_json::{Value, json};
use trailmark::cli::producer::{AccessKey, sdk_client};

use crate::common::{Server, Setup, agent, assert_success, auth_token, state_change};

const WAIT: Duration = Duration::from_secs(60);

/// A request with an optional bearer token; (status, body, headers).
fn call(
    server: &Server,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value, Vec<(String, String)>) {
    let agent = agent(WAIT);
    let url = format!("{}{path}", server.url);
    let mut response = match method {
        "GET" => {
            let mut r = agent.get(&url);
            if let Some(t) = token {
                r = r.header("Authorization", &format!("Bearer {t}"));
            }
            r.call()
        }
        _ => {
            let mut r = agent.post(&url);
            if let Some(t) = token {
                r = r.header("Authorization", &format!("Bearer {t}"));
            }
            if path == "/" {
                r = r
                    .header("X-Amz-Target", "AWSEvents.PutEvents")
                    .header("Content-Type", "application/x-amz-json-1.1");
            } else {
                r = r.header("Content-Type", "application/json");
            }
            r.send(body.map(Value::to_string).unwrap_or_default())
        }
    }
    .expect("request");
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (
        response.status().as_u16(),
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
        headers,
    )
}

/// PutEvents, as `token`, of one event from `source`.
fn put_as(server: &Server, token: &str, source: &str) -> (u16, Value, Vec<(String, String)>) {
    call(server, "POST", "/", Some(token), Some(&put_body(source)))
}

fn put_body(source: &str) -> Value {
    let mut entry = state_change("doc", "1", "insert", "alice", Some(json!({"n": 1})));
    entry["Source"] = json!(source);
    json!({"Entries": [entry]})
}

/// Audit events about the host, newest first, from the metadata store.
fn audit(server: &Server, entity_type: &str) -> Vec<Value> {
    server.changes(&format!("source=trailmark&entity-type={entity_type}"))
}

/// How many refusals change records stand for: one each, or the `count` of
/// an aggregate (refusals from one address after the first of an interval).
fn refusal_count(records: &[Value]) -> u64 {
    records
        .iter()
        .map(|r| r["attributes"]["data.count"].as_u64().unwrap_or(1))
        .sum()
}

/// Refusals are aggregated per address and interval; a short interval keeps
/// the tests quick.
const SHORT_REFUSAL_INTERVAL: &str = "[server]\nrefusal-interval = \"500ms\"\n";

#[test]
fn first_start_creates_private_credentials_and_every_route_but_the_probes_needs_them() {
    let setup = Setup::new().standard();
    setup.config(SHORT_REFUSAL_INTERVAL);
    let server = setup.start();
    let data = setup.path().join("data");
    for file in ["admin-token", "access-key"] {
        let mode = std::fs::metadata(data.join(file))
            .expect("credentials file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file} is owner-only");
    }
    let token = server.token().expect("admin token");
    assert!(token.starts_with("tmk_"), "a Trailmark token");

    assert_eq!(call(&server, "GET", "/healthz", None, None).0, 200);
    for path in [
        "/metrics",
        "/v1/admin/status",
        "/v1/changes",
        "/v1/events/x",
        "/nope",
    ] {
        let (status, body, headers) = call(&server, "GET", path, None, None);
        assert_eq!(status, 401, "{path}: {body}");
        assert_eq!(body["error"], "unauthorized", "{path}: {body}");
        assert!(
            headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("www-authenticate")),
            "{path}: {headers:?}"
        );
    }
    // The EventBridge-compatible endpoint answers in the AWS error shape.
    let (status, body, _) = call(
        &server,
        "POST",
        "/",
        None,
        Some(&put_body("com.example.test")),
    );
    assert_eq!(status, 401);
    assert_eq!(
        body["__type"], "MissingAuthenticationTokenException",
        "{body}"
    );
    let (status, body, _) = call(&server, "GET", "/v1/changes", Some("tmk_0000"), None);
    assert_eq!(status, 401, "{body}");
    assert!(
        !body["message"].as_str().unwrap_or("").contains("tmk_0000"),
        "never echoed: {body}"
    );

    // With the token, everything works.
    assert_eq!(
        call(&server, "GET", "/v1/admin/status", Some(&token), None).0,
        200
    );
    let (status, body, _) = call(
        &server,
        "POST",
        "/",
        Some(&token),
        Some(&put_body("com.example.test")),
    );
    assert_eq!(
        (status, &body["FailedEntryCount"]),
        (200, &json!(0)),
        "{body}"
    );

    // Every refusal was journaled as an audit event (7 above: /readyz is
    // open to probes), the first from this address alone and the rest as
    // their counted aggregate, and no secret reached the log.
    server.wait_until(WAIT, "the refusals in the metadata store", |s| {
        refusal_count(&audit(s, "trailmark.auth-failure")) == 7
    });
    let refusal = &audit(&server, "trailmark.auth-failure")[0];
    assert_eq!(refusal["author"], "anonymous", "{refusal}");
    let log = server.log();
    assert!(!log.contains(&token), "the admin token is never logged");
    let secret = std::fs::read_to_string(data.join("access-key")).expect("access key");
    let secret = secret
        .lines()
        .find_map(|l| l.strip_prefix("aws_secret_access_key = "))
        .expect("secret line");
    assert!(
        !log.contains(secret.trim()),
        "the secret key is never logged"
    );
}

#[test]
fn scoped_tokens_limit_what_and_which_sources() {
    let (put, query) = (
        "tmk_put_token_for_tests_only_0123456789",
        "tmk_query_token_for_tests_only_012345678",
    );
    let setup = Setup::new().standard();
    setup.config(&format!(
        "{SHORT_REFUSAL_INTERVAL}{}{}",
        auth_token(
            "books-writer",
            put,
            "put",
            "sources = [\"com.example.books\", \"com.example.books.*\"]\n"
        ),
        auth_token("auditor", query, "query", ""),
    ));
    let server = setup.start();
    assert!(
        !setup.path().join("data").join("admin-token").exists(),
        "no local credentials when [auth] configures some"
    );

    let (status, body, _) = put_as(&server, put, "com.example.books.eu");
    assert_eq!(
        (status, &body["FailedEntryCount"]),
        (200, &json!(0)),
        "{body}"
    );
    let (status, body, _) = put_as(&server, put, "com.example.payroll");
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["__type"], "AccessDeniedException", "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("com.example.payroll"),
        "{body}"
    );
    let native = json!({"source": "com.example.payroll", "detail-type": "x", "detail": {}});
    let (status, body, _) = call(&server, "POST", "/v1/events", Some(put), Some(&native));
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    let (status, _, _) = call(&server, "GET", "/v1/changes", Some(put), None);
    assert_eq!(status, 403, "a put token cannot read");

    let (status, _, _) = call(&server, "GET", "/v1/changes", Some(query), None);
    assert_eq!(status, 200);
    let (status, body, _) = put_as(&server, query, "com.example.books");
    assert_eq!(status, 403, "a query token cannot write: {body}");
    let (status, _, _) = call(&server, "GET", "/v1/admin/status", Some(query), None);
    assert_eq!(status, 403, "nor administer");

    // The refusals are in the trail, with who was refused.
    let refusals = |s: &Server| -> Vec<Value> {
        let (_, body, _) = call(
            s,
            "GET",
            "/v1/changes?source=trailmark&entity-type=trailmark.auth-failure",
            Some(query),
            None,
        );
        body["changes"].as_array().cloned().unwrap_or_default()
    };
    server.wait_until(WAIT, "five refusals journaled", |s| {
        refusal_count(&refusals(s)) == 5
    });
    let all = refusals(&server);
    let by = |name: &str| -> Vec<Value> {
        all.iter()
            .filter(|c| c["author"] == name)
            .cloned()
            .collect()
    };
    assert_eq!(refusal_count(&by("books-writer")), 3, "{all:?}");
    assert_eq!(refusal_count(&by("auditor")), 2, "{all:?}");
}

/// The host's own SDK client (rustls on ring) signing with `id`/`secret`.
fn sdk(
    runtime: &tokio::runtime::Runtime,
    server: &Server,
    id: &str,
    secret: &str,
) -> aws_sdk_eventbridge::Client {
    let key = AccessKey {
        id: id.to_owned(),
        secret: secret.to_owned(),
    };
    runtime
        .block_on(sdk_client(&server.url, Some(key)))
        .expect("sdk client")
}

#[test]
fn the_aws_sdk_signs_with_the_local_access_key_and_a_wrong_secret_is_refused() {
    let setup = Setup::new().standard();
    let server = setup.start();
    let text = std::fs::read_to_string(setup.path().join("data").join("access-key")).expect("key");
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} = ")))
            .map(|v| v.trim().to_owned())
            .expect("field")
    };
    let (id, secret) = (field("aws_access_key_id"), field("aws_secret_access_key"));
    let entry = PutEventsRequestEntry::builder()
        .source("com.example.sdk")
        .detail_type("Object State Change")
        .detail(r#"{"entity-type":"doc","entity-id":"s1","operation":"insert","ts":"2026-11-25T10:00:00Z","author":"sdk","data":{}}"#)
        .build();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let out = runtime
        .block_on(
            sdk(&runtime, &server, &id, &secret)
                .put_events()
                .entries(entry.clone())
                .send(),
        )
        .expect("signed PutEvents is accepted");
    assert_eq!(out.failed_entry_count, 0);

    let error = runtime
        .block_on(
            sdk(&runtime, &server, &id, "not-the-secret")
                .put_events()
                .entries(entry.clone())
                .send(),
        )
        .expect_err("a wrong secret is refused");
    assert_eq!(error.code(), Some("InvalidSignatureException"), "{error:?}");
    let error = runtime
        .block_on(
            sdk(&runtime, &server, "TMKNOSUCHKEY000000000", &secret)
                .put_events()
                .entries(entry)
                .send(),
        )
        .expect_err("an unknown key is refused");
    assert_eq!(
        error.code(),
        Some("UnrecognizedClientException"),
        "{error:?}"
    );
}

#[test]
fn admin_actions_are_journaled_with_who_did_them() {
    let setup = Setup::new().standard();
    let server = setup.start();
    let (status, body) = server
        .post("/v1/admin/reload", &Value::Null)
        .expect("reload");
    assert_eq!(status, 200, "{body}");
    let (status, body) = server
        .post("/v1/admin/replay", &json!({"since": "1h"}))
        .expect("replay");
    assert_eq!(status, 200, "{body}");
    server.wait_until(WAIT, "two admin actions journaled", |s| {
        audit(s, "trailmark.admin-action").len() == 2
    });
    let actions = audit(&server, "trailmark.admin-action");
    let names: Vec<&str> = actions
        .iter()
        .filter_map(|a| a["author"].as_str())
        .collect();
    assert!(names.iter().all(|n| *n == "local-admin"), "{actions:?}");
    // Host records are not archived as entity bodies (deliberate change):
    // the record, with the replay's parameters, is in the journal.
    assert!(
        actions.iter().all(|a| a["archive-key"].is_null()),
        "{actions:?}"
    );
    assert!(
        !setup
            .path()
            .join("data")
            .join("archive")
            .join("trailmark")
            .exists(),
        "no archive directory for the host's records"
    );
    let replay = actions
        .iter()
        .filter_map(|a| a["event-id"].as_str())
        .map(|id| {
            let (status, event) = server.get(&format!("/v1/events/{id}")).expect("event");
            assert_eq!(status, 200, "{event}");
            event["detail"]["data"].clone()
        })
        .find(|data| data["action"] == "replay")
        .expect("the replay's record");
    assert_eq!(replay["request"]["since"], "1h", "{replay}");
}

#[test]
fn the_cli_without_credentials_says_how_to_give_them() {
    let setup = Setup::new().standard();
    let server = setup.start();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_trailmark"))
        .args(["status", "--server", &server.url, "--data", "/nonexistent"])
        .output()
        .expect("run status");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("401") && stderr.contains("--token"),
        "{stderr}"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_trailmark"))
        .args(["status", "--server", &server.url, "--output", "json"])
        .env("TRAILMARK_TOKEN", server.token().expect("token"))
        .output()
        .expect("run status");
    assert_success(&out);
}

#[test]
fn events_put_sends_the_token_it_is_given() {
    let put = "tmk_put_token_for_tests_only_0123456789";
    let setup = Setup::new().standard();
    setup.config(&auth_token(
        "books-writer",
        put,
        "put",
        "sources = [\"com.example.books\"]\n",
    ));
    let server = setup.start();
    let events = setup.path().join("events.json");
    let entry = |source: &str| {
        json!({"Source": source, "DetailType": "Object State Change",
               "Detail": {"entity-type": "book", "entity-id": "1", "operation": "insert",
                          "ts": "2026-11-25T10:00:00Z", "author": "alice", "data": {"t": 1}}})
    };
    let events_put = |token: &str, entries: Value| {
        std::fs::write(&events, entries.to_string()).expect("write events");
        std::process::Command::new(env!("CARGO_BIN_EXE_trailmark"))
            .args(["events", "put", "--output", "json", "--token", token])
            .arg(&events)
            .env("TRAILMARK_SERVER", &server.url)
            .env("TRAILMARK_DATA", setup.path().join("nowhere"))
            .env_remove("AWS_ACCESS_KEY_ID")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run trailmark")
    };

    let out = events_put(put, json!([entry("com.example.books")]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let summary: Value = serde_json::from_slice(&out.stdout).expect("JSON summary");
    assert!(summary["entries"][0]["event-id"].is_string(), "{summary}");

    // The token's source limit applies: the token, not some other credential, was used.
    let out = events_put(put, json!([entry("com.example.other")]));
    assert_eq!(out.status.code(), Some(2));
    let summary: Value = serde_json::from_slice(&out.stdout).expect("JSON summary");
    assert_eq!(
        summary["entries"][0]["error-code"], "AccessDeniedException",
        "{summary}"
    );

    let out = events_put(
        "tmk_wrong_token_0000000000000000000000",
        json!([entry("com.example.books")]),
    );
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("event-id"), "{text}");
}

#[test]
fn readiness_answers_a_probe_without_credentials_and_checks_credentials_sent() {
    // A rule whose plugin is missing is held: the reload's error names its
    // file, which only a caller with credentials is shown.
    let setup = Setup::new().standard();
    setup.test_rule("held", "nosuchplugin", "");
    let server = setup.start();
    let (status, ready, _) = call(&server, "GET", "/readyz", None, None);
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["journal"], "writable", "{ready}");
    assert_eq!(ready["reload"]["ok"], false, "{ready}");
    assert_eq!(ready["reload"]["error-count"], 1, "{ready}");
    assert!(ready["reload"].get("errors").is_none(), "{ready}");

    let token = server.token().expect("admin token");
    let (status, ready, _) = call(&server, "GET", "/readyz", Some(&token), None);
    assert_eq!(status, 200, "{ready}");
    let held = ready["reload"]["errors"][0].as_str().unwrap_or_default();
    assert!(held.contains("held.yaml"), "{ready}");

    // Credentials sent are checked: a wrong token is refused, not ignored.
    let (status, body, _) = call(
        &server,
        "GET",
        "/readyz",
        Some("tmk_wrong_0000000000000000000000"),
        None,
    );
    assert_eq!(status, 401, "{body}");
    // Only GET is open.
    assert_eq!(call(&server, "POST", "/readyz", None, None).0, 401);
}

#[test]
fn a_metrics_token_reads_metrics_and_readiness_and_nothing_else() {
    let scraper = "tmk_metrics_token_for_tests_only_0123456";
    let setup = Setup::new().standard();
    setup.config(&auth_token("prometheus", scraper, "metrics", ""));
    let server = setup.start();
    for path in ["/metrics", "/readyz"] {
        let (status, body, _) = call(&server, "GET", path, Some(scraper), None);
        assert_eq!(status, 200, "{path}: {body}");
    }
    // Readiness says what it checked: the journal takes a durable write, the
    // rules in force, the last reload.
    let (_, ready, _) = call(&server, "GET", "/readyz", Some(scraper), None);
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["journal"], "writable", "{ready}");
    assert!(ready["rules"].as_u64().is_some_and(|n| n >= 4), "{ready}");
    assert_eq!(ready["reload"]["ok"], true, "{ready}");
    for (method, path) in [
        ("GET", "/v1/admin/status"),
        ("GET", "/v1/changes"),
        ("POST", "/v1/admin/reload"),
    ] {
        let (status, body, _) = call(&server, method, path, Some(scraper), None);
        assert_eq!(status, 403, "{method} {path}: {body}");
    }
    let (status, _, _) = put_as(&server, scraper, "com.example.x");
    assert_eq!(status, 403);
}
