//! Every read of the trail is audited: one `Trail Access` record per
//! authenticated read, none for a refused one, listed by `GET /v1/access`
//! and `trailmark access`, surviving kill -9 once the read was answered,
//! and covered by `verify`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{
    Setup, agent, assert_success, book_insert, cli, put_accepted, state_change, stdout_json,
};

const WAIT: Duration = Duration::from_secs(60);

/// GET `path` with `token`: (status, request id).
fn read(url: &str, path: &str, token: &str) -> (u16, Option<String>) {
    let (status, id, _) = read_sized(url, path, token);
    (status, id)
}

/// GET `path` with `token`: (status, request id, body bytes).
fn read_sized(url: &str, path: &str, token: &str) -> (u16, Option<String>, usize) {
    let mut response = agent(WAIT)
        .get(&format!("{url}{path}"))
        .header("Authorization", &format!("Bearer {token}"))
        .header("User-Agent", "access-test/1")
        .call()
        .expect("request");
    let id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.body_mut().read_to_vec().expect("body");
    (response.status().as_u16(), id, body.len())
}

/// Every access record, by request id.
fn access_records(server: &crate::common::Server) -> BTreeMap<String, Vec<Value>> {
    let (status, body) = server.get("/v1/access?limit=1000").expect("access");
    assert_eq!(status, 200, "{body}");
    let mut by_id: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for record in body["access"].as_array().expect("records") {
        let id = record["request-id"].as_str().expect("id").to_owned();
        by_id.entry(id).or_default().push(record.clone());
    }
    by_id
}

#[test]
fn each_read_route_writes_exactly_one_access_record_and_a_refused_read_none() {
    let setup = Setup::new().standard();
    let server = setup.start();
    let token = server.token().expect("token");
    let body = put_accepted(
        &server,
        &[book_insert("1", "alice", json!({"title": "Rust"}))],
    );
    let event_id = body["Entries"][0]["EventId"]
        .as_str()
        .expect("id")
        .to_owned();
    server.wait_until(WAIT, "the change record", |s| {
        s.changes("entity-type=book").len() == 1
    });

    let routes = [
        ("/v1/changes?limit=5&entity-type=book", "/v1/changes", 1),
        (
            "/v1/entities/book/1/history",
            "/v1/entities/{entity_type}/{entity_id}/history",
            1,
        ),
        (&*format!("/v1/events/{event_id}"), "/v1/events/{id}", 1),
        ("/v1/admin/dlq", "/v1/admin/dlq", 0),
    ];
    let mut asked = Vec::new();
    let mut sizes = Vec::new();
    for (path, _, _) in &routes {
        let (status, id, size) = read_sized(&server.url, path, &token);
        assert_eq!(status, 200, "{path}");
        asked.push(id.expect("every audited answer names its request"));
        sizes.push(size as u64);
    }
    let (status, id) = read(&server.url, "/v1/export?q=type%3Abook", &token);
    assert_eq!(status, 200);
    let export_id = id.expect("request id");
    // A refused read is a refusal, not an access record.
    let (status, refused) = read(
        &server.url,
        "/v1/changes",
        "tmk_wrong_token_00000000000000000000",
    );
    assert_eq!(status, 401);
    assert!(refused.is_none());

    let records = access_records(&server);
    for ((path, route, results), id) in routes.iter().zip(&asked) {
        let found = records.get(id).map_or(0, Vec::len);
        assert_eq!(found, 1, "{path}: one record for its request");
        let record = &records[id][0];
        assert_eq!(record["principal"], "local-admin", "{record}");
        assert_eq!(record["auth"], "bearer-token");
        assert_eq!(record["method"], "GET");
        assert!(
            record["route"]
                .as_str()
                .is_some_and(|r| r.starts_with(&route[..8])),
            "{path}: {record}"
        );
        assert_eq!(record["status"], 200);
        assert_eq!(record["results"], *results, "{path}: {record}");
        let size = sizes[asked.iter().position(|a| a == id).expect("asked")];
        assert_eq!(record["bytes"], size, "{path}: the answer's size: {record}");
        assert!(
            record["remote"]
                .as_str()
                .is_some_and(|r| r.starts_with("127.0.0.1:"))
        );
        assert_eq!(record["user-agent"], "access-test/1");
        assert!(record["at"].as_str().is_some(), "{record}");
    }
    let export = &records[&export_id][0];
    assert_eq!(export["route"], "/v1/export");
    assert_eq!(export["query"], "q=type:book");
    assert!(
        export["results"].is_null(),
        "an export's rows are never recorded"
    );
    assert!(
        !records.values().flatten().any(|r| r["status"] == 401),
        "no access record for the refused read"
    );
    // Not change records: nothing of them in the metadata store.
    assert!(
        server
            .changes("source=trailmark")
            .iter()
            .all(|c| c["entity-type"] != "Trail Access")
    );

    // `trailmark access` lists them, filtered.
    let out = server.cli(&[
        "access",
        "--actor",
        "local-admin",
        "--route",
        "/v1/export",
        "--output",
        "json",
    ]);
    assert_success(&out);
    let listed = stdout_json(&out);
    let listed = listed["access"].as_array().expect("records");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["request-id"], export_id.as_str());
}

