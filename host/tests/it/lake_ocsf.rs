//! The lake's OCSF option, read by real readers: the files a `target:
//! lake` rule with `ocsf:` wrote, in Security Lake's custom-source layout,
//! read by DuckDB and every row validated against the OCSF 1.1.0 schema of
//! class 3004 Entity Management (the `ocsf-json-schema` package's copy of
//! the schema, offline, checked by `jsonschema`, both in the venv `cargo
//! xtask test` sets up).

use std::path::Path;

use serde_json::{Value, json};

use super::lake::{change, flush, names_under, python_with, run_python};
use crate::common::{Setup, put_events};

/// The custom source the test's rule names.
const RULE: &str = "name: security-lake
pattern:
  detail-type: [\"Object State Change\"]
  source: [com.example.test]
target: lake
ocsf:
  custom-source: trailmark
  region: eu-west-1
  account-id: \"012345678901\"
";

/// Reads `files` with DuckDB as JSON objects (nested groups as objects,
/// `entity.data` parsed from its JSON text), validates each against the
/// OCSF class schema, and validates copies with one required attribute
/// removed, which must fail: the validator is shown to catch a missing one.
const VALIDATE: &str = r#"
import duckdb, json, sys
from jsonschema import Draft202012Validator
from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema
job = json.load(sys.stdin)
schema = OcsfJsonSchemaEmbedded(get_ocsf_schema(version=job["version"])).get_class_schema(
    class_name="entity_management", profiles=job["profiles"])
validator = Draft202012Validator(schema)
cur = duckdb.connect().execute(
    "SELECT * FROM read_parquet(?, hive_partitioning = false)", [job["files"]])
names = [d[0] for d in cur.description]
rows = [dict(zip(names, r)) for r in cur.fetchall()]
for row in rows:
    data = row["entity"].pop("data")
    if data is not None:
        row["entity"]["data"] = json.loads(data)
errors = [[e.message for e in validator.iter_errors(row)] for row in rows]
caught = {}
for attribute in schema["required"]:
    broken = json.loads(json.dumps(rows[0]))
    broken.pop(attribute, None)
    caught[attribute] = not validator.is_valid(broken)
print(json.dumps({"rows": rows, "errors": errors, "required": schema["required"], "caught": caught}))
"#;

fn validate(python: &Path, files: &[String]) -> Value {
    run_python(
        python,
        VALIDATE,
        &json!({"version": "1.1.0", "profiles": ["host"], "files": files}),
    )
}

/// Every `.parquet` file under `dir`, as paths relative to it.
fn parquet_under(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        if entry.path().is_dir() {
            parquet_under(&entry.path(), &key, out);
        } else if name.ends_with(".parquet") {
            out.push(key);
        }
    }
}

#[test]
fn ocsf_rows_validate_against_class_3004_in_security_lakes_layout() {
    let Some(python) = python_with("duckdb, jsonschema, ocsf_json_schema") else {
        return;
    };
    let setup = Setup::new().standard();
    setup.rule("security-lake.yaml", RULE);
    let server = setup.start();
    let entries = [
        change(
            "o-1",
            "insert",
            "ann",
            "2026-11-25T10:00:00Z",
            json!({"status": "paid"}),
        ),
        change(
            "o-1",
            "update",
            "bob",
            "2026-11-25T11:00:00Z",
            json!({"status": "refunded"}),
        ),
        change(
            "o-1",
            "delete",
            "ann",
            "2026-11-25T12:00:00Z",
            json!({"status": "refunded"}),
        ),
        // A late event, and a delete without data.
        change(
            "o-0",
            "update",
            "cid",
            "2026-11-18T23:59:59Z",
            json!({"n": 1}),
        ),
        json!({"Source": "com.example.test", "DetailType": "Object State Change",
               "Detail": json!({"entity-type": "order", "entity-id": "o-9", "operation": "delete",
                                "ts": "2026-11-25T13:00:00Z", "author": "dee"}).to_string()}),
        // Not a state change: no entity, so no OCSF row (the rule's
        // pattern leaves it out anyway; the default lake rule too).
        json!({"Source": "com.example.test", "DetailType": "Note", "Detail": "{\"n\":1}"}),
    ];
    let (status, body) = put_events(&server, &entries);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["FailedEntryCount"], 0, "{body}");
    flush(&server);

    let lake = setup.path().join("data/lake");
    assert!(
        names_under(&lake).iter().all(|n| !n.starts_with('.')),
        "no temp file in the lake"
    );
    let mut files = Vec::new();
    parquet_under(&lake.join("ext"), "ext", &mut files);
    let partitions: Vec<&str> = files
        .iter()
        .map(|f| f.rsplit_once('/').map_or("", |(dir, _)| dir))
        .collect();
    assert_eq!(
        partitions,
        [
            "ext/trailmark/region=eu-west-1/accountId=012345678901/eventDay=20261118",
            "ext/trailmark/region=eu-west-1/accountId=012345678901/eventDay=20261125",
        ],
        "Security Lake's custom-source layout, by the event's day: {files:?}"
    );
    assert!(
        files
            .iter()
            .all(|f| f.contains("/part-") && f.ends_with(".parquet")),
        "{files:?}"
    );
    let mut changes = Vec::new();
    parquet_under(&lake.join("changes"), "changes", &mut changes);
    assert!(
        !changes.is_empty(),
        "the default rule's `changes` table is written beside it"
    );

    let paths: Vec<String> = files
        .iter()
        .map(|f| lake.join(f).display().to_string())
        .collect();
    let answer = validate(&python, &paths);
    let rows = answer["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 5, "one row per state change: {rows:?}");
    let errors = answer["errors"].as_array().expect("errors");
    assert!(
        errors
            .iter()
            .all(|e| e.as_array().is_some_and(Vec::is_empty)),
        "every row validates against OCSF 1.1.0 entity_management: {errors:?}\n{rows:?}"
    );
    let required = answer["required"].as_array().expect("required");
    assert!(required.len() >= 8, "{required:?}");
    for attribute in required {
        let name = attribute.as_str().expect("name");
        assert_eq!(
            answer["caught"][name], true,
            "a row without `{name}` must fail validation"
        );
    }

    // The mapping: activity from the operation, the actor from the author,
    // the entity from type, id and body; rows sorted by time in a file.
    let day: Vec<&Value> = rows
        .iter()
        .filter(|r| r["time"].as_i64() > Some(1_795_100_000_000))
        .collect();
    let summary: Vec<Value> = day
        .iter()
        .map(|r| {
            json!([
                r["activity_id"],
                r["type_uid"],
                r["actor"]["user"]["name"],
                r["entity"]["type"],
                r["entity"]["uid"],
                r["entity"].get("data")
            ])
        })
        .collect();
    assert_eq!(
        summary,
        [
            json!([1, 300_401, "ann", "order", "o-1", {"status": "paid"}]),
            json!([3, 300_403, "bob", "order", "o-1", {"status": "refunded"}]),
            json!([4, 300_404, "ann", "order", "o-1", {"status": "refunded"}]),
            json!([4, 300_404, "dee", "order", "o-9", null]),
        ]
    );
    assert_eq!(day[0]["class_uid"], 3004);
    assert_eq!(day[0]["metadata"]["version"], "1.1.0");
    assert_eq!(day[0]["metadata"]["log_provider"], "com.example.test");
    assert_eq!(day[0]["time"], 1_795_600_800_000_i64);
}
