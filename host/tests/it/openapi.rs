//! The OpenAPI description: `GET /openapi.json` (no credentials) and
//! `trailmark openapi` give the same document, `docs/openapi.json` is that
//! document, and schemathesis, generating requests from it with every
//! check on, finds nothing against a live server.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::common::{
    Setup, agent, assert_success, book_insert, put_accepted, skip_unless_required, workspace,
};

/// `docs/openapi.json`, as committed.
fn committed() -> String {
    std::fs::read_to_string(workspace().join("docs").join("openapi.json"))
        .expect("docs/openapi.json")
}

#[test]
fn the_served_document_is_the_committed_one_and_needs_no_credentials() {
    let setup = Setup::new().standard();
    let server = setup.start();
    assert!(server.token().is_some(), "the server made its admin token");
    let mut answer = agent(Duration::from_secs(30))
        .get(&format!("{}/openapi.json", server.url))
        .call()
        .expect("GET /openapi.json without credentials");
    assert_eq!(answer.status().as_u16(), 200);
    let served = answer.body_mut().read_to_string().expect("body");
    let printed = server.cli(&["openapi"]);
    assert_success(&printed);
    assert_eq!(
        served,
        String::from_utf8_lossy(&printed.stdout),
        "`trailmark openapi` prints what the server serves"
    );
    assert!(
        served == committed(),
        "docs/openapi.json is out of date; regenerate it with\n  \
         cargo run -p trailmark -- openapi > docs/openapi.json"
    );

    // Every route the document names is served (not the 404 fallback), and
    // it describes both credentials.
    let doc: Value = serde_json::from_str(&served).expect("JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["sigv4"]["in"], "header");
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 20, "{:?}", paths.keys());
    for (path, item) in paths {
        for method in item.as_object().expect("item").keys() {
            let concrete = path
                .replace("{entity_type}", "book")
                .replace("{entity_id}", "1")
                .replace("{name}", "archive")
                .replace("{id}", "1");
            let (status, body) = match method.as_str() {
                "get" => server.get(&concrete).expect("GET"),
                _ => continue,
            };
            assert!(
                !(status == 404 && body.to_string().contains("no route")),
                "{method} {path} is in the document but not served: {body}"
            );
            // Signed in as admin, nothing is refused for want of credentials
            // (`/` is the viewer's, which signs in with a cookie).
            if path != "/" {
                assert!(
                    status != 401 && status != 403,
                    "{method} {path}: {status} {body}"
                );
            }
        }
    }
}

/// schemathesis (`TRAILMARK_SCHEMATHESIS`, its `st` command; `cargo xtask
/// test` installs it beside moto) runs every phase and check against a
/// server with the standard plugins and rules, some events and a dead
/// letter, signed in as admin.
#[test]
fn schemathesis_finds_no_failure() {
    let Ok(st) = std::env::var("TRAILMARK_SCHEMATHESIS") else {
        skip_unless_required("TRAILMARK_SCHEMATHESIS_TESTS", "schemathesis");
        return;
    };
    let setup = Setup::new().standard();
    let backups = setup.path().join("backups");
    std::fs::create_dir_all(&backups).expect("backups dir");
    // The backup route writes where it is told: fuzzed, it may only write here.
    setup.config(&format!(
        "[backup]\napi-destinations = [\"{}\"]\n",
        backups.display()
    ));
    let server = setup.start();
    put_accepted(
        &server,
        &[book_insert(
            "1",
            "alice",
            serde_json::json!({"title": "Dune"}),
        )],
    );
    let token = server.token().expect("admin token");
    let output = Command::new(&st)
        .current_dir(workspace().join("host").join("tests").join("schemathesis"))
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .env("PYTHONPATH", ".")
        .args([
            "run",
            &format!("{}/openapi.json", server.url),
            "--header",
            &format!("Authorization: Bearer {token}"),
            "--checks",
            "all",
            "--max-examples",
            "25",
            // One worker: CPython 3.11 can fail inside Hypothesis when
            // two threads build strategies at once (an AST recursion error).
            "--workers",
            "1",
            "--no-color",
            "--wait-for-schema",
            "30",
        ])
        .output()
        .expect("run schemathesis");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("passed"), "{text}");
}

/// `docs/trailmark.postman_collection.json` (generated by
/// `scripts/postman.sh`) holds a request for every route of the document.
#[test]
fn the_postman_collection_has_every_route_of_the_document() {
    fn requests(items: &[Value], out: &mut Vec<(String, String)>) {
        for item in items {
            match item["item"].as_array() {
                Some(inner) => requests(inner, out),
                None => {
                    let request = &item["request"];
                    let path: Vec<&str> = request["url"]["path"]
                        .as_array()
                        .map(|p| p.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    out.push((
                        request["method"].as_str().unwrap_or("").to_lowercase(),
                        format!("/{}", path.join("/")),
                    ));
                }
            }
        }
    }
    let collection: Value = serde_json::from_str(
        &std::fs::read_to_string(
            workspace()
                .join("docs")
                .join("trailmark.postman_collection.json"),
        )
        .expect("docs/trailmark.postman_collection.json"),
    )
    .expect("JSON");
    let mut found = Vec::new();
    requests(collection["item"].as_array().expect("items"), &mut found);
    let doc: Value = serde_json::from_str(&committed()).expect("JSON");
    for (path, item) in doc["paths"].as_object().expect("paths") {
        // Postman writes `{name}` as `:name`.
        let postman: String = path
            .split('/')
            .map(|segment| match segment.strip_prefix('{') {
                Some(name) => format!(":{}", name.trim_end_matches('}')),
                None => segment.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in item.as_object().expect("item").keys() {
            assert!(
                found.contains(&(method.clone(), postman.clone())),
                "{method} {path} is not in the Postman collection: run scripts/postman.sh"
            );
        }
    }
}
