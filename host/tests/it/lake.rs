//! The data lake, read by a real reader: DuckDB (the `duckdb` Python
//! package in the venv `cargo xtask test` sets up, at `TRAILMARK_PYTHON`)
//! over the tree the server wrote, after `trailmark lake flush`, across a
//! SIGKILL, and while `trailmark lake compact` runs beside the exporter.
//!
//! Without DuckDB the tests are skipped, unless `TRAILMARK_LAKE_TESTS=require`
//! (set by `cargo xtask test`).

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{
    self, Server, Setup, Streaming, assert_success, put_events, skip_unless_required,
};

/// A Python with `duckdb`, or `None` (after saying why) when the test may
/// be skipped.
fn duckdb_python() -> Option<PathBuf> {
    python_with("duckdb")
}

/// A Python (`TRAILMARK_PYTHON`, else the workspace's `.venv`) that can
/// import `modules` (`duckdb, jsonschema`), or `None` (after saying why)
/// when the test may be skipped.
pub(crate) fn python_with(modules: &str) -> Option<PathBuf> {
    let python = std::env::var_os("TRAILMARK_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::workspace().join(".venv/bin/python"));
    let works = Command::new(&python)
        .args(["-c", &format!("import {modules}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if works {
        return Some(python);
    }
    skip_unless_required(
        "TRAILMARK_LAKE_TESTS",
        &format!(
            "Python with {modules} at TRAILMARK_PYTHON (cargo xtask test installs them beside moto)"
        ),
    );
    None
}

/// Run `statements` (the DDL), then each query, in DuckDB; the answers as
/// JSON arrays of rows, or the error text of a query that failed.
fn duckdb(python: &Path, statements: &str, queries: &[&str]) -> Vec<Result<Value, String>> {
    const SCRIPT: &str = r#"
import duckdb, json, sys
job = json.load(sys.stdin)
con = duckdb.connect()
con.execute(job["ddl"])
out = []
for q in job["queries"]:
    try:
        rows = con.execute(q).fetchall()
        out.append({"rows": [[v if isinstance(v, (int, float, str, type(None))) else str(v) for v in r] for r in rows]})
    except Exception as e:
        out.append({"error": str(e)})
print(json.dumps(out))
"#;
    let answers = run_python(
        python,
        SCRIPT,
        &json!({"ddl": statements, "queries": queries}),
    );
    answers
        .as_array()
        .expect("JSON answers")
        .iter()
        .map(|a| match a.get("error") {
            Some(e) => Err(e.as_str().unwrap_or_default().to_owned()),
            None => Ok(a["rows"].clone()),
        })
        .collect()
}

/// Run the Python `script` with `job` as JSON on its stdin: the JSON it
/// prints; a panic showing its stderr when it fails.
pub(crate) fn run_python(python: &Path, script: &str, job: &Value) -> Value {
    let mut child = Command::new(python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python");
    std::io::Write::write_all(
        &mut child.stdin.take().expect("stdin"),
        job.to_string().as_bytes(),
    )
    .expect("write job");
    let out = child.wait_with_output().expect("python finished");
    assert!(
        out.status.success(),
        "python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON answer")
}

/// `trailmark lake ddl --engine duckdb` for the server in `root`.
fn duckdb_ddl(root: &Path) -> String {
    let out = common::cli(
        root,
        &["lake", "ddl", "--engine", "duckdb", "--data", "data"],
    );
    assert_success(&out);
    String::from_utf8(out.stdout).expect("UTF-8")
}

pub(crate) fn flush(server: &Server) -> Value {
    let out = server.cli(&["lake", "flush", "--output", "json"]);
    assert_success(&out);
    common::stdout_json(&out)
}

/// Every file and directory name under `dir`.
pub(crate) fn names_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        out.push(entry.file_name().to_string_lossy().into_owned());
        if path.is_dir() {
            out.extend(names_under(&path));
        }
    }
    out
}

/// A change of `id` at `ts`, with `data`.
pub(crate) fn change(id: &str, op: &str, author: &str, ts: &str, data: Value) -> Value {
    let detail = json!({
        "entity-type": "order", "entity-id": id, "operation": op, "ts": ts,
        "author": author, "data": data,
    });
    json!({"Source": "com.example.test", "DetailType": "Object State Change", "Detail": detail.to_string()})
}

/// The (seq, event_id) pairs of the test's source in the lake, and the
/// number of rows they came from.
fn lake_rows(python: &Path, ddl: &str) -> (BTreeSet<(i64, String)>, usize) {
    let answers = duckdb(
        python,
        ddl,
        &["SELECT seq, event_id FROM changes WHERE source = 'com.example.test'"],
    );
    let rows = answers[0].clone().expect("the lake reads");
    let rows = rows.as_array().expect("rows").clone();
    let set: BTreeSet<(i64, String)> = rows
        .iter()
        .map(|r| {
            (
                r[0].as_i64().expect("seq"),
                r[1].as_str().expect("event_id").to_owned(),
            )
        })
        .collect();
    (set, rows.len())
}

#[test]
fn duckdb_reads_every_acknowledged_event_once_with_the_documented_columns() {
    let Some(python) = duckdb_python() else {
        return;
    };
    let setup = Setup::new().standard();
    let server = setup.start();
    let mut acked = Vec::new();
    for batch in 0..3 {
        let entries: Vec<Value> = (0..8)
            .map(|i| {
                let status = if i % 4 == 0 { "refunded" } else { "paid" };
                let op = ["insert", "update", "delete"][i % 3];
                change(
                    &format!("o{batch}-{i}"),
                    op,
                    &format!("author{}", i % 2),
                    "2026-11-25T10:00:00Z",
                    json!({"status": status, "total": 12.50}),
                )
            })
            .collect();
        let (status, body) = put_events(&server, &entries);
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["FailedEntryCount"], 0, "{body}");
        acked.extend(body["Entries"].as_array().expect("entries").clone());
    }
    // A late event: it happened a week before the others.
    let (status, late) = put_events(
        &server,
        &[change(
            "late-1",
            "update",
            "author0",
            "2026-11-18T23:59:59Z",
            json!({"status": "paid"}),
        )],
    );
    assert_eq!(status, 200, "{late}");
    let late_id = late["Entries"][0]["EventId"]
        .as_str()
        .expect("id")
        .to_owned();
    let total = acked.len() + 1;

    let flushed = flush(&server);
    assert!(
        flushed["rows"].as_u64().expect("rows") >= total as u64,
        "{flushed}"
    );
    let lake = setup.path().join("data/lake");
    assert!(
        names_under(&lake).iter().all(|n| !n.starts_with('.')),
        "no temp file in the lake: {:?}",
        names_under(&lake)
    );

    let ddl = duckdb_ddl(setup.path());
    let test = "source = 'com.example.test'";
    let answers = duckdb(
        &python,
        &ddl,
        &[
            &format!(
                "SELECT count(*), count(DISTINCT event_id), count(DISTINCT seq) FROM changes WHERE {test}"
            ),
            "SELECT column_name, column_type FROM (DESCRIBE changes)",
            &format!(
                "SELECT count(*) FROM changes WHERE {test} AND (body->>'$.status') = 'refunded'"
            ),
            &format!(
                "SELECT CAST(dt AS VARCHAR), event_time::VARCHAR, ts_ms FROM changes WHERE event_id = '{late_id}'"
            ),
            &format!("SELECT count(*) FROM changes WHERE {test} AND dt = DATE '2026-11-25'"),
            &format!(
                "SELECT operation, author, count(*) FROM changes WHERE {test} GROUP BY ALL ORDER BY ALL"
            ),
            "SELECT body FROM changes WHERE entity_id = 'o0-0'",
        ],
    );
    let counts = answers[0].clone().expect("count");
    assert_eq!(
        counts,
        json!([[total, total, total]]),
        "every event exactly once"
    );
    let types: Vec<(String, String)> = answers[1]
        .clone()
        .expect("describe")
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r[0].as_str().unwrap_or_default().to_owned(),
                r[1].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("seq", "BIGINT"),
        ("event_id", "VARCHAR"),
        ("event_time", "TIMESTAMP WITH TIME ZONE"),
        ("ts_ms", "BIGINT"),
        ("entity_type", "VARCHAR"),
        ("entity_id", "VARCHAR"),
        ("operation", "VARCHAR"),
        ("author", "VARCHAR"),
        ("source", "VARCHAR"),
        ("detail_type", "VARCHAR"),
        ("account", "VARCHAR"),
        ("region", "VARCHAR"),
        ("ingested_at", "TIMESTAMP WITH TIME ZONE"),
        ("body", "VARCHAR"),
        ("dt", "DATE"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
        .collect();
    assert_eq!(types, expected, "the documented columns and types");
    assert_eq!(
        answers[2].clone().expect("json"),
        json!([[6]]),
        "body->>'$.status'"
    );
    let late_row = answers[3].clone().expect("late");
    assert_eq!(
        late_row[0][0], "2026-11-18",
        "a late event goes to its own day: {late_row}"
    );
    assert_eq!(late_row[0][2], 1_795_046_399_000_i64);
    assert_eq!(answers[4].clone().expect("dt"), json!([[acked.len()]]));
    assert_eq!(
        answers[6].clone().expect("body"),
        json!([[r#"{"status":"refunded","total":12.5}"#]]),
        "the body as received"
    );

    // A query on `dt` reads only that partition: a broken file in another
    // day does not stop it, while a query over every day trips on it.
    let other = lake.join("changes/dt=2026-11-18");
    std::fs::write(
        other.join("part-99999999999999999998-99999999999999999999.parquet"),
        b"not parquet",
    )
    .expect("write");
    let pruned = duckdb(
        &python,
        &ddl,
        &[
            "SELECT count(*) FROM changes WHERE dt = DATE '2026-11-25'",
            "SELECT count(*) FROM changes",
        ],
    );
    assert!(pruned[0].is_ok(), "dt prunes: {:?}", pruned[0]);
    assert!(pruned[1].is_err(), "without dt every file is read");
    std::fs::remove_file(other.join("part-99999999999999999998-99999999999999999999.parquet"))
        .expect("remove");

    // The same columns from SQLite, including rows in no closed file yet.
    server.wait_until(Duration::from_secs(30), "change records stored", |s| {
        s.changes("limit=1000").len() >= total
    });
    let out = common::cli(
        setup.path(),
        &[
            "sql",
            "--data",
            "data",
            "--output",
            "json",
            "SELECT dt, count(*) AS n FROM changes WHERE source = 'com.example.test' GROUP BY dt ORDER BY dt",
        ],
    );
    assert_success(&out);
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("NDJSON"))
        .collect();
    assert_eq!(
        lines,
        [
            json!({"dt": "2026-11-18", "n": 1}),
            json!({"dt": "2026-11-25", "n": acked.len()})
        ]
    );
}

/// Orders inserted by `streamer` from one thread, ten a batch, until
/// [`Streaming::stop`].
fn stream_orders(server: &Server) -> Streaming {
    Streaming::start(server, 1, 10, |_, n| {
        change(
            &format!("s{n}"),
            "insert",
            "streamer",
            "2026-11-25T10:00:00Z",
            json!({"n": n}),
        )
    })
}

/// Small files, so they close many times a second while events stream.
const SMALL_FILES: &str = "[lake]\nmax-file-size = \"2KiB\"\nmax-file-age = \"1s\"\n";

/// A standard server writing [`SMALL_FILES`].
fn small_files_server() -> (Setup, Server) {
    let setup = Setup::new().standard();
    setup.config(SMALL_FILES);
    let server = setup.start();
    (setup, server)
}

#[test]
fn sigkill_while_files_are_written_loses_and_doubles_nothing() {
    let Some(python) = duckdb_python() else {
        return;
    };
    let (setup, server) = small_files_server();
    let streaming = stream_orders(&server);
    let marker = setup.path().join("data/lake-export.json");
    // Kill once the exporter has published files and events keep coming.
    server.wait_until(
        Duration::from_secs(60),
        "files published while streaming",
        |_| {
            streaming.acked() >= 300
                && std::fs::read_to_string(&marker).is_ok_and(|m| !m.contains("\"exported\":0"))
        },
    );
    server.kill();
    let acked = streaming.stop();

    let server = setup.start();
    flush(&server);
    let lake = setup.path().join("data/lake");
    assert!(
        names_under(&lake).iter().all(|n| !n.starts_with('.')),
        "no temp file left: {:?}",
        names_under(&lake)
    );
    let (rows, count) = lake_rows(&python, &duckdb_ddl(setup.path()));
    assert_eq!(rows.len(), count, "no row twice");
    let ids: HashSet<String> = rows.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(ids.len(), count, "no event twice");
    let missing: Vec<&String> = acked.difference(&ids).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged events missing, e.g. {:?}",
        missing.len(),
        missing.first()
    );
}

#[test]
fn compaction_beside_the_exporter_keeps_every_row_once() {
    let Some(python) = duckdb_python() else {
        return;
    };
    let (setup, server) = small_files_server();
    let streaming = stream_orders(&server);
    server.wait_until(Duration::from_secs(60), "events streamed", |_| {
        streaming.acked() >= 200
    });
    flush(&server);
    let ddl = duckdb_ddl(setup.path());
    let (before, _) = lake_rows(&python, &ddl);
    let day = setup.path().join("data/lake/changes/dt=2026-11-25");
    let files_before = std::fs::read_dir(&day).expect("day").count();
    assert!(files_before > 1, "small files to merge: {files_before}");

    // Compact the day while the exporter keeps writing into it.
    let out = common::cli(
        setup.path(),
        &[
            "lake",
            "compact",
            "--before",
            "2026-11-26",
            "--data",
            "data",
            "--output",
            "json",
        ],
    );
    assert_success(&out);
    let merged = common::stdout_json(&out);
    assert!(!merged.as_array().expect("list").is_empty(), "{merged}");

    let acked = streaming.stop();
    flush(&server);
    let (after, count) = lake_rows(&python, &ddl);
    assert_eq!(after.len(), count, "no row twice");
    assert!(
        before.is_subset(&after),
        "every row from before is still there"
    );
    let ids: HashSet<String> = after.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(ids.len(), count, "no event twice");
    assert!(acked.is_subset(&ids), "every acknowledged event is there");
}

#[test]
fn on_s3_every_event_is_there_once_and_a_replay_writes_the_same_objects() {
    let Some(python) = duckdb_python() else {
        return;
    };
    let bucket = common::moto_bucket("lake");
    let runtime = common::aws_runtime();
    let s3 = common::moto_s3(&runtime.block_on(common::moto_sdk()));
    let setup = Setup::new().standard();
    setup.config(&format!("[lake]\ns3 = \"s3://{bucket}/trail\"\n"));
    let server = Server::start_with(setup.path(), common::moto_env);
    let entries: Vec<Value> = (0..10)
        .map(|i| {
            change(
                &format!("s3-{i}"),
                "insert",
                "ann",
                "2026-11-25T10:00:00Z",
                json!({"i": i}),
            )
        })
        .collect();
    let (status, body) = put_events(&server, &entries);
    assert_eq!(status, 200, "{body}");
    let flushed = flush(&server);
    assert_eq!(flushed["lake"], format!("s3://{bucket}/trail"), "{flushed}");
    let first: Vec<String> = serde_json::from_value(flushed["files"].clone()).expect("files");
    assert!(!first.is_empty(), "{flushed}");

    // A crash between the marker's "pending" and its end: the same range
    // is published again, over the objects already there, as the same
    // objects (a conditional put that finds equal bytes).
    server.kill();
    let marker = setup.path().join("data/lake-export.json");
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(&marker).expect("marker")).expect("JSON");
    let through = state["exported"].as_u64().expect("exported");
    std::fs::write(
        &marker,
        json!({"version": 1, "exported": 0, "pending": through}).to_string(),
    )
    .expect("marker");
    let server = Server::start_with(setup.path(), common::moto_env);
    flush(&server);

    // Download the tree and read it with DuckDB.
    let local = setup.path().join("downloaded");
    let listed = runtime
        .block_on(s3.list_objects_v2().bucket(&bucket).prefix("trail/").send())
        .expect("list");
    let keys: Vec<String> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    let published: Vec<String> = keys
        .iter()
        .map(|k| k.trim_start_matches("trail/").to_owned())
        .collect();
    // Beside them only the host's own record of the second flush (an
    // admin action, an Object State Change of source `trailmark`).
    assert!(first.iter().all(|k| published.contains(k)), "{published:?}");
    assert!(
        published.len() <= first.len() + 1,
        "the replay wrote the same objects: {published:?}"
    );
    for key in &keys {
        let bytes = runtime
            .block_on(async {
                let object = s3.get_object().bucket(&bucket).key(key).send().await?;
                Ok::<_, Box<dyn std::error::Error>>(object.body.collect().await?.into_bytes())
            })
            .expect("download");
        let path = local.join(key.trim_start_matches("trail/"));
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        std::fs::write(&path, bytes).expect("write");
    }
    let ddl = trailmark_lake::ddl::ddl(
        trailmark_lake::ddl::Engine::Duckdb,
        &local.display().to_string(),
        trailmark_lake::Partitioning::Date,
    );
    let (rows, count) = lake_rows(&python, &ddl);
    assert_eq!((rows.len(), count), (10, 10), "every event once");
}

/// The nice value of the server's thread named `name` (Linux), if found.
#[cfg(target_os = "linux")]
fn thread_nice(pid: u32, name: &str) -> Option<i64> {
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim_end() != name {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
        // After the parenthesised name: state is field 3, nice field 19.
        let after = &stat[stat.rfind(')')? + 2..];
        return after.split(' ').nth(16)?.parse().ok();
    }
    None
}

#[cfg(target_os = "linux")]
#[test]
fn the_exporter_runs_at_a_lower_cpu_priority_than_ingest() {
    let setup = Setup::new().standard();
    let server = setup.start();
    let pid = server.child.id();
    let server_nice = thread_nice(pid, "trailmark").expect("the main thread");
    // Until the thread has lowered its priority (it does so first thing).
    server.wait_until(
        Duration::from_secs(30),
        "a lake-export thread at the server's nice + 10 (it yields the CPU to ingest)",
        |_| thread_nice(pid, "lake-export") == Some(server_nice + 10),
    );
}

/// With `[encryption]` on, the lake's bodies are sealed: a query engine
/// reads every other column, and `body` only as a sealed value.
#[test]
fn with_encryption_duckdb_reads_the_columns_and_only_sealed_bodies() {
    let Some(python) = duckdb_python() else {
        return;
    };
    let setup = Setup::new().standard();
    setup.config("[encryption]\nenabled = true\n");
    let server = setup.start();
    let entries: Vec<Value> = (0..3)
        .map(|i| {
            change(
                &format!("sealed-{i}"),
                "insert",
                "ann",
                "2026-11-25T10:00:00Z",
                json!({"card": "4111-1111-1111-1111", "n": i}),
            )
        })
        .collect();
    let (status, body) = put_events(&server, &entries);
    assert_eq!(status, 200, "{body}");
    flush(&server);
    let answers = duckdb(
        &python,
        &duckdb_ddl(setup.path()),
        &[
            "SELECT entity_id, author, body FROM changes WHERE entity_id LIKE 'sealed-%' \
             ORDER BY entity_id",
        ],
    );
    let rows = answers[0].clone().expect("query");
    let rows = rows.as_array().expect("rows");
    assert_eq!(rows.len(), 3, "{rows:?}");
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row[0], format!("sealed-{i}"), "{row}");
        assert_eq!(row[1], "ann", "not a subject path: {row}");
        let body = row[2].as_str().expect("body text");
        assert!(body.starts_with("tmseal1:"), "{row}");
        assert!(!body.contains("4111"), "{row}");
    }
    let keys = setup.path().join("data/seal-keys/lake");
    assert!(
        names_under(&keys).iter().any(|n| n.ends_with(".dek")),
        "a data key for the lake"
    );
}
