//! Arbitrary bytes as a rule file: `Document::parse`, then `parse_rule`, with
//! problems placed at file:line:col as `rules::load_file` places them, then
//! the rule compiled into a `RuleSet` and matched against example events.
//!
//! Checked beyond "no panic": every error has a 1-based position and a
//! message; a loaded rule has a valid name and a pattern that re-parses from
//! its own JSON; and, since rule files may be JSON, a document written back
//! out as JSON loads to the same value and the same outcome.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use trailmark::rules::document::Document;
use trailmark::rules::{RuleError, RuleSet, check_name};
use trailmark_host_fuzz::{check_matching, load_rule_text};
use trailmark_pattern::Pattern;

/// Example envelopes each loaded rule is matched against.
fn events() -> &'static [Vec<u8>] {
    static EVENTS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    EVENTS.get_or_init(|| {
        [
            include_str!("../../../examples/events/book-insert.json"),
            include_str!("../../../examples/events/book-update.json"),
            include_str!("../../../examples/events/book-delete.json"),
            r#"{"version":"0","id":"1","detail-type":"x","source":"s","account":"1","time":"t","region":"r","resources":[],"detail":{}}"#,
        ]
        .iter()
        .map(|text| text.as_bytes().to_vec())
        .collect()
    })
}

fn check_errors(errors: &[RuleError]) {
    assert!(!errors.is_empty(), "a refused rule file has no error");
    for e in errors {
        // Finding F2 (fixed): errors were once placed at line 0.
        assert!(
            e.position.line >= 1 && e.position.col >= 1,
            "error position is not 1-based: {e}"
        );
        assert!(!e.message.is_empty(), "error without a message at {e}");
    }
}

fn load(text: &str) {
    let file = Path::new("rules/fuzz.yaml");
    let outcome = load_rule_text(file, text);
    match &outcome {
        Err(errors) => check_errors(errors),
        Ok(loaded) => {
            let rule = &loaded.rule;
            check_name(&rule.name).expect("a loaded rule has a valid name");
            Pattern::parse(&rule.pattern_json).expect("a loaded pattern re-parses");
            assert!(loaded.name_position.col >= 1);
            let set = RuleSet::from_rules(vec![loaded.clone()]).expect("one rule is unique");
            for event in events() {
                check_matching(&set, event);
            }
        }
    }

    // JSON rule files go through the same loader: the document written back
    // out as JSON must read as the same value and load the same way.
    let Ok(doc) = Document::parse(text) else {
        return;
    };
    let json = doc.value.to_string();
    let again = Document::parse(&json)
        .unwrap_or_else(|e| panic!("the document as JSON does not parse: {e} in {json}"));
    assert_eq!(
        again.value, doc.value,
        "the document as JSON reads differently"
    );
    let outcome_again = load_rule_text(file, &json);
    assert_eq!(
        outcome.is_ok(),
        outcome_again.is_ok(),
        "the document as JSON loads differently: {json}"
    );
}

fuzz_target!(|data: &[u8]| {
    match std::str::from_utf8(data) {
        Ok(text) => load(text),
        // `load_file` refuses non-UTF-8 files when reading them; the parser
        // still gets the lossy text, for coverage.
        Err(_) => load(&String::from_utf8_lossy(data)),
    }
});
