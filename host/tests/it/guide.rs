//! `docs/writing-a-plugin.md` followed literally: its `redact-archive` rule
//! and its narrowed standard `archive` rule, read from the guide itself, on
//! a server with the standard plugins and the example `redact` plugin. No
//! unredacted customer body may reach the archive's files.

use std::path::Path;
use std::time::Duration;

use crate::common::{Setup, put_events, workspace};
use serde_json::{Value, json};

/// The first ```yaml block after `marker` in the guide.
fn yaml_after(guide: &str, marker: &str) -> String {
    let at = guide
        .find(marker)
        .unwrap_or_else(|| panic!("the guide no longer says {marker:?}"));
    let rest = &guide[at..];
    let start = rest.find("```yaml\n").expect("a yaml block follows") + "```yaml\n".len();
    let end = rest[start..].find("```").expect("the block ends");
    rest[start..start + end].to_owned()
}

/// Every file below `dir`, read whole.
fn files_below(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files_below(&path, out);
        } else {
            out.push((
                path.display().to_string(),
                std::fs::read(&path).expect("read file"),
            ));
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn the_guides_redacting_rules_leave_no_unredacted_body_in_the_archive() {
    let guide =
        std::fs::read_to_string(workspace().join("docs/writing-a-plugin.md")).expect("the guide");
    let setup = Setup::new().standard();
    setup.plugin("redact", "example-redact");
    setup.rule(
        "redact-archive.yaml",
        &yaml_after(&guide, "`rules/redact-archive.yaml`:"),
    );
    setup.rule(
        "archive.yaml",
        &yaml_after(&guide, "`rules/archive.yaml` becomes:"),
    );
    let server = setup.start();

    let event: Value = serde_json::from_str(
        &std::fs::read_to_string(workspace().join("examples/events/customer-update.json"))
            .expect("the guide's example event"),
    )
    .expect("JSON");
    let email = event["detail"]["data"]["email"].as_str().expect("email");
    let ssn = event["detail"]["data"]["ssn"].as_str().expect("ssn");
    let customers = 10;
    for i in 0..customers {
        let mut detail = event["detail"].clone();
        detail["entity-id"] = json!(format!("c-{i}"));
        let (status, body) = put_events(
            &server,
            &[json!({
                "Source": event["source"],
                "DetailType": event["detail-type"],
                "Detail": detail.to_string(),
            })],
        );
        assert_eq!(status, 200, "{body}");
    }
    // A book still goes to the standard archive rule.
    let (status, body) = put_events(
        &server,
        &[crate::common::state_change(
            "book",
            "b-1",
            "insert",
            "ann",
            Some(json!({"title": "Dune"})),
        )],
    );
    assert_eq!(status, 200, "{body}");
    server.wait_until(Duration::from_secs(60), "every archive delivery", |s| {
        s.metric("trailmark_deliveries_total{rule=\"redact-archive\",outcome=\"delivered\"}")
            == Some(f64::from(customers))
            && s.metric("trailmark_deliveries_total{rule=\"archive\",outcome=\"delivered\"}")
                == Some(1.0)
    });
    // What the archive holds is synced before the outcomes are journaled,
    // and deliveries count once their outcome is recorded: it is on disk.
    let mut files = Vec::new();
    files_below(&server.root.join("data/archive"), &mut files);
    assert!(!files.is_empty(), "the archive wrote files");
    for (path, bytes) in &files {
        assert!(
            !contains(bytes, email) && !contains(bytes, ssn),
            "{path} holds an unredacted customer body"
        );
    }
    let masked = files
        .iter()
        .filter(|(_, bytes)| contains(bytes, "\"email\":\"***\""))
        .count();
    assert!(masked > 0, "the redacted bodies are archived");
    assert!(
        files.iter().any(|(_, bytes)| contains(bytes, "Dune")),
        "other entities are archived as before"
    );
}