#[test]
fn access_records_survive_kill_9_once_their_read_was_answered_and_verify() {
    let setup = Setup::new().standard();
    let server = setup.start();
    let token = server.token().expect("token");
    let mut ids = Vec::new();
    for _ in 0..20 {
        let (status, id) = read(&server.url, "/v1/changes?limit=1", &token);
        assert_eq!(status, 200);
        ids.push(id.expect("id"));
    }
    server.kill();
    let server = setup.start();
    let records = access_records(&server);
    for id in &ids {
        assert_eq!(records.get(id).map_or(0, Vec::len), 1, "{id}");
    }
    server.stop();
    let out = cli(setup.path(), &["verify", "--data", "data"]);
    assert_success(&out);
}

/// Access records are events rules can match ("tell me when anyone reads
/// the changes" is one rule file), and a rule that matches them is
/// delivered each read's record; the default rules match none (reads then
/// skip matching, see `RuleSet::may_match_access`).
#[test]
fn a_rule_on_access_records_is_delivered_each_read() {
    let setup = Setup::new().standard();
    setup.rule(
        "reads.yaml",
        "name: reads\n\
         pattern:\n  source: [trailmark]\n  detail-type: [Trail Access]\n\
         \x20 detail: {route: [/v1/changes]}\n\
         plugin: log\n",
    );
    let server = setup.start();
    let token = server.token().expect("token");
    for _ in 0..5 {
        assert_eq!(read(&server.url, "/v1/changes?limit=1", &token).0, 200);
    }
    // Another route's reads are not this rule's.
    assert_eq!(read(&server.url, "/v1/admin/dlq", &token).0, 200);
    let matched = |server: &crate::common::Server, rule: &str| {
        server
            .metric(&format!("trailmark_rule_matches_total{{rule=\"{rule}\"}}"))
            .unwrap_or(0.0)
    };
    server.wait_until(WAIT, "the reads rule matched five reads", |s| {
        matched(s, "reads") >= 5.0
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        matched(&server, "reads"),
        5.0,
        "one match per read of /v1/changes"
    );
    for rule in ["archive", "metadata", "log", "host-records", "delete-alert"] {
        assert_eq!(
            matched(&server, rule),
            0.0,
            "default rule {rule} matched a read"
        );
    }
}

/// Access records are listed (`GET /v1/access`), never looked up by id: they
/// stay out of the event-id index, both as they are written and when a
/// restart re-indexes the journal, while the events beside them are found.
#[test]
fn access_records_stay_out_of_the_id_index_live_and_after_a_reindex() {
    let setup = Setup::new();
    let server = setup.start();
    let token = server.token().expect("token");
    let body = put_accepted(&server, &[state_change("book", "1", "insert", "ann", None)]);
    let event_id = body["Entries"][0]["EventId"]
        .as_str()
        .expect("id")
        .to_owned();
    let (status, request_id) = read(&server.url, "/v1/changes?limit=1", &token);
    assert_eq!(status, 200);
    let request_id = request_id.expect("request id");
    let found = |server: &crate::common::Server, id: &str| {
        server.get(&format!("/v1/events/{id}")).expect("get").0
    };
    assert_eq!(found(&server, &event_id), 200);
    assert_eq!(
        found(&server, &request_id),
        404,
        "indexed as it was written"
    );
    assert_eq!(
        access_records(&server).get(&request_id).map_or(0, Vec::len),
        1
    );
    server.kill();

    // Without its index the server re-indexes the whole journal.
    std::fs::remove_dir_all(setup.path().join("data").join("event-index"))
        .expect("the index's directory");
    let server = setup.start();
    assert_eq!(
        found(&server, &event_id),
        200,
        "re-indexed from the journal"
    );
    assert_eq!(found(&server, &request_id), 404, "re-indexed at start");
    assert_eq!(
        access_records(&server).get(&request_id).map_or(0, Vec::len),
        1
    );
}

/// Not a test: the query rate with access auditing on and off, measured in
/// one run, alternating, for BENCHMARKS.md. Run it with
/// `cargo test -p trailmark --test it access::query_rate -- --ignored --nocapture`.
#[test]
#[ignore = "a benchmark: run by hand, results in BENCHMARKS.md"]
fn query_rate_with_access_auditing_on_and_off() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Instant;

    let start = |config: &str, log_rule: bool| {
        let setup = Setup::new().standard();
        setup.config(config);
        if !log_rule {
            std::fs::remove_file(setup.path().join("rules").join("log.yaml")).expect("log rule");
        }
        let server = setup.start();
        for n in 0..20 {
            let entries: Vec<Value> = (0..10)
                .map(|i| {
                    let data = Some(json!({"title": "Rust"}));
                    state_change("book", &format!("{n}-{i}"), "insert", "alice", data)
                })
                .collect();
            put_accepted(&server, &entries);
        }
        server.wait_until(WAIT, "the change records", |s| {
            crate::common::all_change_ids(s, "entity-type=book").len() == 200
        });
        (setup, server)
    };
    // With the standard rules, `log` (every event) delivers each access
    // record to a plugin; without it, the record is only journaled.
    let on = start("", true);
    let unlogged = start("", false);
    let off = start("[server]\naudit-reads = false\n", true);
    let threads = 8;
    let window = Duration::from_secs(5);
    let mut totals = BTreeMap::<&str, (u64, f64)>::new();
    for _round in 0..3 {
        for (name, (_, server)) in [("on", &on), ("on, no log rule", &unlogged), ("off", &off)] {
            let token = server.token().expect("token");
            let done = Arc::new(AtomicU64::new(0));
            let started = Instant::now();
            std::thread::scope(|scope| {
                for _ in 0..threads {
                    let (done, token, url) = (done.clone(), token.clone(), server.url.clone());
                    scope.spawn(move || {
                        let agent = agent(WAIT);
                        while started.elapsed() < window {
                            let ok = agent
                                .get(&format!("{url}/v1/changes?entity-type=book&limit=10"))
                                .header("Authorization", &format!("Bearer {token}"))
                                .call()
                                .is_ok_and(|r| r.status() == 200);
                            if ok {
                                done.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    });
                }
            });
            let seconds = started.elapsed().as_secs_f64();
            let entry = totals.entry(name).or_default();
            entry.0 += done.load(Ordering::Relaxed);
            entry.1 += seconds;
            println!(
                "auditing {name}: {:.0} req/s",
                done.load(Ordering::Relaxed) as f64 / seconds
            );
        }
    }
    let rate = |name| totals[name].0 as f64 / totals[name].1;
    println!(
        "auditing on {:.0} req/s, on without the log rule {:.0} req/s, off {:.0} req/s: \
         on/off = {:.3}, on without the log rule/off = {:.3}",
        rate("on"),
        rate("on, no log rule"),
        rate("off"),
        rate("on") / rate("off"),
        rate("on, no log rule") / rate("off")
    );
}
