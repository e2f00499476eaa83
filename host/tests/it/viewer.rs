//! The audit viewer inside `trailmark serve`: mounted at `/` beside
//! PutEvents, signed in with the token the server created, reading what
//! the real pipeline (standard plugins, default rules) recorded.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{
    Setup, assert_success, first_event_id, put_accepted, put_events, state_change,
};

/// A browser without cookies of its own: redirects not followed.
fn browser() -> ureq::Agent {
    ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .new_agent()
}

/// (status, content type, body) of a GET with an optional cookie.
fn get(url: &str, cookie: Option<&str>) -> (u16, String, String) {
    let mut req = browser().get(url);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let mut r = req.call().expect("GET");
    let kind = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = r.body_mut().read_to_string().expect("body");
    (r.status().as_u16(), kind, body)
}

/// Show the sign-in form, then post `token` with the form's CSRF value.
fn post_sign_in(url: &str, token: &str) -> ureq::http::Response<ureq::Body> {
    let mut form = browser()
        .get(format!("{url}/ui/signin"))
        .call()
        .expect("form");
    let signin_cookie = form
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("sign-in cookie")
        .to_owned();
    let html = form.body_mut().read_to_string().expect("form body");
    let marker = r#"name="csrf" value=""#;
    let start = html.find(marker).expect("csrf field") + marker.len();
    let csrf = html[start..].split('"').next().expect("csrf");
    browser()
        .post(format!("{url}/ui/signin"))
        .header("cookie", &signin_cookie)
        .send_form([("token", token), ("csrf", csrf), ("next", "/")])
        .expect("sign in")
}

/// Sign in with `token`; the session cookie (`name=value`).
fn sign_in(url: &str, token: &str) -> String {
    let r = post_sign_in(url, token);
    assert_eq!(r.status().as_u16(), 303);
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("trailmark_session="))
        .and_then(|c| c.split(';').next())
        .expect("session cookie")
        .to_owned()
}

