//! Data directories written by earlier versions keep working.
//!
//! `host/tests/fixtures/data-v0.1/` is a data directory written by Trailmark
//! 0.1 (`main` before archive keys held event ids and history was per
//! source), with the default rules and plugins. It was made by the ignored
//! test `generate_v0_1_fixture` below, run on that version:
//!
//! ```text
//! cargo test -p trailmark --test it compat::generate_v0_1_fixture -- --ignored
//! ```
//!
//! Its credentials are test-only.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Setup, cli, first_event_id, put_accepted, put_events};

/// The committed fixture.
fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/data-v0.1")
}

/// A PutEvents entry for an `Object State Change` from `source`.
fn change(source: &str, entity: (&str, &str), op: &str, ts: i64, data: Option<Value>) -> Value {
    let mut detail = json!({
        "entity-type": entity.0, "entity-id": entity.1, "operation": op,
        "ts": ts, "author": format!("{op}er@{source}"),
    });
    if let Some(data) = data {
        detail["data"] = data;
    }
    json!({"Source": source, "DetailType": "Object State Change", "Detail": detail.to_string()})
}

/// The events in the fixture: insert/update/delete of two entities, the
/// same entity (`book/1`) from two sources, bodies on inserts and updates.
fn fixture_events() -> Vec<Value> {
    let books = "com.example.books";
    let shop = "com.example.shop";
    vec![
        change(
            books,
            ("book", "1"),
            "insert",
            1_795_600_000_000,
            Some(json!({"title": "Dune"})),
        ),
        change(
            shop,
            ("book", "1"),
            "insert",
            1_795_600_001_000,
            Some(json!({"price": 12})),
        ),
        change(
            books,
            ("book", "1"),
            "update",
            1_795_600_002_000,
            Some(json!({"title": "Dune", "year": 1965})),
        ),
        change(
            books,
            ("book", "2"),
            "insert",
            1_795_600_003_000,
            Some(json!({"title": "Emma"})),
        ),
        change(
            shop,
            ("book", "1"),
            "update",
            1_795_600_004_000,
            Some(json!({"price": 10})),
        ),
        change(books, ("book", "2"), "delete", 1_795_600_005_000, None),
    ]
}

/// Copy `from` into `to` recursively, leaving out `skip` (top-level names).
fn copy_tree(from: &Path, to: &Path, skip: &[&str]) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let name = entry.file_name();
        if skip.iter().any(|s| name == *s) {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target, &[]);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

/// Writes `tests/fixtures/data-v0.1` with the current build. Run only on the
/// version the fixture stands for (see the module docs).
#[test]
#[ignore = "generates the committed v0.1 fixture; run by hand on v0.1"]
fn generate_v0_1_fixture() {
    let setup = Setup::new().standard();
    let server = setup.start();
    let events = fixture_events();
    put_accepted(&server, &events);
    server.wait_until(Duration::from_secs(30), "every event delivered", |s| {
        let delivered = |rule: &str| s.delivered(rule);
        let all = Some(events.len() as f64);
        delivered("archive") == all
            && delivered("metadata") == all
            && delivered("log") == all
            && delivered("delete-alert") == Some(1.0)
    });
    assert!(server.stop().success());
    let out = fixture();
    if out.exists() {
        std::fs::remove_dir_all(&out).expect("remove the old fixture");
    }
    // The compiled-plugin cache is rebuilt on start and is large.
    copy_tree(&setup.path().join("data"), &out, &["cache"]);
}

fn field<'a>(versions: &'a [Value], name: &str) -> Vec<&'a Value> {
    versions.iter().map(|v| &v[name]).collect()
}

#[test]
fn a_v0_1_data_directory_serves_its_history_verifies_and_takes_new_events() {
    let setup = Setup::new().standard();
    let data = setup.path().join("data");
    copy_tree(&fixture(), &data, &[]);
    // A checkout does not keep the 0600 mode the server gave its secrets.
    for secret in ["admin-token", "access-key", "checkpoint.key"] {
        let path = data.join(secret);
        let mut permissions = std::fs::metadata(&path).expect("secret").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o600);
        std::fs::set_permissions(&path, permissions).expect("chmod");
    }
    let server = setup.start();
    assert_eq!(server.changes("limit=100").len(), 6);

    let books = server.versions("book/1", "source=com.example.books");
    assert_eq!(
        field(&books, "body"),
        [
            &json!({"title": "Dune"}),
            &json!({"title": "Dune", "year": 1965})
        ]
    );
    let shop = server.versions("book/1", "source=com.example.shop");
    assert_eq!(
        field(&shop, "body"),
        [&json!({"price": 12}), &json!({"price": 10})]
    );
    let both = server.versions("book/1", "");
    assert_eq!(both.len(), 4);
    assert!(
        both.iter()
            .all(|v| v["source"].is_string() && v.get("body-error").is_none())
    );
    let deleted = server.versions("book/2", "");
    assert_eq!(
        field(&deleted, "operation"),
        [&json!("insert"), &json!("delete")]
    );
    assert_eq!(deleted[1]["body"]["author"], "deleteer@com.example.books");

    // New events go on the same chain, under the new keys.
    let (status, body) = put_events(
        &server,
        &[change(
            "com.example.books",
            ("book", "1"),
            "update",
            1_795_600_006_000,
            Some(json!({"title": "Dune", "year": 1966})),
        )],
    );
    assert_eq!(status, 200, "{body}");
    let id = first_event_id(&body);
    server.wait_until(Duration::from_secs(30), "the new version", |s| {
        s.versions("book/1", "source=com.example.books").len() == 3
    });
    let books = server.versions("book/1", "source=com.example.books");
    assert_eq!(books[2]["body"], json!({"title": "Dune", "year": 1966}));
    assert!(
        books[2]["archive-key"]
            .as_str()
            .is_some_and(|k| k.ends_with(&format!("-update-{id}.json"))),
        "{}",
        books[2]
    );
    assert!(server.stop().success());

    let report = verified(setup.path());
    assert_eq!(report["first-seq"], 1, "{report}");
    assert!(
        report["checkpoints"]["verified"].as_u64() >= Some(2),
        "{report}"
    );
    assert_eq!(report["metadata"]["verified"], 7, "{report}");
    // The six 0.1 bodies have no event id in their keys: their change
    // records vouch for them; the new one carries its id.
    assert_eq!(
        report["archive"]["verified-through-change-record"], 6,
        "{report}"
    );
    assert_eq!(report["archive"]["verified"], 1, "{report}");
}

