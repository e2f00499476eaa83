//! `docs/writing-a-plugin.md` followed literally: its plugin code is the
//! example crate `examples/plugins/redact` (checked here, token for token),
//! which `cargo xtask build-plugins` builds as a component and `cargo test`
//! tests; its `redact-archive` rule and its narrowed standard `archive`
//! rule, read from the guide itself, run on a server with the standard
//! plugins and that component. No unredacted customer body may reach the
//! archive's files.

use std::path::Path;
use std::time::Duration;

use crate::common::{Setup, put_events, workspace};
use serde_json::{Value, json};

/// The first ```yaml block after `marker` in the guide.
fn yaml_after(guide: &str, marker: &str) -> String {
    block_after(guide, marker, "yaml")
}

/// The first fenced block of `lang` after `marker` in the guide.
fn block_after(guide: &str, marker: &str, lang: &str) -> String {
    let at = guide
        .find(marker)
        .unwrap_or_else(|| panic!("the guide no longer says {marker:?}"));
    let rest = &guide[at..];
    let fence = format!("```{lang}\n");
    let start = rest
        .find(&fence)
        .unwrap_or_else(|| panic!("no {lang} block after {marker:?}"))
        + fence.len();
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
        &[crate::common::book_insert(
            "b-1",
            "ann",
            json!({"title": "Dune"}),
        )],
    );
    assert_eq!(status, 200, "{body}");
    server.wait_until(Duration::from_secs(60), "every archive delivery", |s| {
        s.delivered("redact-archive") == Some(f64::from(customers))
            && s.delivered("archive") == Some(1.0)
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

/// Rust source without its comment lines, whitespace and trailing commas:
/// rustfmt lays the example out as it likes, the guide for reading.
fn squeezed(code: &str) -> String {
    let tight: String = code
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .flat_map(str::chars)
        .filter(|c| !c.is_whitespace())
        .collect();
    tight
        .replace(",}", "}")
        .replace(",]", "]")
        .replace(",)", ")")
}

#[test]
fn the_guides_plugin_code_and_test_are_the_example_crate_ci_builds() {
    let guide =
        std::fs::read_to_string(workspace().join("docs/writing-a-plugin.md")).expect("the guide");
    let example = std::fs::read_to_string(workspace().join("examples/plugins/redact/src/lib.rs"))
        .expect("the example plugin");
    let example = squeezed(&example);
    let code = squeezed(&block_after(&guide, "Replace `src/lib.rs` with:", "rust"));
    assert!(
        example.starts_with(&code),
        "the guide's src/lib.rs is not the example's code (examples/plugins/redact/src/lib.rs)"
    );
    // The guide's test: the example holds its test function as written.
    let tests = block_after(
        &guide,
        "returns each delivery's answer. Add to `src/lib.rs`:",
        "rust",
    );
    let test_fn = &tests[tests.find("#[test]").expect("a test function")..];
    let test_fn = squeezed(test_fn);
    // Without the `}` that closes the guide's `mod tests`.
    let test_fn = test_fn.strip_suffix('}').expect("the module closes");
    assert!(
        example.contains(test_fn),
        "the guide's test is not the example's"
    );
    // The guide's dependencies are the example's.
    let manifest = std::fs::read_to_string(workspace().join("examples/plugins/redact/Cargo.toml"))
        .expect("the example's manifest");
    for dependency in [
        "trailmark-sdk =",
        "serde = { version = \"1\", features = [\"derive\"] }",
    ] {
        assert!(guide.contains(dependency), "guide: {dependency}");
        assert!(manifest.contains(dependency), "example: {dependency}");
    }
}