#[test]
fn the_viewer_shows_what_the_pipeline_recorded_and_put_events_still_works() {
    let setup = Setup::new().standard();
    setup.config("[journal]\ncheckpoint-interval = \"1s\"\n");
    let server = setup.start();
    let url = server.url.clone();

    // Signed out, `GET /` is the viewer's sign-in page, not an API error.
    let (status, kind, body) = get(&format!("{url}/"), None);
    assert_eq!(status, 401);
    assert!(kind.starts_with("text/html"), "{kind}");
    assert!(body.contains(r#"action="/ui/signin""#), "{body}");

    // PutEvents on `POST /` is untouched by the viewer's `GET /`.
    let versions = [
        state_change(
            "book",
            "dune",
            "insert",
            "ann",
            Some(json!({"title": "Dune", "price": 10})),
        ),
        state_change(
            "book",
            "dune",
            "update",
            "ann",
            Some(json!({"title": "Dune", "price": 12})),
        ),
        state_change(
            "book",
            "dune",
            "update",
            "bob",
            Some(json!({"title": "Dune", "price": 12, "pages": 412})),
        ),
        state_change("book", "dune", "delete", "bob", None),
    ];
    let mut ids = Vec::new();
    for (second, mut entry) in versions.into_iter().enumerate() {
        // Versions are ordered by their `ts`: one second apart.
        let mut detail: Value =
            serde_json::from_str(entry["Detail"].as_str().expect("detail")).expect("detail JSON");
        detail["ts"] = json!(format!("2026-11-25T10:00:0{second}Z"));
        entry["Detail"] = json!(detail.to_string());
        let (status, body) = put_events(&server, &[entry]);
        assert_eq!(status, 200, "{body}");
        ids.push(first_event_id(&body));
    }
    server.wait_until(Duration::from_secs(20), "archived versions", |s| {
        s.get("/v1/entities/book/dune/history")
            .ok()
            .and_then(|(_, h)| h["versions"].as_array().cloned())
            .is_some_and(|v| v.len() == 4 && v[..3].iter().all(|v| !v["body"].is_null()))
    });

    let token = server.token().expect("admin token");
    let session = sign_in(&url, &token);
    let cookie = Some(session.as_str());

    let (status, _, search) = get(&format!("{url}/?q=entity%3Abook%2Fdune"), cookie);
    assert_eq!(status, 200, "{search}");
    assert_eq!(search.matches(r#"<tr class="op-"#).count(), 4, "{search}");

    let (status, _, history) = get(
        &format!("{url}/ui/entities/book/dune?from={}&to={}", ids[0], ids[2]),
        cookie,
    );
    assert_eq!(status, 200, "{history}");
    assert!(
        history.contains("Changes from version 1 to version 3"),
        "{history}"
    );
    assert!(
        history.contains(r#"<td class="mono">/price</td><td>changed</td>"#),
        "{history}"
    );
    assert!(
        history.contains(r#"<td class="mono">/pages</td><td>added</td>"#),
        "{history}"
    );
    // Each version names the rules its event matched: the delete, delete-alert.
    let delete_row = &history[history
        .find(r#"<tr class="op-delete">"#)
        .expect("delete row")..];
    let delete_row = &delete_row[..delete_row.find("</tr>").expect("row end")];
    assert!(delete_row.contains("delete-alert"), "{delete_row}");

    let (status, _, event) = get(&format!("{url}/ui/events/{}", ids[3]), cookie);
    assert_eq!(status, 200, "{event}");
    assert!(event.contains("<dt>Journal sequence</dt>"), "{event}");
    let start = event
        .find(r#"<th scope="row">delete-alert"#)
        .expect("delete-alert row");
    let row = &event[start..start + event[start..].find("</tr>").expect("row end")];
    assert!(row.contains("matches; delivered at ingest"), "{row}");
    // The record is intact, and soon covered by a signed checkpoint.
    assert!(event.contains("trailmark verify --data data"), "{event}");
    server.wait_until(
        Duration::from_secs(20),
        "a checkpoint covering the delete",
        |_| {
            get(&format!("{url}/ui/events/{}", ids[3]), cookie)
                .2
                .contains("Intact, covered by the signed checkpoint of")
        },
    );
    // The checkpoints page lists the host's signed checkpoints, read from
    // its log, with the commands that check them offline.
    let (status, _, checkpoints) = get(&format!("{url}/ui/checkpoints"), cookie);
    assert_eq!(status, 200, "{checkpoints}");
    let signed = checkpoints.matches("<td class=\"mono\">").count() / 2;
    assert!(signed >= 1, "{checkpoints}");
    assert!(
        checkpoints.contains(
            "trailmark verify --data data --checkpoints SAFE-DIR/checkpoints.jsonl \
             --public-key SAFE-DIR/checkpoint.key.pub"
        ),
        "{checkpoints}"
    );
    assert!(
        checkpoints.contains("<code>trailmark checkpoints export --data data SAFE-DIR</code>"),
        "{checkpoints}"
    );

    // The export holds the API's records for the same query, each with its
    // body, and is itself journaled.
    let (status, _, ndjson) = get(&format!("{url}/ui/export?q=entity%3Abook%2Fdune"), cookie);
    assert_eq!(status, 200, "{ndjson}");
    let mut exported: Vec<Value> = ndjson
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(exported.len(), 4);
    assert_eq!(exported[1]["body"]["pages"], 412, "bodies come along");
    for row in &mut exported {
        let object = row.as_object_mut().expect("object");
        object.remove("body");
        object.remove("body-error");
    }
    assert_eq!(exported, server.changes("entity-type=book&entity-id=dune"));
    // `trailmark export` streams the same through the bearer API.
    let cli = server.cli(&[
        "export",
        "--query",
        "entity:book/dune",
        "--format",
        "ndjson",
    ]);
    assert_success(&cli);
    assert_eq!(
        String::from_utf8_lossy(&cli.stdout),
        ndjson,
        "the CLI's export is the page's"
    );
    let csv = server.cli(&["export", "--query", "op:delete", "--format", "csv"]);
    let csv = String::from_utf8_lossy(&csv.stdout);
    assert_eq!(csv.lines().count(), 2, "a header and the delete: {csv}");
    assert!(csv.contains(&ids[3]), "{csv}");
    let bad = server.cli(&["export", "--query", "colour:red"]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("unknown qualifier `colour:`"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    server.wait_until(Duration::from_secs(20), "the export journaled", |s| {
        !s.changes("source=trailmark&entity-type=trailmark.export")
            .is_empty()
    });

    // The admin token sees the operations page, with the live counters.
    let (status, _, ops) = get(&format!("{url}/ui/operations"), cookie);
    assert_eq!(status, 200, "{ops}");
    let row = &ops[ops
        .find(r#"<th scope="row">delete-alert</th>"#)
        .expect("row")..];
    let row = &row[..row.find("</tr>").expect("row end")];
    assert!(row.contains("<td>enabled</td>"), "{row}");
    assert!(row.contains("\n    <td>1</td>"), "matched once: {row}");

    // The bearer API is as it was.
    assert_eq!(server.changes("entity-id=dune").len(), 4);

    // A refused sign-in is journaled as the API's refusals are.
    assert_eq!(post_sign_in(&url, "tmk_wrong").status().as_u16(), 401);
    server.wait_until(Duration::from_secs(20), "the refusal journaled", |s| {
        s.changes("source=trailmark&entity-type=trailmark.auth-failure")
            .iter()
            .any(|c| c["author"] == "anonymous")
    });
}

#[test]
fn with_the_viewer_off_get_slash_is_an_api_route_again() {
    let setup = Setup::new().standard();
    setup.config("[viewer]\nenabled = false\n");
    let server = setup.start();
    let (status, kind, body) = get(&format!("{}/", server.url), None);
    assert_eq!(status, 401);
    assert!(!kind.starts_with("text/html"), "{kind}: {body}");
    assert!(body.contains("MissingAuthenticationToken"), "{body}");
    let (status, _, _) = get(&format!("{}/ui/signin", server.url), None);
    assert_eq!(status, 401, "no viewer route: the guard answers");
    let (status, _) = server.get("/").expect("GET / with a token");
    assert_eq!(status, 405);
}

#[test]
fn an_admin_replays_and_purges_dead_letters_from_the_operations_page() {
    let setup = Setup::new();
    setup.plugin("rejecter", "fixture-rejecter");
    setup.test_rule("reject", "rejecter", "");
    // The host's own audit records go to the metadata store, as the
    // standard rules have them.
    setup.plugin("metadata", "trailmark-plugin-metadata");
    let host_records =
        std::fs::read_to_string(crate::common::workspace().join("rules/host-records.yaml"))
            .expect("the standard host-records rule");
    setup.rule("host-records.yaml", &host_records);
    let server = setup.start();
    let url = server.url.clone();
    let (status, _) = put_events(&server, &[state_change("book", "1", "insert", "a", None)]);
    assert_eq!(status, 200);
    let wait = Duration::from_secs(20);
    server.wait_until(wait, "a dead letter", |s| s.dead_letters().len() == 1);
    let id = server.dead_letters()[0]["id"].as_i64().expect("id");

    let cookie = sign_in(&url, &server.token().expect("admin token"));
    let (status, _, ops) = get(&format!("{url}/ui/operations"), Some(&cookie));
    assert_eq!(status, 200, "{ops}");
    assert!(
        ops.contains(&format!(r#"<input type="checkbox" name="id" value="{id}""#)),
        "{ops}"
    );
    // Confirm, then replay through the API's code: the plugin still
    // rejects, so the letter comes back as a new one.
    let (status, _, confirm) = get(
        &format!("{url}/ui/dead-letters?action=replay&id={id}"),
        Some(&cookie),
    );
    assert_eq!(status, 200, "{confirm}");
    let marker = r#"name="csrf" value=""#;
    let start = confirm.find(marker).expect("csrf field") + marker.len();
    let csrf = confirm[start..].split('"').next().expect("csrf").to_owned();
    let post = |action: &str, id: i64| {
        let mut r = browser()
            .post(format!("{url}/ui/dead-letters"))
            .header("cookie", &cookie)
            .send_form([
                ("csrf", csrf.as_str()),
                ("action", action),
                ("id", &id.to_string()),
            ])
            .expect("POST");
        let body = r.body_mut().read_to_string().expect("body");
        (r.status().as_u16(), body)
    };
    let (status, body) = post("replay", id);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&format!("Replayed: 1\n  ({id}).")), "{body}");
    server.wait_until(wait, "the replayed delivery to fail again", |s| {
        s.dead_letters()
            .first()
            .and_then(|d| d["id"].as_i64())
            .is_some_and(|new| new != id)
    });
    let again = server.dead_letters()[0]["id"].as_i64().expect("id");
    let (status, body) = post("purge", again);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&format!("Purged: 1\n  ({again}).")), "{body}");
    assert!(server.dead_letters().is_empty());
    // Both were journaled as admin actions, by the admin, as the API's are.
    server.wait_until(wait, "the viewer's admin actions journaled", |s| {
        let actions: Vec<(Value, Value, Value)> = s
            .changes("source=trailmark&entity-type=trailmark.admin-action")
            .iter()
            .map(|c| {
                (
                    c["author"].clone(),
                    c["attributes"]["data.action"].clone(),
                    c["attributes"]["data.path"].clone(),
                )
            })
            .collect();
        ["dlq/replay", "dlq/purge"].iter().all(|action| {
            actions.contains(&(
                json!("local-admin"),
                json!(action),
                json!("/ui/dead-letters"),
            ))
        })
    });
}

#[test]
fn the_live_tail_streams_a_put_events_ingest_as_it_is_journaled() {
    use std::io::BufRead;
    let setup = Setup::new().standard();
    let server = setup.start();
    let url = server.url.clone();
    let cookie = sign_in(&url, &server.token().expect("admin token"));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let response = agent
        .get(format!("{url}/ui/live?q=type%3Abook"))
        .header("cookie", &cookie)
        .call()
        .expect("open the live stream");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut stream = std::io::BufReader::new(response.into_body().into_reader());
    // The open stream is counted in /metrics, beside its bound.
    assert_eq!(server.metric("trailmark_viewer_live_streams "), Some(1.0));
    assert_eq!(
        server.metric("trailmark_viewer_live_streams_max "),
        Some(64.0)
    );

    let sent = std::time::Instant::now();
    let (status, body) = put_events(
        &server,
        &[
            state_change("customer", "c-1", "insert", "ann", Some(json!({"n": 1}))),
            state_change("book", "b-1", "insert", "ann", Some(json!({"t": "Dune"}))),
        ],
    );
    assert_eq!(status, 200, "{body}");
    let book_id = body["Entries"][1]["EventId"]
        .as_str()
        .expect("id")
        .to_owned();
    // The first `change` event is the book's (the customer is not admitted).
    let mut line = String::new();
    let data = loop {
        line.clear();
        assert!(
            stream.read_line(&mut line).expect("read") > 0,
            "stream ended"
        );
        if let Some(data) = line.trim_end().strip_prefix("data:")
            && let Ok(change) = serde_json::from_str::<Value>(data.trim())
        {
            break change;
        }
    };
    eprintln!(
        "live tail: a PutEvents entry reached the stream {} ms after it was sent",
        sent.elapsed().as_millis()
    );
    assert_eq!(data["event_id"], book_id.as_str());
    assert_eq!(data["entity"], "book/b-1");
    assert_eq!(data["operation"], "insert");
}

#[test]
fn rule_finds_the_changes_whose_event_a_rule_matched() {
    let setup = Setup::new().standard();
    let server = setup.start();
    let url = server.url.clone();
    for entry in [
        state_change("book", "r-1", "insert", "ann", Some(json!({"t": 1}))),
        state_change("book", "r-1", "delete", "bob", None),
    ] {
        let (status, body) = put_events(&server, &[entry]);
        assert_eq!(status, 200, "{body}");
    }
    server.wait_until(Duration::from_secs(20), "two change records", |s| {
        s.changes("entity-id=r-1").len() == 2
    });
    // The query API's records say which rules each event matched.
    let changes = server.changes("entity-id=r-1");
    let delete = changes
        .iter()
        .find(|c| c["operation"] == "delete")
        .expect("the delete");
    let rules: Vec<&str> = delete["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        rules.contains(&"delete-alert") && rules.contains(&"metadata"),
        "{rules:?}"
    );

    let cookie = sign_in(&url, &server.token().expect("admin token"));
    let (status, _, page) = get(&format!("{url}/?q=rule%3Adelete-alert"), Some(&cookie));
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("r-1") && page.contains(">delete<"), "{page}");
    assert!(
        !page.contains(">insert<"),
        "the insert matched no delete-alert: {page}"
    );
    let (status, _, page) = get(
        &format!("{url}/?q=entity%3Abook%2Fr-1+-rule%3Adelete-alert"),
        Some(&cookie),
    );
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains(">insert<") && !page.contains(">delete<"),
        "{page}"
    );
}

/// The viewer's pages that show trail data are audited as API reads are:
/// one `Trail Access` record per page, by the session's principal, with
/// `auth: viewer-session`; the sign-in page and static files are not.
#[test]
fn viewer_pages_that_show_the_trail_write_one_access_record_each() {
    let setup = Setup::new().standard();
    let server = setup.start();
    let url = server.url.clone();
    let body = put_accepted(
        &server,
        &[state_change(
            "book",
            "dune",
            "insert",
            "ann",
            Some(json!({"title": "Dune"})),
        )],
    );
    let event_id = first_event_id(&body);
    let cookie = sign_in(&url, &server.token().expect("token"));
    let pages = [
        "/".to_owned(),
        "/ui/entities/book/dune".to_owned(),
        format!("/ui/events/{event_id}"),
        "/ui/dead-letters".to_owned(),
    ];
    for page in &pages {
        let (status, _, body) = get(&format!("{url}{page}"), Some(&cookie));
        // The dead-letter page without a selection says "nothing to do" (400).
        assert!(matches!(status, 200 | 400 | 404), "{page}: {status} {body}");
    }
    // Not trail data: no record.
    get(&format!("{url}/ui/static/viewer.css"), Some(&cookie));
    get(&format!("{url}/ui/signin"), None);
    get(&format!("{url}/ui/entities/book/dune"), None);

    let (status, answer) = server.get("/v1/access?limit=1000").expect("access");
    assert_eq!(status, 200, "{answer}");
    let viewer: Vec<&Value> = answer["access"]
        .as_array()
        .expect("records")
        .iter()
        .filter(|r| r["auth"] == "viewer-session")
        .collect();
    let mut paths: Vec<&str> = viewer.iter().filter_map(|r| r["path"].as_str()).collect();
    paths.sort_unstable();
    let mut expected: Vec<&str> = pages.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(paths, expected, "{answer:#}");
    for record in viewer {
        assert_eq!(record["principal"], "local-admin", "{record}");
        assert_eq!(record["method"], "GET");
        assert!(record["bytes"].as_u64().is_some_and(|b| b > 0), "{record}");
    }
}

#[test]
fn with_sealed_subjects_the_viewer_finds_and_shows_values_not_tokens() {
    let setup = Setup::new().standard();
    setup.config("[subjects]\npaths = [\"author\", \"data.email\"]\n");
    let server = setup.start();
    let url = server.url.clone();
    let entry = state_change(
        "patient",
        "p1",
        "insert",
        "ann.subject",
        Some(json!({"email": "ann@example.org", "ward": 7})),
    );
    let (status, body) = put_events(&server, &[entry]);
    assert_eq!(status, 200, "{body}");
    let id = first_event_id(&body);
    server.wait_until(Duration::from_secs(20), "the body archived", |s| {
        s.versions("patient/p1", "")
            .first()
            .is_some_and(|v| v["body"].is_object())
    });
    let cookie = sign_in(&url, &server.token().expect("admin token"));
    let cookie = Some(cookie.as_str());

    for page in [
        "/?q=author%3Aann.subject".to_owned(),
        format!("/ui/events/{id}"),
        "/ui/entities/patient/p1".to_owned(),
    ] {
        let (status, _, html) = get(&format!("{url}{page}"), cookie);
        assert_eq!(status, 200, "{page}: {html}");
        assert!(
            html.contains("ann.subject"),
            "{page} shows the author: {html}"
        );
        assert!(
            !html.contains("tm2:") && !html.contains("tm1:"),
            "{page} shows no token: {html}"
        );
    }
    let (_, _, entity) = get(&format!("{url}/ui/entities/patient/p1"), cookie);
    assert!(
        entity.contains("ann@example.org"),
        "the body opened: {entity}"
    );
    let (_, _, search) = get(&format!("{url}/?q=author%3Aann.subject"), cookie);
    assert!(
        search.contains("/ui/entities/patient/p1"),
        "a sealed author is found by value: {search}"
    );
}