/// `host/tests/fixtures/data-xchacha/`: a data directory written with
/// `[encryption]` and `[subjects] paths = ["author"]` before XAES-256-GCM
/// (every data key XChaCha20-Poly1305), holding three personal events. Made
/// by `host/tests/fixtures/data-xchacha.sh` with `trailmark` at a43c08a.
fn xchacha_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/data-xchacha")
}

#[test]
fn an_encrypted_directory_from_before_xaes_opens_verifies_and_takes_new_events() {
    use crate::encryption::{AUTHOR, BODY};
    let setup = Setup::new().standard();
    setup.config("[subjects]\npaths = [\"author\"]\n[encryption]\nenabled = true\n");
    let data = setup.path().join("data");
    copy_tree(&xchacha_fixture(), &data, &[]);
    // A checkout does not keep the 0600 mode the server gave its files.
    private_files(&data);
    let old_key = std::fs::read_to_string(data.join("journal/00000000000000000001.dek"))
        .expect("the fixture's journal data key");
    assert!(!old_key.contains("aead"), "written before XAES: {old_key}");

    let server = setup.start();
    let read_all = |server: &crate::common::Server, n: usize| {
        for i in 0..n {
            let versions = server.versions(&format!("patient/p-{i}"), "");
            assert_eq!(versions[0]["body"]["ssn"], BODY, "{versions:?}");
            assert_eq!(versions[0]["body"]["n"], i, "{versions:?}");
            assert_eq!(versions[0]["author"], AUTHOR, "{versions:?}");
        }
    };
    // Bodies sealed by the old archive key, authors by the old subject key.
    read_all(&server, 3);

    // A new event: sealed with whatever key its store holds for the day,
    // on the same chain; the old ones still read.
    put_accepted(
        &server,
        &[crate::common::state_change(
            "patient",
            "p-3",
            "insert",
            AUTHOR,
            Some(json!({"ssn": BODY, "n": 3})),
        )],
    );
    server.wait_until(Duration::from_secs(30), "the new version", |s| {
        s.versions("patient/p-3", "")
            .first()
            .is_some_and(|v| !v["body"].is_null())
    });
    read_all(&server, 4);
    assert!(server.stop().success());

    // The fixture's data keys are as they were (no `aead`: XChaCha20-
    // Poly1305); any created since (a new day's, a new segment's) names
    // XAES-256-GCM.
    for dir in [
        "journal",
        "seal-keys/archive",
        "seal-keys/lake",
        "seal-keys/subjects",
    ] {
        for entry in std::fs::read_dir(data.join(dir)).expect("key dir") {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|x| x != "dek") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read .dek");
            let name = path.file_name().expect("name");
            match std::fs::read_to_string(xchacha_fixture().join(dir).join(name)) {
                Ok(before) => assert_eq!(text, before, "{}", path.display()),
                Err(_) => assert!(
                    text.contains(r#""aead":"xaes-256-gcm""#),
                    "{}: {text}",
                    path.display()
                ),
            }
        }
    }

    let report = verified(setup.path());
    assert_eq!(
        report["encryption"]["opened"], report["encryption"]["records"],
        "every record opened, old key and new: {report}"
    );
    assert!(
        report["metadata"]["verified"].as_u64() >= Some(4),
        "{report}"
    );
}

/// Every file under `dir` made private (0600).
fn private_files(dir: &Path) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            private_files(&path);
        } else {
            let mut permissions = std::fs::metadata(&path).expect("stat").permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o600);
            std::fs::set_permissions(&path, permissions).expect("chmod");
        }
    }
}

/// `trailmark verify --output json` of the data directory under `root`,
/// which must exit 0 and say the trail is intact.
fn verified(root: &Path) -> Value {
    let out = cli(root, &["verify", "--data", "data", "--output", "json"]);
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_eq!(report["intact"], true, "{report}");
    report
}
